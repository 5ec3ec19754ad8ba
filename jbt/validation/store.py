"""Walk-forward runs in the project database (tables ``walk_forward_run`` and
``walk_forward_window``; the out-of-sample backtests are regular saved sessions).

A window is written in one transaction once its out-of-sample backtest is saved, so an
interrupted run keeps every finished window; the same command continues it (the run is found
by the hash of its settings).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from jbt.errors import InputError

HOW_TO_LIST = "run 'jbt walk-forward list' to see the saved walk-forward runs"


def identity_hash(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class StoredRun:
    id: int
    created_at: int
    name: str
    status: str
    settings: dict[str, Any]
    summary: dict[str, Any] | None
    windows: list[dict[str, Any]]  # each: its data, with "session_id"
    error: str | None = None


def _write(fn):
    from jbt.sessions import write_with_retries

    return write_with_retries(fn, what="the walk-forward run")


def find_unfinished(identity: dict[str, Any]) -> StoredRun | None:
    """The newest run with these settings that has not finished, if any."""
    from jbt.models import WalkForwardRun

    row = (WalkForwardRun.select()
           .where(WalkForwardRun.identity == identity_hash(identity),
                  WalkForwardRun.status != "finished")
           .order_by(WalkForwardRun.id.desc()).first())
    if row is None or json.loads(row.settings).get("identity") != identity:
        return None
    return load_run(row.id)


def create_run(name: str, settings: dict[str, Any]) -> int:
    from jbt.models import WalkForwardRun, database_proxy

    def write() -> int:
        with database_proxy.obj.atomic():
            return WalkForwardRun.create(
                created_at=int(time.time() * 1000), name=name, status="running",
                identity=identity_hash(settings["identity"]),
                settings=json.dumps(settings, allow_nan=False),
            ).id

    return _write(write)


def save_window(run_id: int, index: int, data: dict[str, Any], session_id: int | None) -> None:
    from jbt.models import WalkForwardWindow, database_proxy

    def write() -> None:
        with database_proxy.obj.atomic():
            WalkForwardWindow.create(run=run_id, index=index, session=session_id,
                                     data=json.dumps(data, allow_nan=False))

    _write(write)


def set_status(run_id: int, status: str, *, summary: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    from jbt.models import WalkForwardRun, database_proxy

    def write() -> None:
        with database_proxy.obj.atomic():
            fields: dict[Any, Any] = {WalkForwardRun.status: status, WalkForwardRun.error: error}
            if summary is not None:
                fields[WalkForwardRun.summary] = json.dumps(summary, allow_nan=False)
            WalkForwardRun.update(fields).where(WalkForwardRun.id == run_id).execute()

    _write(write)


def load_run(run_id: int) -> StoredRun:
    from jbt.models import WalkForwardRun, WalkForwardWindow

    row = WalkForwardRun.get_or_none(WalkForwardRun.id == run_id)
    if row is None:
        raise InputError(f"no walk-forward run {run_id}; {HOW_TO_LIST}")
    windows = []
    for w in (WalkForwardWindow.select().where(WalkForwardWindow.run == row.id)
              .order_by(WalkForwardWindow.index)):
        data = json.loads(w.data)
        data["session_id"] = w.session_id
        windows.append(data)
    return StoredRun(row.id, int(row.created_at), row.name, row.status,
                     json.loads(row.settings),
                     json.loads(row.summary) if row.summary else None, windows, row.error)


def list_runs(limit: int | None = None) -> list[StoredRun]:
    """The runs, newest first (without their windows' trials)."""
    from jbt.models import WalkForwardRun, WalkForwardWindow

    query = WalkForwardRun.select().order_by(WalkForwardRun.id.desc())
    if limit is not None:
        query = query.limit(limit)
    out = []
    for row in query:
        done = (WalkForwardWindow.select().where(WalkForwardWindow.run == row.id).count())
        out.append(StoredRun(row.id, int(row.created_at), row.name, row.status,
                             json.loads(row.settings),
                             json.loads(row.summary) if row.summary else None,
                             [{}] * done, row.error))
    return out
