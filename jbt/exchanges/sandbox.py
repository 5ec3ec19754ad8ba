"""The simulated exchange: how orders are placed, when they fill, at what price, and what they cost.

One :class:`Sandbox` serves one run and changes only that run's :class:`~jbt.store.Store`. It
sequences fills (which order, at which point of the price path, in which order); what a fill
does to the balance (costs, margin, liquidation prices, rejections) is the run's account's job:
:class:`~jbt.exchanges.accounts.SpotAccount` or :class:`~jbt.exchanges.accounts.FuturesAccount`
behind one interface.

Order types
    The type follows from the price against the current price ``ref`` (the bar's open during a
    strategy call, the path point during a fill): at ``ref`` (or no price) a market order; a buy
    above ``ref`` or a sell below it a stop; a buy below or a sell above a limit. Stop-losses are
    always stops and take-profits always limits; one that is already crossed when it is placed
    (e.g. a stop-loss above the price of a long) fills at once at ``ref`` as a market order.

Fill prices
    A market order fills at ``ref``. Inside a base candle the price path is open → low → high →
    close when close ≥ open, else open → high → low → close. At the open, an order the open has
    already passed fills at the open (a limit gets the better open, a stop the worse one). Along
    the path a limit or stop fills at its own price when the path reaches it; orders reached at
    the same price fill in creation order. A fill may set off another one later on the path
    (an entry, then its stop-loss), never one earlier on it.

Costs
    Limit orders (including take-profits) pay the maker fee; market and stop orders (including
    stop-losses and the end-of-run close) the taker fee; liquidations the liquidation fee.
    Slippage moves market and stop fills against the trader (buy ``x·(1+s)``, sell
    ``x·(1−s)``); limits fill at their price or better, liquidations at the bankruptcy price,
    and the end-of-run close at the last close, all without slippage. Fees are paid in the
    quote currency.

Positions (one per route: a sub-account; all routes share one balance)
    Orders on the side of the position (or any order while flat) add to it; the average entry
    price is the size-weighted mean of the entry fills. Orders against the position are
    reduce-only: they fill at most the position's size, and when the position is flat every
    order of the route still pending is cancelled (so stop-loss and take-profit cancel each
    other). A stop-loss or take-profit declared while flat waits and is placed when the entry
    fills.

Spot
    Long only. A buy pays ``qty·price + fee`` from the balance and a sell receives
    ``qty·price − fee``. A buy whose cost is more than the free balance is **rejected** when it
    would fill (status "rejected", a line in ``BacktestResult.extra["warnings"]``) and the run
    goes on; a shortfall of at most 1e-9 of the cost (the float rounding of "buy with all the
    balance") is taken off the fee instead, so the balance lands on exactly 0 and never goes
    negative.

Futures (isolated margin; the rules and their sources are in :mod:`jbt.exchanges.accounts`)
    Long and short. The wallet changes by realized PnL, fees and funding; each open position
    holds its own margin (``qty·price/leverage`` per entry fill). An entry whose margin plus
    fee exceeds the wallet minus the margin already held is rejected like a spot overspend.
    A position is liquidated when the price path (the mark-price path when mark candles are
    given) reaches its liquidation price (Binance's formula), or an open gaps through it: it
    is closed at its bankruptcy price, losing exactly its margin, pays the liquidation fee
    instead of the taker fee, and the trade is recorded with ``closed_by = "liquidation"``.
    Orders the path reaches first fill first; no exit fill of a position (stop, market, gap,
    end of run) is at a price beyond its bankruptcy price, and no fee takes the wallet below 0.
    A long at leverage 1 is never liquidated. Funding events are settled by :meth:`Sandbox.fund`
    (the engine calls it at each event's time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from jbt.errors import StrategyError
from jbt.results import ClosedTrade, make_trade
from jbt.store import INF, Order, RouteState, Store, SymbolBook, TradeBook

#: A reduce-only fill leaving less than this fraction of the position closes it entirely.
_DUST = 1e-9


class Listener:
    """What the sandbox tells the engine about fills (the engine calls the strategy hooks)."""

    def opened(self, route: RouteState, order: Order) -> None: ...

    def increased(self, route: RouteState, order: Order) -> None: ...

    def reduced(self, route: RouteState, order: Order) -> None: ...

    def closed(self, route: RouteState, order: Order, trade: ClosedTrade) -> None: ...


class Sandbox:
    """The broker of one run."""

    def __init__(
        self,
        store: Store,
        *,
        maker_fee: float,
        taker_fee: float,
        slippage: float,
        listener: Listener | None = None,
    ) -> None:
        self.store = store
        #: the spot or futures rules every fill goes through (``store.account``)
        self.account = store.account
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.slippage = slippage
        self.listener = listener or Listener()

    @property
    def leverage(self) -> float:
        return self.account.leverage

    # ------------------------------------------------------------------ placing orders

    def set_side_orders(self, route: RouteState, side: str, spec: Any) -> None:
        """``self.buy = ...`` / ``self.sell = ...``: replace the route's pending orders of that
        side (stop-losses and take-profits excepted) with the new ones."""
        orders = _parse_orders(spec, "buy" if side == "buy" else "sell")
        if route.pending:
            self._cancel(route, _side_orders(side))
        for qty, price in orders:
            pos = route.position.qty
            if pos == 0.0 or (pos > 0) == (side == "buy"):
                if side == "sell" and not self.account.can_short:
                    raise StrategyError(
                        "spot cannot sell short: self.sell needs an open long position "
                        '(set type = "futures" in config.toml to short)'
                    )
                self._submit(route, side, qty, price, "entry")
            else:
                self._submit(route, side, qty, price, "exit")

    def set_exit_orders(self, route: RouteState, role: str, spec: Any) -> None:
        """``self.stop_loss = ...`` / ``self.take_profit = ...``: replace those orders; while
        flat, keep them until the entry fills."""
        name = "stop_loss" if role == "stop-loss" else "take_profit"
        orders = _parse_orders(spec, name) if spec is not None else []
        pos = route.position.qty
        if pos == 0.0:
            if role == "stop-loss":
                route.queued_stop_loss = orders or None
            else:
                route.queued_take_profit = orders or None
            return
        if route.pending:
            self._cancel(route, _role(role))
        side = "sell" if pos > 0 else "buy"
        for qty, price in orders:
            self._submit(route, side, qty, price, role)
            if route.position.qty == 0.0:
                break

    def cancel_entries(self, route: RouteState) -> None:
        """Cancel the route's pending entry orders and the stop-loss/take-profit waiting on them."""
        if route.pending:
            self._cancel(route, _is_entry)
        if route.position.qty == 0.0:
            route.queued_stop_loss = None
            route.queued_take_profit = None

    def cancel_all(self, route: RouteState) -> None:
        if route.pending:
            self._cancel(route, _any)
        route.queued_stop_loss = None
        route.queued_take_profit = None

    def liquidate(self, route: RouteState) -> None:
        """Close the route's position at market now (Jesse's ``self.liquidate()``)."""
        pos = route.position.qty
        if pos == 0.0:
            self.cancel_entries(route)
            return
        self._submit(route, "sell" if pos > 0 else "buy", abs(pos), None, "exit")

    def _submit(
        self, route: RouteState, side: str, qty: float, price: float | None, role: str
    ) -> Order:
        store = self.store
        ref = store.prices[route.symbol_key]
        buy = side == "buy"
        if role == "stop-loss":
            # a buy stop-loss (short) waits above the price, a sell stop-loss (long) below it
            crossed = price is None or (price <= ref if buy else price >= ref)
            otype = "market" if crossed else "stop"
        elif role == "take-profit":
            crossed = price is None or (price >= ref if buy else price <= ref)
            otype = "market" if crossed else "limit"
        elif price is None or price == ref:
            otype = "market"
        elif buy:
            otype = "stop" if price > ref else "limit"
        else:
            otype = "limit" if price > ref else "stop"
        reduce_only = role != "entry"
        order = Order(
            store.next_order_id(), route, side, otype, role, qty, price, store.time, reduce_only
        )
        store.orders.append(order)
        route.orders.append(order)
        if otype == "market":
            fill_at = ref * (1.0 + self.slippage) if buy else ref * (1.0 - self.slippage)
            self._fill(order, fill_at, self.taker_fee)
        else:
            route.pending.append(order)
            book = store.books[route.symbol_key]
            book.orders.append(order)
            book.touch()
        return order

    def _cancel(self, route: RouteState, which: Callable[[Order], bool]) -> None:
        keep = []
        removed = False
        for o in route.pending:
            if which(o):
                o.status = "cancelled"
                removed = True
            else:
                keep.append(o)
        if removed:
            route.pending = keep
            book = self.store.books[route.symbol_key]
            book.orders = [o for o in book.orders if o.status == "open"]
            book.touch()

    def _unlist(self, order: Order) -> None:
        route = order.route
        route.pending.remove(order)
        book = self.store.books[route.symbol_key]
        book.orders.remove(order)
        book.touch()

    # ------------------------------------------------------------------ the price path

    def process_open(self, book: SymbolBook, ts: int, o: float, mo: float | None = None) -> None:
        """Fill what the open of the candle at ``ts`` has already passed, at the open; a
        position whose liquidation price the open (the mark open ``mo`` when given) passed is
        liquidated."""
        store = self.store
        store.time = ts
        store.prices[book.key] = o
        m = o if mo is None else mo
        while True:
            if mo is None:
                if o > book.fall_trigger and o < book.rise_trigger:
                    return
            elif book.order_fall < o < book.order_rise and book.liq_fall < mo < book.liq_rise:
                return
            hit = None
            for order in book.orders:
                p = order.price
                if order.side == "buy":
                    passed = p >= o if order.type == "limit" else p <= o
                else:
                    passed = p <= o if order.type == "limit" else p >= o
                if passed:
                    hit = order
                    break
            if hit is not None:
                self._trigger(hit, o, gap=True)
                continue
            route = self._liquidatable(book, m, m, True)
            if route is None:
                return
            self._liquidation(route)

    def process_candle(
        self, book: SymbolBook, ts: int, o: float, h: float, low: float, c: float,
        mark: tuple[float, float, float, float] | None = None,
    ) -> None:
        """Walk one base candle's path and fill what it reaches, in path order.

        With ``mark`` (the mark-price candle's open, high, low, close), liquidations follow the
        mark path instead of the trade path: each of the three legs of the trade path is walked
        for the orders, then the same leg of the mark path (open → low → high → close when its
        close ≥ its open, else open → high → low → close) for the liquidations."""
        if mark is None:
            self.process_open(book, ts, o)
            if c >= o:
                self._sweep(book, o, low)
                self._sweep(book, low, h)
                self._sweep(book, h, c)
            else:
                self._sweep(book, o, h)
                self._sweep(book, h, low)
                self._sweep(book, low, c)
        else:
            mo, mh, ml, mc = mark
            self.process_open(book, ts, o, mo)
            legs = (o, low, h, c) if c >= o else (o, h, low, c)
            mlegs = (mo, ml, mh, mc) if mc >= mo else (mo, mh, ml, mc)
            for k in range(3):
                self._sweep(book, legs[k], legs[k + 1], False)
                if book.liq_fall != -INF or book.liq_rise != INF:
                    self._mark_sweep(book, mlegs[k], mlegs[k + 1], legs[k + 1])
        self.store.prices[book.key] = c

    def _sweep(self, book: SymbolBook, a: float, b: float, liquidations: bool = True) -> None:
        """Move the price continuously from ``a`` to ``b``, filling orders (and, unless
        ``liquidations`` is False, liquidating positions) as it reaches them."""
        if a == b:
            return
        falling = b < a
        store = self.store
        while True:
            if falling:
                if book.fall_trigger < b:
                    return
            elif book.rise_trigger > b:
                return
            best: Order | None = None
            best_p = 0.0
            for order in book.orders:
                p = order.price
                if falling:
                    # buy limits and sell stops fill on the way down
                    if (order.side == "buy") != (order.type == "limit"):
                        continue
                    if b <= p <= a and (best is None or p > best_p):
                        best, best_p = order, p
                else:
                    if (order.side == "buy") == (order.type == "limit"):
                        continue
                    if a <= p <= b and (best is None or p < best_p):
                        best, best_p = order, p
            route = None
            if liquidations:
                route = self._liquidatable(book, b, a, falling) if falling else \
                    self._liquidatable(book, a, b, falling)
            if route is not None:
                liq = route.position.liquidation_price
                if best is None or (liq > best_p if falling else liq < best_p):
                    store.prices[book.key] = liq
                    self._liquidation(route)
                    a = liq
                    continue
            if best is None:
                return
            store.prices[book.key] = best_p
            self._trigger(best, best_p, gap=False)
            a = best_p

    def _mark_sweep(self, book: SymbolBook, a: float, b: float, trade_price: float) -> None:
        """Move the mark price from ``a`` to ``b`` and liquidate the positions it reaches, in
        path order; the trade price is then ``trade_price``."""
        if a == b:
            return
        falling = b < a
        lo, hi = (b, a) if falling else (a, b)
        while True:
            route = self._liquidatable(book, lo, hi, falling)
            if route is None:
                return
            self.store.prices[book.key] = trade_price
            liq = route.position.liquidation_price
            self._liquidation(route)
            if falling:
                hi = liq
            else:
                lo = liq

    # ------------------------------------------------------------------ funding

    def fund(self, book: SymbolBook, time: int, rate: float, price: float) -> None:
        """Settle one funding event of ``book``'s symbol at ``time``: every open position of
        the symbol pays (or receives) ``qty·price·rate``."""
        self.settle([(0, time, rate, price)], 0, time, [book])

    def settle(self, events: list[tuple[int, int, float, float]], k: int, until: int,
               books: list[SymbolBook]) -> int:
        """Settle ``events[k:]`` (``(book index in books, time, rate, price)`` in time order:
        tuples of numbers, which the garbage collector stops tracking) up to those at
        ``until``; return the index of the first one left."""
        funding = self.account.funding
        log = self.store.funding
        n = len(events)
        while k < n:
            j, time, rate, price = events[k]
            if time > until:
                break
            k += 1
            book = books[j]
            changed = False
            for route in book.routes:
                pos = route.position
                qty = pos.qty
                if qty == 0.0:
                    continue
                got = funding(pos, price, rate)
                trade = route.trade
                trade.funding += got
                trade.pnl += got
                log.extend((time, route.key, rate, price, qty, got))  # a FundingRecord's fields
                changed = True
            if changed:
                self.store.time = time
                book.touch_liquidations()
        return k
    def _liquidatable(
        self, book: SymbolBook, low: float, high: float, falling: bool
    ) -> RouteState | None:
        """The position whose liquidation price the path reaches first in [low, high].

        Falling, only longs can be reached (highest price first); rising, only shorts (lowest
        first). A single point (``low == high``, an open) reaches longs at or above it and
        shorts at or below it, the first route first.
        """
        found = None
        found_p = 0.0
        point = low == high
        for r in book.routes:
            liq = r.position.liquidation_price
            if liq is None:
                continue
            if r.position.qty > 0:
                if point:
                    if liq >= low:
                        return r
                elif falling and low <= liq <= high and (found is None or liq > found_p):
                    found, found_p = r, liq
            elif point:
                if liq <= high:
                    return r
            elif not falling and low <= liq <= high and (found is None or liq < found_p):
                found, found_p = r, liq
        return found

    def _trigger(self, order: Order, at: float, gap: bool) -> None:
        """A waiting order was reached at path price ``at`` (the open when ``gap``)."""
        self._unlist(order)
        if order.type == "limit":
            self._fill(order, at, self.maker_fee)
        else:
            s = self.slippage
            self._fill(order, at * (1.0 + s) if order.side == "buy" else at * (1.0 - s),
                       self.taker_fee)

    def _liquidation(self, route: RouteState) -> None:
        """Close a futures position whose liquidation price was reached: at its bankruptcy
        price, paying the liquidation fee."""
        store = self.store
        pos = route.position
        side = "sell" if pos.qty > 0 else "buy"
        order = Order(
            store.next_order_id(), route, side, "market", "liquidation", abs(pos.qty), None,
            store.time, True,
        )
        store.orders.append(order)
        route.orders.append(order)
        bp = pos.bankruptcy_price
        self._fill(order, pos.entry_price if bp is None else bp, self.account.liquidation_fee)

    # ------------------------------------------------------------------ fills and accounting

    def _fill(self, order: Order, price: float, fee_rate: float) -> None:
        """Execute ``order`` at ``price``: the account prices it, then the position, the open
        trade and the pending orders follow, then the strategy hears about it."""
        store = self.store
        account = self.account
        route = order.route
        pos = route.position
        buy = order.side == "buy"
        qty = order.qty
        increasing = pos.qty == 0.0 or (pos.qty > 0) == buy
        if not increasing:
            size = abs(pos.qty)
            if qty >= size * (1.0 - _DUST):
                qty = size
        elif order.reduce_only:
            # an exit whose position is gone (or flipped): nothing to reduce
            order.status = "cancelled"
            return
        if increasing:
            fee = qty * price * fee_rate
            charge = account.entry(qty, price, fee)
            if charge is None:
                self._reject(order, price, *account.requirement(qty, price, fee))
                return
            fee, delta = charge
        else:
            price = account.exit_price(pos, price)  # futures: never beyond the bankruptcy price
            fee, delta = account.exit(pos, qty, price, qty * price * fee_rate)
        order.status = "filled"
        order.filled_at = store.time
        order.fill_price = price
        order.filled_qty = qty
        order.fee = fee
        store.fills.append((order.id, route.key, order.side, qty, price, fee, store.time))

        was_open = pos.qty != 0.0
        trade = route.trade
        if trade is None:
            trade = route.trade = TradeBook("long" if buy else "short", store.time)
        trade.fee += fee
        size = abs(pos.qty)
        if increasing:
            new_size = size + qty
            # a weighted mean that is exact for one fill (and for fills at one price)
            pos.entry_price += (price - pos.entry_price) * (qty / new_size)
            pos.qty = new_size if buy else -new_size
            trade.entry_qty += qty
            trade.entry_price += (price - trade.entry_price) * (qty / trade.entry_qty)
            if new_size > trade.max_qty:
                trade.max_qty = new_size
        else:
            direction = 1.0 if pos.qty > 0 else -1.0
            remaining = abs(pos.qty) - qty
            trade.exit_qty += qty
            trade.exit_price += (price - trade.exit_price) * (qty / trade.exit_qty)
            pos.qty = direction * remaining if remaining > 0.0 else 0.0
            if pos.qty == 0.0:
                pos.entry_price = 0.0
        account.balance += delta
        trade.pnl += delta
        account.position_changed(pos, qty, price, increasing, size)
        if account.liquidates:
            store.books[route.symbol_key].touch()

        listener = self.listener
        if increasing:
            if not was_open:
                store.open_routes.append(route)
                # entries of the other direction cannot stay pending next to this position
                if route.pending:
                    self._cancel(route, _other_entries(order.side))
                self._submit_queued(route)
                listener.opened(route, order)
            else:
                listener.increased(route, order)
        elif pos.qty == 0.0:
            store.open_routes.remove(route)
            account.position_closed(store.open_routes)
            self.cancel_all(route)
            route.assigned.clear()  # self.buy / stop_loss / ... read None again once flat
            closed = self._close_trade(route, order)
            listener.closed(route, order, closed)
        else:
            listener.reduced(route, order)

    def _submit_queued(self, route: RouteState) -> None:
        sl, tp = route.queued_stop_loss, route.queued_take_profit
        route.queued_stop_loss = route.queued_take_profit = None
        side = "sell" if route.position.qty > 0 else "buy"
        for role, orders in (("stop-loss", sl), ("take-profit", tp)):
            for qty, price in orders or ():
                if route.position.qty == 0.0:
                    return
                self._submit(route, side, qty, price, role)

    def _reject(self, order: Order, price: float, need: float, free: float) -> None:
        order.status = "rejected"
        order.fill_price = None
        what = self.account.needs
        self.store.warnings.append(
            f"order #{order.id} ({order.route.key} {order.side} {order.qty:g} @ {price:g}) "
            f"rejected at {_fmt_time(self.store.time)}: {what} {need:.8g} exceeds the available "
            f"balance {free:.8g}"
        )

    def _close_trade(self, route: RouteState, order: Order) -> ClosedTrade:
        t = route.trade
        route.trade = None
        spec = route.spec
        role = order.role
        closed_by = role if role in ("stop-loss", "take-profit", "liquidation", "end-of-run") else (
            "signal"
        )
        trade = make_trade(  # ClosedTrade's fields, in order
            len(self.store.closed_trades) + 1,  # id
            route.key,
            spec.exchange,
            spec.symbol,
            spec.timeframe,
            spec.strategy,
            t.side,
            t.max_qty,  # qty
            t.entry_time,
            t.entry_price,
            self.store.time,  # exit_time
            t.exit_price,
            t.pnl,
            t.fee,
            closed_by,
            self.account.leverage,
            t.funding,
        )
        self.store.closed_trades.append(trade)
        route.closed_trades.append(trade)
        return trade

    def close_at_end(self, route: RouteState, price: float) -> None:
        """Close an open position at the last close (taker fee, no slippage)."""
        pos = route.position
        if pos.qty == 0.0:
            return
        store = self.store
        order = Order(
            store.next_order_id(), route, "sell" if pos.qty > 0 else "buy", "market", "end-of-run",
            abs(pos.qty), None, store.time, True,
        )
        store.orders.append(order)
        route.orders.append(order)
        self._fill(order, price, self.taker_fee)


