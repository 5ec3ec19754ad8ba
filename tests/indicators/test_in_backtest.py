"""Done-means 2 through the real engine: a strategy calls every indicator (and variants) on
``self.candles`` at every bar of a ``run_backtest``; at random bars k the value it got equals a
fresh computation on a copy of the closed candles up to k, and it came from the run cache."""

from __future__ import annotations

import numpy as np
import pytest
from indicator_data import CALLS, STANDARD, assert_same, random_walk_candles, scalar

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import RouteSpec
from jbt.strategies import Strategy

T0 = 1_672_531_200_000  # 2023-01-01 00:00 UTC
HOUR = 3_600_000
WARMUP = 50
BARS = 700
CHECK = sorted({0, 1, 2, 33, BARS - 1, *np.random.default_rng(2024).integers(0, BARS, 8)})


def hourly_candles() -> np.ndarray:
    c = random_walk_candles(WARMUP + BARS, seed=5)
    c[:, 0] = T0 + HOUR * np.arange(len(c), dtype=np.float64)
    return c


@pytest.fixture(scope="module")
def recorded():
    """{bar index: (closed candles, {case: (value, series)})} seen inside the run."""
    log: dict[int, tuple[np.ndarray, dict]] = {}

    class EveryIndicator(Strategy):
        def before(self):
            got = {case: (scalar(STANDARD[name], self.candles, **kw),
                          STANDARD[name](self.candles, sequential=True, **kw))
                   for case, (name, kw) in CALLS.items()}
            if self.index in CHECK:
                log[self.index] = (np.array(self.candles), got)

        def should_long(self):
            return False

        def should_cancel_entry(self):
            return True

        def update_position(self):
            pass

    candles = hourly_candles()
    config = Config(backtest=BacktestConfig(warmup_candles=WARMUP, fee=0.001))
    run_backtest(config, [RouteSpec("sim", "BTC-USDT", "1h", "EveryIndicator")],
                 {("sim", "BTC-USDT"): candles}, "1h", {"EveryIndicator": EveryIndicator},
                 T0 + WARMUP * HOUR, T0 + (WARMUP + BARS) * HOUR)
    return candles, log


def test_the_strategy_saw_the_closed_candles_at_every_checked_bar(recorded):
    candles, log = recorded
    assert sorted(log) == CHECK
    for k, (closed, _) in log.items():
        # at bar k the last closed candle is the one before the k-th traded bar's open
        np.testing.assert_array_equal(closed, candles[:WARMUP + k])


@pytest.mark.parametrize("case", sorted(CALLS))
def test_value_in_the_backtest_equals_a_fresh_computation(recorded, case):
    name, kw = CALLS[case]
    f = STANDARD[name]
    _, log = recorded
    for _k, (closed, got) in sorted(log.items()):
        value, series = got[case]
        fresh = closed.copy()
        assert_same(value, scalar(f, fresh, **kw))
        assert_same(series, f(fresh, sequential=True, **kw))
        # served by the run cache: a read-only view of the run's series, not a computation
        for s in series if isinstance(series, tuple) else (series,):
            assert not s.flags.writeable
