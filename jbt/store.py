"""The per-run state of one backtest: clock, prices, orders, positions and the shared balance.

A :class:`Store` is created by :func:`jbt.engine.run_plan` for one run and thrown away with
it; nothing here is module-level, so two runs in one process (API threads, an optimizer) never
see each other. The rules that change this state (fills, fees, liquidations) live in
:mod:`jbt.exchanges.sandbox` and :mod:`jbt.exchanges.accounts` (the balance); this module only
holds it.

Objects handed to strategies (:class:`Order`, :class:`Position`) are the live state objects:
read them, do not assign to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jbt.results import ClosedTrade, RouteSpec

if TYPE_CHECKING:
    from jbt.exchanges.accounts import Account

INF = float("inf")


class Order:
    """One order of a route. ``status`` is "open", "filled", "cancelled" or "rejected"."""

    __slots__ = (
        "id",
        "route",
        "symbol_key",
        "side",
        "type",
        "role",
        "qty",
        "price",
        "status",
        "created_at",
        "filled_at",
        "fill_price",
        "filled_qty",
        "fee",
        "reduce_only",
    )

    def __init__(
        self,
        id: int,
        route: RouteState,
        side: str,
        type: str,
        role: str,
        qty: float,
        price: float | None,
        created_at: int,
        reduce_only: bool,
    ) -> None:
        self.id = id
        self.route = route
        self.symbol_key = route.symbol_key
        self.side = side
        self.type = type
        self.role = role
        self.qty = qty
        self.price = price
        self.status = "open"
        self.created_at = created_at
        self.filled_at: int | None = None
        self.fill_price: float | None = None
        self.filled_qty = 0.0
        self.fee = 0.0
        self.reduce_only = reduce_only

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def is_sell(self) -> bool:
        return self.side == "sell"

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def is_filled(self) -> bool:
        return self.status == "filled"

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    def __repr__(self) -> str:
        price = "market" if self.price is None else f"{self.price:g}"
        return (
            f"Order(#{self.id} {self.role} {self.side} {self.type} {self.qty:g} @ {price}, "
            f"{self.status})"
        )


class Position:
    """A route's position (its sub-account). ``qty`` is signed: negative for a short."""

    __slots__ = ("route", "qty", "entry_price", "liquidation_price", "bankruptcy_price",
                 "margin", "_prices", "_key")

    def __init__(self, route: RouteState, prices: dict[tuple[str, str], float]) -> None:
        self.route = route
        self.qty = 0.0
        self.entry_price = 0.0
        #: futures only: the price at which the position is liquidated (None when it cannot be).
        self.liquidation_price: float | None = None
        #: futures only: the price at which its margin is gone (where a liquidation fills, and
        #: the worst price any exit of it fills at).
        self.bankruptcy_price: float | None = None
        #: futures only: the position's isolated margin (entries' margin, plus funding).
        self.margin = 0.0
        self._prices = prices
        self._key = route.symbol_key

    @property
    def current_price(self) -> float:
        return self._prices[self._key]

    @property
    def is_open(self) -> bool:
        return self.qty != 0.0

    @property
    def is_close(self) -> bool:
        return self.qty == 0.0

    @property
    def is_long(self) -> bool:
        return self.qty > 0.0

    @property
    def is_short(self) -> bool:
        return self.qty < 0.0

    @property
    def type(self) -> str:
        return "long" if self.qty > 0 else "short" if self.qty < 0 else "close"

    @property
    def value(self) -> float:
        """Notional value at the current price."""
        return abs(self.qty) * self._prices[self._key]

    @property
    def pnl(self) -> float:
        """Unrealized profit at the current price, before the exit fee."""
        if self.qty == 0.0:
            return 0.0
        return self.qty * (self._prices[self._key] - self.entry_price)

    @property
    def pnl_percentage(self) -> float:
        if self.qty == 0.0:
            return 0.0
        return self.pnl / (abs(self.qty) * self.entry_price) * 100.0

    def __repr__(self) -> str:
        return f"Position({self.type} {self.qty:g} @ {self.entry_price:g})"


class TradeBook:
    """Running totals of the trade a route has open (from its first entry fill to flat)."""

    __slots__ = (
        "side",
        "entry_time",
        "max_qty",
        "entry_qty",
        "entry_price",
        "exit_qty",
        "exit_price",
        "fee",
        "funding",
        "pnl",
    )

    def __init__(self, side: str, entry_time: int) -> None:
        self.side = side
        self.entry_time = entry_time
        self.max_qty = 0.0
        self.entry_qty = 0.0
        #: size-weighted mean price of the entry fills
        self.entry_price = 0.0
        self.exit_qty = 0.0
        #: size-weighted mean price of the exit fills
        self.exit_price = 0.0
        self.fee = 0.0
        #: funding received (negative when paid)
        self.funding = 0.0
        #: sum of every balance change the trade caused (so Σ pnl == balance change exactly)
        self.pnl = 0.0