def _is_entry(order: Order) -> bool:
    return order.role == "entry"


def _any(order: Order) -> bool:
    return True


# (the next three are functions of their own: a lambda in the method would cost every call of
# it a closure cell)


def _other_entries(side: str) -> Callable[[Order], bool]:
    """Entries of the other side than ``side``."""
    return lambda o: o.role == "entry" and o.side != side


def _side_orders(side: str) -> Callable[[Order], bool]:
    """Entries and exits (not stop-losses or take-profits) of ``side``."""
    return lambda o: o.side == side and o.role in ("entry", "exit")


def _role(role: str) -> Callable[[Order], bool]:
    return lambda o: o.role == role


def _parse_orders(spec: Any, name: str) -> list[tuple[float, float | None]]:
    """``(qty, price)`` or a list of them → ``[(qty, price), ...]`` with checked numbers."""
    if spec is None:
        return []
    items: Iterable[Any]
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and not isinstance(
        spec[0], (tuple, list)
    ):
        items = [spec]
    elif hasattr(spec, "shape") and getattr(spec, "ndim", 0) == 1 and len(spec) == 2:
        items = [tuple(spec)]
    else:
        items = spec
    out = []
    for item in items:
        try:
            qty, price = item
            qty = float(qty)
            price = None if price is None else float(price)
        except (TypeError, ValueError):
            raise StrategyError(
                f"self.{name} must be (qty, price) or a list of (qty, price); got {item!r}"
            ) from None
        if not (qty > 0 and math.isfinite(qty)):
            raise StrategyError(f"self.{name}: qty must be a positive number, got {qty!r}")
        if price is not None and not (price > 0 and math.isfinite(price)):
            raise StrategyError(f"self.{name}: price must be a positive number, got {price!r}")
        out.append((qty, price))
    return out


def check_orders(spec: Any, name: str) -> None:
    """Raise StrategyError when ``self.<name> = spec`` is not (qty, price) or a list of them
    with a positive, finite qty and price (called where the strategy assigns it)."""
    _parse_orders(spec, name)


def _fmt_time(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


__all__ = ["Sandbox", "Listener", "INF"]
