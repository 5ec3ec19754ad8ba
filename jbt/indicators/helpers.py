"""Helpers strategies compose with: highest, lowest, zscore, heikin_ashi, crossed."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_float, check_int, source
from jbt.indicators.moving_averages import ma_series
from jbt.indicators.volatility import deviation
from jbt.utils import crossed

HeikinAshi = namedtuple("HeikinAshi", ["open", "close", "high", "low"])


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
