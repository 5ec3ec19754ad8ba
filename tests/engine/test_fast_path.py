"""The fast path (walk base candles only where an order can fill) and the full minute-by-minute
walk give the same orders, fills, trades and equity on randomized strategies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import RouteSpec

from .kit import T0, M, random_trader, random_walk, result_signature


def _both(cfg, routes, candles, strategies, start, end):
    fast = run_backtest(cfg, routes, candles, "1m", strategies, start, end, fast_path=True)
    walk = run_backtest(cfg, routes, candles, "1m", strategies, start, end, fast_path=False)
    return fast, walk


def _one_route(seed, futures, timeframe, slippage):
    cfg = Config(backtest=BacktestConfig(
        starting_balance=1000.0, fee=0.001, maker_fee=0.0002, slippage=slippage,
        type="futures" if futures else "spot", leverage=10.0 if futures else 1.0,
        warmup_candles=3,
    ))
    data = random_walk(24 * 60, seed, vol=0.003)
    route = [RouteSpec("sim", "BTC-USDT", timeframe, "RandomTrader")]
    fast, walk = _both(cfg, route, {("sim", "BTC-USDT"): data},
                       {"RandomTrader": random_trader(seed)}, T0 + 3 * 60 * M, T0 + 24 * 60 * M)
    assert result_signature(fast) == result_signature(walk)
    return fast


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    futures=st.booleans(),
    timeframe=st.sampled_from(["5m", "15m", "1h"]),
    slippage=st.sampled_from([0.0, 0.001]),
)
def test_one_route_fast_path_equals_walk(seed, futures, timeframe, slippage):
    _one_route(seed, futures, timeframe, slippage)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("futures", [False, True])
def test_fast_path_equals_walk_on_runs_that_trade(seed, futures):
    fast = _one_route(seed, futures, "15m", 0.001)
    kinds = {(o.type, o.role) for o in fast.orders if o.status == "filled"}
    assert {("limit", "entry"), ("stop", "entry"), ("stop", "stop-loss"),
            ("limit", "take-profit")} <= kinds


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), futures=st.booleans())
def test_several_routes_and_symbols_fast_path_equals_walk(seed, futures):
    """Two strategies on one symbol at different timeframes and a third on another symbol,
    sharing one balance."""
    cfg = Config(backtest=BacktestConfig(
        starting_balance=3000.0, fee=0.001, type="futures" if futures else "spot",
        leverage=5.0 if futures else 1.0, warmup_candles=2,
    ))
    candles = {
        ("sim", "BTC-USDT"): random_walk(12 * 60, seed, vol=0.003),
        ("sim", "ETH-USDT"): random_walk(12 * 60, seed + 1, price=20.0, vol=0.004),
    }
    routes = [
        RouteSpec("sim", "BTC-USDT", "15m", "A"),
        RouteSpec("sim", "BTC-USDT", "5m", "B"),
        RouteSpec("sim", "ETH-USDT", "30m", "C"),
    ]
    strategies = {
        "A": random_trader(seed, "A"),
        "B": random_trader(seed + 7, "B"),
        "C": random_trader(seed + 13, "C"),
    }
    fast, walk = _both(cfg, routes, candles, strategies, T0 + 60 * M, T0 + 12 * 60 * M)
    assert len(fast.fills) > 0
    assert result_signature(fast) == result_signature(walk)


@pytest.mark.parametrize("seed", [1, 2])
def test_fast_path_equals_walk_with_liquidations(seed):
    """At leverage 50 the random trader is liquidated several times a day (on the path and at
    gapped opens): the fast path must see every liquidation price the walk reaches. (Without
    a liquidation fee: at 50x the default 1.25% of the notional is 62.5% of the margin, and
    this all-in trader's wallet would be empty after its first liquidation.)"""
    cfg = Config(backtest=BacktestConfig(
        starting_balance=1000.0, fee=0.001, maker_fee=0.0002, slippage=0.001, type="futures",
        leverage=50.0, warmup_candles=3, liquidation_fee=0.0,
    ))
    data = random_walk(24 * 60, seed, vol=0.003)
    route = [RouteSpec("sim", "BTC-USDT", "15m", "RandomTrader")]
    fast, walk = _both(cfg, route, {("sim", "BTC-USDT"): data},
                       {"RandomTrader": random_trader(seed)}, T0 + 3 * 60 * M, T0 + 24 * 60 * M)
    assert result_signature(fast) == result_signature(walk)
    assert [t.closed_by for t in fast.trades].count("liquidation") >= 3


def _funding_events(seed: int, hours: int, interval_h: int = 1, scale: float = 0.002):
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.array([[T0 + h * 60 * M, rng.normal(0.0, scale), interval_h * 60 * M, np.nan]
                     for h in range(0, hours + 1, interval_h)])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), with_mark=st.booleans(),
       interval_h=st.sampled_from([1, 4, 8]))
