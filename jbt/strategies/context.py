"""What a strategy sees of its run: one :class:`StrategyContext` per route, built by the engine
and handed to the strategy once (:meth:`jbt.strategies.Strategy._bind`) before ``setUp``.

Every property of :class:`~jbt.strategies.Strategy` reads through it: the clock and prices
(the run's :class:`~jbt.store.Store`), the broker (the run's
:class:`~jbt.exchanges.sandbox.Sandbox`), the route's state (position, orders), its bars and the
closed prefix of them, and the hyperparameters of the run. The engine advances ``n`` and
``candles`` each bar; nothing else writes into a strategy from outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from jbt.errors import StrategyError
from jbt.timeframes import normalize

if TYPE_CHECKING:
    from jbt.exchanges.sandbox import Sandbox
    from jbt.store import RouteState, Store


class StrategyContext:
    """One route's window on its run."""

    __slots__ = ("route", "store", "broker", "bars", "closes", "candles", "n", "n_first", "hp",
                 "entry", "strategies", "extra_candles", "_candles")

    def __init__(
        self,
        route: RouteState,
        store: Store,
        broker: Sandbox,
        bars: np.ndarray,
        closes: np.ndarray,
        n_first: int,
        hp: dict[str, Any],
        candles: Mapping[tuple[str, str, str], tuple[np.ndarray, np.ndarray]],
        extra_candles: tuple[tuple[str, str, str], ...],
        strategies: list[Any],
    ) -> None:
        #: the route's position and orders (the sandbox's record of it)
        self.route = route
        #: the run's clock (``store.time``), prices, balance and shared variables
        self.store = store
        #: the simulated exchange orders go to
        self.broker = broker
        #: every bar of the route (warm-up included), read-only, and each bar's close time
        self.bars = bars
        self.closes = closes
        #: how many bars have closed, and ``bars[:n]`` (what ``self.candles`` is)
        self.n = n_first
        self.candles = bars[:n_first]
        #: ``n`` at the route's first call (``self.index`` counts from it)
        self.n_first = n_first
        #: the hyperparameter values of this run
        self.hp = hp
        #: while ``go_long()``/``go_short()`` runs: the orders it declared, else None
        self.entry: dict[str, Any] | None = None
        #: the strategy of every route of the run, in route order (one list for the run)
        self.strategies = strategies
        #: the run's ``extra_candles`` (exchange, symbol, timeframe)
        self.extra_candles = extra_candles
        self._candles = candles

    def closed_candles(self, exchange: str, symbol: str, timeframe: str) -> np.ndarray:
        """The bars of (exchange, symbol, timeframe) closed at the current time."""
        key = (exchange, symbol, normalize(timeframe))
        entry = self._candles.get(key)
        if entry is None:
            raise StrategyError(
                f"get_candles({exchange!r}, {symbol!r}, {timeframe!r}): not a route or an "
                f"extra candle; add ({exchange!r}, {symbol!r}, {timeframe!r}) to extra_candles "
                "in routes.py"
            )
        bars, closes = entry
        return bars[: int(np.searchsorted(closes, self.store.time, side="right"))]


__all__ = ["StrategyContext"]
