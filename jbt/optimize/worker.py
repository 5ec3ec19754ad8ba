"""The worker side of a study: run one trial (a training and a testing backtest) and score it.

A :class:`TrialRunner` is built once per worker from a :class:`WorkerSpec` (config, routes,
the two periods and where their candles are) and then runs any number of trials; it is the
only place that knows how one trial is run. Worker processes import this module and nothing
of Optuna, Rich or the database.

Candles reach worker processes through a cache of ``.npy`` files keyed by their content, opened
with ``np.load(mmap_mode="r")``: every worker maps the same pages of the page cache, so N
workers hold one copy of the candles, and no task ever carries an array.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.errors import JbtError, StrategyError
from jbt.optimize.objectives import Objective, objective_value
from jbt.optimize.space import SearchSpace
from jbt.results import RouteSpec

SymbolKey = tuple[str, str]

#: Cache files not used for this long are deleted when a study starts.
CACHE_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class PeriodData:
    """One period of a study: ``[start, end)`` and the candles ``jbt backtest START END``
    loads for it (per symbol: the base timeframe and, for worker processes, a cache file)."""

    name: str  # "train" | "test"
    start: int
    end: int
    base_tf: dict[SymbolKey, str]
    files: dict[SymbolKey, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to run trials; small and picklable (no arrays)."""

    project_dir: str
    config: Config
    routes: tuple[RouteSpec, ...]
    extra: tuple[tuple[str, str, str], ...]
    periods: tuple[PeriodData, ...]
    space: SearchSpace
    objectives: tuple[Objective, ...]
    min_trades: int
    fast_path: bool = True
    #: when set, each task runs ``job.run(runner, number, params)`` instead of a trial (what
    #: jbt.validation runs on the executors: price paths, trials' return series)
    job: Any = None


@dataclass
class TrialOutcome:
    """What a worker sends back for one trial.

    ``status``: ``ok``; ``infeasible`` (fewer training trades than ``--min-trades``, or an
    objective undefined on training; ``reason`` says which); ``failed`` (the run or the
    objective raised; ``error`` is the one-line message)."""

    number: int
    status: str
    values: list[float | None]
    test_values: list[float | None]
    train: dict[str, Any] | None
    test: dict[str, Any] | None
    error: str | None = None
    reason: str | None = None
    duration_s: float = 0.0
    data: dict[str, Any] | None = None  # what a job sends back beside the metrics


class TrialRunner:
    """Runs trials on one worker; built once, reused for every trial it is given.

    Building it imports the strategies and makes one :class:`~jbt.plan.RunPlan` per period
    (the checks, the bars, the clock); a trial then costs only the two runs of the bar loop.
    ``arrays`` hands the periods' candles over in-process (``{period name: {(exchange,
    symbol): array}}``); without it they are opened from the spec's cache files.
    """

    def __init__(self, spec: WorkerSpec,
                 arrays: Mapping[str, Mapping[SymbolKey, np.ndarray]] | None = None,
                 strategies: Mapping[str, type] | None = None) -> None:
        from jbt import routes as routes_mod
        from jbt.plan import plan_run

        self.spec = spec
        routes = list(spec.routes)
        self.strategies = dict(strategies) if strategies is not None else (
            routes_mod.load_strategies(Path(spec.project_dir), routes)
        )
        self.first_strategy = self.strategies[routes[0].strategy]
        self.plans = {}
        self.candles: dict[str, dict[SymbolKey, np.ndarray]] = {}
        for period in spec.periods:
            if arrays is not None:
                candles = dict(arrays[period.name])
            else:
                candles = {key: open_cached(path) for key, path in period.files.items()}
            self.candles[period.name] = candles
            self.plans[period.name] = plan_run(spec.config, routes, candles, period.base_tf,
                                               period.start, period.end, list(spec.extra))

    def run_period(self, period: str, hyperparameters: Mapping[str, Mapping[str, Any]]):
        """One backtest of the period with these hyperparameters, on the period's plan: the
        result ``jbt backtest START END --hp ...`` gives, metrics included."""
        from jbt.modes.backtest_mode import run_planned

        return run_planned(self.plans[period], self.strategies, hyperparameters=hyperparameters,
                           fast_path=self.spec.fast_path)

    def run(self, number: int, params: Mapping[str, Any]) -> TrialOutcome:
        """Trial ``number`` with the searched values ``params`` (keys of the space); without a
        testing period in the spec, the training run alone (a walk-forward window)."""
        if self.spec.job is not None:
            return self.spec.job.run(self, number, params)
        began = time.perf_counter()
        spec = self.spec
        hp = spec.space.overrides(params)
        first = spec.routes[0].strategy
        n = len(spec.objectives)
        out = TrialOutcome(number, "ok", [None] * n, [None] * n, None, None)
        stage = "training"
        try:
            train = self.run_period("train", hp)
            out.train = dict(train.metrics)
            out.values = self._score(train, first)
            if "test" in self.plans:
                stage = "testing"
                test = self.run_period("test", hp)
                out.test = dict(test.metrics)
                out.test_values = self._score(test, first)
        except Exception as exc:  # noqa: BLE001 - a failing trial is recorded, the study goes on
            out.status = "failed"
            what = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
            out.error = f"{stage} period: {what}".splitlines()[0] if what else stage
        else:
            trades = int(out.train.get("total_trades") or 0)
            undefined = [o.name for o, v in zip(spec.objectives, out.values, strict=True)
                         if v is None]
            if trades < spec.min_trades:
                out.status = "infeasible"
                out.reason = (f"{trades} training trade{'s' if trades != 1 else ''}, "
                              f"fewer than --min-trades {spec.min_trades}")
            elif undefined:
                out.status = "infeasible"
                out.reason = f"{', '.join(undefined)} undefined on training"
        out.duration_s = time.perf_counter() - began
        return out

    def _score(self, result: Any, first: str) -> list[float | None]:
        values = []
        for obj in self.spec.objectives:
            hp = result.config.get("hyperparameters", {}).get(first, {})
            try:
                v = objective_value(obj, result, self.first_strategy, hp)
            except Exception as exc:
                name = self.first_strategy.__name__
                raise StrategyError(f"{name}.objective(): {type(exc).__name__}: {exc}") from exc
            values.append(v if v is None or math.isfinite(v) else None)
        return values


