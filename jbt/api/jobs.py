"""A small in-process job manager: the records of the work a server does (candle imports,
backtests, optimisations) and the threads that run imports.

Owned by one app instance: daemon worker threads, the job records and a lock around them. A
job's function gets two callables, ``report(progress, counts=None)`` to publish its progress
and counts (either may be None: unchanged) and ``should_stop()`` to poll for cancellation, and
returns a result (a dict or a dataclass). Work that runs elsewhere (a backtest in its worker
process, an optimisation in its coordinator process) is recorded with :meth:`JobManager.track`,
followed with :meth:`JobManager.update` and ended with :meth:`JobManager.finish`.
Readers get copies, never the live record.

The worker threads are daemons and :meth:`JobManager.shutdown` waits for them only up to a
bound: a job stuck in a long wait cannot keep the server from stopping. A job still running
then is marked cancelled; its thread ends with the process, and what it committed stays.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from jbt.errors import JbtError

QUEUED, RUNNING, FINISHED, FAILED, CANCELLED = "queued", "running", "finished", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)

log = logging.getLogger("jbt.api")

#: ``fn(report, should_stop) -> result``
JobFunction = Callable[[Callable[..., None], Callable[[], bool]], Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def as_plain(value: Any) -> Any:
    """A JSON-able copy of a progress report or result: dataclasses and mappings become dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclasses.dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    key: str
    seq: int
    status: str = QUEUED
    created_at: int = dataclasses.field(default_factory=_now_ms)
    started_at: int | None = None
    finished_at: int | None = None
    progress: dict[str, Any] = dataclasses.field(default_factory=dict)
    counts: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    #: Run elsewhere (:meth:`JobManager.track`): its owner ends it, never the manager.
    tracked: bool = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": dict(self.params),
            "status": self.status,
            "cancel_requested": self.cancel.is_set(),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": dict(self.progress),
            "counts": dict(self.counts),
            "result": None if self.result is None else dict(self.result),
            "error": self.error,
        }


class JobConflict(JbtError):
    """A job for the same target is already queued or running."""


