"""Backtests from Python (a notebook, a script): the same code paths as ``jbt backtest``.

::

    from jbt import research

    candles = research.get_candles("coinbase", "BTC-USD", "4h", "2019-01-01", "2019-07-01")
    result = research.backtest([("coinbase", "BTC-USD", "4h", MyStrategy)],
                               start="2019-01-01", end="2019-07-01")
    result.metrics["sharpe"], result.trades, result.to_dict()

* :func:`get_candles` reads the project database (the folder's ``config.toml`` names it, as for
  the command line) and returns bars of any timeframe as a numpy array in jbt's column order
  ``[timestamp, open, close, high, low, volume]``, or as a pandas DataFrame.
* :func:`backtest` runs routes whose strategies are classes (defined anywhere, a notebook cell
  included) or names of ``strategies/`` folders, on candles from the database or on arrays /
  DataFrames you already have. It returns the :class:`~jbt.results.BacktestResult` the CLI
  gets: ``result.to_dict()`` is the document ``jbt backtest --json`` writes.
* :func:`map_backtests` runs the same routes once per symbol (``jbt backtest --symbols``), on
  worker processes with ``jobs=N``, and returns ``{symbol: result}``.
* :func:`prepare` checks and sets up a backtest once (a :class:`~jbt.plan.RunPlan`); its
  :meth:`Prepared.run` then costs only the bar loop, for parameter sweeps.

Dates are ``"2024-01-01"`` / ``"2024-01-01T12:30"`` strings (UTC), epoch milliseconds,
``datetime`` or pandas ``Timestamp`` objects (naive ones are UTC); the end is exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config, load_config
from jbt.constants import CANDLE_COLUMNS, TIMESTAMP
from jbt.errors import CandlesMissingError, InputError
from jbt.plan import RunPlan, check_extra, check_period, check_routes, plan_run
from jbt.results import BacktestResult, RouteSpec
from jbt.strategies.Strategy import Strategy
from jbt.timeframes import TIMEFRAMES, aggregate, normalize, to_ms

#: Names accepted for the time column of a DataFrame (or its index), case-insensitive.
_TIME_NAMES = ("timestamp", "time", "date", "datetime", "open_time")


# --------------------------------------------------------------------------- candles


def get_candles(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: Any = None,
    end: Any = None,
    *,
    project: str | Path | None = None,
    dataframe: bool = False,
):
    """Bars of ``timeframe`` for ``exchange``/``symbol`` opening in ``[start, end)`` from the
    project database (all stored when a bound is None).

    The bars are aggregated from the finest stored timeframe that divides ``timeframe``,
    aligned to UTC; a bar is returned only when all its base candles are stored (missing
    candles are not invented). ``project`` is the project folder (default: the current one).
    Returns a float64 array ``[timestamp, open, close, high, low, volume]`` (timestamps in epoch
    ms), or with ``dataframe=True`` a pandas DataFrame indexed by the bars' open time (UTC)
    with columns ``open, high, low, close, volume``.
    """
    from jbt import candles as store

    tf = normalize(timeframe)
    start_ms, end_ms = _ms(start, "start"), _ms(end, "end")
    check_period(start_ms, end_ms)
    config = _config(project, None)
    with _database(config):
        stored = store.stored_timeframes(exchange, symbol)
        if not stored:
            raise CandlesMissingError(
                f"no candles stored for {exchange} {symbol}; import them with: "
                f"jbt import-candles {exchange} {symbol} START"
            )
        base = next((b for b in stored if to_ms(tf) % to_ms(b) == 0), None)
        if base is None:
            raise InputError(
                f"{exchange} {symbol}: stored timeframes {', '.join(stored)} cannot make {tf}"
            )
        rows = store.load_candles(exchange, symbol, base, start_ms,
                                  None if end_ms is None else end_ms - 1)
    bars = aggregate(rows, base, tf)
    if start_ms is not None:  # a bar opening before start is not in [start, end)
        bars = bars[bars[:, TIMESTAMP] >= start_ms]
    return to_dataframe(bars) if dataframe else bars


def to_candles(data: Any, columns: Sequence[str] | None = None) -> np.ndarray:
    """Candles you already have as jbt's float64 array ``[timestamp, open, close, high, low,
    volume]``, sorted by time.

    ``data`` is a pandas DataFrame or a 2-D array. A DataFrame's columns are found by name
    (case-insensitive: ``open``, ``high``, ``low``, ``close``, ``volume``; any order, other
    columns ignored), its time from a column named timestamp/time/date/datetime/open_time or
    from its index (datetimes, or epoch milliseconds). An array's columns are in jbt's order
    unless ``columns`` names them in the array's order, e.g.
    ``("timestamp", "open", "high", "low", "close", "volume")``.
    """
    if hasattr(data, "columns") and hasattr(data, "index"):
        out = _from_dataframe(data)
    else:
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(f"candles: expected a 2-D array, got {arr.ndim} dimension(s)")
        names = [c.lower() for c in (columns or CANDLE_COLUMNS)]
        missing = [c for c in CANDLE_COLUMNS if c not in names]
        if missing or len(names) != arr.shape[1]:
            raise InputError(
                f"candles: columns {tuple(columns or CANDLE_COLUMNS)} do not describe a "
                f"{arr.shape[1]}-column array with {', '.join(CANDLE_COLUMNS)}"
                + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        out = np.ascontiguousarray(arr[:, [names.index(c) for c in CANDLE_COLUMNS]])
    if len(out) == 0:
        raise InputError("candles: no rows")
    if not np.isfinite(out).all():
        raise InputError("candles: NaN or infinite values; drop or fill those rows first")
    order = np.argsort(out[:, TIMESTAMP], kind="stable")
    return np.ascontiguousarray(out[order])


def to_dataframe(candles: np.ndarray):
    """jbt's candle array as a pandas DataFrame: a UTC DatetimeIndex named ``time`` and the
    columns ``open, high, low, close, volume``."""
    pd = _pandas()

    index = pd.DatetimeIndex(pd.to_datetime(candles[:, TIMESTAMP].astype(np.int64), unit="ms",
                                            utc=True), name="time")
    return pd.DataFrame(
        {name: candles[:, CANDLE_COLUMNS.index(name)]
         for name in ("open", "high", "low", "close", "volume")},
        index=index,
    )


def _from_dataframe(df: Any) -> np.ndarray:
    by_name = {str(c).lower(): c for c in df.columns}
    missing = [c for c in CANDLE_COLUMNS[1:] if c not in by_name]
    if missing:
        raise InputError(
            f"candles: the DataFrame has no column {', '.join(missing)} "
            f"(found: {', '.join(map(str, df.columns))})"
        )
    time_col = next((by_name[n] for n in _TIME_NAMES if n in by_name), None)
    times = df[time_col] if time_col is not None else df.index
    out = np.empty((len(df), 6), dtype=np.float64)
    out[:, TIMESTAMP] = _epoch_ms(times)
    for i, name in enumerate(CANDLE_COLUMNS[1:], start=1):
        out[:, i] = np.asarray(df[by_name[name]], dtype=np.float64)
    return out


def _epoch_ms(values: Any) -> np.ndarray:
    """Datetimes (naive = UTC) or numbers (epoch ms) as float64 epoch milliseconds."""
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind == "M":  # datetime64, with or without a time zone
        pd = _pandas()
        stamps = pd.DatetimeIndex(values)
        if stamps.tz is not None:
            stamps = stamps.tz_convert("UTC").tz_localize(None)
        return stamps.as_unit("ms").asi8.astype(np.float64)
    if kind in ("i", "u", "f"):
        return np.asarray(values, dtype=np.float64)
    try:
        return np.array([_ms(v, "timestamp") for v in values], dtype=np.float64)
    except InputError:
        raise InputError(
            "candles: the time column holds neither datetimes nor epoch milliseconds"
        ) from None


def _pandas():
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is installed with jbt
        raise InputError("DataFrames need pandas: pip install pandas") from None
    return pandas


def _base_timeframe(arr: np.ndarray, given: str | None, key: tuple[str, str]) -> str:
    if given is not None:
        tf = normalize(given)
    else:
        steps = np.diff(arr[:, TIMESTAMP].astype(np.int64))
        steps = steps[steps > 0]
        if len(steps) == 0:
            raise InputError(
                f"candles for {key[0]} {key[1]}: one candle is not enough to tell the timeframe; "
                "pass timeframe="
            )
        values, counts = np.unique(steps, return_counts=True)
        step = int(values[np.argmax(counts)])
        tf = next((name for name, ms in TIMEFRAMES.items() if ms == step), None)
        if tf is None:
            raise InputError(
                f"candles for {key[0]} {key[1]}: the candles are {step} ms apart, not a "
                "timeframe jbt knows; pass timeframe="
            )
    step = to_ms(tf)
    ts = arr[:, TIMESTAMP].astype(np.int64)
    if np.any(ts % step if tf != "1W" else (ts - 4 * 86_400_000) % step):
        raise InputError(
            f"candles for {key[0]} {key[1]}: open times are not aligned to {tf} bars (UTC)"
        )
    if np.any(np.diff(ts) <= 0):
        raise InputError(f"candles for {key[0]} {key[1]}: two candles have the same open time")
    return tf


# -------------------------------------------------------------------------- backtests


@dataclass
class Prepared:
    """A checked and set-up backtest: run it as often as you like."""

    plan: RunPlan
    strategies: dict[str, type]
    #: the project folder (its database is where ``save=True`` writes)
    project: Path
    #: what loading the candles noticed (candles stored after now, left out), for the warnings
    notes: list[str] = field(default_factory=list)

    def run(
        self,
        hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        fast_path: bool = True,
        save: bool = False,
    ) -> BacktestResult:
        """One run with these hyperparameters (``{strategy name: {name: value}}``): what a
        fresh :func:`backtest` gives, at the cost of the bar loop only. ``save=True`` stores
        the session in the project database, like ``jbt backtest``."""
        import time

        from jbt.modes import backtest_mode
        from jbt.strategies.hyperparameters import resolve_all

        hp = resolve_all(self.strategies, (r.strategy for r in self.plan.routes),
                         hyperparameters)
        t0 = time.perf_counter()
        result = backtest_mode.run_planned(self.plan, self.strategies, hyperparameters=hp,
                                           fast_path=fast_path, notes=self.notes)
        result.duration_s = time.perf_counter() - t0
        if save:
            with _database(self.plan.config):
                result.session_id = backtest_mode.save_session(result)
        return result


def prepare(
    routes: Iterable[Any],
    candles: Any = None,
    *,
    start: Any = None,
    end: Any = None,
    config: Config | Mapping[str, Any] | None = None,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    project: str | Path | None = None,
    timeframe: str | None = None,
    columns: Sequence[str] | None = None,
    funding: Mapping[Any, Any] | None = None,
    mark: Mapping[Any, Any] | None = None,
    loaded: Any = None,
) -> Prepared:
    """Check the routes, period and candles of a backtest and set it up once (see
    :func:`backtest` for the arguments). ``loaded``: with ``candles`` None, what
    :func:`jbt.modes.batch_mode.preload` read from the database elsewhere (or raised there),
    used instead of the database."""
    project_dir = Path(project).resolve() if project is not None else Path.cwd().resolve()
    cfg = _config(project_dir, config)
    specs, strategies = _routes(routes, project_dir)
    extra = check_extra(extra_candles)
    start_ms, end_ms = _ms(start, "start"), _ms(end, "end")
    check_period(start_ms, end_ms)
    if candles is None and loaded is not None:
        if isinstance(loaded, BaseException):
            raise loaded
        arrays, base_tf, end_ms, notes = (loaded.candles, loaded.base_tf, loaded.end,
                                          list(loaded.notes))
        funding = loaded.funding if funding is None else funding
        mark = loaded.mark if mark is None else mark
    elif candles is None:
        from jbt.modes import backtest_mode

        with _database(cfg):
            arrays, base_tf, end_ms, notes = backtest_mode.load(cfg, specs, extra, start_ms,
                                                                 end_ms)
            stored_funding, stored_mark, futures_notes = backtest_mode.load_futures(
                cfg, specs, start_ms, end_ms)
        notes.extend(futures_notes)
        funding = stored_funding if funding is None else funding
        mark = stored_mark if mark is None else mark
    else:
        arrays, base_tf = _given_candles(candles, specs, extra, timeframe, columns)
        notes = []
    keys = {(r.exchange, r.symbol) for r in specs}
    funding = _per_symbol(funding, keys, "funding")
    mark = _per_symbol(mark, keys, "mark")
    if mark is not None:
        mark = {k: to_candles(v, columns) for k, v in mark.items()}
    plan = plan_run(cfg, specs, arrays, base_tf, start_ms, end_ms, extra, funding=funding,
                    mark=mark)
    return Prepared(plan, strategies, project_dir, notes)


def backtest(
    routes: Iterable[Any],
    candles: Any = None,
    *,
    start: Any = None,
    end: Any = None,
    config: Config | Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    project: str | Path | None = None,
    timeframe: str | None = None,
    columns: Sequence[str] | None = None,
    fast_path: bool = True,
    save: bool = False,
    funding: Mapping[Any, Any] | Any = None,
    mark: Mapping[Any, Any] | Any = None,
) -> BacktestResult:
    """Run a backtest and return its result, metrics included.

    ``routes``: ``(exchange, symbol, timeframe, strategy)`` tuples (or dicts with those keys,
    or :class:`~jbt.results.RouteSpec`); ``strategy`` is a :class:`~jbt.strategies.Strategy`
    subclass or the name of a folder in the project's ``strategies/``. A class's name is its
    strategy name (in the result and in ``hyperparameters``).

    ``candles``: None reads the project database, as ``jbt backtest`` does. Otherwise
    ``{(exchange, symbol): data}`` for every symbol of the routes and ``extra_candles``, or
    one ``data`` when there is one symbol; ``data`` is a DataFrame or an array as
    :func:`to_candles` reads them (``columns`` declares an array's column order), of one
    timeframe (``timeframe``, default: the most common step between the candles), including the
    history the warm-up should use.

    ``start``/``end``: the period (end exclusive); None is, as on the command line, the first
    time every route has its warm-up / the end of the candles. ``config``: a
    :class:`~jbt.config.Config`, or overrides of the project's ``config.toml`` as
    ``{"backtest": {"fee": 0.0005}}`` (or just ``{"fee": 0.0005}``). ``hyperparameters``:
    ``{strategy name: {name: value}}``, checked like ``jbt backtest --hp``. ``project``: the
    project folder (default: the current one): its ``config.toml``, database and
    ``strategies/``. ``save=True`` saves the session in the project database.

    Futures (``{"type": "futures"}``): ``funding`` is ``{(exchange, symbol): events}`` (or the
    events alone when there is one symbol), each an array of rows ``[time, rate(, interval,
    mark price)]`` or ``(times, rates)``, and ``mark`` mark-price candles the same way (arrays
    or DataFrames as ``candles``). Read from the database when ``candles`` is None and they
    are; with candles given and no ``funding``, no funding is charged.

    ``result.to_dict()`` equals what ``jbt backtest --json`` writes for the same routes, period
    and config (but ``session_id`` and ``duration_s``).
    """
    import time

    t0 = time.perf_counter()
    prepared = prepare(routes, candles, start=start, end=end, config=config,
                       extra_candles=extra_candles, project=project, timeframe=timeframe,
                       columns=columns, funding=funding, mark=mark)
    result = prepared.run(hyperparameters, fast_path=fast_path)
    result.duration_s = time.perf_counter() - t0  # set-up included, as jbt backtest counts it
    if save:
        from jbt.modes import backtest_mode

        with _database(prepared.plan.config):
            result.session_id = backtest_mode.save_session(result)
    return result


def map_backtests(
    routes: Iterable[Any],
    symbols: Iterable[str],
    candles: Mapping[Any, Any] | None = None,
    *,
    start: Any = None,
    end: Any = None,
    config: Config | Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    project: str | Path | None = None,
    timeframe: str | None = None,
    columns: Sequence[str] | None = None,
    fast_path: bool = True,
    save: bool = False,
    jobs: int = 1,
    executor: Any = None,
) -> dict[str, BacktestResult]:
    """The routes backtested once per symbol, every route's symbol replaced by it (what ``jbt
    backtest --symbols`` runs): ``{symbol: result}`` in the order of ``symbols``, each result
    what :func:`backtest` gives for the routes on that symbol.

    The routes must trade one symbol; ``extra_candles`` on it follow each symbol, those on
    other symbols are kept. ``candles``: None reads the project database; otherwise
    ``{symbol: data}`` or ``{(exchange, symbol): data}`` for every symbol (and extra candles).
    ``jobs``: worker processes (1: this process, one symbol after the other); strategy classes
    then must be importable from a module (not defined in a notebook cell). ``executor``: a
    :class:`jbt.parallel.MapExecutor` to run on instead. ``save=True`` saves every session in
    the project database, in the order of ``symbols``. The other arguments are
    :func:`backtest`'s, the same for every symbol.

    A symbol that cannot run (no candles: the message says how to import them) or whose run
    raises does not stop the others; then :class:`jbt.modes.batch_mode.BatchError` is raised
    at the end, one line per such symbol, with the finished runs in its ``results``.
    """
    from jbt.modes import batch_mode

    project_dir = Path(project).resolve() if project is not None else Path.cwd().resolve()
    cfg = _config(project_dir, config)
    routes = list(routes)
    specs, strategies = _routes(routes, project_dir)
    # classes given go to the workers (by reference); names of strategies/ are loaded there
    given = {c.__name__: c for c in (_strategy_of(item) for item in routes)
             if isinstance(c, type)}
    symbols = batch_mode.parse_symbols(
        [symbols] if isinstance(symbols, str) else list(symbols), source="symbols")
    extra = check_extra(extra_candles)
    start_ms, end_ms = _ms(start, "start"), _ms(end, "end")
    check_period(start_ms, end_ms)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    by_key = None
    if candles is not None:
        if not isinstance(candles, Mapping):
            raise InputError("candles: pass {symbol: candles} (or {(exchange, symbol): "
                             "candles}) for every symbol")
        exchanges = {r.exchange for r in specs}
        by_key = {}
        for key, data in candles.items():
            if isinstance(key, tuple):
                by_key[tuple(key)] = data
            else:
                for exchange in exchanges:
                    by_key[(exchange, batch_mode.normalize_symbol(key))] = data
    from jbt.strategies.hyperparameters import resolve_all

    resolve_all(strategies, [r.strategy for r in specs], hyperparameters)
    if jobs > 1 and executor is None:
        stuck = [n for n, c in given.items() if not batch_mode.importable(c)]
        if stuck:
            raise InputError(f"strategy {stuck[0]} is defined where worker processes cannot "
                             "import it (a notebook cell, a function); use jobs=1, or put it "
                             "in a module or in strategies/")
    tasks = batch_mode.tasks_for(
        cfg, project_dir, symbols, specs, extra, start_ms, end_ms,
        hyperparameters=hyperparameters, fast_path=fast_path, strategies=given,
        candles=by_key, timeframe=timeframe, columns=tuple(columns) if columns else None)
    if by_key is not None:
        for task in tasks:
            missing = [k for k in [(r.exchange, r.symbol) for r in task.routes]
                       + [(e, s) for e, s, _ in task.extra] if k not in task.candles]
            if missing:
                raise InputError(f"candles: nothing given for {missing[0][0]} {missing[0][1]}; "
                                 "pass {symbol: candles} for every symbol")

    def saved(outcome: Any) -> None:
        if save and outcome.ok:
            with _database(cfg):
                from jbt.modes import backtest_mode

                outcome.result.session_id = backtest_mode.save_session(outcome.result)

    batch = batch_mode.execute(tasks, jobs=jobs, executor=executor, on_outcome=saved,
                               fn=_backtest_symbol)
    if batch.problems:
        raise batch_mode.BatchError(batch)
    return batch.results


def _backtest_symbol(task: Any) -> Any:
    """Executor task of :func:`map_backtests`: :func:`backtest` of one symbol's routes (a
    :class:`jbt.modes.batch_mode.SymbolTask`), as a ``SymbolOutcome``."""
    import time

    from jbt.modes.batch_mode import SymbolOutcome
    from jbt.strategies.hyperparameters import resolve_all

    began = time.perf_counter()
    out = SymbolOutcome(task.symbol, list(task.routes))
    strategies = task.strategies or {}
    try:
        prepared = prepare(
            [(r.exchange, r.symbol, r.timeframe, strategies.get(r.strategy, r.strategy))
             for r in task.routes],
            task.candles, start=task.start, end=task.end, config=task.config,
            extra_candles=task.extra, project=task.project_dir, timeframe=task.timeframe,
            columns=task.columns, loaded=task.loaded)
        hp = resolve_all(prepared.strategies, (r.strategy for r in prepared.plan.routes),
                         task.hyperparameters)
    except Exception as exc:  # noqa: BLE001 - one symbol's problem; the batch goes on
        out.not_started(exc)
    else:
        result = out.run(prepared.plan, prepared.strategies, hp, prepared.notes,
                         fast_path=task.fast_path)
        if result is not None:  # set-up included, as backtest() counts it
            result.duration_s = time.perf_counter() - began
    out.duration_s = time.perf_counter() - began
    return out


# ------------------------------------------------------------------------------ helpers


def _config(project: str | Path | None, config: Config | Mapping[str, Any] | None) -> Config:
    if isinstance(config, Config):
        return config
    base = load_config(project)
    if not config:
        return base
    overrides = dict(config)
    sections = {"database", "backtest", "exchanges", "server"}
    if not set(overrides) <= sections:
        overrides = {"backtest": overrides}  # {"fee": 0.0005}: backtest keys
    return base.with_overrides(overrides, source="research config")


class _database:
    """The project database bound (as the CLI binds it) for the block, closed after it."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __enter__(self) -> None:
        from jbt.models import open_database

        self.db = open_database(self.config.database_url())

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _routes(routes: Iterable[Any], project: Path) -> tuple[list[RouteSpec], dict[str, type]]:
    specs: list[RouteSpec] = []
    classes: dict[str, type] = {}
    names: list[str] = []
    for i, item in enumerate(routes):
        if isinstance(item, RouteSpec):
            item = (item.exchange, item.symbol, item.timeframe, item.strategy)
        elif isinstance(item, Mapping):
            item = (item.get("exchange"), item.get("symbol"), item.get("timeframe"),
                    item.get("strategy"))
        if not (isinstance(item, (tuple, list)) and len(item) == 4
                and all(isinstance(x, str) and x for x in item[:3])):
            raise InputError(
                f"route {i + 1} must be (exchange, symbol, timeframe, strategy), got {item!r}"
            )
        exchange, symbol, tf, strategy = item
        if isinstance(strategy, type):
            if not issubclass(strategy, Strategy):
                raise InputError(
                    f"route {i + 1}: {strategy.__name__} must inherit jbt.strategies.Strategy"
                )
            name = strategy.__name__
            if classes.get(name, strategy) is not strategy:
                raise InputError(
                    f"route {i + 1}: two different strategy classes are named {name}; rename one"
                )
            classes[name] = strategy
        elif isinstance(strategy, str) and strategy:
            name = strategy
            names.append(name)
        else:
            raise InputError(
                f"route {i + 1}: the strategy must be a Strategy class or a name, "
                f"got {strategy!r}"
            )
        specs.append(RouteSpec(exchange, symbol, tf, name))
    specs = check_routes(specs)
    if names:
        from jbt.routes import load_strategy

        for name in dict.fromkeys(names):
            if name in classes:
                raise InputError(
                    f"strategy {name} is both a class given here and a name of strategies/"
                )
            classes[name] = load_strategy(project, name)
    return specs, classes


