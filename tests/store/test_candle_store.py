"""The candle store against a real database file (and PostgreSQL when configured)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jbt import candles
from jbt.candles import CoverageRow
from jbt.constants import CLOSE, DAY_MS, HIGH, HOUR_MS, LOW, MINUTE_MS, OPEN, TIMESTAMP, VOLUME
from jbt.errors import InputError

T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC, a Wednesday


def make_rows(timestamps, seed: int = 7) -> np.ndarray:
    """Candles in jbt's order with prices to the cent and volumes with 8 decimals."""
    ts = np.asarray(timestamps, dtype=np.float64)
    rng = np.random.default_rng(seed)
    close = np.round(7000 + np.cumsum(rng.normal(0, 15, len(ts))), 2)
    open_ = np.round(np.r_[close[:1], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.random(len(ts)) * 9, 2)
    low = np.round(np.minimum(open_, close) - rng.random(len(ts)) * 9, 2)
    volume = np.round(rng.random(len(ts)) * 50, 8)
    return np.column_stack([ts, open_, close, high, low, volume])


def minutes(*indices) -> list[int]:
    return [T0 + i * MINUTE_MS for i in indices]


def test_insert_then_load_gives_the_same_array(db):
    rows = make_rows(minutes(*range(500)))
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows) == 500
    loaded = candles.load_candles("binance", "BTC-USDT", "1m")
    assert loaded.dtype == np.float64
    assert loaded.shape == (500, 6)
    assert loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, rows)
    assert loaded[0, TIMESTAMP] == T0
    assert loaded[0, OPEN] == rows[0, OPEN]
    assert loaded[-1, CLOSE] == rows[-1, CLOSE]


def test_values_survive_exactly(db):
    rows = np.array(
        [
            [T0, 6383.19, 6365.0, 6424.14, 6357.01, 379.89],
            [T0 + HOUR_MS, 0.00012345, 0.00012346, 0.00012399, 0.0001234, 123456789.12345678],
            [T0 + 2 * HOUR_MS, 98765.4321, 98765.43, 98800.0, 98700.5, 0.0],
        ]
    )
    candles.insert_candles("coinbase", "BTC-USD", "1h", rows)
    np.testing.assert_array_equal(candles.load_candles("coinbase", "BTC-USD", "1h"), rows)


def test_reinsert_is_idempotent_and_counts_only_new_rows(db):
    rows = make_rows(minutes(*range(100)))
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows[:60]) == 60
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows[:60]) == 0
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows[40:]) == 40
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 100


def test_insert_keeps_the_stored_candle_on_conflict(db):
    rows = make_rows(minutes(0, 1))
    candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    changed = rows.copy()
    changed[:, CLOSE] += 1
    assert candles.insert_candles("binance", "BTC-USDT", "1m", changed) == 0
    np.testing.assert_array_equal(candles.load_candles("binance", "BTC-USDT", "1m"), rows)


def test_repeated_timestamps_in_one_call_count_once(db):
    rows = make_rows(minutes(0, 1, 1, 2))
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows) == 3


def test_unsorted_input_loads_sorted(db):
    rows = make_rows(minutes(*range(10)))
    candles.insert_candles("binance", "BTC-USDT", "1m", rows[::-1])
    np.testing.assert_array_equal(candles.load_candles("binance", "BTC-USDT", "1m"), rows)


def test_series_are_kept_apart(db):
    rows = make_rows(minutes(*range(5)))
    candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    candles.insert_candles("binance", "ETH-USDT", "1m", rows[:2])
    candles.insert_candles("bybit", "BTC-USDT", "1m", rows[:3])
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 5
    assert candles.count_candles("binance", "ETH-USDT", "1m") == 2
    assert candles.count_candles("bybit", "BTC-USDT", "1m") == 3
    assert candles.load_candles("binance", "BTC-USDT", "5m").shape == (0, 6)


