"""The example project: its strategies, `jbt new` strategies and projects, on real sample data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jbt.cli import app
from jbt.config import load_config
from jbt.constants import CLOSE, OPEN, TIMESTAMP
from jbt.importers.files import import_file
from jbt.models import close_database, open_database
from jbt.modes import backtest_mode
from jbt.results import RouteSpec
from jbt.timeframes import aggregate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def sample_db(tmp_path):
    """A SQLite file holding the bundled Coinbase BTC-USD hourly candles."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    open_database(url)
    import_file("coinbase", "BTC-USD", SAMPLE)
    yield url
    close_database()


def assert_accounting(result):
    total = sum(t.pnl for t in result.trades)
    expected = result.starting_balance + total
    assert math.isclose(result.finishing_balance, expected, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [
        ("EmaCross", {}),
        ("RsiReversion", {}),
        ("Breakout", {"type": "futures", "leverage": 2}),
    ],
)
def test_each_example_strategy_trades_on_the_sample_data(sample_db, strategy, overrides):
    config = load_config(ROOT, env={}).with_overrides(
        {"database": {"url": sample_db}, "backtest": overrides}
    )
    result = backtest_mode.run(
        config, [RouteSpec("coinbase", "BTC-USD", "4h", strategy)], project_dir=ROOT, save=False
    )
    assert len(result.trades) > 0
    assert_accounting(result)
    if strategy == "RsiReversion":
        reasons = {t.closed_by for t in result.trades}
        assert {"stop-loss", "take-profit"} <= reasons
    if strategy == "Breakout":
        sides = {t.side for t in result.trades}
        assert sides == {"long", "short"}
        assert all(t.leverage == 2 for t in result.trades)


def sma(values: list[float], period: int) -> float:
    return sum(values[-period:]) / period


def expected_template_trades(bars: np.ndarray, start: int) -> list[tuple[int, float, int, float]]:
    """The template's logic written out: long while SMA(10) > SMA(30) of the closed bars'
    closes, entering and exiting at the open of the bar after the signal."""
    trades = []
    open_at = None
    for k in range(1, len(bars)):
        t = int(bars[k, TIMESTAMP])
        closes = list(bars[:k, CLOSE])
        if t < start or len(closes) < 30:
            continue
        fast, slow = sma(closes, 10), sma(closes, 30)
        if open_at is None and fast > slow:
            open_at = (t, bars[k, OPEN])
        elif open_at is not None and fast < slow:
            trades.append((*open_at, t, bars[k, OPEN]))
            open_at = None
    if open_at is not None:
        trades.append((*open_at, int(bars[-1, TIMESTAMP]) + 4 * 3_600_000, bars[-1, CLOSE]))
    return trades


def test_new_strategy_runs_and_trades_as_its_template_says(tmp_path, sample_db):
    assert invoke("--project", str(tmp_path), "new", "MyStrat").exit_code == 0
    (tmp_path / "routes.py").write_text('routes = [("coinbase", "BTC-USD", "4h", "MyStrat")]\n')
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{sample_db}"\n')
    close_database()

    out = invoke("--project", str(tmp_path), "backtest")
    assert out.exit_code == 0, out.output
    assert "Total trades" in out.output

    config = load_config(tmp_path, env={})
    result = backtest_mode.run(config, project_dir=tmp_path, save=False)
    hourly = np.genfromtxt(SAMPLE, delimiter=",", skip_header=1)
    base = hourly[:, [0, 1, 4, 2, 3, 5]]  # file order → jbt's [ts, open, close, high, low, vol]
    bars = aggregate(base, "1h", "4h")
    expected = expected_template_trades(bars, result.start)
    got = [(t.entry_time, t.entry_price, t.exit_time, t.exit_price) for t in result.trades]
    assert len(got) == len(expected) > 3
    for (et, ep, xt, xp), (get, gep, gxt, gxp) in zip(expected, got, strict=True):
        assert (get, gxt) == (et, xt)
        assert gep == pytest.approx(ep, rel=1e-12) and gxp == pytest.approx(xp, rel=1e-12)
    assert result.trades[-1].closed_by in {"signal", "end-of-run"}
    # First entry: 95% of the starting balance, less room for three fees, floored to 0.001.
    first = result.trades[0]
    budget = config.backtest.starting_balance * 0.95 * (1 - 3 * config.backtest.fee)
    assert first.qty == math.floor(budget / first.entry_price * 1000) / 1000
    assert_accounting(result)


def test_new_project_backtests_after_importing_the_bundled_sample(tmp_path):
    proj = tmp_path / "proj"
    assert invoke("new", "--project", str(proj)).exit_code == 0
    imported = invoke(
        "--project", str(proj), "import-candles", "coinbase", "BTC-USD",
        "--file", str(proj / "data" / "coinbase-BTC-USD-1h.csv"),
    )
    assert imported.exit_code == 0, imported.output
    close_database()
    out = invoke("--project", str(proj), "backtest")
    close_database()
    assert out.exit_code == 0, out.output
    assert "Total trades" in out.output and "Sharpe" in out.output
    assert (proj / "db.sqlite3").is_file()


def test_the_root_routes_and_config_run_an_example_strategy(sample_db):
    config = load_config(ROOT, env={}).with_overrides({"database": {"url": sample_db}})
    result = backtest_mode.run(config, project_dir=ROOT, save=False)
    assert [r.strategy for r in result.routes] == ["EmaCross"]
    assert len(result.trades) > 0
    assert_accounting(result)
