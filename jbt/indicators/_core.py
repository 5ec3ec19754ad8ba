"""Numeric kernels shared by the indicators.

Every kernel is causal (output ``i`` depends on inputs ``<= i`` only) and prefix-exact: running it
on ``x[:k+1]`` gives bit-for-bit the first ``k+1`` outputs of running it on ``x``. Windowed sums
add the window's values in a fixed order (one vectorised pass per window offset) instead of using
running or cumulative sums, so a value never depends on how much history came before its window
and carries no accumulated rounding error. Recursive filters run as a plain Python loop over a
list, which costs ~60-100 ns per step and runs once per backtest thanks to the run cache.

Outputs have the input's length; positions without a value yet (warm-up) are NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def nan_array(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k >= 0`` steps, NaN filled."""
    out = nan_array(len(x))
    if k == 0:
        out[:] = x
    elif k < len(x):
        out[k:] = x[:-k]
    return out


def rolling_sum(x: np.ndarray, period: int) -> np.ndarray:
    """Sum of the last ``period`` values, added oldest first."""
    n = len(x)
    out = nan_array(n)
    if n < period:
        return out
    m = n - period + 1
    acc = np.array(x[:m], dtype=np.float64, copy=True)
    for j in range(1, period):
        acc += x[j:j + m]
    out[period - 1:] = acc
    return out


def rolling_mean(x: np.ndarray, period: int) -> np.ndarray:
    return rolling_sum(x, period) / period


def rolling_weighted_sum(x: np.ndarray, weights) -> np.ndarray:
    """``sum_j weights[j] * x[i - p + 1 + j]`` over the window ending at ``i``."""
    period = len(weights)
    n = len(x)
    out = nan_array(n)
    if n < period:
        return out
    m = n - period + 1
    acc = x[:m] * weights[0]
    for j in range(1, period):
        acc += x[j:j + m] * weights[j]
    out[period - 1:] = acc
    return out


def rolling_max(x: np.ndarray, period: int) -> np.ndarray:
    out = nan_array(len(x))
    if len(x) >= period:
        out[period - 1:] = sliding_window_view(x, period).max(axis=1)
    return out


def rolling_min(x: np.ndarray, period: int) -> np.ndarray:
    out = nan_array(len(x))
    if len(x) >= period:
        out[period - 1:] = sliding_window_view(x, period).min(axis=1)
    return out


def rolling_std(x: np.ndarray, period: int, ddof: int = 0) -> np.ndarray:
    """Standard deviation of the last ``period`` values (two-pass: exact, no cancellation)."""
    n = len(x)
    out = nan_array(n)
    if n < period or period - ddof <= 0:
        return out
    m = n - period + 1
    mean = rolling_mean(x, period)[period - 1:]
    acc = (x[:m] - mean) ** 2
    for j in range(1, period):
        acc += (x[j:j + m] - mean) ** 2
    out[period - 1:] = np.sqrt(acc / (period - ddof))
    return out


def rolling_mean_abs_dev(x: np.ndarray, period: int) -> np.ndarray:
    """Mean absolute deviation of the last ``period`` values from their mean."""
    n = len(x)
    out = nan_array(n)
    if n < period:
        return out
    m = n - period + 1
    mean = rolling_mean(x, period)[period - 1:]
    acc = np.abs(x[:m] - mean)
    for j in range(1, period):
        acc += np.abs(x[j:j + m] - mean)
    out[period - 1:] = acc / period
    return out


def rolling_median_abs_dev(x: np.ndarray, period: int) -> np.ndarray:
    """Median absolute deviation of the last ``period`` values from their median."""
    out = nan_array(len(x))
    if len(x) >= period:
        w = sliding_window_view(x, period)
        med = np.median(w, axis=1)
        out[period - 1:] = np.median(np.abs(w - med[:, None]), axis=1)
    return out


def first_valid(x: np.ndarray) -> int:
    """Index of the first non-NaN value (``len(x)`` when there is none)."""
    mask = ~np.isnan(x)
    i = int(np.argmax(mask))
    return i if mask[i] else len(x)


def ema(x: np.ndarray, period: int, alpha: float | None = None) -> np.ndarray:
    """Exponential moving average, TA-Lib's seed.

    The first value is the simple mean of the first ``period`` values (after any leading NaN, so
    chained averages work); each later value is ``prev + alpha * (x - prev)`` with
    ``alpha = 2 / (period + 1)`` unless given (Wilder's smoothing uses ``1 / period``).
    A NaN inside the series propagates to every later value.
    """
    n = len(x)
    out = nan_array(n)
    start = first_valid(x) if n else 0
    if n - start < period:
        return out
    a = 2.0 / (period + 1) if alpha is None else alpha
    seed_end = start + period
    total = 0.0
    for v in x[start:seed_end].tolist():
        total += v
    prev = total / period
    res = [prev]
    append = res.append
    for v in x[seed_end:].tolist():
        prev = (v - prev) * a + prev
        append(prev)
    out[seed_end - 1:] = res
    return out


def wilder(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothing (RMA / SMMA): an EMA with ``alpha = 1 / period``, SMA seed."""
    return ema(x, period, 1.0 / period)


def wma(x: np.ndarray, period: int) -> np.ndarray:
    """Linearly weighted moving average, weights 1..period (newest heaviest)."""
    weights = np.arange(1, period + 1, dtype=np.float64)
    return rolling_weighted_sum(x, weights) / weights.sum()


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range; NaN at index 0, where the previous close is unknown (as TA-Lib)."""
    prev_close = shift(close, 1)
    tr = np.maximum(high, prev_close) - np.minimum(low, prev_close)
    tr[0] = np.nan
    return tr


def safe_div(num: np.ndarray, den: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """``num / den`` with ``zero`` where ``den == 0`` (NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den == 0, zero, out)
