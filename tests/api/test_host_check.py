"""DNS rebinding (issue 16, finding 17) and blank tokens (finding 20).

A page on evil.example can point its own name at 127.0.0.1 and make the user's browser send
requests to a jbt server there; the browser sends ``Host: evil.example:8000``. The server
answers only to its own address, the loopback names and the configured names, token or not.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from jbt.api import create_app
from jbt.api.auth import check_token
from jbt.cli import app as cli
from jbt.config import load_config
from jbt.errors import ConfigError

from .conftest import uvicorn_server, write_project

IMPORT = {"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-02"}


def _bad_host(r: httpx.Response, host: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {
        "detail": f"Host '{host}': this server answers only to its own address and names; to "
                  "reach it under another name, add that name to [server] allowed_hosts in "
                  "config.toml",
        "error": "BadHost",
    }


def test_a_rebinding_host_is_refused_on_a_tokenless_loopback_server(tmp_path, fake_exchange):
    root = write_project(tmp_path / "project", exchange_url=fake_exchange.url)
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        port = base.rsplit(":", 1)[1]
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
            _bad_host(http.get("/jobs", headers={"Host": host}), host)
            _bad_host(http.post("/candles/import", json=IMPORT, headers={"Host": host}), host)
            _bad_host(http.get("/docs", headers={"Host": host}), host)
        assert http.get("/jobs").json() == []  # no import was started
        assert fake_exchange.requests == []  # nor was the exchange asked anything

        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}",
                     "127.0.0.2"):
            assert http.get("/jobs", headers={"Host": host}).status_code == 200, host

        # HTTP/1.0 without a Host header at all
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
            sock.sendall(b"GET /jobs HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400")
        assert b'"error": "BadHost"' in answer and b"no Host header" in answer


def test_the_host_is_checked_even_with_the_right_token(tmp_path):
    root = write_project(tmp_path / "project", token="tok-9d2")
    with TestClient(create_app(load_config(root, env={}), root)) as client:
        auth = {"Authorization": "Bearer tok-9d2"}
        _bad_host(client.get("/candles", headers={**auth, "Host": "evil.example"}), "evil.example")
        assert client.get("/candles", headers={**auth, "Host": "127.0.0.1:8000"}).status_code == 200


@pytest.mark.parametrize(
    "bind, host, allowed",
    [
        ("127.0.0.1", "jbt.lan", True),
        ("127.0.0.1", "api.corp.example:8000", True),
        ("127.0.0.1", "corp.example", False),
        ("127.0.0.1", "jbt.lan.evil.example", False),
        ("127.0.0.1", "192.168.1.5", False),
        ("0.0.0.0", "192.168.1.5:8000", True),  # every interface: any address is this server
        ("0.0.0.0", "[fe80::1]:8000", True),
        ("0.0.0.0", "localhost", True),
        ("0.0.0.0", "evil.example", False),
        ("192.168.1.5", "192.168.1.5", True),
        ("192.168.1.5", "192.168.1.6", False),
        ("192.168.1.5", "localhost", False),
    ],
)
def test_bound_address_and_configured_names(tmp_path, bind, host, allowed):
    root = write_project(tmp_path / "project", token="tok-1")
    config = load_config(root, env={})
    text = (root / "config.toml").read_text().replace(
        'allowed_hosts = ["testserver"]', 'allowed_hosts = ["testserver", "jbt.lan", "*.corp.example"]')
    (root / "config.toml").write_text(text)
    config = load_config(root, env={})
    with TestClient(create_app(config, root, host=bind)) as client:
        r = client.get("/jobs", headers={"Host": host, "Authorization": "Bearer tok-1"})
        assert r.status_code == (200 if allowed else 400), r.text


@pytest.mark.parametrize("token", ["", "   ", "\t\n"])
def test_a_blank_token_is_refused(tmp_path, token, monkeypatch):
    monkeypatch.delenv("JBT_SERVER_TOKEN", raising=False)
    root = write_project(tmp_path / "project")
    message = "the server token is empty or only whitespace"
    if token:
        with pytest.raises(ConfigError, match=message):
            check_token(token)
        with pytest.raises(ConfigError, match=message):
            create_app(load_config(root, env={}), root, token=token)
    for args, expected in (
        (["--token", token], message),
        (["--host", "0.0.0.0", "--token", token],
         message if token else "refusing to listen on 0.0.0.0 without a token"),
    ):
        result = CliRunner().invoke(cli, ["--project", str(root), "serve", *args])
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert result.exit_code == 1, result.output
        assert len(lines) == 1 and lines[0].startswith(f"Error: {expected}"), result.output
        assert not (root / "db.sqlite3").exists()  # refused before anything started


def test_a_token_with_spaces_around_it_is_refused():
    with pytest.raises(ConfigError, match="starts or ends with whitespace"):
        check_token(" tok-1 ")
    assert check_token("tok-1") == "tok-1"
