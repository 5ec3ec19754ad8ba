"""Futures backtests from the database: ``jbt backtest`` and ``jbt.research`` load the stored
funding events and mark-price candles of the routes' perpetuals, refuse a period whose funding
history has holes (naming the import command), and save the funding with the session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from jbt.cli import app

from .kit import T0, M
from .projects import store_candles, write_project

H = 60 * M
HOURS = 30

HOLDER = '''
from jbt.strategies import Strategy


class Holder(Strategy):
    """Long 2 at 01:00, closed at 20:00."""

    def should_long(self):
        return self.time == {open_at}

    def go_long(self):
        self.buy = 2, self.price

    def update_position(self):
        if self.time == {close_at}:
            self.liquidate()
'''

CONFIG = """
[backtest]
starting_balance = 1000
fee = 0.0
warmup_candles = 1
type = "futures"
leverage = 2
{extra}
"""


def ramp() -> np.ndarray:
    """1m candles from T0 (2020-01-01): minute k opens and closes at 100 + 0.01·k."""
    k = np.arange(HOURS * 60, dtype=np.float64)
    price = 100.0 + 0.01 * k
    return np.column_stack([T0 + k * M, price, price, price, price, np.ones_like(k)])


def project(tmp_path, *, extra: str = "", events=((8, 0.0001), (16, 0.0002), (24, -0.0001)),
            mark: bool = False):
    write_project(tmp_path, routes='routes = [("binance-futures", "BTC-USDT", "1h", "Holder")]',
                  strategies={"Holder": HOLDER.format(open_at=T0 + H, close_at=T0 + 20 * H)},
                  config=CONFIG.format(extra=extra))
    store_candles(f"sqlite:///{tmp_path / 'db.sqlite3'}", "binance-futures", "BTC-USDT", ramp())
    from jbt import candles, funding

    funding.insert_funding("binance-futures", "BTC-USDT",
                           np.array([T0 + h * H for h, _ in events]),
                           np.array([r for _, r in events]), intervals=np.full(len(events), 8 * H))
    if mark:
        marked = ramp()
        marked[:, 1:5] += 5.0
        candles.insert_candles(funding.mark_source("binance-futures"), "BTC-USDT", "1m", marked)


def backtest(tmp_path, *args):
    return CliRunner().invoke(app, ["--project", str(tmp_path), "backtest", "2020-01-01T01:00",
                                    "2020-01-02T06:00", *args], env={"COLUMNS": "120"})


def test_jbt_backtest_charges_the_stored_funding_at_the_mark_price(tmp_path):
    project(tmp_path, mark=True)
    out = tmp_path / "r.json"
    result = backtest(tmp_path, "--json", str(out), "--csv", str(tmp_path / "csv"))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # held 01:00 → 20:00: the events at 08:00 and 16:00, on 2 x the mark (the 1m open + 5)
    expected = [(T0 + h * H, r, 100.0 + 0.01 * 60 * h + 5.0) for h, r in ((8, 0.0001),
                                                                        (16, 0.0002))]
    assert [(f["time"], f["rate"], f["price"]) for f in data["funding"]] == [
        (t, r, pytest.approx(p, rel=1e-12)) for t, r, p in expected]
    total = sum(-2.0 * p * r for _, r, p in expected)
    (trade,) = data["trades"]
    assert trade["funding"] == pytest.approx(total, rel=1e-12) and trade["fee"] == 0.0
    assert data["metrics"]["funding"] == pytest.approx(total, rel=1e-12)
    assert data["metrics"]["liquidations"] == 0
    assert "Funding received (net)" in result.output and "Liquidations" in result.output
    # the CSV export has the trade's funding and every payment
    header, row = (tmp_path / "csv" / "trades.csv").read_text().splitlines()[:2]
    assert float(row.split(",")[header.split(",").index("funding")]) == pytest.approx(total)
    assert len((tmp_path / "csv" / "funding.csv").read_text().splitlines()) == 3
    # the saved session reads back the same funding
    from jbt.sessions import load_session

    assert data["session_id"] is not None
    saved = load_session(data["session_id"])
    assert [vars(f) for f in saved.funding] == data["funding"]
    assert saved.trades[0].funding == trade["funding"]


def test_a_hole_in_the_funding_history_is_one_line_naming_the_import_command(tmp_path):
    project(tmp_path, events=((8, 0.0001), (24, -0.0001)))  # 16:00 missing
    result = backtest(tmp_path)
    assert result.exit_code != 0
    assert result.output.strip() == (
        "Error: binance-futures BTC-USDT: funding rates missing between 2020-01-01 16:00 and "
        "2020-01-01 16:00 UTC; fetch them with: jbt import-candles binance-futures BTC-USDT "
        "2020-01-01T16:00 --end 2020-01-01T16:01 --funding (or set funding = \"ignore\" in "
        "config.toml's [backtest] to leave funding out)")
    from jbt.models import BacktestSession

    assert BacktestSession.select().count() == 0  # nothing half-written


def test_no_funding_stored_names_the_import_of_the_period(tmp_path):
    project(tmp_path, events=())
    result = backtest(tmp_path)
    assert result.exit_code != 0
    assert "jbt import-candles binance-futures BTC-USDT 2020-01-01T01:00 --end " \
           "2020-01-02T06:00 --funding" in result.output


def test_funding_ignore_skips_it(tmp_path):
    project(tmp_path, extra='funding = "ignore"', events=())
    out = tmp_path / "r.json"
    result = backtest(tmp_path, "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["funding"] == [] and data["trades"][0]["funding"] == 0.0


def test_research_backtest_reads_the_same_funding_or_takes_it_as_arrays(tmp_path):
    from jbt import research

    project(tmp_path)
    kwargs = dict(start="2020-01-01T01:00", end="2020-01-02T06:00", project=tmp_path)
    routes = [("binance-futures", "BTC-USDT", "1h", "Holder")]
    from_db = research.backtest(routes, **kwargs)
    assert [f.time for f in from_db.funding] == [T0 + 8 * H, T0 + 16 * H]
    # the same run from arrays: candles and (times, rates) given, no database read for them
    given = research.backtest(routes, ramp(), funding=(
        np.array([T0 + 8 * H, T0 + 16 * H, T0 + 24 * H]), np.array([0.0001, 0.0002, -0.0001])),
        **kwargs)
    assert [vars(f) for f in given.funding] == [vars(f) for f in from_db.funding]
    assert given.finishing_balance == from_db.finishing_balance
