"""The coordinator: the one process that asks Optuna for trials and tells it the results.

Trials are asked in batches of a fixed size (``--batch``, not ``--jobs``) from a seeded
sampler, run by an executor anywhere, and told back in trial order. Batch ``j`` is asked right
after batch ``j - 2`` has been told, while batch ``j - 1`` is still running: the workers always
have the next batch queued, and which results a batch is asked from depends only on its
number. So the trials, and their values, are the same whatever the number of workers.

Each batch, once told, is written to the study in one transaction. A re-run of a study replays
the same ask/tell sequence from the stored trials (checking that the sampler asks the same
params again) and continues it: an interrupted study ends with exactly the trials, and the
values, an uninterrupted run gives. A crash loses only the batches in flight.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jbt.errors import JbtError
from jbt.optimize.executors import Executor
from jbt.optimize.storage import StudyStore
from jbt.optimize.study import StudySettings, TrialRecord, pareto_numbers
from jbt.optimize.worker import TrialOutcome

SAMPLERS = ("tpe", "random", "cmaes", "grid", "nsga2")


@dataclass
class Progress:
    """Sent after every trial the run finishes (``record``), and once before the first."""

    done: int  # trials finished, in all runs of the study
    saved: int  # of which stored (whole batches)
    total: int  # trials the study will have at the end of this run
    new: int  # trials finished by this run
    best: TrialRecord | None  # the best feasible trial so far (first objective)
    front: int  # with two objectives: trials on the Pareto front (as of the last batch)
    record: TrialRecord | None = None


@dataclass
class RunStats:
    """Where the coordinator's time went (seconds): asking, telling, storing."""

    ask_s: float = 0.0
    tell_s: float = 0.0
    save_s: float = 0.0
    replayed: int = 0
    ran: int = 0
    batches: int = 0


def make_sampler(settings: StudySettings) -> Any:
    import optuna

    name, seed = settings.sampler, settings.seed
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401 - what Optuna's CmaEsSampler runs on
        except ImportError:
            raise JbtError("--sampler cmaes needs the cmaes package: pip install cmaes") from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "grid":
        return _grid_sampler(settings.space.grid(), seed)
    raise ValueError(f"unknown sampler {name!r}")


def _grid_sampler(grid: dict[str, list[Any]], seed: int) -> Any:
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        # Optuna's stops an optimize() loop once the grid is exhausted; in ask/tell the
        # coordinator never asks more trials than the grid has, and study.stop() would raise.
        def after_trial(self, study, trial, state, values) -> None:
            return None

    return GridSampler(grid, seed=seed)


def _best(settings: StudySettings, best: TrialRecord | None, r: TrialRecord) -> TrialRecord | None:
    if r.status != "ok":
        return best
    if best is None:
        return r
    obj = settings.objectives[0]
    a, b = r.values[0], best.values[0]
    return r if (a > b if obj.maximize else a < b) else best


def record_of(outcome: TrialOutcome, batch: int, params: dict[str, Any]) -> TrialRecord:
    return TrialRecord(
        number=outcome.number, batch=batch, params=dict(params), status=outcome.status,
        values=list(outcome.values), test_values=list(outcome.test_values),
        train=outcome.train, test=outcome.test, error=outcome.error, reason=outcome.reason,
        duration_s=outcome.duration_s,
    )


def run_trials(
    settings: StudySettings,
    study_id: int,
    store: StudyStore,
    executor: Executor,
    n_trials: int,
    stored: Sequence[TrialRecord],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stats: RunStats | None = None,
) -> list[TrialRecord]:
    """Bring the study to ``n_trials`` trials; returns all its trials in order."""
    import optuna
    from optuna.trial import TrialState

    stats = stats if stats is not None else RunStats()
    records = list(stored)
    n_stored = len(records)
    best: TrialRecord | None = None
    for r in records:
        best = _best(settings, best, r)
    front = len(pareto_numbers(settings, records))
    if on_progress is not None:
        on_progress(Progress(n_stored, n_stored, max(n_trials, n_stored), 0, best, front))
    if n_trials <= n_stored:
        return records

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), sampler=make_sampler(settings),
            directions=[o.direction for o in settings.objectives],
        )
    dists = settings.space.distributions()
    size_b = settings.batch
    stored_sizes: dict[int, int] = {}
    for r in records:
        stored_sizes[r.batch] = stored_sizes.get(r.batch, 0) + 1

    pending: deque[tuple[int, list[Any], Any]] = deque()
    next_first = 0

    def ask() -> None:
        nonlocal next_first
        first = next_first
        if first < n_stored:
            size = stored_sizes.get(first, 0)
            if size == 0 or records[first].batch != first:
                raise JbtError(f"study '{settings.name}': its stored batches are not in order "
                               f"at trial {first}; it cannot be continued")
        else:
            size = min(size_b - first % size_b, n_trials - first)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trials = [study.ask(dists) for _ in range(size)]
        stats.ask_s += time.perf_counter() - t0
        next_first = first + size
        if first < n_stored:
            for t in trials:
                want = records[t.number].params
                if t.params != want:
                    raise JbtError(
                        f"study '{settings.name}': trial {t.number} was stored with {want} but "
                        f"the sampler now asks {t.params} (Optuna "
                        f"{settings.versions.get('optuna', '?')} then, {optuna.__version__} "
                        "now); it cannot be continued: start a new study with --study NAME"
                    )
            pending.append((first, trials, None))
        else:
            pending.append((first, trials, executor.submit([(t.number, t.params)
                                                            for t in trials])))

    def tell(trial: Any, r: TrialRecord) -> None:
        t0 = time.perf_counter()
        if r.status == "ok":
            study.tell(trial, r.values if settings.multi else r.values[0])
        else:
            study.tell(trial, state=TrialState.FAIL)
        stats.tell_s += time.perf_counter() - t0

    for _ in range(2):
        if next_first < n_trials:
            ask()
    new = 0
    while pending:
        first, trials, batch = pending.popleft()
        if batch is None:
            for t in trials:
                tell(t, records[t.number])
            stats.replayed += len(trials)
        else:
            fresh = []
            for t, outcome in zip(trials, batch.outcomes(), strict=True):
                if outcome.number != t.number:
                    raise RuntimeError(f"executor returned trial {outcome.number} for "
                                       f"{t.number}")
                r = record_of(outcome, first, t.params)
                tell(t, r)
                fresh.append(r)
                best = _best(settings, best, r)
                new += 1
                if on_progress is not None:
                    on_progress(Progress(len(records) + len(fresh), len(records), n_trials,
                                         new, best, front, r))
            t0 = time.perf_counter()
            store.save(study_id, settings, fresh)
            stats.save_s += time.perf_counter() - t0
            stats.ran += len(fresh)
            stats.batches += 1
            records.extend(fresh)
            if settings.multi:
                front = len(pareto_numbers(settings, records))
            if on_progress is not None:
                on_progress(Progress(len(records), len(records), n_trials, new, best, front))
            if should_stop is not None and should_stop():
                for _, _, other in pending:
                    if other is not None:
                        other.cancel()
                break
        if next_first < n_trials:
            ask()
    return records
