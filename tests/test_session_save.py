"""Saving sessions (issue 16, finding 15): a save waits for another writer instead of losing the
session; a save that cannot be written leaves the finished result intact; concurrent saves of
large sessions through the API all succeed; what is saved reads back value for value, and
sessions saved in the earlier layout still read back."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from jbt import candles
from jbt.config import BacktestConfig, Config
from jbt.models import (
    BacktestSession,
    ClosedTrade,
    Order,
    SessionData,
    SessionEquity,
    Trade,
    close_database,
    open_database,
)
from jbt.modes import backtest_mode
from jbt.results import RouteSpec
from jbt.sessions import SessionSaveError, load_session, save_session
from jbt.strategies import Strategy

T0 = 1_704_067_200_000  # 2024-01-01 UTC


class Churn(Strategy):
    """Buys at market every other bar and sells on the next: one order and one fill a bar."""

    def should_long(self):
        return self.index % 2 == 0

    def go_long(self):
        self.buy = 0.01, self.price

    def update_position(self):
        self.liquidate()


CHURN_SOURCE = '''\
from jbt.strategies import Strategy


class Churn(Strategy):
    def should_long(self):
        return self.index % 2 == 0

    def go_long(self):
        self.buy = 0.01, self.price

    def update_position(self):
        self.liquidate()
'''


def minutes(n: int, seed: int = 3) -> np.ndarray:
    """``n`` seeded 1m candles from T0, in jbt's column order."""
    rng = np.random.default_rng(seed)
    close = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.r_[40_000.0, close[:-1]]
    wiggle = np.abs(rng.normal(0.0, 0.0004, (2, n))) * close
    ts = T0 + 60_000 * np.arange(n, dtype=np.float64)
    return np.column_stack([ts, open_, close, np.maximum(open_, close) + wiggle[0],
                            np.minimum(open_, close) - wiggle[1], rng.uniform(1, 9, n)])


def churn_result(bars: int = 3_000):
    """A finished run (not saved) with about ``bars`` orders, fills and equity points."""
    candles.insert_candles("bench", "BTC-USDT", "1m", minutes(bars))
    config = Config(backtest=BacktestConfig(warmup_candles=0))
    return backtest_mode.run(
        config, [RouteSpec("bench", "BTC-USDT", "1m", "Churn")], T0, T0 + bars * 60_000,
        strategies={"Churn": Churn}, save=False,
    )


def rows(model, sid: int) -> int:
    return model.select().where(model.session == sid).count()


def test_saved_rows_hold_every_record_and_read_back_value_for_value(db):
    result = churn_result()
    assert len(result.orders) > 2_000 and len(result.trades) > 1_000
    sid = save_session(result)
    assert (rows(Order, sid), rows(Trade, sid), rows(ClosedTrade, sid)) == (
        len(result.orders), len(result.fills), len(result.trades))
    assert rows(SessionData, sid) == rows(SessionEquity, sid) == 1
    packed = SessionEquity.get(SessionEquity.session == sid)
    assert packed.count == len(result.equity)

    result.session_id = sid
    assert load_session(sid).to_dict() == result.to_dict()

    # the tables: one row per record, the same values (PostgreSQL: to 12 decimal places)
    first = result.orders[0]
    row = Order.get((Order.session == sid) & (Order.order_id == first.id))
    assert (row.route, row.side, row.type, row.status, row.created_at, row.reduce_only) == (
        first.route, first.side, first.type, first.status, first.created_at, first.reduce_only)
    assert float(row.qty) == pytest.approx(first.qty, abs=1e-12)
    assert float(row.fill_price) == pytest.approx(first.fill_price, abs=1e-12)
    last = result.trades[-1]
    trade = ClosedTrade.get((ClosedTrade.session == sid) & (ClosedTrade.trade_id == last.id))
    assert float(trade.pnl) == pytest.approx(last.pnl, abs=1e-12)
    assert (trade.exit_time, trade.closed_by) == (last.exit_time, last.closed_by)


def test_sessions_saved_in_the_earlier_layout_still_read_back(db):
    """Before the equity table: the curve as JSON pairs in ``backtest_session.equity`` and one
    JSON object per record in ``backtest_session_data``."""
    from dataclasses import asdict

    result = churn_result(600)
    sid = save_session(result)
    old = {
        "starting_balance": result.starting_balance,
        "finishing_balance": result.finishing_balance,
        "trades": [asdict(t) for t in result.trades],
        "orders": [asdict(o) for o in result.orders],
        "fills": [asdict(f) for f in result.fills],
        "warnings": [], "base_timeframes": result.extra["base_timeframes"],
    }
    SessionData.update(data=json.dumps(old)).where(SessionData.session == sid).execute()
    SessionEquity.delete().where(SessionEquity.session == sid).execute()
    pairs = [[t, e] for t, e in zip(result.equity_time, result.equity, strict=True)]
    BacktestSession.update(equity=json.dumps(pairs)).where(BacktestSession.id == sid).execute()
    result.session_id = sid
    assert load_session(sid).to_dict() == result.to_dict()


