"""POST /backtest with ``hyperparameters``: the same conversion and checks as ``jbt backtest
--hp``, a 422 with the same one-line message, and the values used recorded in the result."""

from __future__ import annotations

import pytest
from strategy_sources import WAIT

from jbt import report
from jbt.constants import OPEN, TIMESTAMP
from jbt.dates import parse_date
from jbt.results import RouteSpec

from .conftest import (
    PERIOD,
    SAMPLE_EXCHANGE,
    SAMPLE_SYMBOL,
    SAMPLE_TF,
    sample_candles,
    without_timing,
    write_project,
)

ROUTE = {"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "4h", "strategy": "Wait"}
START = parse_date(PERIOD["start"])  # the first call of the 4h route
STEP = 4 * 3_600_000


@pytest.fixture
def hp_client(tmp_path, make_client):
    from jbt import candles

    root = write_project(tmp_path / "hp", strategies={"Wait": WAIT})
    client = make_client(root=root)
    with client.app.state.jbt.db.connection_context():
        candles.insert_candles(SAMPLE_EXCHANGE, SAMPLE_SYMBOL, SAMPLE_TF, sample_candles())
    return client


def _open_at(ms: int) -> float:
    rows = sample_candles()
    return float(rows[rows[:, TIMESTAMP] == ms][0, OPEN])


def _post(client, hyperparameters=None):
    body = {"routes": [ROUTE], **PERIOD}
    if hyperparameters is not None:
        body["hyperparameters"] = hyperparameters
    return client.post("/backtest", json=body)


def test_hyperparameters_set_the_entry_bar_and_are_recorded(hp_client):
    r = _post(hp_client, {"Wait": {"wait": 3}})
    assert r.status_code == 200, r.text
    body = r.json()
    entry = START + 3 * STEP  # the 4th call
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in body["trades"]] == [
        (entry, _open_at(entry), 0.5)
    ]
    assert body["config"]["hyperparameters"] == {"Wait": {"wait": 3, "size": 0.5, "enabled": True}}
    assert hp_client.get(f"/sessions/{body['session_id']}").json() == body

    ctx = hp_client.app.state.jbt
    from jbt.config import load_config
    from jbt.modes import backtest_mode

    with ctx.db.connection_context():
        direct = backtest_mode.run(
            load_config(ctx.project_dir, env={}), [RouteSpec(**ROUTE)], START,
            parse_date(PERIOD["end"]), project_dir=ctx.project_dir, save=False,
            hyperparameters={"Wait": {"wait": 3}},
        )
    assert without_timing(body) == without_timing(report.result_dict(direct))


def test_without_hyperparameters_the_defaults_apply(hp_client):
    body = _post(hp_client).json()
    entry = START + STEP
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in body["trades"]] == [
        (entry, _open_at(entry), 0.5)
    ]
    assert body["config"]["hyperparameters"] == {"Wait": {"wait": 1, "size": 0.5, "enabled": True}}


def test_json_values_and_text_are_converted(hp_client):
    body = _post(hp_client, {"Wait": {"wait": 0, "size": "0.25", "enabled": "yes"}}).json()
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in body["trades"]] == [
        (START, _open_at(START), 0.25)
    ]
    assert body["config"]["hyperparameters"] == {
        "Wait": {"wait": 0, "size": 0.25, "enabled": True}
    }
    assert _post(hp_client, {"Wait": {"enabled": False}}).json()["trades"] == []


@pytest.mark.parametrize(
    ("hyperparameters", "error", "message"),
    [
        ({"Wait": {"speed": 3}}, "InputError",
         "strategy 'Wait' has no hyperparameter speed; it declares: wait, size, enabled"),
        ({"Wait": {"wait": "abc"}}, "InputError",
         "strategy 'Wait': hyperparameter wait cannot be 'abc'; allowed: an int from 0 to 50"),
        ({"Wait": {"wait": 2.5}}, "InputError",
         "strategy 'Wait': hyperparameter wait cannot be 2.5; allowed: an int from 0 to 50"),
        ({"Wait": {"wait": True}}, "InputError",
         "strategy 'Wait': hyperparameter wait cannot be True; allowed: an int from 0 to 50"),
        ({"Wait": {"wait": 51}}, "InputError",
         "strategy 'Wait': hyperparameter wait = 51 is out of range; allowed: an int from 0 to 50"),
        ({"Wait": {"size": 2}}, "InputError",
         "strategy 'Wait': hyperparameter size = 2.0 is out of range; allowed: a number from "
         "0.001 to 1.0"),
        ({"Wait": {"enabled": 1}}, "InputError",
         "strategy 'Wait': hyperparameter enabled cannot be 1; allowed: true or false"),
        ({"Other": {"wait": 3}}, "InputError",
         "hyperparameters given for strategy 'Other', which no route runs; the routes run: Wait"),
        ({"../Wait": {"wait": 3}}, "ValidationError",
         "hyperparameters: '../Wait' is not a strategy name (the class name of a folder in "
         "strategies/)"),
        ({"Wait": {"wait-x": 3}}, "ValidationError",
         "hyperparameters: Wait: 'wait-x' is not a hyperparameter name (letters, digits and "
         "underscores)"),
    ],
)
def test_bad_hyperparameters_are_a_422_before_anything_runs(hp_client, hyperparameters, error,
                                                            message):
    r = _post(hp_client, hyperparameters)
    assert r.status_code == 422, r.text
    assert (r.json()["error"], r.json()["detail"]) == (error, message)
    assert hp_client.get("/sessions").json() == []


def test_a_value_of_another_json_type_is_a_validation_error(hp_client):
    r = _post(hp_client, {"Wait": {"wait": [3]}})
    assert r.status_code == 422
    assert r.json()["error"] == "ValidationError"
    assert r.json()["detail"].startswith("hyperparameters.Wait.wait.")
    assert hp_client.get("/sessions").json() == []
