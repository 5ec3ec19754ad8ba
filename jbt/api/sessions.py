"""Saved backtest runs read back from the database in the ``jbt backtest --json`` shape."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from jbt.models import BacktestSession, ClosedTrade, Order
from jbt.results import ClosedTrade as TradeRecord
from jbt.results import OrderRecord


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _equity(raw: Any) -> list[dict[str, Any]]:
    points = []
    for p in raw if isinstance(raw, list) else []:
        if isinstance(p, dict):
            points.append({"time": int(p["time"]), "equity": float(p["equity"])})
        else:
            points.append({"time": int(p[0]), "equity": float(p[1])})
    return points


def summary(row: BacktestSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "status": row.status,
        "duration_s": row.duration_s,
        "start": row.start,
        "end": row.end,
        "routes": _loads(row.routes, []),
        "starting_balance": _num(row.starting_balance),
        "finishing_balance": _num(row.finishing_balance),
        "metrics": _loads(row.metrics, {}),
        "error": row.error,
    }


def list_sessions(*, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Saved runs, newest first."""
    query = (
        BacktestSession.select()
        .order_by(BacktestSession.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [summary(row) for row in query]


def session_dict(session_id: int) -> dict[str, Any] | None:
    """One saved run as ``BacktestResult.to_dict()`` gives it (None when it does not exist)."""
    row = BacktestSession.get_or_none(BacktestSession.id == session_id)
    if row is None:
        return None
    trade_fields = TradeRecord.__dataclass_fields__
    order_fields = OrderRecord.__dataclass_fields__
    trades = []
    for t in ClosedTrade.select().where(ClosedTrade.session == row).order_by(ClosedTrade.trade_id):
        rec = {name: getattr(t, name) for name in trade_fields if name != "id"}
        rec["id"] = t.trade_id
        trades.append({name: _plain(rec[name]) for name in trade_fields})
    orders = []
    for o in Order.select().where(Order.session == row).order_by(Order.order_id):
        rec = {name: getattr(o, name) for name in order_fields if name != "id"}
        rec["id"] = o.order_id
        orders.append({name: _plain(rec[name]) for name in order_fields})
    return {
        "session_id": row.id,
        "config": _loads(row.config, {}),
        "routes": _loads(row.routes, []),
        "period": {"start": row.start, "end": row.end},
        "starting_balance": _num(row.starting_balance),
        "finishing_balance": _num(row.finishing_balance),
        "metrics": _loads(row.metrics, {}),
        "trades": trades,
        "orders": orders,
        "equity": _equity(_loads(row.equity, [])),
        "duration_s": row.duration_s,
        "status": row.status,
        "error": row.error,
    }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value