def test_load_range_is_inclusive(db):
    rows = make_rows(minutes(*range(20)))
    candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    part = candles.load_candles("binance", "BTC-USDT", "1m", T0 + 5 * MINUTE_MS, T0 + 9 * MINUTE_MS)
    np.testing.assert_array_equal(part, rows[5:10])
    assert candles.load_candles("binance", "BTC-USDT", "1m", start=T0 + 18 * MINUTE_MS).shape == (
        2,
        6,
    )
    assert candles.load_candles("binance", "BTC-USDT", "1m", end=T0).shape == (1, 6)
    assert candles.count_candles("binance", "BTC-USDT", "1m", T0 + 5 * MINUTE_MS) == 15


def test_load_empty_is_zero_by_six(db):
    empty = candles.load_candles("binance", "BTC-USDT", "1m")
    assert empty.shape == (0, 6)
    assert empty.dtype == np.float64


def test_insert_is_all_or_nothing(db):
    rows = make_rows(minutes(*range(10)))
    rows[7, HIGH] = np.nan
    with pytest.raises(InputError, match="row 7"):
        candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 0


def test_a_callers_transaction_rolls_back_every_insert(db):
    rows = make_rows(minutes(*range(10)))
    with pytest.raises(RuntimeError, match="abort"):
        with db.atomic():
            assert candles.insert_candles("binance", "BTC-USDT", "1m", rows[:5]) == 5
            assert candles.insert_candles("binance", "BTC-USDT", "1m", rows[5:]) == 5
            raise RuntimeError("abort")
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.zeros((3, 5)), "shape"),
        (make_rows([T0 + 30_000]), "not aligned to 1m"),
        (make_rows([T0 + 0.5]), "whole"),
    ],
)
def test_bad_rows_are_refused(db, rows, message):
    with pytest.raises(InputError, match=message):
        candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    assert candles.coverage() == []


def test_weekly_candles_open_on_monday(db):
    monday = T0 + 5 * DAY_MS  # 2020-01-06
    candles.insert_candles("binance", "BTC-USDT", "1W", make_rows([monday, monday + 7 * DAY_MS]))
    with pytest.raises(InputError, match="not aligned to 1W"):
        candles.insert_candles("binance", "BTC-USDT", "1W", make_rows([T0]))
    assert candles.stored_ranges("binance", "BTC-USDT", "1W") == [(monday, monday + 7 * DAY_MS)]


def test_stored_ranges_are_maximal_runs(db):
    candles.insert_candles("binance", "BTC-USDT", "1m", make_rows(minutes(0, 1, 2, 5, 6, 9)))
    assert candles.stored_ranges("binance", "BTC-USDT", "1m") == [
        (T0, T0 + 2 * MINUTE_MS),
        (T0 + 5 * MINUTE_MS, T0 + 6 * MINUTE_MS),
        (T0 + 9 * MINUTE_MS, T0 + 9 * MINUTE_MS),
    ]
    assert candles.stored_ranges("binance", "BTC-USDT", "1m", T0 + MINUTE_MS, T0 + 5 * MINUTE_MS) == [
        (T0 + MINUTE_MS, T0 + 2 * MINUTE_MS),
        (T0 + 5 * MINUTE_MS, T0 + 5 * MINUTE_MS),
    ]
    assert candles.stored_ranges("binance", "ETH-USDT", "1m") == []


