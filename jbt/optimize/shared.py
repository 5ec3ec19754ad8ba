"""A study shared by several processes (``jbt optimize --shared``), on several machines or on
one, through a PostgreSQL storage they all reach. No coordinator: every process reserves trials
in the stored study, draws their params from what the study has finished so far, runs them and
stores their outcomes.

- **Reservation.** A process takes the study's advisory lock (:class:`~jbt.optimize.storage.
  StudyLock`), fails the stale trials (below), counts the trials that count toward the target
  (finished, running, queued) and, if there is room or a queued retry, takes a trial (a queued
  retry first) in one transaction with its first heartbeat
  (:meth:`~jbt.optimize.storage.StudyStore.reserve`), then releases the lock. Two processes
  never reserve the same room, so the study never gets more than ``--trials`` trials.
- **Sampling**, outside the lock. ``tpe`` and ``random`` draw from a local in-memory study
  that mirrors the stored study's finished trials (one query a trial brings the new ones), and
  the params are stored on the trial at once; ``grid``, ``cmaes`` and ``nsga2`` keep their
  state in the trials' system attributes, so they draw through Optuna's storage as
  ``study.ask()`` does (dozens of queries a trial). A retry keeps the params of the trial it
  repeats.
- **Heartbeats.** A thread records a heartbeat every ``--heartbeat`` seconds for each trial the
  process is running (Optuna's ``trial_heartbeats`` table). A trial whose process stopped
  beating for the grace period (three heartbeats) is marked ``FAIL`` by the next process that
  reserves (Optuna's ``fail_stale_trials``), and Optuna's retry callback queues it again
  (``WAITING``, same params, ``failed_trial`` naming it) for whichever process asks next.
- **Finishing.** A trial's outcome is stored in one transaction that succeeds only while the
  trial is still ``RUNNING`` (:meth:`~jbt.optimize.storage.StudyStore.finish`): a process
  paused past the grace period drops its late outcome, and the retry is the one counted.
- **The end.** A process stops reserving when the study has its trials, then waits until the
  trials other processes are running have finished (retrying any whose process dies), so every
  process's command returns with the study complete.

Process ``k`` (the ``k``-th to join the study, counted in the study) seeds its sampler from
``--seed`` and ``k``; the trials depend on the timing of the processes, unlike a study run by
one coordinator.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from jbt.optimize.coordinator import Progress, RunStats, _best, make_sampler, record_of
from jbt.optimize.executors import Batch, Executor
from jbt.optimize.storage import SharedCounts, StudyLock, StudyStore
from jbt.optimize.study import StudySettings, TrialRecord, pareto_numbers

#: Default seconds between two heartbeats of a running trial (``--heartbeat``).
HEARTBEAT = 10


def process_seed(seed: int, index: int) -> int:
    """The sampler seed of the ``index``-th process of a shared study (the study's seed for the
    first): distinct processes sample distinct points, each reproducible from the seed."""
    if index == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def process_name() -> str:
    """How a trial names the process that ran it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeats:
    """Records a heartbeat every ``interval`` seconds for each trial this process runs."""

    def __init__(self, storage: Any, interval: int) -> None:
        self.storage = storage
        self.interval = interval
        self.trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jbt-heartbeat", daemon=True)
        self._thread.start()

    def add(self, trial_id: int) -> None:
        """Beat for this trial from now on (its first heartbeat is already recorded)."""
        with self._lock:
            self.trial_ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self.trial_ids.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = sorted(self.trial_ids)
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # noqa: BLE001 - a missed beat; the next one tries again
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


#: Samplers that draw from a local in-memory copy of the study's finished trials (read from
#: the database in one query a trial); the others (grid, cmaes, nsga2) keep their state in the
#: trials' system attributes and sample through Optuna's storage, several queries a trial.
LOCAL_SAMPLERS = ("tpe", "random")


@dataclass
class Reserved:
    """A trial this process reserved: its id, number and params (``local``: the trial of the
    local study the params were drawn in)."""

    trial_id: int
    number: int
    params: dict[str, Any]
    local: Any = None


