"""What a study scores: any metric of the report, or the strategy's own ``objective()``.

``--objective NAME`` takes a metric name (``sharpe``, ``net_profit``, ``max_drawdown``, ...) and
optimises it in the direction a trader wants (more profit, a shallower drawdown, fewer fees);
``NAME:max`` or ``NAME:min`` sets the direction. ``--objective custom`` calls the first route's
strategy::

    def objective(self, result) -> float:   # result.metrics, result.trades, result.equity
        ...

on a fresh instance whose ``self.hp`` holds the trial's hyperparameters; it is maximised unless
``custom:min`` is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jbt.errors import InputError
from jbt.metrics import METRIC_NAMES

CUSTOM = "custom"

#: Metrics where less is better. ``max_drawdown``, ``gross_loss``, ``average_loss`` and
#: ``largest_loss`` are negative fractions/amounts, so higher (closer to 0) is better.
MINIMIZE = frozenset({
    "max_drawdown_duration_days", "longest_drawdown_days", "losing_trades", "breakeven_trades",
    "max_losing_streak", "fees_paid", "average_holding_seconds",
    "average_holding_winners_seconds", "average_holding_losers_seconds",
})
#: The same in every trial: not something to optimise.
CONSTANT = frozenset({"starting_balance", "days", "buy_and_hold_return"})
OBJECTIVE_NAMES = tuple(n for n in METRIC_NAMES if n not in CONSTANT) + (CUSTOM,)


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def label(self) -> str:
        default = "minimize" if self.name in MINIMIZE else "maximize"
        return self.name if self.direction == default else f"{self.name}:{self.direction[:3]}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Objective:
        return cls(d["name"], d["direction"])


def parse_objectives(texts: Sequence[str] | None) -> list[Objective]:
    """``--objective`` values (default ``sharpe``); one or two."""
    texts = list(texts or ["sharpe"])
    if len(texts) > 2:
        raise InputError("give one --objective, or two for a multi-objective study")
    out = []
    for text in texts:
        raw = text.strip().lower().replace("-", "_").replace(" ", "_")
        name, _, way = raw.partition(":")
        if name not in OBJECTIVE_NAMES:
            if name in CONSTANT:
                raise InputError(f"--objective {text}: {name} is the same in every trial")
            raise InputError(
                f"--objective {text}: unknown metric; use one of {', '.join(OBJECTIVE_NAMES)}"
            )
        if way in ("", None):
            direction = "minimize" if name in MINIMIZE else "maximize"
        elif way in ("max", "maximize"):
            direction = "maximize"
        elif way in ("min", "minimize"):
            direction = "minimize"
        else:
            raise InputError(f"--objective {text}: the direction is :max or :min")
        out.append(Objective(name, direction))
    if len({o.name for o in out}) < len(out):
        raise InputError("the two --objective flags name the same metric")
    return out


def check_custom(objectives: Sequence[Objective], strategy: type) -> None:
    """``--objective custom`` needs an ``objective(self, result)`` method on the strategy."""
    if any(o.name == CUSTOM for o in objectives) and not callable(
        getattr(strategy, "objective", None)
    ):
        raise InputError(
            f"--objective custom: strategy '{strategy.__name__}' has no objective() method; "
            "add def objective(self, result) -> float (result.metrics, result.trades)"
        )


def objective_value(obj: Objective, result: Any, strategy: type | None,
                    hp: Mapping[str, Any] | None) -> float | None:
    """The objective of one run: a metric (None when undefined), or the strategy's hook."""
    if obj.name != CUSTOM:
        value = result.metrics.get(obj.name)
        return None if value is None else float(value)
    assert strategy is not None
    instance = strategy()
    instance.hp = dict(hp or {})
    value = instance.objective(result)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"objective() must return a number, got {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None
