"""What the API never gives away or gives up: secrets in the config snapshot, internals in a 500,
and the server itself when a strategy calls sys.exit()."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient

from jbt.api import create_app
from jbt.api.controllers import public_result
from jbt.config import load_config

from .conftest import (
    PERIOD,
    SAMPLE_EXCHANGE,
    SAMPLE_SYMBOL,
    SAMPLE_TF,
    sample_candles,
    write_project,
)

ROUTE = {"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "4h", "strategy": "Rising"}
TOKEN = "tok-3b8e51d0"

EXITS = '''\
import sys

from jbt.strategies import Strategy


class Exits(Strategy):
    def should_long(self):
        sys.exit(3)
'''


def _seed(client: TestClient) -> None:
    from jbt import candles

    with client.app.state.jbt.db.connection_context():
        candles.insert_candles(SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF, sample_candles())


def test_public_result_masks_url_passwords_and_drops_the_token():
    data = {
        "session_id": 1,
        "config": {
            "database": {"url": "postgresql://trader:p%40ss@db.example:5432/jbt"},
            "backtest": {"fee": 0.001},
            "exchanges": {
                "binance": {"api_url": "https://key:hunter2@mirror.example/api", "max_retries": 8},
                "kraken": {"api_url": None},
            },
            "server": {"host": "0.0.0.0", "port": 8000, "token": TOKEN},
        },
    }
    assert public_result(data) == {
        "session_id": 1,
        "config": {
            "database": {"url": "postgresql://trader:***@db.example:5432/jbt"},
            "backtest": {"fee": 0.001},
            "exchanges": {
                "binance": {"api_url": "https://key:***@mirror.example/api", "max_retries": 8},
                "kraken": {"api_url": None},
            },
            "server": {"host": "0.0.0.0", "port": 8000},
        },
    }
    # URLs without a password are left as they are
    plain = {"config": {"database": {"url": "postgresql://trader@db.example/jbt"}}}
    assert public_result(plain) == plain


def test_the_server_token_is_in_no_answer(tmp_path):
    root = write_project(tmp_path / "project", token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(load_config(root, env={}), root)) as client:
        _seed(client)
        r = client.post("/backtest", json={"routes": [ROUTE], **PERIOD}, headers=auth)
        assert r.status_code == 200, r.text
        server = r.json()["config"]["server"]
        assert "token" not in server
        assert (server["host"], server["port"]) == ("127.0.0.1", 8000)
        saved = client.get(f"/sessions/{r.json()['session_id']}", headers=auth)
        listed = client.get("/sessions", headers=auth)
        for answer in (r, saved, listed):
            assert TOKEN not in answer.text


@pytest.mark.postgres
def test_the_database_password_is_in_no_answer(tmp_path, postgres_url):
    from jbt.models import MODELS

    parts = urlsplit(postgres_url)
    password = parts.password or "jbt-secret-pw"  # a trust-auth server ignores an extra password
    userinfo = f"{parts.username}:{password}"
    url = urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}"))
    root = write_project(tmp_path / "project")
    config = load_config(root, env={"JBT_DATABASE_URL": url})
    with TestClient(create_app(config, root)) as client:
        try:
            _seed(client)
            r = client.post("/backtest", json={"routes": [ROUTE], **PERIOD})
            assert r.status_code == 200, r.text
            masked = r.json()["config"]["database"]["url"]
            assert masked == url.replace(f":{password}@", ":***@")
            saved = client.get(f"/sessions/{r.json()['session_id']}")
            assert saved.json()["config"] == r.json()["config"]
            for answer in (r, saved, client.get("/sessions")):
                assert password not in answer.text
        finally:
            db = client.app.state.jbt.db
            with db.connection_context():
                db.drop_tables(MODELS, safe=True, cascade=True)


def test_a_strategy_calling_sys_exit_ends_only_its_request(client, project):
    _seed(client)
    folder = project / "strategies" / "Exits"
    folder.mkdir()
    (folder / "__init__.py").write_text(EXITS, encoding="utf-8")
    r = client.post("/backtest", json={"routes": [{**ROUTE, "strategy": "Exits"}], **PERIOD})
    assert r.status_code == 422, r.text
    assert r.json() == {
        "detail": "strategies/Exits/__init__.py line 8 at 2018-07-15 00:00 UTC: SystemExit: the "
        "strategy called "
        "sys.exit(3); a strategy cannot stop the run (return from the hook instead)",
        "error": "StrategyError",
        "strategy": "Exits",
        "file": "strategies/Exits/__init__.py",
        "line": 8,
    }
    assert client.post("/backtest", json={"routes": [ROUTE], **PERIOD}).status_code == 200


def test_an_unexpected_error_is_a_500_that_keeps_its_details_in_the_log(
    tmp_path, monkeypatch, caplog
):
    from jbt import candles

    def broken():
        raise RuntimeError("disk I/O error at /srv/private/db.sqlite3")

    root = write_project(tmp_path / "project")
    with TestClient(create_app(load_config(root, env={}), root), raise_server_exceptions=False) as client:
        monkeypatch.setattr(candles, "coverage", broken)
        r = client.get("/candles")
        assert r.status_code == 500
        assert r.json() == {
            "detail": "internal error (RuntimeError); see the server log",
            "error": "InternalError",
        }
        assert "/srv/private" in caplog.text  # the traceback went to the log
        monkeypatch.undo()
        assert client.get("/candles").json() == []
