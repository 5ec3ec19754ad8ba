"""More moving averages (Jesse's ``ta.ma`` types 7-39 and the indicators behind them).

alma, cwma, epma, fwma, hwma, jma, jsa, maaq, mcginley_dynamic, mwdx, nma, pwma, sinwma,
sqwma, srwma, swma, t3, vidya, vlma, vpwma, wilders, zlema, plus the kernels ``ta.ma`` uses
for them (``series``). Each indicator takes candles or a 1-D series, like the other
averages. Jesse defines several of these in its own way; the docstrings state exactly what is
computed, and the values equal Jesse 3.x's (``bench/jesse_indicators.py`` compares them) except
that jbt leaves the warm-up as NaN where Jesse repeats the price.
"""

from __future__ import annotations

import math

import numpy as np

from jbt.indicators import _core
from jbt.indicators._cache import dispatch
from jbt.indicators._source import IndicatorError, check_float, check_int, source

# ------------------------------------------------------------------------------ kernels


def _window_weights(x: np.ndarray, newest_first: np.ndarray, start: int) -> np.ndarray:
    """``sum(w[i] * x[t - i]) / sum(w)`` for ``t >= start`` (NaN before), ``w`` newest first."""
    w = np.asarray(newest_first, dtype=np.float64)
    out = _core.rolling_weighted_sum(x, w[::-1]) / w.sum()
    out[:min(start, len(out))] = np.nan
    return out


def power_weighted(x: np.ndarray, period: int, power: float) -> np.ndarray:
    """Jesse's power-weighted average: the newest ``period - 1`` values weighted
    ``(period - i) ** power`` (i = 0 newest), first value at index ``period + 1``."""
    if period < 2:
        raise IndicatorError(f"period must be >= 2 for a power-weighted average (got {period})")
    w = np.array([(period - i) ** power for i in range(period - 1)], dtype=np.float64)
    return _window_weights(x, w, period + 1)


def epma_series(x: np.ndarray, period: int, offset: int) -> np.ndarray:
    w = np.array([period - i - offset for i in range(period - 1)], dtype=np.float64)
    if w.sum() == 0:
        raise IndicatorError("the weights period - i - offset sum to 0; change period or offset")
    return _window_weights(x, w, period + offset + 1)


def fib_weights(period: int) -> np.ndarray:
    """1, 1, 2, 3, 5, ... (oldest first), ``period`` of them."""
    out = [1.0]
    a, b = 1, 1
    for _ in range(period - 1):
        a, b = b, a + b
        out.append(float(a))
    return np.array(out)


def pascal_weights(period: int) -> np.ndarray:
    n = period - 1
    return np.array([math.comb(n, i) for i in range(n + 1)], dtype=np.float64)


def symmetric_weights(period: int) -> np.ndarray:
    if period <= 2:
        return np.ones(period)
    half = (period + 1) // 2
    front = list(range(1, half + 1))
    back = front[::-1] if period % 2 == 0 else front[:-1][::-1]
    return np.array(front + back, dtype=np.float64)


def sine_weights(period: int) -> np.ndarray:
    return np.sin(np.arange(1, period + 1) * np.pi / (period + 1))


def weighted(x: np.ndarray, oldest_first: np.ndarray) -> np.ndarray:
    return _core.rolling_weighted_sum(x, oldest_first) / oldest_first.sum()


def alma_series(x: np.ndarray, period: int, sigma: float, offset: float) -> np.ndarray:
    m = offset * (period - 1)
    s = period / sigma
    w = np.exp(-((np.arange(period) - m) ** 2) / (2 * s * s))
    return weighted(x, w)


def first_seeded_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """``y[0] = x[0]``, ``y[t] = alpha * x[t] + (1 - alpha) * y[t-1]``."""
    if len(x) == 0:
        return np.empty(0)
    out = np.empty(len(x))
    out[0] = x[0]
    out[1:] = _core.linear_recursion(x[1:], 1.0 - alpha, alpha, float(x[0]))
    return out


def wilders_series(x: np.ndarray, period: int) -> np.ndarray:
    """Jesse's wilders: ``y[0] = x[0]``, ``y[t] = (y[t-1] * (period - 1) + x[t]) / period``."""
    return first_seeded_ema(x, 1.0 / period)