def _strategy_of(item: Any) -> Any:
    """The strategy of a route as given (a class or a name)."""
    if isinstance(item, RouteSpec):
        return item.strategy
    if isinstance(item, Mapping):
        return item.get("strategy")
    return item[3] if isinstance(item, (tuple, list)) and len(item) == 4 else None


def _given_candles(
    candles: Any,
    routes: list[RouteSpec],
    extra: list[tuple[str, str, str]],
    timeframe: str | None,
    columns: Sequence[str] | None,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], str]]:
    keys = list(dict.fromkeys([(r.exchange, r.symbol) for r in routes]
                              + [(e, s) for e, s, _ in extra]))
    if isinstance(candles, Mapping):
        given = {tuple(k): v for k, v in candles.items()}
        missing = [k for k in keys if k not in given]
        if missing:
            raise InputError(
                f"candles: nothing given for {missing[0][0]} {missing[0][1]}; pass "
                "{(exchange, symbol): candles} for every symbol of the routes"
            )
    elif len(keys) == 1:
        given = {keys[0]: candles}
    else:
        raise InputError(
            "candles: the routes trade several symbols; pass {(exchange, symbol): candles}"
        )
    arrays = {}
    base_tf = {}
    for key in keys:
        arr = to_candles(given[key], columns)
        base_tf[key] = _base_timeframe(arr, timeframe, key)
        arrays[key] = arr
    return arrays, base_tf


