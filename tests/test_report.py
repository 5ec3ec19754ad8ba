"""The Rich report renders at 80 columns with every number intact."""

from __future__ import annotations

import io
import re

import pytest
from report_fixtures import BTC, ETH, make_result
from rich.console import Console

from jbt.metrics import period_returns, route_stats
from jbt.report import (
    fmt_duration,
    fmt_money,
    fmt_pct,
    fmt_price,
    fmt_qty,
    fmt_ratio,
    render_report,
    summary_rows,
)


def render(result, **kw) -> str:
    console = Console(width=80, file=io.StringIO(), force_terminal=False, color_system=None)
    render_report(result, console, **kw)
    return console.file.getvalue()


def assert_fits(out: str) -> None:
    for line in out.splitlines():
        assert len(line) <= 80, line


def test_formatting_helpers() -> None:
    assert fmt_money(1234567.891) == "1,234,567.89"
    assert fmt_money(None) == "n/a"
    assert fmt_money(float("nan")) == "n/a"
    assert fmt_pct(-0.12345) == "-12.35%"
    assert fmt_pct(None) == "n/a"
    assert fmt_ratio(float("inf")) == "n/a"
    assert fmt_price(42_150.5) == "42,150.50"
    assert fmt_price(2.5) == "2.5000"
    assert fmt_price(0.00012345) == "0.00012345"
    assert fmt_qty(0.25) == "0.25"
    assert fmt_qty(3.0) == "3"
    assert fmt_qty(1e-9) == "0"
    assert fmt_duration(36 / 7 * 3600) == "5h 8m"  # 5.142857 h = 5 h 8.57 min, cut to minutes
    assert fmt_duration(31 * 3600) == "1d 7h"
    assert fmt_duration(420) == "7m"
    assert fmt_duration(12) == "12s"
    assert fmt_duration(None) == "n/a"


def test_full_report_fits_80_columns_with_every_value_intact() -> None:
    result, _ = make_result()
    out = render(result, trades=True, breakdown="day")
    assert_fits(out)
    for title in ("Summary", "Routes", "Exit reasons", "Trades", "Returns by day"):
        assert title in out
    # Every summary value sits whole on one line.
    for row in summary_rows(result):
        if row is not None:
            label, value = row
            assert value in out, (label, value)
    m = result.metrics
    assert fmt_money(m["net_profit"]) in out and m["net_profit"] is not None
    assert "1,234,567.89" in out  # the largest PnL, unbroken
    for row in route_stats(result.trades, result.routes):
        for text in (fmt_money(row["net_pnl"]), fmt_money(row["fees"]), fmt_pct(row["win_rate"])):
            assert text in out
    for t in result.trades:
        for text in (fmt_price(t.entry_price), fmt_price(t.exit_price), fmt_money(t.pnl)):
            assert re.search(rf"(^|\s){re.escape(text)}(\s|$)", out, re.M), text
    days = period_returns(result.equity_time, result.equity, 10_000.0, result.start,
                          result.end, "day")
    assert len(days) == 3
    for d in days:
        assert fmt_pct(d["return"]) in out
    for route in (BTC, ETH):
        assert route.symbol in out
    # Trades are listed in exit order: ids 1, 2, 3, 5 (exit 60h), 4 (exit 71h).
    ids = [ln.split()[0] for ln in out.split("Trades", 2)[-1].splitlines()
           if re.match(r"^\d\s", ln)]
    assert ids == ["1", "2", "3", "5", "4"]


def test_exit_reasons_cover_every_reason() -> None:
    result, _ = make_result()
    out = render(result)
    block = out.split("Exit reasons", 1)[1]
    for label in ("signal", "stop loss", "take profit", "liquidation", "end of run"):
        assert re.search(rf"^\s*{label}\s+1\s", block, re.M), label


def test_no_trade_run_shows_na_never_nan() -> None:
    result, _ = make_result(with_trades=False)
    out = render(result, trades=True, breakdown="week")
    assert_fits(out)
    assert "n/a" in out
    assert "No trades." in out
    assert not re.search(r"\b(nan|inf|infinity)\b", out, re.I)
    assert re.search(r"Win rate\s+n/a", out)
    assert re.search(r"Total trades\s+0", out)
    assert re.search(r"Sharpe\s+n/a", out)  # a flat curve has no spread


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_breakdown_periods(period: str) -> None:
    result, _ = make_result()
    out = render(result, breakdown=period)
    assert_fits(out)
    assert f"Returns by {period}" in out
    if period == "month":
        assert "2024-01 " in out


def test_unknown_breakdown_is_rejected() -> None:
    result, _ = make_result()
    with pytest.raises(ValueError, match="day, week, month"):
        render(result, breakdown="year")


def test_extreme_numbers_and_long_names_still_fit_without_breaking_numbers() -> None:
    """Nine-digit PnLs, sub-cent prices and a long route name: labels may fold, numbers stay
    whole on one line and nothing is cut with an ellipsis."""
    import dataclasses

    from jbt.metrics import compute_metrics, exit_reason_stats
    from jbt.results import RouteSpec

    result, _ = make_result()
    long_route = RouteSpec("binanceusdm-futures", "1000SHIBUSDT-PERP", "15m",
                           "AVeryLongStrategyNameIndeed")
    trades = [dataclasses.replace(t, route=long_route.key, exchange=long_route.exchange,
                                  symbol=long_route.symbol, timeframe="15m",
                                  strategy=long_route.strategy, pnl=-123_456_789.12,
                                  fee=9_876_543.21, entry_price=0.00001234,
                                  exit_price=0.00001111)
              if t.symbol == "BTC-USDT" else t for t in result.trades]
    result = dataclasses.replace(result, routes=[long_route, ETH], trades=trades)
    result.metrics = compute_metrics(result.equity_time, result.equity, trades, 10_000.0,
                                     result.start, result.end)
    out = render(result, trades=True, breakdown="day")
    assert_fits(out)
    assert "…" not in out
    numbers = [fmt_money(-123_456_789.12), "0.00001234", "0.00001111",
               fmt_money(3 * -123_456_789.12), fmt_money(3 * 9_876_543.21)]
    numbers += [fmt_money(r["net_pnl"]) for r in exit_reason_stats(trades) if r["trades"]]
    for row in summary_rows(result):
        if row is not None:
            numbers.append(row[1])
    for text in numbers:
        assert re.search(rf"(^|\s){re.escape(text)}(\s|$)", out, re.M), text
