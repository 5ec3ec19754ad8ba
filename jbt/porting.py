"""``jbt port``: bring a Jesse strategy, a folder of them, or a whole Jesse project into a jbt
project by rewriting only the import lines.

What it does, and nothing else:

* every ``.py`` file copied gets its ``import jesse...`` / ``from jesse... import`` lines
  rewritten to ``jbt`` (only those lines; the code is left as it is);
* strategies go to ``strategies/<Name>/`` (the whole folder, other files included);
* a project's helper packages and modules next to ``strategies/`` (``custom_indicators/``,
  ``vars.py``, ...) are copied to the project root, where jbt's loader finds them;
* Jesse's ``routes.py`` (``routes`` and ``extra_candles`` / ``data_routes``, as tuples or
  dicts, exchange names or ``exchanges.X``) becomes jbt's, with Jesse's exchange names turned
  into the names jbt imports candles under; a ``config.toml`` is written with
  ``type = "futures"`` when the routes trade futures (and ``funding = "ignore"``: Jesse's
  backtests charge no funding, jbt's do once the history is imported) and
  ``forming_candles = true`` when a strategy reads ``self.get_candles()`` (Jesse's longer
  timeframes end with the forming bar);
* nothing is ever overwritten: a file that exists with other content is reported and left;
  the same content is "unchanged", so a second run changes nothing.

After copying, each rewritten import is checked: a name jbt does not have is reported with
what to use instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from jbt.errors import InputError

#: Jesse's exchange names (and its enum attributes) -> the exchange names jbt uses.
EXCHANGES = {
    "Binance": "binance", "Binance Spot": "binance",
    "Binance Futures": "binance-futures", "Binance Perpetual Futures": "binance-futures",
    "Testnet Binance Futures": "binance-futures",
    "Binance Perpetual Futures Testnet": "binance-futures",
    "Binance US Spot": "binanceus", "Coinbase": "coinbase", "Coinbase Spot": "coinbase",
    "Bitfinex": "bitfinex", "Bitfinex Spot": "bitfinex", "Bybit Spot": "bybit",
    "Bybit USDT Perpetual": "bybit", "Bybit USDC Perpetual": "bybit",
    "Bybit USDT Perpetual Testnet": "bybit", "Bybit USDC Perpetual Testnet": "bybit",
    "Bybit Spot Testnet": "bybit", "Bitget Spot": "bitget", "Bitget USDT Perpetual": "bitget",
    "Bitget USDT Perpetual Testnet": "bitget", "Gate Spot": "gate",
    "Gate USDT Perpetual": "gate", "KuCoin Spot": "kucoin", "KuCoin USDT Perpetual": "kucoin",
    "Kraken Pro Spot": "kraken", "Kraken Pro Futures": "krakenfutures",
    "Hyperliquid Perpetual": "hyperliquid", "Dydx Perpetual": "dydx",
    "Apex Omni Perpetual": "apex", "FTX Spot": "ftx", "FTX Perpetual Futures": "ftx",
}
_ENUMS = {
    "BINANCE": "Binance", "BINANCE_SPOT": "Binance Spot", "BINANCE_FUTURES": "Binance Futures",
    "BINANCE_PERPETUAL_FUTURES": "Binance Perpetual Futures", "BINANCE_US_SPOT": "Binance US Spot",
    "TESTNET_BINANCE_FUTURES": "Testnet Binance Futures", "COINBASE": "Coinbase",
    "COINBASE_SPOT": "Coinbase Spot", "BITFINEX": "Bitfinex", "BITFINEX_SPOT": "Bitfinex Spot",
    "BYBIT_SPOT": "Bybit Spot", "BYBIT_USDT_PERPETUAL": "Bybit USDT Perpetual",
    "BYBIT_USDC_PERPETUAL": "Bybit USDC Perpetual", "BITGET_SPOT": "Bitget Spot",
    "BITGET_USDT_PERPETUAL": "Bitget USDT Perpetual", "GATE_SPOT": "Gate Spot",
    "GATE_USDT_PERPETUAL": "Gate USDT Perpetual", "KUCOIN_SPOT": "KuCoin Spot",
    "KUCOIN_USDT_PERPETUAL": "KuCoin USDT Perpetual", "KRAKEN_SPOT": "Kraken Pro Spot",
    "KRAKEN_PERPETUAL": "Kraken Pro Futures", "HYPERLIQUID_PERPETUAL": "Hyperliquid Perpetual",
    "DYDX_PERPETUAL": "Dydx Perpetual", "APEX_OMNI_PERPETUAL": "Apex Omni Perpetual",
}
_FUTURES_WORDS = ("futures", "perpetual")
#: Jesse modules with no jbt counterpart, and what to do instead.
_NO_MODULE = {
    "jesse.enums": "write the values as strings ('buy', 'sell', 'long', 'short', '4h', ...)",
    "jesse.store": "the strategy's own state (self.position, self.orders, self.shared_vars)",
    "jesse.models": "self.position, self.orders and self.trades",
    "jesse.config": "config.toml (read by the engine)",
    "jesse.routes": "jbt.services.selectors.get_all_trading_routes()",
    "jesse.research": "jbt's engine (jbt.engine.run_backtest) or the CLI",
}
_SKIP_DIRS = {"strategies", "storage", "__pycache__", "node_modules", "venv", ".venv", "env",
              ".git", ".idea", ".vscode"}
_JESSE_MODULE = re.compile(r"\bjesse(?=\.|\s|,|;|\)|$)")


@dataclass
class PortReport:
    """What ``port`` did: one line per file, plus the problems it saw."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: files that exist with other content and were left alone
    conflicts: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------ imports


