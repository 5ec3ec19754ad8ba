"""Price transforms and rolling statistics: avgprice, medprice, typprice, wclprice, midpoint,
midprice, var, mean_ad, median_ad, kurtosis, skew, correl, beta, linearreg_angle,
linearreg_intercept, tsf, hurst_exponent.

Where TA-Lib has the indicator (every one but mean_ad, median_ad, kurtosis, skew and
hurst_exponent) the values are TA-Lib's.
"""

from __future__ import annotations

import math

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import (
    IndicatorError,
    as_candles,
    check_choice,
    check_float,
    check_int,
    source,
)
from jbt.indicators.trend import _regression

# ------------------------------------------------------------------------------ prices


def _avgprice(candles):
    c = as_candles("avgprice", candles)
    return (c[:, OPEN] + c[:, HIGH] + c[:, LOW] + c[:, CLOSE]) / 4


def avgprice(candles, sequential: bool = False):
    """Average price ``(open + high + low + close) / 4``."""
    return dispatch(_avgprice, candles, sequential)


def _medprice(candles):
    c = as_candles("medprice", candles)
    return (c[:, HIGH] + c[:, LOW]) / 2


def medprice(candles, sequential: bool = False):
    """Median price ``(high + low) / 2``."""
    return dispatch(_medprice, candles, sequential)


def _typprice(candles):
    c = as_candles("typprice", candles)
    return (c[:, HIGH] + c[:, LOW] + c[:, CLOSE]) / 3


def typprice(candles, sequential: bool = False):
    """Typical price ``(high + low + close) / 3``."""
    return dispatch(_typprice, candles, sequential)


def _wclprice(candles):
    c = as_candles("wclprice", candles)
    return (c[:, HIGH] + c[:, LOW] + 2 * c[:, CLOSE]) / 4


def wclprice(candles, sequential: bool = False):
    """Weighted close price ``(high + low + 2 * close) / 4``."""
    return dispatch(_wclprice, candles, sequential)


def _midpoint(candles, period, source_type):
    period = check_int("midpoint", "period", period)
    x = source("midpoint", candles, source_type)
    return (_core.rolling_max(x, period) + _core.rolling_min(x, period)) / 2


