"""The base class every strategy inherits: Jesse's vocabulary, synchronous, per route.

A strategy runs once per bar of its route, at the bar's open time ``t``. It sees closed bars
only: ``self.candles[-1]`` closed at ``t`` and ``self.price`` is the open of the bar forming at
``t``. Each bar the engine calls, in Jesse's order::

    before()
    if the position is flat and an entry order is pending:
        should_cancel_entry() -> cancel it, on_cancel()
    if the position is open:
        update_position()
    if the position is flat and nothing is pending (also when update_position() has just
    closed it: a reversal in the same bar):
        should_short(), should_long() -> go_long() or go_short() -> filters()
        (shorts: futures only; both True: the long; a False filter drops the entry)
    after()
    update_chart()

Orders are declared by assignment: ``self.buy = qty, price`` (or a list of such tuples),
``self.sell = ...``, ``self.stop_loss = qty, price``, ``self.take_profit = qty, price``;
``self.liquidate()`` closes the position at market. The type follows from the price (see
:mod:`jbt.exchanges.sandbox`). Assigning replaces what the same attribute placed before;
assigning ``None`` cancels it. Inside ``go_long``/``go_short`` the entries are placed when the
hook returns, and a stop-loss/take-profit declared there waits until the entry fills.

``on_open_position(order)``, ``on_increased_position(order)``, ``on_reduced_position(order)`` and
``on_close_position(order, trade)`` run right after the fill that caused them, with
``self.price`` at the fill's point on the price path (the other routes' ``on_route_*`` hooks
first; a close also calls ``on_cancel()`` first); ``before_terminate()`` runs once at the end
before open positions are closed, ``terminate()`` after. The order is Jesse's (see
:mod:`jbt.engine`) but where the README's porting section says otherwise.

Everything the strategy reads comes through one :class:`~jbt.strategies.context.StrategyContext`
the engine hands over once (``_bind``) before ``setUp()``: the clock, the broker, the route's
candles and state. The engine writes nothing else into a strategy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.errors import StrategyError
from jbt.exchanges.sandbox import check_orders
from jbt.strategies._jesse_compat import JesseCompat, unsigned
from jbt.strategies.context import StrategyContext

_NO_CANDLES = np.empty((0, 6))
_NO_CANDLES.flags.writeable = False


class Strategy(JesseCompat):
    """Inherit from this and implement at least ``should_long`` and ``go_long``."""

    def __init__(self) -> None:
        #: the strategy's own variables, kept between bars
        self.vars: dict[str, Any] = {}
        #: hyperparameter values of the run: the declared defaults, overridden per run
        self.hp: dict[str, Any] = {}
        #: the run as this strategy sees it; given by the engine (``_bind``) before setUp
        self._ctx: StrategyContext | None = None

    def _bind(self, context: StrategyContext) -> None:
        """Called once by the engine, before ``setUp()``: the route and run to work in."""
        self._ctx = context
        self.hp = context.hp

    # ------------------------------------------------------------------ hooks

    def setUp(self) -> None:  # noqa: N802 - the plan's name
        """Once, before the first bar."""

    def before(self) -> None:
        """Every bar, first."""

    def after(self) -> None:
        """Every bar, last."""

    def should_long(self) -> bool:
        return False

    def should_short(self) -> bool:
        return False

    def go_long(self) -> None:
        raise StrategyError(f"{type(self).__name__}.should_long() returned True but go_long() is "
                            "not implemented")

    def go_short(self) -> None:
        raise StrategyError(f"{type(self).__name__}.should_short() returned True but go_short() "
                            "is not implemented")

    def should_cancel_entry(self) -> bool:
        """Asked each bar while an entry order waits and no position is open; True cancels
        the entries (then on_cancel(), and the entry decision in the same bar)."""
        return True

    def update_position(self) -> None:
        """Every bar while a position is open. If it closes the position at market, the route
        decides on an entry again in the same bar (should_short/should_long)."""

    def on_open_position(self, order) -> None:
        """An entry filled and opened the position."""

    def on_increased_position(self, order) -> None:
        """Another entry filled and added to the open position."""

    def on_reduced_position(self, order) -> None:
        """An exit filled part of the position."""

    def on_close_position(self, order, trade) -> None:
        """The position is flat; ``trade`` is the :class:`jbt.results.ClosedTrade`."""

    def terminate(self) -> None:
        """Once, after the last bar (open positions are already closed; before_terminate()
        ran before they were)."""

    def filters(self) -> list[Any]:
        """Entry filters (Jesse's): methods returning bool, e.g. ``[self.trend_is_up]``.

        They run after ``go_long()``/``go_short()`` declared the orders (so a filter can read
        ``self.buy``, ``self.stop_loss``, ...); if one returns False the entry and the orders it
        declared are dropped for this bar."""
        return []

    def hyperparameters(self) -> list[dict[str, Any]]:
        """``[{"name": "fast", "type": int, "min": 5, "max": 50, "default": 20}, ...]``."""
        return []

    # ------------------------------------------------------------------ orders

    @property
    def buy(self) -> Any:
        return self._ctx.route.assigned.get("buy")

    @buy.setter
    def buy(self, value: Any) -> None:
        self._assign("buy", value)

    @property
    def sell(self) -> Any:
        return self._ctx.route.assigned.get("sell")

    @sell.setter
    def sell(self, value: Any) -> None:
        self._assign("sell", value)

    @property
    def stop_loss(self) -> Any:
        return self._ctx.route.assigned.get("stop_loss")

    @stop_loss.setter
    def stop_loss(self, value: Any) -> None:
        self._assign("stop_loss", value)

    @property
    def take_profit(self) -> Any:
        return self._ctx.route.assigned.get("take_profit")

    @take_profit.setter
    def take_profit(self, value: Any) -> None:
        self._assign("take_profit", value)

    def _assign(self, name: str, value: Any) -> None:
        ctx = self._ctx
        if ctx is None:
            raise StrategyError(f"self.{name} can only be set while the strategy runs")
        value = unsigned(value)  # Jesse's signed quantities (negative for shorts)
        route = ctx.route
        if ctx.entry is not None:  # inside go_long()/go_short(): placed when it returns
            check_orders(value, name)  # a bad qty or price fails here, at the strategy's line
            route.assigned[name] = value
            ctx.entry[name] = value
            return
        route.assigned[name] = value
        if name == "buy" or name == "sell":
            ctx.broker.set_side_orders(route, name, value)
        else:
            ctx.broker.set_exit_orders(route, "stop-loss" if name == "stop_loss" else
                                       "take-profit", value)

    def liquidate(self) -> None:
        """Close the open position at market now; while flat, cancel the pending entry."""
        ctx = self._ctx
        ctx.broker.liquidate(ctx.route)

    # ------------------------------------------------------------------ read-only state

    @property
    def candles(self) -> np.ndarray:
        """The route's closed bars (warm-up included), oldest first: a read-only prefix view of
        the run's bars (never a copy); ``candles[-1]`` closed at ``self.time``."""
        ctx = self._ctx
        return _NO_CANDLES if ctx is None else ctx.candles

    @property
    def index(self) -> int:
        """How many bars the strategy has been called for (0 on the first call)."""
        ctx = self._ctx
        return ctx.n - ctx.n_first

    def get_candles(self, exchange: str, symbol: str, timeframe: str,
                    forming: bool | None = None) -> np.ndarray:
        """Closed bars of a route or of ``extra_candles`` at the current time. With
        ``forming=True`` (default: the config's ``forming_candles``, false) they end with the
        bar still forming, if one has begun: Jesse's view of a longer timeframe, made only of
        the base candles closed by now."""
        return self._ctx.closed_candles(exchange, symbol, timeframe, forming)

    @property
    def current_candle(self) -> np.ndarray:
        """The last closed bar."""
        return self.candles[-1]

    @property
    def open(self) -> float:
        """Open of the last closed bar."""
        ctx = self._ctx
        return float(ctx.bars[ctx.n - 1, OPEN])

    @property
    def close(self) -> float:
        """Close of the last closed bar."""
        ctx = self._ctx
        return float(ctx.bars[ctx.n - 1, CLOSE])

    @property
    def high(self) -> float:
        ctx = self._ctx
        return float(ctx.bars[ctx.n - 1, HIGH])

    @property
    def low(self) -> float:
        ctx = self._ctx
        return float(ctx.bars[ctx.n - 1, LOW])

    @property
    def price(self) -> float:
        """The current price: the forming bar's open (the fill's path point inside hooks)."""
        ctx = self._ctx
        return ctx.store.prices[ctx.route.symbol_key]

    @property
    def time(self) -> int:
        """The current time, epoch ms (the forming bar's open)."""
        return self._ctx.store.time

    @property
    def balance(self) -> float:
        """Spot: the free quote balance; futures: the wallet (realized PnL and fees)."""
        return self._ctx.store.account.balance

    @property
    def available_margin(self) -> float:
        """What new entries can use: spot, the free balance; futures, the wallet minus the
        margin held by open positions."""
        return self._ctx.store.account.available

    @property
    def position(self):
        """This route's :class:`jbt.store.Position` (qty, entry_price, pnl, is_open, ...)."""
        return self._ctx.route.position

    @property
    def is_long(self) -> bool:
        return self._ctx.route.position.qty > 0

    @property
    def is_short(self) -> bool:
        return self._ctx.route.position.qty < 0

    @property
    def is_open(self) -> bool:
        return self._ctx.route.position.qty != 0

    @property
    def is_close(self) -> bool:
        return self._ctx.route.position.qty == 0

    @property
    def orders(self) -> list:
        """This route's orders so far (:class:`jbt.store.Order`), in creation order."""
        return list(self._ctx.route.orders)

    @property
    def entry_orders(self) -> list:
        return [o for o in self._ctx.route.pending if o.role == "entry"]

    @property
    def trades(self) -> list:
        """This route's closed trades so far."""
        return list(self._ctx.route.closed_trades)

    @property
    def shared_vars(self) -> dict[str, Any]:
        """A dict shared by every route of this run (not between runs)."""
        return self._ctx.store.shared_vars

    @property
    def fee_rate(self) -> float:
        """The taker fee (what a market order pays)."""
        return self._ctx.broker.taker_fee

    @property
    def exchange_type(self) -> str:
        """"spot" or "futures" (config ``backtest.type``)."""
        return self._ctx.store.account.kind

    @property
    def leverage(self) -> float:
        return self._ctx.store.account.leverage

    @property
    def exchange(self) -> str:
        return self._ctx.route.spec.exchange

    @property
    def symbol(self) -> str:
        return self._ctx.route.spec.symbol

    @property
    def timeframe(self) -> str:
        return self._ctx.route.spec.timeframe

    @property
    def is_backtesting(self) -> bool:
        return True