def rewrite_imports(text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """``text`` with its jesse import statements pointing at jbt, and the rewritten lines as
    ``(line number, old, new)``. Only import statements change."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise InputError(f"line {exc.lineno}: not valid Python ({exc.msg})") from None
    lines = text.splitlines(keepends=True)
    changed: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            hit = any(a.name == "jesse" or a.name.startswith("jesse.") for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            hit = node.level == 0 and node.module is not None and (
                node.module == "jesse" or node.module.startswith("jesse."))
        else:
            continue
        if not hit:
            continue
        for i in range(node.lineno - 1, node.end_lineno):
            old = lines[i]
            new = _rewrite_line(old, isinstance(node, ast.ImportFrom))
            if new != old:
                lines[i] = new
                changed.append((i + 1, old.rstrip("\n"), new.rstrip("\n")))
    return "".join(lines), changed


def _rewrite_line(line: str, is_from: bool) -> str:
    code, hash_, comment = line.partition("#")
    if is_from:
        # only the module between "from" and "import"
        m = re.match(r"(\s*from\s+)(jesse)(\b[^\s]*)(\s+import\b.*)", code, re.DOTALL)
        if m:
            code = f"{m.group(1)}jbt{m.group(3)}{m.group(4)}"
        return code + hash_ + comment
    return _JESSE_MODULE.sub("jbt", code) + hash_ + comment


def check_imports(text: str) -> list[tuple[int, str]]:
    """Problems with the jbt imports of ``text``: (line, message) for a module or a name jbt
    does not have."""
    problems = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jbt" and not _module_exists(alias.name):
                    problems.append((node.lineno, _missing_module(alias.name)))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module.split(".")[0] == "jbt"):
            if not _module_exists(node.module):
                problems.append((node.lineno, _missing_module(node.module)))
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name == "*":
                    continue
                try:
                    getattr(module, alias.name)
                except ImportError as exc:
                    problems.append((node.lineno, str(exc)))
                except AttributeError:
                    if not _module_exists(f"{node.module}.{alias.name}"):
                        problems.append((node.lineno, f"{node.module} has no {alias.name!r} "
                                                      "(Jesse's name is not in jbt)"))
    return problems


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _missing_module(name: str) -> str:
    jesse_name = "jesse" + name[3:]
    for prefix, hint in _NO_MODULE.items():
        if jesse_name == prefix or jesse_name.startswith(prefix + "."):
            return f"{jesse_name} has no jbt counterpart; use {hint}"
    return f"jbt has no module {name} (from {jesse_name})"


# ------------------------------------------------------------------------------ routes


def convert_routes(path: Path) -> tuple[str, list[tuple], list[tuple], list[str], bool]:
    """Jesse's routes.py -> (jbt routes.py text, routes, extra candles, notes, whether the
    routes trade futures)."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise InputError(f"{path} line {exc.lineno}: not valid Python ({exc.msg})") from None
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name) and node.targets[0].id in (
                "routes", "extra_candles", "data_routes"):
            found[node.targets[0].id] = node.value
    if "routes" not in found:
        raise InputError(f"{path}: no 'routes = [...]' found")
    notes: list[str] = []
    renamed: dict[str, str] = {}
    routes = [_route(path, item, 4, renamed) for item in _items(path, found["routes"])]
    extra_node = found.get("extra_candles") or found.get("data_routes")
    extra = [_route(path, item, 3, renamed) for item in _items(path, extra_node)] if (
        extra_node is not None) else []
    for jesse_name, ours in renamed.items():
        if jesse_name != ours:
            notes.append(f"exchange {jesse_name!r} -> {ours!r}")
    out = [
        "# Converted from Jesse's routes.py by `jbt port`. Exchanges are the names jbt imports",
        "# candles under (jbt import-candles EXCHANGE SYMBOL START).",
        "#   (exchange, symbol, timeframe, strategy)",
        "routes = [",
        *(f"    {r!r}," for r in routes),
        "]",
        "",
        "# Candles the strategies read with self.get_candles(...) (Jesse's data_routes).",
        "extra_candles = [",
        *(f"    {e!r}," for e in extra),
        "]",
        "",
    ]
    futures = any(w in j.lower() for j in renamed for w in _FUTURES_WORDS)
    return "\n".join(out), routes, extra, notes, futures


