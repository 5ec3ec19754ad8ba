"""Timeframe names, UTC alignment and aggregation of base candles."""

from datetime import datetime, timezone

import numpy as np
import pytest

from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP, VOLUME
from jbt.errors import InputError
from jbt.timeframes import aggregate, bar_open, normalize, to_ms


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def minutes(start: str, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 6))
    out[:, TIMESTAMP] = ms(start) + np.arange(n) * 60_000
    out[:, OPEN] = 100 + rng.normal(size=n).cumsum()
    out[:, CLOSE] = out[:, OPEN] + rng.normal(size=n)
    out[:, HIGH] = np.maximum(out[:, OPEN], out[:, CLOSE]) + rng.random(n)
    out[:, LOW] = np.minimum(out[:, OPEN], out[:, CLOSE]) - rng.random(n)
    out[:, VOLUME] = rng.random(n) * 10
    return out


def test_names_and_lengths():
    assert to_ms("4h") == 4 * 3_600_000
    assert normalize("1d") == "1D" and to_ms("1W") == 7 * 86_400_000
    with pytest.raises(InputError, match="unknown timeframe '4H'.*did you mean '4h'"):
        normalize("4H")
    with pytest.raises(InputError, match="use one of: 1m, 3m"):
        normalize("7m")


def test_alignment_is_utc_and_weeks_start_monday():
    assert bar_open(ms("2024-03-05 05:59"), "4h") == ms("2024-03-05 04:00")
    assert bar_open(ms("2024-03-05 23:59"), "1D") == ms("2024-03-05 00:00")
    # 2024-03-07 is a Thursday; its week opened on Monday 2024-03-04.
    assert bar_open(ms("2024-03-07 12:00"), "1W") == ms("2024-03-04 00:00")
    assert bar_open(ms("2024-03-04 00:00"), "1W") == ms("2024-03-04 00:00")


def test_aggregate_matches_a_plain_loop():
    base = minutes("2024-01-01 00:00", 3 * 24 * 60)
    bars = aggregate(base, "1m", "4h")
    assert len(bars) == 18
    for i, bar in enumerate(bars):
        chunk = base[i * 240 : (i + 1) * 240]
        assert bar[TIMESTAMP] == chunk[0, TIMESTAMP]
        assert bar[OPEN] == chunk[0, OPEN]
        assert bar[CLOSE] == chunk[-1, CLOSE]
        assert bar[HIGH] == chunk[:, HIGH].max()
        assert bar[LOW] == chunk[:, LOW].min()
        assert bar[VOLUME] == pytest.approx(chunk[:, VOLUME].sum(), rel=1e-12)


def test_incomplete_bars_are_dropped_not_invented():
    # Starts at 01:30 (mid-bar) and has a hole: neither partial 4h bar may be reported.
    base = minutes("2024-01-01 01:30", 10 * 60)
    base = np.delete(base, 400, axis=0)  # one missing minute inside 08:00-12:00
    bars = aggregate(base, "1m", "4h")
    assert [int(t) for t in bars[:, TIMESTAMP]] == [ms("2024-01-01 04:00")]


def test_coarser_base_serves_multiples_only():
    hourly = aggregate(minutes("2024-01-01 00:00", 24 * 60), "1m", "1h")
    assert len(aggregate(hourly, "1h", "4h")) == 6
    with pytest.raises(InputError, match="not a multiple"):
        aggregate(hourly, "1h", "15m")
