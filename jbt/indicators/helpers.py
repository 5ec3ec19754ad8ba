"""Helpers strategies compose with: highest, lowest, zscore, heikin_ashi, crossed."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.errors import InputError
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_float, check_int, source
from jbt.indicators.moving_averages import ma_series
from jbt.indicators.volatility import deviation

HeikinAshi = namedtuple("HeikinAshi", ["open", "close", "high", "low"])

_ndarray = np.ndarray
_DIRECTIONS = (None, "above", "below")


def crossed(series1, series2, direction: str | None = None, sequential: bool = False):
    """Whether ``series1`` crossed ``series2`` (an array of the same length, or a number).

    Crossed above: ``series1`` was ``<=`` and is now ``>``; below: was ``>=`` and is now ``<``.
    ``direction`` is "above", "below" or None (either). Returns a bool for the last value, or
    with ``sequential=True`` a bool array (False at index 0, where nothing came before).
    Also ``jbt.utils.crossed`` (Jesse's name).
    """
    if direction not in _DIRECTIONS:
        raise InputError(f"crossed: direction must be 'above', 'below' or None (got {direction!r})")
    if not sequential and type(series1) is _ndarray and series1.ndim == 1 \
            and series1.dtype.char == "d" and len(series1) >= 2:
        # the last two values of a float64 series (what strategies call every bar): compared
        # as Python floats, the same answer as the array form below without its overhead
        if type(series2) is _ndarray and series2.ndim == 1 and series2.dtype.char == "d":
            p2 = series2.item(-2)
            c2 = series2.item(-1)
        elif type(series2) is float or type(series2) is int:
            p2 = c2 = float(series2)
        else:
            return _crossed(series1, series2, direction, sequential)
        p1 = series1.item(-2)
        c1 = series1.item(-1)
        if direction == "above":
            return p1 <= p2 and c1 > c2
        if direction == "below":
            return p1 >= p2 and c1 < c2
        return (p1 <= p2 and c1 > c2) or (p1 >= p2 and c1 < c2)
    return _crossed(series1, series2, direction, sequential)


def _previous(series, sequential: bool):
    if isinstance(series, np.ndarray) and series.ndim:
        return np.r_[np.nan, series[:-1]] if sequential else series[-2]
    return series


def _crossed(series1, series2, direction, sequential):
    s1 = np.asarray(series1, dtype=np.float64)
    s2 = np.asarray(series2, dtype=np.float64) if isinstance(series2, (np.ndarray, list, tuple)) \
        else float(series2)
    if not sequential and len(s1) < 2:
        return False
    prev1 = _previous(s1, sequential)
    prev2 = _previous(s2, sequential)
    cur1 = s1 if sequential else s1[-1]
    cur2 = s2[-1] if (not sequential and isinstance(s2, np.ndarray) and s2.ndim) else s2
    with np.errstate(invalid="ignore"):
        above = np.logical_and(prev1 <= prev2, cur1 > cur2)
        below = np.logical_and(prev1 >= prev2, cur1 < cur2)
    if direction == "above":
        result = above
    elif direction == "below":
        result = below
    else:
        result = np.logical_or(above, below)
    return result if sequential else bool(result)


def _highest(candles, period, source_type):
    period = check_int("highest", "period", period)
    return _core.rolling_max(source("highest", candles, source_type), period)


def highest(candles, period: int = 20, source_type: str = "high", sequential: bool = False):
    """Highest value of the last ``period`` candles (current included); highs by default."""
    return dispatch(_highest, candles, sequential, period, source_type)


def _lowest(candles, period, source_type):
    period = check_int("lowest", "period", period)
    return _core.rolling_min(source("lowest", candles, source_type), period)


def lowest(candles, period: int = 20, source_type: str = "low", sequential: bool = False):
    """Lowest value of the last ``period`` candles (current included); lows by default."""
    return dispatch(_lowest, candles, sequential, period, source_type)


def _zscore(candles, period, matype, nbdev, devtype, source_type):
    period = check_int("zscore", "period", period)
    nbdev = check_float("zscore", "nbdev", nbdev, 0.0, strict=True)
    x = source("zscore", candles, source_type)
    mean = ma_series("zscore", x, period, matype)
    dev = deviation("zscore", x, period, devtype) * nbdev
    return _core.safe_div(x - mean, dev)


def zscore(candles, period: int = 14, matype: int = 0, nbdev: float = 1, devtype: int = 0,
           source_type: str = "close", sequential: bool = False):
    """Z-score: ``(x - ma(x)) / (nbdev * deviation)`` over ``period``; 0 when the deviation is
    0. ``matype`` as in :func:`ta.ma`, ``devtype`` as in :func:`ta.bollinger_bands`."""
    return dispatch(_zscore, candles, sequential, period, matype, nbdev, devtype, source_type)


def _heikin_ashi(candles, name="heikin_ashi"):
    c = as_candles(name, candles)
    ha_close = (c[:, OPEN] + c[:, HIGH] + c[:, LOW] + c[:, CLOSE]) / 4
    closes = ha_close.tolist()
    prev = (float(c[0, OPEN]) + float(c[0, CLOSE])) / 2
    opens = [prev]
    append = opens.append
    for i in range(1, len(closes)):
        prev = (prev + closes[i - 1]) / 2
        append(prev)
    ha_open = np.asarray(opens)
    ha_high = np.maximum(np.maximum(c[:, HIGH], ha_open), ha_close)
    ha_low = np.minimum(np.minimum(c[:, LOW], ha_open), ha_close)
    return HeikinAshi(ha_open, ha_close, ha_high, ha_low)


def heikin_ashi(candles, sequential: bool = False) -> HeikinAshi:
    """HeikinAshi(open, close, high, low) candles. close = ohlc4; open = mean of the previous
    Heikin-Ashi open and close (the first: mean of the first candle's open and close)."""
    return dispatch(_heikin_ashi, candles, sequential)


def heikin_ashi_candles(candles, sequential: bool = False) -> HeikinAshi:
    """Jesse's name for :func:`heikin_ashi`."""
    return dispatch(_heikin_ashi, candles, sequential, "heikin_ashi_candles")


__all__ = ["HeikinAshi", "crossed", "heikin_ashi", "heikin_ashi_candles", "highest", "lowest",
           "zscore"]
