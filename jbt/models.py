"""Peewee models and the deferred database.

Nothing connects or creates tables at import time: ``open_database(url)`` does both, at the edge
(a CLI command, the API's startup). SQLite is the default (one file, WAL mode); a
``postgresql://`` URL selects PostgreSQL through the same models.

Prices and volumes are ``DecimalField``s; every timestamp is an integer, UTC epoch milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw

from jbt.errors import ConfigError

#: The models' database, bound by ``open_database``. A proxy, so importing opens nothing.
database_proxy = pw.DatabaseProxy()

_PRICE = {"max_digits": 38, "decimal_places": 12, "auto_round": True}


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy


class Candle(BaseModel):
    """One stored candle; (exchange, symbol, timeframe, timestamp) is its primary key.

    On SQLite the table is created WITHOUT ROWID (see ``open_database``): rows live in key
    order in one B-tree, which makes bulk inserts and ordered range reads faster.
    """

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    timeframe = pw.CharField(max_length=8)
    timestamp = pw.BigIntegerField()  # open time, epoch ms UTC
    open = pw.DecimalField(**_PRICE)
    high = pw.DecimalField(**_PRICE)
    low = pw.DecimalField(**_PRICE)
    close = pw.DecimalField(**_PRICE)
    volume = pw.DecimalField(**_PRICE)

    class Meta:
        table_name = "candle"
        primary_key = pw.CompositeKey("exchange", "symbol", "timeframe", "timestamp")


class CandleBlock(BaseModel):
    """A packed read cache of candle rows, owned by :mod:`jbt.candles` (SQLite only).

    One row holds the stored candles of one (exchange, symbol, timeframe) whose open time falls
    in ``[block_start, block_start + BLOCK_CANDLES * timeframe)``: ``data`` is their float64
    ``(count, 6)`` array in jbt's column order, sorted by time, as bytes. Derived data: the
    ``candle`` rows stay the source of truth; the store writes a block in the same transaction
    as its rows, and the triggers of ``open_database`` drop a series' blocks when its rows are
    changed by anything else (an older jbt, a hand edit). PostgreSQL has the table but never
    fills it.
    """

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    timeframe = pw.CharField(max_length=8)
    block_start = pw.BigIntegerField()  # epoch ms, a multiple of BLOCK_CANDLES * timeframe
    count = pw.IntegerField()
    data = pw.BlobField()
    #: CRC-32 of the key, ``block_start``, ``count`` and ``data`` (``jbt.candles``): a block
    #: whose bytes were changed by anything but the store no longer matches and is rebuilt.
    checksum = pw.BigIntegerField(null=True)

    class Meta:
        table_name = "candle_block"
        primary_key = pw.CompositeKey("exchange", "symbol", "timeframe", "block_start")


#: Candles per block: a UTC day of 1m candles.
BLOCK_CANDLES = 1440


def _drop_blocks(row: str) -> str:
    return (
        f"DELETE FROM candle_block WHERE exchange = {row}.exchange AND symbol = {row}.symbol "
        f"AND timeframe = {row}.timeframe;"
    )


#: SQLite triggers by event: a change to ``candle`` rows deletes the blocks of the series it
#: touches, whoever makes it (an older jbt, the sqlite3 shell, ``INSERT OR REPLACE``). The
#: candle store drops the trigger of its own write inside its transaction and creates it again
#: before that transaction ends, so no other connection ever sees it missing.
CANDLE_BLOCK_TRIGGERS = {
    event: (
        f"CREATE TRIGGER IF NOT EXISTS candle_block_drop_on_{event.lower()} "
        f"AFTER {event} ON candle FOR EACH ROW BEGIN {body} END"
    )
    for event, body in (
        ("INSERT", _drop_blocks("NEW")),
        ("UPDATE", _drop_blocks("OLD") + " " + _drop_blocks("NEW")),
        ("DELETE", _drop_blocks("OLD")),
    )
}


class CandleGap(BaseModel):
    """Minutes an exchange answered without candles, so a re-run of the import skips them.

    ``start`` and ``end`` are the first and last missing open times, inclusive, epoch ms.
    Written by :mod:`jbt.modes.import_candles_mode` in the same transaction as the candles of
    the window that came back without them, and only for minutes settled well before the
    request (the exchange may still publish the most recent ones). ``import-candles
    --refetch-gaps`` asks for them again and trims the rows to what is still missing.
    """

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    timeframe = pw.CharField(max_length=8)
    start = pw.BigIntegerField()
    end = pw.BigIntegerField()

    class Meta:
        table_name = "candle_gap"
        primary_key = pw.CompositeKey("exchange", "symbol", "timeframe", "start")


class SymbolListing(BaseModel):
    """The open time of the first 1m candle an exchange has for a symbol, as it answered."""

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    listing = pw.BigIntegerField()  # epoch ms

    class Meta:
        table_name = "symbol_listing"
        primary_key = pw.CompositeKey("exchange", "symbol")


class FundingRate(BaseModel):
    """One funding event of a perpetual contract, as the exchange published it.

    Written by :mod:`jbt.funding` (``jbt import-candles binance-futures SYMBOL START --funding``
    or the archive's monthly files). ``interval_ms`` is the period the rate covers: stated by
    the exchange's files (``interval_source = "exchange"``) or inferred from the times of the
    events around it (``"inferred"``, recomputed whenever events are added).
    """

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    timestamp = pw.BigIntegerField()  # funding time, epoch ms UTC, as the exchange gave it
    rate = pw.DoubleField()  # 0.0001 = 0.01%: longs pay shorts when positive
    interval_ms = pw.BigIntegerField()
    interval_source = pw.CharField(max_length=16)
    mark_price = pw.DoubleField(null=True)  # the mark price the exchange settled at, if given

    class Meta:
        table_name = "funding_rate"
        primary_key = pw.CompositeKey("exchange", "symbol", "timestamp")


class FundingSpan(BaseModel):
    """Times the funding import asked the exchange about and stored the answer of, inclusive
    epoch ms, so a re-run asks only for the rest (the last hour is never recorded: the exchange
    may still publish it)."""

    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    start = pw.BigIntegerField()
    end = pw.BigIntegerField()

    class Meta:
        table_name = "funding_span"
        primary_key = pw.CompositeKey("exchange", "symbol", "start")


class ArchiveFile(BaseModel):
    """A file of an exchange's public archive whose rows were imported (checksum verified).

    ``first`` and ``last`` bound the part of the file's period that was imported (inclusive,
    epoch ms); a re-run downloads the file again only for a part outside them.
    """

    exchange = pw.CharField(max_length=64)
    dataset = pw.CharField(max_length=32)  # klines, markPriceKlines, fundingRate
    symbol = pw.CharField(max_length=64)
    name = pw.CharField(max_length=128)  # BTCUSDT-1m-2020-01.zip
    sha256 = pw.CharField(max_length=64)
    first = pw.BigIntegerField()
    last = pw.BigIntegerField()
    rows = pw.IntegerField()
    imported_at = pw.BigIntegerField()  # epoch ms

    class Meta:
        table_name = "archive_file"
        primary_key = pw.CompositeKey("exchange", "dataset", "symbol", "name")


class BacktestSession(BaseModel):
    created_at = pw.BigIntegerField()  # epoch ms
    status = pw.CharField(max_length=16, default="running")  # running | finished | failed
    duration_s = pw.DoubleField(default=0.0)
    start = pw.BigIntegerField(null=True)
    end = pw.BigIntegerField(null=True)
    routes = pw.TextField(default="[]")  # JSON list of routes
    config = pw.TextField(default="{}")  # JSON snapshot of the config used
    metrics = pw.TextField(default="{}")  # JSON name -> number
    equity = pw.TextField(default="[]")  # JSON [[time, equity], ...]
    starting_balance = pw.DecimalField(**_PRICE, null=True)
    finishing_balance = pw.DecimalField(**_PRICE, null=True)
    error = pw.TextField(null=True)

    class Meta:
        table_name = "backtest_session"


class Order(BaseModel):
    session = pw.ForeignKeyField(BacktestSession, backref="orders", on_delete="CASCADE")
    order_id = pw.IntegerField()
    route = pw.CharField(max_length=255)
    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    side = pw.CharField(max_length=8)
    type = pw.CharField(max_length=16)
    role = pw.CharField(max_length=16)
    qty = pw.DecimalField(**_PRICE)
    price = pw.DecimalField(**_PRICE, null=True)
    status = pw.CharField(max_length=16)
    created_at = pw.BigIntegerField()
    filled_at = pw.BigIntegerField(null=True)
    fill_price = pw.DecimalField(**_PRICE, null=True)
    fee = pw.DecimalField(**_PRICE, default=0)
    reduce_only = pw.BooleanField(default=False)

    class Meta:
        table_name = "order"


class Trade(BaseModel):
    """One fill: a part of an order executed at one price and time."""

    session = pw.ForeignKeyField(BacktestSession, backref="fills", on_delete="CASCADE")
    order_id = pw.IntegerField()
    route = pw.CharField(max_length=255)
    side = pw.CharField(max_length=8)
    qty = pw.DecimalField(**_PRICE)
    price = pw.DecimalField(**_PRICE)
    fee = pw.DecimalField(**_PRICE, default=0)
    timestamp = pw.BigIntegerField()

    class Meta:
        table_name = "trade"


class ClosedTrade(BaseModel):
    """A position from open to flat; ``pnl`` is net of fees."""

    session = pw.ForeignKeyField(BacktestSession, backref="closed_trades", on_delete="CASCADE")
    trade_id = pw.IntegerField()
    route = pw.CharField(max_length=255)
    exchange = pw.CharField(max_length=64)
    symbol = pw.CharField(max_length=64)
    timeframe = pw.CharField(max_length=8)
    strategy = pw.CharField(max_length=128)
    side = pw.CharField(max_length=8)
    qty = pw.DecimalField(**_PRICE)
    entry_time = pw.BigIntegerField()
    entry_price = pw.DecimalField(**_PRICE)
    exit_time = pw.BigIntegerField()
    exit_price = pw.DecimalField(**_PRICE)
    pnl = pw.DecimalField(**_PRICE)
    fee = pw.DecimalField(**_PRICE)
    closed_by = pw.CharField(max_length=16)
    leverage = pw.DoubleField(default=1.0)

    class Meta:
        table_name = "closed_trade"


class SessionData(BaseModel):
    """The exact numbers of a finished session, for reading it back unchanged.

    The Decimal columns above keep 12 decimal places, which is not every float's value; this
    row holds the balances, trades, orders and fills as JSON, whose floats read back to the
    very same value. ``jbt sessions show`` reads it; the rows above are for SQL queries.
    """

    session = pw.ForeignKeyField(
        BacktestSession, backref="data", on_delete="CASCADE", unique=True
    )
    data = pw.TextField()  # JSON object

    class Meta:
        table_name = "backtest_session_data"


class SessionEquity(BaseModel):
    """The equity curve of a finished session as packed little-endian arrays, ``count``
    points: ``values`` float64; ``times`` int64 epoch ms, or only the first time when the
    points are ``step`` ms apart (a curve without gaps). A 1m year is 525,600 points; as JSON
    text it took longer to write than the rest of the session. Sessions saved before this
    table existed keep their curve as JSON in ``backtest_session.equity``."""

    session = pw.ForeignKeyField(
        BacktestSession, backref="equity_arrays", on_delete="CASCADE", unique=True
    )
    count = pw.IntegerField()
    step = pw.BigIntegerField(null=True)
    times = pw.BlobField()
    values = pw.BlobField()

    class Meta:
        table_name = "backtest_session_equity"


class WalkForwardRun(BaseModel):
    """A ``jbt walk-forward`` run: its settings (what decides its windows and trials, JSON)
    and, once finished, its summary; the windows are :class:`WalkForwardWindow` rows."""

    created_at = pw.BigIntegerField()  # epoch ms
    name = pw.CharField(max_length=255)
    status = pw.CharField(max_length=16, default="running")  # running | finished | failed
    identity = pw.CharField(max_length=64, index=True)  # hash of the settings
    settings = pw.TextField()  # JSON
    summary = pw.TextField(null=True)  # JSON: stitched metrics, efficiency, stability
    error = pw.TextField(null=True)

    class Meta:
        table_name = "walk_forward_run"


class WalkForwardWindow(BaseModel):
    """One window of a walk-forward run: the parameters chosen on its training part, its
    trials, and the saved session of its out-of-sample backtest (None: no feasible trial)."""

    run = pw.ForeignKeyField(WalkForwardRun, backref="windows", on_delete="CASCADE")
    index = pw.IntegerField()
    data = pw.TextField()  # JSON: periods, seed, params, in-sample metrics, trials
    session = pw.ForeignKeyField(BacktestSession, null=True, on_delete="SET NULL")

    class Meta:
        table_name = "walk_forward_window"
        indexes = ((("run", "index"), True),)


MODELS = (
    Candle, CandleBlock, CandleGap, SymbolListing, BacktestSession, Order, Trade, ClosedTrade,
    SessionData, SessionEquity, FundingRate, FundingSpan, ArchiveFile, WalkForwardRun,
    WalkForwardWindow,
)

_open_lock = threading.Lock()


#: SQLite's page cache during a bulk read or write (PRAGMA cache_size; negative: KiB)
SMALL_PAGE_CACHE_KB = -2000


@contextmanager
def small_page_cache(db: pw.Database) -> Iterator[None]:
    """Shrink the connection's SQLite page cache while a bulk read or write passes each page
    once (loading a year of 1m candles, saving its session): the configured 64 MB cache would
    keep those pages in memory afterwards, for nothing (a dirty page beyond the cache is
    written to the WAL early, at no measured cost). Nothing on PostgreSQL."""
    if not isinstance(db, pw.SqliteDatabase):
        yield
        return
    (size,) = db.execute_sql("PRAGMA cache_size").fetchone()
    db.execute_sql(f"PRAGMA cache_size = {SMALL_PAGE_CACHE_KB}")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA cache_size = {int(size)}")


@contextmanager
def deferred_checkpoints(db: pw.Database) -> Iterator[None]:
    """Hold the connection's automatic WAL checkpoints while a bulk import commits one large
    transaction after another (the archive import: a file each), then checkpoint once.

    By default SQLite copies the WAL into the database file (and syncs both) at the first
    commit after the WAL passes 1000 pages: every file of a year's import. Held, each commit
    only appends to the WAL, as it always does; the pages are copied once at the end (pages
    the B-tree rewrote file after file, once). Nothing about durability changes: a commit is
    as safe in the WAL as after a checkpoint, and a killed import leaves a longer WAL that the
    next connection reads (and checkpoints) as usual. The setting is restored after. Nothing
    on PostgreSQL."""
    if not isinstance(db, pw.SqliteDatabase):
        yield
        return
    (pages,) = db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()
    db.execute_sql("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        if not db.in_transaction():
            db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")


def make_database(url: str) -> pw.Database:
    """Build (not connect) a Peewee database for a URL: ``sqlite:///path`` or ``postgresql://``."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"database url '{url}': expected sqlite:///path/to/file.sqlite3")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return pw.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": 30_000,
                "cache_size": -64_000,
            },
            check_same_thread=False,
            timeout=30,
        )
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        try:
            import psycopg2  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "PostgreSQL needs the psycopg2 driver: pip install 'jbt[postgres]'"
            ) from exc
        return pw.PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port,
            autorollback=True,
        )
    raise ConfigError(
        f"database url '{url}': unsupported scheme '{scheme}'; use sqlite:///file or postgresql://"
    )


