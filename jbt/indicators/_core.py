"""Numeric kernels shared by the indicators.

Every kernel is causal (output ``i`` depends on inputs ``<= i`` only) and prefix-exact: running it
on ``x[:k+1]`` gives bit-for-bit the first ``k+1`` outputs of running it on ``x``, because the
order of floating-point operations for an output never depends on the input's length. Windowed
sums and extremes are built by binary doubling (O(n log period)) rather than running or
cumulative sums, so a windowed value never depends on the history before its window and carries
no accumulated rounding. Linear recursions (EMA, Wilder) are vectorised in fixed-length blocks
(see :func:`linear_recursion`); the few non-linear recursions (kama, psar, supertrend) are plain
Python loops over lists. Either way a series is computed once per backtest (the run cache).

Outputs have the input's length; positions without a value yet (warm-up) are NaN.
"""

from __future__ import annotations

import math

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


def _doubling(x: np.ndarray, period: int, combine) -> np.ndarray:
    """``combine`` over each window of ``period`` values, by binary doubling.

    Window results for lengths 1, 2, 4, ... are built from two halves; a window of ``period``
    is then assembled from the power-of-two blocks of ``period``'s binary digits, oldest block
    first. That is O(n log period) and the order of operations for a window depends only on
    ``period``, never on ``len(x)``: prefix-exact.
    """
    n = len(x)
    out = nan_array(n)
    m = n - period + 1
    if m <= 0:
        return out
    acc = None
    offset = 0
    block = np.asarray(x, dtype=np.float64)  # block[i] = combine(x[i : i + width])
    width = 1
    while True:
        if period & width:
            part = block[offset:offset + m]
            acc = part.copy() if acc is None else combine(acc, part)
            offset += width
        if width * 2 > period:
            break
        block = combine(block[:-width], block[width:])
        width *= 2
    out[period - 1:] = acc
    return out


def rolling_sum(x: np.ndarray, period: int) -> np.ndarray:
    """Sum of the last ``period`` values (pairwise by binary doubling; prefix-exact)."""
    return _doubling(x, period, np.add)


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
    return _doubling(x, period, np.maximum)


def rolling_min(x: np.ndarray, period: int) -> np.ndarray:
    return _doubling(x, period, np.minimum)


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


def linear_recursion(x: np.ndarray, b: float, c: float, y_init: float) -> np.ndarray:
    """``y[t] = b * y[t-1] + c * x[t]`` with ``y[-1] = y_init``, for 0 <= b < 1, vectorised.

    The series is cut into blocks of a fixed length ``L`` (``b ** -L <= 2 ** 10``, so the
    closed form loses at most ~10 bits). Inside a block ``y[j] = b ** (j + 1) * Y +
    sum_{i <= j} c * x[i] * b ** (j - i)``, a cumulative sum; the values ``Y`` entering each
    block chain through a short Python loop. ``L`` depends on ``b`` only and cumulative sums are
    sequential, so the result is prefix-exact. Agrees with the step-by-step recursion to ~1e-13.
    """
    n = len(x)
    if n == 0:
        return np.empty(0)
    if b == 0.0:
        return c * np.asarray(x, dtype=np.float64)
    block = max(1, int(10 * math.log(2) / -math.log(b)))
    rows = -(-n // block)
    padded = np.zeros(rows * block)
    padded[:n] = x
    padded = padded.reshape(rows, block)
    j = np.arange(1, block + 1, dtype=np.float64)
    grow = b ** j
    partial = np.cumsum(padded * (c / grow), axis=1) * grow
    carry = b ** block
    entering = [float(y_init)]
    append = entering.append
    prev = float(y_init)
    for last in partial[:-1, -1].tolist():
        prev = carry * prev + last
        append(prev)
    y = grow * np.asarray(entering)[:, None] + partial
    return y.reshape(-1)[:n]


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
    seed = total / period
    out[seed_end - 1] = seed
    out[seed_end:] = linear_recursion(x[seed_end:], 1.0 - a, a, seed)
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
