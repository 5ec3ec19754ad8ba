"""Timeframe parsing, UTC alignment, and aggregation of base candles into coarser bars."""

from __future__ import annotations

import re

import numpy as np

from jbt.constants import CLOSE, DAY_MS, HIGH, LOW, MINUTE_MS, OPEN, TIMESTAMP, VOLUME
from jbt.errors import InputError

#: Supported timeframes and their length in milliseconds (Jesse's and Binance's names).
TIMEFRAMES: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "45m": 45 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "3h": 180 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1D": DAY_MS,
    "3D": 3 * DAY_MS,
    "1W": 7 * DAY_MS,
}

_ALIASES = {"1d": "1D", "3d": "3D", "1w": "1W"}

# 1970-01-01 was a Thursday; Binance's weekly bars open on Monday 00:00 UTC.
_WEEK_OFFSET_MS = 4 * DAY_MS


def normalize(tf: str) -> str:
    """Return the canonical name of a timeframe or raise InputError listing the valid ones."""
    tf = str(tf).strip()
    tf = _ALIASES.get(tf, tf)
    if tf not in TIMEFRAMES:
        m = re.fullmatch(r"(\d+)([a-zA-Z]+)", tf)
        hint = ""
        if m and m.group(2) in ("min", "M", "H"):
            hint = f" (did you mean '{m.group(1)}{'m' if m.group(2) in ('min', 'M') else 'h'}'?)"
        raise InputError(
            f"unknown timeframe '{tf}'{hint}; use one of: {', '.join(TIMEFRAMES)}"
        )
    return tf


def to_ms(tf: str) -> int:
    """Length of a timeframe in milliseconds."""
    return TIMEFRAMES[normalize(tf)]


def bar_open(ts: int | np.ndarray, tf: str) -> int | np.ndarray:
    """Open time of the bar of timeframe ``tf`` that contains ``ts`` (UTC aligned)."""
    size = to_ms(tf)
    offset = _WEEK_OFFSET_MS if normalize(tf) == "1W" else 0
    return ((ts - offset) // size) * size + offset


def aggregate(base: np.ndarray, base_tf: str, tf: str, *, complete_only: bool = True) -> np.ndarray:
    """Aggregate candles of ``base_tf`` into bars of ``tf``, aligned to UTC.

    ``base`` is a float64 array in ``[timestamp, open, close, high, low, volume]`` order, sorted
    by time. A bar is kept only when every base candle of it is present (``complete_only``), so a
    bar never pretends to span minutes that are not stored. Returns a new array in the same order.
    """
    base_ms, tf_ms = to_ms(base_tf), to_ms(tf)
    if tf_ms % base_ms:
        raise InputError(f"timeframe {tf} is not a multiple of the stored base timeframe {base_tf}")
    if len(base) == 0 or tf_ms == base_ms:
        return np.array(base, dtype=np.float64, copy=True).reshape(-1, 6)
    ts = base[:, TIMESTAMP].astype(np.int64)
    opens = bar_open(ts, tf)
    starts = np.flatnonzero(np.r_[True, opens[1:] != opens[:-1]])
    ends = np.r_[starts[1:], len(base)]
    out = np.empty((len(starts), 6), dtype=np.float64)
    out[:, TIMESTAMP] = opens[starts]
    out[:, OPEN] = base[starts, OPEN]
    out[:, CLOSE] = base[ends - 1, CLOSE]
    out[:, HIGH] = np.maximum.reduceat(base[:, HIGH], starts)
    out[:, LOW] = np.minimum.reduceat(base[:, LOW], starts)
    out[:, VOLUME] = np.add.reduceat(base[:, VOLUME], starts)
    if complete_only:
        per_bar = tf_ms // base_ms
        keep = (ends - starts) == per_bar
        out = out[keep]
    return out
