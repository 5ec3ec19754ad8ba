"""Where trials run. The coordinator hands an executor batches of ``(trial number, params)``
and reads the outcomes back in trial order; nothing else crosses between them.

- :class:`ProcessExecutor` (``--jobs N``): N local worker processes (spawned, so they start
  clean whatever the coordinator holds), each building one :class:`TrialRunner` and opening the
  candles from the content-keyed ``.npy`` cache as read-only memory maps.
- :class:`InlineExecutor`: trials run in the calling process (notebooks, strategies defined
  outside a project folder).

Another executor (a cluster) implements the same four methods.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from jbt.errors import JbtError
from jbt.optimize.worker import (
    TrialOutcome,
    TrialRunner,
    WorkerSpec,
    cache_array,
    init_worker,
    prune_cache,
    run_trial,
    warm,
)

Task = tuple[int, dict[str, Any]]
Arrays = Mapping[str, Mapping[tuple[str, str], np.ndarray]]


class WorkerCrashed(JbtError):
    """A worker process died (killed, out of memory, a strategy that ended the process)."""

    def __init__(self) -> None:
        super().__init__(
            "a worker process died while running trials (killed, out of memory, or a strategy "
            "that ended the process); the trials saved so far are kept: run the same command "
            "to continue"
        )


class Batch(Protocol):
    def outcomes(self) -> Iterator[TrialOutcome]:
        """The outcomes in task order, each as soon as it (and those before it) is done."""

    def cancel(self) -> None:
        """Drop what has not started."""


class Executor(Protocol):
    jobs: int

    def start(self, spec: WorkerSpec, arrays: Arrays,
              strategies: Mapping[str, type] | None = None) -> None:
        """Get the workers ready to run trials of ``spec`` on these candles."""

    def submit(self, tasks: Sequence[Task]) -> Batch:
        """Queue a batch; returns at once."""

    def close(self, cancel: bool = False) -> None:
        """Stop the workers (``cancel``: without waiting for queued trials)."""


class _InlineBatch:
    def __init__(self, runner: TrialRunner, tasks: Sequence[Task]) -> None:
        self.runner = runner
        self.tasks = list(tasks)

    def outcomes(self) -> Iterator[TrialOutcome]:
        for number, params in self.tasks:
            yield self.runner.run(number, params)

    def cancel(self) -> None:
        self.tasks = []


class InlineExecutor:
    """Runs each trial in this process when its outcome is read."""

    jobs = 1

    def __init__(self) -> None:
        self.runner: TrialRunner | None = None

    def start(self, spec: WorkerSpec, arrays: Arrays,
              strategies: Mapping[str, type] | None = None) -> None:
        self.runner = TrialRunner(spec, arrays, strategies)

    def submit(self, tasks: Sequence[Task]) -> _InlineBatch:
        assert self.runner is not None, "start() first"
        return _InlineBatch(self.runner, tasks)

    def close(self, cancel: bool = False) -> None:
        self.runner = None


class _FutureBatch:
    def __init__(self, futures: list[Any]) -> None:
        self.futures = futures

    def outcomes(self) -> Iterator[TrialOutcome]:
        from concurrent.futures.process import BrokenProcessPool

        for future in self.futures:
            try:
                yield future.result()
            except BrokenProcessPool as exc:
                raise WorkerCrashed() from exc

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()


class ProcessExecutor:
    """``jobs`` worker processes; the candles go through the memory-mapped cache.

    :meth:`warm` starts the processes ahead of :meth:`start` (they import the engine while the
    coordinator loads the candles); each worker builds its runner on its first trial."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1")
        self.jobs = jobs
        self._pool: Any = None
        self._pending: list[_FutureBatch] = []
        self._spec: WorkerSpec | None = None
        self._token = ""

    def warm(self) -> None:
        """Start the worker processes now."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
            )
            for _ in range(self.jobs):
                self._pool.submit(warm)

    def start(self, spec: WorkerSpec, arrays: Arrays,
              strategies: Mapping[str, type] | None = None) -> None:
        import uuid

        periods = []
        files: set[str] = set()
        for period in spec.periods:
            paths = {key: cache_array(arr) for key, arr in arrays[period.name].items()}
            files.update(paths.values())
            periods.append(replace(period, files=paths))
        prune_cache(keep=files)
        self._spec = replace(spec, periods=tuple(periods))
        self._token = uuid.uuid4().hex
        self.warm()

    def submit(self, tasks: Sequence[Task]) -> _FutureBatch:
        from concurrent.futures.process import BrokenProcessPool

        assert self._spec is not None, "start() first"
        try:
            batch = _FutureBatch([self._pool.submit(run_trial, self._token, self._spec, n,
                                                    dict(p)) for n, p in tasks])
        except BrokenProcessPool as exc:
            raise WorkerCrashed() from exc
        self._pending = [b for b in self._pending if not all(f.done() for f in b.futures)]
        self._pending.append(batch)
        return batch

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (for measuring them)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.pid is not None]

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            for batch in self._pending:
                batch.cancel()
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        self._pending = []
        pool.shutdown(wait=True, cancel_futures=True)
