"""Candle data for the indicator tests: the real hourly BTC-USD sample and random walks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import jbt

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
