"""Volume indicators: obv, ad, adosc, cmf, vwap, and Jesse's efi, emv, kvo, marketfi, nvi,
pvi, volume, vosc, vpci, vpt, vwmacd, wad."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt import timeframes
from jbt.constants import CLOSE, HIGH, LOW, TIMESTAMP, VOLUME
from jbt.errors import InputError
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import IndicatorError, as_candles, check_float, check_int, source


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
    return vwap_series(c, source("vwap", c, source_type), anchor)


def vwap_series(c: np.ndarray, x: np.ndarray, anchor: str) -> np.ndarray:
    """VWAP of series ``x`` with the volume of candles ``c``, restarting every ``anchor``."""
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


# ------------------------------------------------------------------------------ Jesse's

Volume = namedtuple("Volume", ["volume", "ma"])
VPCI = namedtuple("VPCI", ["vpci", "vpcis"])
VWMACD = namedtuple("VWMACD", ["macd", "signal", "hist"])


def _efi(candles, period, source_type):
    period = check_int("efi", "period", period)
    c = as_candles("efi", candles)
    x = source("efi", c, source_type)
    force = np.r_[np.nan, np.diff(x) * c[1:, VOLUME]]
    return _core.ema(force, period)


def efi(candles, period: int = 13, source_type: str = "close", sequential: bool = False):
    """Elder's force index: the EMA (SMA-seeded) of price change times volume."""
    return dispatch(_efi, candles, sequential, period, source_type)


def _emv(candles, length, div):
    length = check_int("emv", "length", length)
    div = check_float("emv", "div", div)
    c = as_candles("emv", candles)
    high, low = c[:, HIGH], c[:, LOW]
    hl2 = (high + low) / 2
    change = np.r_[0.0, np.diff(hl2)]
    raw = _core.safe_div(div * change * (high - low), c[:, VOLUME], np.nan)
    return _core.rolling_mean(raw, length)


def emv(candles, length: int = 14, div: int = 10000, sequential: bool = False):
    """Ease of movement: the ``length`` SMA of ``div * change(hl2) * (high - low) / volume``."""
    return dispatch(_emv, candles, sequential, length, div)


def _kvo(candles, short_period, long_period):
    short_period = check_int("kvo", "short_period", short_period)
    long_period = check_int("kvo", "long_period", long_period)
    c = as_candles("kvo", candles)
    hlc3 = (c[:, HIGH] + c[:, LOW] + c[:, CLOSE]) / 3
    dm = (c[:, HIGH] - c[:, LOW]).tolist()
    mom = np.r_[0.0, np.diff(hlc3)].tolist()
    vol = c[:, VOLUME].tolist()
    vf = [0.0] * len(dm)
    trend = prev_trend = 0.0
    cm = 0.0
    for i in range(1, len(dm)):
        # an unchanged hlc3 gives trend 0 (as Jesse computes it), not the previous trend
        trend = 1.0 if mom[i] > 0 else -1.0 if mom[i] < 0 else 0.0
        cm = cm + dm[i] if trend == prev_trend else dm[i] + dm[i - 1]
        prev_trend = trend
        if cm != 0:
            vf[i] = 100 * vol[i] * trend * abs(2 * dm[i] / cm - 1)
    vf_a = np.array(vf)
    return _core.ema(vf_a, short_period) - _core.ema(vf_a, long_period)


def kvo(candles, short_period: int = 34, long_period: int = 55, sequential: bool = False):
    """Klinger volume oscillator: EMA(short) - EMA(long) of the volume force
    ``100 * volume * trend * |2 * (high - low) / cm - 1|``, trend the sign of the hlc3 change
    and cm the range accumulated while the trend holds."""
    return dispatch(_kvo, candles, sequential, short_period, long_period)


def _marketfi(candles):
    c = as_candles("marketfi", candles)
    return _core.safe_div(c[:, HIGH] - c[:, LOW], c[:, VOLUME], np.nan)


def marketfi(candles, sequential: bool = False):
    """Market facilitation index: ``(high - low) / volume`` (NaN without volume)."""
    return dispatch(_marketfi, candles, sequential)


def _volume_index(candles, source_type, name):
    c = as_candles(name, candles)
    x = source(name, c, source_type).tolist()
    vol = c[:, VOLUME].tolist()
    out = [1000.0]
    for i in range(1, len(x)):
        moved = vol[i] < vol[i - 1] if name == "nvi" else vol[i] > vol[i - 1]
        out.append(out[-1] * (1 + (x[i] - x[i - 1]) / x[i - 1]) if moved else out[-1])
    return np.array(out, dtype=np.float64)


def nvi(candles, source_type: str = "close", sequential: bool = False):
    """Negative volume index from 1000: follows the price on bars whose volume fell."""
    return dispatch(_volume_index, candles, sequential, source_type, "nvi")


def pvi(candles, source_type: str = "close", sequential: bool = False):
    """Positive volume index from 1000: follows the price on bars whose volume rose."""
    return dispatch(_volume_index, candles, sequential, source_type, "pvi")


