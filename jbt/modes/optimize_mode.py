"""``jbt optimize`` as a function: check the request, split the period, run the study.

Every input is checked (routes, strategies, search space, objectives, sampler, dates, candles)
before the study is created or continued, so a bad command writes nothing. The period
``[START, END)`` is resolved as ``jbt backtest`` resolves it, then split into a training period
and a testing period (``--test 30%``: the last 30%, the split rounded down to a UTC day, or to
the coarsest route timeframe for periods under 30 days; or ``--test-start DATE``). Each period's
candles are loaded exactly as ``jbt backtest START END`` loads them, so every trial's metrics
are those of ``jbt backtest`` with its ``--hp`` on each period.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jbt.config import Config
from jbt.constants import DAY_MS
from jbt.errors import InputError
from jbt.optimize.coordinator import SAMPLERS, Progress, RunStats, run_trials
from jbt.optimize.executors import Executor, ProcessExecutor
from jbt.optimize.objectives import check_custom, parse_objectives
from jbt.optimize.space import build_space
from jbt.optimize.study import StudySettings, TrialRecord, settings_mismatch
from jbt.optimize.worker import PeriodData, WorkerSpec, content_key
from jbt.timeframes import bar_open, to_ms

DEFAULT_TEST = "30%"
DEFAULT_BATCH = 16


@dataclass
class Started:
    """Sent once the study is ready, before the first trial runs."""

    settings: StudySettings
    continued: bool  # the study existed
    stored: int  # trials it had
    target: int  # trials it will have
    jobs: int
    note: str | None = None  # e.g. the grid is smaller than --trials
    process: int | None = None  # a shared study: this process's number in it (0 = the first)
    where: str | None = None  # what runs the trials when not local processes (a Ray cluster)


@dataclass
class OptimizeResult:
    settings: StudySettings
    records: list[TrialRecord]
    continued: bool
    stored: int
    stats: RunStats = field(default_factory=RunStats)
    seconds: float = 0.0
    note: str | None = None


def default_study_name(routes: Sequence[Any]) -> str:
    strategies = "+".join(dict.fromkeys(r.strategy for r in routes))
    first = routes[0]
    return f"{strategies}-{first.symbol}-{first.timeframe}"


def parse_test(text: str | None) -> float:
    """``30%`` or ``0.3``: the share of the period kept for testing."""
    raw = (text or DEFAULT_TEST).strip()
    try:
        share = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"--test '{text}': give the testing share, e.g. --test 30%") from None
    if not 0 < share < 1:
        raise InputError(f"--test '{text}': the testing share must be between 0% and 100%")
    return share


def cmd_date(ms: int) -> str:
    """A time as START/END arguments take it back exactly."""
    from datetime import datetime, timezone

    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if ms % DAY_MS == 0:
        return dt.strftime("%Y-%m-%d")
    if ms % 60_000 == 0:
        return dt.strftime("%Y-%m-%dT%H:%M")
    if ms % 1000 == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%S")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def split_period(start: int, end: int, share: float, routes: Sequence[Any]) -> int:
    """Where testing starts: the last ``share`` of ``[start, end)``, rounded down to a UTC day
    (to the coarsest route timeframe when the period is under 30 days)."""
    coarsest = max((r.timeframe for r in routes), key=to_ms)
    raw = start + int((end - start) * (1 - share))
    cut = raw // DAY_MS * DAY_MS if end - start >= 30 * DAY_MS else int(bar_open(raw, coarsest))
    if not start < cut < end:
        raise InputError(
            "the period is too short to split into training and testing; give a longer "
            "period or --test-start DATE"
        )
    return cut


def strategy_fingerprint(project: Path, name: str) -> str:
    """A hash of the strategy folder's Python files (a changed strategy is another study)."""
    folder = project / "strategies" / name
    h = hashlib.blake2b(digest_size=12)
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def check_options(*, trials: int, jobs: int, batch: int, min_trades: int, seed: int,
                  sampler: str, test: str | None, test_start: int | None,
                  objectives: Sequence[str] | None) -> tuple[float | None, list[Any]]:
    """The checks of :func:`run`'s options that need neither the project nor the database (the
    API makes them before it starts anything); the testing share and the objectives."""
    if trials < 1:
        raise InputError("--trials must be at least 1")
    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    if batch < 1:
        raise InputError("--batch must be at least 1")
    if min_trades < 0:
        raise InputError("--min-trades cannot be negative")
    if seed < 0:
        raise InputError("--seed must be a non-negative integer")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler {sampler}: use one of {', '.join(SAMPLERS)}")
    if test is not None and test_start is not None:
        raise InputError("give --test or --test-start, not both")
    share = parse_test(test) if test_start is None else None
    objs = parse_objectives(objectives)
    if sampler == "cmaes" and len(objs) > 1:
        raise InputError("--sampler cmaes optimises one objective; use tpe or nsga2 for two")
    return share, objs


