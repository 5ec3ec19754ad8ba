"""More oscillators and trend measures, under Jesse's names and arguments.

acosc, adxr, alligator, apo, aroonosc, bollinger_bands_width, bop, cc, cfo, chop, cvi,
damiani_volatmeter, dm, dpo, dti, dx, er, eri, fosc, gatorosc, hull_suit, ichimoku_cloud_seq,
ift_rsi, kdj, kst, mab, macdext, mass, minmax, pfe, pivot, qstick, rocp, rocr, rocr100, rsmk,
rsx, rvi, sarext, squeeze_momentum, stc, stiffness, stochf, support_resistance_with_breaks,
tsi, ttm_squeeze, ttm_trend, ui, vi, waddah_attar_explosion, wt.

Where TA-Lib has the indicator (adxr, apo, aroonosc, bop, dm, macdext, rocp, rocr, rocr100,
sarext, stochf) the values are TA-Lib's; the others follow Jesse's definitions, stated in each
docstring. Jesse 3.x's own values can be compared with ``bench/jesse_indicators.py``.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN, VOLUME
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
from jbt.indicators.momentum import macd as _macd_indicator
from jbt.indicators.momentum import rsi_series
from jbt.indicators.more_averages import first_seeded_ema
from jbt.indicators.moving_averages import ma_series
from jbt.indicators.trend import _regression
from jbt.indicators.trend import adx as _adx_indicator
from jbt.indicators.trend import aroon as _aroon_indicator
from jbt.indicators.volatility import deviation

AC = namedtuple("AC", ["osc", "change"])
AG = namedtuple("AG", ["jaw", "teeth", "lips"])
DamianiVolatmeter = namedtuple("DamianiVolatmeter", ["vol", "anti"])
DM = namedtuple("DM", ["plus", "minus"])
DX = namedtuple("DX", ["adx", "plusDI", "minusDI"])
ERI = namedtuple("ERI", ["bull", "bear"])
GATOR = namedtuple("GATOR", ["upper", "lower", "upper_change", "lower_change"])
HullSuit = namedtuple("HullSuit", ["s_hull", "m_hull", "signal"])
IchimokuCloudSeq = namedtuple("IchimokuCloud", ["conversion_line", "base_line", "span_a",
                                                "span_b", "lagging_line", "future_span_a",
                                                "future_span_b"])
KDJ = namedtuple("KDJ", ["k", "d", "j"])
KST = namedtuple("KST", ["line", "signal"])
MAB = namedtuple("MAB", ["upperband", "middleband", "lowerband"])
MACDEXT = namedtuple("MACDEXT", ["macd", "signal", "hist"])
EXTREMA = namedtuple("EXTREMA", ["is_min", "is_max", "last_min", "last_max"])
PIVOT = namedtuple("PIVOT", ["r4", "r3", "r2", "r1", "pp", "s1", "s2", "s3", "s4"])
RSMK = namedtuple("RSMK", ["indicator", "signal"])
SqueezeMomentum = namedtuple("SqueezeMomentum", ["squeeze", "momentum", "momentum_signal"])
StochasticFast = namedtuple("StochasticFast", ["k", "d"])
SupportResistanceWithBreaks = namedtuple(
    "SupportResistanceWithBreaks",
    ["support", "resistance", "red_break", "green_break", "bear_wick", "bull_wick"],
)
VI = namedtuple("VI", ["plus", "minus"])
WaddahAttarExplosionTuple = namedtuple("WaddahAttarExplosionTuple",
                                       ["explosion_line", "trend_power", "trend_direction"])
Wavetrend = namedtuple("Wavetrend", ["wt1", "wt2", "wtCrossUp", "wtCrossDown", "wtOversold",
                                     "wtOverbought", "wtVwap"])

_NO_CANDLE_MA = (24, 29)


def _series_ma(name: str, x: np.ndarray, period: int, matype: int) -> np.ndarray:
    """``ma_series`` for a derived series (vwma and vwap need candles: refused, as Jesse)."""
    if matype in _NO_CANDLE_MA:
        raise IndicatorError(f"ta.{name}: matype {matype} (vwma / vwap) needs candles and cannot "
                             "smooth a derived series")
    return ma_series(name, x, period, matype)


def _diff1(x: np.ndarray) -> np.ndarray:
    return np.r_[np.nan, np.diff(x)]


# ------------------------------------------------------------------------------ TA-Lib ones


def _adxr(candles, period):
    period = check_int("adxr", "period", period)
    adx = _adx_indicator(as_candles("adxr", candles), period, sequential=True)
    return (adx + _core.shift(np.asarray(adx), period - 1)) / 2


def adxr(candles, period: int = 14, sequential: bool = False):
    """Average directional movement rating: ``(adx + adx[period - 1 bars ago]) / 2`` (TA-Lib)."""
    return dispatch(_adxr, candles, sequential, period)


def _apo(candles, fast_period, slow_period, matype, source_type):
    fast_period = check_int("apo", "fast_period", fast_period)
    slow_period = check_int("apo", "slow_period", slow_period)
    if fast_period > slow_period:
        fast_period, slow_period = slow_period, fast_period
    x = source("apo", candles, source_type)
    return (ma_series("apo", x, fast_period, matype, candles)
            - ma_series("apo", x, slow_period, matype, candles))


def apo(candles, fast_period: int = 12, slow_period: int = 26, matype: int = 0,
        source_type: str = "close", sequential: bool = False):
    """Absolute price oscillator: ``ma(fast) - ma(slow)`` (``matype`` as in ``ta.ma``)."""
    return dispatch(_apo, candles, sequential, fast_period, slow_period, matype, source_type)


def _aroonosc(candles, period):
    period = check_int("aroonosc", "period", period)
    a = _aroon_indicator(as_candles("aroonosc", candles), period, sequential=True)
    return np.asarray(a.up) - np.asarray(a.down)


def aroonosc(candles, period: int = 14, sequential: bool = False):
    """Aroon oscillator: ``aroon.up - aroon.down`` (TA-Lib)."""
    return dispatch(_aroonosc, candles, sequential, period)


def _bop(candles):
    c = as_candles("bop", candles)
    return _core.safe_div(c[:, CLOSE] - c[:, OPEN], c[:, HIGH] - c[:, LOW])


def bop(candles, sequential: bool = False):
    """Balance of power: ``(close - open) / (high - low)``, 0 for a zero range."""
    return dispatch(_bop, candles, sequential)


def _dm(candles, period):
    period = check_int("dm", "period", period)
    c = as_candles("dm", candles)
    n = len(c)
    plus = _core.nan_array(n)
    minus = _core.nan_array(n)
    if n < 2:
        return DM(plus, minus)
    up = np.diff(c[:, HIGH])
    down = -np.diff(c[:, LOW])
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    if period == 1:
        plus[1:], minus[1:] = pdm, mdm
    elif n >= period:
        # TA-Lib: the first value (index period - 1) is the sum of the first period - 1 moves,
        # then s = s - s / period + move
        for out, move in ((plus, pdm), (minus, mdm)):
            seed = 0.0
            for v in move[:period - 1].tolist():
                seed += v
            out[period - 1] = seed
            out[period:] = _core.linear_recursion(move[period - 1:], 1.0 - 1.0 / period, 1.0,
                                                  seed)
    return DM(plus, minus)


def dm(candles, period: int = 14, sequential: bool = False) -> DM:
    """Directional movement DM(plus, minus): Wilder-summed +DM and -DM (TA-Lib's PLUS_DM /
    MINUS_DM), first value at index ``period - 1``."""
    return dispatch(_dm, candles, sequential, period)


def _macdext(candles, fast_period, fast_matype, slow_period, slow_matype, signal_period,
             signal_matype, source_type):
    fast_period = check_int("macdext", "fast_period", fast_period)
    slow_period = check_int("macdext", "slow_period", slow_period)
    signal_period = check_int("macdext", "signal_period", signal_period)
    if fast_period > slow_period:
        fast_period, slow_period = slow_period, fast_period
        fast_matype, slow_matype = slow_matype, fast_matype
    x = source("macdext", candles, source_type)
    line = (ma_series("macdext", x, fast_period, fast_matype, candles)
            - ma_series("macdext", x, slow_period, slow_matype, candles))
    signal = _series_ma("macdext", line, signal_period, signal_matype)
    return MACDEXT(line, signal, line - signal)


def macdext(candles, fast_period: int = 12, fast_matype: int = 0, slow_period: int = 26,
            slow_matype: int = 0, signal_period: int = 9, signal_matype: int = 0,
            source_type: str = "close", sequential: bool = False) -> MACDEXT:
    """MACD with a moving-average type per line (older Jesse's and TA-Lib's MACDEXT)."""
    return dispatch(_macdext, candles, sequential, fast_period, fast_matype, slow_period,
                    slow_matype, signal_period, signal_matype, source_type)


def _rocp(candles, period, source_type, kind):
    period = check_int(kind, "period", period)
    x = source(kind, candles, source_type)
    prev = _core.shift(x, period)
    if kind == "rocp":
        return _core.safe_div(x - prev, prev)
    if kind == "rocr":
        return _core.safe_div(x, prev)
    return 100.0 * _core.safe_div(x, prev)


def rocp(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Rate of change as a fraction: ``(x - x[-period]) / x[-period]``."""
    return dispatch(_rocp, candles, sequential, period, source_type, "rocp")


