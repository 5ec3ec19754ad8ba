"""Only what ``jbt/`` imports at run time is a runtime dependency (issue 16, finding 12): every
third-party package the code imports is declared, and every declared one is imported."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def declared(names: list[str]) -> set[str]:
    """Distribution names of requirement strings, normalised (``tomli>=2.0; python...``)."""
    return {re.split(r"[<>=!~;\[ ]", n, maxsplit=1)[0].lower().replace("_", "-") for n in names}


def imported_top_level() -> set[str]:
    """Top-level modules imported anywhere in jbt/ (inside functions too)."""
    found: set[str] = set()
    for path in (ROOT / "jbt").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_runtime_dependencies_are_exactly_what_jbt_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = declared(project["dependencies"])
    extras = set().union(*(declared(v) for v in project["optional-dependencies"].values()))
    modules = imported_top_level() - set(sys.stdlib_module_names) - {"jbt", "__future__"}
    dists = packages_distributions()
    used: set[str] = set()
    for module in modules:
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        assert names & (runtime | extras), f"jbt imports {module!r}, which is not declared"
        used |= names & runtime
    # tomli stands in for the standard library's tomllib before Python 3.11
    assert runtime - used <= {"tomli"}, f"declared but never imported: {runtime - used - {'tomli'}}"
    assert "pandas" not in runtime