# --------------------------------------------------------------------------- candle cache


def cache_dir() -> Path:
    """Where candle arrays are cached for worker processes (``JBT_CACHE_DIR`` overrides)."""
    env = os.environ.get("JBT_CACHE_DIR")
    if env:
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"jbt-cache-{uid}" / "candles"


def content_key(arr: np.ndarray) -> str:
    """A fingerprint of an array's content (shape, dtype and bytes)."""
    a = np.ascontiguousarray(arr)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cache_array(arr: np.ndarray, key: str | None = None) -> str:
    """The cache file holding ``arr`` (written once, atomically; reused while it exists)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = key or content_key(arr)
    path = folder / f"{key}.npy"
    if path.exists():
        os.utime(path)
        return str(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(arr, dtype=np.float64))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path)


def prune_cache(keep: set[str] = frozenset(), max_age_s: float = CACHE_MAX_AGE_S) -> None:
    """Delete cache files not used for ``max_age_s`` (a file still mapped stays readable)."""
    folder = cache_dir()
    if not folder.is_dir():
        return
    now = time.time()
    for path in folder.glob("*.npy"):
        try:
            if str(path) not in keep and now - path.stat().st_mtime > max_age_s:
                path.unlink()
        except OSError:
            continue


def open_cached(path: str) -> np.ndarray:
    """A read-only memory map of a cache file (pages shared by every process mapping it)."""
    return np.load(path, mmap_mode="r")


# --------------------------------------------------------------------------- worker processes

_RUNNER: tuple[str, TrialRunner] | None = None


def init_worker() -> None:
    """Process-pool initializer: Ctrl-C is the coordinator's to handle, and a worker exits by
    itself if the coordinator dies. The engine's modules are imported now, so a pool started
    early is ready by the time the coordinator has loaded the candles."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent()
    import jbt.modes.backtest_mode  # noqa: F401
    import jbt.plan  # noqa: F401


def warm() -> int:
    """A task that does nothing: submitted to start the workers early."""
    return os.getpid()


def run_trial(token: str, spec: WorkerSpec, number: int, params: dict[str, Any]) -> TrialOutcome:
    """Process-pool task: one trial, on this worker's runner for ``spec`` (built on the first
    trial of the study the worker gets, reused for the next ones)."""
    global _RUNNER
    if _RUNNER is None or _RUNNER[0] != token:
        _RUNNER = (token, TrialRunner(spec))
    return _RUNNER[1].run(number, params)


def _watch_parent() -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="jbt-parent-watch", daemon=True).start()
