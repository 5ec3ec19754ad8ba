"""The backtest engine: a pure function from candle arrays, routes and strategy classes to a result.

:func:`run_backtest` touches no database, file or terminal, keeps every piece of state in objects
it creates (a :class:`~jbt.store.Store`, a :class:`~jbt.exchanges.sandbox.Sandbox`, one strategy
instance per route), and can run in several threads at once.

Timeline
    The period is ``[start_ms, end_ms)`` (``end_ms`` exclusive), cut to the candles given. A
    route's bars are its symbol's base candles aggregated to the route's timeframe, aligned to
    UTC. The clock steps through every time at which some route has a bar closing, in order; at
    such a time ``t`` it

    1. fills the pending orders the open of the candle at ``t`` has already passed (a gap);
    2. calls the strategy of every route with a bar closing at ``t`` (route order), with
       ``self.candles`` = its bars closed by ``t`` (warm-up included) and ``self.price`` = the
       open at ``t``; market orders fill at that open;
    3. simulates ``[t, next clock time)`` against the base candles (see the sandbox for the price
       path and the fill rules), every symbol's candles in time order against the shared
       balance. A base candle is simulated in the step in which it closes: with a stored base
       coarser than the clock (1h candles next to a 5m route on another symbol), its fills
       (stamped with its open time) reach the shared balance only once it has closed.

    A route is first called once at least one of its bars has closed and ``t >= start``. Warm-up
    bars (``warmup_candles`` of each route's timeframe before its first call) are history only.
    Positions still open at the end are closed at the last close (taker fee, no slippage,
    ``closed_by = "end-of-run"``), then every strategy's ``terminate()`` runs.

Fast path
    With ``fast_path=True`` step 3 (and 1) look at a symbol's candles only when the interval's
    high/low reaches a pending order or a liquidation price; ``fast_path=False`` walks every base
    candle of every symbol. Both give the same orders, fills and trades; only the time differs.

Equity
    One point per bar of the shortest route timeframe: ``(close time of the bar, balance marked
    to market at that close)``; the last point is the finishing balance, after the end-of-run
    close.

Look-ahead
    Each route's candle array is built once per run, owned by the run and read-only; strategies
    read prefixes of it (``full[:k+1]``), registered with the indicators' run cache so indicator
    calls are computed once per run. Nothing after ``t`` is reachable from strategy code.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time as _time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP
from jbt.errors import CandlesMissingError, InputError, Interrupted, JbtError, StrategyError
from jbt.exchanges.sandbox import Listener, Sandbox
from jbt.results import BacktestResult, FillRecord, OrderRecord, RouteSpec
from jbt.store import INF, RouteState, Store, SymbolBook
from jbt.strategies.hyperparameters import resolve as resolve_hyperparameters
from jbt.strategies.Strategy import Strategy
from jbt.timeframes import aggregate, bar_open, normalize, to_ms

SymbolKey = tuple[str, str]


def run_backtest(
    config: Config,
    routes: Sequence[RouteSpec],
    candles: Mapping[SymbolKey, np.ndarray],
    base_tf: str | Mapping[SymbolKey, str],
    strategies: Mapping[str, type],
    start_ms: int,
    end_ms: int,
    *,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    fast_path: bool = True,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> BacktestResult:
    """Run one backtest over in-memory candles and return its result.

    ``candles[(exchange, symbol)]`` is that symbol's base candles (``base_tf``, one name or one
    per symbol), sorted, in jbt's column order; they must be complete inside the period (the
    mode fills or refuses gaps before calling). ``strategies`` maps each route's strategy name
    to its class. ``hyperparameters[strategy name]`` overrides the defaults the strategy
    declares (converted to the declared type and checked against min/max, see
    :mod:`jbt.strategies.hyperparameters`); the values used are in
    ``result.config["hyperparameters"]``. Strategy exceptions become a :class:`StrategyError`
    naming the file, line and bar time.
    """
    t0 = _time.perf_counter()
    run = _Run(config, list(routes), candles, base_tf, strategies, int(start_ms), int(end_ms),
               list(extra_candles), fast_path, hyperparameters or {})
    with _indicator_cache(run.full_arrays()):
        run.execute()
    result = run.result()
    result.duration_s = _time.perf_counter() - t0
    return result


def _indicator_cache(arrays: list[np.ndarray]):
    try:
        from jbt.indicators import run_cache
    except ImportError:  # the indicators package is optional for the engine
        return contextlib.nullcontext()
    return run_cache(*arrays)


class _SymbolData:
    """One symbol's base candles inside the period, and per-clock-step lookups into them."""

    def __init__(self, key: SymbolKey, index: int, base: np.ndarray, tf: str) -> None:
        self.key = key
        self.index = index
        self.base = base
        self.tf = tf
        self.ms = to_ms(tf)
        self.sim: np.ndarray = base[:0]
        self.s0 = 0
        self.book: SymbolBook | None = None


