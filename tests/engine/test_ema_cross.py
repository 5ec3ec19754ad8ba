"""The example EMA-cross strategy (strategies/EmaCross at the repository root) gives the same
trades as an independent plain-Python loop over the same bars: EMA 20 / EMA 50 of closes
(seeded with the simple mean of the first ``period`` closes), long with the whole balance on the
cross up at the next bar's open, out at the next open on the cross down, 0.1% fee."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import RouteSpec
from jbt.routes import load_strategy

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv"
FEE = 0.001
WARMUP = 210
HOUR = 3_600_000


def ema(xs: list[float], period: int) -> list[float]:
    out = [math.nan] * len(xs)
    if len(xs) < period:
        return out
    alpha = 2.0 / (period + 1)
    out[period - 1] = sum(xs[:period]) / period
    for i in range(period, len(xs)):
        out[i] = alpha * xs[i] + (1 - alpha) * out[i - 1]
    return out


def reference_trades(rows: list[list[float]], first_call_bar: int):
    """(entry time, entry price, exit time, exit price, pnl) per trade, and the final cash."""
    ts = [int(r[0]) for r in rows]
    opens = [r[1] for r in rows]
    closes = [r[4] for r in rows]  # the CSV's order: timestamp, open, high, low, close
    fast, slow = ema(closes, 20), ema(closes, 50)
    cash, qty, trades, entry = 10_000.0, 0.0, [], None
    # the strategy runs when bar k has closed, at the open of bar k + 1
    for k in range(first_call_bar, len(rows) - 1):
        price, t = opens[k + 1], ts[k + 1]
        if qty == 0.0:
            if fast[k - 1] <= slow[k - 1] and fast[k] > slow[k]:
                qty = cash / (price * (1 + FEE))
                entry = (t, price, cash)
                cash -= qty * price + qty * price * FEE
        elif fast[k - 1] >= slow[k - 1] and fast[k] < slow[k]:
            cash += qty * price - qty * price * FEE
            trades.append((entry[0], entry[1], t, price, cash - entry[2]))
            qty = 0.0
    if qty:
        price, t = closes[-1], ts[-1] + HOUR  # closed at the last close at the end
        cash += qty * price - qty * price * FEE
        trades.append((entry[0], entry[1], t, price, cash - entry[2]))
    return trades, cash


@pytest.mark.parametrize("first, last", [(0, 11_362), (3_000, 6_500)])
def test_ema_cross_matches_a_plain_python_loop(first, last):
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1)[first:last]
    rows = raw.tolist()
    candles = raw[:, [0, 1, 4, 2, 3, 5]]  # → jbt's timestamp, open, close, high, low, volume
    start = int(candles[WARMUP, 0])  # bars 0..209 are the warm-up
    cfg = Config(backtest=BacktestConfig(fee=FEE, warmup_candles=WARMUP))
    strategy = load_strategy(ROOT, "EmaCross")
    r = run_backtest(cfg, [RouteSpec("coinbase", "BTC-USD", "1h", "EmaCross")],
                     {("coinbase", "BTC-USD"): candles}, "1h", {"EmaCross": strategy},
                     start, int(candles[-1, 0]) + HOUR)
    # the first call is when bar 209 has closed, at the open of bar 210 (= start)
    expected, cash = reference_trades(rows, WARMUP - 1)
    assert len(expected) >= 10
    got = [(t.entry_time, t.entry_price, t.exit_time, t.exit_price, t.pnl) for t in r.trades]
    assert [g[:4] for g in got] == [e[:4] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[4] == pytest.approx(e[4], rel=1e-9, abs=1e-6)
    assert r.finishing_balance == pytest.approx(cash, rel=1e-9)
