"""Memory of a backtest (issue 16, finding 11: ``jbt backtest`` of a 1m year peaked at 322 MB,
four 1m routes at 745 MB). The figures of whole commands are in ``bench/bench_memory.py``;
these tests hold what they rest on: the set-up of a run keeps a few bytes per candle besides the
candles themselves, which a route in the stored timeframe trades without a copy."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from jbt.config import BacktestConfig, Config
from jbt.engine import run_plan
from jbt.plan import plan_run
from jbt.results import RouteSpec

ROOT = Path(__file__).resolve().parents[1]
N = 100_000
CONFIG = Config(backtest=BacktestConfig(warmup_candles=210))


@pytest.fixture(scope="module")
def candles() -> np.ndarray:
    """Seeded 1m candles from 2020-01-01, one every minute."""
    rng = np.random.default_rng(7)
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, N)))
    open_ = np.r_[20_000.0, close[:-1]]
    wiggle = np.abs(rng.normal(0.0, 0.0005, (2, N))) * close
    ts = 1_577_836_800_000 + 60_000 * np.arange(N, dtype=np.float64)
    return np.ascontiguousarray(np.column_stack([
        ts, open_, close, np.maximum(open_, close) + wiggle[0],
        np.minimum(open_, close) - wiggle[1], rng.uniform(1, 10, N)]))


def test_a_route_in_the_stored_timeframe_trades_the_loaded_candles(candles):
    routes = [RouteSpec("x", "BTC-USDT", "1m", "A"), RouteSpec("x", "BTC-USDT", "1h", "B")]
    plan = plan_run(CONFIG, routes, {("x", "BTC-USDT"): candles}, "1m", None, None)
    minute, hour = plan.route_plans
    assert np.shares_memory(minute.bars, candles)  # rows of the loaded array, not a copy
    assert np.array_equal(minute.bars, candles[len(candles) - len(minute.bars):])
    assert not minute.bars.flags.writeable
    assert not np.shares_memory(hour.bars, candles)  # aggregated: an array of its own
    assert candles.flags.writeable  # the caller's array is left as it was given


def test_the_set_up_of_a_1m_run_keeps_a_few_bytes_a_candle(candles):
    """Before: the route's bars copied (48 bytes a candle), the opens as a list of floats
    (32), the interval highs and lows and the equity marks as arrays (24): 114 bytes a candle
    kept, 197 at the peak. Measured by tracemalloc (NumPy's buffers included)."""
    routes = [RouteSpec("x", "BTC-USDT", "1m", "A")]
    plan_run(CONFIG, routes, {("x", "BTC-USDT"): candles}, "1m", None, None)  # imports done
    tracemalloc.start()
    try:
        plan = plan_run(CONFIG, routes, {("x", "BTC-USDT"): candles}, "1m", None, None)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(plan.clock) > 0.99 * N
    assert kept / N <= 24, f"{kept / N:.1f} bytes a candle kept"
    assert peak / N <= 80, f"{peak / N:.1f} bytes a candle at the peak"


def test_a_run_on_the_uncopied_candles_gives_what_a_run_on_a_copy_gives(candles):
    """The bars as a view of the candles are registered with the indicator cache by their
    rows: the run is the run on an array of its own (where the cache sees an owned array)."""
    from jbt.routes import load_strategy

    ema_cross = load_strategy(ROOT, "EmaCross")  # two indicator calls a bar
    routes = [RouteSpec("x", "BTC-USDT", "1m", "EmaCross")]
    part = candles[:20_000]
    on_view = plan_run(CONFIG, routes, {("x", "BTC-USDT"): part}, "1m", None, None)
    assert np.shares_memory(on_view.route_plans[0].bars, candles)
    a = run_plan(on_view, {"EmaCross": ema_cross})
    b = run_plan(plan_run(CONFIG, routes, {("x", "BTC-USDT"): part.copy()}, "1m", None, None),
                 {"EmaCross": ema_cross})
    assert a.trades and a.trades == b.trades
    assert a.orders == b.orders and a.equity == b.equity
