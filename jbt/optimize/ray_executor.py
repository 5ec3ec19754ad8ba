"""Trials on a Ray cluster (``--ray ADDRESS``): the :class:`~jbt.optimize.executors.Executor`
of a cluster the user started the way Ray documents (``ray start --head``, ``ray start
--address``).

- The coordinator stays where it is (it keeps the study, asks and tells in trial order), so a
  study run on Ray has the trials and values of ``--jobs 1`` with the same seed.
- The candles (and the spec) go once into Ray's object store (``ray.put``); a task carries only
  a reference to them, and a worker process reads them from its node's shared memory without a
  copy, once: its :class:`~jbt.optimize.worker.TrialRunner` is built on its first trial of a
  study and reused for the next ones (kept under a token that changes with every study).
- The project's Python code (``strategies/``, the helper modules and packages next to it)
  travels with the Ray job's ``runtime_env`` as its ``working_dir``; jbt itself, and the
  packages the strategies import, must be installed on every node (the same versions).
- A Ray task runs several trials of a batch (:func:`chunk_size`), so a worker seldom waits for
  a round trip to the coordinator between trials.
- A task whose worker or node dies is run again by Ray (``max_retries``) on a live node; the
  coordinator reads each trial's one result, so nothing is lost or counted twice.

:class:`RayMapExecutor` runs a symbol batch (``jbt backtest --symbols --ray``) on the same
connection code: one Ray task a symbol, its candles read here and passed through the object
store, so the nodes need no database.

Ray is imported when a :class:`RayExecutor` is made (one line saying how to install it when
it is missing), never by importing this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from jbt.errors import InputError, JbtError
from jbt.optimize.executors import Arrays, Task
from jbt.optimize.worker import TrialOutcome, TrialRunner, WorkerSpec

INSTALL_HINT = 'pip install "jbt[ray]"'

#: How often Ray runs a task again after its worker process or node died.
MAX_RETRIES = 5

#: Folders next to strategies/ that are never shipped (virtualenvs, data, caches, the tests).
_SKIP_DIRS = {"jbt", "tests", "test", "node_modules", "storage", "venv", "env", "build", "dist"}


def import_ray() -> Any:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise JbtError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_address(address: str) -> str:
    """``auto``, ``HOST:PORT`` (the head node's GCS address) or ``ray://HOST:PORT`` (Ray
    Client); anything else is an error naming the three."""
    text = address.strip()
    if text == "auto":
        return text
    rest = text[len("ray://"):] if text.startswith("ray://") else text
    host, sep, port = rest.rpartition(":")
    if sep and host and port.isdigit() and 0 < int(port) < 65536 and "/" not in host:
        return text
    raise InputError(f"--ray '{address}': give auto (the cluster this machine belongs to), "
                     "HOST:PORT (the head node, as in 'ray start --address') or "
                     "ray://HOST:PORT (Ray Client)")


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at HOST:PORT (Ray itself would wait for minutes)."""
    import socket

    if address == "auto":
        return
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise JbtError(f"--ray {address}: no Ray cluster answers there ({why}); start one with "
                       "'ray start --head' (see the README's Ray section) or check the "
                       "address") from None


