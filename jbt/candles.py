"""The candle store: idempotent bulk insert, coverage and gap queries, load into numpy.

Rows live in the ``candle`` table of :mod:`jbt.models` (prices as decimals, timestamps as epoch
milliseconds of the candle's open time). In memory a candle set is a float64 array in
``[timestamp, open, close, high, low, volume]`` order (:mod:`jbt.constants`).

Every function works on the database bound by :func:`jbt.models.open_database`, SQLite or
PostgreSQL. The hot paths (insert, load) skip Peewee's per-row model conversion and talk to the
driver's cursor directly: a year of 1m candles goes in and comes out in about a second.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import peewee as pw

from jbt.constants import CANDLE_COLUMNS
from jbt.errors import InputError
from jbt.models import Candle, database_proxy
from jbt.timeframes import TIMEFRAMES, bar_open, normalize, to_ms

_TABLE = f'"{Candle._meta.table_name}"'
#: Stored column names in jbt's in-memory order.
_VALUE_COLUMNS = ('"open"', '"close"', '"high"', '"low"', '"volume"')
_KEY = '"exchange", "symbol", "timeframe"'
_ROW_DTYPE = np.dtype([(name, np.float64) for name in CANDLE_COLUMNS])
# Rows per statement when PostgreSQL gets multi-row VALUES lists.
_PG_PAGE = 5_000


@dataclass(frozen=True)
class CoverageRow:
    """What is stored for one (exchange, symbol, timeframe)."""

    exchange: str
    symbol: str
    timeframe: str
    first: int  # open time of the first stored candle, epoch ms
    last: int  # open time of the last stored candle, epoch ms
    count: int
    missing: int  # candles absent between first and last


def _db() -> pw.Database:
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("no database is open: call jbt.models.open_database(url) first")
    return db


def _is_postgres(db: pw.Database) -> bool:
    return isinstance(db, pw.PostgresqlDatabase)


def _sql_string(text: str) -> str:
    """A SQL string literal (quotes doubled); NUL and other control characters are refused."""
    if not text or any(ord(ch) < 32 for ch in text):
        raise InputError(f"invalid name {text!r} for exchange, symbol or timeframe")
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while hundreds of thousands of rows are built.

    Each row is a fresh container; without the pause the collector walks them repeatedly.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _where(
    db: pw.Database,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None,
    end: int | None,
) -> tuple[str, list]:
    p = db.param
    sql = f'"exchange" = {p} AND "symbol" = {p} AND "timeframe" = {p}'
    params: list = [exchange, symbol, normalize(timeframe)]
    if start is not None:
        sql += f' AND "timestamp" >= {p}'
        params.append(int(start))
    if end is not None:
        sql += f' AND "timestamp" <= {p}'
        params.append(int(end))
    return sql, params


def _check_rows(rows: np.ndarray, timeframe: str) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise InputError(f"candles must be an (n, 6) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InputError(f"candle row {bad} has a value that is not a finite number")
    ts = arr[:, 0]
    if (ts != np.floor(ts)).any() or (ts < 0).any():
        raise InputError("candle timestamps must be whole, non-negative epoch milliseconds")
    ts_int = ts.astype(np.int64)
    misaligned = np.flatnonzero(bar_open(ts_int, timeframe) != ts_int)
    if len(misaligned):
        raise InputError(f"candle timestamp {ts_int[misaligned[0]]} is not aligned to {timeframe}")
    return arr


def insert_candles(exchange: str, symbol: str, timeframe: str, rows: np.ndarray) -> int:
    """Insert candles, ignoring those already stored; return how many rows were new.

    ``rows`` is a float64 ``(n, 6)`` array in ``[timestamp, open, close, high, low, volume]``
    order. One transaction: either every new row is written or none (a savepoint when the caller
    already holds a transaction, so several calls can share one ``db.atomic()``).
    """
    timeframe = normalize(timeframe)
    arr = _check_rows(rows, timeframe)
    if len(arr) == 0:
        return 0
    db = _db()
    columns = f'{_KEY}, "timestamp", {", ".join(_VALUE_COLUMNS)}'
    conflict = f'ON CONFLICT ({_KEY}, "timestamp") DO NOTHING'
    with _gc_paused(), db.atomic():
        cursor = db.cursor()
        if _is_postgres(db):
            from psycopg2.extras import execute_values

            key = (exchange, symbol, timeframe)
            timestamps = arr[:, 0].astype(np.int64).tolist()
            params = [(*key, t, *v) for t, v in zip(timestamps, arr[:, 1:].tolist(), strict=True)]
            sql = f"INSERT INTO {_TABLE} ({columns}) VALUES %s {conflict} RETURNING 1"
            return len(execute_values(cursor, sql, params, page_size=_PG_PAGE, fetch=True))
        # SQLite: the key is the same for every row, so it is written into the statement once
        # and each row binds just its six numbers (a third less binding work per row). The
        # timestamp column's INTEGER affinity stores the whole-number floats as integers.
        key_sql = ", ".join(_sql_string(s) for s in (exchange, symbol, timeframe))
        sql = f"INSERT INTO {_TABLE} ({columns}) VALUES ({key_sql}, ?, ?, ?, ?, ?, ?) {conflict}"
        cursor.executemany(sql, arr.tolist())
        return cursor.rowcount


def load_candles(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None = None,
    end: int | None = None,
) -> np.ndarray:
    """Stored candles with open time in ``[start, end]`` (inclusive), sorted by time.

    One query; a C-contiguous float64 ``(n, 6)`` array in jbt's column order, ``(0, 6)`` when
    nothing matches.
    """
    db = _db()
    where, params = _where(db, exchange, symbol, timeframe, start, end)
    if _is_postgres(db):
        cols = ", ".join(f"CAST({c} AS DOUBLE PRECISION)" for c in _VALUE_COLUMNS)
    else:
        cols = ", ".join(_VALUE_COLUMNS)
    sql = f'SELECT "timestamp", {cols} FROM {_TABLE} WHERE {where} ORDER BY "timestamp"'
    with _gc_paused():
        cursor = db.execute_sql(sql, params)
        records = np.fromiter(cursor, dtype=_ROW_DTYPE)
    return records.view(np.float64).reshape(-1, 6)


def count_candles(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None = None,
    end: int | None = None,
) -> int:
    """How many candles are stored with open time in ``[start, end]``."""
    db = _db()
    where, params = _where(db, exchange, symbol, timeframe, start, end)
    return int(db.execute_sql(f"SELECT COUNT(*) FROM {_TABLE} WHERE {where}", params).fetchone()[0])


def stored_ranges(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None = None,
    end: int | None = None,
) -> list[tuple[int, int]]:
    """Maximal runs of consecutive stored candles as ``(first_ts, last_ts)``, inclusive.

    One query for the timestamps (read from the unique index alone), then the runs are split
    where the step between neighbours is not the timeframe. Faster than a window function in
    SQL on SQLite, and the same on both databases.
    """
    db = _db()
    step = to_ms(timeframe)
    where, params = _where(db, exchange, symbol, timeframe, start, end)
    sql = f'SELECT "timestamp" FROM {_TABLE} WHERE {where} ORDER BY "timestamp"'
    with _gc_paused():
        ts = np.fromiter((row[0] for row in db.execute_sql(sql, params)), dtype=np.int64)
    if len(ts) == 0:
        return []
    breaks = np.flatnonzero(np.diff(ts) != step)
    firsts = ts[np.r_[0, breaks + 1]].tolist()
    lasts = ts[np.r_[breaks, len(ts) - 1]].tolist()
    return list(zip(firsts, lasts, strict=True))


def missing_ranges(
    exchange: str, symbol: str, timeframe: str, start: int, end: int
) -> list[tuple[int, int]]:
    """Holes in ``[start, end]`` as ``(first_missing_ts, last_missing_ts)``, inclusive.

    ``start`` is rounded up and ``end`` down to the timeframe's grid of open times.
    """
    timeframe = normalize(timeframe)
    step = to_ms(timeframe)
    first = int(bar_open(int(start), timeframe))
    if first < int(start):
        first += step
    last = int(bar_open(int(end), timeframe))
    if last < first:
        return []
    holes: list[tuple[int, int]] = []
    cursor = first
    for run_first, run_last in stored_ranges(exchange, symbol, timeframe, first, last):
        if run_first > cursor:
            holes.append((cursor, run_first - step))
        cursor = run_last + step
    if cursor <= last:
        holes.append((cursor, last))
    return holes


def coverage() -> list[CoverageRow]:
    """One row per stored (exchange, symbol, timeframe), sorted by those three."""
    db = _db()
    sql = (
        f'SELECT {_KEY}, MIN("timestamp"), MAX("timestamp"), COUNT(*) FROM {_TABLE} '
        f"GROUP BY {_KEY} ORDER BY {_KEY}"
    )
    rows = []
    for exchange, symbol, timeframe, first, last, count in db.execute_sql(sql).fetchall():
        step = TIMEFRAMES.get(timeframe)
        expected = (int(last) - int(first)) // step + 1 if step else int(count)
        rows.append(
            CoverageRow(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                first=int(first),
                last=int(last),
                count=int(count),
                missing=max(expected - int(count), 0),
            )
        )
    return rows


def stored_timeframes(exchange: str, symbol: str) -> list[str]:
    """Timeframes stored for a symbol, finest first (the engine loads the finest as its base)."""
    db = _db()
    p = db.param
    sql = f'SELECT DISTINCT "timeframe" FROM {_TABLE} WHERE "exchange" = {p} AND "symbol" = {p}'
    found = [row[0] for row in db.execute_sql(sql, [exchange, symbol]).fetchall()]
    return sorted(found, key=lambda tf: (TIMEFRAMES.get(tf, float("inf")), tf))


def delete_candles(exchange: str, symbol: str, timeframe: str) -> int:
    """Remove every stored candle of one (exchange, symbol, timeframe); return how many."""
    db = _db()
    where, params = _where(db, exchange, symbol, timeframe, None, None)
    with db.atomic():
        return db.execute_sql(f"DELETE FROM {_TABLE} WHERE {where}", params).rowcount
