"""jbt.research: backtests from Python on the command line's code paths.

The README's "Research from Python" examples run here as written; a notebook-defined strategy
on DataFrame candles gives the JSON ``jbt backtest --json`` writes for the same routes, period
and config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_project import END, HOURS, SAMPLE, START, jbt_run, make_project, write_routes

import jbt
from jbt import research
from jbt.constants import CLOSE
from jbt.errors import CandlesMissingError, InputError
from jbt.results import BacktestResult
from jbt.strategies import Strategy

README = Path(jbt.__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert found, f"README has no '## {title}'"
    return found.group(1)


@pytest.fixture
def sample_project(tmp_path, monkeypatch):
    """A project folder with no config.toml (the defaults) and the bundled sample imported,
    as the Quick start does; the current folder."""
    project = tmp_path / "project"
    project.mkdir()
    result = jbt_run(project, "import-candles", "coinbase", "BTC-USD", "--file", str(SAMPLE))
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(project)
    yield project
    from jbt.models import close_database

    close_database()


def test_the_readme_examples_run(sample_project, capsys):
    blocks = re.findall(r"```python\n(.*?)```", _section("Research from Python"), flags=re.S)
    assert len(blocks) == 4
    ns: dict = {"__name__": "readme_research"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)
    printed = capsys.readouterr().out.splitlines()

    assert ns["candles"].shape == (540, 6)  # 90 days of 4h bars, as the comment says
    assert printed[0] == "(540, 6)"
    hourly = ns["hourly"]
    assert list(hourly.columns) == ["open", "high", "low", "close", "volume"]
    assert str(hourly.index.tz) == "UTC" and len(hourly) == 181 * 24

    result = ns["result"]
    assert isinstance(result, BacktestResult) and len(result.trades) > 0
    assert result.config["backtest"]["fee"] == 0.0005
    assert result.config["hyperparameters"] == {"Trend": {"fast": 10, "slow": 30}}
    assert ns["document"]["trades"][0]["strategy"] == "Trend"
    assert result.finishing_balance == pytest.approx(
        result.starting_balance + sum(t.pnl for t in result.trades), rel=1e-12)

    # the DataFrame run has the period of the frame after the warm-up: 50 4h bars from Jan 1
    on_frame = ns["on_frame"]
    assert on_frame.start == 1546300800000 + 50 * 4 * 3_600_000
    # 30 days of warm-up, then 60 days: an equity point at each of their closes
    assert len(ns["on_array"].equity) == 90 - 30

    # the sweep: each run equals a fresh backtest with that parameter
    for fast, line in zip((5, 10, 20), printed[-3:], strict=True):
        fresh = research.backtest([("coinbase", "BTC-USD", "4h", ns["Trend"])],
                                  start="2019-01-01", end="2019-07-01",
                                  hyperparameters={"Trend": {"fast": fast}},
                                  config={"warmup_candles": 50})
        assert line == f"{fast} {len(fresh.trades)} {fresh.metrics['net_profit']}"


# --------------------------------------------------------------- the same JSON as the CLI


class Swing(Strategy):  # the project's strategies/Swing, written in a notebook
    def should_long(self):
        c = self.candles
        return len(c) >= 3 and c[-1][CLOSE] > c[-2][CLOSE] > c[-3][CLOSE]

    def go_long(self):
        from jbt import utils

        qty = utils.size_to_qty(self.balance * 0.4, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price
        self.stop_loss = qty, self.price * 0.985
        self.take_profit = qty, self.price * 1.02

    def update_position(self):
        c = self.candles
        if c[-1][CLOSE] < c[-2][CLOSE] < c[-3][CLOSE] < c[-4][CLOSE]:
            self.liquidate()


class Rising(Strategy):  # the project's strategies/Rising
    def should_long(self):
        c = self.candles
        return len(c) >= 3 and c[-1][CLOSE] > c[-2][CLOSE] > c[-3][CLOSE]

    def go_long(self):
        from jbt import utils

        qty = utils.size_to_qty(self.balance * 0.4, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def update_position(self):
        if self.candles[-1][CLOSE] < self.candles[-2][CLOSE]:
            self.liquidate()


def _without_duration(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "duration_s"}


def test_a_notebook_strategy_on_dataframe_candles_gives_the_cli_json(tmp_path):
    project = make_project(tmp_path / "project")
    write_routes(project, [("coinbase", "BTC-USD", "1h", "Swing"),
                           ("coinbase", "BTC-USD", "4h", "Rising")])
    out = tmp_path / "cli.json"
    ran = jbt_run(project, "backtest", START, END, "--json", str(out), "--no-save")
    assert ran.exit_code == 0, ran.output
    cli = json.loads(out.read_text(encoding="utf-8"))
    assert len(cli["trades"]) > 10

    # the candles the project imported, read with pandas: columns in the CSV's order
    frame = pd.read_csv(SAMPLE).iloc[:HOURS]
    result = research.backtest(
        [("coinbase", "BTC-USD", "1h", Swing), ("coinbase", "BTC-USD", "4h", Rising)],
        candles={("coinbase", "BTC-USD"): frame}, start=START, end=END, project=project)
    mine = json.loads(json.dumps(result.to_dict()))
    assert _without_duration(mine) == _without_duration(cli)

    # by name, from the project's strategies/ and database: the same again
    by_name = research.backtest([("coinbase", "BTC-USD", "1h", "Swing"),
                                 ("coinbase", "BTC-USD", "4h", "Rising")],
                                start=START, end=END, project=project)
    assert _without_duration(json.loads(json.dumps(by_name.to_dict()))) == \
        _without_duration(cli)


def test_saved_research_runs_are_sessions(tmp_path):
    project = make_project(tmp_path / "project")
    r = research.backtest([("coinbase", "BTC-USD", "4h", Rising)], start=START, end=END,
                          project=project, save=True)
    assert r.session_id is not None
    shown = jbt_run(project, "sessions", "show", str(r.session_id), "--json",
                    str(tmp_path / "s.json"))
    assert shown.exit_code == 0, shown.output
    saved = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert _without_duration(saved) == _without_duration(json.loads(json.dumps(r.to_dict())))


# --------------------------------------------------------------------------- candles in


def test_to_candles_reads_frames_and_arrays_by_column_name():
    t0 = 1_546_300_800_000
    rows = [[t0 + i * 60_000, 10.0 + i, 12.0 + i, 9.0 + i, 11.0 + i, 5.0] for i in range(3)]
    expected = np.array([[r[0], r[1], r[4], r[2], r[3], r[5]] for r in rows])  # jbt's order
    frame = pd.DataFrame(rows, columns=["Time", "Open", "High", "Low", "Close", "Volume"])
    frame["Time"] = pd.to_datetime(frame["Time"], unit="ms")
    assert research.to_candles(frame).tolist() == expected.tolist()
    indexed = frame.set_index("Time").iloc[::-1]  # a DatetimeIndex, newest first
    assert research.to_candles(indexed).tolist() == expected.tolist()
    utc = indexed.tz_localize("UTC").tz_convert("Asia/Tokyo")
    assert research.to_candles(utc).tolist() == expected.tolist()
    ms = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    assert research.to_candles(ms).tolist() == expected.tolist()
    array = np.array(rows)
    assert research.to_candles(array, columns=["timestamp", "open", "high", "low", "close",
                                               "volume"]).tolist() == expected.tolist()
    assert research.to_candles(expected).tolist() == expected.tolist()
    back = research.to_dataframe(expected)
    assert research.to_candles(back).tolist() == expected.tolist()


@pytest.mark.parametrize(("data", "kwargs", "message"), [
    (pd.DataFrame({"open": [1.0]}), {}, "the DataFrame has no column close, high, low, volume"),
    (np.zeros((3, 5)), {}, "do not describe a 5-column array"),
    (np.zeros((3, 6)), {"columns": ["t", "o", "h", "l", "c", "v"]}, "missing: timestamp"),
    (np.array([[0.0, 1, 1, 1, np.nan, 1]]), {}, "NaN or infinite values"),
])
def test_bad_candles_are_one_line(data, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        research.to_candles(data, **kwargs)


def test_backtest_input_errors_are_one_line(tmp_path):
    t0 = 1_546_300_800_000
    rows = np.array([[t0 + i * 60_000, 10.0, 10.0, 10.0, 10.0, 1.0] for i in range(30)])
    route = ("x", "BTC-USD", "5m", Rising)
    with pytest.raises(InputError, match="the strategy must be a Strategy class or a name"):
        research.backtest([("x", "BTC-USD", "5m", 42)], candles=rows, project=tmp_path)
    with pytest.raises(InputError, match="two different strategy classes are named Rising"):
        other = type("Rising", (Strategy,), {})
        research.backtest([route, ("x", "BTC-USD", "15m", other)], candles=rows,
                          project=tmp_path)
    with pytest.raises(InputError, match="nothing given for x ETH-USD"):
        research.backtest([route, ("x", "ETH-USD", "5m", Swing)],
                          candles={("x", "BTC-USD"): rows}, project=tmp_path)
    skewed = rows.copy()
    skewed[:, 0] += 1_000
    with pytest.raises(InputError, match="not aligned to 1m bars"):
        research.backtest([route], candles=skewed, project=tmp_path)
    with pytest.raises(InputError, match=r"start \(2019-01-02\) must be before end"):
        research.backtest([route], candles=rows, start="2019-01-02", end="2019-01-01",
                          project=tmp_path)
    with pytest.raises(InputError, match="unknown strategy 'Nope'"):
        research.backtest([("x", "BTC-USD", "5m", "Nope")], candles=rows, project=tmp_path)
    with pytest.raises(CandlesMissingError, match="no candles stored for x BTC-USD"):
        research.get_candles("x", "BTC-USD", "1h", project=tmp_path)
    r = research.backtest([route], candles=rows, project=tmp_path,
                          config={"warmup_candles": 1, "fee": 0.0})
    assert r.start == t0 + 5 * 60_000 and r.end == t0 + 30 * 60_000