def stage_project(project_dir: str | Path) -> Path:
    """A temporary folder holding the project's Python code, to be the tasks' working_dir:
    ``strategies/`` and the ``*.py`` files and packages next to it (``routes.py``, helper
    modules), without bytecode, hidden folders, data or virtualenvs."""
    src = Path(project_dir).resolve()
    out = Path(tempfile.mkdtemp(prefix="jbt-ray-project-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    try:
        if (src / "strategies").is_dir():
            shutil.copytree(src / "strategies", out / "strategies", ignore=ignore)
        for entry in sorted(src.iterdir()):
            if entry.name.startswith(".") or entry.name == "strategies":
                continue
            if entry.is_file() and entry.suffix == ".py":
                shutil.copy2(entry, out / entry.name)
            elif (entry.is_dir() and entry.name not in _SKIP_DIRS
                  and (entry / "__init__.py").is_file()):
                shutil.copytree(entry, out / entry.name, ignore=ignore)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


# ------------------------------------------------------------------------ in the Ray workers

_RUNNER: tuple[str, TrialRunner] | None = None


def _same_version(version: str | None) -> None:
    """The coordinator's jbt ``version`` is this node's, or one line saying so."""
    from jbt import __version__

    if version is not None and version != __version__:
        import socket

        raise JbtError(f"the Ray node {socket.gethostname()} runs jbt {__version__}, the "
                       f"coordinator jbt {version}: install the same jbt on every node")


def ray_map_task(fn: Callable[[Any], Any], task: Any, loaded: Any,
                 version: str | None = None) -> Any:
    """A Ray task of a batch (:class:`RayMapExecutor`): ``fn(task)`` with the task's project
    folder the shipped working_dir and its candles ``loaded`` (Ray hands the object-store
    reference over resolved: the arrays are read-only views of the node's shared memory)."""
    _same_version(version)
    changes: dict[str, Any] = {}
    if hasattr(task, "project_dir"):
        changes["project_dir"] = os.getcwd()
    if loaded is not None:
        changes["loaded"] = loaded
    return fn(replace(task, **changes) if changes else task)


def ray_trials(token: str, refs: list[Any], tasks: list[Task],
               version: str | None = None) -> list[TrialOutcome]:
    """A Ray task: these trials, in order, on this worker process's runner for the study
    ``token``.

    ``refs`` is ``[spec, arrays]`` as object references (in a list, so Ray hands them over
    unresolved): they are read only when the runner is built, the arrays as read-only views of
    the node's object store. ``version``: the coordinator's jbt, which this node must run."""
    global _RUNNER
    _same_version(version)
    if _RUNNER is None or _RUNNER[0] != token:
        import ray

        _RUNNER = None  # the previous study's runner (and its candles) go first
        spec, arrays = ray.get(refs)
        spec = replace(spec, project_dir=os.getcwd())  # the shipped working_dir
        _RUNNER = (token, TrialRunner(spec, arrays))
    runner = _RUNNER[1]
    return [runner.run(number, params) for number, params in tasks]


def ray_warm(seconds: float) -> int:
    """A Ray task that starts a worker process early: imports the engine, holds its CPU a
    moment (so the node's other CPUs get workers of their own)."""
    import time

    import jbt.modes.backtest_mode  # noqa: F401
    import jbt.plan  # noqa: F401

    time.sleep(seconds)
    return os.getpid()


# ------------------------------------------------------------------------ in the coordinator


def _trials(numbers: list[int]) -> str:
    number = f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"
    return f"trial{'s' if len(numbers) > 1 else ''} {number}"


def _failure(exc: BaseException, trial: str,
             kept: str = "the trials saved so far are kept") -> JbtError:
    """One line for a task (``trial``: what it ran, e.g. "trials 4-7") that Ray could not
    complete."""
    import ray.exceptions as rex

    if isinstance(exc, rex.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        what = str(cause) if isinstance(cause, JbtError) else (
            f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause) else ''}")
        return JbtError(f"a Ray worker could not run {trial}: {what}")
    died = tuple(getattr(rex, name) for name in ("WorkerCrashedError", "NodeDiedError",
                                                 "ObjectLostError", "OwnerDiedError")
                 if hasattr(rex, name))
    if isinstance(exc, died):
        return JbtError(
            f"{trial} failed on the Ray cluster {MAX_RETRIES + 1} times (a worker "
            "process or node died each time: out of memory, killed, or a strategy that ended "
            "the process); the trials saved so far are kept: run the same command to continue"
        )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return JbtError(f"the Ray cluster failed running {trial}: {type(exc).__name__}: "
                    f"{text}")


def chunk_size(n_tasks: int, workers: int, limit: int = 8) -> int:
    """Trials a Ray task runs: a batch split into one task per worker, at most ``limit``
    trials a task. A worker waits a round trip to the coordinator between two tasks (tens of
    milliseconds on a loaded machine), none between two trials of one task; with two batches
    in flight, a worker that finishes early takes a task of the next batch."""
    return max(1, min(limit, n_tasks // max(1, workers)))


class _RayBatch:
    def __init__(self, chunks: list[list[Task]], refs: list[Any]) -> None:
        self.chunks = chunks
        self.refs = refs

    def outcomes(self) -> Iterator[TrialOutcome]:
        import ray

        for chunk, ref in zip(self.chunks, self.refs, strict=True):
            try:
                outs = ray.get(ref)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - every Ray failure becomes one line
                raise _failure(exc, _trials([n for n, _ in chunk])) from exc
            yield from outs

    def cancel(self) -> None:
        import ray

        for ref in self.refs:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - done, or the cluster is gone: nothing to stop
                pass
        self.refs = []
        self.chunks = []


class RayExecutor:
    """Runs trials as Ray tasks on the cluster at ``address`` (see :func:`check_address`).

    It connects in :meth:`warm` (before anything is written: an unreachable cluster is one
    line and an untouched database); ``jobs`` is then the cluster's CPU count. A Ray task runs
    ``chunk`` trials of a batch (default: :func:`chunk_size`). ``max_retries``: how often a
    task is run again after its worker or node died."""

    def __init__(self, address: str, project_dir: str | Path | None = None, *,
                 max_retries: int = MAX_RETRIES, chunk: int | None = None) -> None:
        self.address = check_address(address)
        self.chunk = chunk
        self.project_dir = None if project_dir is None else str(Path(project_dir).resolve())
        self.max_retries = max_retries
        self.jobs = 1
        self._ray = import_ray()
        self._connected: str | None = None  # the project folder the job ships
        self._staged: Path | None = None
        self._remote: Any = None
        self._refs: list[Any] = []
        self._token = ""
        self._pending: list[_RayBatch] = []
        self._warming: list[Any] = []

    @property
    def where(self) -> str:
        """What runs the tasks, for headers: "Ray cluster at ADDRESS, N CPUs"."""
        return f"Ray cluster at {self.address}, {self.jobs} CPU{'s' if self.jobs != 1 else ''}"

    def warm(self) -> None:
        """Connect to the cluster (when the project folder is known)."""
        if self.project_dir is not None:
            self._connect(self.project_dir)

    def _connect(self, project_dir: str) -> None:
        """A Ray job whose working_dir is the project's code (Ray ships a job's working_dir
        only when it connects): connected once per project folder."""
        if self._connected == project_dir:
            return
        self._disconnect()
        ray = self._ray
        import logging

        if ray.is_initialized():
            raise JbtError("this process is already connected to a Ray cluster; --ray needs a "
                           "process of its own")
        _reachable(self.address)
        self._staged = stage_project(project_dir)
        try:
            ray.init(address=self.address, namespace="jbt", logging_level=logging.ERROR,
                     log_to_driver=False, runtime_env={"working_dir": str(self._staged)})
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            self._disconnect()
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if self.address == "auto" and "Could not find any running Ray instance" in text:
                text = "Ray finds none running on this machine"
            raise JbtError(
                f"--ray {self.address}: cannot connect to a Ray cluster ({text}); start one "
                "with 'ray start --head' (see the README's Ray section)"
            ) from None
        self._connected = project_dir
        self.jobs = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._prestart()

    def _prestart(self) -> None:
        """One task per CPU of every node, placed there: the job's worker processes start
        (the working_dir unpacked, the engine imported) while the coordinator loads the
        candles, instead of on the first trials."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        warm = ray.remote(ray_warm)
        self._warming = []
        for node in ray.nodes():
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if not node.get("Alive") or cpus < 1:
                continue
            where = NodeAffinitySchedulingStrategy(node["NodeID"], soft=True)
            self._warming += [warm.options(num_cpus=1, scheduling_strategy=where,
                                           name="jbt_warm").remote(0.5) for _ in range(cpus)]

    def start(self, spec: WorkerSpec, arrays: Arrays,
              strategies: Mapping[str, type] | None = None) -> None:
        """Put the spec and the candles into the object store (connected first)."""
        ray = self._ray
        self._connect(str(Path(spec.project_dir).resolve()))
        self._refs = []
        plain = {period: dict(candles) for period, candles in arrays.items()}
        self._refs = [ray.put(spec), ray.put(plain)]
        self._token = uuid.uuid4().hex
        self._remote = ray.remote(ray_trials).options(
            num_cpus=1, max_retries=self.max_retries, retry_exceptions=False, name="jbt_trials",
        )

    def submit(self, tasks: Sequence[Task]) -> _RayBatch:
        assert self._remote is not None, "start() first"
        tasks = [(n, dict(p)) for n, p in tasks]
        k = self.chunk or chunk_size(len(tasks), self.jobs)
        chunks = [tasks[i:i + k] for i in range(0, len(tasks), k)]
        from jbt import __version__

        refs = [self._remote.remote(self._token, self._refs, c, __version__) for c in chunks]
        batch = _RayBatch(chunks, refs)
        self._pending = [*self._pending[-3:], batch]  # the coordinator keeps two in flight
        return batch

    def _disconnect(self) -> None:
        self._refs = []
        self._warming = []
        self._remote = None
        if self._connected is not None:
            self._connected = None
            self._ray.shutdown()
        if self._staged is not None:
            shutil.rmtree(self._staged, ignore_errors=True)
            self._staged = None

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for batch in self._pending:
                batch.cancel()
        self._pending = []
        self._disconnect()


class RayMapExecutor(RayExecutor):
    """A batch (:class:`jbt.parallel.MapExecutor`) on the Ray cluster at ``address``: each
    task (a :class:`jbt.modes.batch_mode.SymbolTask`, one symbol's backtest) is one Ray task.

    The connection is :class:`RayExecutor`'s: the project's code is the job's working_dir and
    each task's ``project_dir`` points at it on its node. The nodes need no database: this
    process reads each symbol's candles once (:func:`jbt.modes.batch_mode.preload`), puts them
    in the object store and passes the reference with the task (submitted as soon as its
    candles are read, so the nodes run while the next symbol loads); the results come back in
    task order and are saved here. A task whose worker or node dies is run again by Ray on a
    live node (``max_retries``); one that still fails stops the batch with one line."""

    def __init__(self, address: str, project_dir: str | Path | None = None, *,
                 max_retries: int = MAX_RETRIES) -> None:
        super().__init__(address, project_dir, max_retries=max_retries)
        self._map_refs: list[Any] = []

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from jbt import __version__
        from jbt.modes.batch_mode import SymbolTask, preload

        ray = self._ray
        tasks = list(tasks)
        if not tasks:
            return
        project = self.project_dir or str(Path(getattr(tasks[0], "project_dir", ".")).resolve())
        self._connect(project)
        remote = ray.remote(ray_map_task).options(
            num_cpus=1, max_retries=self.max_retries, retry_exceptions=False, name="jbt_symbol")
        refs = []
        for task in tasks:
            loaded = None
            if isinstance(task, SymbolTask) and task.loaded is None:
                loaded = preload(task)
            ref = remote.remote(fn, task, None if loaded is None else ray.put(loaded),
                                __version__)
            refs.append(ref)
            self._map_refs.append(ref)
        for n, (task, ref) in enumerate(zip(tasks, refs, strict=True), 1):
            try:
                out = ray.get(ref)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - every Ray failure becomes one line
                what = f"symbol {task.symbol}" if hasattr(task, "symbol") else f"task {n}"
                raise _failure(exc, what, kept="the sessions saved before it are kept") from exc
            yield out

    def close(self, cancel: bool = False) -> None:
        refs, self._map_refs = self._map_refs, []
        if cancel:
            for ref in refs:
                try:
                    self._ray.cancel(ref)
                except Exception:  # noqa: BLE001 - done, or the cluster is gone
                    pass
        super().close(cancel)
