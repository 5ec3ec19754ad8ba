"""Concurrent requests on real uvicorn: two backtests at once return exactly what each returns
alone, and an import writing the database while backtests read it corrupts nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from jbt import candles
from jbt.api import create_app
from jbt.config import load_config
from jbt.models import BacktestSession

from .conftest import (
    FAKE_DAYS,
    PERIOD,
    SAMPLE_EXCHANGE,
    SAMPLE_SYMBOL,
    SAMPLE_TF,
    sample_candles,
    uvicorn_server,
    wait_job,
    without_timing,
    write_project,
)

A = {
    "routes": [{"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "4h", "strategy": "Rising"}],
    **PERIOD,
}
B = {
    "routes": [{"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "1h", "strategy": "Rising"}],
    "start": "2018-07-20",
    "end": "2018-09-12",
    "config": {"backtest": {"fee": 0.0004, "starting_balance": 2500}},
}


def _app(tmp_path, exchange_url=None):
    root = write_project(tmp_path / "project", exchange_url=exchange_url)
    app = create_app(load_config(root, env={}), root)
    return app


def _seed(app) -> None:
    with app.state.jbt.db.connection_context():
        candles.insert_candles(SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF, sample_candles())


def _post_all(base: str, bodies: list[dict]) -> list[httpx.Response]:
    """POST every body to /backtest at the same moment, one thread and connection each."""
    barrier = threading.Barrier(len(bodies))

    def send(body: dict) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            return http.post("/backtest", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_backtests_at_once_return_what_each_returns_alone(tmp_path):
    app = _app(tmp_path)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        _seed(app)
        alone_a = http.post("/backtest", json=A).json()
        alone_b = http.post("/backtest", json=B).json()
        assert alone_a["finishing_balance"] != alone_b["finishing_balance"]
        assert alone_b["starting_balance"] == 2500

        together = _post_all(base, [A, B, A, B])
        assert [r.status_code for r in together] == [200, 200, 200, 200]
        results = [r.json() for r in together]
        for got, want in zip(results, [alone_a, alone_b, alone_a, alone_b], strict=True):
            assert without_timing(got) == without_timing(want)
        ids = [alone_a["session_id"], alone_b["session_id"], *(r["session_id"] for r in results)]
        assert len(set(ids)) == 6
        assert sorted(s["id"] for s in http.get("/sessions").json()) == sorted(ids)


def test_an_import_while_backtests_read_corrupts_nothing(tmp_path, fake_exchange):
    app = _app(tmp_path, exchange_url=fake_exchange.url)
    fake_exchange.slow_s = 0.15
    fake_exchange.script(["slow"] * 8)  # keep the import running for a while
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        _seed(app)
        baseline = http.post("/backtest", json=A).json()
        r = http.post(
            "/candles/import",
            json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-04"},
        )
        assert r.status_code == 202
        job_id = r.json()["id"]

        during = []
        while http.get(f"/jobs/{job_id}").json()["status"] in ("queued", "running"):
            during.append(http.post("/backtest", json=A))
            during.append(http.get("/candles"))
        job = wait_job(http, job_id)

        assert job["status"] == "finished", job
        assert len(during) >= 4  # the import overlapped several requests
        for resp in during:
            assert resp.status_code == 200, resp.text
        for resp in during[::2]:
            assert without_timing(resp.json()) == without_timing(baseline)
        backtests = 1 + len(during) // 2
        assert len(http.get("/sessions", params={"limit": 1000}).json()) == backtests

    minutes = FAKE_DAYS * 1440
    assert job["counts"]["inserted"] == minutes
    db = app.state.jbt.db
    with db.connection_context():
        assert db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = candles.load_candles("binance", "BTC-USDT", "1m")
        assert (stored == fake_exchange.candles("BTCUSDT")).all()
        assert len(stored) == minutes
        sample = candles.load_candles(SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF)
        assert (sample == sample_candles()).all()
        assert BacktestSession.select().count() == backtests


SLOW = """\
import time

from jbt.strategies import Strategy


class Slow(Strategy):
    def should_long(self):
        time.sleep(0.002)
        return False
"""


def test_at_most_max_backtests_run_at_once(tmp_path):
    from strategy_sources import RISING

    root = write_project(tmp_path / "project", strategies={"Slow": SLOW, "Rising": RISING})
    app = create_app(load_config(root, env={}), root, max_backtests=2)
    slow = {**A, "routes": [{**A["routes"][0], "strategy": "Slow"}]}
    seen: list[tuple[int, int]] = []
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        _seed(app)
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(_post_all, base, [slow] * 5)
            while not sent.done():
                jobs = [j["status"] for j in http.get("/jobs").json()]
                seen.append((jobs.count("running"), jobs.count("queued")))
            responses = sent.result()
    assert [r.status_code for r in responses] == [200] * 5
    assert max(running for running, _ in seen) == 2
    assert max(queued for _, queued in seen) >= 1  # the others waited for a slot
    first = without_timing(responses[0].json())
    assert all(without_timing(r.json()) == first for r in responses)
