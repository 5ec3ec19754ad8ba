"""``jbt backtest --symbols``: the project's routes run once per symbol, as independent backtests.

Each symbol is one backtest of the routes with every route's symbol replaced by it: the same
run, and the same saved session, as ``jbt backtest`` with ``routes.py`` edited to that symbol.

Routes
    The routes must trade one symbol (on one or several exchanges, timeframes and strategies);
    routes on several symbols are refused, since which of them a batch symbol replaces would be
    a guess. ``extra_candles`` on the routes' symbol follow it (the batch symbol's candles of
    that timeframe); ``extra_candles`` on other symbols are kept as they are, for every symbol
    (a reference market such as BTC-USDT that every strategy reads).

Where the runs happen
    On an executor (:mod:`jbt.parallel`): one task per symbol, a small picklable
    :class:`SymbolTask` given to the module-level :func:`run_symbol`. The worker reads its
    symbol's candles from the project database itself (the loading runs in parallel too, and no
    array crosses processes) and sends the finished result back; this process saves the
    sessions in the order of the symbols as the results arrive, so session ids follow that
    order whatever the number of workers. On a Ray cluster (``--ray``,
    :class:`jbt.optimize.ray_executor.RayMapExecutor`) this process reads each symbol's candles
    instead (:func:`preload`) and the nodes get them through Ray's object store: they need no
    database.

Errors
    What can be checked before any run is (the symbol list, the routes, the strategies, the
    hyperparameters, the dates): an error there writes nothing. Then a symbol whose run cannot
    start (no candles stored: the message has the import command; a gap in them) or fails (a
    strategy raised: saved as a failed session, as ``jbt backtest`` does) does not stop the
    others; its outcome says why.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jbt.config import Config
from jbt.errors import CandlesMissingError, InputError, JbtError
from jbt.results import BacktestResult, RouteSpec
from jbt.symbols import normalize_symbol

SymbolKey = tuple[str, str]

__all__ = ["BatchError", "BatchResult", "SymbolOutcome", "SymbolTask", "for_symbol", "parse_symbols",
           "execute", "importable", "preload", "read_symbols_file", "route_symbol", "run", "run_symbol",
           "tasks_for"]


# ------------------------------------------------------------------------------ the symbols


def parse_symbols(items: Iterable[str], source: str = "--symbols") -> list[str]:
    """The symbols of a batch in jbt's spelling (``btc/usdt`` is ``BTC-USDT``), in the order
    given; an empty list, an empty entry, a bad spelling or a symbol given twice is an
    :class:`InputError` naming ``source``."""
    out: list[str] = []
    seen: dict[str, str] = {}
    for item in items:
        text = str(item).strip()
        if not text:
            raise InputError(f"{source}: an empty symbol name; list symbols as BTC-USDT,ETH-USDT")
        try:
            symbol = normalize_symbol(text)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        if symbol in seen:
            same = "" if seen[symbol] == text else f" ({seen[symbol]} and {text})"
            raise InputError(f"{source}: {symbol} is given twice{same}; list each symbol once")
        seen[symbol] = text
        out.append(symbol)
    if not out:
        raise InputError(f"{source}: no symbol given; list symbols as BTC-USDT,ETH-USDT")
    return out


def read_symbols_file(path: str | Path) -> list[str]:
    """``--symbols-file``: one symbol a line; blank lines and ``#`` comments (whole lines or
    after a symbol) are ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--symbols-file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--symbols-file {path} cannot be read: {exc}") from None
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "," in line or len(line.split()) > 1:
            raise InputError(f"--symbols-file {path} line {n}: one symbol a line, got {line!r}")
        items.append(line)
    if not items:
        raise InputError(f"--symbols-file {path} lists no symbol (one symbol a line, # comments)")
    return parse_symbols(items, source=f"--symbols-file {path}")


# ------------------------------------------------------------------------------- the routes


