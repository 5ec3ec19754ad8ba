"""Saved backtest sessions read back: the list ``jbt sessions`` prints, and a whole run rebuilt
from its rows so ``jbt sessions show ID`` prints the report and writes the exports again.

Every finished ``jbt backtest`` (unless ``--no-save``) stores a ``BacktestSession`` row (config
snapshot, routes, period, metrics, equity, status, duration) with its orders, fills and closed
trades, plus one ``SessionData`` row holding the exact floats. A run that raised once its
candles were loaded is stored with status ``failed`` and the error.

Exactness: JSON keeps every float's shortest ``repr``, which reads back to the same float, so
``load_session(id).to_dict()`` equals the ``--json`` export of that run value for value. The
order and trade tables keep 12 decimal places; they are read only for a session saved without
its ``SessionData`` row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import numpy as np

from jbt.errors import InputError, JbtError
from jbt.results import BacktestResult, ClosedTrade, FillRecord, OrderRecord, RouteSpec

#: How to find an id, appended to "no such session" errors.
HOW_TO_LIST = "run 'jbt sessions' to list the saved sessions and their ids"


class SessionFailedError(JbtError):
    """The session exists but its run failed: there is no result to show."""


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
    if row.status != "finished":
        raise SessionFailedError(f"session {session_id} is {row.status}: it has no result")
    data_row = SessionData.get_or_none(SessionData.session == row.id)
    if data_row is not None:
        data = json.loads(data_row.data)
        trades = [ClosedTrade(**t) for t in data["trades"]]
        orders = [OrderRecord(**o) for o in data["orders"]]
        fills = [FillRecord(**f) for f in data["fills"]]
        starting, finishing = data["starting_balance"], data["finishing_balance"]
        extra = {"warnings": data.get("warnings", []),
                 "base_timeframes": data.get("base_timeframes", {}),
                 **{k: data[k] for k in ("logs", "charts") if k in data}}
    else:
        trades, orders, fills = _from_tables(row)
        starting, finishing = _num(row.starting_balance), _num(row.finishing_balance)
        extra = {"warnings": []}
    extra["created_at"] = int(row.created_at)
    equity = _loads(row.equity, [])
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
        equity_time=[int(t) for t, _ in equity],
        equity=[float(e) for _, e in equity],
        metrics=_loads(row.metrics, {}),
        duration_s=float(row.duration_s),
        session_id=row.id,
        extra=extra,
    )


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _from_tables(row) -> tuple[list[ClosedTrade], list[OrderRecord], list[FillRecord]]:
    """Trades, orders and fills from their tables (12 decimal places)."""
    from jbt.models import ClosedTrade as TradeRow
    from jbt.models import Order, Trade

    def build(cls, record, renames):
        names = [f.name for f in fields(cls)]
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