def _volume(candles, period):
    period = check_int("volume", "period", period)
    c = as_candles("volume", candles)
    return Volume(c[:, VOLUME].copy(), _core.rolling_mean(c[:, VOLUME], period))


def volume(candles, period: int = 20, sequential: bool = False) -> Volume:
    """Volume(volume, ma): the volume and its ``period`` SMA."""
    return dispatch(_volume, candles, sequential, period)


def _vosc(candles, short_period, long_period):
    short_period = check_int("vosc", "short_period", short_period)
    long_period = check_int("vosc", "long_period", long_period)
    v = as_candles("vosc", candles)[:, VOLUME]
    short, long = _core.rolling_mean(v, short_period), _core.rolling_mean(v, long_period)
    return 100 * _core.safe_div(short - long, long, np.nan)


def vosc(candles, short_period: int = 2, long_period: int = 5, sequential: bool = False):
    """Volume oscillator: percent gap between the short and long volume SMAs."""
    return dispatch(_vosc, candles, sequential, short_period, long_period)


def _vpci(candles, short_range, long_range):
    short_range = check_int("vpci", "short_range", short_range)
    long_range = check_int("vpci", "long_range", long_range)
    c = as_candles("vpci", candles)
    close, vol = c[:, CLOSE], c[:, VOLUME]

    def sma(x, p):
        return _core.rolling_mean(x, p)

    vwma_long = _core.safe_div(sma(close * vol, long_range), sma(vol, long_range), np.nan)
    vpc = vwma_long - sma(close, long_range)
    vwma_short = _core.safe_div(sma(close * vol, short_range), sma(vol, short_range), np.nan)
    vpr = vwma_short / sma(close, short_range)
    vm = _core.safe_div(sma(vol, short_range), sma(vol, long_range), np.nan)
    line = vpc * vpr * vm
    start = _core.first_valid(line)
    smooth = _core.nan_array(len(c))
    smooth[start:] = _core.safe_div(sma(line[start:] * vol[start:], short_range),
                                    sma(vol[start:], short_range), np.nan)
    return VPCI(line, smooth)


def vpci(candles, short_range: int = 5, long_range: int = 25, sequential: bool = False) -> VPCI:
    """Volume price confirmation indicator VPCI(vpci, vpcis)."""
    return dispatch(_vpci, candles, sequential, short_range, long_range)


def _vpt(candles, source_type):
    c = as_candles("vpt", candles)
    x = source("vpt", c, source_type)
    prev = _core.shift(x, 1)
    raw = c[:, VOLUME] * (x - prev) / prev
    return _core.shift(raw, 1) + raw


def vpt(candles, source_type: str = "close", sequential: bool = False):
    """Volume price trend as Jesse computes it: this bar's and the previous bar's
    ``volume * change / previous price``, added (not a running total)."""
    return dispatch(_vpt, candles, sequential, source_type)


def _vwma_of(x: np.ndarray, vol: np.ndarray, period: int) -> np.ndarray:
    return _core.safe_div(_core.rolling_sum(x * vol, period), _core.rolling_sum(vol, period),
                          np.nan)


def _vwmacd(candles, fast_period, slow_period, signal_period):
    fast_period = check_int("vwmacd", "fast_period", fast_period)
    slow_period = check_int("vwmacd", "slow_period", slow_period)
    signal_period = check_int("vwmacd", "signal_period", signal_period)
    c = as_candles("vwmacd", candles)
    close, vol = c[:, CLOSE], c[:, VOLUME]
    line = _vwma_of(close, vol, fast_period) - _vwma_of(close, vol, slow_period)
    start = _core.first_valid(line)
    signal = _core.nan_array(len(c))
    signal[start:] = _vwma_of(line[start:], vol[start:], signal_period)
    return VWMACD(line, signal, line - signal)


def vwmacd(candles, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9,
           sequential: bool = False) -> VWMACD:
    """Volume-weighted MACD VWMACD(macd, signal, hist): the gap of two VWMAs of the close, and
    its VWMA (with the candles' volume)."""
    return dispatch(_vwmacd, candles, sequential, fast_period, slow_period, signal_period)


def _wad(candles):
    c = as_candles("wad", candles)
    high, low = c[:, HIGH], c[:, LOW]
    # Jesse's wad runs on the opens as its "close"
    x = c[:, 1]
    prev = _core.shift(x, 1)
    with np.errstate(invalid="ignore"):
        ad = np.where(x > prev, x - np.minimum(low, prev),
                      np.where(x < prev, x - np.maximum(high, prev), 0.0))
    ad[0] = 0.0
    return np.cumsum(ad)


def wad(candles, sequential: bool = False):
    """Williams accumulation/distribution, a running total from the first candle. As in
    Jesse 3, the price compared is the open (its source passes the opens as closes)."""
    return dispatch(_wad, candles, sequential)
