"""Optimisations for the API: one at a time, each in a coordinator process of its own
(:mod:`jbt.api.optimizer`) with its worker processes, followed by a thread of the server.

The request that starts one waits (without holding a server thread) until the coordinator has
checked every input as ``jbt optimize`` does, so a bad request is a 422 with the command line's
message and nothing is written; then it answers with the job, and the study goes on in the
background. The thread that follows the coordinator publishes its progress on the job, and
stops it on ``DELETE /jobs/ID``, when the server stops, or at ``[server] optimize_timeout``:
first by asking it to stop once the batch that is running is stored, then, a few seconds
later, by killing its process group (the coordinator and its workers). The study keeps every
stored batch either way, and the same request continues it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import pickle
import signal
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jbt.api.backtests import QueueFull, describe_exit
from jbt.api.jobs import CANCELLED, FAILED, FINISHED, Job, JobManager
from jbt.api.optimizer import STOP, OptimizeTask, command

log = logging.getLogger("jbt.api")

#: Seconds between two looks at the coordinator's messages, the job and the server.
POLL_S = 0.1
#: Longest a ``POST /optimize`` waits for the checks; when they take longer, it answers with
#: the job, which fails with the check's message if there is one.
CHECK_S = 15.0
#: After ``DELETE /jobs/ID`` (or the time limit) the batch in flight gets this long to finish
#: and be stored before the coordinator and its workers are killed.
STOP_GRACE_S = 5.0
#: The same when the server stops.
SHUTDOWN_GRACE_S = 2.0
#: How long the workers of a coordinator that ended get to exit by themselves.
GROUP_EXIT_S = 2.0
#: Retry-After (seconds) while the running optimisation has no estimate yet.
DEFAULT_RETRY_S = 30

#: ``interrupted()`` returns why to stop, or None to go on.
Interrupted = Callable[[], Awaitable[str | None]]


def time_limit_message(seconds: float) -> str:
    return (f"the optimisation ran longer than the time limit of {seconds:g} s "
            "([server] optimize_timeout in config.toml)")


class OptimizationRunning(QueueFull):
    """An optimisation is running already: 429 with ``retry_after`` seconds."""

    def __init__(self, retry_after: int, job_id: str, study: str | None) -> None:
        super().__init__(retry_after)
        of = f", study {study}" if study else ""
        self.detail = (
            f"an optimisation is running (job {job_id}{of}) and this server runs one at a time: "
            f"try again in {retry_after} s (Retry-After), or stop it with DELETE /jobs/{job_id}"
        )


@dataclass
class Optimization:
    """One coordinator process and what the server knows of it."""

    job: Job
    task: OptimizeTask
    jobs: JobManager
    began: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen | None = None
    commands: Any = None
    events: Any = None
    #: Set once the checks ended: ``started``, an ``error``, or the process ended first.
    checked: threading.Event = field(default_factory=threading.Event)
    #: Set once the coordinator is gone and the job is finished.
    ended: threading.Event = field(default_factory=threading.Event)
    started: dict[str, Any] | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    #: Why it is being stopped, whether because the server stops, and when the coordinator
    #: was asked to.
    reason: str | None = None
    server_stop: bool = False
    stop_sent: float | None = None
    #: A stop asked by the request that started it (the client went away).
    requested: str | None = None


class OptimizeRunner:
    """Runs one optimisation at a time with at most ``max_jobs`` worker processes, each for at
    most ``time_limit`` seconds."""

    def __init__(self, *, max_jobs: int | None, time_limit: float) -> None:
        self.max_jobs = max_jobs if max_jobs is not None else (os.cpu_count() or 1)
        self.time_limit = time_limit
        self.active: Optimization | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the bound
    def retry_after(self, run: Optimization) -> int:
        eta = run.progress.get("eta_s")
        if not isinstance(eta, (int, float)):
            return DEFAULT_RETRY_S
        return max(1, min(3600, math.ceil(eta)))

    def reserve(self, task: OptimizeTask, job_of: Callable[[], Job], jobs: JobManager
                ) -> Optimization:
        """Take the one slot (OptimizationRunning when it is taken) for a new optimisation."""
        with self._lock:
            run = self.active
            if run is not None:
                raise OptimizationRunning(self.retry_after(run), run.job.id,
                                          run.job.params.get("study"))
            run = Optimization(job=job_of(), task=task, jobs=jobs)
            self.active = run
            return run

    # ------------------------------------------------------------------ one run
    def launch(self, run: Optimization, stopping: Callable[[], str | None]) -> None:
        """Start the coordinator process and the thread that follows it (blocking: a fork)."""
        from multiprocessing.connection import Connection

        cmd_r, cmd_w = os.pipe()
        ev_r, ev_w = os.pipe()
        try:
            run.proc = subprocess.Popen(
                [*command(), str(cmd_r), str(ev_w)], pass_fds=(cmd_r, ev_w),
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except BaseException:
            for fd in (cmd_r, cmd_w, ev_r, ev_w):
                os.close(fd)
            self._release(run)
            raise
        finally:
            if run.proc is not None:
                os.close(cmd_r)
                os.close(ev_w)
        run.commands = Connection(cmd_w, readable=False)
        run.events = Connection(ev_r, writable=False)
        run.jobs.start(run.job)
        run.jobs.update(run.job, progress={"phase": "checking"})
        try:
            run.commands.send_bytes(pickle.dumps(run.task))
        except OSError:
            pass  # it died already: the thread finds out
        threading.Thread(target=self._follow, args=(run, stopping), daemon=True,
                         name=f"jbt-optimize-{run.job.id}").start()

    async def wait_checked(self, run: Optimization, interrupted: Interrupted) -> bool:
        """Wait for the checks (at most CHECK_S seconds); False when they are still running.
        A reason to stop from ``interrupted()`` stops the optimisation and waits for its end."""
        deadline = time.monotonic() + CHECK_S
        while not run.checked.is_set():
            if run.requested is None:
                reason = await interrupted()
                if reason is not None:
                    run.requested = reason
            if run.requested is None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def wait_ended(self, run: Optimization, timeout: float = 10.0) -> None:
        """Wait until the coordinator and its workers are gone and the slot is free."""
        deadline = time.monotonic() + timeout
        while not run.ended.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def shutdown(self, timeout: float = SHUTDOWN_GRACE_S + GROUP_EXIT_S + 1) -> None:
        """Wait for the running optimisation to stop (its thread sees the server stopping and
        stops it); kill it if it is still there after ``timeout`` seconds."""
        run = self.active
        if run is None:
            return
        if not run.ended.wait(timeout) and run.proc is not None:
            log.warning("optimize job %s did not stop within %.0f s; killing its processes",
                        run.job.id, timeout)
            _kill_group(run.proc)
            if not run.ended.wait(GROUP_EXIT_S + 1):
                run.jobs.finish(run.job, CANCELLED,
                                error=f"cancelled ({run.reason or 'the server stopped'})")

    # ------------------------------------------------------------------ the thread
    def _follow(self, run: Optimization, stopping: Callable[[], str | None]) -> None:
        try:
            while True:
                try:
                    if run.events.poll(POLL_S):
                        self._handle(run, json.loads(run.events.recv_bytes()))
                except (EOFError, OSError):
                    break  # the coordinator is gone
                if self._stop_due(run, stopping):
                    break
        except Exception:  # noqa: BLE001 - the job must end whatever happened here
            log.exception("optimize job %s: following its coordinator failed", run.job.id)
        finally:
            try:
                self._end(run)
            finally:
                run.checked.set()
                self._release(run)
                run.ended.set()

    def _stop_due(self, run: Optimization, stopping: Callable[[], str | None]) -> bool:
        """Ask the coordinator to stop when there is a reason; True once its grace is over."""
        now = time.monotonic()
        server = stopping()
        reason = (server or run.requested
                  or (f"DELETE /jobs/{run.job.id}" if run.job.cancel.is_set() else None)
                  or (time_limit_message(self.time_limit)
                      if now - run.began > self.time_limit else None))
        if reason is None:
            return False
        if run.reason is None or (server and not run.server_stop):
            run.reason, run.server_stop = reason, bool(server)
            if run.stop_sent is None:
                run.stop_sent = now
                try:
                    run.commands.send_bytes(STOP)
                except OSError:
                    pass
                run.jobs.update(run.job, progress={**run.progress, "phase": "stopping"})
        grace = SHUTDOWN_GRACE_S if run.server_stop else STOP_GRACE_S
        if now - run.stop_sent <= grace:
            return False
        log.warning("optimize job %s: the batch in flight did not end within %g s of the stop; "
                    "its processes are killed (the stored batches stay)", run.job.id, grace)
        return True

    def _handle(self, run: Optimization, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "started":
            run.started = message
            run.jobs.update(run.job, params={"study": message["study"], "jobs": message["jobs"],
                                             "periods": {"train": message["train"],
                                                         "test": message["test"]}},
                            progress={"phase": "running", "done": message["stored"],
                                      "total": message["target"]})
            log.info("optimize job %s: study %s, %s", run.job.id, message["study"],
                     f"continued from {message['stored']} trials" if message["continued"]
                     else "new")
            run.checked.set()
        elif kind == "progress":
            total = message["total"]
            progress = {
                "phase": "running" if run.stop_sent is None else "stopping",
                "done": message["done"], "total": total,
                "percent": round(100.0 * message["done"] / total, 2) if total else 100.0,
                **{k: message[k] for k in ("saved", "new", "elapsed_s", "trials_per_s", "eta_s",
                                           "best", "pareto_front")},
            }
            run.progress = progress
            run.jobs.update(run.job, progress=progress, counts=message["counts"])
        elif kind == "done":
            run.result = message["result"]
        elif kind == "error":
            run.error = message
            if message.get("log"):
                log.error("optimize job %s failed:\n%s", run.job.id, message["log"])
            run.checked.set()

    def _end(self, run: Optimization) -> None:
        """Make sure the coordinator and its workers are gone; finish the job."""
        proc = run.proc
        if proc is not None:
            if proc.poll() is None and (run.result is not None or run.error is not None):
                try:  # it answered: let it exit by itself
                    proc.wait(GROUP_EXIT_S)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                _kill(proc.pid)
            proc.wait()
            _wait_group(proc.pid)
        for conn in (run.commands, run.events):
            if conn is not None:
                conn.close()
        self._finish(run)

    def _finish(self, run: Optimization) -> None:
        job, jobs = run.job, run.jobs
        result, reason = run.result, run.reason
        saved = run.progress.get("saved", (run.started or {}).get("stored"))
        if result is None and run.started is not None:
            result = {"study": run.started["study"], "trials": saved, "interrupted": True}
        if reason is not None and (result is None or result.get("interrupted")):
            if self.timed_out(run):
                status, error, what = FAILED, reason, f"failed: {reason}"
            else:
                status, error = CANCELLED, f"cancelled ({reason})"
                what = error
            if result is not None:
                log.warning("optimize job %s %s; study %s has %s trials stored", job.id, what,
                            result["study"], result["trials"])
            else:
                log.warning("optimize job %s %s", job.id, what)
        elif run.result is not None:
            status, error = FINISHED, None
        elif run.error is not None:
            status, error = FAILED, run.error["body"]["detail"]
            result = None
        else:
            code = run.proc.returncode if run.proc is not None else None
            status, error = FAILED, (
                f"the optimisation's coordinator process ended without an answer "
                f"({describe_exit(code)}); the trials stored so far are kept: send the same "
                "request to continue")
            log.error("optimize job %s: %s", job.id, error)
        jobs.finish(job, status, result=result, error=error)

    def timed_out(self, run: Optimization) -> bool:
        """Whether it was stopped by the time limit."""
        return not run.server_stop and run.reason == time_limit_message(self.time_limit)

    def _release(self, run: Optimization) -> None:
        with self._lock:
            if self.active is run:
                self.active = None


# ------------------------------------------------------------------------------ processes


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_group(pgid: int) -> None:
    """Wait for the rest of a process group (a coordinator's workers exit by themselves once it
    is gone); kill what is left after GROUP_EXIT_S seconds."""
    if not hasattr(os, "killpg"):  # pragma: no cover - Windows
        return
    deadline = time.monotonic() + GROUP_EXIT_S
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. A member that ended but is not reaped yet
    (its parent is gone and init reaps it) does not count: it holds no memory and no CPU."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc"):  # pragma: no cover - not Linux: take the signal's word
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        state, _ppid, group = stat[stat.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            return True
    return False


def _kill_group(proc: subprocess.Popen) -> None:
    if not hasattr(os, "killpg"):  # pragma: no cover - Windows
        proc.kill()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
