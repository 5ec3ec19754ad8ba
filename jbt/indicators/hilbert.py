"""Ehlers' Hilbert-transform indicators, computed as TA-Lib computes them.

ht_dcperiod, ht_dcphase, ht_phasor, ht_sine, ht_trendline, ht_trendmode (older Jesse versions
had them through TA-Lib; IFR2 and other public strategies use ``ta.ht_trendmode``) and mama.

One pass over the price: a 4-bar weighted average (4, 3, 2, 1) smooths it; a Hilbert transform
(0.0962, 0.5769, -0.5769, -0.0962 on every second bar, scaled by ``0.075 * period + 0.54``)
gives the in-phase and quadrature components, from which the dominant cycle period is measured
and smoothed. The recursion starts at the first candle, so like TA-Lib the values depend on where
the data starts (an influence that fades); TA-Lib's first outputs are at index 32 (period,
phasor, mama) or 63 (phase, sine, trendline, trend mode), and so are jbt's.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from jbt.indicators._cache import dispatch
from jbt.indicators._source import check_float, source

IQ = namedtuple("IQ", ["inphase", "quadrature"])
SINEWAVE = namedtuple("SINEWAVE", ["sine", "lead"])
MAMA = namedtuple("MAMA", ["mama", "fama"])

_A = 0.0962
_B = 0.5769
_RAD2DEG = 180.0 / math.pi
_DEG2RAD = math.pi / 180.0


class _Hilbert:
    """The four-tap Hilbert transform of one stream, kept separately for odd and even bars."""

    __slots__ = ("hist", "prev", "prev_input")

    def __init__(self) -> None:
        self.hist = {0: [0.0, 0.0, 0.0], 1: [0.0, 0.0, 0.0]}
        self.prev = {0: 0.0, 1: 0.0}
        self.prev_input = {0: 0.0, 1: 0.0}

    def step(self, parity: int, slot: int, value: float, adjust: float) -> float:
        hist = self.hist[parity]
        scaled = _A * value
        out = scaled - hist[slot]  # a * x[t] - a * x[t - 6]
        hist[slot] = scaled
        out -= self.prev[parity]  # - b * x[t - 4]
        self.prev[parity] = _B * self.prev_input[parity]
        out += self.prev[parity]  # + b * x[t - 2]
        self.prev_input[parity] = value
        return out * adjust


def _run(x: np.ndarray, warmup: int, want: str, fast: float = 0.5, slow: float = 0.05):
    """The Hilbert recursion over ``x``. ``warmup`` price-average steps come before the
    transform starts (TA-Lib: 9, or 34 for the outputs that use 50 bars of smoothed prices).
    ``want`` selects the outputs; the arrays are NaN before TA-Lib's first output."""
    values = x.tolist()
    n = len(values)
    lookback = 32 if warmup == 9 else 63
    outputs: dict[str, list[float]] = {k: [math.nan] * n for k in want.split(",")}
    if n <= lookback:
        return {k: np.array(v) for k, v in outputs.items()}
    # the 4-bar weighted moving average, as TA-Lib keeps it (sum and subtotal)
    wma_sub = values[0] + values[1] + values[2]
    wma_sum = values[0] + 2 * values[1] + 3 * values[2]
    trailing_idx = 0
    trailing = 0.0
    today = 3

    def price_wma(v: float) -> float:
        nonlocal wma_sub, wma_sum, trailing, trailing_idx
        wma_sub += v
        wma_sub -= trailing
        wma_sum += 4.0 * v
        trailing = values[trailing_idx]
        trailing_idx += 1
        smoothed = wma_sum * 0.1
        wma_sum -= wma_sub
        return smoothed

    smooth_prices = [0.0] * 50
    smooth_idx = 0
    for _ in range(warmup):
        smoothed = price_wma(values[today])
        if warmup == 34:
            smooth_prices[smooth_idx] = smoothed
            smooth_idx = (smooth_idx + 1) % 50
        today += 1

    detrender, q1_t, ji_t, jq_t = _Hilbert(), _Hilbert(), _Hilbert(), _Hilbert()
    hilbert_idx = 0
    period = 0.0
    smooth_period = 0.0
    prev_i2 = prev_q2 = re = im = 0.0
    i1_odd_prev3 = i1_even_prev3 = i1_odd_prev2 = i1_even_prev2 = 0.0
    dc_phase = 0.0
    itrend1 = itrend2 = itrend3 = 0.0
    sine = lead = 0.0
    days_in_trend = 0
    prev_phase = 0.0
    mama = fama = 0.0
    want_phase = any(k in outputs for k in ("dcphase", "sine", "lead", "trendmode"))
    want_trend = "trendline" in outputs or "trendmode" in outputs

    while today < n:
        adjust = 0.075 * period + 0.54
        today_value = values[today]
        smoothed = price_wma(today_value)
        if warmup == 34:
            smooth_prices[smooth_idx] = smoothed
        parity = today % 2
        if parity == 0:
            det = detrender.step(0, hilbert_idx, smoothed, adjust)
            q1 = q1_t.step(0, hilbert_idx, det, adjust)
            i1 = i1_even_prev3
            ji = ji_t.step(0, hilbert_idx, i1, adjust)
            jq = jq_t.step(0, hilbert_idx, q1, adjust)
            hilbert_idx = (hilbert_idx + 1) % 3
            i1_odd_prev3, i1_odd_prev2 = i1_odd_prev2, det
        else:
            det = detrender.step(1, hilbert_idx, smoothed, adjust)
            q1 = q1_t.step(1, hilbert_idx, det, adjust)
            i1 = i1_odd_prev3
            ji = ji_t.step(1, hilbert_idx, i1, adjust)
            jq = jq_t.step(1, hilbert_idx, q1, adjust)
            i1_even_prev3, i1_even_prev2 = i1_even_prev2, det
        q2 = 0.2 * (q1 + ji) + 0.8 * prev_q2
        i2 = 0.2 * (i1 - jq) + 0.8 * prev_i2
        if today >= lookback and "inphase" in outputs:
            outputs["inphase"][today] = i1
            outputs["quadrature"][today] = q1
        if "mama" in outputs:
            phase = math.atan(q1 / i1) * _RAD2DEG if i1 != 0.0 else 0.0
            delta = max(prev_phase - phase, 1.0)
            prev_phase = phase
            alpha = max(fast / delta, slow) if delta > 1.0 else fast
            mama = alpha * today_value + (1 - alpha) * mama
            fama = 0.5 * alpha * mama + (1 - 0.5 * alpha) * fama
            if today >= lookback:
                outputs["mama"][today] = mama
                outputs["fama"][today] = fama
        re = 0.2 * (i2 * prev_i2 + q2 * prev_q2) + 0.8 * re
        im = 0.2 * (i2 * prev_q2 - q2 * prev_i2) + 0.8 * im
        prev_q2, prev_i2 = q2, i2
        last = period
        if im != 0.0 and re != 0.0:
            period = 360.0 / (math.atan(im / re) * _RAD2DEG)
        period = min(period, 1.5 * last)
        period = max(period, 0.67 * last)
        period = 6.0 if period < 6 else 50.0 if period > 50 else period
        period = 0.2 * period + 0.8 * last
        smooth_period = 0.33 * period + 0.67 * smooth_period
        if today >= lookback and "dcperiod" in outputs:
            outputs["dcperiod"][today] = smooth_period
        if want_phase:
            prev_dc_phase = dc_phase
            count = int(smooth_period + 0.5)
            real_part = imag_part = 0.0
            idx = smooth_idx
            for i in range(count):
                angle = i * 2 * math.pi / count
                p = smooth_prices[idx]
                real_part += math.sin(angle) * p
                imag_part += math.cos(angle) * p
                idx = 49 if idx == 0 else idx - 1
            if abs(imag_part) > 0.0:
                dc_phase = math.atan(real_part / imag_part) * _RAD2DEG
            elif real_part < 0.0:
                dc_phase -= 90.0
            elif real_part > 0.0:
                dc_phase += 90.0
            dc_phase += 90.0
            dc_phase += 360.0 / smooth_period  # the average's one-bar lag
            if imag_part < 0.0:
                dc_phase += 180.0
            if dc_phase > 315.0:
                dc_phase -= 360.0
            prev_sine, prev_lead = sine, lead
            sine = math.sin(dc_phase * _DEG2RAD)
            lead = math.sin((dc_phase + 45) * _DEG2RAD)
            if today >= lookback:
                if "dcphase" in outputs:
                    outputs["dcphase"][today] = dc_phase
                if "sine" in outputs:
                    outputs["sine"][today] = sine
                    outputs["lead"][today] = lead
        if want_trend:
            count = int(smooth_period + 0.5)
            total = 0.0
            for i in range(count):
                total += values[today - i]
            mean = total / count if count > 0 else 0.0
            trendline = (4.0 * mean + 3.0 * itrend1 + 2.0 * itrend2 + itrend3) / 10.0
            itrend3, itrend2, itrend1 = itrend2, itrend1, mean
            if today >= lookback and "trendline" in outputs:
                outputs["trendline"][today] = trendline
            if "trendmode" in outputs:
                trend = 1
                if ((sine > lead and prev_sine <= prev_lead)
                        or (sine < lead and prev_sine >= prev_lead)):
                    days_in_trend = 0
                    trend = 0
                days_in_trend += 1
                if days_in_trend < 0.5 * smooth_period:
                    trend = 0
                d = dc_phase - prev_dc_phase
                if smooth_period != 0.0 and 0.67 * 360.0 / smooth_period < d < (
                        1.5 * 360.0 / smooth_period):
                    trend = 0
                p = smooth_prices[smooth_idx]
                if trendline != 0.0 and abs((p - trendline) / trendline) >= 0.015:
                    trend = 1
                if today >= lookback:
                    outputs["trendmode"][today] = float(trend)
        if warmup == 34:
            smooth_idx = (smooth_idx + 1) % 50
        today += 1
    return {k: np.array(v, dtype=np.float64) for k, v in outputs.items()}