def database_exists(url: str) -> bool:
    """Whether there is a database at ``url`` to read: for SQLite, whether the file exists
    (commands that only read never create it); a server database is assumed to exist."""
    if urlparse(url).scheme.lower() != "sqlite" or not url.startswith("sqlite:///"):
        return True
    path = unquote(url[len("sqlite:///") :])
    return path == ":memory:" or Path(path).is_file()


def open_database(url: str) -> pw.Database:
    """Bind the models to the database at ``url``, connect, and create missing tables."""
    db = make_database(url)
    with _open_lock:
        try:
            db.connect(reuse_if_open=True)
        except pw.OperationalError as exc:
            raise ConfigError(f"cannot open database '{_redact(url)}': {exc}".strip()) from exc
        database_proxy.initialize(db)
        # a create-time option only; PostgreSQL has no such clause
        Candle._meta.without_rowid = isinstance(db, pw.SqliteDatabase)
        db.create_tables(MODELS, safe=True)
        _add_missing_columns(db)
        if isinstance(db, pw.SqliteDatabase):
            for trigger in CANDLE_BLOCK_TRIGGERS.values():
                db.execute_sql(trigger)
    return db


def _add_missing_columns(db: pw.Database) -> None:
    """Columns added after a table was first created (a database made by an older jbt)."""
    table = CandleBlock._meta.table_name
    if any(c.name == "checksum" for c in db.get_columns(table)):
        return
    kind = "BIGINT" if isinstance(db, pw.PostgresqlDatabase) else "INTEGER"
    try:
        db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "checksum" {kind}')
    except pw.OperationalError:
        pass  # a read-only database: its blocks are not trusted, the rows are read instead


def close_database() -> None:
    """Close the bound database, if any."""
    db = database_proxy.obj
    if db is not None and not db.is_closed():
        db.close()


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
