"""Hyperparameter values for a run: what a strategy declares, overridden without editing code.

A strategy declares ``hyperparameters()`` as ``[{"name", "type", "min", "max", "default"}]``
(``"categorical"`` takes ``"options"`` instead of min/max). A run overrides them per strategy
name: ``{"SmaCross": {"fast": 12}}`` (the API's ``hyperparameters``, the engine's argument) or
``NAME=VALUE`` / ``Strategy.NAME=VALUE`` (``jbt backtest --hp``). Every override is converted to
the declared type (from text too) and checked against min/max or the options; a wrong one is an
:class:`InputError` naming the strategy, the parameter and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jbt.errors import InputError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "categorical": "categorical"}


def declared(cls: type) -> list[dict[str, Any]]:
    """``cls().hyperparameters()``: the declarations of a strategy class."""
    from jbt.strategies._jesse_compat import unknown_names

    with unknown_names():
        return list(cls().hyperparameters() or [])


def resolve(strategy: str, items: Sequence[Mapping[str, Any]],
            overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The declared defaults with ``overrides`` applied, each converted and range-checked. A
    default is used as declared: min/max bound the values chosen for a run, not the strategy's
    own default (Jesse's rule; :func:`default_warnings` reports one outside them)."""
    by_name = {item["name"]: item for item in items}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        names = ", ".join(by_name) if by_name else "none"
        raise InputError(
            f"strategy '{strategy}' has no hyperparameter {', '.join(map(str, unknown))}; "
            f"it declares: {names}"
        )
    values = {name: item.get("default") for name, item in by_name.items()}
    for name, value in overrides.items():
        default = by_name[name].get("default")
        if value is default or (type(value) is type(default) and value == default):
            continue  # the strategy's own default is used as declared, even outside min/max
        values[name] = _check(strategy, by_name[name], value)
    return values


def resolve_all(strategies: Mapping[str, type], names: Iterable[str],
                overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Per strategy the routes run (``names``): the values it will use. Overrides for a strategy
    no route runs are refused."""
    wanted = list(dict.fromkeys(names))
    overrides = overrides or {}
    stray = [s for s in overrides if s not in wanted]
    if stray:
        raise InputError(
            f"hyperparameters given for strategy '{stray[0]}', which no route runs; the routes "
            f"run: {', '.join(wanted)}"
        )
    return {s: resolve(s, declared(strategies[s]), overrides.get(s, {})) for s in wanted}


def default_warnings(strategies: Mapping[str, type], names: Iterable[str]) -> list[str]:
    """One line per declared default outside its own min/max. Such a default is used as is
    (as Jesse does: min/max bound the values an optimiser or ``--hp`` may choose)."""
    out = []
    for s in dict.fromkeys(names):
        for item in declared(strategies[s]):
            if _kind(item) not in ("int", "float"):
                continue
            value, lo, hi = item.get("default"), item.get("min"), item.get("max")
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                out.append(
                    f"strategy '{s}': hyperparameter {item['name']} default {value} is outside "
                    f"its min/max ({_allowed(_kind(item), item)}); the default is used, min/max "
                    "only bound --hp values"
                )
    return out


def from_assignments(assignments: Sequence[str], names: Iterable[str],
                     strategies: Mapping[str, type]) -> dict[str, dict[str, str]]:
    """``--hp`` values as overrides per strategy name. ``NAME=VALUE`` goes to every strategy of
    the routes that declares ``NAME``; ``Strategy.NAME=VALUE`` to that one only. The values stay
    text: :func:`resolve` converts them."""
    wanted = list(dict.fromkeys(names))
    decl = {s: [item["name"] for item in declared(strategies[s])] for s in wanted}
    out: dict[str, dict[str, str]] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"--hp '{text}': expected NAME=VALUE or Strategy.NAME=VALUE, e.g. --hp fast=12"
            )
        strategy, dot, name = key.rpartition(".")
        if dot:
            targets = [strategy]
        else:
            targets = [s for s in wanted if name in decl[s]]
            if not targets:
                if len(wanted) == 1:
                    targets = wanted  # resolve() names what it declares
                else:
                    have = "; ".join(f"{s} declares {', '.join(decl[s]) or 'none'}" for s in wanted)
                    raise InputError(
                        f"--hp {name}: no strategy of the routes has hyperparameter {name}; {have}"
                    )
        for s in targets:
            out.setdefault(s, {})[name] = value
    return out


def _kind(item: Mapping[str, Any]) -> str:
    declared_type = item.get("type")
    if declared_type is None:
        default = item.get("default")
        declared_type = type(default) if default is not None else str
    name = declared_type if isinstance(declared_type, str) else getattr(declared_type, "__name__", "")
    return _KINDS.get(name.lower(), "str")


def _allowed(kind: str, item: Mapping[str, Any]) -> str:
    if kind == "categorical":
        return "one of " + ", ".join(repr(o) if isinstance(o, str) else str(o)
                                     for o in item.get("options") or [])
    if kind == "bool":
        return "true or false"
    if kind == "str":
        return "a string"
    lo, hi = item.get("min"), item.get("max")
    what = "an int" if kind == "int" else "a number"
    if lo is not None and hi is not None:
        return f"{what} from {lo} to {hi}"
    if lo is not None:
        return f"{what} of at least {lo}"
    if hi is not None:
        return f"{what} of at most {hi}"
    return what


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check(strategy: str, item: Mapping[str, Any], value: Any) -> Any:
    kind = _kind(item)
    name = item["name"]
    allowed = _allowed(kind, item)
    try:
        converted = _convert(kind, item, value)
    except (TypeError, ValueError):
        raise InputError(
            f"strategy '{strategy}': hyperparameter {name} cannot be {_show(value)}; "
            f"allowed: {allowed}"
        ) from None
    if kind in ("int", "float"):
        lo, hi = item.get("min"), item.get("max")
        if (lo is not None and converted < lo) or (hi is not None and converted > hi):
            raise InputError(
                f"strategy '{strategy}': hyperparameter {name} = {converted} is out of range; "
                f"allowed: {allowed}"
            )
    return converted


def _convert(kind: str, item: Mapping[str, Any], value: Any) -> Any:
    if kind == "categorical":
        for option in item.get("options") or []:
            if value == option or (isinstance(value, str) and value == str(option)):
                return option
        raise ValueError(value)
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise TypeError(value)
    number = float(value.strip()) if isinstance(value, str) else value
    if not isinstance(number, int | float) or not math.isfinite(number):
        raise ValueError(value)
    return float(number)
