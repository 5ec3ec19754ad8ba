"""Moving averages: sma, ema, wma, hma, dema, tema, trima, kama, vwma, smma (alias rma) and
``ma``.

Each takes ``candles`` (an (n, 6) candle array, or a 1-D series, whose ``source_type`` is then
ignored) and returns the value for the last candle, or the whole series with ``sequential=True``.
Recursive averages (ema, dema, tema, kama, smma) use TA-Lib's seed: the first value is the simple
mean of the first ``period`` inputs; from there on the value at a bar depends on all earlier bars,
with an influence that decays geometrically (see the module ``jbt.indicators`` docstring).
"""

from __future__ import annotations

import math

import numpy as np

from jbt.constants import VOLUME
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import IndicatorError, as_candles, check_choice, check_int, source

#: ``matype`` codes accepted by indicators with a moving-average choice: TA-Lib's 0-8, then
#: Jesse's 9-39 (jbt also has 19, Hilbert's instantaneous trendline, which Jesse lists but
#: refuses). 24 (vwma) and 29 (vwap) need candles, not a bare series; 28 (hwma) and 32 (mwdx)
#: ignore ``period``, as in Jesse.
MA_TYPES = {0: "sma", 1: "ema", 2: "wma", 3: "dema", 4: "tema", 5: "trima", 6: "kama",
            7: "mama", 8: "t3", 9: "fwma", 10: "hma", 11: "linearreg", 12: "smma",
            13: "sinwma", 14: "supersmoother", 15: "supersmoother_3_pole", 16: "gauss",
            17: "high_pass", 18: "high_pass_2_pole", 19: "ht_trendline", 20: "jma",
            21: "reflex", 22: "trendflex", 23: "smma", 24: "vwma", 25: "pwma", 26: "swma",
            27: "alma", 28: "hwma", 29: "vwap", 30: "nma", 31: "edcf", 32: "mwdx", 33: "maaq",
            34: "srwma", 35: "sqwma", 36: "vpwma", 37: "cwma", 38: "jsa", 39: "epma"}


# --- kernels on a 1-D series ---------------------------------------------------------------

def _dema_series(x: np.ndarray, period: int) -> np.ndarray:
    e1 = _core.ema(x, period)
    return 2.0 * e1 - _core.ema(e1, period)


def _tema_series(x: np.ndarray, period: int) -> np.ndarray:
    e1 = _core.ema(x, period)
    e2 = _core.ema(e1, period)
    e3 = _core.ema(e2, period)
    return 3.0 * e1 - 3.0 * e2 + e3


def _trima_series(x: np.ndarray, period: int) -> np.ndarray:
    # A triangular average is an SMA of an SMA (TA-Lib's split of the period).
    if period % 2:
        first = second = (period + 1) // 2
    else:
        first, second = period // 2, period // 2 + 1
    return _core.rolling_mean(_core.rolling_mean(x, first), second)


def _hma_series(x: np.ndarray, period: int) -> np.ndarray:
    half = period // 2
    root = int(math.isqrt(period))
    raw = 2.0 * _core.wma(x, half) - _core.wma(x, period)
    start = _core.first_valid(raw)
    out = _core.nan_array(len(x))
    out[start:] = _core.wma(raw[start:], root)
    return out