def route_symbol(routes: Sequence[RouteSpec]) -> str:
    """The one symbol the routes trade (:class:`InputError` when they trade several)."""
    symbols = list(dict.fromkeys(normalize_symbol(r.symbol) for r in routes))
    if len(symbols) != 1:
        raise InputError(
            f"--symbols replaces the symbol of every route, but the routes trade "
            f"{len(symbols)} symbols ({', '.join(symbols)}); keep the routes on one symbol "
            "(extra_candles may name others)"
        )
    return symbols[0]


def for_symbol(routes: Sequence[RouteSpec], extra: Iterable[tuple[str, str, str]],
               symbol: str) -> tuple[list[RouteSpec], list[tuple[str, str, str]]]:
    """The routes (and extra candles) with the routes' symbol replaced by ``symbol``; extra
    candles of other symbols are kept."""
    old = route_symbol(routes)
    new_routes = [RouteSpec(r.exchange, symbol, r.timeframe, r.strategy) for r in routes]
    new_extra = [(e, symbol if normalize_symbol(s) == old else s, tf) for e, s, tf in extra]
    return new_routes, list(dict.fromkeys(new_extra))


# ------------------------------------------------------------------------ one symbol's run


@dataclass(frozen=True)
class SymbolTask:
    """One symbol's backtest, everything a worker needs: small and picklable.

    ``candles`` (:func:`jbt.research.map_backtests` only): None reads them from the project
    database; otherwise ``{(exchange, symbol): data}`` for the run's symbols.
    ``strategies``: classes by name, pickled by reference (so importable from a module);
    None loads them from the project's ``strategies/``.
    """

    symbol: str
    config: Config
    project_dir: str
    routes: tuple[RouteSpec, ...]
    extra: tuple[tuple[str, str, str], ...]
    start: int | None
    end: int | None
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None
    fast_path: bool = True
    strategies: Mapping[str, type] | None = None
    candles: Mapping[SymbolKey, Any] | None = None
    timeframe: str | None = None
    columns: tuple[str, ...] | None = None
    #: what :func:`preload` read from the database (or what it raised): the run then needs
    #: no database (a task on a Ray node)
    loaded: Any = None


@dataclass
class SymbolOutcome:
    """What one symbol's run gave.

    ``status``: ``ok`` (``result`` is set); ``missing`` (no candles for it: ``error`` says how
    to import them); ``error`` (the run could not start: a gap, a bad period...); ``failed``
    (the run raised once started: with saving, a failed session of ``[start, end)`` is kept)."""

    symbol: str
    routes: list[RouteSpec]
    status: str = "ok"
    result: BacktestResult | None = None
    error: str | None = None
    start: int | None = None
    end: int | None = None
    duration_s: float = 0.0
    #: the saved session (a failed one too), when saving
    session_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.result is not None

    def not_started(self, exc: Exception) -> None:
        """The run could not start (its set-up raised ``exc``)."""
        self.status = "missing" if isinstance(exc, CandlesMissingError) else "error"
        self.error = _message(exc)

    def run(self, plan: Any, strategies: Mapping[str, type],
            hyperparameters: Mapping[str, Mapping[str, Any]], notes: list[str], *,
            fast_path: bool) -> BacktestResult | None:
        """The bar loop on ``plan`` (:func:`jbt.modes.backtest_mode.run_planned`): the result,
        or None when it raised (``status`` "failed", the period kept for the failed session)."""
        from jbt.modes import backtest_mode

        self.start, self.end = plan.start, plan.end
        try:
            self.result = backtest_mode.run_planned(plan, strategies,
                                                    hyperparameters=hyperparameters,
                                                    fast_path=fast_path, notes=notes)
        except Exception as exc:  # noqa: BLE001 - saved as a failed session by the caller
            self.status, self.error = "failed", _message(exc)
        return self.result


