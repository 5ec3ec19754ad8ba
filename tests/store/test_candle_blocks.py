"""The SQLite read cache of the candle store (``candle_block``): loads from blocks give exactly
what the row query gives, and blocks that disagree with the rows are never used."""

from __future__ import annotations

import numpy as np
import peewee as pw
import pytest

from jbt import candles
from jbt.constants import CLOSE, DAY_MS, HOUR_MS, MINUTE_MS, OPEN
from jbt.models import BLOCK_CANDLES

T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
KEY = ("binance", "BTC-USDT", "1m")


@pytest.fixture
def sqlite_db(tmp_path):
    from jbt.models import close_database, open_database

    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield database
    close_database()


def random_rows(timestamps, seed: int) -> np.ndarray:
    ts = np.asarray(timestamps, dtype=np.float64)
    rng = np.random.default_rng(seed)
    close = np.round(7000 + np.cumsum(rng.normal(0, 15, len(ts))), 2)
    open_ = np.round(np.r_[close[:1], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.random(len(ts)) * 9, 2)
    low = np.round(np.minimum(open_, close) - rng.random(len(ts)) * 9, 2)
    volume = rng.random(len(ts)) * 50  # full float precision
    return np.column_stack([ts, open_, close, high, low, volume])


def with_holes(n: int, step: int, seed: int) -> np.ndarray:
    """``n`` open times from T0 with about a tenth dropped, in runs and alone."""
    rng = np.random.default_rng(seed)
    keep = rng.random(n) > 0.05
    for at in rng.integers(0, n - 200, 4):
        keep[at : at + rng.integers(1, 200)] = False
    return T0 + np.flatnonzero(keep) * step


def row_query(db, key, start=None, end=None) -> np.ndarray:
    return candles._query_rows(db, *key, start, end)


def assert_same(loaded: np.ndarray, expected: np.ndarray) -> None:
    assert loaded.dtype == np.float64
    assert loaded.shape == expected.shape
    assert loaded.flags.c_contiguous and loaded.flags.writeable
    assert loaded.tobytes() == expected.tobytes()


def stored_blocks(db, key) -> list[tuple[int, int]]:
    sql = (
        'SELECT "block_start", "count" FROM "candle_block" WHERE "exchange" = ? AND "symbol" = ? '
        'AND "timeframe" = ? ORDER BY "block_start"'
    )
    return [tuple(row) for row in db.execute_sql(sql, list(key)).fetchall()]


def assert_blocks_are_the_rows(db, key) -> None:
    """Every stored row is in exactly one block, with the same value bits, in time order."""
    block_ms = BLOCK_CANDLES * candles.to_ms(key[2])
    rows = row_query(db, key)
    starts = rows[:, 0].astype(np.int64) // block_ms * block_ms
    expected = [
        (int(s), int(c)) for s, c in zip(*np.unique(starts, return_counts=True), strict=True)
    ]
    assert stored_blocks(db, key) == expected
    arrays = candles._read_blocks(db, key, None, None)
    assert np.concatenate(arrays).tobytes() == rows.tobytes()


@pytest.fixture
def no_rebuild(monkeypatch):
    """Fail the test if the store falls back to reading rows to rebuild blocks."""

    def refuse(*args):
        raise AssertionError(f"blocks rebuilt from rows: {args[1:]}")

    monkeypatch.setattr(candles, "_rebuild_blocks", refuse)


def ranges(rng, lo: int, hi: int, step: int, n: int) -> list[tuple[int | None, int | None]]:
    """Whole, open-ended, inside one block, across block edges, unaligned, empty, reversed."""
    picked: list[tuple[int | None, int | None]] = [(None, None), (lo, None), (None, hi)]
    for _ in range(n):
        a, b = sorted(int(x) for x in rng.integers(lo - 3 * step, hi + 3 * step, 2))
        picked += [(a, b), (a + step // 2, b), (a, None), (None, b), (b, a)]
    return picked


def assert_every_range_matches(db, key, seed: int, *, from_blocks: bool = True) -> None:
    rows = row_query(db, key)
    lo, hi = int(rows[0, 0]), int(rows[-1, 0])
    step = candles.to_ms(key[2])
    for start, end in ranges(np.random.default_rng(seed), lo, hi, step, 40):
        expected = row_query(db, key, start, end)
        if from_blocks:
            assert_same(candles._load_blocks(db, key, start, end), expected)
        assert_same(candles.load_candles(*key, start, end), expected)


def test_a_fresh_insert_writes_day_blocks_and_loads_from_them(sqlite_db, no_rebuild):
    rows = random_rows(with_holes(5 * BLOCK_CANDLES, MINUTE_MS, seed=1), seed=1)
    assert candles.insert_candles(*KEY, rows) == len(rows)
    assert [start for start, _ in stored_blocks(sqlite_db, KEY)] == [
        T0 + d * DAY_MS for d in range(5)
    ]
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_same(candles.load_candles(*KEY), rows)
    assert_every_range_matches(sqlite_db, KEY, seed=2)


def test_blocks_span_1440_candles_of_their_timeframe(sqlite_db, no_rebuild):
    key = ("coinbase", "BTC-USD", "1h")  # a block is 60 days
    rows = random_rows(with_holes(200 * 24, HOUR_MS, seed=3), seed=3)
    candles.insert_candles(*key, rows)
    block_ms = BLOCK_CANDLES * HOUR_MS
    assert [start for start, _ in stored_blocks(sqlite_db, key)] == [
        (T0 // block_ms + i) * block_ms for i in range(4)
    ]
    assert_blocks_are_the_rows(sqlite_db, key)
    assert_every_range_matches(sqlite_db, key, seed=4)


def test_reinserts_and_overlapping_inserts_keep_stored_values(sqlite_db, no_rebuild):
    times = with_holes(4 * BLOCK_CANDLES, MINUTE_MS, seed=5)
    rows = random_rows(times, seed=5)
    rng = np.random.default_rng(6)
    for i in range(12):
        a = int(rng.integers(0, len(rows) - 10))
        b = int(rng.integers(a + 1, min(a + 2500, len(rows)) + 1))
        chunk = rows[a:b].copy()
        # rows already stored come back with other values: the stored ones must stay
        chunk[:, CLOSE] += 1000
        stored_before = candles.count_candles(*KEY)
        chunk_rows = rows[a:b]
        fresh = ~np.isin(chunk_rows[:, 0], row_query(sqlite_db, KEY)[:, 0])
        chunk[fresh] = chunk_rows[fresh]
        shuffled = np.concatenate([chunk, chunk[: (b - a) // 3]])[
            rng.permutation(b - a + (b - a) // 3)
        ]
        assert candles.insert_candles(*KEY, shuffled) == int(fresh.sum())
        assert candles.count_candles(*KEY) == stored_before + int(fresh.sum())
        assert_blocks_are_the_rows(sqlite_db, KEY)
        if i % 4 == 3:
            assert_every_range_matches(sqlite_db, KEY, seed=i)
    candles.insert_candles(*KEY, rows)
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_same(candles.load_candles(*KEY), rows)
    assert candles.insert_candles(*KEY, rows) == 0
    assert_same(candles.load_candles(*KEY), rows)


def test_delete_candles_deletes_the_series_blocks(sqlite_db, no_rebuild):
    rows = random_rows(with_holes(3 * BLOCK_CANDLES, MINUTE_MS, seed=7), seed=7)
    other = ("binance", "ETH-USDT", "1m")
    candles.insert_candles(*KEY, rows)
    candles.insert_candles(*other, rows)
    assert candles.delete_candles(*KEY) == len(rows)
    assert stored_blocks(sqlite_db, KEY) == []
    assert_same(candles.load_candles(*KEY), np.empty((0, 6)))
    assert_blocks_are_the_rows(sqlite_db, other)
    assert_same(candles.load_candles(*other), rows)
    candles.insert_candles(*KEY, rows[::2])
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_every_range_matches(sqlite_db, KEY, seed=8)


def test_a_row_deleted_by_hand_is_not_loaded_and_the_blocks_are_rebuilt(sqlite_db):
    rows = random_rows(with_holes(3 * BLOCK_CANDLES, MINUTE_MS, seed=9), seed=9)
    candles.insert_candles(*KEY, rows)
    gone = int(rows[1000, 0])
    sqlite_db.execute_sql('DELETE FROM "candle" WHERE "timestamp" = ?', [gone])
    assert stored_blocks(sqlite_db, KEY) == []  # the trigger dropped the series' blocks
    expected = np.delete(rows, 1000, axis=0)
    assert candles._load_blocks(sqlite_db, KEY, None, None) is None
    assert_same(candles.load_candles(*KEY), expected)
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_same(candles._load_blocks(sqlite_db, KEY, None, None), expected)


def test_values_changed_by_hand_are_what_loads(sqlite_db):
    rows = random_rows(minutes := T0 + np.arange(2 * BLOCK_CANDLES) * MINUTE_MS, seed=10)
    candles.insert_candles(*KEY, rows)
    sqlite_db.execute_sql(
        'UPDATE "candle" SET "close" = 1.5 WHERE "timestamp" = ?', [int(minutes[5])]
    )
    expected = rows.copy()
    expected[5, CLOSE] = 1.5
    assert_same(candles.load_candles(*KEY), expected)
    # INSERT OR REPLACE deletes and inserts without firing delete triggers; the insert one fires
    sqlite_db.execute_sql(
        'INSERT OR REPLACE INTO "candle" ("exchange", "symbol", "timeframe", "timestamp", "open", '
        '"close", "high", "low", "volume") VALUES (?, ?, ?, ?, 2.5, 2.5, 2.5, 2.5, 0)',
        [*KEY, int(minutes[2000])],
    )
    expected[2000, 1:] = [2.5, 2.5, 2.5, 2.5, 0.0]
    assert_same(candles.load_candles(*KEY), expected)
    assert_blocks_are_the_rows(sqlite_db, KEY)


def test_rows_without_blocks_load_from_rows_and_rebuild_the_range(sqlite_db):
    """A database written by an older jbt: rows, no blocks."""
    rows = random_rows(with_holes(6 * BLOCK_CANDLES, MINUTE_MS, seed=11), seed=11)
    with sqlite_db.atomic():
        sqlite_db.cursor().executemany(
            'INSERT INTO "candle" ("exchange", "symbol", "timeframe", "timestamp", "open", '
            '"close", "high", "low", "volume") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [(*KEY, int(r[0]), *r[1:]) for r in rows.tolist()],
        )
    assert stored_blocks(sqlite_db, KEY) == []
    start, end = T0 + DAY_MS + 77 * MINUTE_MS, T0 + 3 * DAY_MS + 5 * MINUTE_MS
    assert_same(candles.load_candles(*KEY, start, end), row_query(sqlite_db, KEY, start, end))
    # the blocks of days 1 to 3 were rebuilt whole; the other days still have none
    assert [s for s, _ in stored_blocks(sqlite_db, KEY)] == [T0 + d * DAY_MS for d in (1, 2, 3)]
    assert_same(
        candles._load_blocks(sqlite_db, KEY, start, end), row_query(sqlite_db, KEY, start, end)
    )
    assert candles._load_blocks(sqlite_db, KEY, None, None) is None
    # an insert into days without blocks but with rows rebuilds those days from the rows
    later = random_rows(T0 + 6 * DAY_MS + np.arange(10) * MINUTE_MS, seed=12)
    mixed = np.concatenate([rows[:50] + [0, 1, 1, 1, 1, 1], later])
    assert candles.insert_candles(*KEY, mixed) == 10
    assert_same(candles.load_candles(*KEY), np.concatenate([rows, later]))
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_every_range_matches(sqlite_db, KEY, seed=13)


@pytest.mark.parametrize(
    "damage",
    [
        'DELETE FROM "candle_block" WHERE "block_start" = {day1}',
        'UPDATE "candle_block" SET "count" = "count" - 1 WHERE "block_start" = {day1}',
        'UPDATE "candle_block" SET "data" = substr("data", 1, 480) WHERE "block_start" = {day1}',
    ],
)
def test_blocks_that_disagree_with_the_rows_are_not_used(sqlite_db, damage):
    rows = random_rows(with_holes(3 * BLOCK_CANDLES, MINUTE_MS, seed=14), seed=14)
    candles.insert_candles(*KEY, rows)
    sqlite_db.execute_sql(damage.format(day1=T0 + DAY_MS))
    assert candles._load_blocks(sqlite_db, KEY, None, None) is None
    assert_same(candles.load_candles(*KEY), rows)
    assert_blocks_are_the_rows(sqlite_db, KEY)


def test_an_insert_after_a_damaged_block_rebuilds_it(sqlite_db):
    rows = random_rows(T0 + np.arange(2 * BLOCK_CANDLES) * MINUTE_MS, seed=15)
    candles.insert_candles(*KEY, rows[::2])
    sqlite_db.execute_sql('UPDATE "candle_block" SET "count" = 0, "data" = X\'\'')
    assert candles.insert_candles(*KEY, rows) == len(rows) // 2
    assert_blocks_are_the_rows(sqlite_db, KEY)
    assert_same(candles.load_candles(*KEY), rows)


def test_a_rolled_back_insert_leaves_blocks_and_triggers_as_they_were(sqlite_db):
    rows = random_rows(T0 + np.arange(BLOCK_CANDLES + 10) * MINUTE_MS, seed=16)
    candles.insert_candles(*KEY, rows[:100])
    triggers = sqlite_db.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    ).fetchall()
    assert [name for name, _ in triggers] == [
        "candle_block_drop_on_delete",
        "candle_block_drop_on_insert",
        "candle_block_drop_on_update",
    ]
    with pytest.raises(RuntimeError, match="abort"):
        with sqlite_db.atomic():
            candles.insert_candles(*KEY, rows)
            candles.delete_candles(*KEY)
            raise RuntimeError("abort")
    assert (
        sqlite_db.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        ).fetchall()
        == triggers
    )
    assert stored_blocks(sqlite_db, KEY) == [(T0, 100)]
    assert_same(candles.load_candles(*KEY), rows[:100])


def test_negative_zero_loads_as_the_rows_give_it(sqlite_db):
    rows = random_rows(T0 + np.arange(3) * MINUTE_MS, seed=17)
    rows[1, OPEN] = -0.0
    candles.insert_candles(*KEY, rows)
    expected = row_query(sqlite_db, KEY)
    assert expected[1, OPEN] == 0.0 and not np.signbit(expected[1, OPEN])
    assert_same(candles.load_candles(*KEY), expected)
    assert_same(candles._load_blocks(sqlite_db, KEY, None, None), expected)


def test_a_cache_that_cannot_be_written_still_loads_the_rows(sqlite_db, monkeypatch):
    rows = random_rows(T0 + np.arange(50) * MINUTE_MS, seed=18)
    candles.insert_candles(*KEY, rows)
    sqlite_db.execute_sql('DELETE FROM "candle_block"')

    def refuse(*args):
        raise pw.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(candles, "_write_blocks", refuse)
    assert_same(candles.load_candles(*KEY, T0 + 5 * MINUTE_MS), rows[5:])
    assert stored_blocks(sqlite_db, KEY) == []


def test_postgres_keeps_no_blocks(db):
    rows = random_rows(T0 + np.arange(2 * BLOCK_CANDLES) * MINUTE_MS, seed=19)
    # whole cents: PostgreSQL's DECIMAL(38, 12) keeps them exactly (k / 100 is the correctly
    # rounded double, as parsing the decimal is), so both backends must give identical bytes
    rows[:, 1:] = np.round(rows[:, 1:] * 100) / 100
    candles.insert_candles(*KEY, rows)
    assert_same(candles.load_candles(*KEY), rows)
    blocks = db.execute_sql('SELECT COUNT(*) FROM "candle_block"').fetchone()[0]
    assert blocks == (0 if isinstance(db, pw.PostgresqlDatabase) else 2)


def test_prices_edited_inside_a_block_are_caught_by_its_checksum(sqlite_db):
    """Issue 16, finding 19: the count and the first and last time of a block still agree with
    the rows when only its prices change; its checksum does not, and the rows win."""
    rows = random_rows(T0 + np.arange(3 * BLOCK_CANDLES) * MINUTE_MS, seed=31)
    candles.insert_candles(*KEY, rows)
    day1 = T0 + DAY_MS
    data = sqlite_db.execute_sql('SELECT "data" FROM "candle_block" WHERE "block_start" = ?',
                                 [day1]).fetchone()[0]
    edited = np.frombuffer(data, dtype=np.float64).reshape(-1, 6).copy()
    edited[100:200, CLOSE] *= 1.5  # same length, same count, same first and last time
    sqlite_db.execute_sql('UPDATE "candle_block" SET "data" = ? WHERE "block_start" = ?',
                          [edited.tobytes(), day1])
    assert candles._load_blocks(sqlite_db, KEY, None, None) is None
    assert_same(candles.load_candles(*KEY), rows)
    assert_blocks_are_the_rows(sqlite_db, KEY)  # rebuilt from the rows
    assert candles._load_blocks(sqlite_db, KEY, None, None) is not None  # and trusted again


def test_blocks_of_a_database_without_checksums_are_rebuilt(tmp_path):
    """A database from before the checksum column gets the column on open; its blocks have no
    checksum and are rebuilt from the rows on the first load."""
    from jbt.models import close_database, open_database

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = open_database(url)
    rows = random_rows(T0 + np.arange(2 * BLOCK_CANDLES) * MINUTE_MS, seed=32)
    candles.insert_candles(*KEY, rows)
    db.execute_sql('ALTER TABLE "candle_block" DROP COLUMN "checksum"')
    close_database()
    db = open_database(url)
    try:
        assert [c.name for c in db.get_columns("candle_block")][-1] == "checksum"
        assert candles._load_blocks(db, KEY, None, None) is None
        assert_same(candles.load_candles(*KEY), rows)
        assert_blocks_are_the_rows(db, KEY)
        assert candles._load_blocks(db, KEY, None, None) is not None
    finally:
        close_database()
