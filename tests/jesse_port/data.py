"""Candles for the Jesse-porting tests: the bundled real hourly BTC-USD, and the seeded 1m year.

The year is the fake Binance server's seeded random walk (``tests/fakes/binance.py``, the
generator the import tests use): gapless (each open is the previous close), prices to the
cent, from 2020-01-01 UTC. ``bench/jesse_compare.py`` runs Jesse on the same year.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from fakes.binance import FakeMarket, _make_candles

import jbt

SAMPLE = Path(jbt.__file__).resolve().parent / "data" / "coinbase-BTC-USD-1h.csv"
YEAR_START = 1_577_836_800_000  # 2020-01-01 00:00 UTC
MINUTES = 365 * 24 * 60


@lru_cache(maxsize=1)
def real_hourly() -> np.ndarray:
    """Coinbase BTC-USD 1h, 2018-07 .. 2019-10, in jbt's column order (read-only)."""
    raw = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, dtype=np.float64)
    ts, o, h, lo, c, v = raw.T
    out = np.ascontiguousarray(np.column_stack([ts, o, c, h, lo, v]))
    out.flags.writeable = False
    return out


@lru_cache(maxsize=2)
def seeded_year(seed: int = 7, minutes: int = MINUTES) -> np.ndarray:
    """A year of gapless seeded 1m candles in jbt's column order (read-only)."""
    market = FakeMarket("BTC", "USDT", YEAR_START, YEAR_START + minutes * 60_000, seed=seed,
                        start_price=7000.0)
    rows = _make_candles(market)  # Binance's order: time, open, high, low, close, volume
    ts, o, h, lo, c, v = rows.T
    out = np.ascontiguousarray(np.column_stack([ts, o, c, h, lo, v]))
    out.flags.writeable = False
    return out
