"""John Ehlers' filters and the indicators built on them (as Jesse defines them).

supersmoother, supersmoother_3_pole, gauss, high_pass, high_pass_2_pole, roofing, decycler,
dec_osc, bandpass, reflex, trendflex, edcf, cg, correlation_cycle, itrend, lrsi, fisher, voss,
emd, frama, pma. They are recursive filters: a value depends on every earlier bar, with the
first bars as the filter's starting conditions (most start from the price itself, as in
Jesse), so they agree with a run on longer history only after the start has died out.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW
from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import as_candles, check_float, check_int, source

BandPass = namedtuple("BandPass", ["bp", "bp_normalized", "signal", "trigger"])
CC = namedtuple("CC", ["real", "imag", "angle", "state"])
ITREND = namedtuple("ITREND", ["signal", "it", "trigger"])
FisherTransform = namedtuple("FisherTransform", ["fisher", "signal"])
VossFilter = namedtuple("VossFilter", ["voss", "filt"])
EMD = namedtuple("EMD", ["upperband", "middleband", "lowerband"])
PMA = namedtuple("PMA", ["predict", "trigger"])


# ------------------------------------------------------------------------------ kernels


def supersmoother_series(x: np.ndarray, period: float) -> np.ndarray:
    """2-pole Butterworth smoother; the first two values are the price."""
    a = math.exp(-1.414 * math.pi / period)
    b = 2 * a * math.cos(1.414 * math.pi / period)
    c1 = (1 + a * a - b) / 2
    values = x.tolist()
    out = values[:2]
    for i in range(2, len(values)):
        out.append(c1 * (values[i] + values[i - 1]) + b * out[i - 1] - a * a * out[i - 2])
    return np.array(out, dtype=np.float64)


def supersmoother_3_pole_series(x: np.ndarray, period: float) -> np.ndarray:
    """3-pole Butterworth smoother; the first three values are the price."""
    a = math.exp(-math.pi / period)
    b = 2 * a * math.cos(1.738 * math.pi / period)
    c = a * a
    k0 = 1 - c * c - b + b * c
    k1, k2, k3 = b + c, -c - b * c, c * c
    values = x.tolist()
    out = values[:3]
    for i in range(3, len(values)):
        out.append(k0 * values[i] + k1 * out[i - 1] + k2 * out[i - 2] + k3 * out[i - 3])
    return np.array(out, dtype=np.float64)


def gauss_series(x: np.ndarray, period: int, poles: int) -> np.ndarray:
    """Gaussian filter of ``poles`` poles, started from zeros before the first price."""
    beta = (1 - math.cos(2 * math.pi / period)) / (2 ** (1 / poles) - 1)
    alpha = -beta + math.sqrt(beta * beta + 2 * beta)
    a1 = 1 - alpha
    # y[t] = alpha^p x[t] + sum_k (-1)^(k+1) C(p, k) a1^k y[t-k]
    coef = [(-1) ** (k + 1) * math.comb(poles, k) * a1 ** k for k in range(1, poles + 1)]
    gain = alpha ** poles
    hist = [0.0] * poles  # y[t-1], y[t-2], ...
    out = []
    for v in x.tolist():
        y = gain * v
        for k in range(poles):
            y += coef[k] * hist[k]
        hist = [y, *hist[:-1]]
        out.append(y)
    return np.array(out, dtype=np.float64)


def high_pass_series(x: np.ndarray, period: float) -> np.ndarray:
    """1-pole high-pass filter; the first value is the price."""
    w = 2 * math.pi / period
    alpha = 1 + (math.sin(w) - 1) / math.cos(w)
    k = 1 - alpha / 2
    values = x.tolist()
    out = values[:1]
    for i in range(1, len(values)):
        out.append(k * (values[i] - values[i - 1]) + (1 - alpha) * out[i - 1])
    return np.array(out, dtype=np.float64)


def high_pass_2_pole_series(x: np.ndarray, period: float, k: float = 0.707) -> np.ndarray:
    """2-pole high-pass filter; the first two values are the price."""
    w = 2 * math.pi * k / period
    alpha = 1 + (math.sin(w) - 1) / math.cos(w)
    g = (1 - alpha / 2) ** 2
    values = x.tolist()
    out = values[:2]
    for i in range(2, len(values)):
        out.append(g * (values[i] - 2 * values[i - 1] + values[i - 2])
                   + 2 * (1 - alpha) * out[i - 1] - (1 - alpha) ** 2 * out[i - 2])
    return np.array(out, dtype=np.float64)


def _flex(ssf: np.ndarray, period: int, reflex: bool) -> np.ndarray:
    n = len(ssf)
    out = np.zeros(n)
    ms = 0.0
    s = ssf.tolist()
    for i in range(period, n):
        if reflex:
            slope = (s[i - period] - s[i]) / period
            total = sum(s[i] + t * slope - s[i - t] for t in range(1, period + 1))
        else:
            total = sum(s[i] - s[i - t] for t in range(1, period + 1))
        total /= period
        ms = 0.04 * total * total + 0.96 * ms
        if ms > 0:
            out[i] = total / math.sqrt(ms)
    return out


def reflex_series(x: np.ndarray, period: int) -> np.ndarray:
    return _flex(supersmoother_series(x, period / 2), period, True)


def trendflex_series(x: np.ndarray, period: int) -> np.ndarray:
    return _flex(supersmoother_series(x, period / 2), period, False)


def edcf_series(x: np.ndarray, period: int) -> np.ndarray:
    """Ehlers distance coefficient filter: weights are each price's summed squared distance to
    the ``period - 1`` prices before it; first value at index ``2 * period``."""
    n = len(x)
    out = _core.nan_array(n)
    if n <= 2 * period:
        return out
    dist = np.zeros(n)
    for lb in range(1, period):
        d = x - _core.shift(x, lb)
        dist += d * d
    num = _core.rolling_sum(dist * x, period)
    den = _core.rolling_sum(dist, period)
    res = _core.safe_div(num, den)
    out[2 * period:] = res[2 * period:]
    return out


# ------------------------------------------------------------------------------ indicators


def _smoother(name, kernel):
    def compute(candles, period, source_type):
        p = check_int(name, "period", period)
        return kernel(source(name, candles, source_type), p)

    compute.__name__ = f"_{name}"
    return compute


_supersmoother = _smoother("supersmoother", supersmoother_series)
_supersmoother_3 = _smoother("supersmoother_3_pole", supersmoother_3_pole_series)
_high_pass = _smoother("high_pass", high_pass_series)
_high_pass_2 = _smoother("high_pass_2_pole", high_pass_2_pole_series)
_reflex = _smoother("reflex", reflex_series)
_trendflex = _smoother("trendflex", trendflex_series)
_edcf = _smoother("edcf", edcf_series)


def supersmoother(candles, period: int = 14, source_type: str = "close",
                  sequential: bool = False):
    """Ehlers' super smoother (2-pole Butterworth low-pass)."""
    return dispatch(_supersmoother, candles, sequential, period, source_type)


