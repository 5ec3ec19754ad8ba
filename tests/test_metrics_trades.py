"""Trade statistics and equity metrics on hand-computed fixtures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jbt.constants import DAY_MS, HOUR_MS
from jbt.metrics import (
    METRIC_NAMES,
    compute_metrics,
    exit_reason_stats,
    period_returns,
    route_stats,
)
from jbt.results import ClosedTrade, RouteSpec

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC (a Monday)
H = HOUR_MS
A = RouteSpec("binance", "BTC-USDT", "1h", "S")
B = RouteSpec("binance", "ETH-USDT", "1h", "S")


def trade(i, route, side, entry_h, exit_h, pnl, fee, closed_by) -> ClosedTrade:
    return ClosedTrade(
        id=i, route=route.key, exchange=route.exchange, symbol=route.symbol,
        timeframe=route.timeframe, strategy=route.strategy, side=side, qty=1.0,
        entry_time=T0 + entry_h * H, entry_price=100.0, exit_time=T0 + exit_h * H,
        exit_price=100.0, pnl=pnl, fee=fee, closed_by=closed_by,
    )


# Listed out of exit order on purpose: statistics sort by exit time.
TRADES = [
    trade(4, A, "long", 12, 24, 30.0, 1.0, "take-profit"),
    trade(1, A, "long", 1, 5, 100.0, 2.0, "signal"),
    trade(2, A, "short", 6, 8, -50.0, 1.0, "stop-loss"),
    trade(3, B, "long", 7, 10, 0.0, 1.5, "signal"),
    trade(5, B, "short", 20, 26, 20.0, 0.5, "take-profit"),
    trade(6, A, "long", 30, 31, -10.0, 0.5, "stop-loss"),
    trade(7, A, "short", 40, 48, -40.0, 2.0, "end-of-run"),
]
END = T0 + 48 * H  # two days


def flat_curve(final: float):
    marks = T0 + H * np.arange(1, 49)
    values = np.full(48, 10_000.0)
    values[-1] = final
    return marks, values


def test_trade_statistics_by_hand() -> None:
    marks, values = flat_curve(10_050.0)
    m = compute_metrics(marks, values, TRADES, 10_000.0, T0, END)
    # In exit order the PnLs are: +100, -50, 0, +30, +20, -10, -40 (sum 50).
    assert m["total_trades"] == 7
    assert m["longs"] == 4  # trades 1, 3, 4, 6
    assert m["shorts"] == 3  # trades 2, 5, 7
    assert m["winning_trades"] == 3  # +100, +30, +20
    assert m["losing_trades"] == 3  # -50, -10, -40
    assert m["breakeven_trades"] == 1  # the 0.0 trade is neither
    assert m["win_rate"] == pytest.approx(3 / 7, rel=1e-12)  # the zero trade counts in the denominator
    assert m["win_rate_longs"] == pytest.approx(2 / 4, rel=1e-12)  # longs +100, 0, +30, -10
    assert m["win_rate_shorts"] == pytest.approx(1 / 3, rel=1e-12)  # shorts -50, +20, -40
    assert m["gross_profit"] == pytest.approx(150.0, rel=1e-12)  # 100 + 30 + 20
    assert m["gross_loss"] == pytest.approx(-100.0, rel=1e-12)  # -50 - 10 - 40
    assert m["profit_factor"] == pytest.approx(1.5, rel=1e-12)  # 150 / 100
    assert m["expectancy"] == pytest.approx(50 / 7, rel=1e-12)  # (100-50+0+30+20-10-40) / 7
    assert m["average_win"] == pytest.approx(50.0, rel=1e-12)  # 150 / 3
    assert m["average_loss"] == pytest.approx(-100 / 3, rel=1e-12)  # -100 / 3
    assert m["win_loss_ratio"] == pytest.approx(1.5, rel=1e-12)  # 50 / (100/3)
    assert m["largest_win"] == 100.0
    assert m["largest_loss"] == -50.0
    # W L 0 W W L L: the zero trade breaks the run; best streaks are W W and L L.
    assert m["max_winning_streak"] == 2
    assert m["max_losing_streak"] == 2
    # Holding hours 4, 2, 3, 12, 6, 1, 8 (sum 36); winners 4, 12, 6; losers 2, 1, 8.
    assert m["average_holding_seconds"] == pytest.approx(36 / 7 * 3600, rel=1e-12)
    assert m["average_holding_winners_seconds"] == pytest.approx(22 / 3 * 3600, rel=1e-12)
    assert m["average_holding_losers_seconds"] == pytest.approx(11 / 3 * 3600, rel=1e-12)
    assert m["fees_paid"] == pytest.approx(8.5, rel=1e-12)  # 2 + 1 + 1.5 + 1 + 0.5 + 0.5 + 2
    # Union of open spans: [1,5] [6,10] [12,26] [30,31] [40,48] = 4+4+14+1+8 = 31 of 48 hours.
    assert m["exposure"] == pytest.approx(31 / 48, rel=1e-12)
    assert m["trades_per_day"] == pytest.approx(3.5, rel=1e-12)  # 7 trades / 2 days
    assert m["trades_per_week"] == pytest.approx(24.5, rel=1e-12)  # 3.5 * 7
    assert m["trades_per_month"] == pytest.approx(3.5 * 365 / 12, rel=1e-12)
    assert m["net_profit"] == pytest.approx(50.0, rel=1e-12)
    assert m["finishing_balance"] == pytest.approx(10_050.0, rel=1e-12)
    assert m["total_return"] == pytest.approx(0.005, rel=1e-12)


def test_no_trades_every_metric_defined_or_none() -> None:
    marks, values = flat_curve(10_000.0)
    m = compute_metrics(marks, values, [], 10_000.0, T0, END)
    assert list(m) == list(METRIC_NAMES)
    for k, v in m.items():
        assert v is None or (isinstance(v, (int, float)) and math.isfinite(v)), k
    assert m["total_trades"] == 0 and m["longs"] == 0 and m["shorts"] == 0
    for k in ("win_rate", "win_rate_longs", "win_rate_shorts", "profit_factor", "expectancy",
              "average_win", "average_loss", "win_loss_ratio", "largest_win", "largest_loss",
              "average_holding_seconds", "sharpe", "sortino", "calmar", "omega",
              "buy_and_hold_return"):
        assert m[k] is None, k
    assert m["max_winning_streak"] == 0 and m["max_losing_streak"] == 0
    assert m["fees_paid"] == 0.0 and m["exposure"] == 0.0 and m["trades_per_day"] == 0.0
    assert m["annual_return"] == 0.0 and m["max_drawdown"] == 0.0
    json.dumps(m, allow_nan=False)  # the dict goes to JSON as is


def test_empty_equity_and_zero_length_run() -> None:
    m = compute_metrics([], [], [], 1_000.0, T0, T0)
    assert m["finishing_balance"] == 1_000.0 and m["net_profit"] == 0.0
    assert m["annual_return"] is None and m["exposure"] is None and m["trades_per_day"] is None
    json.dumps(m, allow_nan=False)


def test_only_losers_and_only_winners() -> None:
    losers = [t for t in TRADES if t.pnl < 0]
    m = compute_metrics(*flat_curve(9_900.0), losers, 10_000.0, T0, END)
    assert m["profit_factor"] == 0.0  # 0 / 100
    assert m["win_rate"] == 0.0 and m["average_win"] is None and m["win_loss_ratio"] is None
    winners = [t for t in TRADES if t.pnl > 0]
    m = compute_metrics(*flat_curve(10_150.0), winners, 10_000.0, T0, END)
    assert m["profit_factor"] is None  # 150 / 0 is undefined, not infinity
    assert m["win_rate"] == 1.0 and m["max_winning_streak"] == 3


def test_equity_metrics_by_hand() -> None:
    # Day closes 11,000, 9,900, 10,890 after 10,000: returns +10%, -10%, +10%.
    marks = T0 + DAY_MS * np.arange(1, 4)
    m = compute_metrics(marks, [11_000.0, 9_900.0, 10_890.0], [], 10_000.0, T0, T0 + 3 * DAY_MS)
    # mean = 0.1/3; deviations 1/15, -2/15, 1/15 -> var = (6/225)/2 = 1/75 -> sd = 1/sqrt(75)
    assert m["sharpe"] == pytest.approx(math.sqrt(75) / 30 * math.sqrt(365), rel=1e-12)
    # downside = sqrt((0.1^2)/3) -> mean/downside = (1/30) * sqrt(3)/0.1 = sqrt(3)/3
    assert m["sortino"] == pytest.approx(math.sqrt(3) / 3 * math.sqrt(365), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(-0.1, rel=1e-12)  # 11,000 -> 9,900
    cagr = 1.089 ** (365 / 3) - 1  # 10,890 / 10,000 over 3 days
    assert m["annual_return"] == pytest.approx(cagr, rel=1e-12)
    assert m["calmar"] == pytest.approx(cagr / 0.1, rel=1e-12)
    assert m["omega"] == pytest.approx(2.0, rel=1e-12)  # (0.1 + 0.1) / 0.1
    # Peak on day 1, never recovered (10,890 < 11,000): 2 days until the end.
    assert m["max_drawdown_duration_days"] == pytest.approx(2.0, rel=1e-12)
    assert m["longest_drawdown_days"] == pytest.approx(2.0, rel=1e-12)


def test_drawdown_durations_with_recovery() -> None:
    # 10,000 | 9,000 | 10,000 | 10,500 | 10,400 | 10,300 | 10,200 | 10,600
    # Deepest: -10% from the start (day 0) back to 10,000 on day 2 -> 2 days.
    # Longest: 10,500 on day 3 until 10,600 on day 7 -> 4 days.
    vals = [9_000.0, 10_000.0, 10_500.0, 10_400.0, 10_300.0, 10_200.0, 10_600.0]
    marks = T0 + DAY_MS * np.arange(1, 8)
    m = compute_metrics(marks, vals, [], 10_000.0, T0, T0 + 7 * DAY_MS)
    assert m["max_drawdown"] == pytest.approx(-0.1, rel=1e-12)
    assert m["max_drawdown_duration_days"] == pytest.approx(2.0, rel=1e-12)
    assert m["longest_drawdown_days"] == pytest.approx(4.0, rel=1e-12)


def test_buy_and_hold_uses_first_open_and_last_close_inside_the_period() -> None:
    # columns: timestamp, open, close, high, low, volume
    candles = np.array([
        [T0 - H, 90.0, 95.0, 96.0, 89.0, 1.0],  # before the start: ignored
        [T0, 100.0, 104.0, 105.0, 99.0, 1.0],
        [T0 + H, 104.0, 110.0, 111.0, 103.0, 1.0],
        [T0 + 2 * H, 110.0, 120.0, 121.0, 109.0, 1.0],  # opens at the end: ignored
    ])
    m = compute_metrics([], [], [], 10_000.0, T0, T0 + 2 * H, benchmark_candles=candles)
    assert m["buy_and_hold_return"] == pytest.approx(0.10, rel=1e-12)  # 110 / 100 - 1


def test_route_and_exit_reason_tables() -> None:
    rows = {r["route"]: r for r in route_stats(TRADES, [A, B])}
    # A: +100, -50, +30, -10, -40 -> net 30; fees 2+1+1+0.5+2 = 6.5; PF 130/100
    assert rows[A.key]["trades"] == 5 and rows[A.key]["net_pnl"] == pytest.approx(30.0, rel=1e-12)
    assert rows[A.key]["fees"] == pytest.approx(6.5, rel=1e-12)
    assert rows[A.key]["profit_factor"] == pytest.approx(1.3, rel=1e-12)
    assert rows[A.key]["win_rate"] == pytest.approx(2 / 5, rel=1e-12)
    # B: 0, +20 -> net 20, no loser so no profit factor
    assert rows[B.key]["trades"] == 2 and rows[B.key]["net_pnl"] == pytest.approx(20.0, rel=1e-12)
    assert rows[B.key]["profit_factor"] is None
    by = {r["closed_by"]: r for r in exit_reason_stats(TRADES)}
    assert list(by) == ["signal", "stop-loss", "take-profit", "liquidation", "end-of-run"]
    assert by["signal"]["trades"] == 2 and by["signal"]["net_pnl"] == pytest.approx(100.0, rel=1e-12)
    assert by["stop-loss"]["average_pnl"] == pytest.approx(-30.0, rel=1e-12)  # (-50 - 10) / 2
    assert by["take-profit"]["win_rate"] == 1.0
    assert by["liquidation"]["trades"] == 0 and by["liquidation"]["win_rate"] is None


def test_period_returns_compound_to_the_total() -> None:
    # Hourly marks over 10 days from Wed 2024-01-31 12:00; weeks start on Monday.
    start = T0 + 30 * DAY_MS + 12 * H
    marks = start + H * np.arange(1, 24 * 10 + 1)
    values = 10_000.0 * np.cumprod(np.full(len(marks), 1.0005))
    end = int(marks[-1])
    for period, count in (("day", 11), ("week", 2), ("month", 2)):
        rows = period_returns(marks, values, 10_000.0, start, end, period)
        assert len(rows) == count, period
        growth = np.prod([1 + r["return"] for r in rows])
        assert growth == pytest.approx(values[-1] / 10_000.0, rel=1e-12)
    months = period_returns(marks, values, 10_000.0, start, end, "month")
    assert months[0]["start"] == T0  # January 1st
    assert months[1]["start"] == T0 + 31 * DAY_MS  # February 1st
    # January ends at Feb 1 00:00: 12 hourly marks after Jan 31 12:00.
    assert months[0]["end_equity"] == pytest.approx(10_000.0 * 1.0005**12, rel=1e-12)
    weeks = period_returns(marks, values, 10_000.0, start, end, "week")
    assert weeks[0]["start"] == T0 + 28 * DAY_MS  # Monday 2024-01-29 (Jan 1 + 28 days)
    with pytest.raises(ValueError):
        period_returns(marks, values, 10_000.0, start, end, "year")
