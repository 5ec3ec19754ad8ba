"""Cancelling reaches every wait (issue 16, finding 18): the exchange answers the listing
request with 429 and ``Retry-After: 3600``, and the first Ctrl-C, ``DELETE /jobs/ID`` and a
SIGTERM to ``jbt serve`` each stop the import within seconds, not after the hour."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fakes.binance import FakeBinance, FakeMarket, write_project
from fastapi.testclient import TestClient

from jbt.api import create_app
from jbt.config import load_config

T0 = 1_577_836_800_000
RETRY_AFTER = 3600
ARGS = ["import-candles", "binance", "BTC-USDT", "2020-01-01", "--end", "2020-01-02"]
BODY = {"exchange": "binance", "symbol": "BTC-USDT", "start": "2020-01-01", "end": "2020-01-02"}


@pytest.fixture
def held(tmp_path):
    """A project whose exchange answers the first candle request (the listing probe) with
    429 and Retry-After: 3600."""
    with FakeBinance([FakeMarket("BTC", "USDT", T0, T0 + 2 * 86_400_000)],
                     retry_after_s=RETRY_AFTER) as server:
        server.script(["429"])
        write_project(tmp_path / "project", {"binance": server}, retry_delay=0.01)
        yield tmp_path / "project", server


@pytest.fixture
def held_markets(tmp_path):
    """A project whose exchange answers the market list itself (``exchangeInfo``, asked while
    the import request is checked) with 429 and Retry-After: 3600."""
    with FakeBinance([FakeMarket("BTC", "USDT", T0, T0 + 2 * 86_400_000)],
                     retry_after_s=RETRY_AFTER,
                     fault_paths=("/api/v3/exchangeInfo",)) as server:
        server.script(["429"])
        write_project(tmp_path / "project", {"binance": server}, retry_delay=0.01)
        yield tmp_path / "project", server


def held_on_markets(server: FakeBinance) -> bool:
    asked = [r for r in server.requests if r.path == "/api/v3/exchangeInfo"]
    return server.faults_served == ["429"] and len(asked) == 1 and asked[0].status == 429


def wait_for(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def held_on_listing(server: FakeBinance) -> bool:
    listing = [r for r in server.klines_requests() if r.params.get("startTime") == "0"]
    return server.faults_served == ["429"] and bool(listing) and listing[0].status == 429


def test_the_first_ctrl_c_stops_an_import_waiting_out_retry_after(held):
    project, server = held
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(project), *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: held_on_listing(server) or proc.poll() is not None, what="the 429")
        time.sleep(0.3)  # inside the hour's wait
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)  # once
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert took < RETRY_AFTER / 100
    assert ("Interrupted: everything saved so far is kept; run the same command again to "
            "resume.") in " ".join(err.split())
    assert "fetched" in out  # the summary of what was done
    assert len(server.klines_requests()) == 1  # nothing asked after the 429


def test_delete_job_stops_an_import_waiting_out_retry_after(held):
    project, server = held
    with TestClient(create_app(load_config(project, env={}), project), base_url="http://127.0.0.1") as client:
        job = client.post("/candles/import", json=BODY).json()
        wait_for(lambda: held_on_listing(server), what="the 429")
        time.sleep(0.3)
        began = time.monotonic()
        assert client.delete(f"/jobs/{job['id']}").status_code == 202
        wait_for(lambda: client.get(f"/jobs/{job['id']}").json()["status"] != "running",
                 timeout=20, what="the job to stop")
        took = time.monotonic() - began
        done = client.get(f"/jobs/{job['id']}").json()
    assert done["status"] == "cancelled"
    assert done["result"]["interrupted"] is True and done["result"]["inserted"] == 0
    assert took < RETRY_AFTER / 100
    assert len(server.klines_requests()) == 1


@pytest.mark.parametrize("where", ["listing", "markets"])
def test_sigterm_stops_the_server_with_an_import_waiting_out_retry_after(request, where):
    """On the listing probe (inside the job) or on the market list (asked while the request
    was checked)."""
    project, server = request.getfixturevalue("held" if where == "listing" else "held_markets")
    is_held = held_on_listing if where == "listing" else held_on_markets
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(project), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, proc.communicate()
            try:
                return httpx.get(f"{base}/jobs", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, what="the server")
        job = httpx.post(f"{base}/candles/import", json=BODY, timeout=10).json()
        wait_for(lambda: is_held(server), what="the 429")
        assert httpx.get(f"{base}/jobs/{job['id']}", timeout=5).json()["status"] == "running"
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down gracefully (jobs cancelled and awaited), then re-raises the signal
    assert proc.returncode in (0, -signal.SIGTERM)
    assert took < RETRY_AFTER / 100


def test_an_import_request_held_on_the_market_list_answers_and_can_be_cancelled(held_markets):
    """The market list is asked while the request is checked, before any job: held back for an
    hour, the request still answers at once with the job, which waits on and stops at
    DELETE /jobs/ID (finding 18: cancellation reaches every wait)."""
    project, server = held_markets
    with TestClient(create_app(load_config(project, env={}), project),
                    base_url="http://127.0.0.1") as client:
        began = time.monotonic()
        r = client.post("/candles/import", json=BODY)
        answered = time.monotonic() - began
        assert r.status_code == 202, r.text
        job = r.json()
        assert held_on_markets(server)
        assert answered < 2  # at the 429, not after IMPORT_CHECK_S or the hour
        assert job["status"] in ("queued", "running") and job["params"]["symbol"] == "BTC-USDT"
        # the wait goes on in the job, where the job list shows it
        assert client.get(f"/jobs/{job['id']}").json()["status"] == "running"
        time.sleep(0.3)
        began = time.monotonic()
        assert client.delete(f"/jobs/{job['id']}").status_code == 202
        wait_for(lambda: client.get(f"/jobs/{job['id']}").json()["status"] != "running",
                 timeout=20, what="the job to stop")
        took = time.monotonic() - began
        done = client.get(f"/jobs/{job['id']}").json()
    assert done["status"] == "cancelled", done
    assert done["result"]["interrupted"] is True and done["result"]["inserted"] == 0
    assert took < 5
    assert server.klines_requests() == []  # no candle was asked for


def test_an_import_held_on_the_market_list_while_queued_is_cancelled_too(held_markets):
    """A job cancelled before a worker takes it never runs; its market-list wait stops all the
    same (the job manager runs two imports at once: two more imports occupy them)."""
    project, server = held_markets
    server.script(["429", "429"])  # three held market lists in all
    with TestClient(create_app(load_config(project, env={}), project),
                    base_url="http://127.0.0.1") as client:
        jobs = [client.post("/candles/import", json={**BODY, "symbol": s}).json()
                for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")]
        def statuses() -> list[str]:
            return [client.get(f"/jobs/{j['id']}").json()["status"] for j in jobs]

        wait_for(lambda: statuses() == ["running", "running", "queued"], timeout=10,
                 what="two running imports and one queued")
        began = time.monotonic()
        for j in reversed(jobs):
            assert client.delete(f"/jobs/{j['id']}").status_code == 202
        wait_for(lambda: all(client.get(f"/jobs/{j['id']}").json()["status"] == "cancelled"
                             for j in jobs), timeout=20, what="every job to stop")
        took = time.monotonic() - began
        # every market-list wait ended with its job
        wait_for(lambda: not any(t.name == "jbt-import-check" for t in threading.enumerate()),
                 timeout=5, what="the checks to end")
    assert took < 5
    assert server.klines_requests() == []
