"""A study's plain data: its settings, its trials, and their ranking. No Optuna, no database.

A study is identified by its name; its settings are everything that decides its trials (routes,
periods, search space, objectives, sampler, seed, batch size, the backtest config, the candles'
and the strategies' fingerprints). Continuing a study with other settings is refused, so the
trials of one study always come from one experiment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jbt.optimize.objectives import Objective
from jbt.optimize.space import SearchSpace
from jbt.results import RouteSpec

STATUSES = ("ok", "infeasible", "failed")


@dataclass(frozen=True)
class StudySettings:
    name: str
    routes: tuple[RouteSpec, ...]
    extra: tuple[tuple[str, str, str], ...]
    objectives: tuple[Objective, ...]
    sampler: str
    seed: int
    batch: int
    space: SearchSpace
    min_trades: int
    train: tuple[int, int]
    test: tuple[int, int]
    backtest: dict[str, Any]
    data: dict[str, dict[str, str]] = field(default_factory=dict)
    strategies: dict[str, str] = field(default_factory=dict)
    test_share: str | None = None  # "30%" when the split came from --test
    versions: dict[str, str] = field(default_factory=dict)
    created_at: int = 0

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def identity(self) -> dict[str, Any]:
        """What must be the same to continue the study (not the trial count or --jobs)."""
        d = json.loads(json.dumps(self.to_dict()))  # the form a stored study reads back
        for key in ("name", "test_share", "versions", "created_at"):
            d.pop(key)
        return d

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "routes": [asdict(r) for r in self.routes],
            "extra": [list(e) for e in self.extra],
            "objectives": [o.to_dict() for o in self.objectives],
            "sampler": self.sampler,
            "seed": self.seed,
            "batch": self.batch,
            "space": self.space.to_dict(),
            "min_trades": self.min_trades,
            "train": list(self.train),
            "test": list(self.test),
            "backtest": dict(self.backtest),
            "data": {k: dict(v) for k, v in self.data.items()},
            "strategies": dict(self.strategies),
            "test_share": self.test_share,
            "versions": dict(self.versions),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudySettings:
        return cls(
            name=d["name"],
            routes=tuple(RouteSpec(**r) for r in d["routes"]),
            extra=tuple(tuple(e) for e in d.get("extra", ())),
            objectives=tuple(Objective.from_dict(o) for o in d["objectives"]),
            sampler=d["sampler"],
            seed=int(d["seed"]),
            batch=int(d["batch"]),
            space=SearchSpace.from_dict(d["space"]),
            min_trades=int(d["min_trades"]),
            train=(int(d["train"][0]), int(d["train"][1])),
            test=(int(d["test"][0]), int(d["test"][1])),
            backtest=dict(d.get("backtest", {})),
            data={k: dict(v) for k, v in d.get("data", {}).items()},
            strategies=dict(d.get("strategies", {})),
            test_share=d.get("test_share"),
            versions=dict(d.get("versions", {})),
            created_at=int(d.get("created_at", 0)),
        )


#: How each setting is named to the user when a continued study differs from the command.
SETTING_NAMES = {
    "routes": "routes (routes.py)",
    "extra": "extra_candles (routes.py)",
    "objectives": "--objective",
    "sampler": "--sampler",
    "seed": "--seed",
    "batch": "--batch",
    "space": "search space (hyperparameters(), --space, --hp)",
    "min_trades": "--min-trades",
    "train": "training period (START, --test, --test-start)",
    "test": "testing period (END, --test, --test-start)",
    "backtest": "[backtest] settings in config.toml",
    "data": "candles (re-imported or changed since)",
    "strategies": "strategy code",
}
_SHOWN = {"sampler", "seed", "batch", "min_trades"}


def settings_mismatch(stored: StudySettings, wanted: StudySettings) -> str | None:
    """A one-line reason why ``wanted`` cannot continue ``stored``, or None."""
    old, new = stored.identity(), wanted.identity()
    for key in SETTING_NAMES:
        if old.get(key) != new.get(key):
            what = SETTING_NAMES[key]
            detail = ""
            if key in _SHOWN:
                detail = f" ({old.get(key)} there, {new.get(key)} now)"
            elif key == "objectives":
                detail = (f" ({', '.join(o.label() for o in stored.objectives)} there, "
                          f"{', '.join(o.label() for o in wanted.objectives)} now)")
            elif key == "strategies":
                changed = [s for s in new[key] if old[key].get(s) != new[key][s]]
                detail = f" ({', '.join(f'strategies/{s}' for s in changed)} changed)"
            return (f"study '{stored.name}' was started with another {what}{detail}; continue "
                    "it with the same ones, or start a new study with --study NAME")
    return None


@dataclass
class TrialRecord:
    """One finished trial as stored. ``values``/``test_values``: the objectives on training and
    testing (None where undefined); ``train``/``test``: every metric of each period."""

    number: int
    batch: int
    params: dict[str, Any]
    status: str
    values: list[float | None]
    test_values: list[float | None]
    train: dict[str, Any] | None
    test: dict[str, Any] | None
    error: str | None = None
    reason: str | None = None
    duration_s: float = 0.0

    def to_attr(self) -> dict[str, Any]:
        """The JSON the study keeps per trial (user attribute ``jbt``)."""
        return {"batch": self.batch, "params": self.params, "status": self.status,
                "values": self.values, "test_values": self.test_values, "train": self.train,
                "test": self.test, "error": self.error, "reason": self.reason,
                "duration_s": self.duration_s}

    @classmethod
    def from_attr(cls, number: int, d: Mapping[str, Any]) -> TrialRecord:
        return cls(number=number, batch=int(d["batch"]), params=dict(d["params"]),
                   status=d["status"], values=list(d["values"]),
                   test_values=list(d["test_values"]), train=d.get("train"),
                   test=d.get("test"), error=d.get("error"), reason=d.get("reason"),
                   duration_s=float(d.get("duration_s", 0.0)))


def _signed(settings: StudySettings, values: Sequence[float | None]) -> np.ndarray:
    """Objective values turned so that higher is better."""
    return np.array([v if o.maximize else -v
                     for o, v in zip(settings.objectives, values, strict=True)], dtype=float)


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (higher is better in every column) no other row dominates."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for lo in range(0, n, 1000):
        chunk = points[lo:lo + 1000]
        ge = (points[None, :, :] >= chunk[:, None, :]).all(axis=2)
        gt = (points[None, :, :] > chunk[:, None, :]).any(axis=2)
        keep[lo:lo + 1000] = ~(ge & gt).any(axis=1)
    return keep


def ranked(settings: StudySettings, records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The feasible trials (status ok), best first: by the training objective; with two
    objectives the Pareto-optimal trials first, each group by the first objective. Ties go to
    the earlier trial. Infeasible and failed trials are never ranked."""
    ok = [r for r in records if r.status == "ok"]
    if not ok:
        return []
    points = np.array([_signed(settings, r.values) for r in ok])
    front = pareto_mask(points) if settings.multi else np.ones(len(ok), dtype=bool)
    order = sorted(range(len(ok)), key=lambda i: (not front[i], -points[i, 0], ok[i].number))
    return [ok[i] for i in order]


def pareto_numbers(settings: StudySettings, records: Sequence[TrialRecord]) -> set[int]:
    ok = [r for r in records if r.status == "ok"]
    if not ok or not settings.multi:
        return set()
    mask = pareto_mask(np.array([_signed(settings, r.values) for r in ok]))
    return {r.number for r, m in zip(ok, mask, strict=True) if m}


def counts(records: Sequence[TrialRecord]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for r in records:
        out[r.status] = out.get(r.status, 0) + 1
    return out
