"""Backtests for the API: a bounded queue in front of a few slots, one worker process per
running backtest (:mod:`jbt.api.worker`).

Nothing here holds a server thread while a backtest waits or runs: the request's coroutine
waits on the worker's pipe (read by a small pool, one thread per running backtest), so the
endpoints that only read keep answering however many backtests are busy. Every few tenths of a
second the coroutine asks whether to stop (the client went away, ``DELETE /jobs/ID``, the
server is stopping); stopping kills the process, which frees its memory with it.

Processes start from a fork server that has the engine imported already (Linux, macOS), so a
start costs milliseconds; elsewhere they are spawned.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jbt.api.worker import STARTED, BacktestTask, main, time_limit_message

#: Seconds between two looks at the client, the job and the server while a backtest waits
#: or runs.
POLL_S = 0.1
#: Modules the fork server imports once, so each worker starts with them loaded.
PRELOAD = ["jbt.api.worker", "jbt.modes.backtest_mode", "jbt.engine", "jbt.metrics",
           "jbt.report", "jbt.candles"]

#: ``interrupted()`` returns why to stop, or None to go on.
Interrupted = Callable[[], Awaitable[str | None]]


class QueueFull(Exception):
    """Every slot is busy and the queue is full: answer 429 with ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Outcome:
    """How a backtest ended: ``kind`` is ok, error, stopped (``reason`` says why), timeout,
    died, or unstarted (the process ended before it reached the worker's code). ``header`` is the worker's (ok, error); ``body`` the answer's JSON bytes (ok)."""

    kind: str
    header: dict[str, Any]
    body: bytes | None = None
    reason: str | None = None
    exitcode: int | None = None
    seconds: float = 0.0


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


class WorkerEnded(Exception):
    """The worker's pipe closed before its answer; ``started``: whether it reached its main."""

    def __init__(self, started: bool) -> None:
        super().__init__("the worker ended without an answer")
        self.started = started


def _receive(conn) -> tuple[dict[str, Any], bytes | None]:
    import json

    started = False
    try:
        if conn.recv_bytes() != STARTED:
            raise ValueError("the worker sent something else first")
        started = True
        header = json.loads(conn.recv_bytes())
        body = conn.recv_bytes() if header.get("status") == 200 else None
    except (EOFError, OSError, ValueError) as exc:
        raise WorkerEnded(started) from exc
    return header, body


def describe_exit(code: int | None) -> str:
    """``killed by signal 9 (SIGKILL)`` or ``exit code 3``."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exit code {code}"


class BacktestRunner:
    """``slots`` backtests at once, ``max_queued`` more waiting; each gets ``time_limit``
    seconds (the worker stops it then; the runner kills it ``grace`` seconds later)."""

    def __init__(self, *, slots: int, max_queued: int, time_limit: float) -> None:
        self.slots = slots
        self.max_queued = max_queued
        self.time_limit = time_limit
        self.grace = min(5.0, max(1.0, time_limit / 10))
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._durations: deque[float] = deque(maxlen=20)
        self._procs: set[Any] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._mp = _context()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the fork server now rather than on the first request (blocking: ~1 s)."""
        if self._mp.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def shutdown(self) -> None:
        """Kill every worker still running (the requests waiting for them answer 503)."""
        for proc in list(self._procs):
            if proc.is_alive():
                proc.kill()
        for proc in list(self._procs):
            proc.join(5)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # ------------------------------------------------------------------ the queue
    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the mean duration of recent backtests times
        the queue ahead, over the slots; at least 1."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 5.0
        return max(1, min(3600, math.ceil(mean * (len(self._waiters) + 1) / self.slots)))

    def admit(self) -> None:
        """Raise :class:`QueueFull` when a new backtest could neither run nor wait."""
        if self._running >= self.slots and len(self._waiters) >= self.max_queued:
            raise QueueFull(self.retry_after())

    async def acquire(self, interrupted: Interrupted) -> str | None:
        """Wait for a slot (first come, first served); the reason when interrupted first."""
        if self._running < self.slots and not self._waiters:
            self._running += 1
            return None
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            while True:
                done, _ = await asyncio.wait({fut}, timeout=POLL_S)
                if done:
                    return None
                reason = await interrupted()
                if reason is not None:
                    self._leave(fut)
                    return reason
        except BaseException:
            self._leave(fut)
            raise

    def _leave(self, fut: asyncio.Future[None]) -> None:
        if fut.done() and not fut.cancelled():
            self.release()  # the slot was handed over just now: pass it on
        else:
            fut.cancel()
            try:
                self._waiters.remove(fut)
            except ValueError:
                pass

    def release(self) -> None:
        """Hand the slot to the next waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._running -= 1

    # ------------------------------------------------------------------ one run
    async def run(self, task: BacktestTask, interrupted: Interrupted) -> Outcome:
        """Run ``task`` in a new worker process (holding a slot) until it answers, dies, runs
        out of time, or ``interrupted()`` gives a reason to stop."""
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.slots + 1,
                                            thread_name_prefix="jbt-backtest")
        parent, child = self._mp.Pipe()
        proc = self._mp.Process(target=main, args=(child, task), name="jbt-backtest",
                                daemon=True)
        began = time.monotonic()
        try:
            await loop.run_in_executor(self._pool, proc.start)
        finally:
            child.close()
        self._procs.add(proc)
        reading = loop.run_in_executor(self._pool, _receive, parent)
        deadline = began + task.time_limit + self.grace
        try:
            while True:
                done, _ = await asyncio.wait({reading}, timeout=POLL_S)
                if done:
                    break
                reason = await interrupted()
                if reason is not None:
                    return Outcome("stopped", {}, reason=reason, seconds=time.monotonic() - began)
                if time.monotonic() > deadline:
                    return Outcome("timeout", {}, reason=time_limit_message(task.time_limit),
                                   seconds=time.monotonic() - began)
            seconds = time.monotonic() - began
            try:
                header, body = reading.result()
            except WorkerEnded as exc:
                await loop.run_in_executor(None, proc.join, 5)
                return Outcome("died" if exc.started else "unstarted", {},
                               exitcode=proc.exitcode, seconds=seconds)
            self._durations.append(seconds)
            kind = "ok" if header.get("status") == 200 else "error"
            return Outcome(kind, header, body, seconds=seconds)
        finally:
            await self._reap(proc, reading, parent)

    async def _reap(self, proc, reading: asyncio.Future, parent) -> None:
        """Kill the worker if it still runs, wait for it and its reader, close the pipe."""
        loop = asyncio.get_running_loop()
        if proc.is_alive():
            proc.kill()
        try:
            await loop.run_in_executor(None, proc.join, 5)
            await asyncio.wait({reading}, timeout=5)
        finally:
            if reading.done() and not reading.cancelled():
                reading.exception()  # retrieved: a dead worker's EOFError is expected
            parent.close()
            self._procs.discard(proc)