class RouteState:
    """What the sandbox keeps for one route during a run: its position and orders."""

    __slots__ = ("index", "spec", "key", "symbol_key", "position", "orders", "pending",
                 "queued_stop_loss", "queued_take_profit", "assigned", "trade", "closed_trades")

    def __init__(self, index: int, spec: RouteSpec, prices: dict[tuple[str, str], float]) -> None:
        self.index = index
        self.spec = spec
        self.key = spec.key
        self.symbol_key = (spec.exchange, spec.symbol)
        self.position = Position(self, prices)
        #: every order of the route, in creation order
        self.orders: list[Order] = []
        #: the route's orders still waiting in the sandbox
        self.pending: list[Order] = []
        #: stop-loss / take-profit declared while flat: submitted when the entry fills
        self.queued_stop_loss: list[tuple[float, float | None]] | None = None
        self.queued_take_profit: list[tuple[float, float | None]] | None = None
        #: what the strategy last assigned to self.buy / sell / stop_loss / take_profit
        self.assigned: dict[str, Any] = {}
        self.trade: TradeBook | None = None
        self.closed_trades: list[ClosedTrade] = []

    def has_pending_entry(self) -> bool:
        for o in self.pending:
            if o.role == "entry":
                return True
        return False


class SymbolBook:
    """Pending orders and liquidatable positions of one (exchange, symbol), for the sandbox.

    ``fall_trigger`` is the highest price at which something fills when the price falls (buy
    limits, sell stops, long liquidations); ``rise_trigger`` the lowest at which something fills
    when it rises. A stretch of candles whose low stays above ``fall_trigger`` and whose high
    stays below ``rise_trigger`` cannot fill anything: the fast path skips it. The sandbox calls
    :meth:`touch` after every change, which also keeps ``Store.n_active`` (how many symbols
    have something that can fill) up to date, so a quiet bar costs one comparison.
    """

    __slots__ = ("key", "index", "orders", "routes", "fall_trigger", "rise_trigger", "active",
                 "order_fall", "order_rise", "liq_fall", "liq_rise", "_store")

    def __init__(self, key: tuple[str, str], index: int, store: Store) -> None:
        self.key = key
        self.index = index
        self.orders: list[Order] = []
        self.routes: list[RouteState] = []
        self.fall_trigger = -INF
        self.rise_trigger = INF
        #: the same for the pending orders alone and for the liquidation prices alone (with
        #: mark-price candles, orders are checked against trade prices and liquidations
        #: against mark prices)
        self.order_fall = self.liq_fall = -INF
        self.order_rise = self.liq_rise = INF
        self.active = False
        self._store = store

    def touch(self) -> None:
        """Recompute the triggers after orders or positions changed."""
        fall, rise = -INF, INF
        for o in self.orders:
            p = o.price
            if (o.side == "buy") == (o.type == "limit"):  # buy limit or sell stop
                if p > fall:
                    fall = p
            elif p < rise:
                rise = p
        self.order_fall = fall
        self.order_rise = rise
        self.touch_liquidations()

    def touch_liquidations(self) -> None:
        """Recompute the triggers after liquidation prices alone changed (funding)."""
        lfall, lrise = -INF, INF
        for r in self.routes:
            liq = r.position.liquidation_price
            if liq is not None:
                if r.position.qty > 0:
                    if liq > lfall:
                        lfall = liq
                elif liq < lrise:
                    lrise = liq
        self.liq_fall = lfall
        self.liq_rise = lrise
        fall, rise = self.order_fall, self.order_rise
        self.fall_trigger = fall if fall > lfall else lfall
        self.rise_trigger = rise if rise < lrise else lrise
        active = self.fall_trigger != -INF or self.rise_trigger != INF
        if active != self.active:
            self._store.n_active += 1 if active else -1
            self.active = active


class Store:
    """The state of one run. Created fresh by the engine; owned by nobody else."""

    def __init__(self, account: Account) -> None:
        #: the balance and what fills do to it (spot or futures rules)
        self.account = account
        #: the clock (epoch ms): the bar open during strategy calls, the candle during fills
        self.time = 0
        #: current price per (exchange, symbol): the open at a call, the path point at a fill
        self.prices: dict[tuple[str, str], float] = {}
        self.routes: list[RouteState] = []
        self.books: dict[tuple[str, str], SymbolBook] = {}
        #: how many symbols have a pending order or a liquidation price
        self.n_active = 0
        self.orders: list[Order] = []
        #: fills: (order id, route key, side, qty, price, fee, time)
        self.fills: list[tuple[int, str, str, float, float, float, int]] = []
        self.closed_trades: list[ClosedTrade] = []
        #: funding settled on open positions, in time order: the fields of each FundingRecord
        #: (time, route key, rate, price, qty, amount) one after the other, six values a
        #: payment (no object for the garbage collector to track per payment); the result
        #: makes the records
        self.funding: list[Any] = []
        self.warnings: list[str] = []
        #: routes with an open position (for marking equity to market cheaply)
        self.open_routes: list[RouteState] = []
        #: shared by every route's strategy (Jesse's shared_vars), per run
        self.shared_vars: dict[str, Any] = {}
        self._next_order_id = 1

    def next_order_id(self) -> int:
        i = self._next_order_id
        self._next_order_id = i + 1
        return i

    def equity(self) -> float:
        """Balance marked to market at the current prices."""
        account = self.account
        eq = account.balance
        for r in self.open_routes:
            p = r.position
            eq += account.value(p.qty, p.entry_price, self.prices[r.symbol_key], p.margin)
        return eq
