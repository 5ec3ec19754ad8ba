"""Saved backtest sessions: written by :func:`save_session`, read back as the list
``jbt sessions`` prints and as a whole run, so ``jbt sessions show ID`` prints the report and
writes the exports again.

Every finished ``jbt backtest`` (unless ``--no-save``) stores a ``BacktestSession`` row (config
snapshot, routes, period, metrics, status, duration), its orders, fills and closed trades (one
row each, for SQL queries), one ``SessionData`` row holding the exact values and one
``SessionEquity`` row holding the equity curve as packed arrays. A run that raised once its
candles were loaded is stored with status ``failed`` and the error; the API stores a run it
stopped (client gone, ``DELETE /jobs/ID``, server stopping) with status ``cancelled``.

Exactness: ``SessionData`` keeps every float as JSON's shortest ``repr`` and the equity arrays
keep the float64 bytes, so ``load_session(id).to_dict()`` equals the ``--json`` export of that
run value for value. The order and trade tables hold the floats as SQLite stores them (REAL);
PostgreSQL's numeric columns keep 12 decimal places. They are read only for a session saved
without its ``SessionData`` row.

Saving is one short transaction: every row is built before it begins, the bulk rows go in with
one ``executemany`` per table (PostgreSQL: ``execute_values``), and a write that finds the
database locked by another writer is retried for up to :data:`SAVE_RETRY_S` seconds.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np

from jbt.errors import InputError, JbtError
from jbt.results import (
    BacktestResult,
    ClosedTrade,
    FillRecord,
    FundingRecord,
    OrderRecord,
    RouteSpec,
)

T = TypeVar("T")

#: How long a save keeps retrying while another writer holds the database (seconds), on top
#: of SQLite's own 30 s busy timeout per attempt.
SAVE_RETRY_S = 120.0

#: How to find an id, appended to "no such session" errors.
HOW_TO_LIST = "run 'jbt sessions' to list the saved sessions and their ids"


class SessionFailedError(JbtError):
    """The session exists but its run failed: there is no result to show."""


class SessionSaveError(JbtError):
    """The session could not be written; the run's result itself is intact."""


@dataclass(frozen=True)
class SessionRow:
    """One line of ``jbt sessions``."""

    id: int
    created_at: int  # epoch ms
    status: str  # "finished" | "failed" | "running"
    routes: list[RouteSpec]
    start: int | None
    end: int | None
    trades: int | None
    total_return: float | None  # net profit as a fraction of the starting balance
    sharpe: float | None
    duration_s: float
    error: str | None = None


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def _routes(text: str | None) -> list[RouteSpec]:
    return [RouteSpec(**r) for r in _loads(text, [])]


