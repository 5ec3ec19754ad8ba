"""The candle store: idempotent bulk insert, coverage and gap queries, load into numpy.

Rows live in the ``candle`` table of :mod:`jbt.models` (prices as decimals, timestamps as epoch
milliseconds of the candle's open time). In memory a candle set is a float64 array in
``[timestamp, open, close, high, low, volume]`` order (:mod:`jbt.constants`).

Every function works on the database bound by :func:`jbt.models.open_database`, SQLite or
PostgreSQL. The hot paths (insert, load) skip Peewee's per-row model conversion and talk to the
driver's cursor directly.

On SQLite the store also keeps a packed read cache, ``candle_block``
(:class:`jbt.models.CandleBlock`): the candles of each day-sized block (1440 candles of the
timeframe) as one float64 blob, written by ``insert_candles`` and ``delete_candles`` in the same
transaction as the rows. ``load_candles`` reads the blocks (one query, ``np.frombuffer``) instead
of building a Python object for each of millions of values, and checks them first: each block's
CRC-32 checksum of its contents (written with it), then, against the rows, the count of rows in
the range and its first and last open time, read from the primary key. Blocks that disagree (a
database written by an older jbt, a block whose bytes were edited) make it read the rows, as
before, and rebuild those blocks. Changes to the rows made outside the store (another program, a hand
edit in the sqlite3 shell, even an ``UPDATE`` that keeps the count) fire triggers that delete the
series' blocks, so a stale block is never read. PostgreSQL stores prices as DECIMAL(38,12), which
rounds, so its rows could differ from a blob of the inserted floats: there the store writes and
reads no blocks, and ``load_candles`` always reads the rows.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np
import peewee as pw

from jbt.constants import CANDLE_COLUMNS, HOUR_MS
from jbt.dates import format_ms, now_ms
from jbt.errors import InputError
from jbt.models import (
    BLOCK_CANDLES,
    CANDLE_BLOCK_TRIGGERS,
    Candle,
    CandleBlock,
    database_proxy,
    small_page_cache,
)
from jbt.timeframes import TIMEFRAMES, bar_open, normalize, to_ms

_TABLE = f'"{Candle._meta.table_name}"'
_BLOCKS = f'"{CandleBlock._meta.table_name}"'
#: Stored column names in jbt's in-memory order.
_VALUE_COLUMNS = ('"open"', '"close"', '"high"', '"low"', '"volume"')
_KEY = '"exchange", "symbol", "timeframe"'
_ROW_DTYPE = np.dtype([(name, np.float64) for name in CANDLE_COLUMNS])
# Rows per statement when PostgreSQL gets multi-row VALUES lists.
_PG_PAGE = 5_000
#: How far after now a candle may open (clocks differ); a later one is refused: no exchange
#: has it, and a backtest must never stretch its period to it.
FUTURE_TOLERANCE_MS = HOUR_MS


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


def _write_transaction(db: pw.Database) -> AbstractContextManager:
    """``db.atomic()``; on SQLite a transaction of its own begins IMMEDIATE.

    It takes the write lock before its first read (waiting out other writers), so reading the
    blocks and then writing never fails with "database is locked" because another connection
    wrote in between.
    """
    return db.atomic() if _is_postgres(db) else db.atomic("IMMEDIATE")


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
    future = np.flatnonzero(ts_int > now_ms() + FUTURE_TOLERANCE_MS)
    if len(future):
        raise InputError(
            f"a candle opens at {format_ms(int(ts_int[future[0]]))} UTC, in the future: no "
            "exchange has it yet, so nothing was stored (is the timestamp in the right unit?)"
        )
    return arr


# --- the packed read cache (SQLite only) -----------------------------------------------------

_BLOCK_COLUMNS = '"exchange", "symbol", "timeframe", "block_start", "count", "data", "checksum"'
_ROW_BYTES = 6 * 8
_EMPTY_ROWS = np.empty((0, 6), dtype=np.float64)


def block_checksum(key: tuple[str, str, str], block_start: int, count: int, data: bytes) -> int:
    """CRC-32 of a block: its key, start and count, then its packed candles."""
    head = "\x1f".join((*key, str(int(block_start)), str(int(count)))).encode()
    return zlib.crc32(data, zlib.crc32(head))


def _block_ms(timeframe: str) -> int:
    return BLOCK_CANDLES * to_ms(timeframe)


def _key_where(db: pw.Database) -> str:
    p = db.param
    return f'"exchange" = {p} AND "symbol" = {p} AND "timeframe" = {p}'


@contextmanager
def _store_writing(db: pw.Database, event: str) -> Iterator[None]:
    """Write ``candle`` rows (``event``: INSERT or DELETE) without the invalidation trigger.

    The store keeps the blocks right itself. Call inside a transaction: the trigger is dropped
    and created again within it (SQLite's schema changes are transactional), so every other
    connection sees it in place; on an error the rollback restores it.
    """
    db.execute_sql(f"DROP TRIGGER IF EXISTS candle_block_drop_on_{event.lower()}")
    yield
    db.execute_sql(CANDLE_BLOCK_TRIGGERS[event])


def _blocks_where(
    db: pw.Database, key: tuple[str, str, str], first: int | None, last: int | None
) -> tuple[str, list]:
    """WHERE clause and parameters for the key's blocks starting in ``[first, last]``."""
    p = db.param
    sql = _key_where(db)
    params: list = list(key)
    if first is not None:
        sql += f' AND "block_start" >= {p}'
        params.append(first)
    if last is not None:
        sql += f' AND "block_start" <= {p}'
        params.append(last)
    return sql, params


def _read_blocks(
    db: pw.Database, key: tuple[str, str, str], first: int | None, last: int | None
) -> list[np.ndarray] | None:
    """The arrays of the key's blocks starting in ``[first, last]``, in time order.

    ``None`` when a block's blob does not hold ``count`` rows or does not match its checksum (not
    written by this store, or changed since).
    """
    where, params = _blocks_where(db, key, first, last)
    sql = (f'SELECT "block_start", "count", "data", "checksum" FROM {_BLOCKS} WHERE {where} '
           'ORDER BY "block_start"')
    arrays = []
    for block_start, count, data, checksum in db.execute_sql(sql, params):
        if len(data) != count * _ROW_BYTES:
            return None
        if checksum is None or checksum != block_checksum(key, block_start, count, data):
            return None
        arrays.append(np.frombuffer(data, dtype=np.float64).reshape(count, 6))
    return arrays


def _block_params(key: tuple[str, str, str], rows: np.ndarray, block_ms: int) -> Iterator[tuple]:
    """``candle_block`` rows for time-sorted candles: one per block they fall in."""
    if len(rows) == 0:
        return
    starts = rows[:, 0].astype(np.int64) // block_ms * block_ms
    edges = np.flatnonzero(starts[1:] != starts[:-1]) + 1
    for lo, hi in zip(np.r_[0, edges].tolist(), np.r_[edges, len(rows)].tolist(), strict=True):
        data = np.ascontiguousarray(rows[lo:hi]).tobytes()
        start = int(starts[lo])
        yield (*key, start, hi - lo, data, block_checksum(key, start, hi - lo, data))


def _write_blocks(db: pw.Database, key: tuple[str, str, str], rows: np.ndarray) -> None:
    """Store (or replace) the blocks of time-sorted candles ``rows``."""
    p = db.param
    sql = (
        f"INSERT INTO {_BLOCKS} ({_BLOCK_COLUMNS}) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
        f'ON CONFLICT ({_KEY}, "block_start") DO UPDATE '
        'SET "count" = excluded."count", "data" = excluded."data", '
        '"checksum" = excluded."checksum"'
    )
    db.cursor().executemany(sql, _block_params(key, rows, _block_ms(key[2])))


def _rebuild_blocks(
    db: pw.Database, key: tuple[str, str, str], first: int | None, last: int | None
) -> np.ndarray:
    """Rewrite the key's blocks starting in ``[first, last]`` from the rows; return those rows.

    ``first`` and ``last`` are block starts (``None``: unbounded). Call inside a transaction.
    """
    end = None if last is None else last + _block_ms(key[2]) - 1
    rows = _query_rows(db, *key, first, end)
    where, params = _blocks_where(db, key, first, last)
    db.execute_sql(f"DELETE FROM {_BLOCKS} WHERE {where}", params)
    _write_blocks(db, key, rows)
    return rows


def _trusted_blocks(
    db: pw.Database, key: tuple[str, str, str], ts: np.ndarray
) -> tuple[int, int, np.ndarray | None]:
    """Before an insert of candles with open times ``ts``: the span of blocks they fall in
    (first and last block start) and the rows of the stored blocks in it, or ``None`` when
    those are not every stored row of the span (blocks missing or not written by this store).
    """
    block_ms = _block_ms(key[2])
    first = int(ts.min()) // block_ms * block_ms
    last = int(ts.max()) // block_ms * block_ms
    arrays = _read_blocks(db, key, first, last)
    if arrays is None:
        return first, last, None
    stored = np.concatenate(arrays) if arrays else _EMPTY_ROWS
    if count_candles(*key, first, last + block_ms - 1) != len(stored):
        return first, last, None
    return first, last, stored


def _merge_into_blocks(
    db: pw.Database,
    key: tuple[str, str, str],
    arr: np.ndarray,
    inserted: int,
    span: tuple[int, int, np.ndarray | None],
) -> None:
    """After an insert of ``arr`` that wrote ``inserted`` rows: update the blocks it touched.

    The rows written are the first occurrence of each timestamp not stored before, so with the
    span's blocks trusted (``span`` from :func:`_trusted_blocks`) they are the timestamps not in
    those blocks: merged in, sorted, written back. When that is not ``inserted`` rows, or the
    blocks were not trusted, the span's blocks are rebuilt from the rows.
    """
    first, last, stored = span
    if stored is None:
        _rebuild_blocks(db, key, first, last)
        return
    block_ms = _block_ms(key[2])
    unique_ts, first_index = np.unique(arr[:, 0].astype(np.int64), return_index=True)
    stored_ts = stored[:, 0].astype(np.int64)
    at = np.minimum(np.searchsorted(stored_ts, unique_ts), max(len(stored_ts) - 1, 0))
    known = stored_ts[at] == unique_ts if len(stored_ts) else np.zeros(len(unique_ts), bool)
    # + 0.0 turns -0.0 into 0.0, as SQLite's NUMERIC columns do
    new = arr[first_index[~known]] + 0.0
    if len(new) != inserted:
        _rebuild_blocks(db, key, first, last)
        return
    if len(new) == 0:
        return
    if len(stored) == 0:  # new blocks only; ``new`` is sorted by time already
        _write_blocks(db, key, new)
        return
    touched = np.unique(new[:, 0].astype(np.int64) // block_ms * block_ms)
    keep = np.isin(stored_ts // block_ms * block_ms, touched)
    merged = np.concatenate([stored[keep], new])
    merged = merged[np.argsort(merged[:, 0], kind="stable")]
    _write_blocks(db, key, merged)


def _load_blocks(
    db: pw.Database, key: tuple[str, str, str], start: int | None, end: int | None
) -> np.ndarray | None:
    """The candles in ``[start, end]`` from the blocks, or ``None`` when they disagree with the
    rows (count, first and last open time in the range)."""
    block_ms = _block_ms(key[2])
    first = None if start is None else start // block_ms * block_ms
    last = None if end is None else end // block_ms * block_ms
    arrays = _read_blocks(db, key, first, last)
    if arrays is None:
        return None
    if arrays and start is not None:
        arrays[0] = arrays[0][np.searchsorted(arrays[0][:, 0], start) :]
    if arrays and end is not None:
        arrays[-1] = arrays[-1][: np.searchsorted(arrays[-1][:, 0], end, side="right")]
    out = np.concatenate(arrays) if arrays else np.empty((0, 6), dtype=np.float64)
    where, params = _where(db, *key, start, end)
    check = (
        f"SELECT (SELECT COUNT(*) FROM {_TABLE} WHERE {where}), "
        f'(SELECT MIN("timestamp") FROM {_TABLE} WHERE {where}), '
        f'(SELECT MAX("timestamp") FROM {_TABLE} WHERE {where})'
    )
    count, low, high = db.execute_sql(check, params * 3).fetchone()
    if count != len(out):
        return None
    if count and (low != out[0, 0] or high != out[-1, 0]):
        return None
    return out


def insert_candles(exchange: str, symbol: str, timeframe: str, rows: np.ndarray) -> int:
    """Insert candles, ignoring those already stored; return how many rows were new.

    ``rows`` is a float64 ``(n, 6)`` array in ``[timestamp, open, close, high, low, volume]``
    order. One transaction: either every new row is written or none (a savepoint when the caller
    already holds a transaction, so several calls can share one ``db.atomic()``). On SQLite the
    same transaction merges the new rows into their blocks of the read cache.
    """
    timeframe = normalize(timeframe)
    arr = _check_rows(rows, timeframe)
    if len(arr) == 0:
        return 0
    db = _db()
    columns = f'{_KEY}, "timestamp", {", ".join(_VALUE_COLUMNS)}'
    conflict = f'ON CONFLICT ({_KEY}, "timestamp") DO NOTHING'
    with _gc_paused(), _write_transaction(db):
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
        key = (exchange, symbol, timeframe)
        span = _trusted_blocks(db, key, arr[:, 0])
        with _store_writing(db, "INSERT"):
            cursor.executemany(sql, arr.tolist())
            inserted = cursor.rowcount
        _merge_into_blocks(db, key, arr, inserted, span)
        return inserted


def _query_rows(
    db: pw.Database,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None,
    end: int | None,
) -> np.ndarray:
    """The candle rows in ``[start, end]``, sorted by time, read row by row."""
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


def load_candles(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: int | None = None,
    end: int | None = None,
) -> np.ndarray:
    """Stored candles with open time in ``[start, end]`` (inclusive), sorted by time.

    A C-contiguous float64 ``(n, 6)`` array in jbt's column order, ``(0, 6)`` when nothing
    matches. On SQLite it comes from the blocks of the read cache when they agree with the rows;
    otherwise (and on PostgreSQL) from one query on the rows, after which SQLite rebuilds the
    blocks of the range so the next load is fast. Both give the same array.
    """
    db = _db()
    if _is_postgres(db):
        return _query_rows(db, exchange, symbol, timeframe, start, end)
    key = (exchange, symbol, normalize(timeframe))
    start = None if start is None else int(start)
    end = None if end is None else int(end)
    # a year of 1m candles is 25 MB of blocks and the primary key's pages, each read once
    with small_page_cache(db):
        return _load_sqlite(db, key, start, end)


def _load_sqlite(
    db: pw.Database, key: tuple[str, str, str], start: int | None, end: int | None
) -> np.ndarray:
    try:
        with db.atomic():  # one snapshot for the blocks and the rows they are checked against
            loaded = _load_blocks(db, key, start, end)
    except pw.OperationalError:  # blocks of an older schema in a database that cannot migrate
        loaded = None
    if loaded is not None:
        return loaded
    block_ms = _block_ms(key[2])
    first = None if start is None else start // block_ms * block_ms
    last = None if end is None else end // block_ms * block_ms
    try:
        with _write_transaction(db):  # the rows, and the blocks rebuilt from them
            rows = _rebuild_blocks(db, key, first, last)
    except pw.OperationalError:
        # a read-only or busy database: answer from the rows, leave the cache for later
        return _query_rows(db, *key, start, end)
    lo = 0 if start is None else int(np.searchsorted(rows[:, 0], start))
    hi = len(rows) if end is None else int(np.searchsorted(rows[:, 0], end, side="right"))
    return rows if (lo, hi) == (0, len(rows)) else rows[lo:hi].copy()


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


def last_timestamp(exchange: str, symbol: str, timeframe: str,
                   before: int | None = None) -> int | None:
    """Open time of the last stored candle (of those opening before ``before``), from the
    primary key; ``None`` when there is none."""
    db = _db()
    where, params = _where(db, exchange, symbol, timeframe, None, None)
    if before is not None:
        where += f' AND "timestamp" < {db.param}'
        params.append(int(before))
    row = db.execute_sql(f'SELECT MAX("timestamp") FROM {_TABLE} WHERE {where}', params).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _distinct(column: str, where: str = "", params: tuple = ()) -> list[str]:
    """The distinct values of a key column, in order, by one index seek per value (a loose
    index scan), instead of reading every row as ``SELECT DISTINCT`` does."""
    db = _db()
    p = db.param
    cond = f"{where} AND " if where else ""
    out: list[str] = []
    while True:
        after = f'"{column}" > {p}' if out else "1 = 1"
        sql = f'SELECT MIN("{column}") FROM {_TABLE} WHERE {cond}{after}'
        row = db.execute_sql(sql, [*params, *out[-1:]]).fetchone()
        if row is None or row[0] is None:
            return out
        out.append(row[0])


def stored_symbols() -> list[tuple[str, str]]:
    """Every stored (exchange, symbol), sorted."""
    p = _db().param
    return [(e, s) for e in _distinct("exchange")
            for s in _distinct("symbol", f'"exchange" = {p}', (e,))]


def stored_timeframes(exchange: str, symbol: str) -> list[str]:
    """Timeframes stored for a symbol, finest first (the engine loads the finest as its base)."""
    p = _db().param
    found = _distinct("timeframe", f'"exchange" = {p} AND "symbol" = {p}', (exchange, symbol))
    return sorted(found, key=lambda tf: (TIMEFRAMES.get(tf, float("inf")), tf))


def delete_candles(exchange: str, symbol: str, timeframe: str) -> int:
    """Remove every stored candle of one (exchange, symbol, timeframe); return how many.

    On SQLite the series' blocks of the read cache go in the same transaction.
    """
    db = _db()
    where, params = _where(db, exchange, symbol, timeframe, None, None)
    with _write_transaction(db):
        if _is_postgres(db):
            return db.execute_sql(f"DELETE FROM {_TABLE} WHERE {where}", params).rowcount
        with _store_writing(db, "DELETE"):
            deleted = db.execute_sql(f"DELETE FROM {_TABLE} WHERE {where}", params).rowcount
            db.execute_sql(f"DELETE FROM {_BLOCKS} WHERE {where}", params)
        return deleted
