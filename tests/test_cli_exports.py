"""``jbt backtest --json/--csv/--chart`` on a real run (real hourly candles in a SQLite file in
the project folder), and ``jbt sessions show ID --json`` writing the very same JSON."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from cli_project import END, END_MS, ROUTES, START, START_MS, hourly_candles, jbt_run, make_project
from test_chart import figure_from_page, split_page

from jbt.chart import MAX_LINE_POINTS, drawdown_curve, thin_line
from jbt.constants import HOUR_MS
from jbt.report import read_json


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One backtest with every export, then ``sessions show`` of it with every export."""
    root = tmp_path_factory.mktemp("exports")
    project = make_project(root / "project")
    out = root / "out"
    bt = jbt_run(project, "backtest", START, END, "--json", str(out / "run.json"),
                 "--csv", str(out / "csv"), "--chart", str(out / "run.html"))
    assert bt.exit_code == 0, bt.output
    data = json.loads((out / "run.json").read_text(encoding="utf-8"))
    sid = data["session_id"]
    show = jbt_run(project, "sessions", "show", str(sid), "--json", str(out / "show.json"),
                   "--csv", str(out / "show-csv"), "--chart", str(out / "show.html"))
    assert show.exit_code == 0, show.output
    return {"project": project, "out": out, "data": data, "backtest": bt, "show": show}


def test_the_json_export_loads_back_and_equals_sessions_show(run) -> None:
    out, data = run["out"], run["data"]
    assert isinstance(data["session_id"], int)
    assert f"Saved as session {data['session_id']}" in run["backtest"].output
    assert data["period"] == {"start": START_MS, "end": END_MS}
    assert [(r["exchange"], r["symbol"], r["timeframe"], r["strategy"])
            for r in data["routes"]] == ROUTES
    assert data["config"]["backtest"]["fee"] == 0.001
    assert data["starting_balance"] == 10_000.0
    assert len(data["trades"]) > 20 and len(data["orders"]) >= len(data["trades"])
    assert {t["closed_by"] for t in data["trades"]} >= {"signal", "stop-loss", "take-profit"}
    assert data["metrics"]["total_trades"] == len(data["trades"])
    assert data["finishing_balance"] == pytest.approx(
        10_000.0 + sum(t["pnl"] for t in data["trades"]), rel=1e-9)
    # one equity point per hour (the shortest route timeframe), marked at each bar's close
    assert [p["time"] for p in data["equity"]] == list(
        range(START_MS + HOUR_MS, END_MS + 1, HOUR_MS))

    # done-means 3: loads back, and equals what `jbt sessions show ID --json` writes
    assert read_json(out / "run.json").to_dict() == data
    shown = json.loads((out / "show.json").read_text(encoding="utf-8"))
    assert shown == data
    assert (out / "show.json").read_bytes() == (out / "run.json").read_bytes()