class JobManager:
    """Runs jobs on daemon threads and keeps their records (the most recent ``keep`` of them)."""

    def __init__(
        self,
        *,
        max_workers: int = 2,
        keep: int = 200,
    ) -> None:
        self._max_workers = max_workers
        self._keep = keep
        self._jobs: dict[str, Job] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, JobFunction] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, kind: str, params: dict[str, Any], fn: JobFunction, *, key: str) -> dict:
        """Queue ``fn``; refuse (JobConflict) while a job with the same ``key`` is active."""
        with self._lock:
            self._check_open()
            for job in self._jobs.values():
                if job.key == key and job.status in ACTIVE:
                    raise JobConflict(
                        f"{kind} job {job.id} for {key} is already {job.status}; "
                        f"wait for it (GET /jobs/{job.id}) or cancel it (DELETE /jobs/{job.id})"
                    )
            job = self._new(kind, params, key)
            self._queue.put((job, fn))
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"jbt-job-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
            return job.snapshot()

    def track(self, kind: str, params: dict[str, Any]) -> Job:
        """Record work that runs elsewhere, as a queued job: the caller moves it on with
        :meth:`start` and :meth:`finish`, and polls ``job.cancel`` for cancellation."""
        with self._lock:
            self._check_open()
            job = self._new(kind, params, key=uuid.uuid4().hex)
            job.tracked = True
            return job

    def start(self, job: Job) -> bool:
        """Mark a tracked job running; False when it was cancelled meanwhile."""
        with self._lock:
            if job.status != QUEUED:
                return False
            job.status = RUNNING
            job.started_at = _now_ms()
            return True

    def update(self, job: Job, *, progress: dict[str, Any] | None = None,
               counts: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None) -> None:
        """Publish a tracked job's progress and counts (replaced), or add to its params."""
        with self._lock:
            if progress is not None:
                job.progress = as_plain(progress)
            if counts is not None:
                job.counts = as_plain(counts)
            if params is not None:
                job.params.update(as_plain(params))

    def finish(
        self, job: Job, status: str, *, result: Any = None, error: str | None = None
    ) -> None:
        """End a tracked job with ``status`` (finished, failed or cancelled)."""
        self._finish(job, status, result=result, error=error)

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.snapshot()

    def list(self) -> list[dict]:
        """Every kept job, newest first."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.seq, reverse=True)
            return [j.snapshot() for j in jobs]

    def cancel(self, job_id: str) -> dict | None:
        """Ask a job to stop. A queued job is cancelled at once; a running one at its next poll."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status in ACTIVE:
                job.cancel.set()
                if job.status == QUEUED:
                    job.status = CANCELLED
                    job.finished_at = _now_ms()
            return job.snapshot()

    def wait(self, job_id: str, timeout: float) -> dict | None:
        """Block until the job is no longer active (or ``timeout`` seconds pass); its snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.get(job_id)
            if snap is None or snap["status"] not in ACTIVE or time.monotonic() >= deadline:
                return snap
            time.sleep(0.02)

    def stop(self, reason: str) -> None:
        """Refuse new jobs and ask every active one to stop (queued ones are cancelled now)."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.status in ACTIVE:
                    job.cancel.set()
                    if job.status == QUEUED:
                        job.status = CANCELLED
                        job.finished_at = _now_ms()
                        job.error = reason

    def shutdown(self, *, wait: bool = True, timeout: float = 3.0) -> None:
        """Cancel every active job and wait up to ``timeout`` seconds for the running ones to
        stop; those still running on the manager's threads then are marked cancelled and left
        to end with the process (tracked jobs are ended by their owners)."""
        self.stop("the server stopped")
        with self._lock:
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(None)
        if not wait:
            return
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = [j for j in self._jobs.values() if j.status in ACTIVE and not j.tracked]
            for job in stuck:
                job.status = CANCELLED
                job.finished_at = _now_ms()
                job.error = "the server stopped before the job did"
        for job in stuck:
            log.warning("job %s (%s) did not stop within %.0f s; marked cancelled",
                        job.id, job.kind, timeout)

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise JbtError("the server is shutting down; no new jobs are accepted")

    def _new(self, kind: str, params: dict[str, Any], key: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, params=dict(params), key=key,
                  seq=next(self._seq))
        self._jobs[job.id] = job
        self._forget_old()
        return job

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.status not in ACTIVE]
        excess = len(self._jobs) - self._keep
        for job in sorted(done, key=lambda j: j.seq)[: max(excess, 0)]:
            del self._jobs[job.id]

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._run(*item)
            with self._lock:
                self._idle += 1

    def _run(self, job: Job, fn: JobFunction) -> None:
        with self._lock:
            if job.status != QUEUED:  # cancelled while waiting for a worker
                return
            job.status = RUNNING
            job.started_at = _now_ms()

        def report(progress: Any = None, counts: dict[str, Any] | None = None) -> None:
            plain = as_plain(progress)
            if plain is not None and not isinstance(plain, dict):
                plain = {"value": plain}
            with self._lock:
                if plain is not None:
                    job.progress = plain
                if counts is not None:
                    job.counts = as_plain(counts)

        try:
            result = fn(report, job.cancel.is_set)
        except JbtError as exc:
            self._finish(job, FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a job's failure is reported, never raised
            from jbt.dberrors import database_error_message

            # a full disk, a read-only or locked database: named as the CLI names them
            message = database_error_message(exc) or f"{type(exc).__name__}: {exc}"
            self._finish(job, FAILED, error=message)
        else:
            status = CANCELLED if job.cancel.is_set() else FINISHED
            self._finish(job, status, result=result)

    def _finish(self, job: Job, status: str, *, result: Any = None, error: str | None = None) -> None:
        plain = as_plain(result) if result is not None else None
        with self._lock:
            if job.status not in ACTIVE:  # already marked (shutdown gave up on it)
                return
            job.status = status
            job.finished_at = _now_ms()
            job.error = error
            if plain is not None:
                job.result = plain if isinstance(plain, dict) else {"value": plain}
