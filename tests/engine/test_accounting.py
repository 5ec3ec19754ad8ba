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

from .kit import T0, M, random_trader, random_walk, result_signature

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


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    leverage=st.sampled_from([2.0, 10.0, 50.0, 125.0]),
    fee=FEES,
    liquidation_fee=st.sampled_from([0.0, 0.0125, 0.05]),
    slippage=st.sampled_from([0.0, 0.001]),
    timeframe=st.sampled_from(["1m", "5m"]),
    with_mark=st.booleans(),
    rate_scale=st.sampled_from([0.0001, 0.003, 0.05]),
)
def test_isolated_positions_never_lose_more_than_their_margin(
    seed, leverage, fee, liquidation_fee, slippage, timeframe, with_mark, rate_scale
):
    """Random futures strategies over random candles with gaps of up to ±30% between them,
    hourly funding events (up to 5% a time, so funding can eat whole margins) and, at times,
    mark prices apart from the trade prices: every exit fill loses at most the margin it
    releases, the wallet never goes below 0, and the trades rebuilt from the fills and the
    funding payments are the engine's."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 600
    data = random_walk(n, seed, vol=0.006)
    jumps = rng.random(n) < 0.03  # gapped opens: the whole path moves by the jump
    factor = np.cumprod(np.where(jumps, np.exp(rng.uniform(-0.35, 0.35, n)), 1.0))
    data[:, 1:5] *= factor[:, None]
    events = np.array([[T0 + h * 60 * M, rng.normal(0.0, rate_scale), 60 * M, np.nan]
                       for h in range(0, n // 60 + 2)])
    mark = None
    if with_mark:
        mark = data.copy()
        mark[:, 1:5] *= np.exp(rng.normal(0.0, 0.004, n))[:, None]
        mark[:, 3] = mark[:, 1:5].max(axis=1)
        mark[:, 4] = mark[:, 1:5].min(axis=1)
    cfg = Config(backtest=BacktestConfig(
        starting_balance=1000.0, fee=fee, slippage=slippage, type="futures", leverage=leverage,
        liquidation_fee=liquidation_fee, warmup_candles=2,
    ))
    key = ("sim", "BTC-USDT")
    runs = [run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", timeframe, "RandomTrader")],
                         {key: data}, "1m", {"RandomTrader": random_trader(seed)},
                         T0 + 10 * M, T0 + n * M, funding={key: events},
                         mark=None if mark is None else {key: mark}, fast_path=fast)
            for fast in (True, False)]
    assert result_signature(runs[0]) == result_signature(runs[1])
    r = runs[0]
    assert_trades_match_fills(r, 1000.0, True)
    total = sum(t.pnl for t in r.trades)
    assert math.isclose(r.finishing_balance, 1000.0 + total, rel_tol=1e-9, abs_tol=1e-9)
    assert r.finishing_balance >= 0.0


def assert_trades_match_fills(r, start: float, futures: bool) -> None:
    """Rebuild every closed trade from the fills and the funding payments (per route, from
    flat to flat) and check the engine's trades and balance against it. The balance is
    replayed event by event and never goes below 0; on futures each position's isolated margin
    is replayed too (entries add ``qty·price/leverage``, funding is settled in it, exits
    release their part of it) and no exit fill loses more than the margin it releases."""
    leverage = float(r.config["backtest"]["leverage"]) if futures else 1.0
    # funding is settled before anything trades at its time
    timeline = sorted([(f.time, 0, k, f) for k, f in enumerate(r.funding)]
                      + [(f.time, 1, k, f) for k, f in enumerate(r.fills)],
                      key=lambda e: e[:3])
    open_: dict[str, dict] = {}
    rebuilt = []
    cash = start
    lowest = start
    scale = start
    for _time, kind, _k, f in timeline:
        if kind == 0:  # a funding payment on an open position
            t = open_[f.route]
            assert math.isclose(f.qty, t["pos"], rel_tol=1e-12)
            assert math.isclose(f.amount, -f.qty * f.price * f.rate, rel_tol=1e-9) or (
                f.amount < 0 and math.isclose(-f.amount, t["margin"], rel_tol=1e-9))
            t["funding"] += f.amount
            t["margin"] += f.amount
            cash += f.amount
            lowest = min(lowest, cash)
            continue
        t = open_.setdefault(f.route, {
            "pos": 0.0, "max": 0.0, "flow": 0.0, "fee": 0.0, "entry_time": f.time,
            "in_qty": 0.0, "in_value": 0.0, "out_qty": 0.0, "out_value": 0.0, "funding": 0.0,
            "margin": 0.0, "entry": 0.0,
            "side": "long" if f.side == "buy" else "short",
        })
        signed = f.qty if f.side == "buy" else -f.qty
        adding = t["pos"] == 0.0 or (t["pos"] > 0) == (signed > 0)
        if futures:
            if adding:
                size = abs(t["pos"]) + f.qty
                t["entry"] += (f.price - t["entry"]) * (f.qty / size)
                t["margin"] += f.qty * f.price / leverage
                cash -= f.fee
            else:
                size = abs(t["pos"])
                direction = 1.0 if t["pos"] > 0 else -1.0
                pnl = direction * f.qty * (f.price - t["entry"])
                released = t["margin"] * min(1.0, f.qty / size)
                # isolated: never more lost than the margin this fill releases
                assert pnl >= -released - 1e-9 * scale, (pnl, released)
                t["margin"] -= released
                cash += pnl - f.fee
        else:  # spot: the balance is the cash
            cash += (-f.qty * f.price if f.side == "buy" else f.qty * f.price) - f.fee
        lowest = min(lowest, cash)
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
        if abs(t["pos"]) <= 1e-9 * t["max"]:
            del open_[f.route]
            rebuilt.append((f.route, t["side"], t["entry_time"], f.time, t["max"],
                            t["in_value"] / t["in_qty"], t["out_value"] / t["out_qty"],
                            t["flow"] - t["fee"] + t["funding"], t["fee"], t["funding"]))
    assert open_ == {}  # every position was closed by the end of the run
    got = [(t.route, t.side, t.entry_time, t.exit_time, t.qty, t.entry_price, t.exit_price,
            t.pnl, t.fee, t.funding) for t in r.trades]
    assert len(got) == len(rebuilt)
    for g, e in zip(got, rebuilt, strict=True):
        assert g[:4] == e[:4]
        for a, b in zip(g[4:7], e[4:7], strict=True):
            assert math.isclose(a, b, rel_tol=1e-9)
        assert math.isclose(g[7], e[7], rel_tol=1e-9, abs_tol=1e-9 * scale)
        assert math.isclose(g[8], e[8], rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(g[9], e[9], rel_tol=1e-9, abs_tol=1e-12)
    replayed = start + sum(e[7] for e in rebuilt)
    assert math.isclose(r.finishing_balance, replayed, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(r.finishing_balance, cash, rel_tol=1e-9, abs_tol=1e-9 * scale)
    # the wallet (spot: the cash) never went below 0
    assert lowest >= -1e-9 * scale
