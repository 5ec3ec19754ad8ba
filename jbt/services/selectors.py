"""Jesse's ``jesse.services.selectors``: the routes, positions and strategies of the run.

These read the run the calling strategy belongs to, so they work inside strategy code (a hook,
or a helper function a hook calls), where Jesse's work on its global router. Outside a running
strategy they raise a one-line error.
"""

from __future__ import annotations

import sys
from typing import Any

from jbt.errors import StrategyError


def _strategy() -> Any:
    """The jbt strategy whose code is running: the nearest ``self`` up the call stack."""
    from jbt.strategies import Strategy

    frame = sys._getframe(2)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Strategy) and candidate.__dict__.get("_route") is not None:
            return candidate
        frame = frame.f_back
    raise StrategyError(
        "jbt.services.selectors works inside a running strategy only (call it from a hook "
        "such as should_long or before)"
    )


def get_all_trading_routes() -> list:
    """Every trading route of the run (``exchange``, ``symbol``, ``timeframe``,
    ``strategy_name``, ``strategy``), in routes.py order."""
    return _strategy().routes


def get_all_routes() -> list:
    """The trading routes followed by the data routes (``extra_candles``)."""
    s = _strategy()
    return [*s.routes, *s.data_routes]


def get_route(exchange: str, symbol: str) -> Any:
    """The first trading route of ``exchange`` ``symbol``, or None."""
    return next((r for r in _strategy().routes if r.exchange == exchange and r.symbol == symbol),
                None)


def get_strategy(exchange: str, symbol: str) -> Any:
    """The strategy instance of the first route trading ``exchange`` ``symbol``."""
    route = get_route(exchange, symbol)
    if route is None:
        raise StrategyError(f"get_strategy: no route trades {exchange} {symbol}")
    return route.strategy


def get_position(exchange: str, symbol: str) -> Any:
    """The position of the first route trading ``exchange`` ``symbol`` (None without one)."""
    route = get_route(exchange, symbol)
    return None if route is None else route.strategy.position


def get_current_price(exchange: str, symbol: str) -> float:
    """The current price of ``symbol``."""
    position = get_position(exchange, symbol)
    if position is None:
        raise StrategyError(f"get_current_price: no route trades {exchange} {symbol}")
    return position.current_price


def get_orders(exchange: str, symbol: str) -> list:
    """The orders of every route trading ``exchange`` ``symbol``, in creation order."""
    orders = [o for r in _strategy().routes if r.exchange == exchange and r.symbol == symbol
              for o in r.strategy.orders]
    return sorted(orders, key=lambda o: o.id)


def get_time() -> int:
    """The current time, epoch ms."""
    return _strategy().time


__all__ = ["get_all_routes", "get_all_trading_routes", "get_current_price", "get_orders",
           "get_position", "get_route", "get_strategy", "get_time"]
