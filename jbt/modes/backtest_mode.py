"""``jbt backtest`` as a function: load candles → run the engine → metrics → save the session.

The CLI command and the HTTP API both call :func:`run` and get a
:class:`~jbt.results.BacktestResult` back; nothing here prints.

Candles
    Per (exchange, symbol) of the routes and ``extra_candles``, the finest stored timeframe that
    divides every timeframe asked of it is the base (1m normally; a coarser stored base, e.g.
    1h imported from a file, serves 1h/4h/1D routes). One query per symbol loads the period plus
    the warm-up before it. Route bars are aggregated from the base aligned to UTC.

Period
    ``[start, end)``: ``end`` is exclusive, so ``2020-01-01 2021-01-01`` is the year 2020.
    Without ``start`` the run starts at the first time every route has its full warm-up
    (``warmup_candles`` bars of its timeframe) stored; without ``end`` it runs to the end of the
    data stored for all symbols. With an explicit ``start`` the warm-up is what is stored
    before it, up to ``warmup_candles`` bars; fewer is allowed and reported as a warning. A
    period reaching beyond the stored candles is cut to them.

Missing candles
    Base candles missing inside the period are refused (``missing_candles = "refuse"``, the
    default) with the exact ``jbt import-candles`` command that fetches them, or filled
    (``"fill"``) by carrying the previous close forward as a flat candle of volume 0; the
    number of filled candles is reported in ``result.extra["filled_candles"]``.

Routes, period and missing candles are checked by :func:`jbt.plan.plan_run` (the engine's set-up),
the one place for those checks; this module loads the candles and saves the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import DAY_MS
from jbt.dates import now_ms
from jbt.errors import CandlesMissingError, InputError
from jbt.plan import (
    RunPlan,
    candles_end_message,
    check_extra,
    check_period,
    check_routes,
    import_command,
    plan_run,
)
from jbt.results import BacktestResult, RouteSpec
from jbt.symbols import normalize_symbol
from jbt.timeframes import normalize, to_ms

__all__ = ["SetUp", "import_command", "load", "load_futures", "no_candles_message", "run",
           "run_planned", "save_failed", "save_result", "save_session", "set_up"]


def run(
    config: Config,
    routes: Sequence[RouteSpec] | None = None,
    start: int | None = None,
    end: int | None = None,
    *,
    project_dir: Path | str | None = None,
    extra_candles: Iterable[tuple[str, str, str]] | None = None,
    save: bool = True,
    fast_path: bool = True,
    strategies: Mapping[str, type] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> BacktestResult:
    """Run a backtest of the project's routes (``routes.py`` when ``routes`` is None).

    ``start``/``end`` are epoch ms (``end`` exclusive). ``strategies`` maps names to classes
    (default: imported from the project's ``strategies/`` folder). With ``save`` the session,
    its orders, fills and closed trades are written to the database and ``session_id`` is set;
    when the database refuses (a full disk, a read-only file) the result is returned all the
    same, with ``session_id`` None and the reason in ``result.extra["save_error"]``.
    The database is the one bound by :func:`jbt.models.open_database` (opened from the config
    when none is). ``hyperparameters[strategy name]`` overrides what a strategy declares
    (values converted to the declared type and checked against min/max before anything runs, an
    :class:`InputError` otherwise); the values used are in ``result.config["hyperparameters"]``.
    Routes, period and missing candles are checked by :func:`jbt.plan.plan_run`.
    """
    setup = set_up(config, routes, start, end, project_dir=project_dir,
                   extra_candles=extra_candles, strategies=strategies,
                   hyperparameters=hyperparameters)
    plan = setup.plan
    t_run = time.perf_counter()
    try:
        result = run_planned(plan, setup.strategies, hyperparameters=setup.hyperparameters,
                             fast_path=fast_path, notes=setup.notes)
    except Exception as exc:
        if save:
            _save_failed(config, list(plan.routes), plan.start, plan.end,
                         setup.plan_s + time.perf_counter() - t_run, exc)
        raise
    result.duration_s = setup.plan_s + time.perf_counter() - t_run
    result.extra["load_s"] = setup.load_s
    if save:
        save_result(result)
    return result


@dataclass
class SetUp:
    """A checked, loaded and planned backtest (:func:`set_up`), ready for :func:`run_planned`."""

    plan: RunPlan
    strategies: Mapping[str, type]
    #: the values every strategy of the routes uses (declared defaults and overrides)
    hyperparameters: dict[str, dict[str, Any]]
    #: what loading the candles noticed, for the run's warnings
    notes: list[str]
    #: seconds spent loading the candles / making the plan
    load_s: float
    plan_s: float


@dataclass
class Loaded:
    """What :func:`set_up` reads from the database for a run (:func:`load_stored`): given to
    :func:`set_up` as ``loaded``, the run needs no database (a Ray node, say)."""

    candles: dict[tuple[str, str], np.ndarray]
    base_tf: dict[tuple[str, str], str]
    end: int | None
    notes: list[str]
    funding: dict[tuple[str, str], np.ndarray] | None
    mark: dict[tuple[str, str], np.ndarray] | None
    load_s: float


def load_stored(config: Config, routes: Sequence[RouteSpec],
                extra: Iterable[tuple[str, str, str]], start: int | None,
                end: int | None) -> Loaded:
    """The candles (and funding, mark prices) of a run from the bound database, as
    :func:`set_up` loads them; raises as :func:`set_up` would (no candles stored, ...)."""
    from jbt.models import database_proxy, open_database

    routes = check_routes([RouteSpec(r.exchange.strip().lower(), normalize_symbol(r.symbol),
                                     normalize(r.timeframe), r.strategy) for r in routes])
    extra = check_extra([(e.strip().lower(), normalize_symbol(s), normalize(tf))
                         for e, s, tf in extra])
    check_period(start, end)
    if database_proxy.obj is None:
        open_database(config.database_url())
    t_load = time.perf_counter()
    candles, base_tf, end, notes = load(config, routes, extra, start, end)
    funding, mark, futures_notes = load_futures(config, routes, start, end)
    notes.extend(futures_notes)
    return Loaded(candles, base_tf, end, notes, funding, mark, time.perf_counter() - t_load)


def set_up(
    config: Config,
    routes: Sequence[RouteSpec] | None = None,
    start: int | None = None,
    end: int | None = None,
    *,
    project_dir: Path | str | None = None,
    extra_candles: Iterable[tuple[str, str, str]] | None = None,
    strategies: Mapping[str, type] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    loaded: Loaded | BaseException | None = None,
) -> SetUp:
    """What :func:`run` does before the bar loop (same arguments): check the routes, period and
    hyperparameters, load the candles, make the plan. Errors here save nothing.

    ``loaded``: the candles :func:`load_stored` read elsewhere (or what it raised there), used
    instead of the database."""
    from jbt import routes as routes_mod

    project = Path(project_dir) if project_dir is not None else config.project_dir
    if routes is None:
        declared = routes_mod.load_routes(project)
        routes = declared.routes
        if extra_candles is None:
            extra_candles = declared.extra_candles
    routes = [RouteSpec(r.exchange.strip().lower(), normalize_symbol(r.symbol),
                        normalize(r.timeframe), r.strategy) for r in routes]
    extra = [(e.strip().lower(), normalize_symbol(s), normalize(tf))
             for e, s, tf in (extra_candles or ())]
    routes = check_routes(routes)
    extra = check_extra(extra)
    check_period(start, end)
    if strategies is None:
        strategies = routes_mod.load_strategies(project, routes)
    else:
        missing = [r.strategy for r in routes if r.strategy not in strategies]
        if missing:
            raise InputError(f"unknown strategy '{missing[0]}'")
    from jbt.strategies.hyperparameters import resolve_all

    # checked and converted before any candle is loaded; the engine records the values used
    hyperparameters = resolve_all(strategies, (r.strategy for r in routes), hyperparameters)

    if isinstance(loaded, BaseException):
        raise loaded
    if loaded is None:
        loaded = load_stored(config, routes, extra, start, end)
    candles, base_tf, end, notes = loaded.candles, loaded.base_tf, loaded.end, list(loaded.notes)
    funding, mark, load_s = loaded.funding, loaded.mark, loaded.load_s

    t_plan = time.perf_counter()
    plan = plan_run(config, routes, candles, base_tf, start, end, extra, funding=funding,
                    mark=mark)
    return SetUp(plan, strategies, hyperparameters, notes, load_s, time.perf_counter() - t_plan)


def save_result(result: BacktestResult) -> None:
    """Save a finished run as :func:`run` does: ``result.session_id`` is set, or, when the
    database refuses (a full disk, a read-only file), ``result.extra["save_error"]`` says why
    and the result is kept all the same."""
    import peewee as pw

    from jbt.sessions import SessionSaveError

    try:
        result.session_id = save_session(result)
    except (SessionSaveError, pw.DatabaseError, pw.InterfaceError) as exc:
        # the finished result is still returned (and printed, exported): never lost
        from jbt.dberrors import database_error_message

        fallback = str(exc) if isinstance(exc, SessionSaveError) else (
            f"{type(exc).__name__}: {exc}")
        result.extra["save_error"] = database_error_message(exc) or fallback


def run_planned(
    plan: RunPlan,
    strategies: Mapping[str, type],
    *,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    fast_path: bool = True,
    notes: Iterable[str] = (),
) -> BacktestResult:
    """The run proper, once the plan is made: the engine, the warnings (the engine's, then
    ``notes`` from loading, then the hyperparameter defaults' and the warm-up's), what the
    strategies logged and drew, the metrics. What :func:`run` and :func:`jbt.research.backtest`
    return (before saving)."""
    from jbt.engine import run_plan
    from jbt.metrics import compute_metrics
    from jbt.strategies.hyperparameters import default_warnings

    result = run_plan(plan, strategies, hyperparameters=hyperparameters, fast_path=fast_path)
    result.extra["base_timeframes"] = {f"{e}:{s}": tf for (e, s), tf in plan.base_tf.items()}
    result.extra["filled_candles"] = dict(plan.filled)
    warnings = result.extra.setdefault("warnings", [])
    warnings.extend(notes)
    for name, count in plan.mark_filled.items():
        warnings.append(f"{name.replace(':', ' ')}: {count:,} base candles without a mark-price "
                        "candle; their trade prices were used for the liquidation checks")
    warnings.extend(default_warnings(strategies, [r.strategy for r in plan.routes]))
    want = plan.config.backtest.warmup_candles
    for key, got in result.extra.get("warmup_bars", {}).items():
        if got < want:
            warnings.append(f"route {key}: {got} warm-up bars stored before the start, "
                            f"{want} configured")
    first = plan.route_plans[0].symbol
    result.metrics = compute_metrics(
        result.equity_time, result.equity, result.trades, result.starting_balance,
        result.start, result.end, benchmark_candles=first.base,
    )
    return result


def load(
    config: Config,
    routes: list[RouteSpec],
    extra: list[tuple[str, str, str]],
    start: int | None,
    end: int | None,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], str], int | None, list[str]]:
    """The base candles of every symbol of the routes and extra candles, from the database:
    ``(candles, base timeframes, end, warnings)``, the period plus the warm-up before it (all
    stored history when ``start`` is None). :func:`jbt.plan.plan_run` then checks the period
    and the gaps.

    Work is bounded by what is stored, never by what was asked: rows are read up to END and
    never past now (a stored candle from the future is left out, with a warning), an END after
    now is cut to now (the ``end`` returned), an END after the last stored candle is refused
    before anything is read, and missing candles are counted from the stored timestamps, so an
    END of 9999-12-31 costs no more than the stored data.
    """
    from jbt import candles as store

    warm = config.backtest.warmup_candles
    now = now_ms()
    if start is not None and start >= now:
        raise InputError(f"START {_human(start)} UTC is in the future; give a START before now")
    wanted: dict[tuple[str, str], set[str]] = {}
    for r in routes:
        wanted.setdefault((r.exchange, r.symbol), set()).add(r.timeframe)
    for e, s, tf in extra:
        wanted.setdefault((e, s), set()).add(tf)

    candles: dict[tuple[str, str], np.ndarray] = {}
    base_tf: dict[tuple[str, str], str] = {}
    warnings: list[str] = []
    warm_ms: dict[tuple[str, str], int] = {}
    for (e, s), tfs in wanted.items():
        warm_ms[(e, s)] = warm * max(map(to_ms, tfs))
        stored = store.stored_timeframes(e, s)
        if not stored:
            raise CandlesMissingError(no_candles_message(
                e, s, start, end, warm_ms[(e, s)], store.stored_symbols(), now=now))
        base = next((b for b in stored if all(to_ms(tf) % to_ms(b) == 0 for tf in tfs)), None)
        if base is None:
            raise CandlesMissingError(
                f"{e} {s}: stored timeframes {', '.join(stored)} cannot make "
                f"{', '.join(sorted(tfs, key=to_ms))}; import 1m candles: "
                f"{import_command(e, s, _since(start, warm_ms[(e, s)], now), end, now=now)}"
            )
        base_tf[(e, s)] = base
        if end is not None:  # END past the stored candles: said before anything is read
            step = to_ms(base)
            last_stored = store.last_timestamp(e, s, base, before=now)
            if last_stored is not None and min(end, now // step * step) > last_stored + step:
                raise CandlesMissingError(candles_end_message(
                    e, s, base, last_stored, start, end, warm_ms[(e, s)], now))
        lo = None
        if start is not None:
            lo = start - warm_ms[(e, s)] - to_ms("1W")
        hi = now if end is None else min(end, now)
        candles[(e, s)] = store.load_candles(e, s, base, lo, hi - 1)
        future = store.count_candles(e, s, base, now, None)
        if future:
            many = future > 1
            warnings.append(
                f"{e} {s}: {future:,} stored {base} candle{'s open' if many else ' opens'} after "
                f"now (no exchange has {'them' if many else 'it'}); left out of the run"
            )
        if len(candles[(e, s)]) == 0:
            since = _since(start, warm_ms[(e, s)], now)
            raise CandlesMissingError(
                f"no {base} candles stored for {e} {s} in the period; fetch them with: "
                f"{import_command(e, s, since, end, now=now)}"
            )
    if end is not None and end > now:
        # no candle opens after now: the period stops at the last closed base bar
        coarsest = max(to_ms(tf) for tf in base_tf.values())
        end = now // coarsest * coarsest
    return candles, base_tf, end, warnings


def load_futures(
    config: Config, routes: list[RouteSpec], start: int | None, end: int | None,
) -> tuple[dict[tuple[str, str], np.ndarray] | None, dict[tuple[str, str], np.ndarray] | None,
           list[str]]:
    """A futures run's funding events and mark-price candles from the database, per symbol
    of the routes: ``(funding, mark, warnings)`` for :func:`jbt.plan.plan_run` (None, None
    and no warning for spot).

    Funding (unless ``backtest.funding = "ignore"``): the stored events from 9 hours before
    the period to 9 hours after it (the plan checks that they cover it and names the import
    command when they do not), for every symbol of a perpetual market (``binance-futures``)
    and any other symbol with funding stored; a symbol of an exchange without perpetual
    contracts and without stored funding pays none, with a warning. Mark-price candles (1m,
    stored by ``--mark``) are used where stored.
    """
    from jbt import funding as store
    from jbt.exchanges import FIRST_CLASS

    bt = config.backtest
    if bt.type != "futures":
        return None, None, []
    margin = 9 * 3_600_000
    lo = None if start is None else start - margin
    hi = None if end is None else end + margin
    funding: dict[tuple[str, str], np.ndarray] = {}
    mark: dict[tuple[str, str], np.ndarray] = {}
    notes: list[str] = []
    for key in dict.fromkeys((r.exchange, r.symbol) for r in routes):
        e, s = key
        if bt.funding != "ignore":
            events = store.load_funding(e, s, lo, hi)
            if len(events) or FIRST_CLASS.get(e, ("", ""))[1] == "linear":
                funding[key] = events
            else:
                notes.append(
                    f"{e} {s}: no funding charged ({e} has no perpetual contracts jbt imports "
                    "funding for; futures funding history comes from binance-futures)")
        candles = store.load_mark_candles(e, s, start, None if end is None else end - 1)
        if len(candles):
            mark[key] = candles
    return funding, mark or None, notes


def _since(start: int | None, warm_ms: int, now: int) -> int:
    """Where a suggested import starts: the warm-up before START, or, without START, a year
    back (more when the warm-up is longer)."""
    if start is not None:
        return start - warm_ms
    return (now - max(365 * DAY_MS, warm_ms + 30 * DAY_MS)) // DAY_MS * DAY_MS


def no_candles_message(exchange: str, symbol: str, start: int | None, end: int | None,
                       warm_ms: int, stored: Iterable[tuple[str, str]], *,
                       now: int | None = None) -> str:
    """No candle of ``exchange symbol`` is stored: "did you mean" against the ``stored``
    (exchange, symbol) pairs, and the import command that fetches the period and its warm-up."""
    from jbt.symbols import did_you_mean

    now = now_ms() if now is None else now
    stored = list(stored)
    cmd = import_command(exchange, symbol, _since(start, warm_ms, now), end, now=now)
    what = f"no candles stored for {exchange} {symbol}"
    hint = did_you_mean(symbol, [s for e, s in stored if e == exchange], label=" (stored)")
    if hint:
        return f"{what}{hint} Otherwise fetch them with: {cmd}"
    elsewhere = sorted({e for e, s in stored if s == symbol})
    if elsewhere:
        what += f" (stored for {', '.join(elsewhere)})"
    return f"{what}; fetch them with: {cmd}"


def _save_failed(
    config: Config, routes: list[RouteSpec], start: int, end: int, duration_s: float,
    exc: Exception,
) -> None:
    """Keep a run that raised once its candles were loaded as a session with status "failed"
    and the error. Input errors found before (routes, dates, missing candles) save nothing."""
    try:
        save_failed(config, routes, start, end, duration_s, str(exc) or type(exc).__name__)
    except Exception as db_exc:  # noqa: BLE001 - the run's own error is the one to report
        exc.add_note(f"the failed session could not be saved: {db_exc}")


def save_failed(config: Config, routes: list[RouteSpec], start: int, end: int,
                duration_s: float, error: str) -> int:
    """Save a failed session (status "failed", ``error``) of a run of ``[start, end)`` that
    raised after its plan was made; returns its id."""
    from jbt.models import BacktestSession, database_proxy

    with database_proxy.obj.atomic():
        return BacktestSession.create(
            created_at=int(time.time() * 1000),
            status="failed",
            duration_s=duration_s,
            start=start,
            end=end,
            routes=json.dumps([asdict(r) for r in routes]),
            config=json.dumps(config.snapshot()),
            starting_balance=config.backtest.starting_balance,
            error=error,
        ).id


def save_session(result: BacktestResult) -> int:
    """Write the session with its orders, fills and closed trades; return the session id
    (:func:`jbt.sessions.save_session`: one short transaction, retried while the database is
    locked)."""
    from jbt.sessions import save_session as save

    return save(result)


def _human(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