def supersmoother_3_pole(candles, period: int = 14, source_type: str = "close",
                         sequential: bool = False):
    """Ehlers' 3-pole super smoother."""
    return dispatch(_supersmoother_3, candles, sequential, period, source_type)


def high_pass(candles, period: int = 48, source_type: str = "close", sequential: bool = False):
    """Ehlers' 1-pole high-pass filter."""
    return dispatch(_high_pass, candles, sequential, period, source_type)


def high_pass_2_pole(candles, period: int = 48, source_type: str = "close",
                     sequential: bool = False):
    """Ehlers' 2-pole high-pass filter."""
    return dispatch(_high_pass_2, candles, sequential, period, source_type)


def reflex(candles, period: int = 20, source_type: str = "close", sequential: bool = False):
    """Ehlers' reflex: the super smoother's distance from its own ``period``-bar trend line,
    normalised by its running RMS; 0 for the first ``period`` bars."""
    return dispatch(_reflex, candles, sequential, period, source_type)


def trendflex(candles, period: int = 20, source_type: str = "close", sequential: bool = False):
    """Ehlers' trendflex: like :func:`reflex` against the past values themselves."""
    return dispatch(_trendflex, candles, sequential, period, source_type)


def edcf(candles, period: int = 15, source_type: str = "hl2", sequential: bool = False):
    """Ehlers distance coefficient filter (see ``edcf_series``)."""
    return dispatch(_edcf, candles, sequential, period, source_type)


def _gauss(candles, period, poles, source_type):
    period = check_int("gauss", "period", period)
    poles = check_int("gauss", "poles", poles)
    if poles > 4:
        from jbt.indicators._source import IndicatorError

        raise IndicatorError(f"ta.gauss: poles must be 1 to 4 (got {poles})")
    return gauss_series(source("gauss", candles, source_type), period, poles)


