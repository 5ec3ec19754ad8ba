"""A bounded schemathesis run against the app's own OpenAPI schema finds no 500 answer.

Every operation gets schema-conforming cases and cases that break the schema (wrong types,
missing fields, out-of-range numbers). The project behind the app has real candles, a working
strategy and the fake exchange, so the cases that get past validation reach the real modes.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from jbt.api import create_app
from jbt.api.schemas import BacktestRequest, ImportRequest
from jbt.config import load_config

from .conftest import write_project

EXAMPLES_PER_OPERATION = 12


def run_cases(operation, mode: GenerationMode, seen: dict[str, set[int]]) -> None:
    """Send EXAMPLES_PER_OPERATION generated requests to one operation; none may answer 5xx."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        response = case.call()
        seen.setdefault(operation.label, set()).add(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}"
        )

    check()


@pytest.mark.slow
def test_no_operation_answers_500(tmp_path, fake_exchange, monkeypatch):
    from jbt import candles, exchanges, scaffold

    # only the exchanges pointed at the fake server are accepted: no case can reach the internet
    monkeypatch.setattr(exchanges, "_ccxt_ids", lambda: [])

    root = write_project(tmp_path / "project", exchange_url=fake_exchange.url)
    scaffold.new_strategy(root, "SmaCross")  # the strategy the schema's examples name
    app = create_app(load_config(root, env={}), root)
    began = time.monotonic()
    with TestClient(app) as client:
        with client.app.state.jbt.db.connection_context():
            candles.insert_candles("binance", "BTC-USDT", "1m", fake_exchange.candles("BTCUSDT"))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        labels = sorted(op.label for op in operations)
        assert labels == [
            "DELETE /jobs/{job_id}",
            "GET /candles",
            "GET /jobs",
            "GET /jobs/{job_id}",
            "GET /sessions",
            "GET /sessions/{session_id}",
            "GET /studies",
            "GET /studies/{name}",
            "POST /backtest",
            "POST /candles/import",
            "POST /optimize",
        ]
        seen: dict[str, set[int]] = {}
        # the documented examples first: generated cases depend on the constants Hypothesis
        # finds in the loaded code, so they alone may never build a request that gets through
        examples = {"POST /backtest": BacktestRequest, "POST /candles/import": ImportRequest}
        for operation in operations:
            if operation.label in examples:
                body = examples[operation.label].model_config["json_schema_extra"]["examples"][0]
                response = operation.Case(body=body, media_type="application/json").call()
                assert response.status_code < 500, response.text
                seen.setdefault(operation.label, set()).add(response.status_code)
        for operation in operations:
            has_inputs = bool(list(operation.iter_parameters())) or len(operation.body) > 0
            modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs else [])
            for mode in modes:
                run_cases(operation, mode, seen)
        app.state.jbt.jobs.shutdown(wait=True)
    assert time.monotonic() - began < 60
    # the run reached the modes, not only the validation layer: real backtests and imports ran
    assert {200, 422} <= seen["POST /backtest"]
    assert {202, 422} <= seen["POST /candles/import"]
    assert 200 in seen["GET /candles"]