def rocr(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Rate of change ratio: ``x / x[-period]``."""
    return dispatch(_rocp, candles, sequential, period, source_type, "rocr")


def rocr100(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Rate of change ratio times 100: ``100 * x / x[-period]``."""
    return dispatch(_rocp, candles, sequential, period, source_type, "rocr100")


def _stochf(candles, fastk_period, fastd_period, fastd_matype):
    fastk_period = check_int("stochf", "fastk_period", fastk_period)
    fastd_period = check_int("stochf", "fastd_period", fastd_period)
    c = as_candles("stochf", candles)
    ll = _core.rolling_min(c[:, LOW], fastk_period)
    hh = _core.rolling_max(c[:, HIGH], fastk_period)
    k = 100.0 * _core.safe_div(c[:, CLOSE] - ll, hh - ll)
    return StochasticFast(k, _series_ma("stochf", k, fastd_period, fastd_matype))


def stochf(candles, fastk_period: int = 5, fastd_period: int = 3, fastd_matype: int = 0,
           sequential: bool = False) -> StochasticFast:
    """Fast stochastic StochasticFast(k, d): raw %K over ``fastk_period`` and its MA."""
    return dispatch(_stochf, candles, sequential, fastk_period, fastd_period, fastd_matype)


def _sarext(candles, start_value, offset_on_reverse, acceleration_init_long, acceleration_long,
            acceleration_max_long, acceleration_init_short, acceleration_short,
            acceleration_max_short):
    args = [check_float("sarext", name, v, 0.0) for name, v in (
        ("start_value", abs(start_value)), ("offset_on_reverse", offset_on_reverse),
        ("acceleration_init_long", acceleration_init_long),
        ("acceleration_long", acceleration_long),
        ("acceleration_max_long", acceleration_max_long),
        ("acceleration_init_short", acceleration_init_short),
        ("acceleration_short", acceleration_short),
        ("acceleration_max_short", acceleration_max_short))]
    _, offset, ai_l, a_l, amax_l, ai_s, a_s, amax_s = args
    c = as_candles("sarext", candles)
    n = len(c)
    out = _core.nan_array(n)
    if n < 2:
        return out
    high, low = c[:, HIGH].tolist(), c[:, LOW].tolist()
    ai_l, ai_s = min(ai_l, amax_l), min(ai_s, amax_s)
    a_l, a_s = min(a_l, amax_l), min(a_s, amax_s)
    if start_value == 0:
        down = low[0] - low[1]
        up = high[1] - high[0]
        is_long = not (down > 0 and down > up)
    else:
        is_long = start_value > 0
    af_l, af_s = ai_l, ai_s
    if start_value == 0:
        ep, sar = (high[1], low[0]) if is_long else (low[1], high[0])
    elif start_value > 0:
        ep, sar = high[1], start_value
    else:
        ep, sar = low[1], abs(start_value)
    new_high, new_low = high[1], low[1]
    for i in range(1, n):
        prev_high, prev_low = new_high, new_low
        new_high, new_low = high[i], low[i]
        if is_long:
            if new_low <= sar:
                is_long = False
                sar = max(ep, prev_high, new_high)
                if offset:
                    sar += sar * offset
                out[i] = -sar
                af_s = ai_s
                ep = new_low
                sar = max(sar + af_s * (ep - sar), prev_high, new_high)
            else:
                out[i] = sar
                if new_high > ep:
                    ep = new_high
                    af_l = min(af_l + a_l, amax_l)
                sar = min(sar + af_l * (ep - sar), prev_low, new_low)
        else:
            if new_high >= sar:
                is_long = True
                sar = min(ep, prev_low, new_low)
                if offset:
                    sar -= sar * offset
                out[i] = sar
                af_l = ai_l
                ep = new_high
                sar = min(sar + af_l * (ep - sar), prev_low, new_low)
            else:
                out[i] = -sar
                if new_low < ep:
                    ep = new_low
                    af_s = min(af_s + a_s, amax_s)
                sar = max(sar + af_s * (ep - sar), prev_high, new_high)
    return out


def sarext(candles, start_value: float = 0, offset_on_reverse: float = 0,
           acceleration_init_long: float = 0, acceleration_long: float = 0,
           acceleration_max_long: float = 0, acceleration_init_short: float = 0,
           acceleration_short: float = 0, acceleration_max_short: float = 0,
           sequential: bool = False):
    """Parabolic SAR, extended (TA-Lib's SAREXT, older Jesse's defaults): separate
    accelerations for longs and shorts; the value is negative while short."""
    return dispatch(_sarext, candles, sequential, start_value, offset_on_reverse,
                    acceleration_init_long, acceleration_long, acceleration_max_long,
                    acceleration_init_short, acceleration_short, acceleration_max_short)


# ------------------------------------------------------------------------------ Jesse's


def _acosc(candles):
    c = as_candles("acosc", candles)
    med = (c[:, HIGH] + c[:, LOW]) / 2
    ao = _core.rolling_mean(med, 5) - _core.rolling_mean(med, 34)
    start = _core.first_valid(ao)
    res = _core.nan_array(len(c))
    res[start:] = ao[start:] - _core.rolling_mean(ao[start:], 5)
    return AC(res, _diff1(res))


def acosc(candles, sequential: bool = False) -> AC:
    """Acceleration/deceleration oscillator AC(osc, change): the awesome oscillator minus its
    5-bar SMA, and its one-bar change."""
    return dispatch(_acosc, candles, sequential)


def _smma_lagged(x: np.ndarray, period: int, lag: int) -> np.ndarray:
    return _core.shift(_adjusted_ewma(x, 1 / period), lag)


def _adjusted_ewma(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential average with weights ``(1 - alpha) ** age`` normalised over all the values
    so far (pandas' ``ewm(adjust=True)``; Jesse's smma)."""
    values = x.tolist()
    out = []
    num = den = 0.0
    keep = 1 - alpha
    for v in values:
        num = num * keep + v
        den = den * keep + 1.0
        out.append(num / den)
    return np.array(out, dtype=np.float64)


def _alligator(candles, source_type):
    x = source("alligator", candles, source_type)
    return AG(_smma_lagged(x, 13, 8), _smma_lagged(x, 8, 5), _smma_lagged(x, 5, 3))


def alligator(candles, source_type: str = "hl2", sequential: bool = False) -> AG:
    """Williams alligator AG(jaw, teeth, lips): smoothed averages of 13, 8 and 5 bars pushed
    8, 5 and 3 bars later (the value at a bar is the average from that many bars before)."""
    return dispatch(_alligator, candles, sequential, source_type)


def _gatorosc(candles, source_type):
    x = source("gatorosc", candles, source_type)
    jaw, teeth, lips = _smma_lagged(x, 13, 8), _smma_lagged(x, 8, 5), _smma_lagged(x, 5, 3)
    upper = np.abs(jaw - teeth)
    lower = -np.abs(teeth - lips)
    return GATOR(upper, lower, _diff1(upper), -_diff1(lower))


def gatorosc(candles, source_type: str = "close", sequential: bool = False) -> GATOR:
    """Gator oscillator GATOR(upper, lower, upper_change, lower_change) from the alligator's
    lines on ``source_type``."""
    return dispatch(_gatorosc, candles, sequential, source_type)


def _bbw(candles, period, mult, source_type):
    period = check_int("bollinger_bands_width", "period", period)
    mult = check_float("bollinger_bands_width", "mult", mult)
    x = source("bollinger_bands_width", candles, source_type)
    mean = _core.rolling_mean(x, period)
    return _core.safe_div(2 * mult * _core.rolling_std(x, period), mean, np.nan)


def bollinger_bands_width(candles, period: int = 20, mult: float = 2.0,
                          source_type: str = "close", sequential: bool = False):
    """Bollinger bands width: ``(upper - lower) / middle`` with SMA and population std."""
    return dispatch(_bbw, candles, sequential, period, mult, source_type)


def _cc(candles, wma_period, roc_short_period, roc_long_period, source_type):
    wma_period = check_int("cc", "wma_period", wma_period)
    rs = check_int("cc", "roc_short_period", roc_short_period)
    rl = check_int("cc", "roc_long_period", roc_long_period)
    x = source("cc", candles, source_type)

    def roc(p):
        prev = _core.shift(x, p)
        return 100.0 * _core.safe_div(x - prev, prev)

    total = roc(rl) + roc(rs)
    start = _core.first_valid(total)
    out = _core.nan_array(len(x))
    out[start:] = _core.wma(total[start:], wma_period)
    return out


def cc(candles, wma_period: int = 10, roc_short_period: int = 11, roc_long_period: int = 14,
       source_type: str = "close", sequential: bool = False):
    """Coppock curve: the WMA of the sum of two rates of change (percent)."""
    return dispatch(_cc, candles, sequential, wma_period, roc_short_period, roc_long_period,
                    source_type)


def _cfo(candles, period, scalar, source_type):
    period = check_int("cfo", "period", period)
    scalar = check_float("cfo", "scalar", scalar)
    x = source("cfo", candles, source_type)
    mean, slope = _regression(x, period)
    line = mean + slope * ((period - 1) / 2)
    return _core.safe_div(scalar * (x - line), x, np.nan)


def cfo(candles, period: int = 14, scalar: float = 100, source_type: str = "close",
        sequential: bool = False):
    """Chande forecast oscillator: ``scalar * (x - linearreg) / x``."""
    return dispatch(_cfo, candles, sequential, period, scalar, source_type)


def _jesse_tr(c: np.ndarray) -> np.ndarray:
    """True range with the first bar's high - low (Jesse's; TA-Lib leaves it undefined)."""
    tr = _core.true_range(c[:, HIGH], c[:, LOW], c[:, CLOSE])
    tr[0] = c[0, HIGH] - c[0, LOW]
    return tr


def _chop(candles, period, scalar, drift):
    period = check_int("chop", "period", period, minimum=2)
    scalar = check_float("chop", "scalar", scalar)
    drift = check_int("chop", "drift", drift)
    c = as_candles("chop", candles)
    tr = _jesse_tr(c)
    atr = tr if drift == 1 else _core.wilder(tr, drift)
    total = _core.rolling_sum(atr, period)
    rng = _core.rolling_max(c[:, HIGH], period) - _core.rolling_min(c[:, LOW], period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = scalar * (np.log10(total) - np.log10(rng)) / math.log10(period)
    return np.where(rng > 0, out, np.nan)


def chop(candles, period: int = 14, scalar: float = 100, drift: int = 1,
         sequential: bool = False):
    """Choppiness index: ``scalar * log10(sum(atr, period) / (highest - lowest)) /
    log10(period)``, ATR over ``drift`` bars (1: the true range)."""
    return dispatch(_chop, candles, sequential, period, scalar, drift)


def _cvi(candles, period):
    period = check_int("cvi", "period", period)
    c = as_candles("cvi", candles)
    e = _core.ema(c[:, HIGH] - c[:, LOW], period)
    prev = _core.shift(e, period)
    return 100.0 * _core.safe_div(e - prev, prev, np.nan)


def cvi(candles, period: int = 5, sequential: bool = False):
    """Chaikin's volatility: percent change over ``period`` bars of the EMA of high - low."""
    return dispatch(_cvi, candles, sequential, period)


def _damiani(candles, vis_atr, vis_std, sed_atr, sed_std, threshold, source_type):
    vis_atr = check_int("damiani_volatmeter", "vis_atr", vis_atr)
    vis_std = check_int("damiani_volatmeter", "vis_std", vis_std)
    sed_atr = check_int("damiani_volatmeter", "sed_atr", sed_atr)
    sed_std = check_int("damiani_volatmeter", "sed_std", sed_std)
    threshold = check_float("damiani_volatmeter", "threshold", threshold)
    c = as_candles("damiani_volatmeter", candles)
    x = source("damiani_volatmeter", c, source_type)
    tr = _jesse_tr(c)
    atr_vis = _core.wilder(tr, vis_atr)
    atr_sed = _core.wilder(tr, sed_atr)
    n = len(x)
    u = np.zeros(n)
    if n > sed_std:
        u[sed_std:] = _core.safe_div(atr_vis[sed_std:], atr_sed[sed_std:], np.nan)
    vol = []
    u_list = u.tolist()
    for i in range(n):  # vol[t] = u[t] + 0.5 * vol[t-1] - 0.5 * vol[t-3]
        v = u_list[i]
        if i >= 1:
            v += 0.5 * vol[i - 1]
        if i >= 3:
            v -= 0.5 * vol[i - 3]
        vol.append(v)
    anti = np.zeros(n)
    s_vis = _core.rolling_std(x, vis_std)
    s_sed = _core.rolling_std(x, sed_std)
    if n > sed_std:
        # the deviations of the windows ending at the previous bar
        anti[sed_std:] = threshold - _core.safe_div(s_vis[sed_std - 1:-1],
                                                    s_sed[sed_std - 1:-1], np.nan)
    return DamianiVolatmeter(np.array(vol), anti)


def damiani_volatmeter(candles, vis_atr: int = 13, vis_std: int = 20, sed_atr: int = 40,
                       sed_std: int = 100, threshold: float = 1.4, source_type: str = "close",
                       sequential: bool = False) -> DamianiVolatmeter:
    """Damiani volatmeter DamianiVolatmeter(vol, anti): the ratio of a short to a long ATR
    (lag-smoothed), and ``threshold`` minus the ratio of a short to a long standard deviation."""
    return dispatch(_damiani, candles, sequential, vis_atr, vis_std, sed_atr, sed_std,
                    threshold, source_type)


def _dpo(candles, period, source_type):
    period = check_int("dpo", "period", period)
    x = source("dpo", candles, source_type)
    shift = period // 2 + 1
    out = _core.shift(x, shift) - _core.rolling_mean(x, period)
    out[:period - 1 + shift] = np.nan
    return out


def dpo(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Detrended price oscillator: the price ``period // 2 + 1`` bars ago minus the current
    ``period`` SMA (causal form, as Jesse)."""
    return dispatch(_dpo, candles, sequential, period, source_type)


def _ema_zero_seeded(x: np.ndarray, period: int) -> np.ndarray:
    """``y[0] = alpha * x[0]`` then an EMA (Jesse's dti)."""
    alpha = 2.0 / (period + 1)
    return _core.linear_recursion(x, 1 - alpha, alpha, 0.0)


def _dti(candles, r, s, u):
    r = check_int("dti", "r", r)
    s = check_int("dti", "s", s)
    u = check_int("dti", "u", u)
    c = as_candles("dti", candles)
    dh = _diff1(c[:, HIGH])
    dl = _diff1(c[:, LOW])
    with np.errstate(invalid="ignore"):
        price = np.where(dh > 0, dh, 0.0) - np.where(dl < 0, -dl, 0.0)
    num = _ema_zero_seeded(_ema_zero_seeded(_ema_zero_seeded(price, r), s), u)
    den = _ema_zero_seeded(_ema_zero_seeded(_ema_zero_seeded(np.abs(price), r), s), u)
    return _core.safe_div(100 * num, den)


def dti(candles, r: int = 14, s: int = 10, u: int = 5, sequential: bool = False):
    """Directional trend index: triple-smoothed (r, s, u) net high/low momentum over its
    absolute value, times 100."""
    return dispatch(_dti, candles, sequential, r, s, u)


def _dx(candles, di_length, adx_smoothing):
    di_length = check_int("dx", "di_length", di_length)
    adx_smoothing = check_int("dx", "adx_smoothing", adx_smoothing)
    c = as_candles("dx", candles)
    high, low = c[:, HIGH], c[:, LOW]
    up = np.r_[0.0, np.diff(high)]
    down = np.r_[0.0, -np.diff(low)]
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    tr = _jesse_tr(c)
    s_tr = _core.wilder(tr, di_length)
    plus = 100 * _core.safe_div(_core.wilder(pdm, di_length), s_tr)
    minus = 100 * _core.safe_div(_core.wilder(mdm, di_length), s_tr)
    total = plus + minus
    directional = np.abs(plus - minus) / np.where(total == 0, 1.0, total)
    return DX(100 * _core.wilder(directional, adx_smoothing), plus, minus)


def dx(candles, di_length: int = 14, adx_smoothing: int = 14, sequential: bool = False) -> DX:
    """Directional movement index DX(adx, plusDI, minusDI), TradingView style: Wilder averages
    (seeded with the SMA) of +DM, -DM and the true range over ``di_length``, and the ADX as the
    Wilder average of ``|+DI - -DI| / (+DI + -DI)`` over ``adx_smoothing``."""
    return dispatch(_dx, candles, sequential, di_length, adx_smoothing)


def _er(candles, period, source_type):
    period = check_int("er", "period", period)
    x = source("er", candles, source_type)
    change = np.abs(x - _core.shift(x, period))
    vol = _core.rolling_sum(np.abs(_diff1(x)), period)
    return _core.safe_div(change, vol)


def er(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Kaufman efficiency ratio: ``|x - x[-period]| / sum(|changes|, period)``, 0..1."""
    return dispatch(_er, candles, sequential, period, source_type)


def _eri(candles, period, matype, source_type):
    period = check_int("eri", "period", period)
    c = as_candles("eri", candles)
    m = ma_series("eri", source("eri", c, source_type), period, matype, c)
    return ERI(c[:, HIGH] - m, c[:, LOW] - m)


def eri(candles, period: int = 13, matype: int = 1, source_type: str = "close",
        sequential: bool = False) -> ERI:
    """Elder ray index ERI(bull, bear): high and low minus a moving average (EMA by default)."""
    return dispatch(_eri, candles, sequential, period, matype, source_type)


def _fosc(candles, period, source_type):
    period = check_int("fosc", "period", period)
    x = source("fosc", candles, source_type)
    mean, slope = _regression(x, period)
    line = mean + slope * ((period - 1) / 2)
    out = _core.safe_div(100 * (x - line), x, np.nan)
    out[:period - 1] = 0.0  # Jesse's value before the first window
    return out


def fosc(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Forecast oscillator: ``100 * (x - linearreg) / x`` (0 before the first window, as
    Jesse)."""
    return dispatch(_fosc, candles, sequential, period, source_type)


def _hull(x: np.ndarray, mode: str, length: int) -> np.ndarray:
    def chained(fn, y, p):
        start = _core.first_valid(y)
        out = _core.nan_array(len(y))
        if p >= 1:
            out[start:] = fn(y[start:], p)
        return out

    if mode == "Hma":
        raw = 2 * _core.wma(x, length // 2) - _core.wma(x, length)
        return chained(_core.wma, raw, round(length ** 0.5))
    if mode == "Ehma":
        raw = 2 * _core.ema(x, length // 2) - _core.ema(x, length)
        return chained(_core.ema, raw, round(length ** 0.5))
    raw = (3 * _core.wma(x, length // 6) - _core.wma(x, length // 4)
           - _core.wma(x, length // 2))
    return chained(_core.wma, raw, length // 2)


def _hull_suit(candles, mode_switch, length, length_mult, source_type):
    check_choice("hull_suit", "mode_switch", mode_switch, ("Hma", "Ehma", "Thma"))
    length = check_int("hull_suit", "length", length)
    length_mult = check_float("hull_suit", "length_mult", length_mult, 0.0, strict=True)
    mode_len = int(length * length_mult)
    if mode_len < (12 if mode_switch == "Thma" else 2):
        raise IndicatorError(f"ta.hull_suit: length * length_mult ({mode_len}) is too short for "
                             f"{mode_switch}")
    hull = _hull(source("hull_suit", candles, source_type), mode_switch, mode_len)
    return HullSuit(_core.shift(hull, 2), hull, np.where(_core.shift(hull, 2) < hull, 1.0,
                                                         -1.0))


def hull_suit(candles, mode_switch: str = "Hma", length: int = 55, length_mult: float = 1.0,
              source_type: str = "close", sequential: bool = False) -> HullSuit:
    """Hull suit HullSuit(s_hull, m_hull, signal): the Hull average (``Hma``, ``Ehma`` or
    ``Thma``) two bars ago and now, and ``"buy"`` when it rose over those two bars, else
    ``"sell"`` (None before there is a value)."""
    raw = dispatch(_hull_suit, candles, True, mode_switch, length, length_mult, source_type)
    s_hull, m_hull, rising = (np.asarray(a) for a in raw)
    valid = ~np.isnan(s_hull) & ~np.isnan(m_hull)
    if not sequential:
        if not valid[-1]:
            raise IndicatorError(f"ta.hull_suit: too few candles ({len(m_hull)}) for a value")
        return HullSuit(float(s_hull[-1]), float(m_hull[-1]),
                        "buy" if rising[-1] > 0 else "sell")
    signal = np.where(valid, np.where(rising > 0, "buy", "sell"), None).astype(object)
    return HullSuit(s_hull, m_hull, signal)


def _ichimoku_seq(candles, conversion_line_period, base_line_period, lagging_line_period,
                  displacement):
    conv = check_int("ichimoku_cloud_seq", "conversion_line_period", conversion_line_period)
    base = check_int("ichimoku_cloud_seq", "base_line_period", base_line_period)
    lag = check_int("ichimoku_cloud_seq", "lagging_line_period", lagging_line_period)
    disp = check_int("ichimoku_cloud_seq", "displacement", displacement)
    c = as_candles("ichimoku_cloud_seq", candles)

    def mid(p):
        return (_core.rolling_max(c[:, HIGH], p) + _core.rolling_min(c[:, LOW], p)) / 2

    conversion, base_line = mid(conv), mid(base)
    future_a = (conversion + base_line) / 2
    future_b = mid(lag)
    return IchimokuCloudSeq(conversion, base_line, _core.shift(future_a, disp),
                            _core.shift(future_b, disp), _core.shift(c[:, CLOSE], disp - 1),
                            future_a, future_b)


def ichimoku_cloud_seq(candles, conversion_line_period: int = 9, base_line_period: int = 26,
                       lagging_line_period: int = 52, displacement: int = 26,
                       sequential: bool = False):
    """Ichimoku with every line: IchimokuCloud(conversion_line, base_line, span_a, span_b,
    lagging_line, future_span_a, future_span_b). span_a / span_b are the cloud at the current
    bar (computed ``displacement`` bars ago), future_span_* the cloud being drawn now, and
    lagging_line the close ``displacement - 1`` bars ago."""
    return dispatch(_ichimoku_seq, candles, sequential, conversion_line_period,
                    base_line_period, lagging_line_period, displacement)


def _ift_rsi(candles, rsi_period, wma_period, source_type):
    rsi_period = check_int("ift_rsi", "rsi_period", rsi_period)
    wma_period = check_int("ift_rsi", "wma_period", wma_period)
    v1 = 0.1 * (rsi_series(source("ift_rsi", candles, source_type), rsi_period) - 50)
    start = _core.first_valid(v1)
    v2 = _core.nan_array(len(v1))
    v2[start:] = _core.wma(v1[start:], wma_period)
    e = (2 * v2) ** 2
    return (e - 1) / (e + 1)


def ift_rsi(candles, rsi_period: int = 5, wma_period: int = 9, source_type: str = "close",
            sequential: bool = False):
    """Modified inverse Fisher transform of RSI, as Jesse computes it:
    ``((2 v) ** 2 - 1) / ((2 v) ** 2 + 1)`` with ``v`` the WMA of ``0.1 * (rsi - 50)``."""
    return dispatch(_ift_rsi, candles, sequential, rsi_period, wma_period, source_type)


def _kdj(candles, fastk_period, slowk_period, slowk_matype, slowd_period, slowd_matype):
    fastk_period = check_int("kdj", "fastk_period", fastk_period)
    slowk_period = check_int("kdj", "slowk_period", slowk_period)
    slowd_period = check_int("kdj", "slowd_period", slowd_period)
    c = as_candles("kdj", candles)
    n = len(c)
    # Jesse's kdj starts the window at the first candle: the extremes so far before it fills
    hh = np.maximum.accumulate(c[:, HIGH])
    ll = np.minimum.accumulate(c[:, LOW])
    if n >= fastk_period:
        hh[fastk_period - 1:] = _core.rolling_max(c[:, HIGH], fastk_period)[fastk_period - 1:]
        ll[fastk_period - 1:] = _core.rolling_min(c[:, LOW], fastk_period)[fastk_period - 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = 100 * (c[:, CLOSE] - ll) / (hh - ll)
    k = _series_ma("kdj", raw, slowk_period, slowk_matype)
    d = _series_ma("kdj", k, slowd_period, slowd_matype)
    return KDJ(k, d, 3 * k - 2 * d)


def kdj(candles, fastk_period: int = 9, slowk_period: int = 3, slowk_matype: int = 0,
        slowd_period: int = 3, slowd_matype: int = 0, sequential: bool = False) -> KDJ:
    """KDJ(k, d, j): the stochastic's %K and %D (``ta.ma`` types), and ``j = 3k - 2d``. The
    high/low window grows from the first candle until it holds ``fastk_period`` bars."""
    return dispatch(_kdj, candles, sequential, fastk_period, slowk_period, slowk_matype,
                    slowd_period, slowd_matype)


def _kst(candles, sma1, sma2, sma3, sma4, roc1, roc2, roc3, roc4, signal_period, source_type):
    periods = [check_int("kst", n, v) for n, v in (
        ("sma_period1", sma1), ("sma_period2", sma2), ("sma_period3", sma3),
        ("sma_period4", sma4), ("roc_period1", roc1), ("roc_period2", roc2),
        ("roc_period3", roc3), ("roc_period4", roc4), ("signal_period", signal_period))]
    x = source("kst", candles, source_type)
    line = np.zeros(len(x))
    for weight, (sp, rp) in enumerate(zip(periods[:4], periods[4:8], strict=True), start=1):
        prev = _core.shift(x, rp)
        roc = 100.0 * _core.safe_div(x - prev, prev)
        line = line + weight * _core.rolling_mean(roc, sp)
    signal = _core.nan_array(len(x))
    start = _core.first_valid(line)
    signal[start:] = _core.rolling_mean(line[start:], periods[8])
    return KST(line, signal)


def kst(candles, sma_period1: int = 10, sma_period2: int = 10, sma_period3: int = 10,
        sma_period4: int = 15, roc_period1: int = 10, roc_period2: int = 15,
        roc_period3: int = 20, roc_period4: int = 30, signal_period: int = 9,
        source_type: str = "close", sequential: bool = False) -> KST:
    """Know sure thing KST(line, signal): weighted (1..4) sum of four SMA-smoothed rates of
    change, and its SMA."""
    return dispatch(_kst, candles, sequential, sma_period1, sma_period2, sma_period3,
                    sma_period4, roc_period1, roc_period2, roc_period3, roc_period4,
                    signal_period, source_type)


def _mab(candles, fast_period, slow_period, devup, devdn, fast_matype, slow_matype,
         source_type):
    fast_period = check_int("mab", "fast_period", fast_period)
    slow_period = check_int("mab", "slow_period", slow_period)
    devup = check_float("mab", "devup", devup)
    devdn = check_float("mab", "devdn", devdn)
    c = candles
    x = source("mab", c, source_type)
    fast = ma_series("mab", x, fast_period, fast_matype, c)
    slow = ma_series("mab", x, slow_period, slow_matype, c)
    dev = np.sqrt(_core.rolling_mean((fast - slow) ** 2, fast_period))
    return MAB(slow + devup * dev, fast, slow - devdn * dev)


def mab(candles, fast_period: int = 10, slow_period: int = 50, devup: float = 1,
        devdn: float = 1, fast_matype: int = 0, slow_matype: int = 0,
        source_type: str = "close", sequential: bool = False) -> MAB:
    """Moving average bands MAB(upperband, middleband, lowerband): the fast average in the
    middle, the slow one plus/minus the RMS of their gap over ``fast_period`` bars (a rolling
    value; Jesse uses the last window's for the whole series)."""
    return dispatch(_mab, candles, sequential, fast_period, slow_period, devup, devdn,
                    fast_matype, slow_matype, source_type)


def _mass(candles, period):
    period = check_int("mass", "period", period)
    c = as_candles("mass", candles)
    e1 = first_seeded_ema(c[:, HIGH] - c[:, LOW], 2 / 10)
    e2 = first_seeded_ema(e1, 2 / 10)
    return _core.rolling_sum(_core.safe_div(e1, e2), period)


def mass(candles, period: int = 5, sequential: bool = False):
    """Mass index: the ``period`` sum of ``ema9(high - low) / ema9(ema9(high - low))`` (EMAs
    from the first value)."""
    return dispatch(_mass, candles, sequential, period)


def _minmax(candles, order):
    order = check_int("minmax", "order", order)
    c = as_candles("minmax", candles)
    low, high = c[:, LOW], c[:, HIGH]
    n = len(c)
    is_min = _core.nan_array(n)
    is_max = _core.nan_array(n)
    w = 2 * order + 1
    if n >= w:
        wl = np.lib.stride_tricks.sliding_window_view(low, w)
        wh = np.lib.stride_tricks.sliding_window_view(high, w)
        centre_l = wl[:, order]
        centre_h = wh[:, order]
        others_l = np.delete(wl, order, axis=1)
        others_h = np.delete(wh, order, axis=1)
        mins = (centre_l[:, None] < others_l).all(axis=1)
        maxs = (centre_h[:, None] > others_h).all(axis=1)
        # known once ``order`` bars after it have closed: placed at that bar
        is_min[w - 1:] = np.where(mins, centre_l, np.nan)
        is_max[w - 1:] = np.where(maxs, centre_h, np.nan)
    idx_min = np.where(~np.isnan(is_min), np.arange(n), 0)
    idx_max = np.where(~np.isnan(is_max), np.arange(n), 0)
    np.maximum.accumulate(idx_min, out=idx_min)
    np.maximum.accumulate(idx_max, out=idx_max)
    return EXTREMA(is_min, is_max, is_min[idx_min], is_max[idx_max])


def minmax(candles, order: int = 3, sequential: bool = False) -> EXTREMA:
    """Local extrema EXTREMA(is_min, is_max, last_min, last_max): a low (high) below (above)
    the ``order`` lows (highs) on each side. An extremum is known only ``order`` bars later, so
    jbt reports it at that bar (Jesse's series marks it at the extremum itself, which needs the
    future); the last value equals Jesse's (which reads ``order`` bars back). NaN means
    "no extremum here" (or none yet), not too few candles."""
    res = dispatch(_minmax, as_candles("minmax", candles), True, order)
    if sequential:
        return res
    return EXTREMA(*(float(v[-1]) for v in res))


def _pfe(candles, period, smoothing, source_type):
    period = check_int("pfe", "period", period, minimum=2)
    smoothing = check_int("pfe", "smoothing", smoothing)
    x = source("pfe", candles, source_type)
    ln = period - 1
    diff = x - _core.shift(x, ln)
    a = np.sqrt(diff ** 2 + period ** 2)
    b = _core.rolling_sum(np.sqrt(1 + _diff1(x) ** 2), ln)
    raw = np.nan_to_num(100 * _core.safe_div(a, b, np.nan), nan=0.0)
    sign = np.where(diff > 0, 1.0, -1.0)
    return first_seeded_ema(sign * raw, 2 / (smoothing + 1))


def pfe(candles, period: int = 10, smoothing: int = 5, source_type: str = "close",
        sequential: bool = False):
    """Polarized fractal efficiency (Jesse's definition), EMA-smoothed from the first value."""
    return dispatch(_pfe, candles, sequential, period, smoothing, source_type)


def _pivot(candles, mode):
    check_choice("pivot", "mode", mode, (0, 1, 2, 3, 4))
    c = as_candles("pivot", candles)
    h, lo, cl, op = c[:, HIGH], c[:, LOW], c[:, CLOSE], c[:, OPEN]
    nan = _core.nan_array(len(c))
    r4 = r3 = r2 = r1 = s1 = s2 = s3 = s4 = nan
    rng = h - lo
    if mode == 0:
        p = (h + lo + cl) / 3
        s1, s2, r1, r2 = 2 * p - h, p - rng, 2 * p - lo, p + rng
    elif mode == 1:
        p = (h + lo + cl) / 3
        s1, s2, s3 = p - 0.382 * rng, p - 0.618 * rng, p - rng
        r1, r2, r3 = p + 0.382 * rng, p + 0.618 * rng, p + rng
    elif mode == 2:
        x = np.where(cl < op, h + 2 * lo + cl, np.where(cl > op, 2 * h + lo + cl, h + lo + 2 * cl))
        p = x / 4
        s1, r1 = x / 2 - h, x / 2 - lo
    elif mode == 3:
        p = (h + lo + cl) / 3
        r4, r3, r2, r1 = cl + 0.55 * rng, cl + 0.275 * rng, cl + 0.183 * rng, cl + 0.0916 * rng
        s1, s2, s3, s4 = cl - 0.0916 * rng, cl - 0.183 * rng, cl - 0.275 * rng, cl - 0.55 * rng
    else:
        p = (h + lo + 2 * op) / 4
        r3 = h + 2 * (p - lo)
        r4 = r3 + rng
        r2, r1, s1, s2 = p + rng, 2 * p - lo, 2 * p - h, p - rng
        s3 = lo - 2 * (h - p)
        s4 = s3 - rng
    return PIVOT(r4, r3, r2, r1, p, s1, s2, s3, s4)


def pivot(candles, mode: int = 0, sequential: bool = False) -> PIVOT:
    """Pivot points PIVOT(r4, r3, r2, r1, pp, s1, s2, s3, s4) of each candle: mode 0 standard,
    1 Fibonacci, 2 Demark, 3 Camarilla, 4 Woodie (levels a mode lacks are NaN). Use it on the
    candles of the period the levels are for (e.g. ``self.get_candles(..., "1D")[:-1]``)."""
    candles = as_candles("pivot", candles)
    if not sequential:
        # NaN levels are part of the answer here, not a warm-up
        res = _pivot(candles[-1:], mode)
        return PIVOT(*(float(v[-1]) for v in res))
    return dispatch(_pivot, candles, True, mode)


def _qstick(candles, period):
    period = check_int("qstick", "period", period)
    c = as_candles("qstick", candles)
    return _core.rolling_mean(c[:, CLOSE] - c[:, OPEN], period)


def qstick(candles, period: int = 5, sequential: bool = False):
    """Qstick: the ``period`` SMA of close - open."""
    return dispatch(_qstick, candles, sequential, period)


def _rsmk_ema(x: np.ndarray, period: float) -> np.ndarray:
    alpha = 2.0 / (max(1.0, period) + 1.0)
    out = _core.nan_array(len(x))
    start = _core.first_valid(x)
    if start < len(x):
        out[start:] = first_seeded_ema(x[start:], alpha)
    return out


def rsmk(candles, candles_compare, lookback: int = 90, period: int = 3, signal_period: int = 20,
         source_type: str = "close", sequential: bool = False) -> RSMK:
    """Relative strength (Markos Katsanos) RSMK(indicator, signal): the EMA of the
    ``lookback``-bar change of ``log(price / compared price)`` times 100, and its EMA. Both
    arrays are aligned on their last candle; like Jesse, without ``sequential`` only the last
    240 candles are used."""
    lookback = check_int("rsmk", "lookback", lookback)
    period = check_int("rsmk", "period", period)
    signal_period = check_int("rsmk", "signal_period", signal_period)
    c = as_candles("rsmk", candles)
    b = as_candles("rsmk", candles_compare)
    m = min(len(c), len(b), len(c) if sequential else 240)
    x = source("rsmk", c[len(c) - m:], source_type)
    y = source("rsmk", b[len(b) - m:], source_type)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(x / y)
    mom = ratio - _core.shift(ratio, lookback)
    ind = _rsmk_ema(mom, period) * 100.0
    sig = _rsmk_ema(ind, signal_period)
    if sequential:
        pad = len(c) - m
        return RSMK(np.r_[np.full(pad, np.nan), ind], np.r_[np.full(pad, np.nan), sig])
    if np.isnan(ind[-1]):
        raise IndicatorError(f"ta.rsmk: too few candles ({m}) for lookback {lookback}")
    return RSMK(float(ind[-1]), float(sig[-1]))


def _rsx(candles, period, source_type):
    period = check_int("rsx", "period", period)
    x = source("rsx", candles, source_type).tolist()
    n = len(x)
    out = [math.nan] * n
    f0 = f8 = f28 = f30 = f38 = f40 = f48 = f50 = f58 = f60 = f68 = f70 = f78 = f80 = 0.0
    f18 = f20 = f88 = f90 = 0.0
    v14 = v20 = 0.0
    for i in range(period, n):
        if f90 == 0:
            f90 = 1.0
            f0 = 0.0
            f88 = period - 1.0 if period >= 6 else 5.0
            f8 = 100.0 * x[i]
            f18 = 3.0 / (period + 2.0)
            f20 = 1.0 - f18
        else:
            f90 = f88 + 1 if f88 <= f90 else f90 + 1
            f10 = f8
            f8 = 100 * x[i]
            v8 = f8 - f10
            f28 = f20 * f28 + f18 * v8
            f30 = f18 * f28 + f20 * f30
            vc = f28 * 1.5 - f30 * 0.5
            f38 = f20 * f38 + f18 * vc
            f40 = f18 * f38 + f20 * f40
            v10 = f38 * 1.5 - f40 * 0.5
            f48 = f20 * f48 + f18 * v10
            f50 = f18 * f48 + f20 * f50
            v14 = f48 * 1.5 - f50 * 0.5
            f58 = f20 * f58 + f18 * abs(v8)
            f60 = f18 * f58 + f20 * f60
            v18 = f58 * 1.5 - f60 * 0.5
            f68 = f20 * f68 + f18 * v18
            f70 = f18 * f68 + f20 * f70
            v1c = f68 * 1.5 - f70 * 0.5
            f78 = f20 * f78 + f18 * v1c
            f80 = f18 * f78 + f20 * f80
            v20 = f78 * 1.5 - f80 * 0.5
            if f88 >= f90 and f8 != f10:
                f0 = 1.0
            if f88 == f90 and f0 == 0.0:
                f90 = 0.0
        if f88 < f90 and v20 > 1e-10:
            out[i] = min(max((v14 / v20 + 1.0) * 50.0, 0.0), 100.0)
        else:
            out[i] = 50.0
    return np.array(out, dtype=np.float64)


def rsx(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Jurik's RSX (a noise-free RSI), 0..100; 50 until it has settled."""
    return dispatch(_rsx, candles, sequential, period, source_type)


def _rvi(candles, period, ma_len, matype, devtype, source_type):
    period = check_int("rvi", "period", period)
    ma_len = check_int("rvi", "ma_len", ma_len)
    x = source("rvi", candles, source_type)
    dev = deviation("rvi", x, period, devtype)
    d = _diff1(x)
    with np.errstate(invalid="ignore"):
        up = np.nan_to_num(np.where(d <= 0, 0.0, dev))
        down = np.nan_to_num(np.where(d > 0, 0.0, dev))
    up_avg = _series_ma("rvi", up, ma_len, matype)
    down_avg = _series_ma("rvi", down, ma_len, matype)
    return 100 * _core.safe_div(up_avg, up_avg + down_avg, np.nan)


def rvi(candles, period: int = 10, ma_len: int = 14, matype: int = 1, devtype: int = 0,
        source_type: str = "close", sequential: bool = False):
    """Relative volatility index: RSI built from the ``period`` standard deviation on up and
    down bars, each averaged over ``ma_len`` (``ta.ma`` type)."""
    return dispatch(_rvi, candles, sequential, period, ma_len, matype, devtype, source_type)


def _squeeze(candles, length, mult, length_kc, mult_kc):
    length = check_int("squeeze_momentum", "length", length)
    length_kc = check_int("squeeze_momentum", "length_kc", length_kc)
    mult_kc = check_float("squeeze_momentum", "mult_kc", mult_kc)
    c = as_candles("squeeze_momentum", candles)
    close = c[:, CLOSE]
    basis = _core.rolling_mean(close, length)
    dev = mult_kc * _core.rolling_std(close, length)
    upper_bb, lower_bb = basis + dev, basis - dev
    ma = _core.rolling_mean(close, length_kc)
    tr = _core.true_range(c[:, HIGH], c[:, LOW], close)
    range_ma = _core.rolling_mean(tr, length_kc)
    upper_kc, lower_kc = ma + range_ma * mult_kc, ma - range_ma * mult_kc
    with np.errstate(invalid="ignore"):
        on = (lower_bb > lower_kc) & (upper_bb < upper_kc)
        off = (lower_bb < lower_kc) & (upper_bb > upper_kc)
    sqz = np.where(on, -1.0, np.where(off, 1.0, 0.0))
    highs = np.nan_to_num(_core.rolling_max(c[:, HIGH], length_kc))
    lows = np.nan_to_num(_core.rolling_min(c[:, LOW], length_kc))
    base = close - ((highs + lows) / 2 + np.nan_to_num(ma)) / 2
    mean, slope = _regression(base, length_kc)
    mom = mean + slope * ((length_kc - 1) / 2)
    prev = _core.shift(mom, 1)
    with np.errstate(invalid="ignore"):
        sig = np.where(mom > 0, np.where(mom > prev, 1.0, 2.0), np.where(mom < prev, -1.0, -2.0))
    sig[np.isnan(prev) | np.isnan(mom)] = np.nan
    return SqueezeMomentum(sqz, mom, sig)


def squeeze_momentum(candles, length: int = 20, mult: float = 2.0, length_kc: int = 20,
                     mult_kc: float = 1.5, sequential: bool = True) -> SqueezeMomentum:
    """Squeeze momentum (LazyBear) SqueezeMomentum(squeeze, momentum, momentum_signal):
    squeeze -1 on (Bollinger inside Keltner), 1 off, 0 neither; momentum the linear regression
    of the close against its channel mid; signal 1/2 rising/falling above 0, -1/-2 below.
    The Bollinger width uses ``mult_kc``, as Jesse's; ``mult`` is accepted and unused. Jesse's
    default here is ``sequential=True``."""
    return dispatch(_squeeze, candles, sequential, length, mult, length_kc, mult_kc)


def _stoch_of(x: np.ndarray, period: int) -> np.ndarray:
    lo = _core.rolling_min(x, period)
    hi = _core.rolling_max(x, period)
    return 100 * _core.safe_div(x - lo, hi - lo)


def _stc(candles, fast_period, slow_period, k_period, d1_period, d2_period, source_type):
    fast = check_int("stc", "fast_period", fast_period)
    slow = check_int("stc", "slow_period", slow_period)
    k_period = check_int("stc", "k_period", k_period)
    d1 = check_int("stc", "d1_period", d1_period)
    d2 = check_int("stc", "d2_period", d2_period)
    x = source("stc", candles, source_type)
    line = first_seeded_ema(x, 2 / (fast + 1)) - first_seeded_ema(x, 2 / (slow + 1))
    k = np.nan_to_num(_stoch_of(line, k_period))
    d = first_seeded_ema(k, 2 / (d1 + 1))
    kd = np.nan_to_num(_stoch_of(d, k_period))
    return np.clip(first_seeded_ema(kd, 2 / (d2 + 1)), 0, 100)


def stc(candles, fast_period: int = 23, slow_period: int = 50, k_period: int = 10,
        d1_period: int = 3, d2_period: int = 3, source_type: str = "close",
        sequential: bool = False):
    """Schaff trend cycle: a double stochastic of the MACD line (EMAs from the first value),
    0..100."""
    return dispatch(_stc, candles, sequential, fast_period, slow_period, k_period, d1_period,
                    d2_period, source_type)


def stiffness(candles, ma_length: int = 100, stiff_length: int = 60, stiff_smooth: int = 3,
              source_type: str = "close"):
    """Stiffness: the EMA (``stiff_smooth``, seeded like TA-Lib) of the share, in percent, of
    the last ``stiff_length`` closes above ``sma(ma_length) - 0.2 * std(ma_length)``. A float of
    the last 240 candles, as Jesse slices them."""
    ma_length = check_int("stiffness", "ma_length", ma_length)
    stiff_length = check_int("stiffness", "stiff_length", stiff_length)
    stiff_smooth = check_int("stiffness", "stiff_smooth", stiff_smooth)
    x = source("stiffness", candles, source_type)[-240:]
    bound = _core.rolling_mean(x, ma_length) - 0.2 * _core.rolling_std(x, ma_length)
    with np.errstate(invalid="ignore"):
        above = (x > bound).astype(np.float64)
    counts = _core.rolling_sum(above, stiff_length)
    counts[:stiff_length] = 0.0
    value = _core.ema(counts * 100 / stiff_length, stiff_smooth)[-1]
    if value != value:
        raise IndicatorError(f"ta.stiffness: too few candles ({len(x)}) for a value")
    return float(value)


def _pivots(x: np.ndarray, left: int, right: int, high: bool):
    n = len(x)
    last = None
    for i in range(left, n - right):
        v = x[i]
        window = np.r_[x[i - left:i], x[i + 1:i + right + 1]]
        if (v > window).all() if high else (v < window).all():
            last = float(v)
    return last


def support_resistance_with_breaks(candles, left_bars: int = 15, right_bars: int = 15,
                                   vol_threshold: int = 20) -> SupportResistanceWithBreaks:
    """Support/resistance with breaks (LuxAlgo) for the last candle: the latest confirmed pivot
    low / high (``left_bars`` and ``right_bars`` on each side), whether the last candle broke
    them with volume (an EMA(5)/EMA(10) volume oscillator above ``vol_threshold``), and wick
    breaks. Like Jesse it reads the breaks off the candle at index 0 of the array it is given
    (pass the candles that matter, e.g. ``self.candles[-100:]``)."""
    left_bars = check_int("support_resistance_with_breaks", "left_bars", left_bars)
    right_bars = check_int("support_resistance_with_breaks", "right_bars", right_bars)
    c = as_candles("support_resistance_with_breaks", candles)
    resistance = _pivots(c[:, HIGH], left_bars, right_bars, True)
    support = _pivots(c[:, LOW], left_bars, right_bars, False)
    short = first_seeded_ema(c[:, VOLUME], 2 / 6)
    long = first_seeded_ema(c[:, VOLUME], 2 / 11)
    osc = float(100 * (short[-1] - long[-1]) / long[-1]) if long[-1] else 0.0
    o, cl, h, lo = (float(c[0, k]) for k in (OPEN, CLOSE, HIGH, LOW))
    below = support is not None and cl < support
    above = resistance is not None and cl > resistance
    red_break = below and not abs(o - cl) < abs(o - h) and osc > vol_threshold
    green_break = above and abs(o - lo) > abs(o - cl) and osc > vol_threshold
    bull_wick = above and abs(o - lo) > abs(o - cl)
    bear_wick = below and abs(o - cl) < abs(o - h)
    return SupportResistanceWithBreaks(support, resistance, red_break, green_break, bear_wick,
                                       bull_wick)


def _tsi(candles, long_period, short_period, source_type):
    long_period = check_int("tsi", "long_period", long_period)
    short_period = check_int("tsi", "short_period", short_period)
    x = source("tsi", candles, source_type)
    mom = np.r_[0.0, np.diff(x)]
    a1, a2 = 2 / (long_period + 1), 2 / (short_period + 1)
    num = first_seeded_ema(first_seeded_ema(mom, a1), a2)
    den = first_seeded_ema(first_seeded_ema(np.abs(mom), a1), a2)
    return _core.safe_div(100 * num, den)


def tsi(candles, long_period: int = 25, short_period: int = 13, source_type: str = "close",
        sequential: bool = False):
    """True strength index: double-smoothed momentum over double-smoothed absolute momentum,
    times 100 (EMAs from the first value)."""
    return dispatch(_tsi, candles, sequential, long_period, short_period, source_type)


def ttm_squeeze(candles, length_ttms: int = 20, bb_mult_ttms: float = 2.0,
                kc_mult_low_ttms: float = 2.0) -> bool:
    """TTM squeeze for the last candle: True when the Bollinger bands (SMA, ``bb_mult_ttms``
    population std) are *not* inside the Keltner channel (SMA +/- ``kc_mult_low_ttms`` times
    the SMA of the true range) - Jesse's "no squeeze" signal."""
    length = check_int("ttm_squeeze", "length_ttms", length_ttms)
    c = as_candles("ttm_squeeze", candles)
    close = c[:, CLOSE]
    if len(c) < length + 1:
        raise IndicatorError(f"ta.ttm_squeeze: too few candles ({len(c)}) for length {length}")
    basis = _core.rolling_mean(close, length)[-1]
    dev = bb_mult_ttms * _core.rolling_std(close, length)[-1]
    tr = _core.true_range(c[:, HIGH], c[:, LOW], close)
    kc = _core.rolling_mean(tr, length)[-1]
    return bool(basis - dev < basis - kc * kc_mult_low_ttms
                or basis + dev > basis + kc * kc_mult_low_ttms)


def _ttm_trend(candles, period, source_type):
    period = check_int("ttm_trend", "period", period)
    c = as_candles("ttm_trend", candles)
    avg = _core.rolling_mean(source("ttm_trend", c, source_type), period)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(avg), np.nan, (c[:, CLOSE] > avg).astype(np.float64))


def ttm_trend(candles, period: int = 5, source_type: str = "hl2", sequential: bool = False):
    """TTM trend: whether the close is above the ``period`` average of ``source_type``
    (a bool; with ``sequential`` a bool array, False before the first window, as Jesse)."""
    res = dispatch(_ttm_trend, candles, sequential, period, source_type)
    if sequential:
        return np.asarray(res) == 1.0
    return bool(res == 1.0)


def _ui(candles, period, scalar, source_type):
    period = check_int("ui", "period", period)
    scalar = check_float("ui", "scalar", scalar)
    x = source("ui", candles, source_type)
    top = _core.rolling_max(x, period)
    down = scalar * _core.safe_div(x - top, top, np.nan)
    return np.sqrt(_core.rolling_sum(down * down, period) / period)


def ui(candles, period: int = 14, scalar: float = 100, source_type: str = "close",
       sequential: bool = False):
    """Ulcer index: the RMS over ``period`` of the percent drawdown from the ``period`` high."""
    return dispatch(_ui, candles, sequential, period, scalar, source_type)


def _vi(candles, period):
    period = check_int("vi", "period", period)
    c = as_candles("vi", candles)
    tr = _jesse_tr(c)
    vp = np.r_[0.0, np.abs(c[1:, HIGH] - c[:-1, LOW])]
    vm = np.r_[0.0, np.abs(c[1:, LOW] - c[:-1, HIGH])]
    s_tr = _core.rolling_sum(tr, period)
    # a window without any true range (flat candles): 0, not a division by zero
    return VI(_core.safe_div(_core.rolling_sum(vp, period), s_tr),
              _core.safe_div(_core.rolling_sum(vm, period), s_tr))


def vi(candles, period: int = 14, sequential: bool = False) -> VI:
    """Vortex indicator VI(plus, minus): summed |high - previous low| (|low - previous high|)
    over the summed true range, ``period`` bars (0 over a window of flat candles)."""
    return dispatch(_vi, candles, sequential, period)


def waddah_attar_explosion(candles, sensitivity: int = 150, fast_length: int = 20,
                           slow_length: int = 40, channel_length: int = 20, mult: float = 2.0,
                           source_type: str = "close") -> WaddahAttarExplosionTuple:
    """Waddah Attar explosion for the last candle: explosion_line (Bollinger width:
    ``2 * mult * std``), trend_power (the MACD line's one-bar change times ``sensitivity``) and
    trend_direction (1 or -1). Computed on the last 240 candles, as Jesse slices them."""
    x = source("waddah_attar_explosion", candles, source_type)[-240:]
    now = _macd_indicator(x, fast_length, slow_length).macd
    before = _macd_indicator(x[:-1], fast_length, slow_length).macd
    t1 = (now - before) * sensitivity
    std = _core.rolling_std(x, channel_length)[-1]
    if std != std:
        raise IndicatorError(f"ta.waddah_attar_explosion: too few candles ({len(x)})")
    return WaddahAttarExplosionTuple(float(2 * mult * std), float(t1), 1 if t1 >= 0 else -1)


def _wt(candles, chan, avg, malen, oblevel, oslevel, source_type):
    chan = check_int("wt", "wtchannellen", chan)
    avg = check_int("wt", "wtaveragelen", avg)
    malen = check_int("wt", "wtmalen", malen)
    src = source("wt", candles, source_type)
    esa = first_seeded_ema(src, 2 / (chan + 1))
    de = first_seeded_ema(np.abs(src - esa), 2 / (chan + 1))
    de = np.where(de == 0, 1e-10, de)
    ci = (src - esa) / (0.015 * de)
    wt1 = first_seeded_ema(ci, 2 / (avg + 1))
    # the average of what there is before ``malen`` values, then the SMA
    csum = np.cumsum(wt1)
    counts = np.minimum(np.arange(1, len(wt1) + 1), malen)
    wt2 = (csum - _core.shift(csum, malen)) / counts
    wt2[:malen] = csum[:malen] / counts[:malen]
    if len(wt1) >= malen:
        wt2[malen - 1:] = _core.rolling_mean(wt1, malen)[malen - 1:]
    gap = wt1 - wt2
    return Wavetrend(wt1, wt2, (wt2 - wt1 <= 0).astype(float), (wt2 - wt1 >= 0).astype(float),
                     (wt2 <= oslevel).astype(float), (wt2 >= oblevel).astype(float), gap)


def wt(candles, wtchannellen: int = 9, wtaveragelen: int = 12, wtmalen: int = 3,
       oblevel: int = 53, oslevel: int = -53, source_type: str = "hlc3",
       sequential: bool = False) -> Wavetrend:
    """WaveTrend (LazyBear) Wavetrend(wt1, wt2, wtCrossUp, wtCrossDown, wtOversold,
    wtOverbought, wtVwap); the four flags are bools (arrays of bools with ``sequential``)."""
    res = dispatch(_wt, candles, sequential, wtchannellen, wtaveragelen, wtmalen, oblevel,
                   oslevel, source_type)
    if sequential:
        return Wavetrend(res.wt1, res.wt2, res.wtCrossUp == 1.0, res.wtCrossDown == 1.0,
                         res.wtOversold == 1.0, res.wtOverbought == 1.0, res.wtVwap)
    return Wavetrend(res.wt1, res.wt2, res.wtCrossUp == 1.0, res.wtCrossDown == 1.0,
                     res.wtOversold == 1.0, res.wtOverbought == 1.0, res.wtVwap)


__all__ = [
    "AC", "AG", "DM", "DX", "ERI", "EXTREMA", "GATOR", "KDJ", "KST", "MAB", "MACDEXT", "PIVOT",
    "RSMK", "VI", "DamianiVolatmeter", "HullSuit", "SqueezeMomentum", "StochasticFast",
    "SupportResistanceWithBreaks", "WaddahAttarExplosionTuple", "Wavetrend",
    "acosc", "adxr", "alligator", "apo", "aroonosc", "bollinger_bands_width", "bop", "cc", "cfo",
    "chop", "cvi", "damiani_volatmeter", "dm", "dpo", "dti", "dx", "er", "eri", "fosc",
    "gatorosc", "hull_suit", "ichimoku_cloud_seq", "ift_rsi", "kdj", "kst", "mab", "macdext",
    "mass", "minmax", "pfe", "pivot", "qstick", "rocp", "rocr", "rocr100", "rsmk", "rsx", "rvi",
    "sarext", "squeeze_momentum", "stc", "stiffness", "stochf", "support_resistance_with_breaks",
    "tsi", "ttm_squeeze", "ttm_trend", "ui", "vi", "waddah_attar_explosion", "wt",
]