def ht_trendline_series(x: np.ndarray) -> np.ndarray:
    return _run(x, 34, "trendline")["trendline"]


def mama_series(x: np.ndarray, fastlimit: float, slowlimit: float) -> MAMA:
    out = _run(x, 9, "mama,fama", fastlimit, slowlimit)
    return MAMA(out["mama"], out["fama"])


def _ht_dcperiod(candles, source_type):
    return _run(source("ht_dcperiod", candles, source_type), 9, "dcperiod")["dcperiod"]


def ht_dcperiod(candles, source_type: str = "close", sequential: bool = False):
    """Hilbert transform: dominant cycle period (bars), as TA-Lib's HT_DCPERIOD."""
    return dispatch(_ht_dcperiod, candles, sequential, source_type)


def _ht_dcphase(candles, source_type):
    return _run(source("ht_dcphase", candles, source_type), 34, "dcphase")["dcphase"]


def ht_dcphase(candles, source_type: str = "close", sequential: bool = False):
    """Hilbert transform: dominant cycle phase (degrees), as TA-Lib's HT_DCPHASE."""
    return dispatch(_ht_dcphase, candles, sequential, source_type)


def _ht_phasor(candles, source_type):
    out = _run(source("ht_phasor", candles, source_type), 9, "inphase,quadrature")
    return IQ(out["inphase"], out["quadrature"])


