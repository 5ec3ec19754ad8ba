"""Fixtures for the HTTP API tests: a project folder in tmp_path (config.toml, strategies/, a
SQLite file), real candles in it, and the fake Binance server as the only fake."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket
from fastapi.testclient import TestClient
from strategy_sources import BOOM, BOOM_LINE, RISING  # noqa: F401 - BOOM_LINE re-exported

from jbt.api import create_app
from jbt.config import load_config
from jbt.constants import CANDLE_COLUMNS

DATA = Path(__file__).resolve().parents[2] / "jbt" / "data" / "coinbase-BTC-USD-1h.csv"

#: The sample candles go in under these names (real Coinbase hourly data, 2018-07-01 onwards).
SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF = "coinbase", "BTC-USD", "1h"
SAMPLE_HOURS = 24 * 75
PERIOD = {"start": "2018-07-15", "end": "2018-09-10"}



#: The fake exchange lists BTC-USDT for three days ending at this time.
FAKE_START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FAKE_DAYS = 3


def sample_candles(hours: int = SAMPLE_HOURS) -> np.ndarray:
    """The first ``hours`` rows of the bundled real hourly data, in jbt's column order."""
    rows = []
    with DATA.open(newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            if i >= hours:
                break
            rows.append([float(r[k]) for k in CANDLE_COLUMNS])
    return np.array(rows, dtype=np.float64)


def write_project(
    root: Path,
    *,
    exchange_url: str | None = None,
    token: str | None = None,
    strategies: dict[str, str] | None = None,
) -> Path:
    """A jbt project folder: config.toml (SQLite file inside it), strategies/<Name>/."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "[database]",
        'url = "sqlite:///db.sqlite3"',
        "",
        "[backtest]",
        "starting_balance = 10000",
        "fee = 0.001",
        "warmup_candles = 20",
    ]
    if exchange_url:
        for name in ("binance", "binance-futures"):
            lines += [
                "",
                f"[exchanges.{name}]",
                f'api_url = "{exchange_url}"',
                "max_retries = 1",
                "retry_delay = 0.0",
                "timeout = 5.0",
            ]
    # TestClient sends "Host: testserver"; real clients reach 127.0.0.1, which needs no entry
    lines += ["", "[server]", 'allowed_hosts = ["testserver"]']
    if token:
        lines += [f'token = "{token}"']
    (root / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, source in (strategies or {"Rising": RISING, "Boom": BOOM}).items():
        folder = root / "strategies" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(source, encoding="utf-8")
    return root


@pytest.fixture
def fake_exchange() -> Iterator[FakeBinance]:
    market = FakeMarket(
        "BTC", "USDT", listing_ms=FAKE_START_MS, end_ms=FAKE_START_MS + FAKE_DAYS * 86_400_000
    )
    with FakeBinance([market], weight_limit=None) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, fake_exchange: FakeBinance) -> Path:
    return write_project(tmp_path / "project", exchange_url=fake_exchange.url)


@pytest.fixture
def make_client(project: Path) -> Iterator[Callable[..., TestClient]]:
    """Build TestClients for the project (the app's lifespan runs: the database is opened)."""
    stack: list[TestClient] = []

    def make(*, token: str | None = None, root: Path | None = None) -> TestClient:
        folder = root or project
        client = TestClient(create_app(load_config(folder, env={}), folder, token=token))
        client.__enter__()
        stack.append(client)
        return client

    yield make
    for client in reversed(stack):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def sample_db(client: TestClient) -> int:
    """Insert the sample candles through the real candle store; the number of rows."""
    from jbt import candles

    db = client.app.state.jbt.db
    with db.connection_context():
        return candles.insert_candles(SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF, sample_candles())


def wait_job(client: TestClient, job_id: str, timeout: float = 20.0) -> dict:
    """Poll ``GET /jobs/{id}`` until the job is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def uvicorn_server(app) -> Iterator[str]:
    """Run ``app`` on real uvicorn in a thread on a free 127.0.0.1 port; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                       timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during startup"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.jbt.begin_shutdown()  # what jbt.api.serve does on SIGTERM
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "uvicorn did not stop"


def without_timing(result: dict) -> dict:
    """A backtest's JSON without what legitimately differs between two identical runs: the
    saved session's id and the wall-clock duration."""
    return {k: v for k, v in result.items() if k not in ("session_id", "duration_s")}
