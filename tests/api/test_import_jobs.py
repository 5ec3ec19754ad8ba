"""Candle imports over HTTP: a background job against the fake exchange, then coverage."""

from __future__ import annotations

from jbt import candles

from .conftest import FAKE_DAYS, FAKE_START_MS, free_port, wait_job, write_project

DAY_MS = 86_400_000


def _stored(client, exchange="binance", symbol="BTC-USDT") -> int:
    with client.app.state.jbt.db.connection_context():
        return candles.count_candles(exchange, symbol, "1m")


def test_import_job_runs_and_counts_match_the_database(client, fake_exchange):
    r = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "btc-usdt", "start": "2024-01-01", "end": "2024-01-02T12:00"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}"
    assert job["kind"] == "import"
    assert job["status"] in ("queued", "running", "finished")
    assert job["params"]["symbol"] == "BTC-USDT"
    assert job["params"]["first"] == FAKE_START_MS
    assert job["params"]["last"] == FAKE_START_MS + DAY_MS + DAY_MS // 2 - 60_000

    done = wait_job(client, job["id"])
    assert done["status"] == "finished", done
    assert done["error"] is None
    minutes = 36 * 60
    assert done["counts"]["inserted"] == minutes
    assert done["counts"]["fetched"] == minutes
    assert done["counts"]["already_present"] == 0
    assert done["counts"]["missing"] == 0
    assert done["counts"]["requests"] >= 2  # 2160 minutes: at least two pages of 1000
    assert done["progress"] == {"done": minutes, "total": minutes, "percent": 100.0}
    assert done["result"]["inserted"] == minutes
    assert done["started_at"] >= done["created_at"]
    assert done["finished_at"] >= done["started_at"]
    assert _stored(client) == minutes

    # the stored rows are the exchange's rows
    with client.app.state.jbt.db.connection_context():
        stored = candles.load_candles("binance", "BTC-USDT", "1m")
    expected = fake_exchange.candles("BTCUSDT", FAKE_START_MS, FAKE_START_MS + 36 * 3_600_000)
    assert stored.shape == expected.shape
    assert (stored == expected).all()

    cov = client.get("/candles").json()
    assert cov == [
        {
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "timeframe": "1m",
            "first": FAKE_START_MS,
            "last": FAKE_START_MS + 36 * 3_600_000 - 60_000,
            "count": minutes,
            "missing": 0,
        }
    ]
    assert client.get("/candles", params={"exchange": "kraken"}).json() == []
    assert client.get("/candles", params={"symbol": "BTC-USDT"}).json() == cov

    listed = client.get("/jobs").json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_second_import_resumes_and_inserts_only_new_minutes(client):
    first = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-02"},
    ).json()
    assert wait_job(client, first["id"])["counts"]["inserted"] == 1440
    second = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-03"},
    ).json()
    done = wait_job(client, second["id"])
    assert done["status"] == "finished"
    assert done["counts"]["inserted"] == 1440
    assert done["counts"]["already_present"] == 1440
    assert _stored(client) == 2880
    assert [j["id"] for j in client.get("/jobs").json()] == [second["id"], first["id"]]


def test_import_from_before_the_listing_starts_at_the_listing(client):
    r = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2023-12-31T20:00", "end": "2024-01-01T02:00"},
    )
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "finished"
    assert done["result"]["listing"] == FAKE_START_MS
    assert done["result"]["start"] == FAKE_START_MS
    assert done["counts"]["inserted"] == 120
    assert any("begins on binance" in n for n in done["result"]["notes"])


def test_an_exchange_failure_fails_the_job_with_its_message(client, fake_exchange):
    fake_exchange.script(["500"] * 20)
    r = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-01T03:00"},
    )
    assert r.status_code == 202
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("binance: ")
    assert "HTTP 500" in done["error"]
    assert _stored(client) == done["counts"].get("inserted", 0)
    # the server keeps serving
    assert client.get("/candles").status_code == 200


def test_cancel_a_running_import_keeps_what_was_saved(client, fake_exchange):
    fake_exchange.slow_s = 0.3
    fake_exchange.script(["slow"] * 40)
    r = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-04"},
    )
    job_id = r.json()["id"]

    again = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-02", "end": "2024-01-03"},
    )
    assert again.status_code == 409
    assert job_id in again.json()["detail"]

    c = client.delete(f"/jobs/{job_id}")
    assert c.status_code == 202
    assert c.json()["cancel_requested"] is True
    done = wait_job(client, job_id)
    assert done["status"] == "cancelled"
    assert done["result"]["interrupted"] is True
    assert done["counts"]["inserted"] < FAKE_DAYS * 1440
    assert _stored(client) == done["counts"]["inserted"]

    # once the first job is over, the same symbol can be imported again and resumes
    r2 = client.post(
        "/candles/import",
        json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-04"},
    )
    assert r2.status_code == 202
    fake_exchange.script([])
    finished = wait_job(client, r2.json()["id"])
    assert finished["status"] == "finished"
    assert finished["counts"]["already_present"] == done["counts"]["inserted"]
    assert _stored(client) == FAKE_DAYS * 1440


