"""Indicator cost inside a backtest: a strategy calling 10 common indicators every bar over one
year of 1h bars, against the same strategy calling none, both through jbt's engine
(``jbt.engine.run_backtest``, which opens ``jbt.indicators.run_cache`` around the run).

Run: ``python bench/bench_indicators.py``. Target: with indicators <= 3x without.
Also printed: the cost of one cached call, and the estimated cost of the same strategy if each
call recomputed the whole history (what engines without a run cache do).
"""

from __future__ import annotations

import argparse
import gc
import time
from types import SimpleNamespace

import numpy as np

import jbt.indicators as ta
from jbt import utils
from jbt.config import BacktestConfig, Config
from jbt.constants import CLOSE, HIGH, LOW, OPEN
from jbt.engine import run_backtest
from jbt.indicators import run_cache
from jbt.results import RouteSpec
from jbt.strategies import Strategy

YEAR_1H = 8_760
WARMUP = 210
HOUR_MS = 3_600_000
T0 = 1_672_531_200_000  # 2023-01-01 00:00 UTC


def random_walk_candles(n: int, seed: int = 42) -> np.ndarray:
    """Seeded random-walk 1h candles, [timestamp, open, close, high, low, volume]."""
    rng = np.random.default_rng(seed)
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.r_[20_000.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    volume = rng.uniform(10, 500, n)
    ts = T0 + HOUR_MS * np.arange(n, dtype=np.float64)
    return np.ascontiguousarray(np.column_stack([ts, open_, close, high, low, volume]))


class _Entries(Strategy):
    """Shared order logic: long entry at market, stop-loss and take-profit from ``risk``."""

    risk = 0.0

    def go_long(self):
        qty = utils.risk_to_qty(self.balance, 1, self.price, self.price - self.risk, precision=6)
        self.buy = qty, self.price
        self.stop_loss = qty, self.price - self.risk
        self.take_profit = qty, self.price + 2 * self.risk

    def should_cancel_entry(self):
        return True

    def update_position(self):
        pass


class Plain(_Entries):
    """Price action only: no indicator."""

    def before(self):
        last = self.candles[-1]
        self.up = last[CLOSE] > last[OPEN] and last[HIGH] - last[CLOSE] < last[CLOSE] - last[OPEN]
        self.risk = 2.0 * (last[HIGH] - last[LOW])

    def should_long(self):
        return self.up


class TenIndicators(_Entries):
    """Ten common indicators, read every bar, the way Jesse strategies call them."""

    def before(self):
        c = self.candles
        self.fast = ta.ema(c, 20)
        self.slow = ta.sma(c, 200)
        self.rsi = ta.rsi(c, 14)
        self.macd = ta.macd(c)
        self.bands = ta.bollinger_bands(c, 20)
        self.risk = 2.0 * ta.atr(c, 14)
        self.adx = ta.adx(c, 14)
        self.stoch = ta.stoch(c)
        self.cci = ta.cci(c, 20)
        self.donchian = ta.donchian(c, 20)

    def should_long(self):
        return (self.fast > self.slow and self.rsi < 70 and self.macd.hist > 0 and self.adx > 20
                and self.stoch.k > self.stoch.d and self.cci > -100
                and self.bands.lowerband < self.price < self.bands.upperband
                and self.price > self.donchian.middleband)


def backtest(strategy: type, candles: np.ndarray):
    config = Config(backtest=BacktestConfig(warmup_candles=WARMUP, fee=0.001))
    start = T0 + WARMUP * HOUR_MS
    end = int(candles[-1, 0]) + HOUR_MS
    return run_backtest(config, [RouteSpec("sim", "BTC-USDT", "1h", strategy.__name__)],
                        {("sim", "BTC-USDT"): candles}, "1h", {strategy.__name__: strategy},
                        start, end)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def naive_seconds(candles: np.ndarray, bars: int, samples: int = 40) -> float:
    """Estimated run time of TenIndicators.before() if every call recomputed the history."""
    total = 0.0
    for k in np.linspace(WARMUP, len(candles) - 1, samples).astype(int):
        # A copy is never served from the run cache: each call computes on all k candles.
        probe = SimpleNamespace(candles=candles[:k].copy())
        t0 = time.perf_counter()
        TenIndicators.before(probe)
        total += time.perf_counter() - t0
    return total / samples * bars


def hit_cost(candles: np.ndarray) -> float:
    full = candles.copy()
    full.flags.writeable = False
    c = full[: len(full) // 2]
    with run_cache(full):
        ta.rsi(c, 14)
        n = 200_000
        t0 = time.perf_counter()
        for _ in range(n):
            ta.rsi(c, 14)
        return (time.perf_counter() - t0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=YEAR_1H, help="bars traded (default 8760)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    candles = random_walk_candles(args.bars + WARMUP)
    plain_result = backtest(Plain, candles)
    ind_result = backtest(TenIndicators, candles)
    plain = best_of(args.repeats, lambda: backtest(Plain, candles))
    with_ind = best_of(args.repeats, lambda: backtest(TenIndicators, candles))
    ratio = with_ind / plain
    naive = naive_seconds(candles, args.bars)

    print(f"jbt engine, {args.bars:,} bars of 1h candles (+{WARMUP} warm-up), best of "
          f"{args.repeats}")
    print(f"  no indicators           {plain * 1e3:9.1f} ms  ({plain / args.bars * 1e6:5.2f} us/bar, "
          f"{len(plain_result.trades)} trades)")
    print(f"  10 indicators / bar     {with_ind * 1e3:9.1f} ms  "
          f"({with_ind / args.bars * 1e6:5.2f} us/bar, {len(ind_result.trades)} trades)")
    print(f"  ratio                   {ratio:9.2f} x   (target <= 3)")
    print(f"  same, recomputed/call   {naive * 1e3:9.1f} ms  (no run cache; estimated from 40 "
          f"sampled bars)")
    print(f"  one cached call         {hit_cost(candles) * 1e9:9.0f} ns  (ta.rsi on a prefix)")


if __name__ == "__main__":
    main()