def ht_phasor(candles, source_type: str = "close", sequential: bool = False) -> IQ:
    """Hilbert transform: IQ(inphase, quadrature), as TA-Lib's HT_PHASOR."""
    return dispatch(_ht_phasor, candles, sequential, source_type)


def _ht_sine(candles, source_type):
    out = _run(source("ht_sine", candles, source_type), 34, "sine,lead")
    return SINEWAVE(out["sine"], out["lead"])


def ht_sine(candles, source_type: str = "close", sequential: bool = False) -> SINEWAVE:
    """Hilbert transform: SINEWAVE(sine, lead) of the dominant cycle phase (lead: +45°), as
    TA-Lib's HT_SINE."""
    return dispatch(_ht_sine, candles, sequential, source_type)


def _ht_trendline(candles, source_type):
    return ht_trendline_series(source("ht_trendline", candles, source_type))


def ht_trendline(candles, source_type: str = "close", sequential: bool = False):
    """Hilbert transform: instantaneous trendline (the price averaged over the dominant cycle,
    then 4-bar weighted), as TA-Lib's HT_TRENDLINE."""
    return dispatch(_ht_trendline, candles, sequential, source_type)


def _ht_trendmode(candles, source_type):
    return _run(source("ht_trendmode", candles, source_type), 34, "trendmode")["trendmode"]


def ht_trendmode(candles, source_type: str = "close", sequential: bool = False):
    """Hilbert transform: trend (1) or cycle (0) mode, as TA-Lib's HT_TRENDMODE. A float
    (1.0 / 0.0) like every jbt indicator; ``== 1`` works as with TA-Lib's integer."""
    return dispatch(_ht_trendmode, candles, sequential, source_type)


def _mama(candles, fastlimit, slowlimit, source_type):
    fastlimit = check_float("mama", "fastlimit", fastlimit, 0.0, strict=True)
    slowlimit = check_float("mama", "slowlimit", slowlimit, 0.0, strict=True)
    return mama_series(source("mama", candles, source_type), fastlimit, slowlimit)


def mama(candles, fastlimit: float = 0.5, slowlimit: float = 0.05, source_type: str = "close",
         sequential: bool = False) -> MAMA:
    """MESA adaptive moving average: MAMA(mama, fama), as TA-Lib's MAMA."""
    return dispatch(_mama, candles, sequential, fastlimit, slowlimit, source_type)


__all__ = ["IQ", "MAMA", "SINEWAVE", "ht_dcperiod", "ht_dcphase", "ht_phasor", "ht_sine",
           "ht_trendline", "ht_trendmode", "mama"]