def hwma_series(x: np.ndarray, na: float, nb: float, nc: float) -> np.ndarray:
    f, v, a = float(x[0]), 0.0, 0.0
    out = []
    for price in x.tolist():
        f_new = (1 - na) * (f + v + 0.5 * a) + na * price
        v_new = (1 - nb) * (v + a) + nb * (f_new - f)
        a = (1 - nc) * a + nc * (v_new - v)
        f, v = f_new, v_new
        out.append(f + v + 0.5 * a)
    return np.array(out)


def jma_series(x: np.ndarray, period: int, phase: float, power: int) -> np.ndarray:
    ratio = 0.5 if phase < -100 else 2.5 if phase > 100 else phase / 100 + 1.5
    beta = 0.45 * (period - 1) / (0.45 * (period - 1) + 2)
    alpha = beta ** power
    values = x.tolist()
    out = [values[0]]
    e0 = e1 = e2 = 0.0
    for price in values[1:]:
        e0 = (1 - alpha) * price + alpha * e0
        e1 = (price - e0) * (1 - beta) + beta * e1
        e2 = (e0 + ratio * e1 - out[-1]) * (1 - alpha) ** 2 + alpha ** 2 * e2
        out.append(e2 + out[-1])
    return np.array(out)


def maaq_series(x: np.ndarray, period: int, fast: int, slow: int) -> np.ndarray:
    n = len(x)
    out = _core.nan_array(n)
    if n <= period:
        return out
    diff = np.abs(np.diff(x))
    noise = _core.rolling_sum(np.r_[np.nan, diff], period)
    signal = np.abs(x - _core.shift(x, period))
    ratio = _core.safe_div(signal, noise)
    sc = (ratio * (2 / (fast + 1)) + 2 / (slow + 1)) ** 2
    prev = float(x[period - 1])
    res = []
    for price, c in zip(x[period:].tolist(), sc[period:].tolist(), strict=True):
        prev = prev + c * (price - prev)
        res.append(prev)
    out[period:] = res
    return out


def mcginley_series(x: np.ndarray, period: int, k: float) -> np.ndarray:
    values = x.tolist()
    out = [values[0]]
    for price in values[1:]:
        prev = out[-1]
        out.append(prev + (price - prev) / max(k * period * (price / prev) ** 4, 1.0))
    return np.array(out)


def mwdx_series(x: np.ndarray, factor: float) -> np.ndarray:
    return first_seeded_ema(x, 2 / ((2 / factor - 1) + 1))


def nma_series(x: np.ndarray, period: int) -> np.ndarray:
    """Natural moving average: the log-change weights ``sqrt(i + 1) - sqrt(i)`` over the last
    ``period`` changes give a ratio that blends the price ``period - 1`` bars back with the one
    before it (Jesse's definition)."""
    n = len(x)
    out = _core.nan_array(n)
    if n <= period + 1:
        return out
    ln = np.log(np.clip(x, 1e-10, None)) * 1000
    o = np.abs(np.diff(ln))  # o[t-1] = |ln[t] - ln[t-1]|
    coef = np.sqrt(np.arange(1, period + 1)) - np.sqrt(np.arange(period))  # i = 0 newest
    num = _core.rolling_weighted_sum(o, coef[::-1])
    den = _core.rolling_sum(o, period)
    ratio = _core.safe_div(num, den)  # aligned to t - 1
    t = np.arange(period + 1, n)
    r = ratio[t - 1]
    out[period + 1:] = x[t - period + 1] * r + x[t - period] * (1 - r)
    return out


def t3_series(x: np.ndarray, period: int, vfactor: float) -> np.ndarray:
    """Tillson's T3 as TA-Lib computes it: six EMAs in a chain, each seeded with the mean of its
    first ``period`` inputs; first value at index ``6 * (period - 1)``."""
    e1 = _core.ema(x, period)
    e2 = _core.ema(e1, period)
    e3 = _core.ema(e2, period)
    e4 = _core.ema(e3, period)
    e5 = _core.ema(e4, period)
    e6 = _core.ema(e5, period)
    v = vfactor
    c1 = -v ** 3
    c2 = 3 * v ** 2 + 3 * v ** 3
    c3 = -6 * v ** 2 - 3 * v - 3 * v ** 3
    c4 = 1 + 3 * v + v ** 3 + 3 * v ** 2
    return c1 * e6 + c2 * e5 + c3 * e4 + c4 * e3


