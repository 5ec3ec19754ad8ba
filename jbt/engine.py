"""The backtest engine: the bar loop over a :class:`~jbt.plan.RunPlan`.

:func:`run_backtest` = :func:`jbt.plan.plan_run` (checks and set-up) + :func:`run_plan` (the
loop). A plan can be run any number of times, with other hyperparameters each time; every run
gives exactly what a fresh :func:`run_backtest` gives. Nothing here touches a database, a file
or a terminal; each run keeps its state in objects it creates (a :class:`~jbt.store.Store` with
its account, a :class:`~jbt.exchanges.sandbox.Sandbox`, one strategy and one
:class:`~jbt.strategies.context.StrategyContext` per route), so runs can go on in several
threads at once.

Timeline
    The period is ``[start, end)`` (``end`` exclusive), checked against the candles given (see
    :func:`jbt.plan.plan_run`). A route's bars
    are its symbol's base candles aggregated to the route's timeframe, aligned to UTC. The clock
    steps through every time at which some route has a bar closing, in order; at such a time
    ``t`` it

    1. settles the funding events at ``t`` (futures, :mod:`jbt.perpetuals`), then fills the
       pending orders the open of the candle at ``t`` has already passed (a gap) and
       liquidates the positions it passed the liquidation price of;
    2. calls the strategy of every route with a bar closing at ``t`` (route order), with
       ``self.candles`` = its bars closed by ``t`` (warm-up included) and ``self.price`` = the
       open at ``t``; market orders fill at that open (see Hooks);
    3. simulates ``[t, next clock time)`` against the base candles (see the sandbox for the price
       path and the fill rules), every symbol's candles in time order against the shared
       balance. A base candle is simulated in the step in which it closes: with a stored base
       coarser than the clock (1h candles next to a 5m route on another symbol), its fills
       (stamped with its open time) reach the shared balance only once it has closed. Funding
       events inside the interval (a 1D route, 8-hourly funding) are settled at their time,
       between the base candles before and after it.

    A route is first called once at least one of its bars has closed and ``t >= start``. Warm-up
    bars (``warmup_candles`` of each route's timeframe before its first call) are history only.
    Positions still open at the end are closed at the last close (taker fee, no slippage,
    ``closed_by = "end-of-run"``), between every strategy's ``before_terminate()`` and its
    ``terminate()``.

Hooks
    In Jesse's order (its ``_execute``/``_check``). Each bar of a route::

        before()
        flat, entries waiting:  should_cancel_entry() (or older should_cancel()) -> cancel them,
                                other routes' on_route_canceled(), on_cancel()
        position open:          update_position()
        flat, nothing waiting:  should_short(), should_long() -> go_long()/go_short(),
                                filters(), the orders placed   (also right after
                                update_position() closed the position: a reversal in one bar)
        after()
        update_chart()

    A fill (market orders at once, others on the price path) tells the other routes first
    (``on_route_open_position`` / ``_increased_`` / ``_reduced_`` / ``_close_position``, in
    route order), then the route (``on_open_position`` ...). A close also cancels the route's
    orders (others' ``on_route_canceled``, its ``on_cancel``) and, for older Jesse strategies,
    calls ``on_stop_loss`` or ``on_take_profit`` (a stop-loss or take-profit, or ``liquidate()``
    at a loss or in profit; others' ``on_route_stop_loss`` / ``_take_profit``) before
    ``on_close_position``. At the end: every ``before_terminate()``, the end-of-run close, every
    ``terminate()``. Hooks a strategy leaves as the base class's no-ops are not called.

Fast path
    With ``fast_path=True`` step 3 (and 1) look at a symbol's candles only when the interval's
    high/low reaches a pending order or a liquidation price (its mark high/low, for the
    liquidation prices, with mark-price candles; each part of an interval between funding
    events is looked at with the liquidation prices the funding left); ``fast_path=False``
    walks every base candle of every symbol. Both give the same orders, fills and trades; only
    the time differs.

Equity
    One point per bar of the shortest route timeframe: ``(close time of the bar, balance marked
    to market at that close)``; the last point is the finishing balance, after the end-of-run
    close.

Look-ahead
    Each (exchange, symbol, timeframe) has one bar array per plan, read-only, shared by the
    routes that trade it; strategies read prefixes of it (``bars[:k+1]``), registered with the
    indicators' run cache so indicator calls are computed once per run. Nothing after ``t`` is
    reachable from strategy code.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, islice
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.errors import InputError, StrategyError, locate_strategy_error
from jbt.exchanges.accounts import make_account
from jbt.exchanges.sandbox import Listener, Sandbox
from jbt.indicators._cache import RunCache, run_cache
from jbt.plan import RoutePlan, RunPlan, SymbolKey, SymbolPlan, plan_run
from jbt.results import BacktestResult, FundingRecord, RouteSpec, make_fill, make_order
from jbt.store import Order, RouteState, Store, SymbolBook
from jbt.strategies._jesse_compat import run_output, unknown_name_error, unknown_names
from jbt.strategies.context import StrategyContext
from jbt.strategies.hyperparameters import resolve as resolve_hyperparameters
from jbt.strategies.Strategy import Strategy


def run_backtest(
    config: Config,
    routes: Sequence[RouteSpec],
    candles: Mapping[SymbolKey, np.ndarray],
    base_tf: str | Mapping[SymbolKey, str],
    strategies: Mapping[str, type],
    start_ms: int | None,
    end_ms: int | None,
    *,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    fast_path: bool = True,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    funding: Mapping[SymbolKey, Any] | None = None,
    mark: Mapping[SymbolKey, Any] | None = None,
) -> BacktestResult:
    """Plan and run one backtest over in-memory candles; return its result.

    The arguments are :func:`jbt.plan.plan_run`'s (``funding`` and ``mark``: futures funding
    events and mark-price candles per symbol) and :func:`run_plan`'s. ``duration_s`` is the
    time of both.
    """
    t0 = _time.perf_counter()
    plan = plan_run(config, routes, candles, base_tf, start_ms, end_ms, extra_candles,
                    funding=funding, mark=mark)
    result = run_plan(plan, strategies, hyperparameters=hyperparameters, fast_path=fast_path)
    result.duration_s = _time.perf_counter() - t0
    return result


def run_plan(
    plan: RunPlan,
    strategies: Mapping[str, type],
    *,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    fast_path: bool = True,
) -> BacktestResult:
    """Run the strategies over a plan and return the result.

    ``strategies`` maps each route's strategy name to its class (a subclass of
    :class:`~jbt.strategies.Strategy`). ``hyperparameters[strategy name]`` overrides the defaults
    the strategy declares (converted to the declared type and checked against min/max, see
    :mod:`jbt.strategies.hyperparameters`); the values used are in
    ``result.config["hyperparameters"]``. Strategy exceptions become a :class:`StrategyError`
    naming the file, line and bar time. The plan is not changed: run it again at will.
    """
    t0 = _time.perf_counter()
    run = _Run(plan, strategies, hyperparameters or {}, fast_path)
    with run_cache(*plan.arrays()) as cache:
        run.execute(cache)
    result = run.result()
    result.duration_s = _time.perf_counter() - t0
    return result


#: Hooks a strategy hears about other routes (Jesse's ``on_route_*``; the last two are older
#: Jesse's), called with the strategy of the route the event happened to.
_ROUTE_HOOKS = ("on_route_open_position", "on_route_close_position",
                "on_route_increased_position", "on_route_reduced_position", "on_route_canceled",
                "on_route_stop_loss", "on_route_take_profit")


def _defined(strategy: Strategy, name: str) -> Any:
    """``strategy.<name>`` bound, when its class defines it (overrides the base class's no-op);
    else None, and the loop skips the call."""
    own = getattr(type(strategy), name, None)
    if own is None or own is getattr(Strategy, name, None):
        return None
    return getattr(strategy, name)


class _RouteRun:
    """One route in one run: its plan, its sandbox state, its strategy and that strategy's
    context, and the hooks the loop calls (None for hooks left as the base class's no-ops)."""

    __slots__ = ("plan", "state", "strategy", "ctx", "symbol_key", "opens", "n", "bars", "views",
                 "cached", "before", "after", "should_short", "should_cancel", "update_chart", "last",
                 "on_cancel", "on_stop_loss", "on_take_profit", "before_terminate")

    def __init__(self, plan: RoutePlan, state: RouteState, strategy: Strategy,
                 ctx: StrategyContext, views: list[np.ndarray] | None) -> None:
        self.plan = plan
        self.state = state
        self.strategy = strategy
        self.ctx = ctx
        self.symbol_key = state.symbol_key
        #: per clock step, the open of the symbol's base candle at that time (self.price)
        self.opens = plan.symbol.opens
        #: bars closed at the last call (the loop counts them up)
        self.n = plan.n_first - 1
        #: the route's bars, the plan's prefix views of them when it keeps them (a reused plan),
        #: and their registration in the run's indicator cache (set when the run starts)
        self.bars = plan.bars
        self.views = views
        self.cached: Any = None
        self.before = _defined(strategy, "before")
        self.after = _defined(strategy, "after")
        self.should_short = _defined(strategy, "should_short")
        #: should_cancel_entry(), or older Jesse's should_cancel() when only that is defined;
        #: None: the default (True)
        self.should_cancel = _defined(strategy, "should_cancel_entry") or \
            _defined(strategy, "should_cancel")
        self.update_chart = _defined(strategy, "update_chart")
        #: whether after() or update_chart() is defined (the loop's last step of a bar)
        self.last = self.after is not None or self.update_chart is not None
        self.on_cancel = _defined(strategy, "on_cancel")
        self.on_stop_loss = _defined(strategy, "on_stop_loss")
        self.on_take_profit = _defined(strategy, "on_take_profit")
        self.before_terminate = _defined(strategy, "before_terminate")


class _Run(Listener):
    """The mutable side of one run of a plan."""

    def __init__(
        self,
        plan: RunPlan,
        strategies: Mapping[str, type],
        hyperparameters: Mapping[str, Mapping[str, Any]],
        fast_path: bool,
    ) -> None:
        self.plan = plan
        self.fast_path = fast_path
        bt = plan.config.backtest
        account = make_account(bt.type, bt.starting_balance, bt.leverage, bt.maintenance_margin,
                               bt.liquidation_fee)
        self.store = store = Store(account)
        self.books: list[SymbolBook] = []
        for d in plan.symbols:
            book = SymbolBook(d.key, d.index, store)
            self.books.append(book)
            store.books[d.key] = book
            store.prices[d.key] = float(d.sim[0, OPEN]) if len(d.sim) else float(
                d.base[-1, CLOSE]
            )
        self.sandbox = Sandbox(store, maker_fee=bt.maker, taker_fee=bt.taker,
                               slippage=bt.slippage, listener=self)
        self.routes: list[_RouteRun] = []
        self.user_files: set[str] = set()
        bases = {d.key: (d.base, d.ms) for d in plan.symbols}
        strategies_by_route: list[Strategy] = []
        #: whether the plan ran before: then what depends only on the plan is kept with it
        self.reused = plan.started()
        prefixes = plan.prefixes() if self.reused else {}
        for rp in plan.route_plans:
            spec = rp.spec
            state = RouteState(rp.index, spec, store.prices)
            store.routes.append(state)
            store.books[state.symbol_key].routes.append(state)
            cls = strategies.get(spec.strategy)
            if cls is None:
                raise InputError(f"route {spec.key}: unknown strategy '{spec.strategy}'")
            if not (isinstance(cls, type) and issubclass(cls, Strategy)):
                raise InputError(
                    f"strategy '{spec.strategy}' must be a class inheriting "
                    "jbt.strategies.Strategy"
                )
            self.user_files.update(_user_files(cls))
            with unknown_names():
                strategy = cls()
            if not hasattr(strategy, "_ctx"):
                raise InputError(
                    f"strategy '{cls.__name__}' must call super().__init__() in its __init__"
                )
            with unknown_names():
                declared = strategy.hyperparameters() or []
            hp = resolve_hyperparameters(spec.strategy, declared,
                                         hyperparameters.get(spec.strategy, {}))
            ctx = StrategyContext(state, store, self.sandbox, rp.bars, rp.closes, rp.n_first, hp,
                                  plan.candles, plan.extra_candles, strategies_by_route,
                                  bases, bt.forming_candles)
            strategies_by_route.append(strategy)
            strategy._bind(ctx)
            self.routes.append(_RouteRun(rp, state, strategy, ctx, prefixes.get(id(rp.bars))))
        #: per on_route_* hook: (route index, hook) of each route whose strategy defines it
        self.route_hooks: dict[str, list[tuple[int, Any]]] = {
            name: [(rr.state.index, fn) for rr in self.routes
                   if (fn := _defined(rr.strategy, name)) is not None]
            for name in _ROUTE_HOOKS
        }
        # per route index: the mark prices of the equity samples (its symbol's)
        self.marks = [rp.symbol.eq_marks for rp in plan.route_plans]
        self.equity_time: list[int] = []
        self.equity: list[float] = []
        #: (step, balance, open positions) at each change seen by an equity sample
        self.changes: list[tuple[int, float, tuple]] = []
        #: the plan's funding events as (book index, time, rate, price), and the next one to
        #: settle
        self.fund_events = list(zip(plan.funding_symbol, plan.funding_time, plan.funding_rate,
                                    plan.funding_price, strict=True))
        self.fund_k = 0
        #: whether some funding event falls inside an interval (between two clock times)
        self.cuts = bool((np.frombuffer(plan.funding_steps, dtype=np.uint8) & 2).any())

    # Listener: the sandbox reports fills; the strategies hear about them in Jesse's order:
    # the other routes first (on_route_*, in route order), then the route's own hook.
    def opened(self, route: RouteState, order: Order) -> None:
        i = route.index
        self._tell_others(i, "on_route_open_position")
        self.routes[i].strategy.on_open_position(order)

    def increased(self, route: RouteState, order: Order) -> None:
        i = route.index
        self._tell_others(i, "on_route_increased_position")
        self.routes[i].strategy.on_increased_position(order)

    def reduced(self, route: RouteState, order: Order) -> None:
        i = route.index
        self._tell_others(i, "on_route_reduced_position")
        self.routes[i].strategy.on_reduced_position(order)

    def closed(self, route: RouteState, order: Order, trade) -> None:
        """The position is flat: the others hear it closed; then, as after every close in
        Jesse, the route's orders are cancelled (others' on_route_canceled, its on_cancel);
        then older Jesse's on_stop_loss / on_take_profit; then on_close_position."""
        i = route.index
        rr = self.routes[i]
        self._tell_others(i, "on_route_close_position")
        older = _older_exit(order, trade, self.store.prices[route.symbol_key])
        if older is not None:
            self._tell_others(i, f"on_route_{older}")
        self._tell_others(i, "on_route_canceled")
        if rr.on_cancel is not None:
            rr.on_cancel()
        if older == "stop_loss" and rr.on_stop_loss is not None:
            rr.on_stop_loss(order)
        elif older == "take_profit" and rr.on_take_profit is not None:
            rr.on_take_profit(order)
        rr.strategy.on_close_position(order, trade)

    def _tell_others(self, i: int, hook: str) -> None:
        """Call ``hook(strategy of route i)`` on every other route whose strategy defines it."""
        hooks = self.route_hooks[hook]
        if hooks:
            strategy = self.routes[i].strategy
            for j, fn in hooks:
                if j != i:
                    fn(strategy)

    def _cancel_entries(self, rr: _RouteRun) -> None:
        """should_cancel_entry() said so: the pending entries (and the stop-loss/take-profit
        waiting on them) are cancelled and forgotten (``self.buy`` ... read None again); the
        other routes hear on_route_canceled, then the route's on_cancel() runs."""
        route = rr.state
        self.sandbox.cancel_entries(route)
        route.assigned.clear()
        self._tell_others(route.index, "on_route_canceled")
        if rr.on_cancel is not None:
            rr.on_cancel()

    # ------------------------------------------------------------------ the run

    def execute(self, cache: RunCache) -> None:
        """The run, inside the indicator cache's context (``cache`` shows the strategies their
        candles)."""
        try:
            self._set_up(cache)
            self._loop(cache)
            self._finish()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - re-raised with the strategy's location
            named = unknown_name_error(exc)  # self.<a name nobody defines>: one line
            located = locate_strategy_error(named, self.user_files, self.store.time)
            if located is exc:
                raise
            raise located from (exc if located is named else named)
        finally:
            for rr in self.routes:  # the cached series go with the cache, not with the result
                rr.cached = None

    def _set_up(self, cache: RunCache) -> None:
        plan = self.plan
        clock = plan.clock
        t = int(clock[0]) if len(clock) else plan.start
        self.store.time = t
        for d in plan.symbols:
            if len(clock) and d.opens[0] == d.opens[0]:  # not NaN: a candle opens at t
                self.store.prices[d.key] = d.opens[0]
        for rr in self.routes:
            # setUp sees the bars closed at the first clock time, which can be before this
            # route's own first call (another route's timeframe ticks earlier)
            ctx = rr.ctx
            ctx.n = int(np.searchsorted(rr.plan.closes, t, side="right"))
            rr.cached = cache.entry(ctx.bars)
            ctx.candles = cache.prefix(rr.cached, ctx.n)
            rr.strategy.setUp()

    def _loop(self, cache: RunCache) -> None:
        plan = self.plan
        store = self.store
        account = store.account
        prices = store.prices
        clock = plan.clock
        groups = [tuple(self.routes[j] for j in g) for g in plan.groups]
        group_of = plan.group_of
        eq_steps = plan.eq_steps
        walk_all = not self.fast_path
        can_short = account.can_short
        open_routes = store.open_routes
        # the equity curve is computed after the loop from the states the account went
        # through: here only each change of the balance or of a position is noted, at the first
        # equity sample that sees it (a change always comes with a fill or a balance change)
        fills = store.fills
        seen_fills = len(fills)
        seen_balance = account.balance
        changes = self.changes = [(-1, seen_balance, _positions(open_routes))]
        # only funding changes the balance without a fill: the balance is compared at the
        # first sample after a step that settled funding (at its time or inside its interval)
        paid = False
        # per step, funding events at its time (bit 1) or inside its interval (bit 2); the
        # steps with events at their time, in order, then one past the last step
        funding_steps = plan.funding_steps or None
        fund_at = np.flatnonzero(np.frombuffer(funding_steps or b"", dtype=np.uint8) & 1
                                 ).tolist() + [len(clock)]
        fund_next, fund_i = fund_at[0], 0
        # the first event after each of those steps' times: where settling leaves off, and
        # where the events are skipped when no position is open (they would pay nothing)
        fund_past = np.searchsorted(np.asarray(plan.funding_time, dtype=np.int64),
                                    np.asarray(clock, dtype=np.int64)[fund_at[:-1]],
                                    side="right").tolist() if len(fund_at) > 1 else []
        settle, fund_events, cuts = self.sandbox.settle, self.fund_events, self.cuts
        books = self.books

        # one set of routes at every step (one route, or routes of one timeframe): no lookup
        only = groups[0] if len(groups) == 1 else None

        for i, t in enumerate(clock):
            # 0. equity at the close of the previous bar of the shortest timeframe
            if eq_steps[i]:
                if len(fills) != seen_fills or (paid and account.balance != seen_balance):
                    seen_fills = len(fills)
                    seen_balance = account.balance
                    changes.append((i, seen_balance, _positions(open_routes)))
                paid = False
            # 1. funding events at t are settled, then the open at t fills what it has already
            # passed
            if i == fund_next:
                if open_routes:
                    self.fund_k = settle(fund_events, self.fund_k, t, books)
                    paid = True
                else:
                    self.fund_k = fund_past[fund_i]
                fund_i += 1
                fund_next = fund_at[fund_i]
            if store.n_active or walk_all:
                self._at_open(i, t)
            # 2. the strategies of the routes with a bar closing at t
            store.time = t
            for rr in only or groups[group_of[i]]:
                ctx = rr.ctx
                n = rr.n = ctx.n = rr.n + 1
                # self.candles = bars[:n], shown to the indicator cache as it is made (what
                # RunCache.prefix does, written out: this runs every bar), so the bar's first
                # indicator call needs no lookup
                views = rr.views
                ctx.candles = cache.last = rr.bars[:n] if views is None else views[n]
                cache.n = n
                if cache.last_entry is not rr.cached:
                    cache.use(rr.cached)
                prices[rr.symbol_key] = rr.opens[i]
                if rr.before is not None:
                    rr.before()
                route = rr.state
                position = route.position
                if position.qty == 0.0:
                    if route.pending and route.has_pending_entry() and (
                            rr.should_cancel is None or rr.should_cancel()):
                        self._cancel_entries(rr)
                else:
                    rr.strategy.update_position()
                # flat with nothing waiting, also when update_position() has just closed the
                # position at market: decide on an entry now, at t (Jesse's same-bar re-check)
                if position.qty == 0.0 and not route.pending:
                    if rr.should_short is None:
                        if rr.strategy.should_long():
                            self._enter(rr, "long")
                    else:
                        short = rr.should_short()
                        if short and not can_short:
                            raise StrategyError(
                                "should_short() returned True but spot cannot short "
                                '(set type = "futures" in config.toml)'
                            )
                        if rr.strategy.should_long():  # both True: the long (Jesse refuses)
                            self._enter(rr, "long")
                        elif short:
                            self._enter(rr, "short")
                if rr.last:
                    if rr.after is not None:
                        rr.after()
                    if rr.update_chart is not None:
                        rr.update_chart()
            # 3. the interval [t, next clock time)
            if cuts and funding_steps[i] & 2:
                self._interval(i, clock)
                paid = True
            elif store.n_active or walk_all:
                self._interval(i, clock)

    def _at_open(self, i: int, t: int) -> None:
        fast = self.fast_path
        books = self.books
        for d in self.plan.symbols:
            if (t - d.s0) % d.ms:
                continue
            book = books[d.index]
            o = d.opens[i]
            if d.mopens is None:
                if fast and book.fall_trigger < o < book.rise_trigger:
                    continue  # the open passes nothing (what process_open would find)
                self.sandbox.process_open(book, t, o)
            else:
                mo = d.mopens[i]
                if fast and book.order_fall < o < book.order_rise and \
                        book.liq_fall < mo < book.liq_rise:
                    continue
                self.sandbox.process_open(book, t, o, mo)

    def _settle(self, until: int) -> None:
        """Settle the funding events due at or before ``until``, in the plan's order."""
        self.fund_k = self.sandbox.settle(self.fund_events, self.fund_k, until, self.books)

    def _interval(self, i: int, clock: Sequence[int]) -> None:
        """Walk the base candles closing in ``(clock[i], clock[i+1]]`` (the last step: all that
        are left) where something can fill; funding events inside the interval are settled at
        their time, between the candles before and after it."""
        last = i + 1 == len(clock)
        t_next = self.plan.end if last else clock[i + 1]
        t = clock[i]
        if not (self.cuts and self.plan.funding_steps[i] & 2):
            self._walk(i, t, t_next, last)
            return
        times = self.plan.funding_time
        k = self.fund_k
        bounds = [t]
        while k < len(times) and times[k] < t_next:
            if times[k] != bounds[-1]:
                bounds.append(times[k])
            k += 1
        bounds.append(t_next)
        for j in range(len(bounds) - 1):
            if j:
                self._settle(bounds[j])
            self._walk(None, bounds[j], bounds[j + 1], last and j == len(bounds) - 2)

    def _walk(self, i: int | None, t: int, t_next: int, last: bool) -> None:
        """Walk the base candles closing in ``(t, t_next]`` (``last``: all that are left) where
        something can fill. ``i``: the clock step when this is its whole interval (its
        precomputed highs and lows then tell the fast path where nothing can fill)."""
        fast = self.fast_path
        books = self.books
        walk: list[tuple[SymbolPlan, int, int]] = []
        for d in self.plan.symbols:
            book = books[d.index]
            if fast:
                if not book.active:
                    continue
                if i is not None:
                    if d.mark is None:
                        if not (d.ilow[i] <= book.fall_trigger or
                                d.ihigh[i] >= book.rise_trigger):
                            continue
                    elif not (d.ilow[i] <= book.order_fall or d.ihigh[i] >= book.order_rise or
                              d.milow[i] <= book.liq_fall or d.mihigh[i] >= book.liq_rise):
                        continue
            m = len(d.sim)
            b0 = min(m, max(0, (t - d.s0) // d.ms))
            b1 = m if last else min(m, max(0, (t_next - d.s0) // d.ms))
            if b1 <= b0:
                continue
            if fast and i is None and not _reachable(d, book, b0, b1):
                continue
            walk.append((d, b0, b1))
        if not walk:
            return
        process = self.sandbox.process_candle
        if len(walk) == 1:
            d, b0, b1 = walk[0]
            book = books[d.index]
            if d.mark is None:
                for ts, o, c, h, low, _v in d.sim[b0:b1].tolist():
                    process(book, int(ts), o, h, low, c)
            else:
                for (ts, o, c, h, low, _v), mark in zip(d.sim[b0:b1].tolist(),
                                                        d.mark[b0:b1].tolist(), strict=True):
                    process(book, int(ts), o, h, low, c, mark)
            return
        events = []
        for d, b0, b1 in walk:
            rows = d.sim[b0:b1].tolist()
            marks = d.mark[b0:b1].tolist() if d.mark is not None else [None] * len(rows)
            for row, mark in zip(rows, marks, strict=True):
                events.append((row[0], d.index, row, mark))
        events.sort(key=lambda e: (e[0], e[1]))
        for ts, index, (_t, o, c, h, low, _v), mark in events:
            process(books[index], int(ts), o, h, low, c, mark)

    def _equity_curve(self) -> None:
        """One point per equity sample of the loop (the steps ``plan.eq_steps`` marks): the
        balance plus each open position marked at the sample (its symbol's ``eq_marks``), from
        the states noted in the loop: the same sums in the same order as marking each sample
        as it comes (the balance, then the positions in the order they opened). The samples of
        all the states that hold positions are marked with NumPy at once (in bounded pieces);
        flat stretches repeat the balance (one float object)."""
        plan = self.plan
        if self.reused:
            samples, times = plan.kept("equity samples", _plan_samples(plan))
            self.equity_time = list(times)
        else:
            samples, times = _plan_samples(plan)()
            self.equity_time = times
        changes = self.changes
        # the first sample each state is seen at (the first state: from the first sample), and
        # how many samples see it
        firsts = np.searchsorted(samples, [step for step, _b, _p in changes])
        firsts[0] = 0
        counts = np.diff(np.r_[firsts, len(samples)]).tolist()
        held = [j for j, (_s, _b, p) in enumerate(changes) if p and counts[j]]
        values: list[float] = []
        if held:
            held_states = np.array(held, dtype=np.intp)
            held_counts = np.array([counts[j] for j in held], dtype=np.intp)
            # per sample of a held state: its state and its index among the samples
            own_all = np.repeat(held_states, held_counts)
            starts = np.cumsum(held_counts) - held_counts
            at_all = np.arange(len(own_all), dtype=np.intp) + np.repeat(
                firsts[held_states] - starts, held_counts)
            balances = np.array([b for _s, b, _p in changes], dtype=np.float64)
            # per slot (the slot-th open position, in the order they opened) and state: route
            # (-1: none), qty, entry price and margin; and the routes found in the slot
            slots = []
            none = (-1, 0.0, 0.0, 0.0)
            for slot in range(max(len(changes[j][2]) for j in held)):
                # (np.fromiter over the numbers: NumPy need not look into a tuple per state)
                table = np.fromiter(
                    chain.from_iterable([p[slot] if len(p) > slot else none
                                         for _s, _b, p in changes]),
                    dtype=np.float64, count=4 * len(changes)).reshape(-1, 4)
                routes = {int(r) for r in table[held_states, 0].tolist()}
                slots.append((table, sorted(r for r in routes if r >= 0)))
            value = self.store.account.value
            marks = self.marks
            for a in range(0, len(own_all), _EQUITY_CHUNK):
                own = own_all[a:a + _EQUITY_CHUNK]
                at = at_all[a:a + _EQUITY_CHUNK]
                part = balances[own]
                for table, routes in slots:
                    held_here = table[own]
                    for r in routes:
                        mine = np.flatnonzero(held_here[:, 0] == r)
                        if len(mine):
                            rows = held_here[mine]
                            part[mine] += value(rows[:, 1], rows[:, 2], marks[r][at[mine]],
                                                rows[:, 3])
                values.extend(part.tolist())
        equity: list[float] = []
        marked = iter(values)
        for (_s, balance, positions), count in zip(changes, counts, strict=True):
            if positions:
                equity.extend(islice(marked, count))
            else:  # flat: the balance, one float object repeated
                equity.extend([balance] * count)
        self.equity = equity

    def _enter(self, rr: _RouteRun, direction: str) -> None:
        strategy = rr.strategy
        ctx = rr.ctx
        ctx.entry = {}
        try:
            if direction == "long":
                strategy.go_long()
            else:
                strategy.go_short()
        finally:
            declared = ctx.entry
            ctx.entry = None
        side = "buy" if direction == "long" else "sell"
        other = "sell" if side == "buy" else "buy"
        if other in declared and declared[other] is not None:
            raise StrategyError(
                f"go_{direction}() set self.{other}; use self.{side} to enter a {direction}"
            )
        if declared.get(side) is None:
            raise StrategyError(f"go_{direction}() must set self.{side} = qty, price")
        route = rr.state
        for passes in strategy.filters():
            if not passes():
                for name in declared:
                    route.assigned.pop(name, None)
                return
        sandbox = self.sandbox
        sandbox.set_exit_orders(route, "stop-loss", declared.get("stop_loss"))
        sandbox.set_exit_orders(route, "take-profit", declared.get("take_profit"))
        sandbox.set_side_orders(route, side, declared[side])

    def _finish(self) -> None:
        store = self.store
        store.time = self.plan.end
        for d in self.plan.symbols:  # the end: every symbol at its last close
            if len(d.sim):
                store.prices[d.key] = float(d.sim[-1, CLOSE])
        for rr in self.routes:  # route order, before anything is closed (as Jesse)
            if rr.before_terminate is not None:
                rr.before_terminate()
        for route in list(store.open_routes):
            d = self.routes[route.index].plan.symbol
            last = float(d.sim[-1, CLOSE])
            store.prices[d.key] = last
            self.sandbox.close_at_end(route, last)
        for rr in self.routes:
            for o in rr.state.pending:
                o.status = "open"
            rr.strategy.terminate()
        self._equity_curve()
        self.equity_time.append(self.plan.end)
        self.equity.append(store.account.balance)

    # ------------------------------------------------------------------ the result

    def result(self) -> BacktestResult:
        plan = self.plan
        store = self.store
        orders = [
            make_order(  # OrderRecord's fields, in order
                o.id, o.route.key, o.route.spec.exchange, o.route.spec.symbol, o.side, o.type,
                o.role, o.qty, o.price, o.status, o.created_at, o.filled_at, o.fill_price, o.fee,
                o.reduce_only,
            )
            for o in store.orders
        ]
        fills = [make_fill(*f) for f in store.fills]
        config = plan.config.snapshot()
        config["hyperparameters"] = {
            rr.plan.spec.strategy: dict(rr.ctx.hp) for rr in self.routes
        }
        return BacktestResult(
            config=config,
            routes=list(plan.routes),
            start=plan.start,
            end=plan.end,
            starting_balance=store.account.starting_balance,
            finishing_balance=store.account.balance,
            trades=list(store.closed_trades),
            orders=orders,
            fills=fills,
            equity_time=self.equity_time,
            equity=self.equity,
            funding=[FundingRecord(*store.funding[k:k + 6])
                     for k in range(0, len(store.funding), 6)],
            extra={
                "warnings": list(store.warnings),
                "warmup_bars": {rp.spec.key: rp.warmup_bars for rp in plan.route_plans},
                "fast_path": self.fast_path,
                "extra_candles": [list(e) for e in plan.extra_candles],
                # what the strategies logged (self.log) and drew (the chart helpers)
                **run_output([rr.strategy for rr in self.routes]),
            },
        )


def _older_exit(order: Order, trade, price: float) -> str | None:
    """Which of older Jesse's exit hooks a close calls: "stop_loss" for a stop-loss,
    "take_profit" for a take-profit; for a close at market or by an exit order (what
    ``liquidate()`` does) "take_profit" when the position was in profit at the price it closed
    at, else "stop_loss" (older Jesse's ``liquidate()`` placed a take-profit or a stop-loss at
    the price); None for the end-of-run close and a liquidation."""
    role = order.role
    if role == "stop-loss":
        return "stop_loss"
    if role == "take-profit":
        return "take_profit"
    if role != "exit":
        return None
    gain = price - trade.entry_price
    return "take_profit" if (gain > 0 if trade.side == "long" else gain < 0) else "stop_loss"


#: Equity samples marked at once (a year of 1m bars in at most 33 pieces, of 1h bars in one).
_EQUITY_CHUNK = 1 << 14


def _plan_samples(plan: RunPlan) -> Callable[[], tuple[np.ndarray, list[int]]]:
    """What gives the clock steps of the plan's equity samples and their times."""

    def samples() -> tuple[np.ndarray, list[int]]:
        steps = np.flatnonzero(np.frombuffer(plan.eq_steps, dtype=np.uint8))
        clock = plan.clock
        if isinstance(clock, range):
            return steps, (steps * clock.step + clock.start).tolist()
        return steps, [clock[i] for i in steps.tolist()]

    return samples


def _positions(open_routes: list[RouteState]) -> tuple[tuple[int, float, float, float], ...]:
    """(route index, qty, entry price, margin) of each open position, in the order they
    opened."""
    return tuple([(r.index, r.position.qty, r.position.entry_price, r.position.margin)
                  for r in open_routes])


def _reachable(d: SymbolPlan, book: SymbolBook, b0: int, b1: int) -> bool:
    """Whether the base candles ``b0:b1`` of ``d`` can reach a pending order or a liquidation
    price of ``book`` (the fast path's test for a part of an interval)."""
    hi = float(d.sim[b0:b1, HIGH].max())
    lo = float(d.sim[b0:b1, LOW].min())
    if d.mark is None:
        return lo <= book.fall_trigger or hi >= book.rise_trigger
    if lo <= book.order_fall or hi >= book.order_rise:
        return True
    mark = d.mark[b0:b1]
    return float(mark[:, 2].min()) <= book.liq_fall or float(mark[:, 1].max()) >= book.liq_rise


def _user_files(cls: type) -> set[str]:
    """The source files of a strategy class and its bases up to :class:`Strategy`."""
    import os
    import sys

    files = set()
    for klass in cls.__mro__:
        if klass is Strategy or klass is object:
            break
        mod = sys.modules.get(klass.__module__)
        f = getattr(mod, "__file__", None)
        if f:
            files.add(os.path.normcase(os.path.abspath(f)))
    return files


__all__ = ["run_backtest", "run_plan"]
