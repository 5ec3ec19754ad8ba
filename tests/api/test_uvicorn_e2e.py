"""End to end over a real socket: uvicorn on a free 127.0.0.1 port, httpx as the client, an
import from the fake exchange, then a backtest on the imported candles."""

from __future__ import annotations

import httpx

from jbt import report
from jbt.api import create_app
from jbt.config import load_config
from jbt.dates import parse_date
from jbt.results import RouteSpec

from .conftest import (
    FAKE_DAYS,
    FAKE_START_MS,
    uvicorn_server,
    wait_job,
    without_timing,
    write_project,
)

ROUTE = {"exchange": "binance", "symbol": "BTC-USDT", "timeframe": "1h", "strategy": "Rising"}
PERIOD = {"start": "2024-01-02", "end": "2024-01-04"}


def test_import_and_backtest_over_http(tmp_path, fake_exchange):
    root = write_project(tmp_path / "project", exchange_url=fake_exchange.url)
    config = load_config(root, env={})
    app = create_app(config, root)
    minutes = FAKE_DAYS * 1440
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        assert http.get("/candles").json() == []
        assert "swagger" in http.get("/docs").text.lower()

        r = http.post(
            "/candles/import",
            json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-04"},
        )
        assert r.status_code == 202, r.text
        job = wait_job(http, r.json()["id"])
        assert job["status"] == "finished", job
        assert job["counts"]["inserted"] == minutes
        coverage = http.get("/candles").json()
        assert coverage == [
            {
                "exchange": "binance",
                "symbol": "BTC-USDT",
                "timeframe": "1m",
                "first": FAKE_START_MS,
                "last": FAKE_START_MS + minutes * 60_000 - 60_000,
                "count": minutes,
                "missing": 0,
            }
        ]

        bt = http.post("/backtest", json={"routes": [ROUTE], **PERIOD})
        assert bt.status_code == 200, bt.text
        result = bt.json()
        assert result["period"] == {"start": parse_date(PERIOD["start"]), "end": parse_date(PERIOD["end"])}
        assert len(result["trades"]) > 0
        assert len(result["equity"]) == 48  # one point per 1h bar of the two days

        saved = http.get(f"/sessions/{result['session_id']}")
        assert saved.status_code == 200
        assert saved.json() == result

        bad = http.post("/backtest", json={"routes": [{**ROUTE, "strategy": "Missing"}], **PERIOD})
        assert bad.status_code == 422
        assert bad.json()["detail"] == "strategy 'Missing' not found in strategies/; available: Boom, Rising"

    # the same backtest run in-process on the same database gives the same JSON
    from jbt.models import open_database
    from jbt.modes import backtest_mode

    db = open_database(config.database_url())
    with db.connection_context():
        alone = backtest_mode.run(
            config,
            [RouteSpec(**ROUTE)],
            parse_date(PERIOD["start"]),
            parse_date(PERIOD["end"]),
            project_dir=root,
            save=False,
        )
    assert without_timing(report.result_dict(alone)) == without_timing(result)