def _items(path: Path, node: ast.expr) -> list[ast.expr]:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise InputError(f"{path} line {node.lineno}: the routes must be a literal list; write "
                         "them into routes.py by hand")
    return list(node.elts)


def _value(path: Path, node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
            node.attr in _ENUMS):
        return _ENUMS[node.attr]
    raise InputError(f"{path} line {node.lineno}: cannot read {ast.unparse(node)!r}; write that "
                     "route into routes.py by hand")


def _route(path: Path, node: ast.expr, size: int, renamed: dict[str, str]) -> tuple:
    if isinstance(node, ast.Dict):
        keys = [_value(path, k) for k in node.keys]
        d = dict(zip(keys, (_value(path, v) for v in node.values), strict=True))
        order = ("exchange", "symbol", "timeframe", "strategy")[:size]
        missing = [k for k in order if k not in d]
        if missing:
            raise InputError(f"{path} line {node.lineno}: route without {', '.join(missing)}")
        values = [d[k] for k in order]
    elif isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) >= size:
        values = [_value(path, v) for v in node.elts[:size]]
    else:
        raise InputError(f"{path} line {node.lineno}: a route must be (exchange, symbol, "
                         "timeframe[, strategy]) or a dict")
    jesse_exchange = values[0]
    ours = EXCHANGES.get(jesse_exchange, jesse_exchange.lower().replace(" ", "-"))
    renamed[jesse_exchange] = ours
    values[0] = ours
    return tuple(values)


# ------------------------------------------------------------------------------ the command


def port(source: Path | str, target: Path | str) -> PortReport:
    """Port ``source`` (a Jesse project, a strategy folder, or a folder of strategy folders)
    into the jbt project folder ``target``."""
    src = Path(source).resolve()
    dst = Path(target).resolve()
    if not src.exists():
        raise InputError(f"{src}: not found; give a Jesse project, a strategy folder or a folder "
                         "of strategy folders")
    if src == dst:
        raise InputError(f"{src} is the jbt project itself; run jbt port from (or with --project "
                         "set to) another folder")
    report = PortReport()
    kind, strategies, helpers = _inventory(src)
    if not strategies:
        raise InputError(f"{src}: no strategy found (a folder with __init__.py defining a "
                         "Strategy class)")
    for folder in strategies:
        _copy_tree(folder, dst / "strategies" / folder.name, dst, report)
    for helper in helpers:
        if helper.is_dir():
            _copy_tree(helper, dst / helper.name, dst, report)
        else:
            _copy_file(helper, dst / helper.name, dst, report)
    routes_file = src / "routes.py"
    reading = _reading_candles(strategies)
    if kind == "project" and routes_file.is_file():
        text, routes, extra, notes, futures = convert_routes(routes_file)
        note = f" ({'; '.join(notes)})" if notes else ""
        if not _write(dst / "routes.py", text, dst, report,
                      f"{len(routes)} route(s), {len(extra)} extra candle(s){note}"):
            if dst / "routes.py" not in report.unchanged:
                report.conflicts[-1] += "; the converted routes are:\n" + text.rstrip()
        settings, why = [], []
        if futures:
            settings += ['type = "futures"', "leverage = 1",
                         "# Jesse charges no funding in its backtests, so neither does this port.",
                         "# To charge it, import the history (jbt import-candles binance-futures",
                         "# SYMBOL START --funding) and remove this line.",
                         'funding = "ignore"']
            why.append('type = "futures" (the routes trade futures)')
        if reading:
            settings.append("forming_candles = true")
            why.append(f"forming_candles = true ({reading[0]} reads self.get_candles(), whose "
                       "longer timeframes end with the bar still forming in Jesse)")
        if settings:
            _write(dst / "config.toml",
                   "# Written by `jbt port`: what the Jesse project needs to run as in Jesse.\n"
                   "[backtest]\n" + "\n".join(settings) + "\n",
                   dst, report, "; ".join(why))
    elif reading:
        report.warnings.append(
            f"{reading[0]} reads self.get_candles(): in Jesse a longer timeframe's candles end "
            "with the bar still forming; set forming_candles = true in config.toml for the same")
    return report


