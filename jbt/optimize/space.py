"""What ``jbt optimize`` varies: a search space built from the strategies' ``hyperparameters()``.

Each declared hyperparameter (Jesse's format: ``name``, ``type`` int/float/bool/categorical,
``min``, ``max``, optional ``step``, ``options``, ``default``) becomes one dimension of the
search, unless ``--hp NAME=VALUE`` fixes it. ``--space NAME=LO:HI[:STEP]`` narrows a number's
range (inside the declared min/max, so every trial can be re-run with ``jbt backtest --hp``);
``--space NAME=A,B`` narrows a categorical or bool to some of its options.

A dimension's key in the study is the hyperparameter's name, or ``Strategy.name`` when several
strategies of the routes have hyperparameters to search. Nothing here imports Optuna until a
distribution is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jbt.errors import InputError
from jbt.strategies.hyperparameters import _check, _kind, declared, from_assignments, resolve

#: Larger grids are refused (``--sampler grid``): give the numbers a coarser step.
MAX_GRID = 1_000_000


@dataclass(frozen=True)
class Param:
    """One dimension: ``kind`` is int, float or categorical (bool is categorical False/True)."""

    key: str
    strategy: str
    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def distribution(self) -> Any:
        """The Optuna distribution of this dimension."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), step=int(self.step or 1))
        if self.kind == "float":
            return FloatDistribution(float(self.low), float(self.high), step=self.step)
        return CategoricalDistribution(list(self.choices or ()))

    def grid(self) -> list[Any]:
        """Every value of the dimension (``--sampler grid``); a float needs a step."""
        if self.kind == "categorical":
            return list(self.choices or ())
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise InputError(
                f"--sampler grid needs a step for float hyperparameter {self.key}; give one with "
                f"--space {self.key}={self.low}:{self.high}:STEP"
            )
        lo, step = Decimal(str(self.low)), Decimal(str(self.step))
        n = int((Decimal(str(self.high)) - lo) / step)
        return [float(lo + i * step) for i in range(n + 1)]

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.key} in {{{', '.join(_text(c) for c in self.choices or ())}}}"
        text = f"{self.key} {_text(self.low)}..{_text(self.high)}"
        if self.step is not None and not (self.kind == "int" and self.step == 1):
            text += f" step {_text(self.step)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "strategy": self.strategy, "name": self.name,
                "kind": self.kind, "low": self.low, "high": self.high, "step": self.step,
                "choices": list(self.choices) if self.choices is not None else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Param:
        choices = d.get("choices")
        return cls(d["key"], d["strategy"], d["name"], d["kind"], d.get("low"), d.get("high"),
                   d.get("step"), tuple(choices) if choices is not None else None)


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions searched and the values fixed with ``--hp`` (per strategy)."""

    params: tuple[Param, ...]
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the strategies of the routes, in route order (each gets its hyperparameters per trial)
    strategies: tuple[str, ...] = ()

    def distributions(self) -> dict[str, Any]:
        return {p.key: p.distribution() for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        out = {p.key: p.grid() for p in self.params}
        size = 1
        for values in out.values():
            size *= len(values)
        if size > MAX_GRID:
            raise InputError(
                f"the grid has {size:,} points (more than {MAX_GRID:,}); give the numbers a "
                "coarser step with --space NAME=LO:HI:STEP or use another --sampler"
            )
        return out

    def grid_size(self) -> int:
        size = 1
        for values in self.grid().values():
            size *= len(values)
        return size

    def overrides(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Per strategy, the values a trial sets: the fixed ones and the searched ones."""
        out = {s: dict(v) for s, v in self.fixed.items()}
        for p in self.params:
            if p.key in values:
                out.setdefault(p.strategy, {})[p.name] = values[p.key]
        return out

    def hp_args(self, values: Mapping[str, Any]) -> list[str]:
        """``--hp`` arguments that set what a trial set (``jbt backtest`` reproduces it)."""
        qualify = len({p.strategy for p in self.params} | set(self.fixed)) > 1
        args = []
        for strategy, items in self.overrides(values).items():
            for name, value in items.items():
                key = f"{strategy}.{name}" if qualify else name
                args.append(f"{key}={hp_text(value)}")
        return args

    def to_dict(self) -> dict[str, Any]:
        return {"params": [p.to_dict() for p in self.params],
                "fixed": {s: dict(v) for s, v in self.fixed.items()},
                "strategies": list(self.strategies)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        return cls(tuple(Param.from_dict(p) for p in d["params"]),
                   {s: dict(v) for s, v in d.get("fixed", {}).items()},
                   tuple(d.get("strategies", ())))

    def describe(self) -> str:
        text = ", ".join(p.describe() for p in self.params)
        fixed = [a for a in self.hp_args({})]
        if fixed:
            text += "; fixed: " + ", ".join(fixed)
        return text


def hp_text(value: Any) -> str:
    """A value as ``--hp`` reads it back exactly (floats with ``repr``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _text(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return repr(x)
    return str(x)


def build_space(strategies: Mapping[str, type], names: Iterable[str],
                space_args: Sequence[str] = (), hp_args: Sequence[str] = ()) -> SearchSpace:
    """The search space of the routes' strategies (``names``, in route order)."""
    wanted = list(dict.fromkeys(names))
    decl = {s: declared(strategies[s]) for s in wanted}
    if not any(decl.values()):
        who = wanted[0] if len(wanted) == 1 else ", ".join(wanted)
        raise InputError(
            f"strategy '{who}' declares no hyperparameters to optimize; add a hyperparameters() "
            'method returning e.g. [{"name": "fast", "type": int, "min": 5, "max": 50, '
            '"default": 20}]'
        )
    # --hp: converted and range-checked as jbt backtest does
    texts = from_assignments(list(hp_args), wanted, strategies)
    fixed: dict[str, dict[str, Any]] = {}
    for s, given in texts.items():
        values = resolve(s, decl[s], given)
        fixed[s] = {name: values[name] for name in given}

    free = [(s, item) for s in wanted for item in decl[s]
            if item["name"] not in fixed.get(s, {})]
    if not free:
        raise InputError("nothing to search: every hyperparameter is fixed with --hp")
    qualify = len({s for s, _ in free}) > 1
    by_key = {(f"{s}.{item['name']}" if qualify else item["name"]): (s, item) for s, item in free}

    narrowed: dict[str, str] = {}
    for text in space_args:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InputError(
                f"--space '{text}': expected NAME=LO:HI, NAME=LO:HI:STEP or NAME=A,B,C, e.g. "
                "--space fast=5:50:5"
            )
        target = _space_key(key, by_key, fixed, wanted)
        if target in narrowed:
            raise InputError(f"--space {target} is given twice")
        narrowed[target] = value.strip()

    params = [_param(key, s, item, narrowed.get(key)) for key, (s, item) in by_key.items()]
    return SearchSpace(tuple(params), fixed, tuple(wanted))


def _space_key(key: str, by_key: Mapping[str, tuple[str, dict]],
               fixed: Mapping[str, Mapping[str, Any]], wanted: Sequence[str]) -> str:
    if key in by_key:
        return key
    strategy, dot, name = key.rpartition(".")
    matches = [k for k, (s, item) in by_key.items()
               if item["name"] == (name if dot else key) and (not dot or s == strategy)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InputError(
            f"--space {key}: several strategies declare {key}; write one of "
            f"{', '.join(matches)}"
        )
    if any((name if dot else key) in values for s, values in fixed.items()
           if not dot or s == strategy):
        raise InputError(f"--space {key}: {key} is fixed with --hp; give one or the other")
    raise InputError(
        f"--space {key}: no hyperparameter {key} to search; the strategies declare: "
        f"{', '.join(by_key)}"
    )


def _param(key: str, strategy: str, item: Mapping[str, Any], narrowed: str | None) -> Param:
    kind = _kind(item)
    name = item["name"]
    if kind == "bool":
        choices: tuple[Any, ...] = (False, True)
        if narrowed is not None:
            choices = _choices(key, strategy, item, narrowed)
        return Param(key, strategy, name, "categorical", choices=choices)
    if kind == "categorical":
        options = tuple(item.get("options") or ())
        if not options:
            raise InputError(f"strategy '{strategy}': categorical hyperparameter {name} "
                             "declares no options")
        for o in options:
            if not (o is None or isinstance(o, (bool, int, float, str))):
                raise InputError(
                    f"strategy '{strategy}': option {o!r} of hyperparameter {name} is not a "
                    "number, a string, a bool or None, which a study can store"
                )
        if narrowed is not None:
            options = _choices(key, strategy, item, narrowed)
        return Param(key, strategy, name, "categorical", choices=options)
    if kind == "str":
        raise InputError(
            f"strategy '{strategy}': hyperparameter {name} is a str, which cannot be searched; "
            f"declare it \"type\": \"categorical\" with \"options\", or fix it with "
            f"--hp {key}=VALUE"
        )
    lo, hi, step = item.get("min"), item.get("max"), item.get("step")
    if narrowed is not None:
        lo, hi, step = _range(key, strategy, item, kind, narrowed)
    if lo is None or hi is None:
        raise InputError(
            f"strategy '{strategy}': hyperparameter {name} has no min/max to search; declare "
            f"them, give a range with --space {key}=LO:HI, or fix it with --hp {key}=VALUE"
        )
    if hi < lo:
        raise InputError(f"hyperparameter {key}: max {hi} is below min {lo}")
    if kind == "int":
        lo, hi = int(lo), int(hi)
        step = int(step) if step is not None else 1
        if step < 1:
            raise InputError(f"hyperparameter {key}: step must be a positive integer")
        hi = lo + (hi - lo) // step * step
        return Param(key, strategy, name, "int", lo, hi, step)
    lo, hi = float(lo), float(hi)
    if step is not None:
        step = float(step)
        if not step > 0:
            raise InputError(f"hyperparameter {key}: step must be positive")
        d_lo, d_step = Decimal(str(lo)), Decimal(str(step))
        hi = float((Decimal(str(hi)) - d_lo) // d_step * d_step + d_lo)
    return Param(key, strategy, name, "float", lo, hi, step)


def _range(key: str, strategy: str, item: Mapping[str, Any], kind: str,
           text: str) -> tuple[Any, Any, Any]:
    parts = text.split(":")
    if kind not in ("int", "float") or len(parts) not in (2, 3):
        what = "LO:HI or LO:HI:STEP" if kind in ("int", "float") else "A,B,..."
        raise InputError(f"--space {key}={text}: expected {what}")
    conv = int if kind == "int" else float
    try:
        values = [conv(p.strip()) for p in parts]
    except ValueError:
        noun = "an integer" if kind == "int" else "a number"
        raise InputError(f"--space {key}={text}: each part must be {noun}") from None
    lo, hi = values[0], values[1]
    step = values[2] if len(values) == 3 else item.get("step")
    for v in (lo, hi):
        _check(strategy, item, v)  # inside the declared min/max
    if hi < lo:
        raise InputError(f"--space {key}={text}: HI is below LO")
    return lo, hi, step


def _choices(key: str, strategy: str, item: Mapping[str, Any], text: str) -> tuple[Any, ...]:
    if ":" in text and _kind(item) == "bool":
        raise InputError(f"--space {key}={text}: {key} is a bool; give true,false or one of them")
    out: list[Any] = []
    for part in text.split(","):
        value = _check(strategy, item, part.strip())
        if value not in out:
            out.append(value)
    return tuple(out)

