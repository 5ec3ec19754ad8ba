"""Volume indicators: obv, ad, adosc, cmf, vwap."""

from __future__ import annotations

import numpy as np

from jbt import timeframes
from jbt.constants import CLOSE, HIGH, LOW, TIMESTAMP, VOLUME
from jbt.errors import InputError
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import IndicatorError, as_candles, check_int, source


def _obv(candles):
    c = as_candles("obv", candles)
    close, vol = c[:, CLOSE], c[:, VOLUME]
    signed = np.empty(len(c))
    signed[0] = vol[0]
    signed[1:] = np.sign(close[1:] - close[:-1]) * vol[1:]
    return np.cumsum(signed)


def obv(candles, sequential: bool = False):
    """On-Balance Volume: starts at the first candle's volume, then adds the volume of up
    candles and subtracts that of down candles (close against previous close)."""
    return dispatch(_obv, candles, sequential)


def _money_flow_volume(c: np.ndarray) -> np.ndarray:
    high, low, close = c[:, HIGH], c[:, LOW], c[:, CLOSE]
    clv = _core.safe_div((close - low) - (high - close), high - low)
    return clv * c[:, VOLUME]


def _ad(candles):
    return np.cumsum(_money_flow_volume(as_candles("ad", candles)))


def ad(candles, sequential: bool = False):
    """Chaikin Accumulation/Distribution line: running sum of the money-flow volume
    ``((close - low) - (high - close)) / (high - low) * volume`` (0 for a zero-range candle)."""
    return dispatch(_ad, candles, sequential)


def _ema_from_first(x: np.ndarray, period: int) -> list:
    k = 2.0 / (period + 1)
    values = x.tolist()
    prev = values[0]
    res = [prev]
    append = res.append
    for v in values[1:]:
        prev = k * v + (1.0 - k) * prev
        append(prev)
    return res


def _adosc(candles, fast_period, slow_period):
    fast_period = check_int("adosc", "fast_period", fast_period)
    slow_period = check_int("adosc", "slow_period", slow_period)
    line = np.cumsum(_money_flow_volume(as_candles("adosc", candles)))
    osc = np.asarray(_ema_from_first(line, fast_period)) - np.asarray(
        _ema_from_first(line, slow_period))
    osc[:max(fast_period, slow_period) - 1] = np.nan
    return osc


def adosc(candles, fast_period: int = 3, slow_period: int = 10, sequential: bool = False):
    """Chaikin A/D Oscillator: ``ema(ad, fast) - ema(ad, slow)``.

    As in TA-Lib, both EMAs start from the first A/D value (not an SMA seed) and the output
    starts at index ``max(fast, slow) - 1``.
    """
    return dispatch(_adosc, candles, sequential, fast_period, slow_period)


def _cmf(candles, period):
    period = check_int("cmf", "period", period)
    c = as_candles("cmf", candles)
    return _core.safe_div(_core.rolling_sum(_money_flow_volume(c), period),
                          _core.rolling_sum(c[:, VOLUME], period))


def cmf(candles, period: int = 20, sequential: bool = False):
    """Chaikin Money Flow: money-flow volume summed over ``period`` / volume over ``period``."""
    return dispatch(_cmf, candles, sequential, period)


_ANCHOR_ALIASES = {"D": "1D", "W": "1W", "H": "1h", "h": "1h", "T": "1m", "min": "1m"}


def _anchor_groups(ts: np.ndarray, anchor: str) -> np.ndarray:
    if anchor == "M":
        return ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    try:
        tf = timeframes.normalize(_ANCHOR_ALIASES.get(anchor, anchor))
    except InputError:
        raise IndicatorError(
            f"ta.vwap: unknown anchor {anchor!r}; use D, W, M, H or a timeframe like 4h"
        ) from None
    return timeframes.bar_open(ts.astype(np.int64), tf)


def _vwap(candles, source_type, anchor):
    c = as_candles("vwap", candles)
    x = source("vwap", c, source_type)
    groups = _anchor_groups(c[:, TIMESTAMP], anchor)
    vol = c[:, VOLUME]
    pv = np.cumsum(x * vol)
    cv = np.cumsum(vol)
    # Index of the first candle of each candle's anchor period.
    new = np.r_[True, groups[1:] != groups[:-1]]
    first = np.maximum.accumulate(np.where(new, np.arange(len(c)), 0))
    before = first - 1
    pv_before = np.where(before >= 0, pv[np.maximum(before, 0)], 0.0)
    cv_before = np.where(before >= 0, cv[np.maximum(before, 0)], 0.0)
    return _core.safe_div(pv - pv_before, cv - cv_before, np.nan)


def vwap(candles, source_type: str = "hlc3", anchor: str = "D", sequential: bool = False):
    """Anchored Volume-Weighted Average Price, reset at the start of each ``anchor`` period
    (UTC): "D" day, "W" week (Monday), "M" month, "H" hour, or any timeframe ("4h"). NaN while
    the period has had no volume."""
    return dispatch(_vwap, candles, sequential, source_type, anchor)
