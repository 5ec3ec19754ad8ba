"""Shared fixtures: the real hourly BTC-USD sample in jbt's in-memory column order."""

from __future__ import annotations

import numpy as np
import pytest
from indicator_data import load_btc


@pytest.fixture(scope="session")
def btc() -> np.ndarray:
    candles = load_btc()
    candles.flags.writeable = False
    return candles
