"""A small hand-built BacktestResult (two routes, hourly bars, a few trades) for the report,
export and chart tests."""

from __future__ import annotations

import numpy as np

from jbt.constants import HOUR_MS
from jbt.metrics import compute_metrics
from jbt.results import BacktestResult, ClosedTrade, OrderRecord, RouteSpec

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
H = HOUR_MS
BTC = RouteSpec("binance", "BTC-USDT", "1h", "EmaCross")
ETH = RouteSpec("binance", "ETH-USDT", "1h", "EmaCross")
BARS = 72  # three days of hourly bars


def candles(base: float, seed: int) -> np.ndarray:
    """Hourly candles ``[timestamp, open, close, high, low, volume]`` from ``T0``."""
    rng = np.random.default_rng(seed)
    closes = base * np.cumprod(1 + rng.normal(0, 0.004, BARS))
    opens = np.r_[base, closes[:-1]]
    highs = np.maximum(opens, closes) * 1.002
    lows = np.minimum(opens, closes) * 0.998
    ts = T0 + H * np.arange(BARS)
    return np.column_stack([ts, opens, closes, highs, lows, rng.uniform(10, 100, BARS)])


def _trade(i, route, side, entry_h, exit_h, entry, exit_, qty, pnl, fee, by) -> ClosedTrade:
    return ClosedTrade(
        id=i, route=route.key, exchange=route.exchange, symbol=route.symbol,
        timeframe=route.timeframe, strategy=route.strategy, side=side, qty=qty,
        entry_time=T0 + entry_h * H, entry_price=entry, exit_time=T0 + exit_h * H,
        exit_price=exit_, pnl=pnl, fee=fee, closed_by=by,
    )


def make_result(*, with_trades: bool = True) -> tuple[BacktestResult, dict[str, np.ndarray]]:
    btc, eth = candles(42_123.45, 1), candles(2_301.7, 2)
    trades = [
        _trade(1, BTC, "long", 2, 9, 42_150.5, 42_990.25, 0.25, 205.11, 21.14, "take-profit"),
        _trade(2, ETH, "short", 5, 11, 2_310.4, 2_340.9, 3.5, -114.9, 8.14, "stop-loss"),
        _trade(3, BTC, "short", 20, 31, 42_500.0, 42_500.0, 0.1, 0.0, 8.5, "signal"),
        _trade(4, ETH, "long", 40, 71, 2_288.12, 2_401.33, 4.0, 1_234_567.89, 18.38,
               "end-of-run"),
        _trade(5, BTC, "long", 50, 60, 42_000.0, 40_100.0, 0.3, -583.6, 24.6, "liquidation"),
    ] if with_trades else []
    orders = [
        OrderRecord(id=1, route=BTC.key, exchange="binance", symbol="BTC-USDT", side="buy",
                    type="market", role="entry", qty=0.25, price=None, status="filled",
                    created_at=T0 + 2 * H, filled_at=T0 + 2 * H, fill_price=42_150.5,
                    fee=10.54),
        OrderRecord(id=2, route=BTC.key, exchange="binance", symbol="BTC-USDT", side="sell",
                    type="limit", role="take-profit", qty=0.25, price=42_990.25,
                    status="filled", created_at=T0 + 2 * H, filled_at=T0 + 9 * H,
                    fill_price=42_990.25, fee=10.6, reduce_only=True),
        OrderRecord(id=3, route=ETH.key, exchange="binance", symbol="ETH-USDT", side="buy",
                    type="limit", role="entry", qty=1.0, price=2_200.0, status="cancelled",
                    created_at=T0 + 30 * H),
    ] if with_trades else []
    marks = [int(T0 + H * (k + 1)) for k in range(BARS)]  # each bar marked at its close
    rng = np.random.default_rng(7)
    if with_trades:
        equity = list(10_000.0 * np.cumprod(1 + rng.normal(0.0005, 0.01, BARS)))
    else:
        equity = [10_000.0] * BARS
    start, end = T0, T0 + BARS * H
    metrics = compute_metrics(marks, equity, trades, 10_000.0, start, end, benchmark_candles=btc)
    result = BacktestResult(
        config={"backtest": {"starting_balance": 10_000, "fee": 0.001}},
        routes=[BTC, ETH], start=start, end=end, starting_balance=10_000.0,
        finishing_balance=equity[-1], trades=trades, orders=orders, equity_time=marks,
        equity=equity, metrics=metrics, duration_s=0.42, session_id=3,
    )
    return result, {BTC.key: btc, ETH.key: eth}