def gauss(candles, period: int = 14, poles: int = 4, source_type: str = "close",
          sequential: bool = False):
    """Ehlers' Gaussian filter with 1 to 4 poles."""
    return dispatch(_gauss, candles, sequential, period, poles, source_type)


def _roofing(candles, hp_period, lp_period, source_type):
    hp_period = check_int("roofing", "hp_period", hp_period)
    lp_period = check_int("roofing", "lp_period", lp_period)
    hp = high_pass_2_pole_series(source("roofing", candles, source_type), hp_period)
    return supersmoother_series(hp, lp_period)


def roofing(candles, hp_period: int = 48, lp_period: int = 10, source_type: str = "close",
            sequential: bool = False):
    """Ehlers' roofing filter: a 2-pole high-pass, then a super smoother."""
    return dispatch(_roofing, candles, sequential, hp_period, lp_period, source_type)


def _decycler(candles, hp_period, source_type):
    hp_period = check_int("decycler", "hp_period", hp_period)
    x = source("decycler", candles, source_type)
    return x - high_pass_2_pole_series(x, hp_period)


def decycler(candles, hp_period: int = 125, source_type: str = "close",
             sequential: bool = False):
    """Ehlers' simple decycler: the price minus its 2-pole high-pass."""
    return dispatch(_decycler, candles, sequential, hp_period, source_type)


def _dec_osc(candles, hp_period, k, source_type):
    hp_period = check_int("dec_osc", "hp_period", hp_period)
    k = check_float("dec_osc", "k", k)
    x = source("dec_osc", candles, source_type)
    dec = x - high_pass_2_pole_series(x, hp_period)
    return 100 * k * high_pass_2_pole_series(dec, 0.5 * hp_period) / x


def dec_osc(candles, hp_period: int = 125, k: float = 1, source_type: str = "close",
            sequential: bool = False):
    """Ehlers' decycler oscillator, in percent of the price."""
    return dispatch(_dec_osc, candles, sequential, hp_period, k, source_type)


def _bandpass(candles, period, bandwidth, source_type):
    period = check_int("bandpass", "period", period)
    bandwidth = check_float("bandpass", "bandwidth", bandwidth, 0.0, strict=True)
    x = source("bandpass", candles, source_type)
    hp = high_pass_series(x, 4 * period / bandwidth).tolist()
    beta = math.cos(2 * math.pi / period)
    gamma = math.cos(2 * math.pi * bandwidth / period)
    alpha = 1 / gamma - math.sqrt(1 / gamma ** 2 - 1)
    bp = hp[:2]
    for i in range(2, len(hp)):
        bp.append(0.5 * (1 - alpha) * (hp[i] - hp[i - 2]) + beta * (1 + alpha) * bp[i - 1]
                  - alpha * bp[i - 2])
    peak = []
    for i, v in enumerate(bp):
        p = peak[i - 1] * 0.991 if i else v
        peak.append(abs(v) if abs(v) > p else p)
    bp_a = np.array(bp, dtype=np.float64)
    norm = bp_a / np.array(peak, dtype=np.float64)
    trigger = high_pass_series(norm, period / bandwidth / 1.5)
    signal = (norm < trigger).astype(np.float64) - (trigger < norm).astype(np.float64)
    return BandPass(bp_a, norm, signal, trigger)


def bandpass(candles, period: int = 20, bandwidth: float = 0.3, source_type: str = "close",
             sequential: bool = False) -> BandPass:
    """Ehlers' band-pass filter: BandPass(bp, bp_normalized, signal, trigger)."""
    return dispatch(_bandpass, candles, sequential, period, bandwidth, source_type)


def _cg(candles, period, source_type):
    period = check_int("cg", "period", period, minimum=2)
    x = source("cg", candles, source_type)
    n = len(x)
    out = _core.nan_array(n)
    m = period - 1  # Jesse weighs the newest period - 1 values
    w = np.arange(1, m + 1, dtype=np.float64)  # 1 for the newest
    num = _core.rolling_weighted_sum(x, w[::-1])
    den = _core.rolling_sum(x, m)
    res = -_core.safe_div(num, den)
    out[period + 1:] = res[period + 1:]
    return out


