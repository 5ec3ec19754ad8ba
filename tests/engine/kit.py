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
    fast_path: bool | None = None,
    funding=None,
    mark=None,
    **backtest,
) -> BacktestResult:
    """Run ``strategy`` on one 1m route; its first call is at the open of bar ``first_call``.

    With ``fast_path`` left as None the run is done twice, on the fast path and walking every
    candle, and the two must decide exactly the same things; the fast-path result is returned.
    """
    backtest.setdefault("fee", 0.0)
    backtest.setdefault("warmup_candles", first_call)
    cfg = Config(backtest=BacktestConfig(**backtest))
    start = int(data[0, 0]) + first_call * M
    end = int(data[-1, 0]) + M

    def once(fast: bool) -> BacktestResult:
        return run_backtest(
            cfg,
            [RouteSpec("sim", "BTC-USDT", timeframe, strategy.__name__)],
            {("sim", "BTC-USDT"): data},
            "1m",
            {strategy.__name__: strategy},
            start,
            end,
            fast_path=fast,
            funding=None if funding is None else {("sim", "BTC-USDT"): funding},
            mark=None if mark is None else {("sim", "BTC-USDT"): mark},
        )

    if fast_path is not None:
        return once(fast_path)
    fast = once(True)
    assert result_signature(fast) == result_signature(once(False)), "fast path != full walk"
    return fast


def fills(result: BacktestResult) -> list[tuple[str, float, float, float, int]]:
    """(side, qty, price, fee, time) of every fill."""
    return [(f.side, f.qty, f.price, f.fee, f.time) for f in result.fills]


def random_walk(n: int, seed: int, *, t0: int = T0, price: float = 100.0,
                vol: float = 0.004) -> np.ndarray:
    """Seeded 1m candles: a random walk with gaps between candles and wicks on both sides."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.r_[price, close[:-1]] * np.exp(rng.normal(0.0, vol / 4, n))  # small gaps
    wick = np.abs(rng.normal(0.0, vol, (2, n))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    ts = t0 + M * np.arange(n, dtype=np.float64)
    return np.column_stack([ts, open_, close, high, low, rng.uniform(1, 5, n)])


def random_trader(seed: int, name: str = "RandomTrader", balances: list | None = None) -> type:
    """A strategy that does something random every bar: market, limit and stop entries, stop
    losses and take profits, scaling in and out, cancelling, closing. Deterministic per seed
    (it draws only in the bar hooks, whose sequence is the same for the same fills). Every
    balance it sees (each bar and on each open/close) is appended to ``balances``."""
    import random

    seen = balances if balances is not None else []

    class RandomTrader(Strategy):
        def setUp(self):
            self.rng = random.Random(seed)

        def _entry_price(self, long: bool) -> float:
            r = self.rng.random()
            p = self.price
            if r < 0.4:
                return p  # market
            step = p * self.rng.uniform(0.001, 0.01)
            if r < 0.7:
                return p - step if long else p + step  # limit
            return p + step if long else p - step  # stop

        def _qty(self, price: float) -> float:
            room = self.available_margin * (self.leverage if self.leverage > 1 else 1)
            return max(room, 0.0) * self.rng.uniform(0.05, 1.2) / price

        def _enter(self, long: bool):
            price = self._entry_price(long)
            qty = self._qty(price)
            if qty <= 0:
                qty = 1e-6
            if long:
                self.buy = qty, price
            else:
                self.sell = qty, price
            sign = 1 if long else -1
            if self.rng.random() < 0.6:
                self.stop_loss = qty, price * (1 - sign * self.rng.uniform(0.002, 0.02))
            if self.rng.random() < 0.6:
                self.take_profit = qty, price * (1 + sign * self.rng.uniform(0.002, 0.02))

        def should_long(self):
            return self.rng.random() < 0.3

        def should_short(self):
            return self.exchange_type == "futures" and self.rng.random() < 0.3

        def go_long(self):
            self._enter(True)

        def go_short(self):
            self._enter(False)

        def should_cancel_entry(self):
            return self.rng.random() < 0.3

        def update_position(self):
            r = self.rng.random()
            pos = self.position
            long = pos.qty > 0
            p = self.price
            if r < 0.08:
                self.liquidate()
            elif r < 0.16:
                add = self._qty(p) * 0.3
                if add > 0:
                    if long:
                        self.buy = add, self._entry_price(True)
                    else:
                        self.sell = add, self._entry_price(False)
            elif r < 0.26:
                part = abs(pos.qty) * self.rng.uniform(0.2, 0.8)
                at = p if self.rng.random() < 0.5 else p * (1.004 if long else 0.996)
                if long:
                    self.sell = part, at
                else:
                    self.buy = part, at
            elif r < 0.34:
                k = self.rng.uniform(0.002, 0.02)
                self.stop_loss = abs(pos.qty), p * (1 - k if long else 1 + k)
            elif r < 0.42:
                k = self.rng.uniform(0.002, 0.02)
                self.take_profit = abs(pos.qty), p * (1 + k if long else 1 - k)

        def after(self):
            seen.append(self.balance)

        def on_open_position(self, order):
            seen.append(self.balance)

        def on_close_position(self, order, trade):
            seen.append(self.balance)

    RandomTrader.__name__ = name
    return RandomTrader


def result_signature(result: BacktestResult) -> tuple:
    """Everything a run decided (orders, fills, trades, equity, balance), for equality checks."""
    return (
        [tuple(vars(o).values()) for o in result.orders],
        [tuple(vars(f).values()) for f in result.fills],
        [tuple(vars(t).values()) for t in result.trades],
        list(result.equity_time),
        list(result.equity),
        result.finishing_balance,
        list(result.extra.get("warnings", [])),
        [tuple(vars(f).values()) for f in result.funding],
    )
