"""Load a project's ``routes.py`` and its strategies, with errors the user can act on.

``routes.py`` defines::

    routes = [("binance", "BTC-USDT", "4h", "EmaCross"), ...]     # exchange, symbol, tf, strategy
    extra_candles = [("binance", "ETH-USDT", "1h"), ...]          # optional, read-only candles

(Jesse's dict form ``{"exchange": ..., "symbol": ..., "timeframe": ..., "strategy": ...}`` works
too, and so does Jesse 3's name ``data_routes`` for ``extra_candles``.) Exchange names are
read in lower case and symbols in jbt's spelling (:func:`jbt.symbols.normalize_symbol`:
``btc/usdt`` is ``BTC-USDT``); a symbol written without a separator is an error that suggests
the stored symbol it most likely means. Two routes may trade the same symbol with different
strategies or timeframes; each keeps
its own position while all share one balance. An identical route twice is an error.

A strategy ``Name`` lives in ``strategies/Name/__init__.py`` and defines class ``Name``. It is
imported by file path under a module name unique to the project folder, so two projects in one
process do not collide, and fresh on every load, so an edited strategy is picked up by the next
run. Nothing is written into the user's folders (no ``__pycache__``). While a strategy file
loads, the project folder is first on ``sys.path``: helper packages next to ``strategies/``
(``import custom_indicators as cta``, ``from vars import ...``) import as they do in Jesse.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from jbt.errors import InputError, StrategyError
from jbt.results import RouteSpec
from jbt.symbols import normalize_symbol
from jbt.timeframes import normalize

ROUTES_FILE = "routes.py"
STRATEGIES_DIR = "strategies"

_import_lock = threading.Lock()


@dataclass(frozen=True)
class Routes:
    """What a project's routes.py declares."""

    routes: list[RouteSpec]
    extra_candles: list[tuple[str, str, str]] = field(default_factory=list)


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Imports a source file without writing a .pyc next to it."""

    def set_data(self, path, data, *, _mode=0o666):  # noqa: D102 - never write bytecode
        return None


_PREFIX = "_jbt_project_"


class _ProjectSubmoduleFinder(importlib.abc.MetaPathFinder):
    """Finds the submodules of a loaded strategy package (``from .levels import X``, also
    inside a method, i.e. during the run) and loads them without writing bytecode; the
    default path finder would write ``__pycache__`` into the user's strategies/ folder."""

    def find_spec(self, fullname, path, target=None):
        if path is None or not fullname.startswith(_PREFIX):
            return None
        name = fullname.rpartition(".")[2]
        for entry in path:
            folder = Path(entry) / name
            if (folder / "__init__.py").is_file():
                init = folder / "__init__.py"
                return importlib.util.spec_from_file_location(
                    fullname, init, loader=_NoBytecodeLoader(fullname, str(init)),
                    submodule_search_locations=[str(folder)],
                )
            file = Path(entry) / f"{name}.py"
            if file.is_file():
                return importlib.util.spec_from_file_location(
                    fullname, file, loader=_NoBytecodeLoader(fullname, str(file))
                )
        return None


