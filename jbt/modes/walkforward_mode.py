"""``jbt walk-forward`` as a function: optimise on each window's training part, backtest the
best parameters on the testing part after it, stitch the out-of-sample runs.

Every input is checked (routes, strategies, search space, objectives, durations, the candles
of the whole period) before anything is written. Then, window after window:

1. the training part's candles are loaded as ``jbt backtest TRAIN_START TRAIN_END`` loads
   them (warm-up before TRAIN_START, nothing at or after TRAIN_END), and the search runs on
   them alone on the executor (``--jobs`` local processes, or any other executor): each trial
   is one training backtest, scored by the objective, in seeded batches as ``jbt optimize``
   runs them (the optimiser's own training/testing split is not used inside a window: the
   window's testing part is the out-of-sample). Window ``k``'s sampler seed is
   :func:`window_seed` of ``--seed`` and ``k``;
2. the best feasible trial (``jbt optimize``'s ranking) is backtested on the testing part as
   ``jbt backtest TEST_START TEST_END --hp ...`` runs it, saved as a session;
3. the window (its trials, the choice, both periods' metrics, the session) is saved.

An interrupted run is continued by the same command. At the end the windows' out-of-sample
runs are stitched (:mod:`jbt.validation.walkforward`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import DAY_MS
from jbt.errors import InputError
from jbt.optimize.executors import Executor, ProcessExecutor
from jbt.results import BacktestResult
from jbt.validation.walkforward import WindowRun, overall_efficiency, stability, stitch
from jbt.validation.windows import Window, fmt_duration, make_windows, parse_duration


def window_seed(seed: int, index: int) -> int:
    """The sampler seed of window ``index``: the first 32-bit word of
    ``SeedSequence(seed, spawn_key=(index,))`` (independent of the number of windows)."""
    ss = np.random.SeedSequence(seed, spawn_key=(index,))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclass
class WindowStarted:
    """Sent before a window's search starts."""

    window: Window
    count: int  # windows in the run
    trials: int
    seed: int


@dataclass
class WalkForwardResult:
    run_id: int | None
    name: str
    settings: dict[str, Any]
    space: Any
    windows: list[WindowRun]
    stitched: BacktestResult
    efficiency: float | None
    stability: list[dict[str, Any]]
    continued: int = 0  # windows found stored when the run started
    seconds: float = 0.0
    status: str = "finished"

    def to_dict(self) -> dict[str, Any]:
        """The JSON export: the settings, every window (with its trials), the efficiency and
        stability, and the stitched out-of-sample result (``jbt backtest --json``'s shape)."""
        stitched = self.stitched.to_dict()
        stitched["scales"] = self.stitched.extra.get("scales", [])
        return {
            "walk_forward_id": self.run_id, "name": self.name, "status": self.status,
            "settings": self.settings,
            "windows": [w.to_dict() for w in self.windows],
            "efficiency": self.efficiency, "stability": self.stability,
            "out_of_sample": stitched,
        }


class _Discard:
    """The coordinator's store for a window's search: the trials are kept with the window."""

    def save(self, *args: Any) -> None:
        return None