def _reading_candles(folders: list[Path]) -> list[str]:
    """The strategies (folder names) whose code calls ``get_candles(``."""
    return [folder.name for folder in folders
            if any("get_candles(" in f.read_text(encoding="utf-8", errors="replace")
                   for f in sorted(folder.rglob("*.py")))]


def _inventory(src: Path) -> tuple[str, list[Path], list[Path]]:
    """(kind, strategy folders, helper packages/modules) of what is being ported."""
    if src.is_file():
        raise InputError(f"{src}: give a folder (a strategy folder holds __init__.py)")
    if (src / "__init__.py").is_file():
        return "strategy", [src], []
    if (src / "strategies").is_dir():
        strategies = sorted(p for p in (src / "strategies").iterdir()
                            if p.is_dir() and (p / "__init__.py").is_file())
        helpers = sorted(
            p for p in src.iterdir()
            if (p.is_dir() and p.name not in _SKIP_DIRS and not p.name.startswith(".")
                and (p / "__init__.py").is_file())
            or (p.is_file() and p.suffix == ".py" and p.name not in ("routes.py", "setup.py")))
        return "project", strategies, helpers
    strategies = sorted(p for p in src.iterdir()
                        if p.is_dir() and p.name not in _SKIP_DIRS and (p / "__init__.py").is_file()
                        and "Strategy" in (p / "__init__.py").read_text(encoding="utf-8",
                                                                        errors="replace"))
    return "collection", strategies, []


def _copy_tree(src: Path, dst: Path, root: Path, report: PortReport) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        _copy_file(path, dst / path.relative_to(src), root, report)


def _copy_file(src: Path, dst: Path, root: Path, report: PortReport) -> None:
    if src.suffix != ".py":
        data = src.read_bytes()
        if dst.exists():
            if dst.read_bytes() == data:
                report.unchanged.append(dst)
            else:
                report.conflicts.append(f"{dst.relative_to(root)}: exists with other content; "
                                        "not overwritten")
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        report.written.append(dst)
        return
    text = src.read_text(encoding="utf-8")
    try:
        new, changed = rewrite_imports(text)
    except InputError as exc:
        raise InputError(f"{src}: {exc}") from None
    what = (f"{len(changed)} import line(s) rewritten" if changed else "copied (no jesse imports)")
    if _write(dst, new, root, report, what):
        for lineno, old, line in changed:
            report.lines.append(f"    line {lineno}: {old.strip()}  ->  {line.strip()}")
    rel = dst.relative_to(root)
    for lineno, message in check_imports(new):
        report.warnings.append(f"{rel} line {lineno}: {message}")
    if re.search(r"\bjesse\.", "\n".join(line for line in new.splitlines()
                                         if not line.lstrip().startswith(("#", "import ",
                                                                         "from ")))):
        report.warnings.append(f"{rel}: the code refers to `jesse.` outside the imports; "
                               "change those references to jbt by hand")


def _write(dst: Path, text: str, root: Path, report: PortReport, what: str) -> bool:
    rel = dst.relative_to(root)
    if dst.exists():
        if dst.read_text(encoding="utf-8") == text:
            report.unchanged.append(dst)
        else:
            report.conflicts.append(f"{rel}: exists with other content; not overwritten")
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text, encoding="utf-8")
    report.written.append(dst)
    report.lines.append(f"{rel}: {what}")
    return True


__all__ = ["EXCHANGES", "PortReport", "check_imports", "convert_routes", "port",
           "rewrite_imports"]
