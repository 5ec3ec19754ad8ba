"""Cancelling reaches every wait (issue 16, finding 18): the exchange answers the listing
request with 429 and ``Retry-After: 3600``, and the first Ctrl-C, ``DELETE /jobs/ID`` and a
SIGTERM to ``jbt serve`` each stop the import within seconds, not after the hour."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
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


def test_sigterm_stops_the_server_with_an_import_waiting_out_retry_after(held):
    project, server = held
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
        wait_for(lambda: held_on_listing(server), what="the 429")
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