def run(
    config: Config,
    project_dir: Path | str | None = None,
    *,
    start: int | None = None,
    end: int | None = None,
    train: str = "180d",
    test: str = "30d",
    step: str | None = None,
    anchored: bool = False,
    trials: int = 100,
    jobs: int = 1,
    objectives: Sequence[str] | None = None,
    sampler: str = "tpe",
    seed: int = 0,
    min_trades: int = 1,
    space: Sequence[str] = (),
    hp: Sequence[str] = (),
    batch: int = 16,
    name: str | None = None,
    save: bool = True,
    executor: Executor | None = None,
    on_window: Callable[[WindowStarted], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_window_done: Callable[[WindowRun], None] | None = None,
) -> WalkForwardResult:
    """Run (or continue) a walk-forward analysis; see the module docstring."""
    from jbt import routes as routes_mod
    from jbt.models import database_proxy, open_database
    from jbt.modes.backtest_mode import load
    from jbt.modes.optimize_mode import default_study_name, strategy_fingerprint
    from jbt.optimize.coordinator import SAMPLERS
    from jbt.optimize.objectives import check_custom, parse_objectives
    from jbt.optimize.space import build_space
    from jbt.optimize.worker import content_key
    from jbt.plan import check_extra, check_period, check_routes, plan_run
    from jbt.timeframes import to_ms

    began = time.perf_counter()
    project = Path(project_dir) if project_dir is not None else config.project_dir
    for flag, value, least in (("--trials", trials, 1), ("--jobs", jobs, 1),
                               ("--batch", batch, 1)):
        if value < least:
            raise InputError(f"{flag} must be at least {least}")
    if min_trades < 0:
        raise InputError("--min-trades cannot be negative")
    if seed < 0:
        raise InputError("--seed must be a non-negative integer")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler {sampler}: use one of {', '.join(SAMPLERS)}")
    train_ms = parse_duration(train, "--train")
    test_ms = parse_duration(test, "--test")
    step_ms = parse_duration(step, "--step") if step is not None else test_ms
    objs = parse_objectives(objectives)
    if sampler == "cmaes" and len(objs) > 1:
        raise InputError("--sampler cmaes optimises one objective; use tpe or nsga2 for two")
    declared = routes_mod.load_routes(project)
    routes, extra = check_routes(declared.routes), check_extra(declared.extra_candles)
    strategies = routes_mod.load_strategies(project, routes)
    names = [r.strategy for r in routes]
    search = build_space(strategies, names, space, hp)
    check_custom(objs, strategies[routes[0].strategy])
    target = min(trials, search.grid_size()) if sampler == "grid" else trials
    check_period(start, end)

    if database_proxy.obj is None:
        open_database(config.database_url())
    # the whole period, checked once: missing candles are refused before anything is written
    candles, base_tf, end, _ = load(config, routes, extra, start, end)
    whole = plan_run(config, routes, candles, base_tf, start, end, extra)
    align = max(to_ms(r.timeframe) for r in routes)
    # without START: the first UTC day (the first bar of the longest timeframe, when it is
    # longer than a day or does not divide one) with the full warm-up
    unit = align if align >= DAY_MS or DAY_MS % align else DAY_MS
    p_start = whole.start if start is not None else -(-whole.start // unit) * unit
    p_end = whole.end
    first = routes[0]
    bench = candles[(first.exchange, first.symbol)]
    data = {f"{e}:{s}": content_key(a) for (e, s), a in candles.items()}
    del whole, candles
    windows = make_windows(p_start, p_end, train_ms, test_ms, step_ms, anchored, align)

    run_name = name or default_study_name(routes)
    identity = {
        "routes": [r.__dict__ for r in routes], "extra": [list(e) for e in extra],
        "period": [p_start, p_end], "train": train_ms, "test": test_ms, "step": step_ms,
        "anchored": anchored, "trials": target,
        "objectives": [o.to_dict() for o in objs], "sampler": sampler, "seed": seed,
        "batch": batch, "space": search.to_dict(), "min_trades": min_trades,
        "backtest": dict(config.snapshot()["backtest"]), "data": data,
        "strategies": {s: strategy_fingerprint(project, s) for s in dict.fromkeys(names)},
    }
    import json

    identity = json.loads(json.dumps(identity))  # the form it reads back from the database
    settings = {
        "identity": identity, "name": run_name,
        "text": {"train": fmt_duration(train_ms), "test": fmt_duration(test_ms),
                 "step": fmt_duration(step_ms)},
        "windows": [w.to_dict() for w in windows],
    }

    from jbt.validation import store

    done: dict[int, WindowRun] = {}
    run_id = None
    if save:
        found = store.find_unfinished(identity)
        if found is not None:
            run_id = found.id
            done = {int(w["index"]): WindowRun.from_dict(w) for w in found.windows}
        else:
            run_id = store.create_run(run_name, settings)
    continued = len(done)

    executor = executor if executor is not None else ProcessExecutor(jobs)
    results: list[WindowRun] = []
    try:
        if len(done) < len(windows):
            warm = getattr(executor, "warm", None)
            if warm is not None:
                warm()
        for w in windows:
            if w.index in done:
                results.append(done[w.index])
                continue
            wr = _run_window(config, project, executor, routes, extra, strategies, search, objs,
                             w, len(windows), target, sampler=sampler, seed=seed,
                             batch=batch, min_trades=min_trades, name=run_name, save=save,
                             on_window=on_window, on_progress=on_progress)
            if run_id is not None:
                store.save_window(run_id, w.index, wr.to_dict(), wr.session_id)
            results.append(wr)
            if on_window_done is not None:
                on_window_done(wr)
        executor.close()
    except BaseException as exc:
        executor.close(cancel=True)
        if run_id is not None and not isinstance(exc, KeyboardInterrupt):
            try:
                store.set_status(run_id, "failed", error=str(exc).splitlines()[0] if str(exc)
                                 else type(exc).__name__)
            except Exception:  # noqa: BLE001 - the run's own error is the one to report
                pass
        raise

    _attach_results(results, routes, config)
    out = _finish(run_id, run_name, settings, search, results, routes, config, bench)
    out.continued = continued
    out.seconds = time.perf_counter() - began
    if run_id is not None:
        store.set_status(run_id, "finished", summary=summary_of(out))
    return out


def summary_of(res: WalkForwardResult) -> dict[str, Any]:
    """What the run's row keeps for listing: the stitched metrics and the efficiency."""
    return {"metrics": res.stitched.metrics, "efficiency": res.efficiency,
            "windows": len(res.windows)}


def _run_window(config: Config, project: Path, executor: Executor, routes: list[Any],
                extra: list[Any], strategies: dict[str, type], search: Any, objs: list[Any],
                w: Window, count: int, target: int, *, sampler: str, seed: int, batch: int,
                min_trades: int, name: str, save: bool, on_window: Any,
                on_progress: Any) -> WindowRun:
    from jbt.modes import backtest_mode
    from jbt.optimize.coordinator import run_trials
    from jbt.optimize.study import StudySettings, counts, ranked
    from jbt.optimize.worker import PeriodData, WorkerSpec
    from jbt.plan import plan_run

    wseed = window_seed(seed, w.index)
    if on_window is not None:
        on_window(WindowStarted(w, count, target, wseed))
    arrays, base_tf, b, _ = backtest_mode.load(config, routes, extra, w.train_start, w.train_end)
    plan = plan_run(config, routes, arrays, base_tf, w.train_start, b, extra)
    period = PeriodData("train", plan.start, plan.end, dict(base_tf))
    del plan
    settings = StudySettings(
        name=f"{name} window {w.index + 1}", routes=tuple(routes), extra=tuple(extra),
        objectives=tuple(objs), sampler=sampler, seed=wseed, batch=batch, space=search,
        min_trades=min_trades, train=(w.train_start, w.train_end),
        test=(w.test_start, w.test_end), backtest=dict(config.snapshot()["backtest"]),
    )
    spec = WorkerSpec(project_dir=str(project), config=config, routes=tuple(routes),
                      extra=tuple(extra), periods=(period,), space=search,
                      objectives=tuple(objs), min_trades=min_trades)
    executor.start(spec, {"train": arrays}, strategies)
    del arrays
    records = run_trials(settings, 0, _Discard(), executor, target, [],  # type: ignore[arg-type]
                         on_progress=on_progress)
    order = ranked(settings, records)
    wr = WindowRun(index=w.index, train=(w.train_start, w.train_end),
                   test=(w.test_start, w.test_end), seed=wseed,
                   status="ok" if order else "no-feasible-trial", counts=counts(records),
                   trials=[{"number": r.number, **r.to_attr()} for r in records])
    if not order:
        return wr
    best = order[0]
    wr.trial = best.number
    wr.params = dict(best.params)
    wr.hyperparameters = search.overrides(best.params)
    wr.hp_args = search.hp_args(best.params)
    wr.in_sample = dict(best.train or {})
    result = backtest_mode.run(config, routes, w.test_start, w.test_end, project_dir=project,
                               extra_candles=extra, save=save, strategies=strategies,
                               hyperparameters=wr.hyperparameters)
    if save and result.session_id is None:
        raise InputError(f"window {w.index + 1}: the out-of-sample backtest could not be saved: "
                         f"{result.extra.get('save_error')}")
    wr.out_of_sample = dict(result.metrics)
    wr.session_id = result.session_id
    wr.result = result
    return wr


def _attach_results(windows: Sequence[WindowRun], routes: Sequence[Any], config: Config) -> None:
    """Read back the saved out-of-sample sessions of windows run by an earlier command."""
    from jbt.sessions import load_session

    for w in windows:
        if w.result is None and w.status == "ok":
            if w.session_id is None:
                raise InputError(f"window {w.index + 1}'s out-of-sample session was deleted; "
                                 "run the walk-forward again under another --name")
            w.result = load_session(w.session_id)


def _finish(run_id: int | None, name: str, settings: dict[str, Any], search: Any,
            windows: list[WindowRun], routes: Sequence[Any], config: Config | dict[str, Any],
            bench: np.ndarray | None) -> WalkForwardResult:
    snap = config.snapshot() if isinstance(config, Config) else dict(config)
    snap = {**snap, "walk_forward": {"id": run_id, "name": name, **settings["text"]}}
    balance = float(snap["backtest"]["starting_balance"])
    stitched = stitch(windows, routes, balance, snap, bench)
    eff = overall_efficiency(stitched.metrics.get("annual_return"), windows)
    return WalkForwardResult(run_id, name, settings, search, windows, stitched, eff,
                             stability(windows, search))


def show(config: Config, run_id: int) -> WalkForwardResult:
    """A saved run again, its out-of-sample sessions read back and stitched as at the end of
    the run (an unfinished run: the windows it has)."""
    from jbt import candles as candle_store
    from jbt.optimize.space import SearchSpace
    from jbt.results import RouteSpec
    from jbt.validation import store

    stored = store.load_run(run_id)
    if not stored.windows:
        raise InputError(f"walk-forward run {run_id} has no finished window yet")
    identity = stored.settings["identity"]
    routes = [RouteSpec(**r) for r in identity["routes"]]
    search = SearchSpace.from_dict(identity["space"])
    windows = [WindowRun.from_dict(w) for w in stored.windows]
    _attach_results(windows, routes, config)
    first = routes[0]
    snap = next((w.result.config for w in windows if w.result is not None), None) or {
        "backtest": identity["backtest"]}
    snap = {k: v for k, v in snap.items() if k != "hyperparameters"}
    bench = None
    try:
        stored_tfs = candle_store.stored_timeframes(first.exchange, first.symbol)
        base = next((b for b in stored_tfs if _divides(b, first.timeframe)), None)
        if base is not None:
            bench = candle_store.load_candles(first.exchange, first.symbol, base,
                                              windows[0].test[0], windows[-1].test[1] - 1)
    except Exception:  # noqa: BLE001 - buy-and-hold is a comparison only
        bench = None
    out = _finish(stored.id, stored.name, stored.settings, search, windows, routes, snap, bench)
    out.status = stored.status
    return out


def _divides(base: str, tf: str) -> bool:
    from jbt.timeframes import to_ms

    return to_ms(tf) % to_ms(base) == 0


@dataclass
class RunRow:
    id: int
    created_at: int
    name: str
    status: str
    routes: list[Any]
    text: dict[str, str]
    windows: int
    planned: int
    metrics: dict[str, Any] = field(default_factory=dict)
    efficiency: float | None = None


def list_runs(limit: int | None = None) -> list[RunRow]:
    from jbt.results import RouteSpec
    from jbt.validation import store

    rows = []
    for r in store.list_runs(limit):
        summary = r.summary or {}
        rows.append(RunRow(r.id, r.created_at, r.name, r.status,
                           [RouteSpec(**x) for x in r.settings["identity"]["routes"]],
                           dict(r.settings.get("text", {})), len(r.windows),
                           len(r.settings.get("windows", [])), summary.get("metrics") or {},
                           summary.get("efficiency")))
    return rows