def _rows(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _opt(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def test_csv_holds_the_rows_of_the_run(run) -> None:
    out, data = run["out"], run["data"]
    trades = _rows(out / "csv" / "trades.csv")
    want = sorted(data["trades"], key=lambda t: (t["exit_time"], t["entry_time"], t["id"]))
    assert len(trades) == len(want)
    for got, t in zip(trades, want, strict=True):
        assert int(got["id"]) == t["id"] and got["route"] == t["route"]
        assert got["side"] == t["side"] and got["closed_by"] == t["closed_by"]
        assert int(got["entry_time"]) == t["entry_time"]
        assert int(got["exit_time"]) == t["exit_time"]
        for name in ("qty", "entry_price", "exit_price", "pnl", "fee"):
            assert float(got[name]) == t[name], name  # the exact float
    orders = _rows(out / "csv" / "orders.csv")
    assert len(orders) == len(data["orders"])
    for got, o in zip(orders, data["orders"], strict=True):
        assert int(got["id"]) == o["id"] and got["status"] == o["status"]
        assert got["role"] == o["role"] and got["type"] == o["type"]
        assert float(got["qty"]) == o["qty"] and _opt(got["price"]) == o["price"]
        assert _opt(got["fill_price"]) == o["fill_price"] and float(got["fee"]) == o["fee"]
        assert got["reduce_only"] == ("true" if o["reduce_only"] else "false")
    equity = _rows(out / "csv" / "equity.csv")
    assert [int(r["time"]) for r in equity] == [p["time"] for p in data["equity"]]
    assert [float(r["equity"]) for r in equity] == [p["equity"] for p in data["equity"]]
    assert min(float(r["drawdown"]) for r in equity) == pytest.approx(
        data["metrics"]["max_drawdown"], abs=0.02)  # metrics sample daily; CSV per bar
    # the session's CSV files are the run's, byte for byte
    for name in ("trades.csv", "orders.csv", "equity.csv"):
        assert (out / "show-csv" / name).read_bytes() == (out / "csv" / name).read_bytes()


def _expected_bars(tf_hours: int) -> list[list[float]]:
    """The route's bars in the period, aggregated by hand: [time, open, high, low, close]."""
    bars: dict[int, list[float]] = {}
    for ts, o, h, low, c, _ in hourly_candles():
        if not START_MS <= ts < END_MS:
            continue
        key = int(ts) // (tf_hours * HOUR_MS) * tf_hours * HOUR_MS
        if key not in bars:
            bars[key] = [key, o, h, low, c]
        else:
            b = bars[key]
            b[2], b[3], b[4] = max(b[2], h), min(b[3], low), c
    return [bars[k] for k in sorted(bars)]


@pytest.mark.parametrize("page", ["run.html", "show.html"])
def test_chart_holds_candles_markers_and_equity_offline(run, page) -> None:
    data = run["data"]
    html = (run["out"] / page).read_text(encoding="utf-8")
    bundle, rest = split_page(html)
    assert len(bundle) > 1_000_000
    assert not re.search(r"<(script|img|iframe|source|embed)\b[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert not re.search(r"@import|url\(|https?:|//cdn|\bwww\.", rest, re.I)
    traces, _ = figure_from_page(rest)
    by = {(t.get("meta", {}).get("route"), t["meta"]["role"]): t for t in traces}
    for route in data["routes"]:
        key = f"{route['exchange']}:{route['symbol']}:{route['timeframe']}:{route['strategy']}"
        bars = _expected_bars(int(route["timeframe"][:-1]))
        assert len(bars) == (END_MS - START_MS) // (int(route["timeframe"][:-1]) * HOUR_MS)
        c = by[(key, "candles")]
        assert c["x"] == [int(b[0]) for b in bars]
        assert c["open"] == [b[1] for b in bars] and c["high"] == [b[2] for b in bars]
        assert c["low"] == [b[3] for b in bars] and c["close"] == [b[4] for b in bars]
        trades = [t for t in data["trades"] if t["route"] == key]
        assert trades, key
        entries, exits = by[(key, "entries")], by[(key, "exits")]
        assert entries["customdata"] == [t["id"] for t in trades]
        assert entries["x"] == [t["entry_time"] for t in trades]
        assert entries["y"] == [t["entry_price"] for t in trades]
        assert exits["x"] == [t["exit_time"] for t in trades]
        assert exits["y"] == [t["exit_price"] for t in trades]
    eq = by[(None, "equity")]
    assert eq["x"] == [p["time"] for p in data["equity"]]
    assert eq["y"] == [p["equity"] for p in data["equity"]]
    assert by[(None, "drawdown")]["y"] == drawdown_curve(
        [p["equity"] for p in data["equity"]], data["starting_balance"])


def test_a_long_equity_line_is_thinned_keeping_every_peak_and_trough() -> None:
    n = 3 * MAX_LINE_POINTS + 7
    rng = np.random.default_rng(3)
    values = (10_000 + np.cumsum(rng.normal(0, 5, n))).tolist()
    values[12_345] = 1.0  # a one-bar crash must stay visible
    values[50_001] = 99_999.0  # and a one-bar spike
    times = [1_600_000_000_000 + 60_000 * i for i in range(n)]
    t, v = thin_line(times, values)
    assert len(t) == len(v) <= MAX_LINE_POINTS
    assert len(t) > MAX_LINE_POINTS - 10
    assert t == sorted(set(t)) and t[0] == times[0] and t[-1] == times[-1]
    assert all(values[(x - times[0]) // 60_000] == y for x, y in zip(t, v, strict=True))
    assert min(v) == 1.0 and max(v) == 99_999.0
    # the chart thins the drawdown computed on every point: its depth is unchanged
    dd = drawdown_curve(values, 10_000.0)
    assert min(thin_line(times, dd)[1]) == min(dd) < -0.99
    # a line that fits is drawn whole
    assert thin_line(times[:500], values[:500]) == (times[:500], values[:500])


def test_metrics_of_the_run_are_the_equity_sampled_at_each_utc_day_close(run) -> None:
    """End to end: the engine marks equity at bar closes; the metrics take the mark at each
    UTC midnight (the bar that closed then, not the one before) after the starting balance."""
    qs = pytest.importorskip("quantstats")
    import pandas as pd

    data = run["data"]
    m = data["metrics"]
    by_time = {p["time"]: p["equity"] for p in data["equity"]}
    midnights = range(START_MS + 86_400_000, END_MS + 1, 86_400_000)
    assert END_MS % 86_400_000 == 0  # the period ends on a midnight: no partial day

    def ratios(closes: list[float]) -> dict[str, float]:
        full = np.array([data["starting_balance"], *closes])
        r = pd.Series(full[1:] / full[:-1] - 1,
                      index=pd.date_range("2018-07-11", periods=len(closes), freq="D"))
        return {"sharpe": qs.stats.sharpe(r, periods=365),
                "sortino": qs.stats.sortino(r, periods=365),
                "annual_return": qs.stats.cagr(r, periods=365),
                "max_drawdown": qs.stats.max_drawdown(r),
                "calmar": qs.stats.calmar(r, periods=365),
                "omega": qs.stats.omega(r, periods=365)}

    expected = ratios([by_time[t] for t in midnights])
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert m["days"] == len(midnights) == 46
    # A one-bar lag (the mark an hour before each midnight) gives other numbers.
    lagged = ratios([by_time[t - HOUR_MS] for t in midnights])
    assert lagged["sharpe"] != pytest.approx(m["sharpe"], rel=1e-6)


def test_buy_and_hold_is_the_first_routes_symbol_over_the_period(run) -> None:
    rows = [r for r in hourly_candles() if START_MS <= r[0] < END_MS]
    first_open, last_close = rows[0][1], rows[-1][4]
    assert rows[0][0] == START_MS and rows[-1][0] == END_MS - HOUR_MS
    assert run["data"]["metrics"]["buy_and_hold_return"] == pytest.approx(
        last_close / first_open - 1, rel=1e-12)