def run(
    config: Config,
    project_dir: Path | str | None = None,
    *,
    routes: Sequence[Any] | None = None,
    start: int | None = None,
    end: int | None = None,
    trials: int = 100,
    jobs: int = 1,
    objectives: Sequence[str] | None = None,
    sampler: str = "tpe",
    seed: int = 0,
    study: str | None = None,
    test: str | None = None,
    test_start: int | None = None,
    min_trades: int = 1,
    space: Sequence[str] = (),
    hp: Sequence[str] = (),
    batch: int = DEFAULT_BATCH,
    storage: str | None = None,
    shared: bool = False,
    heartbeat: int | None = None,
    executor: Executor | None = None,
    on_start: Callable[[Started], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> OptimizeResult:
    """Create or continue a study and bring it to ``trials`` trials.

    The candles are read from the database bound by :func:`jbt.models.open_database` (opened
    from the config when none is); the study goes to ``storage`` (an SQLAlchemy URL; default:
    the same database). ``executor`` runs the trials (default: ``jobs`` local processes).
    ``routes`` (``RouteSpec``s) replace the project's ``routes.py``. ``shared``: the study is
    worked on by every process that runs it with ``shared`` at the same time (PostgreSQL
    storage; see :mod:`jbt.optimize.shared`), ``heartbeat`` seconds apart; ``trials`` is then
    the study's total.
    """
    from jbt import routes as routes_mod
    from jbt.plan import check_extra, check_period, check_routes

    began = time.perf_counter()
    project = Path(project_dir) if project_dir is not None else config.project_dir
    share, objs = check_options(trials=trials, jobs=jobs, batch=batch, min_trades=min_trades,
                                seed=seed, sampler=sampler, test=test, test_start=test_start,
                                objectives=objectives)
    if heartbeat is not None and not shared:
        raise InputError("--heartbeat is for a --shared study")
    if heartbeat is not None and heartbeat < 1:
        raise InputError("--heartbeat must be at least 1 (seconds)")
    if shared:
        url = storage or config.database_url()
        if not url.startswith(("postgresql:", "postgres:", "postgresql+")):
            raise InputError(
                "--shared needs the study on a PostgreSQL server every process reaches: add "
                "--storage postgresql://USER@HOST/DATABASE"
            )

    if routes is None:
        declared = routes_mod.load_routes(project)
        routes, extra = check_routes(declared.routes), check_extra(declared.extra_candles)
    else:  # given (the API): no extra candles, as ``backtest_mode.run`` with routes
        routes, extra = check_routes(list(routes)), []
    strategies = routes_mod.load_strategies(project, routes)
    names = [r.strategy for r in routes]
    search = build_space(strategies, names, space, hp)
    check_custom(objs, strategies[routes[0].strategy])
    note = None
    target = trials
    if sampler == "grid":
        size = search.grid_size()
        if size < trials:
            target = size
            note = f"the grid has {size:,} points: {size:,} trials"
    check_period(start, end)

    executor = executor if executor is not None else ProcessExecutor(jobs)
    try:
        return _run(config, project, executor, routes, extra, strategies, search, objs, share,
                    note, target, start=start, end=end,
                    sampler=sampler, seed=seed, study=study, test_start=test_start,
                    min_trades=min_trades, batch=batch, storage=storage, shared=shared,
                    heartbeat=heartbeat, on_start=on_start,
                    on_progress=on_progress, should_stop=should_stop, began=began)
    except BaseException:
        executor.close(cancel=True)
        raise


def _run(config: Config, project: Path, executor: Executor, routes: list[Any],
         extra: list[tuple[str, str, str]], strategies: dict[str, type], search: Any,
         objs: list[Any], share: float | None, note: str | None, target: int, *,
         start: int | None, end: int | None, sampler: str, seed: int, study: str | None,
         test_start: int | None, min_trades: int, batch: int, storage: str | None,
         shared: bool, heartbeat: int | None, on_start: Any, on_progress: Any,
         should_stop: Any, began: float) -> OptimizeResult:
    """:func:`run` once the request is checked: the workers start while the candles load."""
    from jbt.models import database_proxy, open_database
    from jbt.modes.backtest_mode import load
    from jbt.optimize.storage import StudyStore
    from jbt.plan import plan_run

    names = [r.strategy for r in routes]
    warm = getattr(executor, "warm", None)
    if warm is not None:
        warm()
    if database_proxy.obj is None:
        open_database(config.database_url())
    candles, base_tf, end, _ = load(config, routes, extra, start, end)
    whole = plan_run(config, routes, candles, base_tf, start, end, extra)
    p_start, p_end = whole.start, whole.end
    del whole, candles
    if test_start is not None:
        if not p_start < test_start < p_end:
            raise InputError(
                f"--test-start {cmd_date(test_start)} must be inside the period "
                f"{cmd_date(p_start)} .. {cmd_date(p_end)}"
            )
        cut = test_start
    else:
        cut = split_period(p_start, p_end, share, routes)
    # each period's candles as `jbt backtest START END` loads them, checked by its plan
    arrays, periods = {}, []
    for name, (a, b) in (("train", (p_start, cut)), ("test", (cut, p_end))):
        candles, base_tf, b, _ = load(config, routes, extra, a, b)
        plan = plan_run(config, routes, candles, base_tf, a, b, extra)
        arrays[name] = candles
        periods.append(PeriodData(name, plan.start, plan.end, dict(base_tf)))
        del plan
    periods = tuple(periods)

    import optuna

    from jbt import __version__

    name = study or default_study_name(routes)
    settings = StudySettings(
        name=name, routes=tuple(routes), extra=tuple(extra), objectives=tuple(objs),
        sampler=sampler, seed=seed, batch=batch, space=search, min_trades=min_trades,
        train=(p_start, cut), test=(cut, p_end),
        backtest=dict(config.snapshot()["backtest"]),
        data={p: {f"{e}:{s}": content_key(a) for (e, s), a in arrays[p].items()}
              for p in arrays},
        strategies={s: strategy_fingerprint(project, s) for s in dict.fromkeys(names)},
        test_share=None if share is None else f"{share * 100:g}%",
        versions={"jbt": __version__, "optuna": optuna.__version__},
        created_at=int(time.time() * 1000),
    )
    spec = WorkerSpec(
        project_dir=str(project), config=config, routes=tuple(routes), extra=tuple(extra),
        periods=periods, space=search, objectives=tuple(objs), min_trades=min_trades,
    )

    from jbt.optimize.shared import HEARTBEAT, run_shared

    store = StudyStore(storage or config.database_url(),
                       heartbeat=(heartbeat or HEARTBEAT) if shared else None)
    try:
        process = None
        if shared:
            # creating or joining the study is one step for the processes starting together
            lock = store.lock(name)
            try:
                with lock:
                    found, settings, stored = _open_study(store, name, settings, shared)
                    sid = found[0] if found is not None else store.create(settings)
                    if target > len(stored):
                        process = store.share(sid)
            finally:
                lock.close()
        else:
            found, settings, stored = _open_study(store, name, settings, shared)
            sid = found[0] if found is not None else None
        continued = found is not None
        stats = RunStats()
        workers = executor.jobs
        if not shared and settings.batch < 2 * workers and target > len(stored):
            slow = (f"batches of {settings.batch} keep at most {2 * settings.batch} trials "
                    f"queued for {workers} workers; a larger --batch (part of the study) uses "
                    "them better")
            note = f"{note}; {slow}" if note else slow
        if on_start is not None:
            on_start(Started(settings, continued, len(stored), max(target, len(stored)),
                             workers, note, process, getattr(executor, "where", None)))
        if target <= len(stored):
            executor.close(cancel=True)
            return OptimizeResult(settings, stored, continued, len(stored), stats,
                                  time.perf_counter() - began, note)
        if found is None and not shared:
            sid = store.create(settings)
        executor.start(spec, arrays, strategies)
        if shared:
            records = run_shared(settings, sid, process, store, executor, target, stored,
                                 on_progress=on_progress, should_stop=should_stop, stats=stats)
        else:
            records = run_trials(settings, sid, store, executor, target, stored,
                                 on_progress=on_progress, should_stop=should_stop, stats=stats)
        executor.close()
        return OptimizeResult(settings, records, continued, len(stored), stats,
                              time.perf_counter() - began, note)
    finally:
        store.close()


def _open_study(store: Any, name: str, settings: StudySettings, shared: bool
                ) -> tuple[tuple[int, Any] | None, StudySettings, list[TrialRecord]]:
    """The stored study called ``name`` (or None), the settings to run it with (its own when it
    exists) and its trials; refuses one that these settings cannot continue."""
    found = store.find(name)
    stored: list[TrialRecord] = []
    if found is None:
        return None, settings, stored
    sid, had = found
    if had is None:
        if store.trials_count(sid):
            raise InputError(
                f"a study named '{name}' exists in the storage but was not made by jbt; "
                "choose another --study NAME"
            )
        store.adopt(sid, settings)
        return found, settings, stored
    reason = settings_mismatch(had, settings)
    if reason:
        raise InputError(reason)
    if not shared and store.is_shared(sid):
        raise InputError(
            f"study '{name}' is shared by several processes (it was run with --shared): add "
            "--shared to continue it"
        )
    return found, had, store.trials(sid)


def open_study(config: Config, name: str, storage: str | None = None
               ) -> tuple[StudySettings, list[TrialRecord]]:
    """A stored study's settings and trials (read only); an error naming the studies there
    when there is no such study."""
    from jbt.optimize.storage import StudyStore

    store = StudyStore(storage or config.database_url(), create=False)
    try:
        found = store.find(name)
        if found is None or found[1] is None:
            names = [row.name for row in store.studies()]
            hint = f"; the studies are: {', '.join(names)}" if names else (
                "; there are none yet: run jbt optimize")
            raise InputError(f"no study named '{name}'{hint}")
        return found[1], store.trials(found[0])
    finally:
        store.close()


def trial_by_rank(settings: StudySettings, records: Sequence[TrialRecord],
                  rank: int) -> TrialRecord:
    """The trial at ``rank`` (1 = the best) of the study's ranking."""
    from jbt.optimize.study import ranked

    order = ranked(settings, records)
    if rank < 1:
        raise InputError("--rank starts at 1 (the best trial)")
    if rank > len(order):
        raise InputError(
            f"study '{settings.name}' has {len(order)} feasible trial"
            f"{'s' if len(order) != 1 else ''}; --rank must be at most {len(order)}"
            if order else f"study '{settings.name}' has no feasible trial yet"
        )
    return order[rank - 1]


@dataclass
class StudyTrial:
    """What ``jbt backtest --from-study NAME --rank K`` runs."""

    settings: StudySettings
    record: TrialRecord
    rank: int
    routes: list[Any]
    extra: list[tuple[str, str, str]]
    strategies: dict[str, type]
    hyperparameters: dict[str, dict[str, Any]]
    test: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    def describe(self, start: int | None, end: int | None) -> str:
        s = self.settings
        hp = " ".join(f"--hp {a}" for a in s.space.hp_args(self.record.params))
        if (start, end) == s.test:
            period = "the study's testing period"
        elif (start, end) == s.train:
            period = "the study's training period"
        else:
            period = "the period given"
        lines = [f"Study {s.name}, trial {self.record.number} (rank {self.rank}): {hp}; "
                 f"{period}"]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def backtest_of_trial(config: Config, project_dir: Path | str, name: str, rank: int,
                      hp: Sequence[str] = (), storage: str | None = None) -> StudyTrial:
    """The routes and hyperparameters of a study's trial (``--hp`` given on top)."""
    from jbt import routes as routes_mod
    from jbt.strategies.hyperparameters import from_assignments

    project = Path(project_dir)
    settings, records = open_study(config, name, storage)
    record = trial_by_rank(settings, records, rank)
    routes = list(settings.routes)
    strategies = routes_mod.load_strategies(project, routes)
    overrides = settings.space.overrides(record.params)
    for s, values in from_assignments(list(hp), [r.strategy for r in routes],
                                      strategies).items():
        overrides.setdefault(s, {}).update(values)
    notes = []
    changed = [s for s, h in settings.strategies.items()
               if (project / "strategies" / s).is_dir() and strategy_fingerprint(project, s) != h]
    if changed:
        notes.append(f"{', '.join(f'strategies/{s}' for s in changed)} changed since the "
                     "study ran")
    now = dict(config.snapshot()["backtest"])
    diff = [k for k in sorted(set(now) | set(settings.backtest))
            if now.get(k) != settings.backtest.get(k)]
    if diff:
        notes.append(f"config.toml [backtest] differs from the study's: {', '.join(diff)}")
    return StudyTrial(settings, record, rank, routes, list(settings.extra), strategies,
                      overrides, settings.test, notes)
