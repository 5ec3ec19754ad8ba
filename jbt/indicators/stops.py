"""Stop levels: chande (chandelier exit), cksp (Chande Kroll stop), devstop (Kase dev stop),
kaufmanstop, safezonestop. ``direction`` is "long" (a stop below the price) or "short"."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_choice, check_float, check_int
from jbt.indicators.moving_averages import ma_series
from jbt.indicators.volatility import deviation

CKSP = namedtuple("CKSP", ["long", "short"])

_DIRECTIONS = ("long", "short")


def _tr_first_range(c: np.ndarray) -> np.ndarray:
    tr = _core.true_range(c[:, HIGH], c[:, LOW], c[:, CLOSE])
    tr[0] = c[0, HIGH] - c[0, LOW]
    return tr


def _chande(candles, period, mult, direction):
    period = check_int("chande", "period", period)
    mult = check_float("chande", "mult", mult)
    check_choice("chande", "direction", direction, _DIRECTIONS)
    c = as_candles("chande", candles)
    atr = _core.wilder(_tr_first_range(c), period)
    if direction == "long":
        return _core.rolling_max(c[:, HIGH], period) - atr * mult
    return _core.rolling_min(c[:, LOW], period) + atr * mult


def chande(candles, period: int = 22, mult: float = 3.0, direction: str = "long",
           sequential: bool = False):
    """Chandelier exit: the ``period`` highest high minus ``mult`` ATRs (long), or the lowest
    low plus ``mult`` ATRs (short). ATR: Wilder's, the first true range being high - low."""
    return dispatch(_chande, candles, sequential, period, mult, direction)


def _growing(fn, x: np.ndarray, window: int) -> np.ndarray:
    """Rolling extreme whose window grows from the first value until it is full."""
    out = fn.accumulate(x)
    if len(x) >= window:
        roll = _core.rolling_max if fn is np.maximum else _core.rolling_min
        out[window - 1:] = roll(x, window)[window - 1:]
    return out


def _cksp(candles, p, x, q):
    p = check_int("cksp", "p", p)
    x = check_float("cksp", "x", x)
    q = check_int("cksp", "q", q)
    c = as_candles("cksp", candles)
    atr = _core.wilder(_tr_first_range(c), p)
    long0 = _growing(np.maximum, c[:, HIGH], q) - x * atr
    short0 = _growing(np.minimum, c[:, LOW], q) + x * atr
    return CKSP(_rolling_skip_nan(long0, q, True), _rolling_skip_nan(short0, q, False))


def _rolling_skip_nan(v: np.ndarray, window: int, use_max: bool) -> np.ndarray:
    start = _core.first_valid(v)
    out = _core.nan_array(len(v))
    if start < len(v):
        out[start:] = _growing(np.maximum if use_max else np.minimum, v[start:], window)
    return out


def cksp(candles, p: int = 10, x: float = 1.0, q: int = 9, sequential: bool = False) -> CKSP:
    """Chande Kroll stop CKSP(long, short): the ``q``-bar extreme of (the ``q``-bar highest
    high minus ``x`` ATR(p)) for longs, mirrored for shorts."""
    return dispatch(_cksp, candles, sequential, p, x, q)


def _devstop(candles, period, mult, devtype, direction):
    period = check_int("devstop", "period", period)
    mult = check_float("devstop", "mult", mult)
    check_choice("devstop", "direction", direction, _DIRECTIONS)
    c = as_candles("devstop", candles)
    high, low = c[:, HIGH], c[:, LOW]
    rng = _core.rolling_max(high, 2) - _core.rolling_min(low, 2)
    start = _core.first_valid(rng)
    avtr = _core.nan_array(len(c))
    sd = _core.nan_array(len(c))
    avtr[start:] = _core.rolling_mean(rng[start:], period)
    sd[start:] = deviation("devstop", rng[start:], period, devtype)
    if direction == "long":
        v = high - avtr - mult * sd
        return _shifted_extreme(v, period, True)
    v = low + avtr + mult * sd
    return _shifted_extreme(v, period, False)


def _shifted_extreme(v: np.ndarray, period: int, use_max: bool) -> np.ndarray:
    start = _core.first_valid(v)
    out = _core.nan_array(len(v))
    roll = _core.rolling_max if use_max else _core.rolling_min
    out[start:] = roll(v[start:], period)
    return out


def devstop(candles, period: int = 20, mult: float = 0, devtype: int = 0,
            direction: str = "long", sequential: bool = False):
    """Kase dev stop: the ``period`` extreme of high - (average two-bar range + ``mult``
    deviations) for longs, mirrored for shorts."""
    return dispatch(_devstop, candles, sequential, period, mult, devtype, direction)


def _kaufmanstop(candles, period, mult, direction, matype):
    period = check_int("kaufmanstop", "period", period)
    mult = check_float("kaufmanstop", "mult", mult)
    check_choice("kaufmanstop", "direction", direction, _DIRECTIONS)
    if matype in (24, 29):
        check_choice("kaufmanstop", "matype", matype, ())
    c = as_candles("kaufmanstop", candles)
    avg = ma_series("kaufmanstop", c[:, HIGH] - c[:, LOW], period, matype)
    if direction == "long":
        return c[:, LOW] - avg * mult
    return c[:, HIGH] + avg * mult


def kaufmanstop(candles, period: int = 22, mult: float = 2, direction: str = "long",
                matype: int = 0, sequential: bool = False):
    """Kaufman adaptive stop: the low minus ``mult`` times the average high - low range (long),
    the high plus it (short)."""
    return dispatch(_kaufmanstop, candles, sequential, period, mult, direction, matype)


def _safezonestop(candles, period, mult, max_lookback, direction):
    period = check_int("safezonestop", "period", period)
    mult = check_float("safezonestop", "mult", mult)
    max_lookback = check_int("safezonestop", "max_lookback", max_lookback)
    check_choice("safezonestop", "direction", direction, _DIRECTIONS)
    c = as_candles("safezonestop", candles)
    high, low = c[:, HIGH], c[:, LOW]
    last_high = _core.shift(high, 1)
    last_low = _core.shift(low, 1)
    up = np.nan_to_num(high - last_high)
    down = np.nan_to_num(last_low - low)
    plus = np.where((up > down) & (up > 0), up, 0.0)
    minus = np.where((down > up) & (down > 0), down, 0.0)
    keep = 1 - 1 / period

    def wilder_sum(v):  # s[0] = v[0]; s[t] = keep * s[t-1] + v[t]
        out = np.empty(len(v))
        out[0] = v[0]
        out[1:] = _core.linear_recursion(v[1:], keep, 1.0, float(v[0]))
        return out

    if direction == "long":
        mid = last_low - mult * wilder_sum(minus)
        return _rolling_skip_nan(mid, max_lookback, True)
    mid = last_high + mult * wilder_sum(plus)
    return _rolling_skip_nan(mid, max_lookback, False)


def safezonestop(candles, period: int = 22, mult: float = 2.5, max_lookback: int = 3,
                 direction: str = "long", sequential: bool = False):
    """Elder's safezone stop: the previous low minus ``mult`` times the Wilder-summed -DM
    (long), mirrored for shorts, then the extreme over ``max_lookback`` bars."""
    return dispatch(_safezonestop, candles, sequential, period, mult, max_lookback, direction)


__all__ = ["CKSP", "chande", "cksp", "devstop", "kaufmanstop", "safezonestop"]
