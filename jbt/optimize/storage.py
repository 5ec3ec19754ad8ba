"""Studies in the database: Optuna's RDB schema, written a batch per transaction.

The study is a regular Optuna study (``optuna.load_study(study_name=..., storage=URL)`` reads
it; so does optuna-dashboard) in the project's database or any SQLAlchemy URL given with
``--storage``. Its settings are the study's user attribute ``jbt``; each trial keeps its
params, its training objective values (complete trials), its state (``COMPLETE`` for a feasible
trial, ``FAIL`` for an infeasible or failing one) and a user attribute ``jbt`` with both
periods' metrics, the status and the error.

Writing through Optuna's storage API costs several milliseconds a trial (an ORM round trip per
field); a batch is written here with plain inserts into the same tables in one transaction, so a
batch is stored whole or not at all, at about a millisecond a trial.

A *shared* study (``--shared``, PostgreSQL only; see :mod:`jbt.optimize.shared`) is written
trial by trial instead, by every process that joins it: :meth:`StudyStore.reserve` creates the
trial (``RUNNING``, with its first heartbeat, in one transaction), its params are stored once
drawn, and :meth:`StudyStore.finish` stores its outcome in one transaction that succeeds only
if the trial is still ``RUNNING``. Such a study carries the study
system attribute ``jbt:shared``; its trial numbers may have gaps (trials whose process died, left
``FAIL`` without a ``jbt`` attribute and retried under another number).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jbt.errors import InputError, JbtError
from jbt.optimize.study import StudySettings, TrialRecord

ATTR = "jbt"
#: Study system attributes of a shared study: the flag, and how many processes joined it.
SHARED_ATTR = "jbt:shared"
PROCESSES_ATTR = "jbt:processes"
#: Trial attributes of a shared study: the process running the trial (system attribute, set
#: when it is reserved) and the process that finished it (user attribute), as ``host:pid``.
RUNNING_ATTR = "jbt:process"
PROCESS_ATTR = "jbt_process"
#: How often a trial whose process died is run again (Optuna's retry callback) before it is
#: given up: a trial that kills every process running it must not stop the study.
MAX_RETRY = 3
#: The advisory lock (PostgreSQL) held while Optuna's tables are created.
_SCHEMA_LOCK = 0x6A6274_4F707475  # "jbt" "Optu"


def storage_url(url: str) -> str:
    """A jbt database URL as SQLAlchemy reads it (psycopg2 named for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite:"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _redact(url: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return url.replace(f":{parsed.password}@", ":***@") if parsed.password else url


@dataclass
class StudyRow:
    """A line of ``jbt optimize list``."""

    name: str
    settings: StudySettings
    trials: int
    complete: int
    best: float | None


class StudyStore:
    """The studies of one database. ``create=False`` opens it for reading only: a database
    without Optuna's tables then simply has no studies (nothing is written)."""

    def __init__(self, url: str, *, create: bool = True, heartbeat: int | None = None) -> None:
        import sqlalchemy

        from jbt.models import database_exists

        self.url = storage_url(url)
        self.heartbeat = heartbeat
        self.storage: Any = None
        self.engine: Any = None
        if not create and not database_exists(url):
            return  # no database file yet: no studies, and nothing is created
        try:
            self.engine = sqlalchemy.create_engine(self.url, **_engine_kwargs(self.url))
            if not create and not sqlalchemy.inspect(self.engine).has_table("studies"):
                return
            self._open(create)
        except ImportError as exc:
            raise InputError(f"storage '{_redact(url)}': {exc}") from exc
        except sqlalchemy.exc.SQLAlchemyError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"cannot open the study storage '{_redact(url)}': {first}") from exc

    def _open(self, create: bool) -> None:
        import optuna
        import sqlalchemy

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        extra: dict[str, Any] = {}
        if self.heartbeat is not None:
            # Optuna's heartbeat: a trial whose process stops beating for the grace period is
            # failed by the next process that looks, and the callback queues it again
            extra = {"heartbeat_interval": self.heartbeat,
                     "grace_period": grace_period(self.heartbeat), **_retry_callback()}
        with warnings.catch_warnings(), self._creating(create):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.storage = optuna.storages.RDBStorage(
                self.url, engine_kwargs=_engine_kwargs(self.url),
                skip_table_creation=not create, **extra,
            )
        self.engine.dispose()
        self.engine = self.storage.engine
        if self.url.startswith("sqlite:"):
            # as jbt's own connection: WAL (shared with readers), synced at checkpoints; a
            # killed process loses nothing committed
            @sqlalchemy.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            self.engine.dispose()  # connections made from now on get the pragmas

    @contextlib.contextmanager
    def _creating(self, create: bool) -> Iterator[None]:
        """On PostgreSQL, Optuna's tables are created by one process at a time (processes of a
        shared study start together, and two creating them at once collide)."""
        import sqlalchemy as sa

        if not create or not self.url.startswith("postgresql"):
            yield
            return
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK})
                conn.commit()

    def close(self) -> None:
        if self.storage is not None:
            self.storage.remove_session()
        if self.engine is not None:
            self.engine.dispose()

    # ------------------------------------------------------------------ studies

    def find(self, name: str) -> tuple[int, StudySettings | None] | None:
        """``(study id, settings)`` of the study called ``name`` (settings None when jbt did not
        create it), or None."""
        if self.storage is None:
            return None
        try:
            sid = self.storage.get_study_id_from_name(name)
        except KeyError:
            return None
        attrs = self.storage.get_study_user_attrs(sid)
        raw = attrs.get(ATTR)
        return sid, (StudySettings.from_dict(raw) if isinstance(raw, dict) else None)

    def create(self, settings: StudySettings) -> int:
        from optuna.study import StudyDirection

        directions = [StudyDirection.MAXIMIZE if o.maximize else StudyDirection.MINIMIZE
                      for o in settings.objectives]
        sid = self.storage.create_new_study(directions, settings.name)
        self.storage.set_study_user_attr(sid, ATTR, settings.to_dict())
        return sid

    def adopt(self, sid: int, settings: StudySettings) -> None:
        """Give an empty study jbt's settings (one created before a crash could write them)."""
        self.storage.set_study_user_attr(sid, ATTR, settings.to_dict())

    def delete(self, name: str) -> bool:
        found = self.find(name)
        if found is None:
            return False
        self.storage.delete_study(found[0])
        return True

    def studies(self) -> list[StudyRow]:
        """jbt's studies, oldest first, with trial counts and the best training value."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        if self.storage is None:
            return []
        T = models.TrialModel.__table__
        V = models.TrialValueModel.__table__
        A = models.TrialUserAttributeModel.__table__
        recorded = sa.exists().where(A.c.trial_id == T.c.trial_id, A.c.key == ATTR)
        rows = []
        for frozen in self.storage.get_all_studies():
            raw = frozen.user_attrs.get(ATTR)
            if not isinstance(raw, dict):
                continue
            settings = StudySettings.from_dict(raw)
            sid = frozen._study_id
            with self.engine.connect() as conn:
                # jbt's trials (of a shared study: not those running, or whose process died)
                total = conn.execute(sa.select(sa.func.count()).select_from(T)
                                     .where(T.c.study_id == sid, recorded)).scalar_one()
                complete = conn.execute(
                    sa.select(sa.func.count()).select_from(T)
                    .where(T.c.study_id == sid, T.c.state == _state("COMPLETE"))
                ).scalar_one()
                agg = sa.func.max if settings.objectives[0].maximize else sa.func.min
                best = conn.execute(
                    sa.select(agg(V.c.value)).select_from(V.join(T, V.c.trial_id == T.c.trial_id))
                    .where(T.c.study_id == sid, V.c.objective == 0,
                           T.c.state == _state("COMPLETE"))
                ).scalar_one()
            rows.append(StudyRow(settings.name, settings, int(total), int(complete),
                                 None if best is None else float(best)))
        return rows

    # ------------------------------------------------------------------ trials

    def trials_count(self, sid: int) -> int:
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        T = models.TrialModel.__table__
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T)
                                    .where(T.c.study_id == sid)).scalar_one())

    def trials(self, sid: int) -> list[TrialRecord]:
        """The study's trials in trial order. Refuses a study jbt did not write.

        Of a shared study only the finished trials are read: those running or queued in a
        process, and those whose process died (failed by a heartbeat, without a record), are
        left out, so its numbers may have gaps."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        T = models.TrialModel.__table__
        A = models.TrialUserAttributeModel.__table__
        shared = self.is_shared(sid)
        with self.engine.connect() as conn:
            numbers = conn.execute(
                sa.select(T.c.trial_id, T.c.number, T.c.state).where(T.c.study_id == sid)
                .order_by(T.c.number)
            ).all()
            attrs = dict(conn.execute(
                sa.select(A.c.trial_id, A.c.value_json)
                .select_from(A.join(T, A.c.trial_id == T.c.trial_id))
                .where(T.c.study_id == sid, A.c.key == ATTR)
            ).all())
        out = []
        if shared:
            unfinished = (_state("RUNNING"), _state("WAITING"), _state("FAIL"))
            numbers = [(tid, number, state) for tid, number, state in numbers
                       if tid in attrs or state not in unfinished]
        for i, (tid, number, _) in enumerate(numbers):
            if (number != i and not shared) or tid not in attrs:
                raise JbtError(
                    f"the study has a trial {number} that jbt did not write (another program "
                    "added it); jbt can show and continue only studies it wrote"
                )
            out.append(TrialRecord.from_attr(number, json.loads(attrs[tid])))
        return out

    def save(self, sid: int, settings: StudySettings, records: Sequence[TrialRecord]) -> None:
        """Store finished trials (a whole batch) in one transaction."""
        import sqlalchemy as sa
        from optuna.distributions import distribution_to_json
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        if not records:
            return
        T = models.TrialModel.__table__
        P = models.TrialParamModel.__table__
        V = models.TrialValueModel.__table__
        A = models.TrialUserAttributeModel.__table__
        finite = models.TrialValueModel.TrialValueType.FINITE
        params = {p.key: p.distribution() for p in settings.space.params}
        dist_json = {k: distribution_to_json(d) for k, d in params.items()}
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        param_rows, value_rows, attr_rows = [], [], []
        with self.engine.begin() as conn:
            have = conn.execute(sa.select(sa.func.count()).select_from(T)
                                .where(T.c.study_id == sid)).scalar_one()
            if have != records[0].number:
                raise JbtError(
                    f"study '{settings.name}' has {have} trials stored but this run is writing "
                    f"trial {records[0].number}: is another 'jbt optimize' running it?"
                )
            for r in records:
                ok = r.status == "ok"
                tid = conn.execute(sa.insert(T).values(
                    number=r.number, study_id=sid,
                    state=TrialState.COMPLETE if ok else TrialState.FAIL,
                    datetime_start=now, datetime_complete=now,
                )).inserted_primary_key[0]
                for key, value in r.params.items():
                    param_rows.append({
                        "trial_id": tid, "param_name": key,
                        "param_value": params[key].to_internal_repr(value),
                        "distribution_json": dist_json[key],
                    })
                if ok:
                    for i, v in enumerate(r.values):
                        value_rows.append({"trial_id": tid, "objective": i, "value": v,
                                           "value_type": finite})
                attr_rows.append({"trial_id": tid, "key": ATTR,
                                  "value_json": json.dumps(r.to_attr(), allow_nan=False)})
            conn.execute(sa.insert(P), param_rows)
            if value_rows:
                conn.execute(sa.insert(V), value_rows)
            conn.execute(sa.insert(A), attr_rows)

    # ------------------------------------------------------------------ shared studies

    def is_shared(self, sid: int) -> bool:
        return bool(self.storage.get_study_system_attrs(sid).get(SHARED_ATTR))

    def share(self, sid: int) -> int:
        """Mark the study shared and count one more process in it; returns this process's
        index (0 for the first to join). Call it holding :meth:`lock`."""
        attrs = self.storage.get_study_system_attrs(sid)
        if not attrs.get(SHARED_ATTR):
            self.storage.set_study_system_attr(sid, SHARED_ATTR, True)
        index = int(attrs.get(PROCESSES_ATTR, 0))
        self.storage.set_study_system_attr(sid, PROCESSES_ATTR, index + 1)
        return index

    def lock(self, name: str) -> StudyLock:
        """The lock every process of a shared study takes to create, join, or reserve a
        trial of the study ``name``."""
        return StudyLock(self.engine, name)

    def shared_counts(self, sid: int) -> SharedCounts:
        """How many trials the study has finished, has running, and has queued (a retry)."""
        with self.engine.connect() as conn:
            return _shared_counts(conn, sid)

    def reserve(self, sid: int, n_trials: int, process: str
                ) -> tuple[tuple[int, int, bool] | None, SharedCounts]:
        """A trial for this process to run, in one transaction with its first heartbeat (so a
        process killed at any moment leaves no trial running without one, which Optuna would
        never fail): the oldest retry queued, else a new trial if the study has fewer than
        ``n_trials``; None when it has them all. The trial's system attribute ``jbt:process``
        names ``process``. Call it holding :meth:`lock`. Returns the trial's ``(id, number,
        retry)`` and the study's counts (before this trial)."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        T = models.TrialModel.__table__
        H = models.TrialHeartbeatModel.__table__
        S = models.StudyModel.__table__
        Y = models.TrialSystemAttributeModel.__table__
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self.engine.begin() as conn:
            counts = _shared_counts(conn, sid)
            trial_id = number = None
            retry = bool(counts.waiting)
            if counts.waiting:
                row = conn.execute(
                    sa.select(T.c.trial_id, T.c.number)
                    .where(T.c.study_id == sid, T.c.state == TrialState.WAITING)
                    .order_by(T.c.number).limit(1).with_for_update()
                ).first()
                if row is not None:
                    trial_id, number = row
                    conn.execute(sa.update(T).where(T.c.trial_id == trial_id)
                                 .values(state=TrialState.RUNNING, datetime_start=now))
            if trial_id is None and counts.taken < n_trials:
                retry = False
                # numbered as Optuna numbers a trial: under a lock on the study's row
                conn.execute(sa.select(S.c.study_id).where(S.c.study_id == sid)
                             .with_for_update())
                number = conn.execute(sa.select(sa.func.count()).select_from(T)
                                      .where(T.c.study_id == sid)).scalar_one()
                trial_id = conn.execute(sa.insert(T).values(
                    number=number, study_id=sid, state=TrialState.RUNNING, datetime_start=now,
                )).inserted_primary_key[0]
            if trial_id is not None:
                conn.execute(sa.insert(H).values(trial_id=trial_id, heartbeat=sa.func.now()))
                # a retry carries the attribute of the trial it repeats: this process runs it
                conn.execute(sa.delete(Y).where(Y.c.trial_id == trial_id,
                                                Y.c.key == RUNNING_ATTR))
                conn.execute(sa.insert(Y).values(trial_id=trial_id, key=RUNNING_ATTR,
                                                 value_json=json.dumps(process)))
        return (None if trial_id is None else (trial_id, number, retry)), counts

    def trial_params(self, trial_id: int, settings: StudySettings) -> dict[str, Any]:
        """A reserved trial's params (a retry's: those of the trial it repeats)."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        P = models.TrialParamModel.__table__
        dists = {p.key: p.distribution() for p in settings.space.params}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(P.c.param_name, P.c.param_value)
                                .where(P.c.trial_id == trial_id)).all()
        return {k: dists[k].to_external_repr(v) for k, v in rows if k in dists}

    def set_params(self, trial_id: int, settings: StudySettings,
                   params: dict[str, Any]) -> None:
        """Store the params drawn for a reserved trial (as Optuna's trial params)."""
        import sqlalchemy as sa
        from optuna.distributions import distribution_to_json
        from optuna.storages._rdb import models

        P = models.TrialParamModel.__table__
        dists = {p.key: p.distribution() for p in settings.space.params}
        with self.engine.begin() as conn:
            conn.execute(sa.insert(P), [
                {"trial_id": trial_id, "param_name": k,
                 "param_value": dists[k].to_internal_repr(v),
                 "distribution_json": distribution_to_json(dists[k])}
                for k, v in params.items()
            ])

    def finished_since(self, sid: int, low: int) -> tuple[list[tuple[int, TrialRecord]], int]:
        """The finished trials of a shared study from trial id ``low`` on, and the ``low`` to
        ask from next time (every trial below it is finished, or dead)."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        T = models.TrialModel.__table__
        A = models.TrialUserAttributeModel.__table__
        with self.engine.connect() as conn:
            unfinished = conn.execute(
                sa.select(sa.func.min(T.c.trial_id))
                .where(T.c.study_id == sid,
                       T.c.state.in_([TrialState.RUNNING, TrialState.WAITING]))
            ).scalar()
            rows = conn.execute(
                sa.select(T.c.trial_id, T.c.number, A.c.value_json)
                .select_from(T.join(A, (A.c.trial_id == T.c.trial_id) & (A.c.key == ATTR)))
                .where(T.c.study_id == sid, T.c.trial_id >= low).order_by(T.c.trial_id)
            ).all()
        out = [(tid, TrialRecord.from_attr(number, json.loads(raw)))
               for tid, number, raw in rows]
        top = max((tid for tid, _ in out), default=low - 1) + 1
        return out, (min(unfinished, top) if unfinished is not None else max(top, low))

    def finish(self, trial_id: int, settings: StudySettings, record: TrialRecord,
               process: str) -> bool:
        """Store a shared study's trial outcome in one transaction: its state, its values and
        its record. False (nothing written) when the trial is no longer ``RUNNING``: another
        process failed it as stale (this one stopped beating for the grace period) and it is
        queued again, so this outcome is dropped and the trial counts once."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models
        from optuna.trial import TrialState

        T = models.TrialModel.__table__
        V = models.TrialValueModel.__table__
        A = models.TrialUserAttributeModel.__table__
        ok = record.status == "ok"
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self.engine.connect() as conn, conn.begin() as tx:
            moved = conn.execute(
                sa.update(T).where(T.c.trial_id == trial_id, T.c.state == TrialState.RUNNING)
                .values(state=TrialState.COMPLETE if ok else TrialState.FAIL,
                        datetime_complete=now)
            ).rowcount
            if moved != 1:
                tx.rollback()
                return False
            if ok:
                finite = models.TrialValueModel.TrialValueType.FINITE
                conn.execute(sa.insert(V), [
                    {"trial_id": trial_id, "objective": i, "value": v, "value_type": finite}
                    for i, v in enumerate(record.values)
                ])
            conn.execute(sa.insert(A), [
                {"trial_id": trial_id, "key": ATTR,
                 "value_json": json.dumps(record.to_attr(), allow_nan=False)},
                {"trial_id": trial_id, "key": PROCESS_ATTR, "value_json": json.dumps(process)},
            ])
        return True


