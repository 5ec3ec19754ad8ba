"""Trend indicators: adx, di (+DI / -DI), aroon, psar (alias sar), supertrend, ichimoku
(alias ichimoku_cloud), linearreg, linearreg_slope."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_float, check_int, source

DI = namedtuple("DI", ["plus", "minus"])
AROON = namedtuple("AROON", ["down", "up"])
SuperTrend = namedtuple("SuperTrend", ["trend", "changed"])
IchimokuCloud = namedtuple("IchimokuCloud", ["conversion_line", "base_line", "span_a", "span_b"])


def _wilder_sum(v: np.ndarray, period: int) -> np.ndarray:
    """Wilder's running sum: seeded with the sum of the first ``period - 1`` values, then
    ``s = s - s / period + v`` (TA-Lib's +DM, -DM and TR smoothing)."""
    n = len(v)
    out = _core.nan_array(n)
    if n < period:
        return out
    s = 0.0
    for x in v[:period - 1].tolist():
        s += x
    out[period - 1:] = _core.linear_recursion(v[period - 1:], 1.0 - 1.0 / period, 1.0, s)
    return out


def di_series(c: np.ndarray, period: int) -> DI:
    """+DI and -DI (first value at index ``period``)."""
    n = len(c)
    plus = _core.nan_array(n)
    minus = _core.nan_array(n)
    if n < 2:
        return DI(plus, minus)
    high, low = c[:, HIGH], c[:, LOW]
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    tr = _core.true_range(high, low, c[:, CLOSE])[1:]
    if period == 1:
        s_tr, s_p, s_m = tr, pdm, mdm
    else:
        s_tr = _wilder_sum(tr, period)
        s_p = _wilder_sum(pdm, period)
        s_m = _wilder_sum(mdm, period)
    plus[1:] = 100.0 * _core.safe_div(s_p, s_tr)
    minus[1:] = 100.0 * _core.safe_div(s_m, s_tr)
    return DI(plus, minus)


def _di(candles, period):
    period = check_int("di", "period", period)
    return di_series(as_candles("di", candles), period)


def di(candles, period: int = 14, sequential: bool = False) -> DI:
    """DI(plus, minus): the directional indicators +DI and -DI, 0..100, from Wilder-smoothed
    directional movement over Wilder-smoothed true range."""
    return dispatch(_di, candles, sequential, period)


def _adx(candles, period):
    period = check_int("adx", "period", period)
    plus, minus = di_series(as_candles("adx", candles), period)
    dx = 100.0 * _core.safe_div(np.abs(plus - minus), plus + minus)
    return _core.wilder(dx, period)


def adx(candles, period: int = 14, sequential: bool = False):
    """Average Directional Index: Wilder average of ``DX = 100 |+DI - -DI| / (+DI + -DI)``;
    first value at index ``2 * period - 1``. +DI / -DI themselves: :func:`ta.di`."""
    return dispatch(_adx, candles, sequential, period)


def _last_extreme_age(x: np.ndarray, period: int, use_max: bool) -> np.ndarray:
    """Bars since the most recent max (min) within the last ``period + 1`` values."""
    n = len(x)
    out = _core.nan_array(n)
    w = period + 1
    if n < w:
        return out
    win = np.lib.stride_tricks.sliding_window_view(x, w)[:, ::-1]
    out[w - 1:] = win.argmax(axis=1) if use_max else win.argmin(axis=1)
    return out


def _aroon(candles, period):
    period = check_int("aroon", "period", period)
    c = as_candles("aroon", candles)
    up = 100.0 * (period - _last_extreme_age(c[:, HIGH], period, True)) / period
    down = 100.0 * (period - _last_extreme_age(c[:, LOW], period, False)) / period
    return AROON(down, up)


def aroon(candles, period: int = 14, sequential: bool = False) -> AROON:
    """AROON(down, up): ``100 * (period - bars since the lowest low / highest high) / period``
    over the last ``period + 1`` candles (ties: the most recent extreme)."""
    return dispatch(_aroon, candles, sequential, period)


def _psar(candles, acceleration, maximum, name="psar"):
    acceleration = check_float(name, "acceleration", acceleration, 0.0, strict=True)
    maximum = check_float(name, "maximum", maximum, 0.0, strict=True)
    c = as_candles(name, candles)
    n = len(c)
    out = _core.nan_array(n)
    if n < 2:
        return out
    highs = c[:, HIGH].tolist()
    lows = c[:, LOW].tolist()
    af = min(acceleration, maximum)
    # Initial direction: short when the second bar has a dominant down move.
    down_move = lows[0] - lows[1]
    up_move = highs[1] - highs[0]
    is_long = not (down_move > 0 and down_move > up_move)
    if is_long:
        ep, sar = highs[1], lows[0]
    else:
        ep, sar = lows[1], highs[0]
    new_high, new_low = highs[1], lows[1]
    res = []
    append = res.append
    for i in range(1, n):
        prev_high, prev_low = new_high, new_low
        new_high, new_low = highs[i], lows[i]
        if is_long:
            if new_low <= sar:  # reversal to short: the SAR jumps to the extreme point
                is_long = False
                sar = max(ep, prev_high, new_high)
                append(sar)
                af = acceleration
                ep = new_low
                sar = max(sar + af * (ep - sar), prev_high, new_high)
            else:
                append(sar)
                if new_high > ep:
                    ep = new_high
                    af = min(af + acceleration, maximum)
                sar = min(sar + af * (ep - sar), prev_low, new_low)
        else:
            if new_high >= sar:  # reversal to long
                is_long = True
                sar = min(ep, prev_low, new_low)
                append(sar)
                af = acceleration
                ep = new_high
                sar = min(sar + af * (ep - sar), prev_low, new_low)
            else:
                append(sar)
                if new_low < ep:
                    ep = new_low
                    af = min(af + acceleration, maximum)
                sar = max(sar + af * (ep - sar), prev_high, new_high)
    out[1:] = res
    return out


def psar(candles, acceleration: float = 0.02, maximum: float = 0.2, sequential: bool = False):
    """Parabolic SAR (Wilder): the stop level in force during each candle.

    The initial direction comes from the first two candles (short when the second bar's down
    move dominates), as in TA-Lib; the value at index 0 is NaN.
    """
    return dispatch(_psar, candles, sequential, acceleration, maximum)


def sar(candles, acceleration: float = 0.02, maximum: float = 0.2, sequential: bool = False):
    """Parabolic SAR under Jesse's name; see :func:`psar`."""
    return dispatch(_psar, candles, sequential, acceleration, maximum, "sar")


def _supertrend(candles, period, factor):
    period = check_int("supertrend", "period", period)
    factor = check_float("supertrend", "factor", factor, 0.0, strict=True)
    c = as_candles("supertrend", candles)
    n = len(c)
    trend = _core.nan_array(n)
    changed = _core.nan_array(n)
    atr = _core.wilder(_core.true_range(c[:, HIGH], c[:, LOW], c[:, CLOSE]), period)
    start = _core.first_valid(atr)
    if start >= n:
        return SuperTrend(trend, changed)
    mid = (c[:, HIGH] + c[:, LOW]) / 2
    basic_up = (mid + factor * atr).tolist()
    basic_lo = (mid - factor * atr).tolist()
    closes = c[:, CLOSE].tolist()
    upper, lower = basic_up[start], basic_lo[start]
    is_up = closes[start] > upper  # start in a downtrend unless the close is above the band
    trend_vals = [lower if is_up else upper]
    changed_vals = [0.0]
    for i in range(start + 1, n):
        prev_close = closes[i - 1]
        upper = basic_up[i] if basic_up[i] < upper or prev_close > upper else upper
        lower = basic_lo[i] if basic_lo[i] > lower or prev_close < lower else lower
        close = closes[i]
        was_up = is_up
        if is_up:
            is_up = close >= lower
        else:
            is_up = close > upper
        trend_vals.append(lower if is_up else upper)
        changed_vals.append(1.0 if is_up != was_up else 0.0)
    trend[start:] = trend_vals
    changed[start:] = changed_vals
    return SuperTrend(trend, changed)


def supertrend(candles, period: int = 10, factor: float = 3, sequential: bool = False) -> SuperTrend:
    """SuperTrend(trend, changed).

    Bands ``hl2 +/- factor * atr(period)``; the upper band only falls and the lower band only
    rises while the previous close stays inside them. In an uptrend ``trend`` is the lower band,
    in a downtrend the upper band; the trend flips when the close crosses the active band.
    ``changed`` is 1.0 on the candle where the trend flipped, else 0.0.
    """
    return dispatch(_supertrend, candles, sequential, period, factor)


def _ichimoku(candles, conversion_line_period, base_line_period, lagging_line_period,
              displacement, name="ichimoku"):
    conv_p = check_int(name, "conversion_line_period", conversion_line_period)
    base_p = check_int(name, "base_line_period", base_line_period)
    lag_p = check_int(name, "lagging_line_period", lagging_line_period)
    disp = check_int(name, "displacement", displacement, minimum=0)
    c = as_candles(name, candles)
    high, low = c[:, HIGH], c[:, LOW]

    def mid(p):
        return (_core.rolling_max(high, p) + _core.rolling_min(low, p)) / 2

    conversion = mid(conv_p)
    base = mid(base_p)
    # the cloud is drawn displacement - 1 bars ahead (TradingView's and Jesse's offset), so the
    # cloud at the current bar was computed displacement - 1 bars before it
    lag = max(disp - 1, 0)
    span_a = _core.shift((conversion + base) / 2, lag)
    span_b = _core.shift(mid(lag_p), lag)
    return IchimokuCloud(conversion, base, span_a, span_b)


def ichimoku(candles, conversion_line_period: int = 9, base_line_period: int = 26,
             lagging_line_period: int = 52, displacement: int = 26,
             sequential: bool = False) -> IchimokuCloud:
    """IchimokuCloud(conversion_line, base_line, span_a, span_b) for the current candle.

    conversion / base line: midpoint of the highest high and lowest low over their periods,
    ending at the current candle. span_a / span_b: the cloud *at* the current candle, i.e.
    ``(conversion + base) / 2`` and the ``lagging_line_period`` midpoint computed
    ``displacement - 1`` candles earlier (the cloud is plotted ``displacement - 1`` bars ahead,
    as TradingView and Jesse do). The chikou span (a close shifted into the past) is not
    returned: it would need future candles.
    """
    return dispatch(_ichimoku, candles, sequential, conversion_line_period, base_line_period,
                    lagging_line_period, displacement)


def ichimoku_cloud(candles, conversion_line_period: int = 9, base_line_period: int = 26,
                   lagging_line_period: int = 52, displacement: int = 26,
                   sequential: bool = False) -> IchimokuCloud:
    """Jesse's name for :func:`ichimoku`."""
    return dispatch(_ichimoku, candles, sequential, conversion_line_period, base_line_period,
                    lagging_line_period, displacement, "ichimoku_cloud")


def _regression(x: np.ndarray, period: int):
    """Rolling least-squares fit over the last ``period`` values: (mean, slope), with x = 0
    for the oldest value in the window."""
    xs = np.arange(period, dtype=np.float64)
    centred = xs - xs.mean()
    sxx = float((centred ** 2).sum())
    mean = _core.rolling_mean(x, period)
    if period == 1:
        return mean, np.where(np.isnan(mean), np.nan, 0.0)
    return mean, _core.rolling_weighted_sum(x, centred) / sxx


def regression_line(x: np.ndarray, period: int) -> np.ndarray:
    """The least-squares line over the last ``period`` values, at the newest one."""
    mean, slope = _regression(x, period)
    return mean + slope * ((period - 1) / 2)


def _linearreg(candles, period, source_type):
    period = check_int("linearreg", "period", period)
    mean, slope = _regression(source("linearreg", candles, source_type), period)
    return mean + slope * ((period - 1) / 2)


def linearreg(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Linear regression: the least-squares line over the last ``period`` values, evaluated at
    the current candle."""
    return dispatch(_linearreg, candles, sequential, period, source_type)


def _linearreg_slope(candles, period, source_type):
    period = check_int("linearreg_slope", "period", period)
    return _regression(source("linearreg_slope", candles, source_type), period)[1]


def linearreg_slope(candles, period: int = 14, source_type: str = "close",
                    sequential: bool = False):
    """Slope (per candle) of the least-squares line over the last ``period`` values."""
    return dispatch(_linearreg_slope, candles, sequential, period, source_type)
