"""Momentum oscillators: rsi, macd, stoch, stochrsi (alias srsi), cci, mfi, roc, mom, willr, cmo, trix,
ultosc, ao, ppo.

Where a ratio's denominator is zero (a flat market), the value is 0 as in TA-Lib.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, VOLUME
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import IndicatorError, as_candles, check_int, source
from jbt.indicators.moving_averages import ma_series

MACD = namedtuple("MACD", ["macd", "signal", "hist"])
Stochastic = namedtuple("Stochastic", ["k", "d"])
StochasticRSI = namedtuple("StochasticRSI", ["k", "d"])
AO = namedtuple("AO", ["osc", "change"])

#: An RSI range (in RSI points) below this is rounding noise, not movement.
_FLAT_RSI_RANGE = 1e-9


def _gains_losses(x: np.ndarray):
    d = np.diff(x)
    return np.maximum(d, 0.0), np.maximum(-d, 0.0)


def rsi_series(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI of a 1-D series; averages seeded with the mean of the first ``period``
    changes, first value at index ``period`` (as TA-Lib)."""
    out = _core.nan_array(len(x))
    if len(x) < 2:
        return out
    gains, losses = _gains_losses(x)
    avg_gain = _core.wilder(gains, period)
    avg_loss = _core.wilder(losses, period)
    out[1:] = 100.0 * _core.safe_div(avg_gain, avg_gain + avg_loss)
    return out


def _rsi(candles, period, source_type):
    period = check_int("rsi", "period", period)
    return rsi_series(source("rsi", candles, source_type), period)


