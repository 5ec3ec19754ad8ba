"""Where independent tasks run: the executor seam of batches (``jbt backtest --symbols``,
:func:`jbt.research.map_backtests`).

A batch is a module-level function and a list of small picklable task specs (no closures, no
arrays unless the caller gave them); an executor maps the function over the specs and yields
the results in task order. Nothing else crosses between the caller and the executor, so the
results do not depend on which executor ran them or on how many workers it had.

- :class:`InlineExecutor`: the tasks run in the calling process, one after the other
  (``--jobs 1``: no process is started).
- :class:`ProcessExecutor`: ``jobs`` local worker processes (spawned, so they start clean
  whatever the caller holds; they exit by themselves if the caller dies). ``warm()`` starts
  them ahead of the first ``map``.

Another executor plugs in by implementing :class:`MapExecutor` (``jobs``, ``map`` and
``close``) and being passed as ``executor=`` to :func:`jbt.modes.batch_mode.run` or
:func:`jbt.research.map_backtests`. Its workers must be able to import jbt, and either reach the
project database (PostgreSQL on a cluster; an SQLite file only on this machine) or get each
task's candles with it (:func:`jbt.modes.batch_mode.preload`), as
:class:`jbt.optimize.ray_executor.RayMapExecutor` (``--ray``) does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from jbt.errors import JbtError

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(JbtError):
    """A worker process died (killed, out of memory, a strategy that ended the process)."""

    def __init__(self) -> None:
        super().__init__(
            "a worker process died (killed, out of memory, or a strategy that ended the "
            "process); the results saved before it are kept"
        )


class MapExecutor(Protocol):
    """Runs ``fn`` over task specs; the interface a batch needs from where it runs."""

    #: how many tasks run at once
    jobs: int

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn(task)`` for every task, yielded in task order (each as soon as it and those
        before it are done). ``fn`` is a module-level function and each task is picklable."""

    def close(self, cancel: bool = False) -> None:
        """Release the workers (``cancel``: drop the tasks not started)."""


class InlineExecutor:
    """Each task runs in this process when its result is read."""

    jobs = 1

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)

    def close(self, cancel: bool = False) -> None:
        return None

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)


class ProcessExecutor:
    """``jobs`` local worker processes (started on the first :meth:`map`)."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1")
        self.jobs = jobs
        self._pool: Any = None
        self._futures: list[Any] = []

    def _start(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from jbt.optimize.worker import init_worker

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
            )
        return self._pool

    def warm(self) -> None:
        """Start the worker processes now (they import the engine while the caller gets the
        tasks ready) instead of on the first :meth:`map`."""
        from jbt.optimize.worker import warm

        pool = self._start()
        for _ in range(self.jobs):
            pool.submit(warm)

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        from concurrent.futures.process import BrokenProcessPool

        pool = self._start()
        try:
            futures = [pool.submit(fn, task) for task in tasks]
        except BrokenProcessPool as exc:
            raise WorkerDied() from exc
        self._futures.extend(futures)
        for future in futures:
            try:
                yield future.result()
            except BrokenProcessPool as exc:
                raise WorkerDied() from exc

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        futures, self._futures = self._futures, []
        if pool is None:
            return
        if cancel:
            for future in futures:
                future.cancel()
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)


def local_executor(jobs: int) -> InlineExecutor | ProcessExecutor:
    """``jobs`` 1: the calling process; more: that many worker processes."""
    return InlineExecutor() if jobs == 1 else ProcessExecutor(jobs)


__all__ = ["InlineExecutor", "MapExecutor", "ProcessExecutor", "WorkerDied", "local_executor"]
