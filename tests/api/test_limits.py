"""Bounded requests and answers (issue 16, finding 16): a body over ``[server] max_request_bytes``
gets 413 before it is read or parsed, chunked or not; an error answer's ``detail`` is at most
1,000 characters and lists at most 10 validation errors, however many names the request got
wrong (an unknown-hyperparameter error used to repeat every name: a 3 MB answer)."""

from __future__ import annotations

import httpx

from jbt.api import create_app
from jbt.api.errors import MAX_DETAIL, MAX_ERRORS
from jbt.config import load_config

from .conftest import PERIOD, SAMPLE_EXCHANGE, SAMPLE_SYMBOL, uvicorn_server, write_project

ROUTE = {"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "4h", "strategy": "Rising"}
MIB = 1_048_576


def _too_large(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, r.text[:300]
    assert r.json() == {
        "detail": f"the request body is larger than {limit:,} bytes ([server] max_request_bytes "
                  "in config.toml); send less (e.g. fewer hyperparameters) or raise the limit",
        "error": "PayloadTooLarge",
    }


def _hyperparameters(nbytes: int) -> dict:
    """A backtest body of about ``nbytes`` bytes: a hyperparameter dict of long names."""
    names = {f"p{i:06d}_{'x' * 50}": 1 for i in range(nbytes // 64)}
    return {"routes": [ROUTE], **PERIOD, "hyperparameters": {"Rising": names}}


def test_a_body_over_the_cap_is_413_and_nothing_runs(tmp_path):
    root = write_project(tmp_path / "project")
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        big = _hyperparameters(2 * MIB)
        _too_large(http.post("/backtest", json=big), MIB)

        # the same without a Content-Length: counted while it arrives
        def chunks():
            payload = httpx.Request("POST", "/", json=big).read()
            for i in range(0, len(payload), 65536):
                yield payload[i:i + 65536]

        _too_large(http.post("/backtest", content=chunks(),
                             headers={"content-type": "application/json"}), MIB)
        _too_large(http.post("/candles/import", content=b"{" + b" " * (MIB + 1) + b"}",
                             headers={"content-type": "application/json"}), MIB)
        assert http.get("/jobs").json() == []  # nothing started
        assert http.get("/sessions").json() == []


def test_the_cap_is_configurable(tmp_path):
    root = write_project(tmp_path / "project")
    text = (root / "config.toml").read_text()
    (root / "config.toml").write_text(text.replace("[server]\n", "[server]\nmax_request_bytes = 4000\n"))
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        _too_large(http.post("/backtest", json=_hyperparameters(5000)), 4000)
        # under the cap the request goes through to the hyperparameter check
        r = http.post("/backtest", json=_hyperparameters(3000))
        assert r.status_code == 422
        assert r.json()["error"] == "InputError"


def test_error_details_are_bounded(tmp_path):
    root = write_project(tmp_path / "project")
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        # 12,000 unknown hyperparameter names within the cap: the message names them all
        r = http.post("/backtest", json=_hyperparameters(MIB - 20_000))
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail.startswith("strategy 'Rising' has no hyperparameter p000000_")
        assert len(detail) == MAX_DETAIL
        assert detail.endswith(" more characters)")
        assert len(r.content) < 2 * MAX_DETAIL

        # 20 routes with 4 bad fields each: 80 validation errors, 10 listed
        bad = {"exchange": "?" * 30, "symbol": "?", "timeframe": "7m", "strategy": "a/b"}
        r = http.post("/backtest", json={"routes": [bad] * 20})
        assert r.status_code == 422
        body = r.json()
        assert len(body["errors"]) == MAX_ERRORS
        assert body["detail"].endswith("; and 70 more errors")
        assert len(body["detail"]) <= MAX_DETAIL
        assert body["errors"][0]["loc"] == ["routes", "0", "exchange"]

        # a validation error whose location is a megabyte-long key
        r = http.post("/backtest", json={"routes": [ROUTE], "k" * 500_000: 1})
        assert r.status_code == 422
        assert len(r.content) < 2 * MAX_DETAIL
        assert len(r.json()["errors"][0]["loc"][0]) <= 100
