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
    before it, up to ``warmup_candles`` bars; fewer is allowed and reported as a warning.

Missing candles
    Base candles missing inside the period are refused (``missing_candles = "refuse"``, the
    default) with the exact ``jbt import-candles`` command that fetches them, or filled
    (``"fill"``) by carrying the previous close forward as a flat candle of volume 0; the
    number of filled candles is reported in ``result.extra["filled_candles"]``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP, VOLUME
from jbt.errors import CandlesMissingError, InputError
from jbt.results import BacktestResult, RouteSpec
from jbt.timeframes import bar_open, normalize, to_ms


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
    its orders, fills and closed trades are written to the database and ``session_id`` is set.
    The database is the one bound by :func:`jbt.models.open_database` (opened from the config
    when none is). ``hyperparameters[strategy name]`` overrides what a strategy declares
    (values converted to the declared type and checked against min/max before anything runs, an
    :class:`InputError` otherwise); the values used are in ``result.config["hyperparameters"]``.
    """
    from jbt import routes as routes_mod
    from jbt.models import database_proxy, open_database

    project = Path(project_dir) if project_dir is not None else config.project_dir
    if routes is None:
        declared = routes_mod.load_routes(project)
        routes = declared.routes
        if extra_candles is None:
            extra_candles = declared.extra_candles
    routes = [RouteSpec(r.exchange, r.symbol, normalize(r.timeframe), r.strategy) for r in routes]
    extra = [(e, s, normalize(tf)) for e, s, tf in (extra_candles or ())]
    if not routes:
        raise InputError("no routes to backtest")
    if strategies is None:
        strategies = routes_mod.load_strategies(project, routes)
    else:
        missing = [r.strategy for r in routes if r.strategy not in strategies]
        if missing:
            raise InputError(f"unknown strategy '{missing[0]}'")
    if start is not None and end is not None and end <= start:
        raise InputError("END must be after START")
    from jbt.strategies.hyperparameters import resolve_all

    # checked and converted before any candle is loaded; the engine records the values used
    hyperparameters = resolve_all(strategies, (r.strategy for r in routes), hyperparameters)

    if database_proxy.obj is None:
        open_database(config.database_url())
    t_load = time.perf_counter()
    loaded = _load(config, routes, extra, start, end)
    load_s = time.perf_counter() - t_load

    t_run = time.perf_counter()
    try:
        result = _run_and_measure(
            config, routes, loaded, strategies, extra, fast_path, hyperparameters
        )
    except Exception as exc:
        if save:
            _save_failed(config, routes, loaded, time.perf_counter() - t_run, exc)
        raise
    result.extra["load_s"] = load_s
    if save:
        result.session_id = save_session(result)
    return result


def _run_and_measure(
    config: Config,
    routes: list[RouteSpec],
    loaded: _Loaded,
    strategies: Mapping[str, type],
    extra: list[tuple[str, str, str]],
    fast_path: bool,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None,
) -> BacktestResult:
    """The run proper, once the candles are loaded: engine, warnings, metrics."""
    from jbt.engine import run_backtest
    from jbt.strategies import output

    with output.collect() as drawn:
        result = run_backtest(
            config,
            routes,
            loaded.candles,
            loaded.base_tf,
            strategies,
            loaded.start,
            loaded.end,
            extra_candles=extra,
            fast_path=fast_path,
            hyperparameters=hyperparameters,
        )
    output.attach(result, drawn)
    result.extra["base_timeframes"] = {f"{e}:{s}": tf for (e, s), tf in loaded.base_tf.items()}
    result.extra["filled_candles"] = loaded.filled
    warnings = result.extra.setdefault("warnings", [])
    from jbt.strategies.hyperparameters import default_warnings

    warnings.extend(default_warnings(strategies, [r.strategy for r in routes]))
    want = config.backtest.warmup_candles
    for key, got in result.extra.get("warmup_bars", {}).items():
        if got < want:
            warnings.append(f"route {key}: {got} warm-up bars stored before the start, "
                            f"{want} configured")

    from jbt.metrics import compute_metrics

    first = routes[0]
    bench = loaded.candles[(first.exchange, first.symbol)]
    result.metrics = compute_metrics(
        result.equity_time, result.equity, result.trades, result.starting_balance,
        result.start, result.end, benchmark_candles=bench,
    )
    return result


class _Loaded:
    def __init__(self) -> None:
        self.candles: dict[tuple[str, str], np.ndarray] = {}
        self.base_tf: dict[tuple[str, str], str] = {}
        self.filled: dict[str, int] = {}
        self.start = 0
        self.end = 0


def _load(
    config: Config,
    routes: list[RouteSpec],
    extra: list[tuple[str, str, str]],
    start: int | None,
    end: int | None,
) -> _Loaded:
    from jbt import candles as store

    bt = config.backtest
    warm = bt.warmup_candles
    wanted: dict[tuple[str, str], set[str]] = {}
    for r in routes:
        wanted.setdefault((r.exchange, r.symbol), set()).add(r.timeframe)
    for e, s, tf in extra:
        wanted.setdefault((e, s), set()).add(tf)

    out = _Loaded()
    for (e, s), tfs in wanted.items():
        stored = store.stored_timeframes(e, s)
        if not stored:
            since = _cmd_date(start - warm * max(map(to_ms, tfs))) if start is not None else (
                "START"
            )
            raise CandlesMissingError(
                f"no candles stored for {e} {s}; fetch them with: "
                f"jbt import-candles {e} {s} {since}"
            )
        base = next((b for b in stored if all(to_ms(tf) % to_ms(b) == 0 for tf in tfs)), None)
        if base is None:
            raise CandlesMissingError(
                f"{e} {s}: stored timeframes {', '.join(stored)} cannot make "
                f"{', '.join(sorted(tfs, key=to_ms))}; import 1m candles: "
                f"jbt import-candles {e} {s} START"
            )
        out.base_tf[(e, s)] = base
        lo = None
        if start is not None:
            lo = start - warm * max(to_ms(tf) for tf in tfs) - to_ms("1W")
        out.candles[(e, s)] = store.load_candles(e, s, base, lo, None if end is None else end - 1)
        if len(out.candles[(e, s)]) == 0:
            raise CandlesMissingError(
                f"no {base} candles stored for {e} {s} in the period; fetch them with: "
                f"jbt import-candles {e} {s} {_cmd_date(start) if start is not None else 'START'}"
            )

    # the period: [start, end)
    if start is None:
        start = 0
        for r in routes:
            arr = out.candles[(r.exchange, r.symbol)]
            tf_ms = to_ms(r.timeframe)
            first_bar = int(bar_open(int(arr[0, TIMESTAMP]) + tf_ms - 1, r.timeframe))
            start = max(start, first_bar + warm * tf_ms)
    if end is None:
        end = min(int(a[-1, TIMESTAMP]) + to_ms(out.base_tf[k]) for k, a in out.candles.items())
    if end <= start:
        raise CandlesMissingError(
            "not enough candles stored for the warm-up and at least one bar "
            f"(warmup_candles = {warm}); import more history or lower warmup_candles"
        )

    for key, arr in out.candles.items():
        e, s = key
        tf = out.base_tf[key]
        step = to_ms(tf)
        first = -(-start // step) * step
        ts = arr[:, TIMESTAMP].astype(np.int64)
        lo, hi = np.searchsorted(ts, [first, end])
        inside = ts[lo:hi]
        expected = max(0, -(-(end - first) // step))
        if len(inside) == expected:
            continue
        grid = first + step * np.arange(expected, dtype=np.int64)
        missing = np.setdiff1d(grid, inside)
        if bt.missing_candles == "fill" and lo > 0:
            out.candles[key] = _fill(arr, ts, first, end, step)
            out.filled[f"{e}:{s}"] = int(len(missing))
            continue
        a, b = int(missing[0]), int(missing[-1]) + step
        raise CandlesMissingError(
            f"{e} {s}: {len(missing)} {tf} candles missing between {_human(a)} and "
            f"{_human(b)} UTC; fetch them with: jbt import-candles {e} {s} {_cmd_date(a)} "
            f"--end {_cmd_date(b)} (or set missing_candles = \"fill\" in config.toml)"
        )
    out.start, out.end = int(start), int(end)
    return out


def _fill(arr: np.ndarray, ts: np.ndarray, first: int, end: int, step: int) -> np.ndarray:
    """Every base time in [first, end) present: a missing candle repeats the previous close
    as a flat candle with volume 0."""
    before = arr[ts < first]
    grid = first + step * np.arange(-(-(end - first) // step), dtype=np.int64)
    idx = np.searchsorted(ts, grid, side="right") - 1  # the last stored candle at or before
    out = np.empty((len(grid), 6), dtype=np.float64)
    present = ts[idx] == grid
    out[present] = arr[idx[present]]
    prev_close = arr[idx[~present], CLOSE]
    # a run of missing candles copies the close of the last stored one before it
    out[~present, TIMESTAMP] = grid[~present]
    for col in (OPEN, CLOSE, HIGH, LOW):
        out[~present, col] = prev_close
    out[~present, VOLUME] = 0.0
    after = arr[ts >= end]
    return np.concatenate([before, out, after])


def _save_failed(
    config: Config, routes: list[RouteSpec], loaded: _Loaded, duration_s: float, exc: Exception
) -> None:
    """Keep a run that raised once its candles were loaded as a session with status "failed"
    and the error. Input errors found before (routes, dates, missing candles) save nothing."""
    from jbt.models import BacktestSession, database_proxy

    try:
        with database_proxy.obj.atomic():
            BacktestSession.create(
                created_at=int(time.time() * 1000),
                status="failed",
                duration_s=duration_s,
                start=loaded.start,
                end=loaded.end,
                routes=json.dumps([asdict(r) for r in routes]),
                config=json.dumps(config.snapshot()),
                starting_balance=config.backtest.starting_balance,
                error=str(exc) or type(exc).__name__,
            )
    except Exception as db_exc:  # noqa: BLE001 - the run's own error is the one to report
        exc.add_note(f"the failed session could not be saved: {db_exc}")


def save_session(result: BacktestResult) -> int:
    """Write the session with its orders, fills and closed trades; return the session id.

    The order and trade tables keep 12 decimal places; the exact floats (balances, trades,
    orders, fills) also go into one ``SessionData`` JSON row, so a saved session reads back
    equal to the result (see :mod:`jbt.sessions`).
    """
    from jbt.models import (
        BacktestSession,
        ClosedTrade,
        Order,
        SessionData,
        Trade,
        database_proxy,
    )

    db = database_proxy.obj
    now = int(time.time() * 1000)
    with db.atomic():
        session = BacktestSession.create(
            created_at=now,
            status="finished",
            duration_s=result.duration_s,
            start=result.start,
            end=result.end,
            routes=json.dumps([asdict(r) for r in result.routes]),
            config=json.dumps(result.config),
            metrics=json.dumps(result.metrics),
            equity=json.dumps([[t, e] for t, e in zip(result.equity_time, result.equity, strict=True)]),
            starting_balance=result.starting_balance,
            finishing_balance=result.finishing_balance,
        )
        sid = session.id
        order_rows = [
            {
                "session": sid, "order_id": o.id, "route": o.route, "exchange": o.exchange,
                "symbol": o.symbol, "side": o.side, "type": o.type, "role": o.role, "qty": o.qty,
                "price": o.price, "status": o.status, "created_at": o.created_at,
                "filled_at": o.filled_at, "fill_price": o.fill_price, "fee": o.fee,
                "reduce_only": o.reduce_only,
            }
            for o in result.orders
        ]
        fill_rows = [
            {"session": sid, "order_id": f.order_id, "route": f.route, "side": f.side,
             "qty": f.qty, "price": f.price, "fee": f.fee, "timestamp": f.time}
            for f in result.fills
        ]
        trade_rows = [
            {
                "session": sid, "trade_id": t.id, "route": t.route, "exchange": t.exchange,
                "symbol": t.symbol, "timeframe": t.timeframe, "strategy": t.strategy,
                "side": t.side, "qty": t.qty, "entry_time": t.entry_time,
                "entry_price": t.entry_price, "exit_time": t.exit_time,
                "exit_price": t.exit_price, "pnl": t.pnl, "fee": t.fee,
                "closed_by": t.closed_by, "leverage": t.leverage,
            }
            for t in result.trades
        ]
        for model, rows in ((Order, order_rows), (Trade, fill_rows), (ClosedTrade, trade_rows)):
            for i in range(0, len(rows), 500):
                model.insert_many(rows[i: i + 500]).execute()
        exact = {
            "starting_balance": float(result.starting_balance),
            "finishing_balance": float(result.finishing_balance),
            "trades": [asdict(t) for t in result.trades],
            "orders": [asdict(o) for o in result.orders],
            "fills": [asdict(f) for f in result.fills],
            "warnings": list(result.extra.get("warnings", [])),
            "base_timeframes": dict(result.extra.get("base_timeframes", {})),
            **{k: result.extra[k] for k in ("logs", "charts") if result.extra.get(k)},
        }
        SessionData.create(session=sid, data=json.dumps(exact, allow_nan=False))
    return sid


def _cmd_date(ms: int) -> str:
    """A date as the import command takes it (no spaces)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == 0 else dt.strftime("%Y-%m-%dT%H:%M")


def _human(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