class _Run(Listener):
    def __init__(
        self,
        config: Config,
        routes: list[RouteSpec],
        candles: Mapping[SymbolKey, np.ndarray],
        base_tf: str | Mapping[SymbolKey, str],
        strategies: Mapping[str, type],
        start_ms: int,
        end_ms: int,
        extra: list[tuple[str, str, str]],
        fast_path: bool,
        hyperparameters: Mapping[str, Mapping[str, Any]],
    ) -> None:
        if not routes:
            raise InputError("no routes: add at least one route to routes.py")
        if end_ms <= start_ms:
            raise InputError("the backtest period is empty: the end must be after the start")
        self.config = config
        bt = config.backtest
        self.bt = bt
        self.fast_path = fast_path
        self.routes_spec = [
            RouteSpec(r.exchange, r.symbol, normalize(r.timeframe), r.strategy) for r in routes
        ]
        seen = set()
        for r in self.routes_spec:
            if r.key in seen:
                raise InputError(f"duplicated route {r.key}")
            seen.add(r.key)
        self.extra = [(e, s, normalize(tf)) for e, s, tf in extra]

        # ---- symbols and the simulated period
        self.symbols: dict[SymbolKey, _SymbolData] = {}
        for e, s, _tf in [(r.exchange, r.symbol, r.timeframe) for r in self.routes_spec] + list(
            self.extra
        ):
            key = (e, s)
            if key in self.symbols:
                continue
            if key not in candles:
                raise CandlesMissingError(f"no candles given for {e} {s}")
            tf = normalize(base_tf if isinstance(base_tf, str) else base_tf[key])
            arr = np.asarray(candles[key], dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 6 or len(arr) == 0:
                raise CandlesMissingError(f"no candles for {e} {s}")
            self.symbols[key] = _SymbolData(key, len(self.symbols), arr, tf)
        first = max(int(d.base[0, TIMESTAMP]) for d in self.symbols.values())
        last_end = min(int(d.base[-1, TIMESTAMP]) + d.ms for d in self.symbols.values())
        self.start = max(start_ms, first)
        self.end = min(end_ms, last_end)
        if self.end <= self.start:
            raise CandlesMissingError("no candles inside the backtest period")
        for d in self.symbols.values():
            d.s0 = -(-self.start // d.ms) * d.ms
            ts = d.base[:, TIMESTAMP]
            lo, hi = np.searchsorted(ts, [d.s0, self.end], side="left")
            d.sim = d.base[lo:hi]
            expected = max(0, -(-(self.end - d.s0) // d.ms))
            if len(d.sim) != expected:
                want = d.s0 + d.ms * np.arange(expected)
                have = d.sim[:, TIMESTAMP].astype(np.int64)
                missing = np.setdiff1d(want, have)
                first_gap = int(missing[0]) if len(missing) else int(want[-1])
                raise CandlesMissingError(
                    f"{d.key[0]} {d.key[1]}: {len(missing)} {d.tf} candles missing inside the "
                    f"backtest period, the first at {_fmt(first_gap)}"
                )

        # ---- the run's objects
        self.store = Store(bt.starting_balance, bt.is_futures)
        for d in self.symbols.values():
            d.book = SymbolBook(d.key, d.index, self.store)
            self.store.books[d.key] = d.book
            self.store.prices[d.key] = float(d.sim[0, OPEN]) if len(d.sim) else float(
                d.base[-1, CLOSE]
            )
        self.sandbox = Sandbox(
            self.store,
            maker_fee=bt.maker,
            taker_fee=bt.taker,
            slippage=bt.slippage,
            leverage=bt.leverage,
            maintenance_margin=bt.maintenance_margin,
            listener=self,
        )

        # ---- each route's bars and call times
        self.arrays: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.routes: list[RouteState] = []
        self.user_files: set[str] = set()
        clock_parts = []
        for i, spec in enumerate(self.routes_spec):
            d = self.symbols[(spec.exchange, spec.symbol)]
            full = self._bars(d, spec.timeframe, bt.warmup_candles)
            tf_ms = to_ms(spec.timeframe)
            closes = full[:, TIMESTAMP].astype(np.int64) + tf_ms
            k0, k1 = np.searchsorted(closes, [self.start, self.end], side="left")
            calls = closes[k0:k1]
            rs = RouteState(i, spec, self.store.prices)
            rs.sym = d  # type: ignore[attr-defined]
            rs.full = full  # type: ignore[attr-defined]
            rs.calls = calls  # type: ignore[attr-defined]
            rs.n_first = int(k0) + 1  # type: ignore[attr-defined]
            rs.tf_ms = tf_ms  # type: ignore[attr-defined]
            rs.warmup_bars = int(np.searchsorted(closes, self.start, side="right"))  # type: ignore[attr-defined]
            self.routes.append(rs)
            self.store.routes.append(rs)
            d.book.routes.append(rs)
            self.arrays[(spec.exchange, spec.symbol, spec.timeframe)] = (full, closes)
            clock_parts.append(calls)
            cls = strategies.get(spec.strategy)
            if cls is None:
                raise InputError(f"route {spec.key}: unknown strategy '{spec.strategy}'")
            if not (isinstance(cls, type) and issubclass(cls, Strategy)):
                raise InputError(
                    f"strategy '{spec.strategy}' must be a class inheriting "
                    "jbt.strategies.Strategy"
                )
            self.user_files.update(_user_files(cls))
            rs.strategy = self._make_strategy(cls, rs, hyperparameters.get(spec.strategy, {}))
        for e, s, tf in self.extra:
            if (e, s, tf) in self.arrays:
                continue
            d = self.symbols[(e, s)]
            full = self._bars(d, tf, None)
            self.arrays[(e, s, tf)] = (full, full[:, TIMESTAMP].astype(np.int64) + to_ms(tf))

        if len(clock_parts) == 1:
            self.clock = clock_parts[0]
        else:
            merged = np.sort(np.concatenate(clock_parts), kind="stable")
            self.clock = merged[np.r_[True, merged[1:] != merged[:-1]]] if len(merged) else merged
        # the equity curve follows the route with the shortest timeframe
        self.eq_route = min(self.routes, key=lambda r: r.tf_ms)  # type: ignore[attr-defined]
        self.equity_time: list[int] = []
        self.equity: list[float] = []
        self._prepare_lookups()

    # ------------------------------------------------------------------ setup helpers

    def _bars(self, d: _SymbolData, tf: str, warmup: int | None) -> np.ndarray:
        """Bars of ``tf`` from ``d``'s base candles: the warm-up before the start (all stored
        history when ``warmup`` is None) and the period; an owned, read-only array."""
        tf_ms = to_ms(tf)
        if tf_ms % d.ms:
            raise InputError(
                f"{d.key[0]} {d.key[1]}: timeframe {tf} is not a multiple of the stored base "
                f"timeframe {d.tf}"
            )
        ts = d.base[:, TIMESTAMP]
        first_call = int(bar_open(self.start + tf_ms - 1, tf))
        lo = 0 if warmup is None else int(np.searchsorted(ts, first_call - warmup * tf_ms))
        hi = int(np.searchsorted(ts, self.end))
        full = aggregate(d.base[lo:hi], d.tf, tf)
        if full.base is not None or not full.flags.c_contiguous or not full.flags.owndata:
            full = np.array(full, dtype=np.float64, order="C", copy=True)
        full.flags.writeable = False
        return full

    def _make_strategy(self, cls: type, rs: RouteState, hp: Mapping[str, Any]) -> Strategy:
        strat = cls()
        if not hasattr(strat, "_entry_orders"):
            raise InputError(
                f"strategy '{cls.__name__}' must call super().__init__() in its __init__"
            )
        strat._route = rs
        strat._store = self.store
        strat._sandbox = self.sandbox
        strat._engine = self
        strat._full = rs.full  # type: ignore[attr-defined]
        strat._n = strat._n0 = rs.n_first  # type: ignore[attr-defined]
        strat.candles = rs.full[: rs.n_first]  # type: ignore[attr-defined]
        strat.hp = resolve_hyperparameters(rs.spec.strategy, strat.hyperparameters() or [], hp)
        return strat

    def _prepare_lookups(self) -> None:
        """Per symbol and clock step: the step's high/low (for the fast path) and the open at
        the step (for self.price), computed with NumPy once; per route, which steps call it."""
        clock = self.clock
        n = len(clock)
        for d in self.symbols.values():
            m = len(d.sim)
            # the base candles simulated in step i are those closing in (clock[i], clock[i+1]]
            # (the last step takes the rest): with a base coarser than the clock, a candle is
            # walked in the step where it closes, so no other route sees its fills earlier
            start_idx = np.clip((clock - d.s0) // d.ms, 0, m).astype(np.int64)
            end_idx = np.r_[start_idx[1:], m].astype(np.int64)
            ihigh = np.full(n, -INF)
            ilow = np.full(n, INF)
            nonempty = np.flatnonzero(end_idx > start_idx)
            if len(nonempty):
                idx = start_idx[nonempty]
                ihigh[nonempty] = np.maximum.reduceat(d.sim[:, HIGH], idx)
                ilow[nonempty] = np.minimum.reduceat(d.sim[:, LOW], idx)
            d.ihigh = ihigh  # type: ignore[attr-defined]
            d.ilow = ilow  # type: ignore[attr-defined]
            aligned = ((clock - d.s0) % d.ms == 0) & (start_idx < m)
            opens = np.full(n, np.nan)
            opens[aligned] = d.sim[start_idx[aligned], OPEN]
            d.opens = opens.tolist()  # type: ignore[attr-defined]
        # Which routes run at each clock step: a small table of distinct route groups and,
        # per step, the index of its group (one byte per step for up to 255 groups).
        called = np.zeros((len(self.routes), n), dtype=bool)
        for j, rs in enumerate(self.routes):
            called[j, np.searchsorted(clock, rs.calls)] = True  # type: ignore[attr-defined]
            rs.calls = None  # type: ignore[attr-defined]
        keys = np.zeros(n, dtype=np.int64) if len(self.routes) <= 62 else None
        if keys is not None:
            for j in range(len(self.routes)):
                keys |= called[j].astype(np.int64) << j
            uniq, group = np.unique(keys, return_inverse=True)
            self.groups = [
                tuple(rs for j, rs in enumerate(self.routes) if (int(u) >> j) & 1) for u in uniq
            ]
        else:  # pragma: no cover - more than 62 routes
            cols = [tuple(np.flatnonzero(called[:, i])) for i in range(n)]
            table: dict[tuple, int] = {}
            group = np.array([table.setdefault(c, len(table)) for c in cols], dtype=np.int64)
            self.groups = [tuple(self.routes[j] for j in c) for c in table]
        self.group_of = bytes(group.astype(np.uint8)) if len(self.groups) < 256 else group.tolist()
        # equity is sampled when the shortest-timeframe route runs (but not at its first call)
        eq_row = called[self.routes.index(self.eq_route)].copy()
        first = np.flatnonzero(eq_row)
        if len(first):
            eq_row[first[0]] = False
        self.eq_steps = bytes(eq_row.astype(np.uint8))
        # per symbol, the mark price of each equity sample: the close of the last base candle
        # closed at the sample's time (with a base coarser than the clock, the candle still
        # forming at that time is not used: its close is in the future)
        for d in self.symbols.values():
            b = np.clip((clock[eq_row] - d.s0) // d.ms, 0, len(d.sim))
            before = np.searchsorted(d.base[:, TIMESTAMP], d.s0) - 1
            first = float(d.base[before, CLOSE]) if before >= 0 else float(d.sim[0, OPEN])
            marks = np.where(b > 0, d.sim[np.maximum(b - 1, 0), CLOSE], first)
            d.eq_marks = marks  # type: ignore[attr-defined]

    def full_arrays(self) -> list[np.ndarray]:
        return [full for full, _ in self.arrays.values()]

    # ------------------------------------------------------------------ strategy-facing

    def closed_candles(self, exchange: str, symbol: str, timeframe: str) -> np.ndarray:
        key = (exchange, symbol, normalize(timeframe))
        entry = self.arrays.get(key)
        if entry is None:
            raise StrategyError(
                f"get_candles({exchange!r}, {symbol!r}, {timeframe!r}): not a route or an "
                f"extra candle; add ({exchange!r}, {symbol!r}, {timeframe!r}) to extra_candles "
                "in routes.py"
            )
        full, closes = entry
        n = int(np.searchsorted(closes, self.store.time, side="right"))
        return full[:n]

    # Listener: the sandbox reports fills; the route's strategy hears about them.
    def opened(self, route: RouteState, order) -> None:
        route.strategy.on_open_position(order)

    def increased(self, route: RouteState, order) -> None:
        route.strategy.on_increased_position(order)

    def reduced(self, route: RouteState, order) -> None:
        route.strategy.on_reduced_position(order)

    def closed(self, route: RouteState, order, trade) -> None:
        route.strategy.on_close_position(order, trade)

    # ------------------------------------------------------------------ the loop

    def execute(self) -> None:
        try:
            t = int(self.clock[0]) if len(self.clock) else self.start
            self.store.time = t
            for d in self.symbols.values():
                if len(self.clock) and d.opens[0] == d.opens[0]:  # not NaN: a candle opens at t
                    self.store.prices[d.key] = d.opens[0]
            for rs in self.routes:
                # setUp sees the bars closed at the first clock time, which can be before this
                # route's own first call (another route's timeframe ticks earlier)
                strat = rs.strategy
                _full, closes = self.arrays[rs.spec.exchange, rs.spec.symbol, rs.spec.timeframe]
                strat._n = int(np.searchsorted(closes, t, side="right"))
                strat.candles = rs.full[: strat._n]  # type: ignore[attr-defined]
                strat.setUp()
            self._loop()
            self._finish()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - re-raised with the strategy's location
            located = self._located(exc)
            if located is exc:
                raise
            raise located from exc

    def _loop(self) -> None:
        store = self.store
        prices = store.prices
        clock: Sequence[int] = self.clock.tolist() if not self._regular_clock() else range(
            int(self.clock[0]), int(self.clock[-1]) + 1, int(self.clock[1] - self.clock[0])
        )
        groups = self.groups
        group_of = self.group_of
        eq_steps = self.eq_steps
        equity_time = self.equity_time
        equity = self.equity
        can_short = store.futures
        walk_all = not self.fast_path
        cancel_entries = self.sandbox.cancel_entries
        base = Strategy
        for rs in self.routes:
            strat = rs.strategy
            cls = type(strat)
            rs.n = rs.n_first - 1  # type: ignore[attr-defined]
            rs.opens = rs.sym.opens  # type: ignore[attr-defined]
            # hooks left as the base class's no-ops are not called
            rs.before = None if cls.before is base.before else strat.before  # type: ignore[attr-defined]
            rs.after = None if cls.after is base.after else strat.after  # type: ignore[attr-defined]
            rs.should_short = (  # type: ignore[attr-defined]
                None if cls.should_short is base.should_short else strat.should_short
            )

        for i, t in enumerate(clock):
            # 0. equity at the close of the previous bar of the shortest timeframe
            if eq_steps[i]:
                equity_time.append(t)
                equity.append(
                    self._equity_at(len(equity)) if store.open_routes else store.balance
                )
            # 1. the open at t fills what it has already passed
            if store.n_active or walk_all:
                self._at_open(i, t)
            # 2. strategies of the routes with a bar closing at t
            store.time = t
            for rs in groups[group_of[i]]:
                strat = rs.strategy
                n = rs.n + 1
                rs.n = n
                strat._n = n
                strat.candles = rs.full[:n]
                prices[rs.symbol_key] = rs.opens[i]
                if rs.before is not None:
                    rs.before()
                if rs.position.qty == 0.0:
                    if rs.pending and rs.has_pending_entry() and strat.should_cancel_entry():
                        cancel_entries(rs)
                    if not rs.pending:
                        if strat.should_long():
                            self._enter(strat, rs, "long")
                        elif rs.should_short is not None and rs.should_short():
                            if not can_short:
                                raise StrategyError(
                                    "should_short() returned True but spot cannot short "
                                    '(set type = "futures" in config.toml)'
                                )
                            self._enter(strat, rs, "short")
                else:
                    strat.update_position()
                if rs.after is not None:
                    rs.after()
            # 3. the interval [t, next clock time)
            if store.n_active or walk_all:
                self._interval(i, clock)

    def _regular_clock(self) -> bool:
        """Whether the clock steps are evenly spaced (then it is iterated as a range)."""
        c = self.clock
        if len(c) < 3:
            return False
        d = np.diff(c)
        return bool((d == d[0]).all())

    def _at_open(self, i: int, t: int) -> None:
        fast = self.fast_path
        for d in self.symbols.values():
            book = d.book
            if (t - d.s0) % d.ms:
                continue
            o = d.opens[i]
            if fast and book.fall_trigger < o < book.rise_trigger:
                continue  # the open passes nothing (what process_open would find)
            self.sandbox.process_open(book, t, o)

    def _interval(self, i: int, clock: Sequence[int]) -> None:
        """Walk the base candles closing in ``(clock[i], clock[i+1]]`` (the last step: all that
        are left) where something can fill."""
        fast = self.fast_path
        t_next = clock[i + 1] if i + 1 < len(clock) else self.end
        t = clock[i]
        walk = []
        for d in self.symbols.values():
            if fast:
                book = d.book
                if not book.active:
                    continue
                if not (d.ilow[i] <= book.fall_trigger or d.ihigh[i] >= book.rise_trigger):
                    continue
            m = len(d.sim)
            b0 = min(m, max(0, (t - d.s0) // d.ms))
            b1 = m if i + 1 == len(clock) else min(m, max(0, (t_next - d.s0) // d.ms))
            if b1 > b0:
                walk.append((d, b0, b1))
        if not walk:
            return
        process = self.sandbox.process_candle
        if len(walk) == 1:
            d, b0, b1 = walk[0]
            book = d.book
            for ts, o, c, h, low, _v in d.sim[b0:b1].tolist():
                process(book, int(ts), o, h, low, c)
            return
        events = []
        for d, b0, b1 in walk:
            for row in d.sim[b0:b1].tolist():
                events.append((row[0], d.index, d, row))
        events.sort(key=lambda e: (e[0], e[1]))
        for ts, _idx, d, (_t, o, c, h, low, _v) in events:
            process(d.book, int(ts), o, h, low, c)

    def _equity_at(self, k: int) -> float:
        """The ``k``-th equity sample: the balance marked at the close of the base candle
        before the sample's time."""
        store = self.store
        eq = store.balance
        futures = store.futures
        for rs in store.open_routes:
            mark = float(rs.sym.eq_marks[k])  # type: ignore[attr-defined]
            pos = rs.position
            if futures:
                eq += pos.qty * (mark - pos.entry_price)
            else:
                eq += pos.qty * mark
        return eq

    def _enter(self, strat: Strategy, rs: RouteState, direction: str) -> None:
        strat._entering = True
        strat._entry_orders = {}
        try:
            if direction == "long":
                strat.go_long()
            else:
                strat.go_short()
        finally:
            strat._entering = False
        declared = strat._entry_orders
        strat._entry_orders = {}
        side = "buy" if direction == "long" else "sell"
        other = "sell" if side == "buy" else "buy"
        if other in declared and declared[other] is not None:
            raise StrategyError(
                f"go_{direction}() set self.{other}; use self.{side} to enter a {direction}"
            )
        if declared.get(side) is None:
            raise StrategyError(f"go_{direction}() must set self.{side} = qty, price")
        for passes in strat.filters():
            if not passes():
                for name in declared:
                    rs.assigned.pop(name, None)
                return
        sandbox = self.sandbox
        sandbox.set_exit_orders(rs, "stop-loss", declared.get("stop_loss"))
        sandbox.set_exit_orders(rs, "take-profit", declared.get("take_profit"))
        sandbox.set_side_orders(rs, side, declared[side])

    def _finish(self) -> None:
        store = self.store
        store.time = self.end
        for rs in list(store.open_routes):
            d = rs.sym  # type: ignore[attr-defined]
            last = float(d.sim[-1, CLOSE])
            store.prices[d.key] = last
            self.sandbox.close_at_end(rs, last)
        for rs in self.routes:
            for o in rs.pending:
                o.status = "open"
            rs.strategy.terminate()
        self.equity_time.append(self.end)
        self.equity.append(store.balance)

    # ------------------------------------------------------------------ errors and result

    def _located(self, exc: BaseException) -> BaseException:
        if isinstance(exc, Interrupted):  # the user's Ctrl-C: not the strategy's doing
            return exc
        frames = traceback.extract_tb(exc.__traceback__)
        user = [f for f in frames if os.path.normcase(os.path.abspath(f.filename))
                in self.user_files]
        if not user:
            return exc
        if isinstance(exc, KeyboardInterrupt) and user[-1] is not frames[-1]:
            return exc  # raised elsewhere while the strategy ran: a Ctrl-C, not the strategy's
        frame = user[-1]
        what = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            what = (f"SystemExit: the strategy called sys.exit({exc.code!r}); a strategy cannot "
                    "stop the run (return from the hook instead)")
        elif isinstance(exc, KeyboardInterrupt):
            what = ("KeyboardInterrupt: raised by the strategy, not by Ctrl-C; a strategy cannot "
                    "stop the run (return from the hook instead)")
        return StrategyError(
            f"{_display_path(frame.filename)} line {frame.lineno} at {_fmt(self.store.time)}: "
            f"{what}"
        )

    def result(self) -> BacktestResult:
        store = self.store
        orders = [
            OrderRecord(
                id=o.id,
                route=o.route.key,
                exchange=o.route.spec.exchange,
                symbol=o.route.spec.symbol,
                side=o.side,
                type=o.type,
                role=o.role,
                qty=o.qty,
                price=o.price,
                status=o.status,
                created_at=o.created_at,
                filled_at=o.filled_at,
                fill_price=o.fill_price,
                fee=o.fee,
                reduce_only=o.reduce_only,
            )
            for o in store.orders
        ]
        fills = [FillRecord(*f) for f in store.fills]
        warmup = {rs.key: rs.warmup_bars for rs in self.routes}  # type: ignore[attr-defined]
        config = self.config.snapshot()
        config["hyperparameters"] = {
            rs.spec.strategy: dict(rs.strategy.hp) for rs in self.routes  # type: ignore[attr-defined]
        }
        return BacktestResult(
            config=config,
            routes=list(self.routes_spec),
            start=self.start,
            end=self.end,
            starting_balance=store.starting_balance,
            finishing_balance=store.balance,
            trades=list(store.closed_trades),
            orders=orders,
            fills=fills,
            equity_time=self.equity_time,
            equity=self.equity,
            extra={
                "warnings": list(store.warnings),
                "warmup_bars": warmup,
                "fast_path": self.fast_path,
                "extra_candles": [list(e) for e in self.extra],
            },
        )


def _user_files(cls: type) -> set[str]:
    files = set()
    for klass in cls.__mro__:
        if klass is Strategy or klass is object:
            break
        mod = sys.modules.get(klass.__module__)
        f = getattr(mod, "__file__", None)
        if f:
            files.add(os.path.normcase(os.path.abspath(f)))
    return files


def _display_path(filename: str) -> str:
    parts = Path(filename).parts
    if "strategies" in parts:
        i = len(parts) - 1 - parts[::-1].index("strategies")
        return "/".join(parts[i:])
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel.replace(os.sep, "/")


def _fmt(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["run_backtest"]