def _message(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
    return text or type(exc).__name__


def run_symbol(task: SymbolTask) -> SymbolOutcome:
    """Executor task: one symbol's ``jbt backtest`` (candles from the project database), not
    saved (the caller saves it). :func:`jbt.research.map_backtests` maps its own task function
    over the same specs."""
    from jbt.modes import backtest_mode

    began = time.perf_counter()
    out = SymbolOutcome(task.symbol, list(task.routes))
    try:
        setup = backtest_mode.set_up(
            task.config, list(task.routes), task.start, task.end,
            project_dir=task.project_dir, extra_candles=list(task.extra),
            strategies=task.strategies, hyperparameters=task.hyperparameters,
            loaded=task.loaded)
    except Exception as exc:  # noqa: BLE001 - one symbol's problem; the batch goes on
        out.not_started(exc)
    else:
        t_run = time.perf_counter()
        result = out.run(setup.plan, setup.strategies, setup.hyperparameters, setup.notes,
                         fast_path=task.fast_path)
        if result is not None:  # timed as jbt backtest times it: the plan and the run
            result.duration_s = setup.plan_s + time.perf_counter() - t_run
            result.extra["load_s"] = setup.load_s
    out.duration_s = time.perf_counter() - began
    return out


def preload(task: SymbolTask) -> Any:
    """A task's candles (funding, mark prices) read here from the bound database, for a worker
    that has no database (:class:`jbt.modes.backtest_mode.Loaded`), or what reading raised (the
    worker then reports it as its outcome); None when the task brings its own candles."""
    from jbt.modes import backtest_mode

    if task.candles is not None:
        return None
    try:
        return backtest_mode.load_stored(task.config, task.routes, task.extra, task.start,
                                         task.end)
    except Exception as exc:  # noqa: BLE001 - the symbol's outcome says it, the batch goes on
        return exc


# ----------------------------------------------------------------------------- the batch


class BatchError(JbtError):
    """Some symbols of a batch did not run or did not finish (:func:`jbt.research.map_backtests`):
    the message has one line per symbol; ``results`` holds the runs that finished and
    ``outcomes`` every symbol's outcome."""

    def __init__(self, batch: BatchResult) -> None:
        self.batch = batch
        self.results = batch.results
        self.outcomes = batch.outcomes
        lines = [f"{o.symbol}: {o.error}" for o in batch.problems]
        super().__init__(f"{len(lines)} of {len(batch.outcomes)} symbols did not finish:\n"
                         + "\n".join(lines))


@dataclass
class BatchResult:
    """Every symbol's outcome, in the order of the symbols."""

    outcomes: list[SymbolOutcome] = field(default_factory=list)
    duration_s: float = 0.0
    jobs: int = 1

    @property
    def results(self) -> dict[str, BacktestResult]:
        """The finished runs by symbol."""
        return {o.symbol: o.result for o in self.outcomes if o.ok}

    @property
    def problems(self) -> list[SymbolOutcome]:
        """The symbols that did not run or did not finish."""
        return [o for o in self.outcomes if not o.ok]


def tasks_for(
    config: Config,
    project_dir: Path | str,
    symbols: Sequence[str],
    routes: Sequence[RouteSpec],
    extra: Iterable[tuple[str, str, str]],
    start: int | None,
    end: int | None,
    **common: Any,
) -> list[SymbolTask]:
    """One task per symbol (routes substituted and checked); ``common`` are the other
    :class:`SymbolTask` fields."""
    from jbt.plan import check_routes

    extra = list(extra)
    candles = common.pop("candles", None)
    tasks = []
    for symbol in symbols:
        sym_routes, sym_extra = for_symbol(routes, extra, symbol)
        sym_routes = check_routes(sym_routes)
        given = None
        if candles is not None:
            keys = [(r.exchange, r.symbol) for r in sym_routes] + [(e, s) for e, s, _ in
                                                                   sym_extra]
            given = {k: candles[k] for k in dict.fromkeys(keys) if k in candles}
        tasks.append(SymbolTask(symbol, config, str(project_dir), tuple(sym_routes),
                                tuple(sym_extra), start, end, candles=given, **common))
    return tasks


def importable(cls: type) -> bool:
    """Whether a worker process can import ``cls`` by its module and name (not a class
    defined in a notebook cell or inside a function)."""
    module = getattr(cls, "__module__", None)
    if not module or "<locals>" in cls.__qualname__:
        return False
    if module == "__main__":
        import sys

        return getattr(sys.modules.get("__main__"), "__file__", None) is not None
    try:
        found: Any = importlib.import_module(module)
        for part in cls.__qualname__.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return False
    return found is cls


def execute(tasks: Sequence[SymbolTask], *, jobs: int = 1, executor: Any = None,
            on_outcome: Callable[[SymbolOutcome], None] | None = None,
            fn: Callable[[SymbolTask], SymbolOutcome] = run_symbol) -> BatchResult:
    """Run ``fn`` (a module-level function) over the tasks on ``executor`` (default: ``jobs``
    local worker processes, at most one a task); ``on_outcome`` gets each outcome in task order
    as it arrives."""
    from jbt.parallel import local_executor

    executor = executor if executor is not None else local_executor(min(jobs, len(tasks)))
    began = time.perf_counter()
    batch = BatchResult(jobs=executor.jobs)
    interrupted = True
    try:
        for outcome in executor.map(fn, tasks):
            if on_outcome is not None:
                on_outcome(outcome)
            batch.outcomes.append(outcome)
        interrupted = False
    finally:
        executor.close(cancel=interrupted)
    batch.duration_s = time.perf_counter() - began
    return batch


def run(
    config: Config,
    project_dir: Path | str,
    symbols: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    *,
    routes: Sequence[RouteSpec] | None = None,
    extra_candles: Iterable[tuple[str, str, str]] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    save: bool = True,
    fast_path: bool = True,
    jobs: int = 1,
    executor: Any = None,
    on_outcome: Callable[[SymbolOutcome], None] | None = None,
) -> BatchResult:
    """Backtest the routes (``routes.py`` when None; strategies from ``strategies/``) once per
    symbol on ``jobs`` local worker processes (or on ``executor``, a
    :class:`jbt.parallel.MapExecutor`) and save each session (failed runs as failed sessions)
    in the bound database, in the order of ``symbols``.

    Everything checkable without candles is checked first (an :class:`InputError` then, and
    nothing runs or is written); ``on_outcome`` is called with each symbol's outcome, in order,
    once it is saved."""
    from jbt import routes as routes_mod
    from jbt.strategies.hyperparameters import resolve_all

    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    project = Path(project_dir)
    symbols = parse_symbols(symbols)
    if routes is None:
        declared = routes_mod.load_routes(project)
        routes = declared.routes
        if extra_candles is None:
            extra_candles = declared.extra_candles
    strategies = routes_mod.load_strategies(project, list(routes))
    # a bad --hp stops the batch before it starts
    resolve_all(strategies, [r.strategy for r in routes], hyperparameters)
    tasks = tasks_for(config, project, symbols, routes, extra_candles or (), start, end,
                      hyperparameters=hyperparameters, fast_path=fast_path)

    def saved(outcome: SymbolOutcome) -> None:
        if save:
            _save(config, outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    return execute(tasks, jobs=jobs, executor=executor, on_outcome=saved)


def _save(config: Config, outcome: SymbolOutcome) -> None:
    """Save one symbol's session as ``jbt backtest`` would have."""
    from jbt.modes import backtest_mode

    if outcome.ok:
        backtest_mode.save_result(outcome.result)
        outcome.session_id = outcome.result.session_id
    elif outcome.status == "failed" and outcome.start is not None:
        try:
            outcome.session_id = backtest_mode.save_failed(
                config, outcome.routes, outcome.start, outcome.end, outcome.duration_s,
                outcome.error or "failed")
        except Exception as exc:  # noqa: BLE001 - the run's own error is the one to report
            outcome.error = f"{outcome.error} (the failed session could not be saved: {exc})"