def test_missing_ranges_are_the_holes(db):
    candles.insert_candles("binance", "BTC-USDT", "1m", make_rows(minutes(2, 3, 4, 7, 8, 12)))
    assert candles.missing_ranges("binance", "BTC-USDT", "1m", T0, T0 + 14 * MINUTE_MS) == [
        (T0, T0 + MINUTE_MS),
        (T0 + 5 * MINUTE_MS, T0 + 6 * MINUTE_MS),
        (T0 + 9 * MINUTE_MS, T0 + 11 * MINUTE_MS),
        (T0 + 13 * MINUTE_MS, T0 + 14 * MINUTE_MS),
    ]
    # unaligned bounds shrink to the open times inside them
    assert candles.missing_ranges(
        "binance", "BTC-USDT", "1m", T0 + 2 * MINUTE_MS + 1, T0 + 8 * MINUTE_MS - 1
    ) == [(T0 + 5 * MINUTE_MS, T0 + 6 * MINUTE_MS)]
    assert candles.missing_ranges("binance", "BTC-USDT", "1m", T0 + 2 * MINUTE_MS, T0 + 4 * MINUTE_MS) == []
    assert candles.missing_ranges("binance", "BTC-USDT", "1h", T0, T0 + 3 * HOUR_MS) == [
        (T0, T0 + 3 * HOUR_MS)
    ]
    assert candles.missing_ranges("binance", "BTC-USDT", "1m", T0 + 30_000, T0 + 50_000) == []


def test_coverage_and_timeframes(db):
    candles.insert_candles("binance", "BTC-USDT", "1m", make_rows(minutes(0, 1, 2, 5)))
    candles.insert_candles(
        "binance", "BTC-USDT", "1h", make_rows([T0 + i * HOUR_MS for i in range(24)])
    )
    candles.insert_candles("coinbase", "BTC-USD", "4h", make_rows([T0, T0 + 8 * HOUR_MS]))
    assert candles.coverage() == [
        CoverageRow("binance", "BTC-USDT", "1h", T0, T0 + 23 * HOUR_MS, 24, 0),
        CoverageRow("binance", "BTC-USDT", "1m", T0, T0 + 5 * MINUTE_MS, 4, 2),
        CoverageRow("coinbase", "BTC-USD", "4h", T0, T0 + 8 * HOUR_MS, 2, 1),
    ]
    assert candles.stored_timeframes("binance", "BTC-USDT") == ["1m", "1h"]
    assert candles.stored_timeframes("coinbase", "BTC-USD") == ["4h"]
    assert candles.stored_timeframes("kraken", "BTC-USD") == []


def test_delete_candles(db):
    rows = make_rows(minutes(*range(8)))
    candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    candles.insert_candles("binance", "ETH-USDT", "1m", rows)
    assert candles.delete_candles("binance", "BTC-USDT", "1m") == 8
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 0
    assert candles.count_candles("binance", "ETH-USDT", "1m") == 8


def test_a_month_of_minutes_with_gaps(db):
    n = 31 * 24 * 60
    ts = np.array(minutes(*range(n)))
    holes = [(1_000, 1_059), (20_000, 20_000), (44_000, 44_639)]
    keep = np.ones(n, dtype=bool)
    for a, b in holes:
        keep[a : b + 1] = False
    rows = make_rows(ts[keep])
    assert candles.insert_candles("binance", "BTC-USDT", "1m", rows) == int(keep.sum())
    expected = [(int(ts[a]), int(ts[b])) for a, b in holes[:2]]
    assert candles.missing_ranges("binance", "BTC-USDT", "1m", int(ts[0]), int(ts[-1])) == [
        *expected,
        (int(ts[44_000]), int(ts[-1])),
    ]
    (row,) = candles.coverage()
    assert (row.count, row.missing) == (int(keep.sum()), 60 + 1)
    loaded = candles.load_candles("binance", "BTC-USDT", "1m")
    np.testing.assert_array_equal(loaded[:, VOLUME], rows[:, VOLUME])
    np.testing.assert_array_equal(loaded[:, LOW], rows[:, LOW])


def test_importing_opens_no_database(tmp_path):
    # in a fresh interpreter, in an empty folder: no connection, no file, no table
    code = (
        "import jbt.cli, jbt.models, jbt.candles, jbt.modes.import_candles_mode; "
        "print(jbt.models.database_proxy.obj)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "None"
    assert list(tmp_path.iterdir()) == []