def _per_symbol(value: Any, keys: set[tuple[str, str]], name: str) -> dict | None:
    """``{(exchange, symbol): data}``, or one symbol's data alone when the routes trade one
    symbol; None stays None."""
    if value is None:
        return None
    if isinstance(value, Mapping) and all(isinstance(k, tuple) and len(k) == 2 for k in value):
        out = {tuple(k): v for k, v in value.items()}
        unknown = [k for k in out if k not in keys]
        if unknown:
            raise InputError(f"{name}: {unknown[0][0]} {unknown[0][1]} is not a symbol of the "
                             "routes")
        return out
    if len(keys) == 1:
        return {next(iter(keys)): value}
    raise InputError(f"{name}: the routes trade several symbols; pass "
                     "{(exchange, symbol): data}")


def _ms(value: Any, name: str) -> int | None:
    """A date argument as epoch ms (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name}: expected a date, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        from jbt.dates import parse_date

        return parse_date(value, name=name)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, datetime):  # pandas Timestamps too
        dt = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return int(round(dt.timestamp() * 1000))
    raise InputError(f"{name}: expected a date (\"2024-01-01\", epoch ms or datetime), got "
                     f"{value!r}")


__all__ = ["Prepared", "backtest", "get_candles", "map_backtests", "prepare", "to_candles",
           "to_dataframe"]
