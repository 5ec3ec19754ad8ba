"""Volatility: atr, natr, trange, bollinger_bands, keltner, donchian, stddev, and vlma (the
variable length moving average, which adapts to the deviation around ``ta.ma``: here rather than
with the other averages, which ``ta.ma`` itself is built on)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_choice, check_float, check_int, source
from jbt.indicators.moving_averages import ma_series

BollingerBands = namedtuple("BollingerBands", ["upperband", "middleband", "lowerband"])
KeltnerChannel = namedtuple("KeltnerChannel", ["upperband", "middleband", "lowerband"])
DonchianChannel = namedtuple("DonchianChannel", ["upperband", "middleband", "lowerband"])

#: ``devtype`` codes: 0 standard deviation, 1 mean absolute deviation, 2 median absolute dev.
DEV_TYPES = (0, 1, 2)


def atr_series(c, period: int):
    """Wilder ATR: the first value (index ``period``) is the mean of true ranges 1..period."""
    return _core.wilder(_core.true_range(c[:, HIGH], c[:, LOW], c[:, CLOSE]), period)


def _atr(candles, period):
    period = check_int("atr", "period", period)
    return atr_series(as_candles("atr", candles), period)


def atr(candles, period: int = 14, sequential: bool = False):
    """Average True Range (Wilder's smoothing, TA-Lib's seed)."""
    return dispatch(_atr, candles, sequential, period)


def _natr(candles, period):
    period = check_int("natr", "period", period)
    c = as_candles("natr", candles)
    return 100.0 * _core.safe_div(atr_series(c, period), c[:, CLOSE])


def natr(candles, period: int = 14, sequential: bool = False):
    """Normalized ATR: ``100 * atr / close``."""
    return dispatch(_natr, candles, sequential, period)


def _trange(candles):
    c = as_candles("trange", candles)
    return _core.true_range(c[:, HIGH], c[:, LOW], c[:, CLOSE])


def trange(candles, sequential: bool = False):
    """True range: ``max(high, prev close) - min(low, prev close)``; NaN on the first candle."""
    return dispatch(_trange, candles, sequential)


def deviation(name: str, x, period: int, devtype: int):
    check_choice(name, "devtype", devtype, DEV_TYPES)
    if devtype == 0:
        return _core.rolling_std(x, period)
    if devtype == 1:
        return _core.rolling_mean_abs_dev(x, period)
    return _core.rolling_median_abs_dev(x, period)


def _bollinger_bands(candles, period, devup, devdn, matype, devtype, source_type):
    period = check_int("bollinger_bands", "period", period)
    devup = check_float("bollinger_bands", "devup", devup)
    devdn = check_float("bollinger_bands", "devdn", devdn)
    x = source("bollinger_bands", candles, source_type)
    mid = ma_series("bollinger_bands", x, period, matype)
    dev = deviation("bollinger_bands", x, period, devtype)
    return BollingerBands(mid + devup * dev, mid, mid - devdn * dev)


def bollinger_bands(candles, period: int = 20, devup: float = 2, devdn: float = 2,
                    matype: int = 0, devtype: int = 0, source_type: str = "close",
                    sequential: bool = False) -> BollingerBands:
    """BollingerBands(upperband, middleband, lowerband): ``ma(period, matype)`` plus / minus
    ``devup`` / ``devdn`` times the population standard deviation over ``period``
    (``devtype`` 1: mean absolute deviation, 2: median absolute deviation)."""
    return dispatch(_bollinger_bands, candles, sequential, period, devup, devdn, matype,
                    devtype, source_type)


def _keltner(candles, period, multiplier, matype, source_type):
    period = check_int("keltner", "period", period)
    multiplier = check_float("keltner", "multiplier", multiplier)
    c = as_candles("keltner", candles)
    mid = ma_series("keltner", source("keltner", c, source_type), period, matype)
    width = multiplier * atr_series(c, period)
    return KeltnerChannel(mid + width, mid, mid - width)


def keltner(candles, period: int = 20, multiplier: float = 2, matype: int = 1,
            source_type: str = "close", sequential: bool = False) -> KeltnerChannel:
    """KeltnerChannel(upperband, middleband, lowerband): ``ma(period, matype)`` (EMA by
    default) plus / minus ``multiplier * atr(period)``."""
    return dispatch(_keltner, candles, sequential, period, multiplier, matype, source_type)


def _donchian(candles, period):
    period = check_int("donchian", "period", period)
    c = as_candles("donchian", candles)
    upper = _core.rolling_max(c[:, HIGH], period)
    lower = _core.rolling_min(c[:, LOW], period)
    return DonchianChannel(upper, (upper + lower) / 2, lower)


def donchian(candles, period: int = 20, sequential: bool = False) -> DonchianChannel:
    """DonchianChannel(upperband, middleband, lowerband): highest high and lowest low of the
    last ``period`` candles (the current one included) and their midpoint."""
    return dispatch(_donchian, candles, sequential, period)


def _stddev(candles, period, nbdev, source_type):
    period = check_int("stddev", "period", period)
    nbdev = check_float("stddev", "nbdev", nbdev)
    return _core.rolling_std(source("stddev", candles, source_type), period) * nbdev


def stddev(candles, period: int = 5, nbdev: float = 1, source_type: str = "close",
           sequential: bool = False):
    """Population standard deviation of the last ``period`` values, times ``nbdev``."""
    return dispatch(_stddev, candles, sequential, period, nbdev, source_type)


def _expanding_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population std of the last ``window`` values (of all values before the first window)."""
    n = len(x)
    out = np.empty(n)
    head = min(n, window - 1)
    for i in range(head):
        out[i] = np.std(x[: i + 1])
    if n >= window:
        out[window - 1:] = _core.rolling_std(x, window)[window - 1:]
    return out


def vlma_series(x: np.ndarray, candles, min_period: int, max_period: int, matype: int,
                devtype: int) -> np.ndarray:
    mean = ma_series("vlma", x, max_period, matype, candles)
    dev = _expanding_std(x, max_period) if devtype == 0 else deviation("vlma", x, max_period,
                                                                       devtype)
    a = (mean - 1.75 * dev).tolist()
    b = (mean - 0.25 * dev).tolist()
    c = (mean + 0.25 * dev).tolist()
    d = (mean + 1.75 * dev).tolist()
    values = x.tolist()
    out = [values[0]]
    period = 0.0
    for i in range(1, len(values)):
        base = period if period != 0 else max_period
        price = values[i]
        if b[i] <= price <= c[i]:
            period = base + 1
        elif price < a[i] or price > d[i]:
            period = base - 1
        else:
            period = base
        period = max(min(period, max_period), min_period)
        sc = 2 / (period + 1)
        out.append(price * sc + (1 - sc) * out[-1])
    return np.array(out)


def _vlma(candles, min_period, max_period, matype, devtype, source_type):
    min_period = check_int("vlma", "min_period", min_period)
    max_period = check_int("vlma", "max_period", max_period)
    x = source("vlma", candles, source_type)
    return vlma_series(x, candles, min_period, max_period, matype, devtype)


def vlma(candles, min_period: int = 5, max_period: int = 50, matype: int = 0, devtype: int = 0,
         source_type: str = "close", sequential: bool = False):
    """Variable length moving average: an EMA whose period grows by one while the price stays
    near the ``max_period`` average and shrinks by one when it leaves the outer band."""
    return dispatch(_vlma, candles, sequential, min_period, max_period, matype, devtype,
                    source_type)
