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

from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP, VOLUME
from jbt.errors import StrategyError
from jbt.timeframes import bar_open, normalize

if TYPE_CHECKING:
    from jbt.exchanges.sandbox import Sandbox
    from jbt.store import RouteState, Store


class StrategyContext:
    """One route's window on its run."""

    __slots__ = ("route", "store", "broker", "bars", "closes", "candles", "n", "n_first", "hp",
                 "entry", "strategies", "extra_candles", "forming", "_candles", "_bases",
                 "_formed")

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
        bases: Mapping[tuple[str, str], tuple[np.ndarray, int]] | None = None,
        forming: bool = False,
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
        #: get_candles() default: add the bar still forming (config ``forming_candles``)
        self.forming = forming
        self._candles = candles
        #: per (exchange, symbol): its base candles and their length in ms (forming bars)
        self._bases = bases or {}
        #: per candle key: the last bars-with-forming-bar made, and the time it was made for
        self._formed: dict[tuple[str, str, str], tuple[int, np.ndarray]] = {}

    def closed_candles(self, exchange: str, symbol: str, timeframe: str,
                       forming: bool | None = None) -> np.ndarray:
        """The bars of (exchange, symbol, timeframe) closed at the current time; with
        ``forming`` (None: the run's setting) followed by the bar still forming then, if one
        has begun (see :meth:`forming_bar`)."""
        key = (exchange, symbol, normalize(timeframe))
        entry = self._candles.get(key)
        if entry is None:
            raise StrategyError(
                f"get_candles({exchange!r}, {symbol!r}, {timeframe!r}): not a route or an "
                f"extra candle; add ({exchange!r}, {symbol!r}, {timeframe!r}) to extra_candles "
                "in routes.py"
            )
        bars, closes = entry
        t = self.store.time
        closed = bars[: int(np.searchsorted(closes, t, side="right"))]
        if not (self.forming if forming is None else forming):
            return closed
        made = self._formed.get(key)
        if made is not None and made[0] == t:
            return made[1]
        bar = self.forming_bar(key, t)
        if bar is None:
            out = closed
        else:
            out = np.empty((len(closed) + 1, 6), dtype=np.float64)
            out[:-1] = closed
            out[-1] = bar
            out.flags.writeable = False
        self._formed[key] = (t, out)
        return out

    def forming_bar(self, key: tuple[str, str, str], t: int) -> np.ndarray | None:
        """The bar of ``key`` that has begun but not closed at ``t``, made of the base candles
        closed by ``t`` only (its open, their highest high, lowest low, last close and summed
        volume; stamped with the bar's open time); None when no base candle of it has closed
        (``t`` is on the timeframe's boundary)."""
        base, base_ms = self._bases[(key[0], key[1])]
        b = int(bar_open(t, key[2]))
        ts = base[:, TIMESTAMP]
        i0 = int(np.searchsorted(ts, b, side="left"))
        i1 = int(np.searchsorted(ts, t - base_ms, side="right"))  # closed by t
        if i1 <= i0:
            return None
        rows = base[i0:i1]
        # the volume summed as the closed bars' (jbt.timeframes.aggregate): once complete, the
        # bar equals the closed one
        return np.array([b, rows[0, OPEN], rows[-1, CLOSE], rows[:, HIGH].max(),
                         rows[:, LOW].min(), np.add.reduceat(rows[:, VOLUME], [0])[0]])


__all__ = ["StrategyContext"]
