"""Helpers for the engine tests: hand-written 1m candles and tiny scripted strategies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import BacktestResult, RouteSpec
from jbt.strategies import Strategy

#: 2020-01-01 00:00 UTC
T0 = 1_577_836_800_000
M = 60_000


def candles(*ohlc: tuple[float, float, float, float], t0: int = T0, step: int = M) -> np.ndarray:
    """Rows given as (open, high, low, close), one per minute from ``t0``."""
    return np.array(
        [[t0 + i * step, o, c, h, low, 1.0] for i, (o, h, low, c) in enumerate(ohlc)],
        dtype=np.float64,
    )


def flat(price: float, n: int) -> list[tuple[float, float, float, float]]:
    return [(price, price, price, price)] * n


def scripted(
    *,
    long: Callable | None = None,
    short: Callable | None = None,
    update: dict[int, Callable] | None = None,
    cancel_entry: bool = False,
    name: str = "Scripted",
) -> type:
    """A strategy that enters on its first call (``long``/``short`` act as go_long/go_short)
    and runs ``update[i]`` in update_position at call ``i``."""
    steps = update or {}

    class Scripted(Strategy):
        def should_long(self):
            return long is not None and self.index == 0

        def should_short(self):
            return short is not None and self.index == 0

        def go_long(self):
            long(self)

        def go_short(self):
            short(self)

        def should_cancel_entry(self):
            return cancel_entry

        def update_position(self):
            fn = steps.get(self.index)
            if fn is not None:
                fn(self)

    Scripted.__name__ = name
    return Scripted


def run(
    strategy: type,
    data: np.ndarray,
    *,
    first_call: int = 1,
    timeframe: str = "1m",
    fast_path: bool = True,
    **backtest,
) -> BacktestResult:
    """Run ``strategy`` on one 1m route; its first call is at the open of bar ``first_call``."""
    backtest.setdefault("fee", 0.0)
    backtest.setdefault("warmup_candles", first_call)
    cfg = Config(backtest=BacktestConfig(**backtest))
    start = int(data[0, 0]) + first_call * M
    end = int(data[-1, 0]) + M
    return run_backtest(
        cfg,
        [RouteSpec("sim", "BTC-USDT", timeframe, strategy.__name__)],
        {("sim", "BTC-USDT"): data},
        "1m",
        {strategy.__name__: strategy},
        start,
        end,
        fast_path=fast_path,
    )


def fills(result: BacktestResult) -> list[tuple[str, float, float, float, int]]:
    """(side, qty, price, fee, time) of every fill."""
    return [(f.side, f.qty, f.price, f.fee, f.time) for f in result.fills]
