"""Candle store speed: one year of seeded 1m candles into a fresh SQLite file and back.

Prints the insert rate (target >= 200,000 candles/s), the rate of a re-insert where every row
is already stored, and the time to load the year into a numpy array (target <= 0.5 s).

    python bench/bench_candles.py [--rows 525600] [--repeat 3] [--database-url URL]

``--database-url`` runs the same steps on another database (e.g. ``postgresql://...``); its
candle table should be empty.

On SQLite the load reads the store's packed read cache (``candle_block``: each day of candles as
one float64 blob, written by the insert in the same transaction as the rows) and checks it
against the rows with a count and the first and last open time; PostgreSQL reads the rows.

Why a cache (SQLite 3.40, Python 3.11, 2 cores, CPU seconds for the year): reading the rows,
SQLite decodes every column in ~0.12 s, but Python's sqlite3 turning 3.15M values into tuples of
int/float costs ~0.6 s more (a bare fetchall 0.63 s); ``PRAGMA mmap_size``, an ``immutable=1``
URI, fetchmany batches, a self-join, group_concat, two threads and a forked loader were no
faster. From the blocks the load is one query of 365 blobs, ``np.frombuffer`` and one
concatenation, plus the check's ``COUNT(*)`` over the primary key (~0.05 s): ~0.06 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from jbt import candles
from jbt.constants import MINUTE_MS
from jbt.models import close_database, open_database

YEAR_OF_MINUTES = 365 * 24 * 60  # 525,600
START = 1_577_836_800_000  # 2020-01-01 00:00 UTC


def seeded_year(n: int, seed: int = 42) -> np.ndarray:
    """``n`` 1m candles from 2020-01-01 with a random-walk close, prices to the cent."""
    rng = np.random.default_rng(seed)
    ts = START + np.arange(n, dtype=np.int64) * MINUTE_MS
    close = np.round(7000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n))), 2)
    open_ = np.r_[close[0], close[:-1]]
    high = np.round(np.maximum(open_, close) * (1 + rng.random(n) * 0.001), 2)
    low = np.round(np.minimum(open_, close) * (1 - rng.random(n) * 0.001), 2)
    volume = np.round(rng.gamma(2.0, 5.0, n), 6)
    return np.column_stack([ts.astype(np.float64), open_, close, high, low, volume])


def timed(fn):
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=YEAR_OF_MINUTES)
    parser.add_argument("--repeat", type=int, default=3, help="loads to time (best is shown)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    rows = seeded_year(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        database = open_database(url)
        try:
            key = ("binance", "BTC-USDT", "1m")
            inserted, insert_s = timed(lambda: candles.insert_candles(*key, rows))
            again, reinsert_s = timed(lambda: candles.insert_candles(*key, rows))
            loads = [timed(lambda: candles.load_candles(*key)) for _ in range(args.repeat)]
            loaded, load_s = loads[0][0], min(s for _, s in loads)
            rows_only, rows_load_s = timed(
                lambda: candles._query_rows(database, *key, None, None)
            )
            ranges, ranges_s = timed(lambda: candles.stored_ranges(*key))
            (row,), coverage_s = timed(candles.coverage)
            assert inserted == len(rows) and again == 0, (inserted, again)
            assert np.array_equal(loaded, rows), "loaded candles differ from the inserted ones"
            assert loaded.tobytes() == rows_only.tobytes(), "the cache differs from the rows"
            assert ranges == [(START, START + (len(rows) - 1) * MINUTE_MS)] and row.missing == 0
            candles.delete_candles(*key)
        finally:
            close_database()

    database = "sqlite (fresh file)" if args.database_url is None else url.split(":", 1)[0]
    print(f"database               {database}")
    print(f"rows                   {len(rows):,}")
    print(f"insert                 {insert_s:.2f} s  {len(rows) / insert_s:,.0f} candles/s")
    print(f"re-insert (all stored) {reinsert_s:.2f} s  {len(rows) / reinsert_s:,.0f} candles/s")
    print(f"load into numpy        {load_s:.2f} s  (best of {args.repeat})")
    print(f"  the row query alone  {rows_load_s:.2f} s  (what a load without the cache costs)")
    print(f"stored_ranges          {ranges_s:.2f} s")
    print(f"coverage               {coverage_s:.2f} s")


if __name__ == "__main__":
    main()
