"""Failures that waiting does not cure (issue 16, finding 1): a host name that does not resolve,
a refused connection and a failed TLS handshake are reported as what they are, at once, not
retried with backoff as if the exchange were busy. Real ccxt, real sockets: an unresolvable
name under the reserved ``.invalid`` TLD, a port nobody listens on, and ``https://`` at the
fake exchange, which only speaks plain HTTP."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fakes.binance import FakeBinance, FakeMarket
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from jbt.api import create_app
from jbt.cli import app
from jbt.config import Config, ExchangeConfig, load_config
from jbt.errors import ExchangeError
from jbt.exchanges import get_adapter

T0 = 1_577_836_800_000
#: A retry would wait at least half of this (backoff with jitter): anything faster did not retry.
RETRY_DELAY = 6.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fake():
    with FakeBinance([FakeMarket("BTC", "USDT", T0, T0 + 86_400_000)]) as server:
        yield server


def cases(fake: FakeBinance) -> list[tuple[str, str]]:
    port = free_port()
    fake_port = fake.url.rsplit(":", 1)[1]
    return [
        ("http://api.binance.invalid",
         "binance: loading markets failed: cannot resolve api.binance.invalid: no network or DNS?"),
        (f"http://127.0.0.1:{port}",
         f"binance: loading markets failed: 127.0.0.1:{port} refused the connection: is the "
         "exchange down, or its address (api_url) wrong?"),
        (f"https://127.0.0.1:{fake_port}",
         f"binance: loading markets failed: TLS handshake with 127.0.0.1:{fake_port} failed ("),
    ]


def project(root: Path, url: str) -> Path:
    root.mkdir(parents=True)
    (root / "config.toml").write_text(
        f'[exchanges.binance]\napi_url = "{url}"\nmax_retries = 8\nretry_delay = {RETRY_DELAY}\n',
        encoding="utf-8",
    )
    return root


@pytest.mark.parametrize("which", ["dns", "refused", "tls"])
def test_the_adapter_fails_at_once_without_retrying(fake, which):
    url, message = cases(fake)[["dns", "refused", "tls"].index(which)]
    config = Config(exchanges={"binance": ExchangeConfig(api_url=url, max_retries=8,
                                                          retry_delay=RETRY_DELAY)})
    adapter = get_adapter("binance", config)
    try:
        with pytest.raises(ExchangeError) as err:
            adapter.markets()
        assert str(err.value).startswith(message)
        assert adapter.requests == 1  # asked once: nothing was retried
    finally:
        adapter.close()


@pytest.mark.parametrize("which", ["dns", "refused", "tls"])
def test_import_candles_says_what_failed_in_one_line_and_creates_nothing(tmp_path, fake, which):
    url, message = cases(fake)[["dns", "refused", "tls"].index(which)]
    root = project(tmp_path / "p", url)
    began = time.monotonic()
    result = CliRunner().invoke(
        app, ["--project", str(root), "import-candles", "binance", "BTC-USDT", "2020-01-01"]
    )
    took = time.monotonic() - began
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.output
    assert took < RETRY_DELAY / 2  # no backoff happened (one retry alone waits longer)
    assert sorted(p.name for p in root.iterdir()) == ["config.toml"]  # no database


def test_the_api_answers_an_unreachable_import_at_once(tmp_path, fake):
    url, message = cases(fake)[0]
    root = project(tmp_path / "api", url)
    with TestClient(create_app(load_config(root, env={}), root), base_url="http://127.0.0.1") as client:
        began = time.monotonic()
        r = client.post("/candles/import",
                        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01"})
        took = time.monotonic() - began
        assert r.status_code == 502
        assert r.json() == {"detail": message, "error": "ExchangeError"}
        assert took < RETRY_DELAY / 2
        assert client.get("/jobs").json() == []


def test_a_symbol_without_separator_is_refused_before_any_request(tmp_path, fake):
    root = project(tmp_path / "p", fake.url)
    fake.reset_requests()
    result = CliRunner().invoke(
        app, ["--project", str(root), "import-candles", "binance", "BTCUSDT", "2020-01-01"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: symbol 'BTCUSDT' must be written BASE-QUOTE, like BTC-USDT; did you mean "
        "BTC-USDT?"
    )
    assert fake.requests == []
    with TestClient(create_app(load_config(root, env={}), root), base_url="http://127.0.0.1") as client:
        r = client.post("/candles/import",
                        json={"exchange": "binance", "symbol": "BTCUSDT", "start": "2024-01-01"})
        assert r.status_code == 422
        assert "did you mean BTC-USDT?" in r.json()["detail"]
    assert fake.requests == []