def _install_finder() -> None:
    """Put the submodule finder first on sys.meta_path (once per process; stateless)."""
    if not any(isinstance(f, _ProjectSubmoduleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ProjectSubmoduleFinder())


def _module_prefix(project_dir: Path) -> str:
    digest = hashlib.sha1(str(project_dir.resolve()).encode()).hexdigest()[:12]
    return f"{_PREFIX}{digest}"


def _import_file(name: str, path: Path, *, package: bool, project: Path | None = None) -> object:
    """Import ``path`` as module ``name``. With ``project``, that folder is first on
    ``sys.path`` while the file runs, so its helper packages (``custom_indicators``, ``vars``,
    ``helpers``...) import as they do in Jesse; the modules imported from it are dropped from
    ``sys.modules`` afterwards, so the next load reads them fresh and another project's
    helpers of the same name never meet them."""
    loader = _NoBytecodeLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(
        name,
        path,
        loader=loader,
        submodule_search_locations=[str(path.parent)] if package else None,
    )
    module = importlib.util.module_from_spec(spec)
    with _import_lock:
        _install_finder()
        previous = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # helper modules the strategy imports itself
        sys.modules[name] = module
        folder = str(project.resolve()) if project is not None else None
        before = set(sys.modules) if folder else set()
        if folder:
            sys.path.insert(0, folder)
        try:
            loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            sys.dont_write_bytecode = previous
            if folder:
                sys.path.remove(folder)
                _forget_project_modules(folder, set(sys.modules) - before - {name}, before)
    return module


def _forget_project_modules(folder: str, names: set[str], before: set[str]) -> None:
    """Drop the modules just imported from the project folder (see :func:`_import_file`):
    those of a top-level package that was not loaded before (so never ``jbt`` itself, even
    when the project folder holds it)."""
    root = Path(folder)
    for mod_name in names:
        if mod_name.startswith(_PREFIX) or mod_name.partition(".")[0] in before:
            continue
        file = getattr(sys.modules.get(mod_name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(root):
            del sys.modules[mod_name]


def load_routes(project_dir: Path | str) -> Routes:
    """Read and check ``routes.py`` in the project folder."""
    project = Path(project_dir)
    path = project / ROUTES_FILE
    if not path.is_file():
        raise InputError(
            f"{path}: not found; create it with routes = [(\"binance\", \"BTC-USDT\", \"4h\", "
            "\"MyStrategy\")] (or run jbt new)"
        )
    try:
        module = _import_file(f"{_module_prefix(project)}_routes", path, package=False)
    except Exception as exc:  # noqa: BLE001 - any error in the user's file is shown as one line
        line = _error_line(exc, path)
        raise InputError(f"{path}{line}: {type(exc).__name__}: {exc}") from exc
    raw = getattr(module, "routes", None)
    if raw is None:
        raise InputError(f"{path}: defines no 'routes' list")
    if not isinstance(raw, (list, tuple)) or not raw:
        raise InputError(f"{path}: 'routes' must be a non-empty list of "
                         "(exchange, symbol, timeframe, strategy)")
    routes = [_route(path, i, item) for i, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, r in enumerate(routes):
        if r.key in seen:
            raise InputError(
                f"{path}: route {i + 1} ({r.exchange}, {r.symbol}, {r.timeframe}, {r.strategy}) "
                f"duplicates route {seen[r.key] + 1}"
            )
        seen[r.key] = i
    extra_raw = getattr(module, "extra_candles", None) or getattr(module, "data_routes", None) or []
    extra = []
    for i, item in enumerate(extra_raw):
        if isinstance(item, dict):
            item = (item.get("exchange"), item.get("symbol"), item.get("timeframe"))
        if not (isinstance(item, (list, tuple)) and len(item) == 3
                and all(isinstance(x, str) for x in item)):
            raise InputError(
                f"{path}: extra_candles item {i + 1} must be (exchange, symbol, timeframe), "
                f"got {item!r}"
            )
        where = f"extra_candles item {i + 1}"
        tf = _timeframe(path, where, item[2])
        exchange = _exchange(item[0])
        entry = (exchange, _symbol(path, where, exchange, item[1]), tf)
        if entry not in extra:
            extra.append(entry)
    return Routes(routes, extra)


def _route(path: Path, i: int, item: object) -> RouteSpec:
    if isinstance(item, dict):
        item = (item.get("exchange"), item.get("symbol"), item.get("timeframe"),
                item.get("strategy"))
    if not (isinstance(item, (list, tuple)) and len(item) == 4
            and all(isinstance(x, str) and x for x in item)):
        raise InputError(
            f"{path}: route {i + 1} must be (exchange, symbol, timeframe, strategy) strings, "
            f"got {item!r}"
        )
    exchange, symbol, tf, strategy = item
    where = f"route {i + 1}"
    exchange = _exchange(exchange)
    return RouteSpec(exchange, _symbol(path, where, exchange, symbol), _timeframe(path, where, tf),
                     strategy)


def _exchange(name: str) -> str:
    return name.strip().lower()


def _symbol(path: Path, where: str, exchange: str, symbol: str) -> str:
    try:
        return normalize_symbol(symbol)
    except InputError:
        pass
    try:  # again, to suggest the stored symbols (only read when something is wrong)
        return normalize_symbol(symbol, known=_stored_symbols(exchange), label=" (stored)")
    except InputError as exc:
        raise InputError(f"{path}: {where}: {exc}") from None


def _stored_symbols(exchange: str) -> list[str]:
    """The symbols stored for ``exchange`` when a database is open (for "did you mean")."""
    from jbt.models import database_proxy

    if database_proxy.obj is None:
        return []
    from jbt import candles

    try:
        return [s for e, s in candles.stored_symbols() if e == exchange]
    except Exception:  # noqa: BLE001 - only a hint; the error it decorates is the one to show
        return []


def _timeframe(path: Path, where: str, tf: str) -> str:
    try:
        return normalize(tf)
    except InputError as exc:
        raise InputError(f"{path}: {where}: {exc}") from None


def available_strategies(project_dir: Path | str) -> list[str]:
    """Names of the strategies in the project's ``strategies/`` folder."""
    folder = Path(project_dir) / STRATEGIES_DIR
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob("*/__init__.py"))


def load_strategy(project_dir: Path | str, name: str) -> type:
    """Import ``strategies/<name>/__init__.py`` and return its class ``<name>``."""
    from jbt.strategies import Strategy

    project = Path(project_dir)
    path = project / STRATEGIES_DIR / name / "__init__.py"
    if not path.is_file():
        known = available_strategies(project)
        hint = f"; available: {', '.join(known)}" if known else f"; no strategies in {path.parent.parent}"
        raise InputError(f"unknown strategy '{name}': {path} not found{hint}")
    module_name = f"{_module_prefix(project)}_strategy_{name}"
    try:
        module = _import_file(module_name, path, package=True, project=project)
    except Exception as exc:  # noqa: BLE001 - shown with the file and line
        rel = f"{STRATEGIES_DIR}/{name}/__init__.py"
        raise StrategyError(f"{rel}{_error_line(exc, path)}: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise InputError(
            f"{path}: must define class {name}(Strategy) (from jbt.strategies import Strategy)"
        )
    return cls


def load_strategies(project_dir: Path | str, routes: list[RouteSpec]) -> dict[str, type]:
    """The class of every strategy the routes name."""
    out: dict[str, type] = {}
    for r in routes:
        if r.strategy not in out:
            out[r.strategy] = load_strategy(project_dir, r.strategy)
    return out


def _error_line(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" line {exc.lineno}"
    tb = exc.__traceback__
    line = None
    target = str(path.resolve())
    while tb is not None:
        if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" line {line}" if line else ""