def cg(candles, period: int = 10, source_type: str = "close", sequential: bool = False):
    """Ehlers' center of gravity: ``-sum((1 + i) * x[t - i]) / sum(x[t - i])`` over the newest
    ``period - 1`` values (Jesse's definition); first value at index ``period + 1``."""
    return dispatch(_cg, candles, sequential, period, source_type)


def _correlation_cycle(candles, period, threshold, source_type):
    period = max(2, check_int("correlation_cycle", "period", period))
    x = source("correlation_cycle", candles, source_type)
    n = len(x)
    real = _core.nan_array(n)
    imag = _core.nan_array(n)
    j = np.arange(1, period + 1)
    yc = np.cos(2 * math.pi * j / period)
    ys = -np.sin(2 * math.pi * j / period)
    if n > period:
        # windows of x[i-1], ..., x[i-period] (newest first) for i >= period
        win = np.lib.stride_tricks.sliding_window_view(x, period)[: n - period, ::-1]
        win = np.nan_to_num(win)
        sx = win.sum(axis=1)
        sxx = (win * win).sum(axis=1)
        for y, out in ((yc, real), (ys, imag)):
            sxy = win @ y
            t1 = period * sxx - sx * sx
            t2 = period * (y * y).sum() - y.sum() ** 2
            ok = (t1 > 0) & (t2 > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                val = (period * sxy - sx * y.sum()) / np.sqrt(t1 * t2)
            out[period:] = np.where(ok, val, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        angle = np.where(imag == 0, 0.0, np.degrees(np.arctan(real / imag) + math.pi / 2))
    angle = np.where(imag > 0, angle - 180.0, angle)
    prior = _core.shift(angle, 1)
    angle = np.where((prior > angle) & (prior - angle < 270.0), prior, angle)
    prior = _core.shift(angle, 1)
    with np.errstate(invalid="ignore"):
        state = np.where(np.abs(angle - prior) < threshold,
                         np.where(angle >= 0, 1.0, np.where(angle < 0, -1.0, 0.0)), 0.0)
    return CC(real, imag, angle, state)


def correlation_cycle(candles, period: int = 20, threshold: int = 9, source_type: str = "close",
                      sequential: bool = False) -> CC:
    """Ehlers' correlation cycle: CC(real, imag, angle, state) from the correlation of the last
    ``period`` prices (before the current one) with a cosine and a sine wave."""
    return dispatch(_correlation_cycle, candles, sequential, period, threshold, source_type)


def _itrend(candles, alpha, source_type):
    alpha = check_float("itrend", "alpha", alpha)
    x = source("itrend", candles, source_type).tolist()
    it = list(x)
    for i in range(2, min(7, len(x))):
        it[i] = (x[i] + 2 * x[i - 1] + x[i - 2]) / 4
    a2 = alpha * alpha
    for i in range(7, len(x)):
        it[i] = ((alpha - a2 / 4) * x[i] + a2 / 2 * x[i - 1] - (alpha - a2 * 3 / 4) * x[i - 2]
                 + 2 * (1 - alpha) * it[i - 1] - (1 - alpha) ** 2 * it[i - 2])
    it_a = np.array(it, dtype=np.float64)
    lag = _core.shift(it_a, 20)
    lag[:20] = it_a[:20]
    trigger = 2 * it_a - lag
    signal = (trigger > it_a).astype(np.float64) - (trigger < it_a).astype(np.float64)
    return ITREND(signal, it_a, trigger)


def itrend(candles, alpha: float = 0.07, source_type: str = "hl2",
           sequential: bool = False) -> ITREND:
    """Ehlers' instantaneous trendline: ITREND(signal, it, trigger); trigger is
    ``2 * it - it[20 bars ago]``, signal +1 / -1 when the trigger is above / below."""
    return dispatch(_itrend, candles, sequential, alpha, source_type)


def _lrsi(candles, alpha):
    alpha = check_float("lrsi", "alpha", alpha)
    c = as_candles("lrsi", candles)
    price = ((c[:, HIGH] + c[:, LOW]) / 2).tolist()
    g = 1 - alpha
    out = []
    # Jesse starts every stage at the price and reads the previous stage values cyclically at
    # the first bar, which amounts to starting from the last price; here: from the first one.
    l0 = l1 = l2 = l3 = price[0]
    for p in price:
        n0 = alpha * p + g * l0
        n1 = -g * n0 + l0 + g * l1
        n2 = -g * n1 + l1 + g * l2
        n3 = -g * n2 + l2 + g * l3
        l0, l1, l2, l3 = n0, n1, n2, n3
        cu = cd = 0.0
        for a, b in ((l0, l1), (l1, l2), (l2, l3)):
            if a >= b:
                cu += a - b
            else:
                cd += b - a
        out.append(0.0 if cu + cd == 0 else cu / (cu + cd))
    return np.array(out, dtype=np.float64)


def lrsi(candles, alpha: float = 0.2, sequential: bool = False):
    """Ehlers' Laguerre RSI of the hl2 price, 0..1."""
    return dispatch(_lrsi, candles, sequential, alpha)


def _fisher(candles, period):
    period = check_int("fisher", "period", period)
    c = as_candles("fisher", candles)
    mid = (c[:, HIGH] + c[:, LOW]) / 2
    hi = _core.rolling_max(mid, period).tolist()
    lo = _core.rolling_min(mid, period).tolist()
    m = mid.tolist()
    n = len(m)
    fish = [0.0] * n
    sig = [0.0] * n
    v1 = 0.0
    for i in range(period, n):
        rng = hi[i] - lo[i]
        v0 = 0.0 if rng == 0 else 0.66 * ((m[i] - lo[i]) / rng - 0.5) + 0.67 * v1
        v0 = 0.999 if v0 > 0.999 else -0.999 if v0 < -0.999 else v0
        fish[i] = 0.5 * math.log((1 + v0) / (1 - v0)) + 0.5 * fish[i - 1]
        sig[i] = fish[i - 1]
        v1 = v0
    return FisherTransform(np.array(fish), np.array(sig))


def fisher(candles, period: int = 9, sequential: bool = False) -> FisherTransform:
    """Ehlers' Fisher transform of the hl2 price: FisherTransform(fisher, signal), signal being
    the previous fisher value; 0 for the first ``period`` bars."""
    return dispatch(_fisher, candles, sequential, period)


def _voss(candles, period, predict, bandwith, source_type):
    period = check_int("voss", "period", period)
    predict = check_int("voss", "predict", predict)
    bandwith = check_float("voss", "bandwith", bandwith, 0.0, strict=True)
    x = source("voss", candles, source_type).tolist()
    n = len(x)
    order = 3 * predict
    f1 = math.cos(2 * math.pi / period)
    g1 = math.cos(bandwith * 2 * math.pi / period)
    s1 = 1 / g1 - math.sqrt(1 / (g1 * g1) - 1)
    start = max(period, 5, order) + 1
    filt = [0.0] * n
    voss_v = [0.0] * n
    for i in range(start, n):
        filt[i] = (0.5 * (1 - s1) * (x[i] - x[i - 2]) + f1 * (1 + s1) * filt[i - 1]
                   - s1 * filt[i - 2])
    for i in range(start, n):
        sumc = sum((k + 1) / order * voss_v[i - (order - k)] for k in range(order))
        voss_v[i] = (3 + order) / 2 * filt[i] - sumc
    return VossFilter(np.array(voss_v), np.array(filt))


def voss(candles, period: int = 20, predict: int = 3, bandwith: float = 0.25,
         source_type: str = "close", sequential: bool = False) -> VossFilter:
    """Ehlers' Voss predictive filter: VossFilter(voss, filt)."""
    return dispatch(_voss, candles, sequential, period, predict, bandwith, source_type)


def _emd(candles, period, delta, fraction):
    period = check_int("emd", "period", period)
    delta = check_float("emd", "delta", delta)
    fraction = check_float("emd", "fraction", fraction)
    c = as_candles("emd", candles)
    price = ((c[:, HIGH] + c[:, LOW]) / 2).tolist()
    n = len(price)
    beta = math.cos(2 * math.pi / period)
    gamma = 1 / math.cos(4 * math.pi * delta / period)
    alpha = gamma - math.sqrt(gamma * gamma - 1)
    bp = [0.0] * n
    for i in range(2, n):
        bp[i] = 0.5 * (1 - alpha) * (price[i] - price[i - 2])
        if i > 2:
            bp[i] += beta * (1 + alpha) * bp[i - 1] - alpha * bp[i - 2]
    peak = [0.0] * n
    valley = [0.0] * n
    for i in range(1, n):
        peak[i], valley[i] = peak[i - 1], valley[i - 1]
        if i > 2:
            if bp[i - 1] > bp[i] and bp[i - 1] > bp[i - 2]:
                peak[i] = bp[i - 1]
            if bp[i - 1] < bp[i] and bp[i - 1] < bp[i - 2]:
                valley[i] = bp[i - 1]
    bp_a = np.array(bp)
    mean = _core.rolling_mean(bp_a, 2 * period)
    upper = fraction * _core.rolling_mean(np.array(peak), 50)
    lower = fraction * _core.rolling_mean(np.array(valley), 50)
    return EMD(upper, mean, lower)


def emd(candles, period: int = 20, delta: float = 0.5, fraction: float = 0.1,
        sequential: bool = False) -> EMD:
    """Ehlers' empirical mode decomposition: EMD(upperband, middleband, lowerband) from a
    band-pass of hl2, its ``2 * period`` mean, and ``fraction`` of its 50-bar average peak and
    valley."""
    return dispatch(_emd, candles, sequential, period, delta, fraction)


def _frama(candles, window, fc, sc):
    n = check_int("frama", "window", window)
    if n % 2:
        n += 1
    fc = check_int("frama", "FC", fc)
    sc = check_int("frama", "SC", sc)
    c = as_candles("frama", candles)
    high, low, close = c[:, HIGH], c[:, LOW], c[:, CLOSE].tolist()
    half = n // 2
    total = len(close)
    out = _core.nan_array(total)
    if total < n:
        return out
    h1 = _core.rolling_max(high, half)
    l1 = _core.rolling_min(low, half)
    h3 = _core.rolling_max(high, n)
    l3 = _core.rolling_min(low, n)
    w = math.log(2.0 / (sc + 1))
    d = 0.0
    value = sum(close[:n]) / n
    out[n - 1] = value
    for i in range(n, total):
        # the window is the n bars before i: [i - n, i)
        n1 = (h1[i - 1] - l1[i - 1]) / half  # newer half
        n2 = (h1[i - 1 - half] - l1[i - 1 - half]) / half  # older half
        n3 = (h3[i - 1] - l3[i - 1]) / n
        if n1 > 0 and n2 > 0 and n3 > 0:
            d = (math.log(n1 + n2) - math.log(n3)) / math.log(2)
        alpha = min(max(math.exp(w * (d - 1)), 0.1), 1.0)
        old_n = (2 - alpha) / alpha
        big_n = (sc - fc) * ((old_n - 1) / (sc - 1)) + fc
        a = 2 / (big_n + 1)
        a = 2 / (sc + 1) if a < 2 / (sc + 1) else min(a, 1.0)
        value = a * close[i] + (1 - a) * value
        out[i] = value
    return out


def frama(candles, window: int = 10, FC: int = 1, SC: int = 300,  # noqa: N803 - Jesse's names
          sequential: bool = False):
    """Fractal adaptive moving average over ``window`` bars (an odd window is made even)."""
    return dispatch(_frama, candles, sequential, window, FC, SC)


def _pma(candles, source_type):
    x = source("pma", candles, source_type)
    w7 = np.arange(1, 8, dtype=np.float64)
    wma1 = _core.rolling_weighted_sum(x, w7) / 28
    wma1_z = np.nan_to_num(wma1)  # Jesse's wma1 is 0 before it has a value
    wma2 = _core.rolling_weighted_sum(wma1_z, w7) / 28
    predict = 2 * wma1 - wma2
    predict[:6] = np.nan
    trigger = _core.rolling_weighted_sum(np.nan_to_num(predict), np.arange(1, 5.0)) / 10
    trigger[:6] = np.nan
    return PMA(predict, trigger)


def pma(candles, source_type: str = "hl2", sequential: bool = False) -> PMA:
    """Ehlers' predictive moving average: PMA(predict, trigger) from two 7-bar WMAs."""
    return dispatch(_pma, candles, sequential, source_type)


__all__ = ["BandPass", "CC", "EMD", "FisherTransform", "ITREND", "PMA", "VossFilter", "bandpass",
           "cg", "correlation_cycle", "dec_osc", "decycler", "edcf", "emd", "fisher", "frama",
           "gauss", "high_pass", "high_pass_2_pole", "itrend", "lrsi", "pma", "reflex",
           "roofing", "supersmoother", "supersmoother_3_pole", "trendflex", "voss"]
