"""Saved backtest runs for the API: a page of summaries, and one run in the ``--json`` shape
(rebuilt by :func:`jbt.sessions.load_session`, the reader ``jbt sessions show`` uses)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from jbt.models import BacktestSession


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def summary(row: BacktestSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "status": row.status,
        "duration_s": float(row.duration_s or 0.0),
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
        BacktestSession.select().order_by(BacktestSession.id.desc()).limit(limit).offset(offset)
    )
    return [summary(row) for row in query]


def session_dict(session_id: int) -> dict[str, Any] | None:
    """One finished run as ``jbt backtest --json`` wrote it; None when there is no such session.
    A failed or unfinished run raises :class:`jbt.sessions.SessionFailedError`."""
    from jbt import report
    from jbt.sessions import load_session

    if not BacktestSession.select().where(BacktestSession.id == session_id).exists():
        return None
    return report.result_dict(load_session(session_id))