def run_shared(
    settings: StudySettings,
    sid: int,
    index: int,
    store: StudyStore,
    executor: Executor,
    n_trials: int,
    stored: list[TrialRecord],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stats: RunStats | None = None,
) -> list[TrialRecord]:
    """Work on the shared study until it has ``n_trials`` finished trials; returns them all
    (every process's) in trial order. ``index``: this process's number in the study."""
    import optuna

    stats = stats if stats is not None else RunStats()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = make_sampler(replace(settings, seed=process_seed(settings.seed, index)))
    local_sampling = settings.sampler in LOCAL_SAMPLERS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.load_study(
            study_name=settings.name, storage=store.storage,
            sampler=optuna.samplers.RandomSampler() if local_sampling else sampler,
        )
        local = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), sampler=sampler,
            directions=[o.direction for o in settings.objectives],
        ) if local_sampling else None
    dists = settings.space.distributions()
    interval = store.heartbeat or HEARTBEAT
    me = process_name()
    lock = store.lock(settings.name)
    beats = Heartbeats(store.storage, interval)
    capacity = executor.jobs + 1  # one queued per process keeps its workers busy
    inflight: deque[tuple[Reserved, Batch]] = deque()

    best: TrialRecord | None = None
    for r in stored:
        best = _best(settings, best, r)
    front = len(pareto_numbers(settings, stored))
    counts = SharedCounts(finished=len(stored))
    new = 0
    mine: list[TrialRecord] = []
    last_stale = 0.0
    reserving: list[int] = []  # reserved, its params not drawn yet
    seen: set[int] = set()  # trial ids the local study has
    low = 0

    def sync() -> None:
        """Bring the study's finished trials into the local study the sampler reads."""
        nonlocal low
        rows, low = store.finished_since(sid, low)
        for trial_id, r in rows:
            if trial_id in seen:
                continue
            seen.add(trial_id)
            ok = r.status == "ok"
            local.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL,
                params=r.params, distributions=dists,
                values=list(r.values) if ok else None,
            ))

    def reserve() -> Reserved | None:
        """Under the lock: fail stale trials, then take a queued retry or, if the study has
        room, a new trial; the sampler then draws its params outside the lock."""
        nonlocal counts, last_stale
        t0 = time.perf_counter()
        with lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            now = time.monotonic()
            if now - last_stale >= interval / 2:
                optuna.storages.fail_stale_trials(study)
                last_stale = now
            with _ctrl_c_deferred():  # a reserved trial is always one release() hands back
                got, counts = store.reserve(sid, n_trials, me)
                if got is not None:
                    reserving.append(got[0])
                    beats.add(got[0])
        if got is None:
            stats.ask_s += time.perf_counter() - t0
            return None
        trial_id, number, retry = got
        params = store.trial_params(trial_id, settings) if retry else {}
        if local is not None:
            lt = None
            if not params:
                sync()
                lt = local.ask(dists)
                params = dict(lt.params)
                store.set_params(trial_id, settings, params)
            out = Reserved(trial_id, number, params, lt)
        else:
            # what study.ask() does once it has the trial (a retry keeps its params); the
            # sampler's first read of the study brings the new trial into Optuna's cache of it
            study._thread_local.cached_all_trials = None
            trial = optuna.trial.Trial(study, trial_id)
            for name, dist in dists.items():
                trial._suggest(name, dist)
            out = Reserved(trial_id, number, dict(trial.params), None)
        stats.ask_s += time.perf_counter() - t0
        return out

    def release() -> None:
        """This process stops with trials in flight: fail them now and queue them again (as
        the heartbeat would after the grace period), for the other processes or a re-run."""
        backend = store.storage
        callback = getattr(backend, "heartbeat_stale_trial_callback", None) or getattr(
            backend, "failed_trial_callback", None)
        with lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for trial_id in [*reserving, *(t.trial_id for t, _ in inflight)]:
                beats.discard(trial_id)
                try:
                    failed = store.storage.set_trial_state_values(
                        trial_id, state=optuna.trial.TrialState.FAIL)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
                if failed and callback is not None:
                    callback(study, store.storage.get_trial(trial_id))
            reserving.clear()

    try:
        stopping = False
        while True:
            while len(inflight) < capacity and not stopping:
                trial = reserve()
                if trial is None:
                    break
                inflight.append((trial, executor.submit([(trial.number, trial.params)])))
                reserving.clear()
            if not inflight:
                if counts.finished >= n_trials or stopping:
                    break
                # the rest runs in other processes: wait, and retry any whose process dies
                time.sleep(min(1.0, interval / 2))
                continue
            trial, batch = inflight[0]  # handed back by release() until it is stored
            outcome = next(iter(batch.outcomes()))
            if outcome.number != trial.number:
                raise RuntimeError(f"executor returned trial {outcome.number} for "
                                   f"{trial.number}")
            r = record_of(outcome, trial.number, trial.params)
            t0 = time.perf_counter()
            kept = store.finish(trial.trial_id, settings, r, me)
            inflight.popleft()
            beats.discard(trial.trial_id)
            if trial.local is not None:  # the local study learns it now, not from a read
                if kept and r.status == "ok":
                    local.tell(trial.local, r.values if settings.multi else r.values[0])
                else:
                    local.tell(trial.local, state=optuna.trial.TrialState.FAIL)
                seen.add(trial.trial_id)
            stats.save_s += time.perf_counter() - t0
            if not kept:
                continue  # failed as stale meanwhile: its retry is the one that counts
            stats.ran += 1
            stats.batches += 1
            new += 1
            mine.append(r)
            counts.finished += 1
            best = _best(settings, best, r)
            if settings.multi:
                front = len(pareto_numbers(settings, [*stored, *mine]))
            if on_progress is not None:
                done = min(counts.finished, n_trials)
                on_progress(Progress(done, done, n_trials, new, best, front, r))
            if should_stop is not None and should_stop():
                stopping = True
                for _, other in inflight:
                    other.cancel()
                release()
                inflight.clear()
    except BaseException:
        for _, other in inflight:
            other.cancel()
        try:
            release()
        except Exception:  # noqa: BLE001 - the heartbeat fails them after the grace period
            pass
        raise
    finally:
        beats.stop()
        _close_lock(lock)
    return store.trials(sid)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) during the block takes effect at its end (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and previous is not signal.SIG_IGN:
        if callable(previous):
            previous(*caught[0])
        else:
            raise KeyboardInterrupt


def _close_lock(lock: StudyLock) -> None:
    try:
        lock.close()
    except Exception:  # noqa: BLE001 - a connection the server already closed
        pass