def vidya_series(x: np.ndarray, length: int, fix_cmo: bool, select: bool) -> np.ndarray:
    alpha = 2 / (length + 1)
    mom = np.r_[0.0, np.diff(x)]
    up = np.where(mom >= 0, mom, 0.0)
    down = np.where(mom < 0, -mom, 0.0)
    window = 9 if fix_cmo else length
    csum_up = np.cumsum(up)
    csum_dn = np.cumsum(down)
    sm1 = csum_up - _core.shift(csum_up, window)
    sm2 = csum_dn - _core.shift(csum_dn, window)
    sm1[:window] = csum_up[:window]
    sm2[:window] = csum_dn[:window]
    if select:
        k = np.abs(_core.safe_div(100 * (sm1 - sm2), sm1 + sm2)) / 100
    else:
        k = np.empty(len(x))
        for i in range(len(x)):
            k[i] = np.std(x[max(0, i - length + 1):i + 1])
    values = x.tolist()
    out = [values[0]]
    for price, ki in zip(values[1:], k[1:].tolist(), strict=True):
        out.append(alpha * ki * price + (1 - alpha * ki) * out[-1])
    return np.array(out)


def zlema_series(x: np.ndarray, period: int) -> np.ndarray:
    lag = int((period - 1) / 2)
    n = len(x)
    out = _core.nan_array(n)
    if n <= lag:
        return out
    data = x[lag:] + (x[lag:] - x[: n - lag])
    out[lag:] = first_seeded_ema(data, 2 / (period + 1))
    return out


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
    from jbt.indicators.moving_averages import ma_series
    from jbt.indicators.volatility import deviation

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


def jsa_series(x: np.ndarray, period: int) -> np.ndarray:
    return (x + _core.shift(x, period)) / 2


# ------------------------------------------------------------------------------ indicators


def _one(name, fn, candles, source_type, *args):
    return fn(source(name, candles, source_type), *args)


def _alma(candles, period, sigma, distribution_offset, source_type):
    period = check_int("alma", "period", period)
    sigma = check_float("alma", "sigma", sigma, 0.0, strict=True)
    offset = check_float("alma", "distribution_offset", distribution_offset)
    return alma_series(source("alma", candles, source_type), period, sigma, offset)


def alma(candles, period: int = 9, sigma: float = 6.0, distribution_offset: float = 0.85,
         source_type: str = "close", sequential: bool = False):
    """Arnaud Legoux moving average: Gaussian weights centred at ``distribution_offset`` of the
    window (1 = newest), width ``period / sigma``."""
    return dispatch(_alma, candles, sequential, period, sigma, distribution_offset, source_type)


def _powered(name, power_of):
    def kernel(candles, period, source_type):
        p = check_int(name, "period", period, minimum=2)
        return power_weighted(source(name, candles, source_type), p, power_of)

    kernel.__name__ = f"_{name}"
    return kernel


_cwma = _powered("cwma", 3)
_sqwma = _powered("sqwma", 2)
_srwma = _powered("srwma", 0.5)


