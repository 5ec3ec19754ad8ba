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
import peewee as pw

from jbt.config import Config
from jbt.constants import CLOSE, DAY_MS, HIGH, LOW, MINUTE_MS, OPEN, TIMESTAMP, VOLUME
from jbt.dates import now_ms
from jbt.errors import CandlesMissingError, InputError
from jbt.results import BacktestResult, RouteSpec
from jbt.symbols import normalize_symbol
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
    its orders, fills and closed trades are written to the database and ``session_id`` is set;
    when the database refuses (a full disk, a read-only file) the result is returned all the
    same, with ``session_id`` None and the reason in ``result.extra["save_error"]``.
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
    routes = [RouteSpec(r.exchange.strip().lower(), normalize_symbol(r.symbol),
                        normalize(r.timeframe), r.strategy) for r in routes]
    extra = [(e.strip().lower(), normalize_symbol(s), normalize(tf))
             for e, s, tf in (extra_candles or ())]
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
        from jbt.sessions import SessionSaveError

        try:
            result.session_id = save_session(result)
        except (SessionSaveError, pw.DatabaseError, pw.InterfaceError) as exc:
            # the finished result is still returned (and printed, exported): never lost
            from jbt.dberrors import database_error_message

            fallback = str(exc) if isinstance(exc, SessionSaveError) else (
                f"{type(exc).__name__}: {exc}")
            result.extra["save_error"] = database_error_message(exc) or fallback
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
    warnings.extend(loaded.warnings)
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
        self.warnings: list[str] = []
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
    """Load the candles of the period and its warm-up, and fix the period.

    Work is bounded by what is stored, never by what was asked: rows are read up to END and
    never past now (a stored candle from the future is left out, with a warning), an END after
    now is cut to now, and missing candles are counted from the stored timestamps, so an END of
    9999-12-31 costs no more than the stored data.
    """
    from jbt import candles as store

    bt = config.backtest
    warm = bt.warmup_candles
    now = now_ms()
    if start is not None and start >= now:
        raise InputError(f"START {_human(start)} UTC is in the future; give a START before now")
    wanted: dict[tuple[str, str], set[str]] = {}
    for r in routes:
        wanted.setdefault((r.exchange, r.symbol), set()).add(r.timeframe)
    for e, s, tf in extra:
        wanted.setdefault((e, s), set()).add(tf)

    out = _Loaded()
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
        out.base_tf[(e, s)] = base
        if end is not None:  # END past the stored candles: said before anything is read
            step = to_ms(base)
            last_stored = store.last_timestamp(e, s, base, before=now)
            if last_stored is not None and min(end, now // step * step) > last_stored + step:
                raise CandlesMissingError(_after_stored_message(
                    e, s, base, last_stored, start, end, warm_ms[(e, s)], now))
        lo = None
        if start is not None:
            lo = start - warm_ms[(e, s)] - to_ms("1W")
        hi = now if end is None else min(end, now)
        out.candles[(e, s)] = store.load_candles(e, s, base, lo, hi - 1)
        future = store.count_candles(e, s, base, now, None)
        if future:
            many = future > 1
            out.warnings.append(
                f"{e} {s}: {future:,} stored {base} candle{'s open' if many else ' opens'} after "
                f"now (no exchange has {'them' if many else 'it'}); left out of the run"
            )
        if len(out.candles[(e, s)]) == 0:
            since = _since(start, warm_ms[(e, s)], now)
            raise CandlesMissingError(
                f"no {base} candles stored for {e} {s} in the period; fetch them with: "
                f"{import_command(e, s, since, end, now=now)}"
            )

    # the period: [start, end)
    if start is None:
        start = 0
        for r in routes:
            arr = out.candles[(r.exchange, r.symbol)]
            tf_ms = to_ms(r.timeframe)
            first_bar = int(bar_open(int(arr[0, TIMESTAMP]) + tf_ms - 1, r.timeframe))
            start = max(start, first_bar + warm * tf_ms)
    asked_end = end
    if end is None:
        end = min(int(a[-1, TIMESTAMP]) + to_ms(out.base_tf[k]) for k, a in out.candles.items())
    elif end > now:  # no candle opens after now: the period stops at the last closed base bar
        coarsest = max(to_ms(tf) for tf in out.base_tf.values())
        end = now // coarsest * coarsest
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
        a, b = _missing_bounds(inside, first, step, expected)
        last_stored = int(ts[-1])
        if b > last_stored and asked_end is not None:
            # the period runs past the stored data: filling cannot help, importing can
            raise CandlesMissingError(_after_stored_message(
                e, s, tf, last_stored, start, asked_end, warm_ms[key], now))
        missing = expected - len(inside)
        if bt.missing_candles == "fill" and lo > 0:
            out.candles[key] = _fill(arr, ts, first, end, step)
            out.filled[f"{e}:{s}"] = int(missing)
            continue
        since = a
        if a == first and start is not None:  # the start itself: its warm-up is wanted too
            since = min(a, start - warm_ms[key])
        raise CandlesMissingError(
            f"{e} {s}: {missing} {tf} candles missing between {_human(a)} and "
            f"{_human(b + step)} UTC; fetch them with: "
            f"{import_command(e, s, since, b + step, now=now)} "
            f"(or set missing_candles = \"fill\" in config.toml)"
        )
    out.start, out.end = int(start), int(end)
    return out


def _after_stored_message(exchange: str, symbol: str, tf: str, last_stored: int,
                          start: int | None, end: int, warm_ms: int, now: int) -> str:
    """END is after the last stored candle: say so, and how to fetch what the period and its
    warm-up need (not everything since the last stored candle)."""
    since = last_stored + to_ms(tf)
    if start is not None:
        since = max(since, start - warm_ms)
    return (
        f"{exchange} {symbol}: the stored {tf} candles end at {_human(last_stored)} UTC, before "
        f"END {_human(end)} UTC; leave END out to stop there, or fetch the rest with: "
        f"{import_command(exchange, symbol, since, end, now=now)}"
    )


def _missing_bounds(inside: np.ndarray, first: int, step: int, expected: int) -> tuple[int, int]:
    """First and last open time missing from the grid ``first + step * k`` (``k < expected``),
    given the sorted grid times present, ``inside``. Nothing the size of the grid is built."""
    n = len(inside)
    k = np.arange(n, dtype=np.int64)
    head = np.flatnonzero(inside != first + step * k)
    a = first + step * (int(head[0]) if len(head) else n)
    last = first + step * (expected - 1)
    slots = last - step * (n - 1 - k)  # where each one would be if none after it were missing
    tail = np.flatnonzero(inside != slots)
    b = int(slots[tail[-1]]) if len(tail) else last - step * n
    return int(a), int(b)


def _since(start: int | None, warm_ms: int, now: int) -> int:
    """Where a suggested import starts: the warm-up before START, or, without START, a year
    back (more when the warm-up is longer)."""
    if start is not None:
        return start - warm_ms
    return (now - max(365 * DAY_MS, warm_ms + 30 * DAY_MS)) // DAY_MS * DAY_MS


def import_command(exchange: str, symbol: str, since: int, end: int | None = None, *,
                   now: int | None = None) -> str:
    """A ``jbt import-candles`` command that would run: dates before now, END after START and
    left out when it is now or later (the import's default)."""
    now = now_ms() if now is None else now
    since = min(since, now - MINUTE_MS) // MINUTE_MS * MINUTE_MS
    cmd = f"jbt import-candles {exchange} {symbol} {_cmd_date(since)}"
    if end is not None and end < now:
        end = max(-(-end // MINUTE_MS) * MINUTE_MS, since + MINUTE_MS)
        cmd += f" --end {_cmd_date(end)}"
    return cmd


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
    """Write the session with its orders, fills and closed trades; return the session id
    (:func:`jbt.sessions.save_session`: one short transaction, retried while the database is
    locked)."""
    from jbt.sessions import save_session as save

    return save(result)


def _cmd_date(ms: int) -> str:
    """A date as the import command takes it (no spaces)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == 0 else dt.strftime("%Y-%m-%dT%H:%M")


def _human(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