def _shared_counts(conn: Any, sid: int) -> SharedCounts:
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    T = models.TrialModel.__table__
    A = models.TrialUserAttributeModel.__table__
    recorded = sa.exists().where(A.c.trial_id == T.c.trial_id, A.c.key == ATTR)
    rows = conn.execute(
        sa.select(T.c.state, recorded.label("recorded"), sa.func.count())
        .where(T.c.study_id == sid).group_by(T.c.state, "recorded")
    ).all()
    out = SharedCounts()
    for state, has_record, n in rows:
        if state == _state("RUNNING"):
            out.running += n
        elif state == _state("WAITING"):
            out.waiting += n
        elif state == _state("COMPLETE") or has_record:
            out.finished += n
    return out


@dataclass
class SharedCounts:
    finished: int = 0  # complete, infeasible or failed in the strategy (recorded)
    running: int = 0  # reserved by a process
    waiting: int = 0  # queued again after their process died

    @property
    def taken(self) -> int:
        """Trials that count toward the study's target."""
        return self.finished + self.running + self.waiting


class StudyLock:
    """A PostgreSQL advisory lock named after a study, taken per reservation on a connection of
    its own (``pg_advisory_xact_lock``: released when the transaction ends, or when the
    connection does, so a killed process never holds it). Optuna's own writes go through its
    connections meanwhile; the lock only orders the processes of one shared study."""

    #: A process stuck this long inside a reservation loses its connection, and the lock.
    IDLE_TIMEOUT = "60s"

    def __init__(self, engine: Any, name: str) -> None:
        import hashlib

        digest = hashlib.blake2b(f"jbt-study:{name}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "big", signed=True)
        self.engine = engine
        self.conn: Any = None

    def __enter__(self) -> StudyLock:
        import sqlalchemy as sa

        if self.conn is None:
            self.conn = self.engine.connect()
            self.conn.execute(sa.text(
                f"SET idle_in_transaction_session_timeout = '{self.IDLE_TIMEOUT}'"))
            self.conn.commit()
        self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.key})
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.conn.commit()
        else:
            self.conn.rollback()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def grace_period(heartbeat: int) -> int:
    """Seconds without a heartbeat after which a running trial counts as dead."""
    return 3 * heartbeat


def _retry_callback() -> dict[str, Any]:
    """Optuna's retry of a trial failed by the heartbeat: the same params, queued ``WAITING``
    (named ``RetryHeartbeatStaleTrialCallback`` since Optuna 4.9, ``RetryFailedTrialCallback``
    before)."""
    import optuna

    storages = optuna.storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        cls = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
        if cls is not None:
            return {"heartbeat_stale_trial_callback": cls(max_retry=MAX_RETRY)}
        return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)}


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]
