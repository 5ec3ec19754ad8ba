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
