"""One backtest in its own process: what runs on the worker side of ``POST /backtest``.

The server starts a process per backtest (see :mod:`jbt.api.backtests`) with a
:class:`BacktestTask` and one end of a pipe. The process opens the database, runs
``backtest_mode.run`` (which saves the session), and sends back either the answer's JSON bytes
or an error answer. Whatever the strategy does, the server keeps running: ``os._exit()`` is
turned into an error naming the strategy's file and line, and a process that dies anyway (a
signal, the out-of-memory killer) only ends its own request.

Time limit: ``task.time_limit`` seconds after the start a ``SIGALRM`` raises
:class:`TimeLimitExceeded` inside the run loop, so the answer names the strategy line that was
running. Outside the loop (loading candles, metrics, saving) it waits for the loop or the end;
the server kills a process that is still running a few seconds after the limit.

Messages (``Connection.send_bytes``): ``STARTED``, then a JSON header
``{"status": int, "kind": str, ...}``, then, for a result, the body bytes.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jbt.config import Config, public_config
from jbt.results import RouteSpec

#: The worker's first message: it started (an answer follows).
STARTED = b"started"
#: How much lower than the server a worker's CPU priority is (``os.nice``).
WORKER_NICE = 5


class TimeLimitExceeded(Exception):
    """The backtest ran longer than ``[server] backtest_timeout``."""


class ProcessExit(Exception):
    """A strategy called ``os._exit()``."""


@contextmanager
def exits_refused() -> Iterator[None]:
    """Inside: ``os._exit()`` raises :class:`ProcessExit` (a strategy cannot end the worker
    process); the real one is put back on leaving."""
    real_exit = os._exit

    def refuse_exit(code: int = 0) -> None:
        raise ProcessExit(
            f"the strategy called os._exit({code!r}); a strategy cannot stop the run "
            "(return from the hook instead)"
        )

    os._exit = refuse_exit  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real_exit


@dataclass(frozen=True)
class BacktestTask:
    """Everything a worker needs for one ``POST /backtest``, checked by the server already."""

    config: Config
    project_dir: Path
    routes: tuple[RouteSpec, ...]
    start: int | None
    end: int | None
    save: bool
    hyperparameters: dict[str, dict[str, Any]] | None
    time_limit: float


def time_limit_message(seconds: float) -> str:
    return (f"the backtest ran longer than the time limit of {seconds:g} s "
            "([server] backtest_timeout in config.toml)")


def public_result(data: dict[str, Any]) -> dict[str, Any]:
    """A backtest's JSON fit to leave the server: in its ``config`` snapshot the passwords of the
    database and exchange URLs are masked and no server token appears."""
    config = data.get("config")
    if not isinstance(config, dict):
        return data
    return {**data, "config": public_config(config)}


def render(content: Any) -> bytes:
    """JSON bytes exactly as Starlette's ``JSONResponse`` renders them."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


# ----------------------------------------------------------------------------- the worker


def main(conn, task: BacktestTask) -> None:
    """The worker process's entry point."""
    conn.send_bytes(STARTED)
    real_exit = os._exit
    # Ctrl-C in the server's terminal reaches the whole process group: the server decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # batch work: when the cores are busy, the server's own requests go first
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):  # pragma: no cover - no nice() (Windows)
        pass
    # the server never writes to the pipe: readable means it closed its end (it stopped or
    # died), and then this process has no one to answer to
    threading.Thread(
        target=_exit_when_orphaned, args=(conn, real_exit), name="jbt-orphan-watch", daemon=True
    ).start()

    with exits_refused():
        header, body = _answer(task)
    conn.send_bytes(render(header))
    if body is not None:
        conn.send_bytes(body)
    conn.close()


def _exit_when_orphaned(conn, real_exit) -> None:
    try:
        conn.poll(None)
    except (OSError, EOFError):
        pass
    real_exit(1)


def _answer(task: BacktestTask) -> tuple[dict[str, Any], bytes | None]:
    from jbt import report
    from jbt.models import close_database, open_database
    from jbt.modes import backtest_mode

    _arm_time_limit(task.time_limit)
    try:
        open_database(task.config.database_url())
        result = backtest_mode.run(
            task.config, list(task.routes), task.start, task.end,
            project_dir=task.project_dir, save=task.save,
            hyperparameters=task.hyperparameters,
        )
        signal.setitimer(signal.ITIMER_REAL, 0)
        data = public_result(report.result_dict(result))  # with "save_error" when not saved
        header = {"status": 200, "kind": "ok", "session_id": result.session_id,
                  "save_error": result.extra.get("save_error")}
        return header, render(data)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes this request's answer
        signal.setitimer(signal.ITIMER_REAL, 0)
        return error_answer(exc, task), None
    finally:
        close_database()


def error_answer(exc: BaseException, task: BacktestTask) -> dict[str, Any]:
    """The header of an error answer: status, kind, the body, and a traceback for the log when
    the error is not one a user can fix."""
    from jbt.api.errors import error_body, strategy_exit, strategy_location
    from jbt.errors import ExchangeError, JbtError, StrategyError

    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        exc = strategy_exit(exc, task.project_dir)
    if isinstance(exc, (StrategyError, ProcessExit, TimeLimitExceeded)):
        where = strategy_location(exc, task.project_dir)
        timed_out = isinstance(exc, TimeLimitExceeded) or isinstance(
            exc.__cause__, TimeLimitExceeded
        )
        kind = "TimeLimitExceeded" if timed_out else "StrategyError"
        message = str(exc)
        if isinstance(exc, ProcessExit) and where["file"]:
            message = f"{where['file']} line {where['line']}: ProcessExit: {exc}"
        return {"status": 422, "kind": kind, "body": error_body(message, kind, **where)}
    if isinstance(exc, ExchangeError):
        return {"status": 502, "kind": "ExchangeError", "body": error_body(str(exc), "ExchangeError")}
    if isinstance(exc, JbtError):
        kind = type(exc).__name__
        return {"status": 422, "kind": kind, "body": error_body(str(exc), kind)}
    if isinstance(exc, MemoryError):
        detail = ("the backtest ran out of memory; shorten the period or use fewer routes or a "
                  "coarser base timeframe")
        return {"status": 500, "kind": "OutOfMemory", "body": error_body(detail, "OutOfMemory")}
    # the message may hold paths, URLs or data: it goes to the log only
    return {
        "status": 500,
        "kind": "InternalError",
        "body": error_body(f"internal error ({type(exc).__name__}); see the server log",
                           "InternalError"),
        "log": "".join(traceback.format_exception(exc)),
    }


def _arm_time_limit(seconds: float) -> None:
    """Raise TimeLimitExceeded ``seconds`` from now, inside the run loop (see the module doc)."""
    from jbt import engine

    loop_file = os.path.normcase(os.path.abspath(engine.__file__))
    message = time_limit_message(seconds)

    def on_alarm(signum, frame) -> None:
        f = frame
        while f is not None:
            if os.path.normcase(os.path.abspath(f.f_code.co_filename)) == loop_file:
                raise TimeLimitExceeded(message)
            f = f.f_back
        signal.setitimer(signal.ITIMER_REAL, 0.25)  # not in the loop now: look again soon

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
