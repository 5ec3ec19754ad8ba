"""`jbt new`: a strategy from the template, or a whole project folder. Never overwrites."""

from __future__ import annotations

import keyword
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from jbt.errors import InputError

#: The example strategy a new project starts with.
EXAMPLE_STRATEGY = "SmaCross"
SAMPLE_DATA = "coinbase-BTC-USD-1h.csv"


def _template(name: str) -> str:
    return resources.files("jbt").joinpath("templates", name).read_text(encoding="utf-8")


#: The names the HTTP API accepts too (``jbt.api.schemas.STRATEGY_NAME``): ASCII, at most 64.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def validate_strategy_name(name: str) -> str:
    """A strategy name is a class name: ASCII letters, digits and underscores, starting with a
    letter, at most 64 characters, not a Python keyword."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise InputError(
            f"'{name}' is not a valid class name; use letters, digits and underscores, "
            "starting with a letter, at most 64 characters (e.g. MyStrategy)"
        )
    if name == "Strategy":
        raise InputError("'Strategy' is the base class's name; pick another (e.g. MyStrategy)")
    return name


def route_hint(project_dir: Path, name: str) -> str:
    """The line to put in ``routes.py`` to run ``name``: on the exchange, symbol and timeframe
    of the project's first route when its routes.py loads, else Binance BTC-USDT 4h."""
    from jbt.routes import load_routes

    exchange, symbol, timeframe = "binance", "BTC-USDT", "4h"
    try:
        first = load_routes(project_dir).routes[0]
        exchange, symbol, timeframe = first.exchange, first.symbol, first.timeframe
    except InputError:
        pass
    return f'routes = [("{exchange}", "{symbol}", "{timeframe}", "{name}")]'


def strategy_source(name: str) -> str:
    return Template(_template("strategy.py.tmpl")).substitute(name=name)


def new_strategy(project_dir: Path, name: str) -> Path:
    """Create ``strategies/<name>/__init__.py`` from the template; refuse to overwrite."""
    validate_strategy_name(name)
    folder = project_dir / "strategies" / name
    target = folder / "__init__.py"
    if folder.exists():
        raise InputError(f"{folder} already exists; choose another name or remove it first")
    folder.mkdir(parents=True)
    target.write_text(strategy_source(name), encoding="utf-8")
    return target


@dataclass(frozen=True)
class NewProject:
    root: Path
    files: list[Path]
    sample: Path


def new_project(root: Path, strategy: str = EXAMPLE_STRATEGY) -> NewProject:
    """Create a complete project folder; refuse when any file it would write exists."""
    validate_strategy_name(strategy)
    sample = root / "data" / SAMPLE_DATA
    planned = {
        root / "config.toml": _template("project/config.toml"),
        root / "routes.py": Template(_template("project/routes.py")).substitute(strategy=strategy),
        root / ".gitignore": _template("project/gitignore"),
        root / "strategies" / strategy / "__init__.py": strategy_source(strategy),
    }
    existing = [p for p in [*planned, sample] if p.exists()]
    if existing:
        raise InputError(f"{existing[0]} already exists; jbt new never overwrites files")
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    sample.parent.mkdir(parents=True, exist_ok=True)
    with resources.as_file(resources.files("jbt").joinpath("data", SAMPLE_DATA)) as src:
        shutil.copyfile(src, sample)
    return NewProject(root=root, files=[*planned, sample], sample=sample)
