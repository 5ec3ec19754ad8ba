"""The token: loopback-only without one; with one, every request needs the bearer header."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from jbt.api.auth import check_bind, is_loopback
from jbt.cli import app as cli
from jbt.errors import ConfigError

from .conftest import free_port, write_project

TOKEN = "s3cret-token"
PATHS = ["/candles", "/jobs", "/jobs/abc", "/sessions", "/sessions/1", "/docs", "/openapi.json"]


def _assert_401(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "detail": "missing or wrong token: send the header 'Authorization: Bearer <token>'",
        "error": "Unauthorized",
    }


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_non_loopback_bind_needs_a_token():
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    for token in (None, ""):
        with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without a token"):
            check_bind("0.0.0.0", token)


def test_every_request_without_the_token_is_401(make_client):
    client = make_client(token=TOKEN)
    for path in PATHS:
        _assert_401(client.get(path))
        _assert_401(client.get(path, headers={"Authorization": "Bearer wrong"}))
        _assert_401(client.get(path, headers={"Authorization": f"Basic {TOKEN}"}))
        _assert_401(client.get(path, headers={"Authorization": TOKEN}))
    _assert_401(client.post("/backtest", json={}))
    _assert_401(client.post("/candles/import", json={}))
    _assert_401(client.delete("/jobs/abc"))
    _assert_401(client.get("/no-such-path"))


def test_the_right_token_gets_through(make_client):
    client = make_client(token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/candles", headers=auth).json() == []
    assert client.get("/jobs/abc", headers=auth).status_code == 404
    assert client.get("/docs", headers=auth).status_code == 200
    schema = client.get("/openapi.json", headers=auth).json()
    assert schema["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert schema["security"] == [{"bearer": []}]
    assert client.post("/backtest", json={}, headers=auth).status_code == 422


def test_token_from_config_or_environment(tmp_path, make_client):
    root = write_project(tmp_path / "with-token", token="from-config")
    client = make_client(root=root)
    _assert_401(client.get("/candles"))
    assert client.get("/candles", headers={"Authorization": "Bearer from-config"}).status_code == 200

    from fastapi.testclient import TestClient

    from jbt.api import create_app
    from jbt.config import load_config

    config = load_config(root, env={"JBT_SERVER_TOKEN": "from-env"})
    with TestClient(create_app(config, root)) as env_client:
        _assert_401(env_client.get("/candles", headers={"Authorization": "Bearer from-config"}))
        assert env_client.get("/candles", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_without_a_token_loopback_serves_openly(client):
    assert client.get("/candles").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "securitySchemes" not in client.get("/openapi.json").text


def test_serve_refuses_a_public_address_without_a_token(project, monkeypatch):
    monkeypatch.delenv("JBT_SERVER_TOKEN", raising=False)
    began = time.monotonic()
    result = CliRunner().invoke(cli, ["--project", str(project), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error: refusing to listen on 0.0.0.0 without a token")
    assert time.monotonic() - began < 5
    assert not (project / "db.sqlite3").exists()  # refused before anything started


def test_serve_on_a_public_address_with_a_token_answers_401_without_it(project):
    port = free_port()
    env = {**os.environ, "JBT_SERVER_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jbt", "--project", str(project), "serve", "--host", "0.0.0.0",
         "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"{base}/candles", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        _assert_401(r)
        _assert_401(httpx.get(f"{base}/docs", timeout=5))
        ok = httpx.get(f"{base}/candles", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert ok.status_code == 200
        assert ok.json() == []
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"on http://0.0.0.0:{port}" in out
    assert "every request needs the token" in out
