"""One optimisation in its own process: the coordinator side of ``POST /optimize``.

The server starts ``python -c "from jbt.api.optimizer import main; main()" CMD_FD EVENT_FD``
in a session (and process group) of its own, at a lower CPU priority, and sends it an
:class:`OptimizeTask` on the command pipe. The process runs ``optimize_mode.run`` — the checks
of ``jbt optimize``, then the study with ``jobs`` worker processes (which join its process
group and inherit its priority) — and reports on the event pipe, one JSON message each:

- ``{"type": "started", ...}`` once every input is checked, before any trial runs;
- ``{"type": "progress", ...}`` a few times a second while trials finish, and after every
  stored batch;
- ``{"type": "done", "result": {...}}`` at the end, or ``{"type": "error", "status": ...,
  "body": {...}}`` (an input error found by the checks, a strategy that raised or ended its
  process, a worker that died).

The server writes ``stop`` on the command pipe to stop the study after the batch that is
running is stored (``DELETE /jobs/ID``, the server stopping). When the server goes away (its
end of the command pipe closes) the process exits at once, and its workers follow it.
Strategy code runs in this process (imports, ``hyperparameters()``) and in the workers, never
in the server: whatever it does ends this optimisation at most.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jbt.config import Config
from jbt.results import RouteSpec

#: The CPU priority (``os.nice``) of an optimisation's processes: below backtests' workers (5)
#: and the server (0), so a backtest request slows an optimisation down, not the other way.
OPTIMIZE_NICE = 10
#: Progress messages while trials finish are at least this far apart (seconds).
PROGRESS_EVERY_S = 0.2
#: The command that stops the study after the batch that is running.
STOP = b"stop"


@dataclass(frozen=True)
class OptimizeTask:
    """The options of ``jbt optimize``, checked as far as the server can (the rest is checked
    by ``optimize_mode.run`` in the coordinator)."""

    config: Config
    project_dir: Path
    routes: tuple[RouteSpec, ...] | None
    start: int | None
    end: int | None
    trials: int
    jobs: int
    objectives: tuple[str, ...] | None
    sampler: str
    seed: int
    study: str | None
    test: str | None
    test_start: int | None
    min_trades: int
    space: tuple[str, ...]
    hp: tuple[str, ...]
    batch: int


def command() -> list[str]:
    """The coordinator's command line (the pipes' descriptors are appended)."""
    return [sys.executable, "-c", "from jbt.api.optimizer import main; main()"]


def best_dict(settings: Any, record: Any) -> dict[str, Any] | None:
    """A trial as progress and results show it: number, params, ``--hp`` values, both periods'
    objective values."""
    if record is None:
        return None
    return {"number": record.number, "params": dict(record.params),
            "hp_args": settings.space.hp_args(record.params),
            "values": list(record.values), "test_values": list(record.test_values)}


# ----------------------------------------------------------------------------- the process


def main() -> None:
    """The coordinator process's entry point."""
    from multiprocessing.connection import Connection

    commands = Connection(int(sys.argv[1]), writable=False)
    events = Connection(int(sys.argv[2]), readable=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this stops
    try:
        os.nice(OPTIMIZE_NICE)
    except (AttributeError, OSError):  # pragma: no cover - no nice() (Windows)
        pass
    try:
        task: OptimizeTask = pickle.loads(commands.recv_bytes())
    except (EOFError, OSError):
        return  # the server went away before it sent the task
    real_exit = os._exit
    stop = threading.Event()
    threading.Thread(target=_listen, args=(commands, stop, real_exit), name="jbt-commands",
                     daemon=True).start()

    def send(message: dict[str, Any]) -> None:
        events.send_bytes(json.dumps(message, allow_nan=False).encode())

    from jbt.api.worker import exits_refused

    try:
        with exits_refused():
            message = {"type": "done", "result": _optimize(task, send, stop)}
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the server
        message = _error(exc, task)
    try:
        send(message)
        events.close()
    except OSError:
        pass  # the server is gone


def _listen(commands: Any, stop: threading.Event, real_exit: Any) -> None:
    """Read the server's commands; exit when it goes away (nobody is left to answer to)."""
    try:
        while True:
            if commands.recv_bytes() == STOP:
                stop.set()
    except (EOFError, OSError):
        real_exit(1)


def _error(exc: BaseException, task: OptimizeTask) -> dict[str, Any]:
    from jbt.api.worker import BacktestTask, error_answer

    where = BacktestTask(config=task.config, project_dir=task.project_dir, routes=(),
                         start=None, end=None, save=False, hyperparameters=None, time_limit=0)
    return {"type": "error", **error_answer(exc, where)}


def _optimize(task: OptimizeTask, send: Any, stop: threading.Event) -> dict[str, Any]:
    """Run the study; the job's result."""
    from jbt.errors import Cancelled
    from jbt.models import open_database
    from jbt.modes import optimize_mode
    from jbt.optimize.executors import ProcessExecutor
    from jbt.optimize.study import counts, ranked

    class Executor(ProcessExecutor):
        def close(self, cancel: bool = False) -> None:
            # stopped: the trials in flight are not waited for (they are not stored anyway)
            super().close(cancel=cancel or stop.is_set())

    state: dict[str, Any] = {"settings": None, "began": time.monotonic(), "sent": 0.0,
                             "counts": {"ok": 0, "infeasible": 0, "failed": 0}}

    def on_start(info: Any) -> None:
        if stop.is_set():
            raise Cancelled("the optimisation was stopped before its first trial")
        s = info.settings
        state["settings"], state["target"] = s, info.target
        state["began"] = time.monotonic()
        send({"type": "started", "study": s.name, "continued": info.continued,
              "stored": info.stored, "target": info.target, "jobs": info.jobs,
              "note": info.note, "train": list(s.train), "test": list(s.test)})

    def on_progress(p: Any) -> None:
        if p.record is not None:
            state["counts"][p.record.status] = state["counts"].get(p.record.status, 0) + 1
        now = time.monotonic()
        if p.record is not None and now - state["sent"] < PROGRESS_EVERY_S and p.done < p.total:
            return
        state["sent"] = now
        elapsed = now - state["began"]
        rate = p.new / elapsed if elapsed > 0 and p.new else None
        settings = state["settings"]
        send({"type": "progress", "done": p.done, "saved": p.saved, "total": p.total,
              "new": p.new, "elapsed_s": round(elapsed, 3),
              "trials_per_s": None if rate is None else round(rate, 3),
              "eta_s": None if rate is None else round((p.total - p.done) / rate, 1),
              "best": best_dict(settings, p.best),
              "pareto_front": p.front if settings.multi else None,
              "counts": state["counts"]})

    open_database(task.config.database_url())
    result = optimize_mode.run(
        task.config, task.project_dir, routes=task.routes, start=task.start, end=task.end,
        trials=task.trials, jobs=task.jobs, objectives=task.objectives, sampler=task.sampler,
        seed=task.seed, study=task.study, test=task.test, test_start=task.test_start,
        min_trades=task.min_trades, space=task.space, hp=task.hp, batch=task.batch,
        executor=Executor(task.jobs), on_start=on_start, on_progress=on_progress,
        should_stop=stop.is_set,
    )
    s, records = result.settings, result.records
    order = ranked(s, records)
    return {
        "study": s.name, "trials": len(records), "ran": result.stats.ran,
        "replayed": result.stats.replayed, "continued": result.continued,
        "stored_before": result.stored, "seconds": round(result.seconds, 3),
        "interrupted": len(records) < state["target"], "counts": counts(records),
        "best": best_dict(s, order[0] if order else None), "note": result.note,
        "url": f"/studies/{quote(s.name, safe='')}",
    }