def list_sessions(limit: int | None = None) -> list[SessionRow]:
    """Saved sessions, newest first (at most ``limit`` when given)."""
    from jbt.models import BacktestSession

    query = BacktestSession.select().order_by(BacktestSession.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for s in query:
        metrics = _loads(s.metrics, {})
        rows.append(SessionRow(
            id=s.id, created_at=s.created_at, status=s.status, routes=_routes(s.routes),
            start=s.start, end=s.end, trades=metrics.get("total_trades"),
            total_return=metrics.get("total_return"), sharpe=metrics.get("sharpe"),
            duration_s=float(s.duration_s or 0.0), error=s.error,
        ))
    return rows


def _get(session_id: int):
    from jbt.models import BacktestSession

    row = BacktestSession.get_or_none(BacktestSession.id == session_id)
    if row is None:
        raise InputError(f"no session {session_id}; {HOW_TO_LIST}")
    return row


def load_session(session_id: int) -> BacktestResult:
    """The saved run ``session_id`` as the ``BacktestResult`` the run returned (without the
    in-memory extras: warm-up counts, load time; ``extra["created_at"]`` is when it was saved). Unknown id: ``InputError``; a failed run:
    ``SessionFailedError`` with its error."""
    from jbt.models import SessionData

    row = _get(session_id)
    if row.status == "failed":
        raise SessionFailedError(f"session {session_id} failed: {row.error or 'no error saved'}")
    if row.status == "cancelled":  # the error says why: "cancelled (the server is stopping)"
        raise SessionFailedError(f"session {session_id} was {row.error or 'cancelled'}")
    if row.status != "finished":
        raise SessionFailedError(f"session {session_id} is {row.status}: it has no result")
    data_row = SessionData.get_or_none(SessionData.session == row.id)
    if data_row is not None:
        data = json.loads(data_row.data)
        trades = _records(ClosedTrade, data["trades"])
        orders = _records(OrderRecord, data["orders"])
        fills = _records(FillRecord, data["fills"])
        starting, finishing = data["starting_balance"], data["finishing_balance"]
        funding = _records(FundingRecord, data["funding"]) if "funding" in data else []
        extra = {"warnings": data.get("warnings", []),
                 "base_timeframes": data.get("base_timeframes", {}),
                 **{k: data[k] for k in ("logs", "charts") if k in data}}
    else:
        trades, orders, fills = _from_tables(row)
        funding = []
        starting, finishing = _num(row.starting_balance), _num(row.finishing_balance)
        extra = {"warnings": []}
    extra["created_at"] = int(row.created_at)
    equity_time, equity = _equity(row)
    return BacktestResult(
        config=_loads(row.config, {}),
        routes=_routes(row.routes),
        start=int(row.start),
        end=int(row.end),
        starting_balance=starting,
        finishing_balance=finishing,
        trades=trades,
        orders=orders,
        fills=fills,
        equity_time=equity_time,
        equity=equity,
        metrics=_loads(row.metrics, {}),
        duration_s=float(row.duration_s),
        session_id=row.id,
        extra=extra,
        funding=funding,
    )


def _records(cls: type[T], data: Any) -> list[T]:
    """Records of ``cls`` from ``SessionData``: ``{"columns": [...], "rows": [[...], ...]}``
    (since the equity table) or a list of objects (sessions saved before)."""
    if isinstance(data, dict):
        columns = data["columns"]
        return [cls(**dict(zip(columns, row, strict=True))) for row in data["rows"]]
    return [cls(**item) for item in data]


def _equity(row) -> tuple[list[int], list[float]]:
    from jbt.models import SessionEquity

    packed = SessionEquity.get_or_none(SessionEquity.session == row.id)
    if packed is None:
        pairs = _loads(row.equity, [])
        return [int(t) for t, _ in pairs], [float(e) for _, e in pairs]
    times = np.frombuffer(bytes(packed.times), dtype="<i8")
    if packed.step is not None:
        times = times[0] + packed.step * np.arange(packed.count, dtype=np.int64)
    values = np.frombuffer(bytes(packed.values), dtype="<f8")
    return times.tolist(), values.tolist()


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _from_tables(row) -> tuple[list[ClosedTrade], list[OrderRecord], list[FillRecord]]:
    """Trades, orders and fills from their tables (12 decimal places)."""
    from jbt.models import ClosedTrade as TradeRow
    from jbt.models import Order, Trade

    def build(cls, record, renames):
        # a field without a column (a trade's funding) keeps its default
        names = [f.name for f in fields(cls) if hasattr(record, renames.get(f.name, f.name))]
        return cls(**{n: _plain(getattr(record, renames.get(n, n))) for n in names})

    trades = [build(ClosedTrade, t, {"id": "trade_id"})
              for t in TradeRow.select().where(TradeRow.session == row).order_by(TradeRow.trade_id)]
    orders = [build(OrderRecord, o, {"id": "order_id"})
              for o in Order.select().where(Order.session == row).order_by(Order.order_id)]
    fills = [build(FillRecord, f, {"time": "timestamp"})
             for f in Trade.select().where(Trade.session == row).order_by(Trade.id)]
    return trades, orders, fills


def route_candles(result: BacktestResult) -> dict[str, np.ndarray]:
    """Each route's bars over the run's period (``RouteSpec.key`` -> candles), for the chart.

    Read from the candle store: one query per (exchange, symbol) on the finest stored timeframe
    that divides the route timeframes (the base the run used), aggregated to each route's
    timeframe, incomplete bars left out. Minutes a run filled (``missing_candles = "fill"``)
    are not stored, so their bars are missing from the chart too.
    """
    from jbt import candles as store
    from jbt.timeframes import aggregate, to_ms

    by_symbol: dict[tuple[str, str], list[RouteSpec]] = {}
    for r in result.routes:
        by_symbol.setdefault((r.exchange, r.symbol), []).append(r)
    out: dict[str, np.ndarray] = {}
    for (exchange, symbol), routes in by_symbol.items():
        tfs = {r.timeframe for r in routes}
        stored = store.stored_timeframes(exchange, symbol)
        base = next((b for b in stored if all(to_ms(tf) % to_ms(b) == 0 for tf in tfs)), None)
        if base is None:
            for r in routes:
                out[r.key] = np.empty((0, 6))
            continue
        rows = store.load_candles(exchange, symbol, base, result.start, result.end - 1)
        for r in routes:
            out[r.key] = aggregate(rows, base, r.timeframe)
    return out


# ------------------------------------------------------------------------------- saving

#: The bulk tables: model field -> record attribute, in the table's column order.
_ORDER_COLUMNS = {
    "order_id": "id", "route": "route", "exchange": "exchange", "symbol": "symbol",
    "side": "side", "type": "type", "role": "role", "qty": "qty", "price": "price",
    "status": "status", "created_at": "created_at", "filled_at": "filled_at",
    "fill_price": "fill_price", "fee": "fee", "reduce_only": "reduce_only",
}
_FILL_COLUMNS = {
    "order_id": "order_id", "route": "route", "side": "side", "qty": "qty", "price": "price",
    "fee": "fee", "timestamp": "time",
}
_TRADE_COLUMNS = {
    "trade_id": "id", "route": "route", "exchange": "exchange", "symbol": "symbol",
    "timeframe": "timeframe", "strategy": "strategy", "side": "side", "qty": "qty",
    "entry_time": "entry_time", "entry_price": "entry_price", "exit_time": "exit_time",
    "exit_price": "exit_price", "pnl": "pnl", "fee": "fee", "closed_by": "closed_by",
    "leverage": "leverage",
}


def _table_rows(
    records: Sequence[Any], columns: dict[str, str], names: list[str], tuples: list[tuple]
) -> list[tuple]:
    """The rows of a bulk table: the records' field tuples themselves when the table has a
    column for every field in the same order (today), else built for the columns."""
    attrs = list(columns.values())
    return tuples if attrs == names else list(map(attrgetter(*attrs), records))


def _tuples(cls: type, records: Sequence[Any]) -> tuple[list[str], list[tuple]]:
    """The field names of ``cls`` and one tuple of field values per record."""
    names = [f.name for f in fields(cls)]
    return names, list(map(attrgetter(*names), records))


def _insert_rows(db, model, session_id: int, columns: Sequence[str], rows: list[tuple]) -> None:
    """INSERT ``rows`` (values for ``columns``, model field names) with ``session`` set to
    ``session_id``: one ``executemany`` on SQLite, ``execute_values`` pages on PostgreSQL.
    Floats go in as they are (peewee's ``insert_many`` builds the SQL text of every value,
    which took seconds for a 1m year)."""
    if not rows:
        return
    import peewee as pw

    meta = model._meta
    names = ["session", *columns]

    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    head = (f"INSERT INTO {quote(meta.table_name)} "
            f"({', '.join(quote(meta.fields[n].column_name) for n in names)}) VALUES ")
    sid = int(session_id)
    cursor = db.cursor()
    if isinstance(db, pw.PostgresqlDatabase):
        from psycopg2.extras import execute_values

        template = "(" + ", ".join([str(sid), *(["%s"] * len(columns))]) + ")"
        execute_values(cursor, head + "%s", rows, template=template, page_size=2000)
    else:
        marks = ", ".join([str(sid), *([db.param] * len(columns))])
        cursor.executemany(head + f"({marks})", rows)


def _is_busy(exc: BaseException) -> bool:
    """Another writer holds the database (SQLite) or the transaction lost a race
    (PostgreSQL): the same write may succeed a moment later."""
    text = str(exc).lower()
    return any(s in text for s in (
        "database is locked", "database is busy", "database table is locked",
        "could not serialize access", "deadlock detected",
    ))


def write_with_retries(write: Callable[[], T], *, what: str = "the session") -> T:
    """Run ``write`` (one transaction) and retry it while the database is locked by another
    writer, for up to :data:`SAVE_RETRY_S` seconds; any other failure at once. Failures are
    :class:`SessionSaveError` with one line saying why."""
    import peewee as pw

    deadline = time.monotonic() + SAVE_RETRY_S
    delay = 0.05
    tries = 0
    while True:
        tries += 1
        try:
            return write()
        except pw.DatabaseError as exc:
            if _is_busy(exc) and time.monotonic() + delay < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            after = f" (after {tries} tries)" if tries > 1 else ""
            raise SessionSaveError(f"could not save {what}: {exc}{after}") from exc


def _transaction(db):
    import peewee as pw

    # take the write lock at BEGIN: the wait for another writer then goes through SQLite's
    # busy timeout instead of failing when a read turns into a write
    return db.atomic("IMMEDIATE") if isinstance(db, pw.SqliteDatabase) else db.atomic()


def save_session(result: BacktestResult) -> int:
    """Write a finished run (session row, orders, fills, closed trades, exact values, equity
    arrays) in one short transaction; return the session id. Raises
    :class:`SessionSaveError` when it cannot be written (the result is untouched)."""
    from jbt.models import (
        BacktestSession,
        SessionData,
        SessionEquity,
        database_proxy,
        small_page_cache,
    )

    db = database_proxy.obj
    # everything is encoded before the transaction, so the write lock is held only for SQL;
    # the collector is paused meanwhile (the tuples of a 1m year would trigger it dozens of
    # times, for nothing: they are all alive)
    with _gc_paused():
        session_fields, bulk, exact, equity = _encode(result)

    def write() -> int:
        # tens of MB of new pages for a 1m year: not kept in the page cache afterwards
        with small_page_cache(db), _transaction(db):
            session = BacktestSession.create(created_at=int(time.time() * 1000),
                                             **session_fields)
            sid = session.id
            for model, columns, rows in bulk:
                _insert_rows(db, model, sid, columns, rows)
            SessionData.create(session=sid, data=exact)
            SessionEquity.create(session=sid, **equity)
        return sid

    return write_with_retries(write)


@contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _encode(result: BacktestResult):
    from jbt.models import ClosedTrade as TradeRow
    from jbt.models import Order, Trade

    session_fields = dict(
        status="finished",
        duration_s=result.duration_s,
        start=result.start,
        end=result.end,
        routes=json.dumps([asdict(r) for r in result.routes]),
        config=json.dumps(result.config),
        metrics=json.dumps(result.metrics),
        equity="[]",  # the curve is in SessionEquity
        starting_balance=result.starting_balance,
        finishing_balance=result.finishing_balance,
    )
    orders, fills, trades = (_tuples(OrderRecord, result.orders),
                             _tuples(FillRecord, result.fills),
                             _tuples(ClosedTrade, result.trades))
    bulk = (
        (Order, list(_ORDER_COLUMNS), _table_rows(result.orders, _ORDER_COLUMNS, *orders)),
        (Trade, list(_FILL_COLUMNS), _table_rows(result.fills, _FILL_COLUMNS, *fills)),
        (TradeRow, list(_TRADE_COLUMNS), _table_rows(result.trades, _TRADE_COLUMNS, *trades)),
    )
    exact = json.dumps({
        "starting_balance": float(result.starting_balance),
        "finishing_balance": float(result.finishing_balance),
        "trades": {"columns": trades[0], "rows": trades[1]},
        "orders": {"columns": orders[0], "rows": orders[1]},
        "fills": {"columns": fills[0], "rows": fills[1]},
        "warnings": list(result.extra.get("warnings", [])),
        "base_timeframes": dict(result.extra.get("base_timeframes", {})),
        # funding settled (futures): the trades carry their totals, this every payment
        **({"funding": dict(zip(("columns", "rows"), _tuples(FundingRecord, result.funding),
                                strict=True))} if result.funding else {}),
        # what strategies logged (self.log) and drew (chart helpers), when they did
        **{k: result.extra[k] for k in ("logs", "charts") if result.extra.get(k)},
    }, allow_nan=False, check_circular=False)
    if len(result.equity_time) != len(result.equity):
        raise ValueError("equity_time and equity differ in length")
    times = np.asarray(result.equity_time, dtype="<i8")
    step = None
    if len(times) > 2:
        gaps = np.diff(times)
        if (gaps == gaps[0]).all():
            step, times = int(gaps[0]), times[:1]
    equity = {"count": len(result.equity), "step": step, "times": times.tobytes(),
              "values": np.asarray(result.equity, dtype="<f8").tobytes()}
    return session_fields, bulk, exact, equity


def save_unfinished(
    config: dict[str, Any],
    routes: Iterable[RouteSpec],
    start: int | None,
    end: int | None,
    *,
    status: str,
    error: str,
    duration_s: float,
    starting_balance: float | None = None,
) -> int:
    """Record a run that ended without a result (``failed`` or ``cancelled``) with its error;
    return the session id."""
    from jbt.models import BacktestSession, database_proxy

    db = database_proxy.obj

    def write() -> int:
        with _transaction(db):
            return BacktestSession.create(
                created_at=int(time.time() * 1000), status=status, duration_s=duration_s,
                start=start, end=end, routes=json.dumps([asdict(r) for r in routes]),
                config=json.dumps(config), starting_balance=starting_balance, error=error,
            ).id

    return write_with_retries(write, what=f"the {status} session")
