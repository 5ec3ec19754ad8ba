"""``jbt backtest`` in-process: a project folder in tmp_path, candles in its SQLite file, the
Rich summary on stdout and the session saved with its orders, fills and closed trades."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from jbt.cli import app

from .kit import T0, random_walk
from .projects import BOOM, BUY_AND_HOLD, store_candles, write_project

CROSS = '''
import jbt.indicators as ta
from jbt.strategies import Strategy


class Cross(Strategy):
    def should_long(self):
        fast = ta.ema(self.candles, period=5, sequential=True)
        slow = ta.ema(self.candles, period=12, sequential=True)
        return fast[-2] <= slow[-2] and fast[-1] > slow[-1]

    def go_long(self):
        qty = self.balance * 0.9 / self.price
        self.buy = qty, self.price
        self.stop_loss = qty, self.price * 0.99

    def update_position(self):
        fast = ta.ema(self.candles, period=5, sequential=True)
        slow = ta.ema(self.candles, period=12, sequential=True)
        if fast[-1] < slow[-1]:
            self.liquidate()
'''

CONFIG = """
[backtest]
starting_balance = 5000
fee = 0.001
warmup_candles = 20
"""


def _project(tmp_path, routes, strategies):
    write_project(tmp_path, routes=routes, strategies=strategies, config=CONFIG)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    store_candles(url, "binance", "BTC-USDT", random_walk(3 * 24 * 60, 4, vol=0.002))
    return url


def _invoke(tmp_path, *args):
    runner = CliRunner()
    return runner.invoke(app, ["--project", str(tmp_path), "backtest", *args],
                         env={"COLUMNS": "120"})


def test_backtest_prints_a_summary_and_saves_the_session(tmp_path):
    _project(tmp_path, 'routes = [("binance", "BTC-USDT", "15m", "Cross")]', {"Cross": CROSS})
    result = _invoke(tmp_path, "2020-01-01T12:00", "2020-01-03")
    assert result.exit_code == 0, result.output
    out = result.output
    for label in ("Starting balance", "Finishing balance", "Net profit", "Total trades",
                  "Win rate", "Max drawdown", "Sharpe"):
        assert label in out
    assert "5,000.00" in out
    sid = int(re.search(r"Saved as session (\d+)", out).group(1))

    from jbt.models import BacktestSession, ClosedTrade, Order, Trade, open_database

    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    session = BacktestSession.get_by_id(sid)
    assert (session.status, session.start, session.end) == (
        "finished", T0 + 12 * 3_600_000, T0 + 48 * 3_600_000)
    trades = list(ClosedTrade.select().where(ClosedTrade.session == sid))
    orders = list(Order.select().where(Order.session == sid))
    fills = list(Trade.select().where(Trade.session == sid))
    assert len(trades) >= 3
    assert len(fills) == 2 * len(trades)
    assert len(orders) >= len(fills)
    # the saved trades add up to the saved finishing balance
    total = sum(float(t.pnl) for t in trades)
    assert abs(float(session.starting_balance) + total - float(session.finishing_balance)) < 1e-6
    finishing = f"{float(session.finishing_balance):,.2f}"
    assert finishing in out


def test_default_period_starts_after_the_warm_up(tmp_path):
    _project(tmp_path, 'routes = [("binance", "BTC-USDT", "1h", "Alpha")]',
             {"Alpha": BUY_AND_HOLD.format(name="Alpha", qty=1)})
    result = _invoke(tmp_path, "--no-save")
    assert result.exit_code == 0, result.output
    # the period runs from after the 20 warm-up hours to the end of the 3 stored days
    assert "2020-01-01 → 2020-01-04" in result.output
    assert "Not saved" in result.output
    # bought 1 at the 20:00 open and held: one trade closed at the end of the run
    assert re.search(r"Total trades\s+1\b", result.output)

    from jbt.models import BacktestSession, open_database

    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert BacktestSession.select().count() == 0


def test_errors_are_one_line_with_an_exit_code(tmp_path):
    _project(tmp_path, 'routes = [("binance", "BTC-USDT", "1h", "Nope")]', {})
    result = _invoke(tmp_path)
    assert result.exit_code == 2
    assert "Error: unknown strategy 'Nope'" in result.output
    assert "Traceback" not in result.output

    _project(tmp_path, 'routes = [("binance", "ETH-USDT", "1h", "Boom")]', {"Boom": BOOM})
    result = _invoke(tmp_path, "2020-01-02")
    assert result.exit_code == 1
    assert "jbt import-candles binance ETH-USDT" in result.output

    _project(tmp_path, 'routes = [("binance", "BTC-USDT", "1h", "Boom")]', {"Boom": BOOM})
    result = _invoke(tmp_path)
    assert result.exit_code == 1
    # 20 warm-up hours: the default start is 2020-01-01 20:00, the 4th call (index 3) 23:00
    assert "Error: strategies/Boom/__init__.py line 8 at 2020-01-01 23:00 UTC: ZeroDivisionError" \
        in result.output.replace("\n", " ")

    result = _invoke(tmp_path, "2020-13-01")
    assert result.exit_code == 2
    assert "START '2020-13-01' is not a date" in result.output
