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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jbt.errors import InputError, JbtError
from jbt.optimize.study import StudySettings, TrialRecord

ATTR = "jbt"


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

    def __init__(self, url: str, *, create: bool = True) -> None:
        import sqlalchemy

        from jbt.models import database_exists

        self.url = storage_url(url)
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
        self.storage = optuna.storages.RDBStorage(
            self.url, engine_kwargs=_engine_kwargs(self.url), skip_table_creation=not create
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
        rows = []
        for frozen in self.storage.get_all_studies():
            raw = frozen.user_attrs.get(ATTR)
            if not isinstance(raw, dict):
                continue
            settings = StudySettings.from_dict(raw)
            sid = frozen._study_id
            with self.engine.connect() as conn:
                total = conn.execute(sa.select(sa.func.count()).select_from(T)
                                     .where(T.c.study_id == sid)).scalar_one()
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
        """The study's trials in trial order. Refuses a study jbt did not write."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        T = models.TrialModel.__table__
        A = models.TrialUserAttributeModel.__table__
        with self.engine.connect() as conn:
            numbers = conn.execute(
                sa.select(T.c.trial_id, T.c.number).where(T.c.study_id == sid)
                .order_by(T.c.number)
            ).all()
            attrs = dict(conn.execute(
                sa.select(A.c.trial_id, A.c.value_json)
                .select_from(A.join(T, A.c.trial_id == T.c.trial_id))
                .where(T.c.study_id == sid, A.c.key == ATTR)
            ).all())
        out = []
        for i, (tid, number) in enumerate(numbers):
            if number != i or tid not in attrs:
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


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]