def _kama_series(x: np.ndarray, period: int, fast: int, slow: int) -> np.ndarray:
    n = len(x)
    out = _core.nan_array(n)
    if n <= period:
        return out
    fast_sc = 2.0 / (fast + 1)
    slow_sc = 2.0 / (slow + 1)
    change = np.abs(x[period:] - x[:-period])
    volatility = _core.rolling_sum(np.abs(np.diff(x)), period)[period - 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        er = change / volatility
    er = np.where(volatility <= change, 1.0, er)
    er = np.where(np.abs(volatility) < 1e-8, 1.0, er)
    sc = (er * (fast_sc - slow_sc) + slow_sc) ** 2
    prev = float(x[period - 1])
    res = []
    append = res.append
    for price, c in zip(x[period:].tolist(), sc.tolist(), strict=True):
        prev = (price - prev) * c + prev
        append(prev)
    out[period:] = res
    return out


def _vwma_series(candles: np.ndarray, x: np.ndarray, period: int) -> np.ndarray:
    vol = candles[:, VOLUME]
    return _core.safe_div(_core.rolling_sum(x * vol, period), _core.rolling_sum(vol, period),
                          np.nan)


def ma_series(name: str, x: np.ndarray, period: int, matype: int,
              candles: np.ndarray | None = None) -> np.ndarray:
    """Moving average of type ``matype`` (see MA_TYPES) of a 1-D series. Types 24 (vwma) and
    29 (vwap) need the ``candles`` the series comes from."""
    check_choice(name, "matype", matype, tuple(MA_TYPES))
    if matype == 0:
        return _core.rolling_mean(x, period)
    if matype == 1:
        return _core.ema(x, period)
    if matype == 2:
        return _core.wma(x, period)
    if matype == 3:
        return _dema_series(x, period)
    if matype == 4:
        return _tema_series(x, period)
    if matype == 5:
        return _trima_series(x, period)
    if matype == 6:
        return _kama_series(x, period, 2, 30)
    if matype == 10:
        if period < 2:
            raise IndicatorError(f"ta.{name}: period must be >= 2 for hma (got {period})")
        return _hma_series(x, period)
    if matype in (12, 23):
        return _core.wilder(x, period)
    return _more_series(name, x, period, matype, candles)


def _more_series(name: str, x: np.ndarray, period: int, matype: int,
                 candles: np.ndarray | None) -> np.ndarray:
    from jbt.indicators import filters, hilbert
    from jbt.indicators import more_averages as m
    from jbt.indicators.trend import regression_line

    if matype in (24, 29):
        if candles is None or np.ndim(candles) != 2:
            raise IndicatorError(
                f"ta.{name}: matype {matype} ({MA_TYPES[matype]}) needs candles, not a series"
            )
        if matype == 24:
            return _vwma_series(candles, x, period)
        from jbt.indicators.volume import vwap_series

        return vwap_series(candles, x, "D")
    if period < 2 and matype in (9, 25, 26, 30, 31, 34, 35, 36, 37, 39):
        raise IndicatorError(f"ta.{name}: period must be >= 2 for {MA_TYPES[matype]} "
                             f"(got {period})")
    makers = {
        7: lambda: hilbert.mama_series(x, 0.5, 0.05)[0],
        8: lambda: m.t3_series(x, period, 0.7),
        9: lambda: m.weighted(x, m.fib_weights(period)),
        11: lambda: regression_line(x, period),
        13: lambda: m.weighted(x, m.sine_weights(period)),
        14: lambda: filters.supersmoother_series(x, period),
        15: lambda: filters.supersmoother_3_pole_series(x, period),
        16: lambda: filters.gauss_series(x, period, 4),
        17: lambda: filters.high_pass_series(x, period),
        18: lambda: filters.high_pass_2_pole_series(x, period),
        19: lambda: hilbert.ht_trendline_series(x),
        20: lambda: m.jma_series(x, period, 50, 2),
        21: lambda: filters.reflex_series(x, period),
        22: lambda: filters.trendflex_series(x, period),
        25: lambda: m.weighted(x, m.pascal_weights(period)),
        26: lambda: m.weighted(x, m.symmetric_weights(period)),
        27: lambda: m.alma_series(x, period, 6.0, 0.85),
        28: lambda: m.hwma_series(x, 0.2, 0.1, 0.1),
        30: lambda: m.nma_series(x, period),
        31: lambda: filters.edcf_series(x, period),
        32: lambda: m.mwdx_series(x, 0.2),
        33: lambda: m.maaq_series(x, period, 2, 30),
        34: lambda: m.power_weighted(x, period, 0.5),
        35: lambda: m.power_weighted(x, period, 2),
        36: lambda: m.power_weighted(x, period, 0.382),
        37: lambda: m.power_weighted(x, period, 3),
        38: lambda: m.jsa_series(x, period),
        39: lambda: m.epma_series(x, period, 4),
    }
    return makers[matype]()


# --- public indicators ---------------------------------------------------------------------

def _sma(candles, period, source_type):
    period = check_int("sma", "period", period)
    return _core.rolling_mean(source("sma", candles, source_type), period)


def sma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Simple moving average: mean of the last ``period`` values."""
    return dispatch(_sma, candles, sequential, period, source_type)


def _ema(candles, period, source_type):
    period = check_int("ema", "period", period)
    return _core.ema(source("ema", candles, source_type), period)


def ema(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the
    first ``period`` values (TA-Lib's seed). First value at index ``period - 1``."""
    return dispatch(_ema, candles, sequential, period, source_type)


def _wma(candles, period, source_type):
    period = check_int("wma", "period", period)
    return _core.wma(source("wma", candles, source_type), period)


def wma(candles, period: int = 30, source_type: str = "close", sequential: bool = False):
    """Weighted moving average with linear weights 1..period, the newest value heaviest."""
    return dispatch(_wma, candles, sequential, period, source_type)


def _hma(candles, period, source_type):
    period = check_int("hma", "period", period, minimum=2)
    return _hma_series(source("hma", candles, source_type), period)


def hma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Hull moving average: ``wma(2 * wma(x, period // 2) - wma(x, period), isqrt(period))``."""
    return dispatch(_hma, candles, sequential, period, source_type)


def _dema(candles, period, source_type):
    period = check_int("dema", "period", period)
    return _dema_series(source("dema", candles, source_type), period)


def dema(candles, period: int = 30, source_type: str = "close", sequential: bool = False):
    """Double EMA: ``2 * ema(x) - ema(ema(x))``; first value at index ``2 * (period - 1)``."""
    return dispatch(_dema, candles, sequential, period, source_type)


def _tema(candles, period, source_type):
    period = check_int("tema", "period", period)
    return _tema_series(source("tema", candles, source_type), period)


def tema(candles, period: int = 9, source_type: str = "close", sequential: bool = False):
    """Triple EMA: ``3 * e1 - 3 * e2 + e3`` with ``e2 = ema(e1)``, ``e3 = ema(e2)``."""
    return dispatch(_tema, candles, sequential, period, source_type)


def _trima(candles, period, source_type):
    period = check_int("trima", "period", period)
    return _trima_series(source("trima", candles, source_type), period)


def trima(candles, period: int = 30, source_type: str = "close", sequential: bool = False):
    """Triangular moving average: an SMA of an SMA, weights rising then falling."""
    return dispatch(_trima, candles, sequential, period, source_type)


def _kama(candles, period, fast_length, slow_length, source_type):
    period = check_int("kama", "period", period)
    fast_length = check_int("kama", "fast_length", fast_length)
    slow_length = check_int("kama", "slow_length", slow_length)
    return _kama_series(source("kama", candles, source_type), period, fast_length, slow_length)


def kama(candles, period: int = 14, fast_length: int = 2, slow_length: int = 30,
         source_type: str = "close", sequential: bool = False):
    """Kaufman adaptive moving average.

    Efficiency ratio ``|x - x[-period]| / sum(|diff(x)|, period)`` scales the smoothing constant
    between ``2 / (slow_length + 1)`` and ``2 / (fast_length + 1)`` (squared). Seeded with the
    value at index ``period - 1``; first output at index ``period`` (as TA-Lib).
    """
    return dispatch(_kama, candles, sequential, period, fast_length, slow_length, source_type)


def _vwma(candles, period, source_type):
    period = check_int("vwma", "period", period)
    candles = as_candles("vwma", candles)
    return _vwma_series(candles, source("vwma", candles, source_type), period)


def vwma(candles, period: int = 20, source_type: str = "close", sequential: bool = False):
    """Volume-weighted moving average: ``sum(x * volume, period) / sum(volume, period)``
    (NaN when the window has no volume)."""
    return dispatch(_vwma, candles, sequential, period, source_type)


def _smma(candles, period, source_type, name="smma", arg="period"):
    period = check_int(name, arg, period)
    return _core.wilder(source(name, candles, source_type), period)


def smma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Smoothed moving average (Wilder's RMA): ``prev + (x - prev) / period``, SMA seed."""
    return dispatch(_smma, candles, sequential, period, source_type)


def rma(candles, length: int = 14, source_type: str = "close", sequential: bool = False):
    """Jesse's (and Pine Script's) name for :func:`smma`, with its ``length`` argument."""
    return dispatch(_smma, candles, sequential, length, source_type, "rma", "length")


def _ma(candles, period, matype, source_type):
    period = check_int("ma", "period", period)
    return ma_series("ma", source("ma", candles, source_type), period, matype, candles)


def ma(candles, period: int = 30, matype: int = 0, source_type: str = "close",
       sequential: bool = False):
    """Moving average chosen by ``matype`` (TA-Lib's and Jesse's numbering): 0 sma, 1 ema,
    2 wma, 3 dema, 4 tema, 5 trima, 6 kama, 7 mama, 8 t3 (TA-Lib's vfactor 0.7), 9 fwma,
    10 hma, 11 linearreg, 12 smma, 13 sinwma, 14 supersmoother, 15 supersmoother_3_pole,
    16 gauss, 17 high_pass, 18 high_pass_2_pole, 19 ht_trendline, 20 jma, 21 reflex,
    22 trendflex, 23 smma, 24 vwma, 25 pwma, 26 swma, 27 alma, 28 hwma, 29 vwap, 30 nma,
    31 edcf, 32 mwdx, 33 maaq, 34 srwma, 35 sqwma, 36 vpwma, 37 cwma, 38 jsa, 39 epma.
    Types 24 and 29 need candles; 28 and 32 ignore ``period``."""
    return dispatch(_ma, candles, sequential, period, matype, source_type)