def test_unknown_jobs_are_404(client):
    for method in ("get", "delete"):
        r = getattr(client, method)("/jobs/nope")
        assert r.status_code == 404
        assert r.json()["detail"] == "job 'nope' not found; GET /jobs lists the known jobs"


BAD_IMPORTS = [
    ({"exchange": "notanexchange", "symbol": "BTC-USDT", "start": "2024-01-01"}, "unknown exchange 'notanexchange'"),
    ({"exchange": "../etc", "symbol": "BTC-USDT", "start": "2024-01-01"}, "exchange: exchange '../etc' is not an exchange name"),
    ({"exchange": "binance", "symbol": "BTCUSDT", "start": "2024-01-01"}, "symbol: symbol 'BTCUSDT' must be written BASE-QUOTE, like BTC-USDT; did you mean BTC-USDT?"),
    ({"exchange": "binance", "symbol": "ETH-USDT", "start": "2024-01-01"}, "unknown symbol 'ETH-USDT' on binance"),
    ({"exchange": "binance", "symbol": "BTC-USTD", "start": "2024-01-01"}, "did you mean BTC-USDT?"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": "yesterday"}, "START 'yesterday' is not a date"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-02-30"}, "START '2024-02-30' is not a date"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-02", "end": "2024-01-01"}, "END 2024-01-01 00:00 is not after START 2024-01-02 00:00"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": "2999-01-01"}, "START 2999-01-01 00:00 is in the future"),
    ({"exchange": "binance", "symbol": "BTC-USDT"}, "start: Field required"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "extra": 1}, "extra: Extra inputs are not permitted"),
    ({"exchange": "binance", "symbol": "BTC-USDT", "start": 20240101}, "start: Input should be a valid string"),
]


def test_bad_imports_are_422_with_a_message_and_start_no_job(client, fake_exchange):
    import pytest

    for body, message in BAD_IMPORTS:
        r = client.post("/candles/import", json=body)
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str)
        if message not in detail:
            pytest.fail(f"{body}: {message!r} not in {detail!r}")
    assert client.get("/jobs").json() == []
    assert fake_exchange.klines_requests() == []


def test_a_body_that_is_not_json_is_422(client):
    r = client.post("/candles/import", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "JSON" in r.json()["detail"]


def test_an_unreachable_exchange_is_502_and_starts_no_job(tmp_path, make_client):
    root = write_project(tmp_path / "offline", exchange_url=f"http://127.0.0.1:{free_port()}")
    client = make_client(root=root)
    r = client.post(
        "/candles/import", json={"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01"}
    )
    assert r.status_code == 502
    assert r.json()["error"] == "ExchangeError"
    assert r.json()["detail"].startswith("binance: ")
    assert client.get("/jobs").json() == []


def test_the_app_can_stop_and_start_again(project):
    from fastapi.testclient import TestClient

    from jbt.api import create_app
    from jbt.config import load_config

    app = create_app(load_config(project, env={}), project)
    body = {"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-01T01:00"}
    with TestClient(app) as client:
        assert wait_job(client, client.post("/candles/import", json=body).json()["id"])["status"] == "finished"
    with TestClient(app) as client:  # stopped once: jobs start again on the next start
        assert client.get("/jobs").json() == []
        job = wait_job(client, client.post("/candles/import", json=body).json()["id"])
        assert job["status"] == "finished"
        assert job["counts"]["already_present"] == 60


def test_bad_coverage_queries_and_job_ids_are_422(client):
    long = "x" * 65
    r = client.get("/candles", params={"exchange": long})
    assert r.status_code == 422
    assert r.json()["detail"] == "query.exchange: String should have at most 64 characters"
    r = client.get("/candles", params={"symbol": long})
    assert r.json()["detail"] == "query.symbol: String should have at most 64 characters"
    for method in ("get", "delete"):
        r = getattr(client, method)(f"/jobs/{long}")
        assert r.status_code == 422
        assert r.json()["detail"] == "path.job_id: String should have at most 64 characters"