def midpoint(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Midpoint of the highest and lowest value over ``period``."""
    return dispatch(_midpoint, candles, sequential, period, source_type)


def _midprice(candles, period):
    period = check_int("midprice", "period", period)
    c = as_candles("midprice", candles)
    return (_core.rolling_max(c[:, HIGH], period) + _core.rolling_min(c[:, LOW], period)) / 2


def midprice(candles, period: int = 14, sequential: bool = False):
    """Midpoint of the highest high and the lowest low over ``period``."""
    return dispatch(_midprice, candles, sequential, period)


# ------------------------------------------------------------------------------ statistics


def _var(candles, period, nbdev, source_type):
    period = check_int("var", "period", period)
    nbdev = check_float("var", "nbdev", nbdev)
    std = _core.rolling_std(source("var", candles, source_type), period)
    return std * std * nbdev


def var(candles, period: int = 14, nbdev: float = 1, source_type: str = "close",
        sequential: bool = False):
    """Population variance over ``period`` (times ``nbdev``, as Jesse; TA-Lib ignores it)."""
    return dispatch(_var, candles, sequential, period, nbdev, source_type)


def _mean_ad(candles, period, source_type):
    period = check_int("mean_ad", "period", period)
    x = source("mean_ad", candles, source_type)
    # Jesse's definition: |x - mean over the window ending at x|, averaged over the last period
    return _core.rolling_mean(np.abs(x - _core.rolling_mean(x, period)), period)


def mean_ad(candles, period: int = 5, source_type: str = "hl2", sequential: bool = False):
    """Mean absolute deviation as Jesse defines it: the mean, over the last ``period`` bars, of
    each value's distance to the ``period`` mean ending at it (first value at
    ``2 * period - 2``)."""
    return dispatch(_mean_ad, candles, sequential, period, source_type)


def _median_ad(candles, period, source_type):
    period = check_int("median_ad", "period", period)
    return _core.rolling_median_abs_dev(source("median_ad", candles, source_type), period)


def median_ad(candles, period: int = 5, source_type: str = "hl2", sequential: bool = False):
    """Median absolute deviation from the median over ``period``."""
    return dispatch(_median_ad, candles, sequential, period, source_type)


def _moments(x: np.ndarray, period: int):
    n = len(x)
    out2 = _core.nan_array(n)
    out3 = _core.nan_array(n)
    out4 = _core.nan_array(n)
    if n >= period:
        w = np.lib.stride_tricks.sliding_window_view(x, period)
        d = w - w.mean(axis=1)[:, None]
        d2 = d * d
        out2[period - 1:] = d2.mean(axis=1)
        out3[period - 1:] = (d2 * d).mean(axis=1)
        out4[period - 1:] = (d2 * d2).mean(axis=1)
    return out2, out3, out4


def _kurtosis(candles, period, source_type):
    period = check_int("kurtosis", "period", period, minimum=2)
    m2, _m3, m4 = _moments(source("kurtosis", candles, source_type), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 == 0, np.nan, m4 / (m2 * m2) - 3.0)


def kurtosis(candles, period: int = 5, source_type: str = "hl2", sequential: bool = False):
    """Excess kurtosis (Fisher, biased: scipy's default) over ``period``; NaN over a flat
    window."""
    return dispatch(_kurtosis, candles, sequential, period, source_type)


def _skew(candles, period, source_type):
    period = check_int("skew", "period", period, minimum=2)
    m2, m3, _m4 = _moments(source("skew", candles, source_type), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 == 0, np.nan, m3 / m2 ** 1.5)


def skew(candles, period: int = 5, source_type: str = "hl2", sequential: bool = False):
    """Skewness (biased: scipy's default) over ``period``; NaN over a flat window."""
    return dispatch(_skew, candles, sequential, period, source_type)


def _pearson(x: np.ndarray, y: np.ndarray, period: int) -> np.ndarray:
    mx = _core.rolling_mean(x, period)
    my = _core.rolling_mean(y, period)
    n = len(x)
    out = _core.nan_array(n)
    if n < period:
        return out
    wx = np.lib.stride_tricks.sliding_window_view(x, period) - mx[period - 1:, None]
    wy = np.lib.stride_tricks.sliding_window_view(y, period) - my[period - 1:, None]
    sxy = (wx * wy).sum(axis=1)
    den = np.sqrt((wx * wx).sum(axis=1) * (wy * wy).sum(axis=1))
    out[period - 1:] = _core.safe_div(sxy, den)
    return out


def _correl(candles, period):
    period = check_int("correl", "period", period)
    c = as_candles("correl", candles)
    return _pearson(c[:, HIGH], c[:, LOW], period)


def correl(candles, period: int = 5, sequential: bool = False):
    """Pearson correlation of the highs and the lows over ``period`` (TA-Lib's CORREL of
    high, low, as Jesse calls it); 0 over a flat window."""
    return dispatch(_correl, candles, sequential, period)


def beta(candles, benchmark_candles, period: int = 5, sequential: bool = False):
    """Beta of the candles' close returns against the benchmark's close returns over
    ``period`` returns: ``cov(r, r_bench) / var(r_bench)`` (TA-Lib's BETA; Jesse 3 regresses
    the prices themselves). Both arrays are aligned on their last candle."""
    period = check_int("beta", "period", period)
    c = as_candles("beta", candles)
    b = as_candles("beta", benchmark_candles)
    m = min(len(c), len(b))
    x = c[len(c) - m:, CLOSE]
    y = b[len(b) - m:, CLOSE]
    out = _core.nan_array(len(c))
    if m > period:
        rx = _core.safe_div(np.diff(x), x[:-1])
        ry = _core.safe_div(np.diff(y), y[:-1])
        sx = _core.rolling_sum(rx, period)
        sy = _core.rolling_sum(ry, period)
        sxy = _core.rolling_sum(rx * ry, period)
        syy = _core.rolling_sum(ry * ry, period)
        num = period * sxy - sx * sy
        den = period * syy - sy * sy
        out[len(c) - m + 1:] = _core.safe_div(num, den)
    if sequential:
        return out
    value = float(out[-1])
    if value != value:
        raise IndicatorError(f"ta.beta: too few candles ({len(c)}) for period {period}; "
                             f"need {period + 1}")
    return value


# ------------------------------------------------------------------------------ regression


def _linearreg_angle(candles, period, source_type):
    period = check_int("linearreg_angle", "period", period)
    _mean, slope = _regression(source("linearreg_angle", candles, source_type), period)
    return np.degrees(np.arctan(slope))


def linearreg_angle(candles, period: int = 14, source_type: str = "close",
                    sequential: bool = False):
    """Angle in degrees of the least-squares line over ``period`` (``atan(slope)``)."""
    return dispatch(_linearreg_angle, candles, sequential, period, source_type)


def _linearreg_intercept(candles, period, source_type):
    period = check_int("linearreg_intercept", "period", period)
    mean, slope = _regression(source("linearreg_intercept", candles, source_type), period)
    return mean - slope * ((period - 1) / 2)


def linearreg_intercept(candles, period: int = 14, source_type: str = "close",
                        sequential: bool = False):
    """The least-squares line over ``period`` at the oldest bar of the window."""
    return dispatch(_linearreg_intercept, candles, sequential, period, source_type)


def _tsf(candles, period, source_type):
    period = check_int("tsf", "period", period)
    mean, slope = _regression(source("tsf", candles, source_type), period)
    return mean + slope * ((period - 1) / 2 + 1)


def tsf(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Time series forecast: the least-squares line over ``period`` one bar ahead."""
    return dispatch(_tsf, candles, sequential, period, source_type)


# ------------------------------------------------------------------------------ hurst


def _lstsq_slope(xs: np.ndarray, ys: np.ndarray) -> float:
    xm, ym = xs.mean(), ys.mean()
    return float(((xs - xm) * (ys - ym)).sum() / ((xs - xm) ** 2).sum())


def _hurst_rs(x: np.ndarray, lo: int, hi: int, count: int) -> float:
    sizes = np.linspace(lo, hi + 1, count).astype(np.int64)
    rs = []
    for size in sizes:
        chunks = len(x) // size
        vals = []
        for k in range(chunks):
            chunk = x[k * size:(k + 1) * size]
            z = np.cumsum(chunk - chunk.mean())
            sd = chunk.std()
            vals.append((z.max() - z.min()) / sd if sd else np.nan)
        rs.append(np.nanmean(vals) if vals else np.nan)
    return _lstsq_slope(np.log(sizes), np.log(np.array(rs)))


def _fir(b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Causal FIR filter ``y[t] = sum b[k] x[t-k]`` (zeros before the start)."""
    return np.convolve(x, b)[: len(x)]


def _hurst_dma(x: np.ndarray, lo: int, hi: int, step: int) -> float:
    hi += 1
    sizes = np.arange(lo, hi, step, dtype=np.int64)
    factor = 1 / (len(x) - hi)
    dma = []
    for size in sizes:
        b = np.r_[size - 1, -np.ones(size - 1)] / size
        noise = _fir(b, x)[hi:] ** 2
        dma.append(math.sqrt(factor * noise.sum()))
    return _lstsq_slope(np.log10(sizes), np.log10(np.array(dma)))


def _hurst_dsod(x: np.ndarray) -> float:
    y = np.cumsum(np.diff(x))
    y1 = _fir(np.array([1.0, -2.0, 1.0]), y)[2:]
    y2 = _fir(np.array([1.0, 0.0, -2.0, 0.0, 1.0]), y)[4:]
    return 0.5 * math.log2(np.mean(y2 ** 2) / np.mean(y1 ** 2))


def hurst_exponent(candles, min_chunksize: int = 8, max_chunksize: int = 200,
                   num_chunksize: int = 5, method: int = 1, source_type: str = "close"):
    """Hurst exponent of the last 240 candles (as Jesse slices them): method 0 rescaled range
    of the changes, 1 detrended moving average, 2 discrete second-order derivative. A float
    (no ``sequential``); None when it cannot be computed."""
    check_choice("hurst_exponent", "method", method, (0, 1, 2))
    lo = check_int("hurst_exponent", "min_chunksize", min_chunksize)
    hi = check_int("hurst_exponent", "max_chunksize", max_chunksize)
    count = check_int("hurst_exponent", "num_chunksize", num_chunksize)
    x = source("hurst_exponent", candles, source_type)[-240:]
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == 0:
            h = _hurst_rs(np.diff(x), lo, hi, count)
        elif method == 1:
            if len(x) <= hi + 1:
                raise IndicatorError(f"ta.hurst_exponent: too few candles ({len(x)}) for "
                                     f"max_chunksize {hi}")
            h = _hurst_dma(x, lo, hi, count)
        else:
            h = _hurst_dsod(x)
    return None if h != h else h


__all__ = ["avgprice", "beta", "correl", "hurst_exponent", "kurtosis", "linearreg_angle",
           "linearreg_intercept", "mean_ad", "median_ad", "medprice", "midpoint", "midprice",
           "skew", "tsf", "typprice", "var", "wclprice"]
