"""The accounting invariant on randomized strategies: the finishing balance is the starting
balance plus the sum of the closed trades' PnL (net of fees), and spot never goes negative."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import RouteSpec

from .kit import T0, M, random_trader, random_walk

FEES = st.sampled_from([0.0, 0.0004, 0.001])


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    futures=st.booleans(),
    leverage=st.sampled_from([1.0, 2.0, 5.0, 25.0]),
    fee=FEES,
    maker=FEES,
    slippage=st.sampled_from([0.0, 0.0005]),
    timeframe=st.sampled_from(["1m", "3m", "5m"]),
)
def test_finishing_balance_is_start_plus_closed_pnl(
    seed, futures, leverage, fee, maker, slippage, timeframe
):
    balances: list[float] = []
    trader = random_trader(seed, balances=balances)
    cfg = Config(backtest=BacktestConfig(
        starting_balance=1000.0, fee=fee, maker_fee=maker, slippage=slippage,
        type="futures" if futures else "spot", leverage=leverage if futures else 1.0,
        warmup_candles=2,
    ))
    data = random_walk(300, seed, vol=0.006)
    r = run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", timeframe, "RandomTrader")],
                     {("sim", "BTC-USDT"): data}, "1m", {"RandomTrader": trader},
                     T0 + 10 * M, T0 + 300 * M)
    total = sum(t.pnl for t in r.trades)
    assert math.isclose(r.finishing_balance, 1000.0 + total, rel_tol=1e-9, abs_tol=1e-9)
    # the equity curve ends on the finishing balance, and every fill's fee is in a trade
    assert r.equity[-1] == r.finishing_balance
    filled_fees = sum(f.fee for f in r.fills if not any(
        o.id == f.order_id and o.status == "rejected" for o in r.orders))
    assert math.isclose(filled_fees, sum(t.fee for t in r.trades), rel_tol=1e-9, abs_tol=1e-9)
    if not futures:
        assert min(balances, default=0.0) >= 0.0
        assert r.finishing_balance >= 0.0