def cwma(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Cubed weighted moving average: weights ``(period - i) ** 3`` on the newest
    ``period - 1`` values (Jesse's definition); first value at index ``period + 1``."""
    return dispatch(_cwma, candles, sequential, period, source_type)


def sqwma(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Square weighted moving average: weights ``(period - i) ** 2`` (see :func:`cwma`)."""
    return dispatch(_sqwma, candles, sequential, period, source_type)


def srwma(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Square-root weighted moving average: weights ``sqrt(period - i)`` (see :func:`cwma`)."""
    return dispatch(_srwma, candles, sequential, period, source_type)


def _vpwma(candles, period, power, source_type):
    period = check_int("vpwma", "period", period, minimum=2)
    power = check_float("vpwma", "power", power)
    return power_weighted(source("vpwma", candles, source_type), period, power)


def vpwma(candles, period: int = 14, power: float = 0.382, source_type: str = "close",
          sequential: bool = False):
    """Variable power weighted moving average: weights ``(period - i) ** power``."""
    return dispatch(_vpwma, candles, sequential, period, power, source_type)


def _epma(candles, period, offset, source_type):
    period = check_int("epma", "period", period, minimum=2)
    offset = check_int("epma", "offset", offset, minimum=0)
    return epma_series(source("epma", candles, source_type), period, offset)


def epma(candles, period: int = 11, offset: int = 4, source_type: str = "close",
         sequential: bool = False):
    """End point moving average: weights ``period - i - offset`` on the newest ``period - 1``
    values; first value at index ``period + offset + 1``."""
    return dispatch(_epma, candles, sequential, period, offset, source_type)


def _fwma(candles, period, source_type):
    period = check_int("fwma", "period", period)
    return weighted(source("fwma", candles, source_type), fib_weights(period))


def fwma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Fibonacci weighted moving average: weights 1, 1, 2, 3, 5, ... (the oldest lightest)."""
    return dispatch(_fwma, candles, sequential, period, source_type)


def _pwma(candles, period, source_type):
    period = check_int("pwma", "period", period)
    return weighted(source("pwma", candles, source_type), pascal_weights(period))


def pwma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Pascal's weighted moving average: binomial weights C(period - 1, i)."""
    return dispatch(_pwma, candles, sequential, period, source_type)


def _swma(candles, period, source_type):
    period = check_int("swma", "period", period)
    return weighted(source("swma", candles, source_type), symmetric_weights(period))


def swma(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Symmetric weighted moving average: triangular weights 1, 2, ..., 2, 1."""
    return dispatch(_swma, candles, sequential, period, source_type)


def _sinwma(candles, period, source_type):
    period = check_int("sinwma", "period", period)
    return weighted(source("sinwma", candles, source_type), sine_weights(period))


def sinwma(candles, period: int = 14, source_type: str = "close", sequential: bool = False):
    """Sine weighted moving average: weights ``sin(i * pi / (period + 1))``, i = 1..period."""
    return dispatch(_sinwma, candles, sequential, period, source_type)


def _hwma(candles, na, nb, nc, source_type):
    na = check_float("hwma", "na", na)
    nb = check_float("hwma", "nb", nb)
    nc = check_float("hwma", "nc", nc)
    if not all(0 < v < 1 for v in (na, nb, nc)):
        raise IndicatorError(f"ta.hwma: na, nb and nc must be between 0 and 1 (got {na}, {nb}, "
                             f"{nc})")
    return hwma_series(source("hwma", candles, source_type), na, nb, nc)


def hwma(candles, na: float = 0.2, nb: float = 0.1, nc: float = 0.1, source_type: str = "close",
         sequential: bool = False):
    """Holt-Winters moving average: level, velocity and acceleration smoothed by na, nb, nc."""
    return dispatch(_hwma, candles, sequential, na, nb, nc, source_type)


def _jma(candles, period, phase, power, source_type):
    period = check_int("jma", "period", period)
    phase = check_float("jma", "phase", phase)
    power = check_int("jma", "power", power)
    return jma_series(source("jma", candles, source_type), period, phase, power)


def jma(candles, period: int = 7, phase: float = 50, power: int = 2, source_type: str = "close",
        sequential: bool = False):
    """Jurik moving average (the public approximation Jesse uses), starting at the first price."""
    return dispatch(_jma, candles, sequential, period, phase, power, source_type)


def _jsa(candles, period, source_type):
    period = check_int("jsa", "period", period)
    return jsa_series(source("jsa", candles, source_type), period)


def jsa(candles, period: int = 30, source_type: str = "close", sequential: bool = False):
    """Jsa moving average: the mean of the price and the price ``period`` bars earlier."""
    return dispatch(_jsa, candles, sequential, period, source_type)


def _maaq(candles, period, fast_period, slow_period, source_type):
    period = check_int("maaq", "period", period)
    fast_period = check_int("maaq", "fast_period", fast_period)
    slow_period = check_int("maaq", "slow_period", slow_period)
    return maaq_series(source("maaq", candles, source_type), period, fast_period, slow_period)


def maaq(candles, period: int = 11, fast_period: int = 2, slow_period: int = 30,
         source_type: str = "close", sequential: bool = False):
    """Moving average adaptive Q: Kaufman-style efficiency ratio over ``period`` scaling a
    squared smoothing constant between the fast and slow ones; starts at the price at index
    ``period - 1``."""
    return dispatch(_maaq, candles, sequential, period, fast_period, slow_period, source_type)


def _mcginley(candles, period, k, source_type):
    period = check_int("mcginley_dynamic", "period", period)
    k = check_float("mcginley_dynamic", "k", k, 0.0, strict=True)
    return mcginley_series(source("mcginley_dynamic", candles, source_type), period, k)


def mcginley_dynamic(candles, period: int = 10, k: float = 0.6, source_type: str = "close",
                     sequential: bool = False):
    """McGinley dynamic: ``md += (x - md) / max(k * period * (x / md) ** 4, 1)``, from the
    first price."""
    return dispatch(_mcginley, candles, sequential, period, k, source_type)


def _mwdx(candles, factor, source_type):
    factor = check_float("mwdx", "factor", factor, 0.0, strict=True)
    return mwdx_series(source("mwdx", candles, source_type), factor)


def mwdx(candles, factor: float = 0.2, source_type: str = "close", sequential: bool = False):
    """MWDX average: an exponential average with ``alpha = factor`` from the first price."""
    return dispatch(_mwdx, candles, sequential, factor, source_type)


def _nma(candles, period, source_type):
    period = check_int("nma", "period", period)
    return nma_series(source("nma", candles, source_type), period)


def nma(candles, period: int = 40, source_type: str = "close", sequential: bool = False):
    """Natural moving average (Jesse's definition; see ``nma_series``)."""
    return dispatch(_nma, candles, sequential, period, source_type)


def _t3(candles, period, vfactor, source_type):
    period = check_int("t3", "period", period)
    vfactor = check_float("t3", "vfactor", vfactor)
    return t3_series(source("t3", candles, source_type), period, vfactor)


def t3(candles, period: int = 5, vfactor: float = 0, source_type: str = "close",
       sequential: bool = False):
    """Tillson T3 as TA-Lib's T3 (``ta.ma(matype=8)`` uses TA-Lib's vfactor 0.7)."""
    return dispatch(_t3, candles, sequential, period, vfactor, source_type)


def _vidya(candles, length, fix_cmo, select, source_type):
    length = check_int("vidya", "length", length)
    return vidya_series(source("vidya", candles, source_type), length, bool(fix_cmo),
                        bool(select))


def vidya(candles, length: int = 9, fix_cmo: bool = True, select: bool = True,
          source_type: str = "close", sequential: bool = False):
    """Variable index dynamic average: an EMA whose alpha is scaled by ``|CMO| / 100`` (CMO
    over 9 bars with ``fix_cmo``, else ``length``), or by the standard deviation without
    ``select``; from the first price."""
    return dispatch(_vidya, candles, sequential, length, fix_cmo, select, source_type)


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


def _wilders(candles, period, source_type):
    period = check_int("wilders", "period", period)
    return wilders_series(source("wilders", candles, source_type), period)


def wilders(candles, period: int = 5, source_type: str = "close", sequential: bool = False):
    """Wilder's smoothing from the first price: ``y = (y * (period - 1) + x) / period``."""
    return dispatch(_wilders, candles, sequential, period, source_type)


def _zlema(candles, period, source_type):
    period = check_int("zlema", "period", period)
    return zlema_series(source("zlema", candles, source_type), period)


def zlema(candles, period: int = 20, source_type: str = "close", sequential: bool = False):
    """Zero-lag EMA: an EMA (from its first input) of ``2 * x - x[lag]``, lag ``(period-1)//2``."""
    return dispatch(_zlema, candles, sequential, period, source_type)


__all__ = ["alma", "cwma", "epma", "fwma", "hwma", "jma", "jsa", "maaq", "mcginley_dynamic",
           "mwdx", "nma", "pwma", "sinwma", "sqwma", "srwma", "swma", "t3", "vidya", "vlma",
           "vpwma", "wilders", "zlema"]