def test_a_save_waits_for_another_writer_instead_of_failing(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = open_database(f"sqlite:///{path}")
    try:
        result = churn_result(600)
        db.execute_sql("PRAGMA busy_timeout = 100")  # SQLite alone gives up after 0.1 s
        other = sqlite3.connect(path, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock ...
        other.execute("INSERT INTO symbol_listing VALUES ('x', 'Y-Z', 1)")
        release = threading.Timer(1.5, other.commit)  # ... for 1.5 s
        began = time.monotonic()
        release.start()
        sid = save_session(result)
        waited = time.monotonic() - began
        release.join()
        other.close()
        assert waited >= 1.4
        assert rows(Order, sid) == len(result.orders)
        assert BacktestSession.get_by_id(sid).status == "finished"
    finally:
        close_database()


def test_a_save_that_cannot_be_written_keeps_the_result(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        candles.insert_candles("bench", "BTC-USDT", "1m", minutes(600))
        db.execute_sql("PRAGMA query_only = 1")  # the database cannot be written
        config = Config(backtest=BacktestConfig(warmup_candles=0))
        result = backtest_mode.run(
            config, [RouteSpec("bench", "BTC-USDT", "1m", "Churn")], T0, T0 + 600 * 60_000,
            strategies={"Churn": Churn},
        )
        assert result.session_id is None
        assert result.extra["save_error"] == (
            f"{tmp_path / 'db.sqlite3'} is read-only: check the permissions of the file and its "
            "folder, or set another database.url")
        assert len(result.trades) > 100 and result.metrics["total_trades"] == len(result.trades)
        with pytest.raises(SessionSaveError, match="readonly"):
            save_session(result)
        db.execute_sql("PRAGMA query_only = 0")
        assert BacktestSession.select().count() == 0
    finally:
        close_database()


@pytest.mark.slow
def test_concurrent_large_saves_through_the_api_all_succeed(tmp_path):
    """Four backtests at once whose sessions hold 6,000 orders each (the finding: two of four
    86k-order sessions answered 500 "database is locked" and were neither saved nor returned)."""
    from api.conftest import uvicorn_server, write_project

    from jbt.api import create_app
    from jbt.config import load_config

    bars = 12_000
    root = write_project(tmp_path / "project", strategies={"Churn": CHURN_SOURCE})
    app = create_app(load_config(root, env={}), root)
    body = {"routes": [{"exchange": "bench", "symbol": "BTC-USDT", "timeframe": "1m",
                        "strategy": "Churn"}],
            "start": "2024-01-01", "config": {"backtest": {"warmup_candles": 0}}}
    with uvicorn_server(app) as base:
        with app.state.jbt.db.connection_context():
            candles.insert_candles("bench", "BTC-USDT", "1m", minutes(bars))
        barrier = threading.Barrier(4)

        def send(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=300) as http:
                barrier.wait()
                return http.post("/backtest", json=body)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        assert [a.status_code for a in answers] == [200] * 4, [a.text[:200] for a in answers]
        results = [a.json() for a in answers]
        with httpx.Client(base_url=base, timeout=60) as http:
            again = http.get(f"/sessions/{results[0]['session_id']}").json()
    assert again == results[0]
    ids = {r["session_id"] for r in results}
    assert len(ids) == 4
    with app.state.jbt.db.connection_context():
        for r in results:
            assert len(r["orders"]) >= bars // 2
            assert rows(Order, r["session_id"]) == len(r["orders"])
            assert rows(ClosedTrade, r["session_id"]) == len(r["trades"])
        assert [s.status for s in BacktestSession.select()] == ["finished"] * 4


def test_equity_curves_read_back_with_and_without_gaps(db):
    result = churn_result(600)
    regular = save_session(result)
    assert SessionEquity.get(SessionEquity.session == regular).step == 60_000
    result.equity_time = result.equity_time[:100] + [t + 3_600_000 for t in result.equity_time[100:]]
    gapped = save_session(result)
    packed = SessionEquity.get(SessionEquity.session == gapped)
    assert packed.step is None and len(bytes(packed.times)) == 8 * len(result.equity)
    back = load_session(gapped)
    assert (back.equity_time, back.equity) == (result.equity_time, result.equity)