def rsi(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Relative Strength Index (Wilder), 0..100."""
    return dispatch(_rsi, candles, sequential, period, source_type)


def _macd(candles, fast_period, slow_period, signal_period, source_type):
    fast_period = check_int("macd", "fast_period", fast_period)
    slow_period = check_int("macd", "slow_period", slow_period)
    signal_period = check_int("macd", "signal_period", signal_period)
    if fast_period > slow_period:
        fast_period, slow_period = slow_period, fast_period
    x = source("macd", candles, source_type)
    line = _core.ema(x, fast_period) - _core.ema(x, slow_period)
    signal = _core.ema(line, signal_period)
    return MACD(line, signal, line - signal)


def macd(candles, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9,
         source_type: str = "close", sequential: bool = False) -> MACD:
    """MACD(macd, signal, hist): ``ema(fast) - ema(slow)``, its EMA, and their difference.

    Each EMA is seeded with the SMA of its own first ``period`` inputs, so values agree with
    TA-Lib's MACD (which seeds the fast EMA later) once the seed has decayed (~150 bars).
    """
    return dispatch(_macd, candles, sequential, fast_period, slow_period, signal_period,
                    source_type)


def _stoch(candles, fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype):
    fastk_period = check_int("stoch", "fastk_period", fastk_period)
    slowk_period = check_int("stoch", "slowk_period", slowk_period)
    slowd_period = check_int("stoch", "slowd_period", slowd_period)
    c = as_candles("stoch", candles)
    ll = _core.rolling_min(c[:, LOW], fastk_period)
    hh = _core.rolling_max(c[:, HIGH], fastk_period)
    fastk = 100.0 * _core.safe_div(c[:, CLOSE] - ll, hh - ll)
    k = ma_series("stoch", fastk, slowk_period, slowk_matype)
    d = ma_series("stoch", k, slowd_period, slowd_matype)
    return Stochastic(k, d)


def stoch(candles, fastk_period: int = 14, slowk_period: int = 3, slowk_matype: int = 0,
          slowd_period: int = 3, slowd_matype: int = 0, sequential: bool = False) -> Stochastic:
    """Stochastic(k, d): slow %K = MA of 100 * (close - lowest low) / (highest high - lowest
    low) over ``fastk_period``; %D = MA of %K. ``*_matype`` as in :func:`ta.ma`."""
    return dispatch(_stoch, candles, sequential, fastk_period, slowk_period, slowk_matype,
                    slowd_period, slowd_matype)


def _stochrsi(candles, period, period_stoch, k, d, source_type, name="stochrsi"):
    period = check_int(name, "period", period)
    period_stoch = check_int(name, "period_stoch", period_stoch)
    k = check_int(name, "k", k)
    d = check_int(name, "d", d)
    r = rsi_series(source(name, candles, source_type), period)
    lo = _core.rolling_min(r, period_stoch)
    hi = _core.rolling_max(r, period_stoch)
    # Over a flat stretch RSI is constant up to rounding noise (~1e-13): a range that small is
    # treated as zero (value 0, TA-Lib's rule for a zero range) instead of amplifying noise.
    span = hi - lo
    raw = 100.0 * _core.safe_div(r - lo, np.where(span < _FLAT_RSI_RANGE, 0.0, span))
    k_line = _core.rolling_mean(raw, k)
    return StochasticRSI(k_line, _core.rolling_mean(k_line, d))


def stochrsi(candles, period: int = 14, period_stoch: int = 14, k: int = 3, d: int = 3,
             source_type: str = "close", sequential: bool = False) -> StochasticRSI:
    """StochasticRSI(k, d): the stochastic of RSI(period) over ``period_stoch`` bars, smoothed
    by an SMA of ``k`` (k line) and again by an SMA of ``d`` (d line). Where RSI did not move
    over ``period_stoch`` bars (range < 1e-9) the raw stochastic is 0."""
    return dispatch(_stochrsi, candles, sequential, period, period_stoch, k, d, source_type)


def srsi(candles, period: int = 14, period_stoch: int = 14, k: int = 3, d: int = 3,
         source_type: str = "close", sequential: bool = False) -> StochasticRSI:
    """Jesse's name for :func:`stochrsi`."""
    return dispatch(_stochrsi, candles, sequential, period, period_stoch, k, d, source_type,
                    "srsi")


def _cci(candles, period):
    period = check_int("cci", "period", period)
    tp = source("cci", as_candles("cci", candles), "hlc3")
    mean = _core.rolling_mean(tp, period)
    dev = _core.rolling_mean_abs_dev(tp, period)
    return _core.safe_div(tp - mean, 0.015 * dev)


def cci(candles, period: int = 14, sequential: bool = False):
    """Commodity Channel Index: ``(tp - sma(tp)) / (0.015 * mean |tp - sma(tp)|)``,
    tp = hlc3."""
    return dispatch(_cci, candles, sequential, period)


def _mfi(candles, period):
    period = check_int("mfi", "period", period)
    c = as_candles("mfi", candles)
    tp = source("mfi", c, "hlc3")
    out = _core.nan_array(len(c))
    if len(c) < 2:
        return out
    flow = (tp * c[:, VOLUME])[1:]
    d = np.diff(tp)
    pos = _core.rolling_sum(np.where(d > 0, flow, 0.0), period)
    neg = _core.rolling_sum(np.where(d < 0, flow, 0.0), period)
    out[1:] = 100.0 * _core.safe_div(pos, pos + neg)
    return out


def mfi(candles, period: int = 14, sequential: bool = False):
    """Money Flow Index: RSI-like ratio of up-bar to total typical-price money flow."""
    return dispatch(_mfi, candles, sequential, period)


def _roc(candles, period, source_type):
    period = check_int("roc", "period", period)
    x = source("roc", candles, source_type)
    prev = _core.shift(x, period)
    return 100.0 * _core.safe_div(x - prev, prev)


def roc(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Rate of change in percent: ``100 * (x / x[-period] - 1)``."""
    return dispatch(_roc, candles, sequential, period, source_type)


def _mom(candles, period, source_type):
    period = check_int("mom", "period", period)
    x = source("mom", candles, source_type)
    return x - _core.shift(x, period)


def mom(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Momentum: ``x - x[-period]``."""
    return dispatch(_mom, candles, sequential, period, source_type)


def _willr(candles, period):
    period = check_int("willr", "period", period)
    c = as_candles("willr", candles)
    hh = _core.rolling_max(c[:, HIGH], period)
    ll = _core.rolling_min(c[:, LOW], period)
    return -100.0 * _core.safe_div(hh - c[:, CLOSE], hh - ll)


def willr(candles, period: int = 14, sequential: bool = False):
    """Williams %R, -100..0: ``-100 * (highest high - close) / (highest high - lowest low)``."""
    return dispatch(_willr, candles, sequential, period)


def _cmo(candles, period, source_type):
    period = check_int("cmo", "period", period)
    x = source("cmo", candles, source_type)
    out = _core.nan_array(len(x))
    if len(x) < 2:
        return out
    gains, losses = _gains_losses(x)
    g = _core.wilder(gains, period)
    lo = _core.wilder(losses, period)
    out[1:] = 100.0 * _core.safe_div(g - lo, g + lo)
    return out


def cmo(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Chande Momentum Oscillator, -100..100, on Wilder-smoothed gains and losses (as TA-Lib)."""
    return dispatch(_cmo, candles, sequential, period, source_type)


def _trix(candles, period, source_type):
    period = check_int("trix", "period", period)
    x = source("trix", candles, source_type)
    e3 = _core.ema(_core.ema(_core.ema(x, period), period), period)
    prev = _core.shift(e3, 1)
    return 100.0 * _core.safe_div(e3 - prev, prev)


def trix(candles, period: int = 18, source_type: str = "close", sequential: bool = False):
    """TRIX: one-bar rate of change (percent) of a triple EMA."""
    return dispatch(_trix, candles, sequential, period, source_type)


def _ultosc(candles, timeperiod1, timeperiod2, timeperiod3):
    periods = [check_int("ultosc", f"timeperiod{i}", p)
               for i, p in enumerate((timeperiod1, timeperiod2, timeperiod3), start=1)]
    c = as_candles("ultosc", candles)
    prev_close = _core.shift(c[:, CLOSE], 1)
    true_low = np.minimum(c[:, LOW], prev_close)
    bp = c[:, CLOSE] - true_low
    tr = np.maximum(c[:, HIGH], prev_close) - true_low
    total = 0.0
    for weight, p in zip((4.0, 2.0, 1.0), periods, strict=True):
        total = total + weight * _core.safe_div(_core.rolling_sum(bp, p), _core.rolling_sum(tr, p))
    return 100.0 * total / 7.0


def ultosc(candles, timeperiod1: int = 7, timeperiod2: int = 14, timeperiod3: int = 28,
           sequential: bool = False):
    """Ultimate Oscillator: ``100 * (4 A1 + 2 A2 + A3) / 7`` with ``Ai`` the ratio of summed
    buying pressure to summed true range over ``timeperiod_i`` bars."""
    return dispatch(_ultosc, candles, sequential, timeperiod1, timeperiod2, timeperiod3)


def _ao(candles):
    hl2 = source("ao", as_candles("ao", candles), "hl2")
    osc = _core.rolling_mean(hl2, 5) - _core.rolling_mean(hl2, 34)
    return AO(osc, osc - _core.shift(osc, 1))


def ao(candles, sequential: bool = False) -> AO:
    """Awesome Oscillator AO(osc, change): ``sma(hl2, 5) - sma(hl2, 34)`` and its one-bar
    change."""
    return dispatch(_ao, candles, sequential)


def _ppo(candles, fast_period, slow_period, matype, source_type):
    fast_period = check_int("ppo", "fast_period", fast_period)
    slow_period = check_int("ppo", "slow_period", slow_period)
    if fast_period > slow_period:
        fast_period, slow_period = slow_period, fast_period
    if fast_period == slow_period:
        raise IndicatorError(
            f"ta.ppo: fast_period and slow_period must differ (got {fast_period})")
    x = source("ppo", candles, source_type)
    fast = ma_series("ppo", x, fast_period, matype)
    slow = ma_series("ppo", x, slow_period, matype)
    return 100.0 * _core.safe_div(fast - slow, slow)


def ppo(candles, fast_period: int = 12, slow_period: int = 26, matype: int = 0,
        source_type: str = "close", sequential: bool = False):
    """Percentage Price Oscillator: ``100 * (ma(fast) - ma(slow)) / ma(slow)``; ``matype`` as
    in :func:`ta.ma` (default 0, SMA, as TA-Lib)."""
    return dispatch(_ppo, candles, sequential, fast_period, slow_period, matype, source_type)