def test_fast_path_equals_walk_with_funding_and_marks(seed, with_mark, interval_h):
    """Futures with funding (settled at step times and, for the 4h and 1D routes, inside their
    bars) and mark prices: two symbols, routes from 15m to 1D on one balance."""
    import numpy as np

    hours = 3 * 24
    cfg = Config(backtest=BacktestConfig(
        starting_balance=3000.0, fee=0.001, type="futures", leverage=20.0, warmup_candles=2,
    ))
    candles = {
        ("sim", "BTC-USDT"): random_walk(hours * 60, seed, vol=0.003),
        ("sim", "ETH-USDT"): random_walk(hours * 60, seed + 1, price=20.0, vol=0.004),
    }
    funding = {k: _funding_events(seed + i, hours, interval_h, 0.01)
               for i, k in enumerate(candles)}
    mark = None
    if with_mark:
        rng = np.random.default_rng(seed)
        mark = {}
        for k, c in candles.items():
            m = c.copy()
            m[:, 1:5] *= np.exp(rng.normal(0.0, 0.002, len(c)))[:, None]
            m[:, 3] = m[:, 1:5].max(axis=1)
            m[:, 4] = m[:, 1:5].min(axis=1)
            mark[k] = m
    routes = [
        RouteSpec("sim", "BTC-USDT", "15m", "A"),
        RouteSpec("sim", "BTC-USDT", "4h", "B"),
        RouteSpec("sim", "ETH-USDT", "1D", "C"),
    ]
    strategies = {"A": random_trader(seed, "A"), "B": random_trader(seed + 7, "B"),
                  "C": random_trader(seed + 13, "C")}
    runs = [run_backtest(cfg, routes, candles, "1m", strategies, T0 + 24 * 60 * M,
                         T0 + hours * 60 * M, fast_path=fast, funding=funding, mark=mark)
            for fast in (True, False)]
    assert result_signature(runs[0]) == result_signature(runs[1])


def test_funding_runs_settle_at_step_times_and_inside_bars():
    """A 4h route with hourly funding, at a seed that holds positions through many events:
    settled inside its bars and at its step times, the fast path as the walk."""
    hours = 3 * 24
    cfg = Config(backtest=BacktestConfig(
        starting_balance=3000.0, fee=0.001, type="futures", leverage=3.0, warmup_candles=2,
    ))
    candles = {("sim", "BTC-USDT"): random_walk(hours * 60, 0, vol=0.002)}
    funding = {("sim", "BTC-USDT"): _funding_events(0, hours, 1, 0.01)}
    routes = [RouteSpec("sim", "BTC-USDT", "4h", "B")]
    strategies = {"B": random_trader(7, "B")}
    fast, walk = (run_backtest(cfg, routes, candles, "1m", strategies, T0 + 24 * 60 * M,
                               T0 + hours * 60 * M, fast_path=f, funding=funding)
                  for f in (True, False))
    assert result_signature(fast) == result_signature(walk)
    times = [f.time for f in fast.funding]
    assert len(times) > 10
    assert any(t % (4 * 60 * M) for t in times)  # settled inside a 4h bar
    assert any(t % (4 * 60 * M) == 0 for t in times)  # at a step time
