"""Candle data for the indicator tests: the real hourly BTC-USD sample and random walks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import jbt
import jbt.indicators as ta

DATA = Path(jbt.__file__).resolve().parent / "data" / "coinbase-BTC-USD-1h.csv"


def load_btc() -> np.ndarray:
    """(n, 6) float64 candles [timestamp, open, close, high, low, volume] from the CSV, whose
    columns are timestamp, open, high, low, close, volume."""
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float64)
    ts, o, h, lo, c, v = raw.T
    return np.ascontiguousarray(np.column_stack([ts, o, c, h, lo, v]))


def random_walk_candles(n: int, seed: int = 0) -> np.ndarray:
    """Seeded random-walk hourly candles (positive prices, high >= max(open, close))."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - np.abs(rng.normal(0, 0.005, n)) * close
    volume = rng.uniform(1, 100, n)
    ts = 1_600_000_000_000 + 3_600_000 * np.arange(n, dtype=np.float64)
    return np.ascontiguousarray(np.column_stack([ts, open_, close, high, low, volume]))


#: Indicators outside the common convention (candles in; a float, or the series with
#: ``sequential=True``): a second candle array (beta, rsmk), the last value only with no
#: ``sequential`` (hurst_exponent, stiffness, ttm_squeeze, waddah_attar_explosion,
#: support_resistance_with_breaks), or results that are not floats (hull_suit's "buy"/"sell",
#: ttm_trend's and wt's bools, pivot's and minmax's NaN answers, squeeze_momentum's default
#: series). They have
#: tests of their own (test_jesse_indicators.py).
SPECIAL = {"beta", "rsmk", "hurst_exponent", "stiffness", "ttm_squeeze", "waddah_attar_explosion",
           "support_resistance_with_breaks", "hull_suit", "ttm_trend", "wt", "pivot",
           "squeeze_momentum", "minmax"}

#: Every other indicator, by name.
STANDARD = {name: f for name, f in ta.INDICATORS.items() if name not in SPECIAL}

#: Every standard indicator with its defaults, plus variants that exercise other code paths:
#: case name -> (indicator name, keyword arguments).
CALLS: dict[str, tuple[str, dict]] = {name: (name, {}) for name in STANDARD}
CALLS.update({
    "ema_hlc3": ("ema", {"period": 12, "source_type": "hlc3"}),
    "rsi_2": ("rsi", {"period": 2}),
    "ma_kama": ("ma", {"period": 10, "matype": 6}),
    "ma_hma": ("ma", {"period": 9, "matype": 10}),
    "bollinger_mad": ("bollinger_bands", {"devtype": 1, "matype": 1}),
    "stoch_ema": ("stoch", {"slowk_matype": 1, "slowd_matype": 1}),
    "vwap_4h": ("vwap", {"anchor": "4h"}),
    "zscore_median": ("zscore", {"devtype": 2}),
})


def values(result) -> np.ndarray:
    """Flatten a float / array / named tuple result into a float array for comparison."""
    if isinstance(result, tuple):
        return np.concatenate([np.atleast_1d(np.asarray(r, dtype=np.float64)) for r in result])
    return np.atleast_1d(np.asarray(result, dtype=np.float64))


#: What :func:`scalar` returns when the indicator reports too few candles for a value.
TOO_FEW = "too few candles"


def scalar(f, candles, **kwargs):
    """``f(candles, **kwargs)``, or TOO_FEW when it raises the warm-up ("too few candles")
    error, so a value inside the warm-up can be compared like any other."""
    import jbt.indicators as ta

    try:
        return f(candles, **kwargs)
    except ta.IndicatorError as exc:
        if "too few candles" not in str(exc):
            raise
        return TOO_FEW


def assert_same(a, b, rtol: float = 1e-12) -> None:
    """Same shape, NaN in the same places, and the other values equal to ``rtol``; or both
    TOO_FEW."""
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    a, b = values(a), values(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=0)
