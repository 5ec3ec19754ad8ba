"""The accounting invariant on randomized strategies: the finishing balance is the starting
balance plus the sum of the closed trades' PnL (net of fees), and spot never goes negative.

The engine keeps a trade's PnL as the sum of the balance changes it caused, so comparing the
two alone would hold by construction. The trades are therefore rebuilt here from the fills
alone (cash in and out, fees, sizes and average prices) and compared one by one, and the spot
balance is replayed fill by fill."""

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
    assert_trades_match_fills(r, 1000.0, futures)
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


def assert_trades_match_fills(r, start: float, futures: bool) -> None:
    """Rebuild every closed trade from the fills (per route, from flat to flat) and check the
    engine's trades and balance against it; on spot the replayed balance never goes below 0."""
    open_: dict[str, dict] = {}
    rebuilt = []
    cash = start
    lowest = start
    for f in r.fills:
        t = open_.setdefault(f.route, {
            "pos": 0.0, "max": 0.0, "flow": 0.0, "fee": 0.0, "entry_time": f.time,
            "in_qty": 0.0, "in_value": 0.0, "out_qty": 0.0, "out_value": 0.0,
            "side": "long" if f.side == "buy" else "short",
        })
        signed = f.qty if f.side == "buy" else -f.qty
        adding = t["pos"] == 0.0 or (t["pos"] > 0) == (signed > 0)
        t["pos"] += signed
        t["flow"] += -f.qty * f.price if f.side == "buy" else f.qty * f.price
        t["fee"] += f.fee
        if adding:
            t["in_qty"] += f.qty
            t["in_value"] += f.qty * f.price
            t["max"] = max(t["max"], abs(t["pos"]))
        else:
            t["out_qty"] += f.qty
            t["out_value"] += f.qty * f.price
        if not futures:  # spot: the balance is the cash
            cash += (-f.qty * f.price if f.side == "buy" else f.qty * f.price) - f.fee
            lowest = min(lowest, cash)
        if abs(t["pos"]) <= 1e-9 * t["max"]:
            del open_[f.route]
            rebuilt.append((f.route, t["side"], t["entry_time"], f.time, t["max"],
                            t["in_value"] / t["in_qty"], t["out_value"] / t["out_qty"],
                            t["flow"] - t["fee"], t["fee"]))
    assert open_ == {}  # every position was closed by the end of the run
    got = [(t.route, t.side, t.entry_time, t.exit_time, t.qty, t.entry_price, t.exit_price,
            t.pnl, t.fee) for t in r.trades]
    assert len(got) == len(rebuilt)
    scale = start
    for g, e in zip(got, rebuilt, strict=True):
        assert g[:4] == e[:4]
        for a, b in zip(g[4:7], e[4:7], strict=True):
            assert math.isclose(a, b, rel_tol=1e-9)
        assert math.isclose(g[7], e[7], rel_tol=1e-9, abs_tol=1e-9 * scale)
        assert math.isclose(g[8], e[8], rel_tol=1e-9, abs_tol=1e-12)
    replayed = start + sum(e[7] for e in rebuilt)
    assert math.isclose(r.finishing_balance, replayed, rel_tol=1e-9, abs_tol=1e-9 * scale)
    if not futures:
        assert lowest >= -1e-9 * scale
