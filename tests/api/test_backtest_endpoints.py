"""POST /backtest and the saved sessions through TestClient: the same JSON the CLI writes, every
kind of bad input as a 422 with a message, and strategy exceptions that leave the server up."""

from __future__ import annotations

import pytest

from jbt import report
from jbt.config import load_config
from jbt.results import RouteSpec

from .conftest import BOOM_LINE, PERIOD, SAMPLE_EXCHANGE, SAMPLE_SYMBOL, without_timing

ROUTE = {"exchange": SAMPLE_EXCHANGE, "symbol": SAMPLE_SYMBOL, "timeframe": "4h", "strategy": "Rising"}


def direct(client, routes, start=PERIOD["start"], end=PERIOD["end"], overrides=None) -> dict:
    """What backtest_mode.run returns for the same input, called in-process (not saved)."""
    from jbt.dates import parse_date
    from jbt.modes import backtest_mode

    ctx = client.app.state.jbt
    config = load_config(ctx.project_dir, env={})
    if overrides:
        config = config.with_overrides({"backtest": overrides})
    with ctx.db.connection_context():
        result = backtest_mode.run(
            config,
            [RouteSpec(**r) for r in routes],
            parse_date(start),
            parse_date(end),
            project_dir=ctx.project_dir,
            save=False,
        )
    return report.result_dict(result)


def test_backtest_returns_what_the_mode_returns(client, sample_db):
    r = client.post("/backtest", json={"routes": [ROUTE], **PERIOD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["session_id"], int)
    assert body["duration_s"] > 0
    assert body["routes"] == [ROUTE]
    assert len(body["trades"]) > 5
    assert body["metrics"]["total_trades"] == len(body["trades"])
    assert without_timing(body) == without_timing(direct(client, [ROUTE]))


def test_config_overrides_apply_to_this_run_only(client, sample_db):
    base = client.post("/backtest", json={"routes": [ROUTE], **PERIOD}).json()
    cheap = client.post(
        "/backtest",
        json={"routes": [ROUTE], **PERIOD, "config": {"backtest": {"fee": 0.0, "starting_balance": 5000}}},
    ).json()
    assert cheap["starting_balance"] == 5000
    assert cheap["config"]["backtest"]["fee"] == 0.0
    assert all(t["fee"] == 0 for t in cheap["trades"])
    assert without_timing(cheap) == without_timing(
        direct(client, [ROUTE], overrides={"fee": 0.0, "starting_balance": 5000})
    )
    again = client.post("/backtest", json={"routes": [ROUTE], **PERIOD}).json()
    assert without_timing(again) == without_timing(base)
    assert base["config"]["backtest"]["fee"] == 0.001


def test_saved_sessions_can_be_listed_and_read_back(client, sample_db):
    assert client.get("/sessions").json() == []
    first = client.post("/backtest", json={"routes": [ROUTE], **PERIOD}).json()
    unsaved = client.post("/backtest", json={"routes": [ROUTE], **PERIOD, "save": False}).json()
    assert unsaved["session_id"] is None
    second = client.post(
        "/backtest", json={"routes": [{**ROUTE, "timeframe": "1h"}], **PERIOD}
    ).json()

    listed = client.get("/sessions").json()
    assert [s["id"] for s in listed] == [second["session_id"], first["session_id"]]
    summary = listed[1]
    assert summary["status"] == "finished"
    assert summary["start"] == first["period"]["start"]
    assert summary["end"] == first["period"]["end"]
    assert summary["starting_balance"] == pytest.approx(first["starting_balance"])
    assert summary["finishing_balance"] == pytest.approx(first["finishing_balance"])
    assert summary["metrics"] == first["metrics"]
    assert client.get("/sessions", params={"limit": 1}).json() == listed[:1]
    assert client.get("/sessions", params={"limit": 1, "offset": 1}).json() == listed[1:]

    # read back value for value: what the POST answered, what `jbt backtest --json` wrote
    assert client.get(f"/sessions/{first['session_id']}").json() == first
    assert client.get(f"/sessions/{second['session_id']}").json() == second


def test_a_failed_run_is_listed_with_its_error_and_has_no_result(client, sample_db):
    r = client.post("/backtest", json={"routes": [{**ROUTE, "strategy": "Boom"}], **PERIOD})
    assert r.status_code == 422
    listed = client.get("/sessions").json()
    assert len(listed) == 1
    assert listed[0]["status"] == "failed"
    assert "ZeroDivisionError: the strategy divided by zero" in listed[0]["error"]
    got = client.get(f"/sessions/{listed[0]['id']}")
    assert got.status_code == 409
    assert got.json()["error"] == "SessionFailed"
    assert got.json()["detail"].startswith(f"session {listed[0]['id']} failed: ")


def test_unknown_sessions_are_404_and_paging_is_validated(client):
    r = client.get("/sessions/12345")
    assert r.status_code == 404
    assert r.json()["detail"] == "session 12345 not found; GET /sessions lists them"
    for params, message in [
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": "ten"}, "query.limit: Input should be a valid integer, unable to parse string as an integer"),
        ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
    ]:
        r = client.get("/sessions", params=params)
        assert r.status_code == 422
        assert r.json()["detail"] == message
    for bad in ("0", "abc", str(2**70)):
        assert client.get(f"/sessions/{bad}").status_code == 422


def test_a_strategy_exception_names_the_strategy_file_and_line(client, sample_db):
    boom = {**ROUTE, "strategy": "Boom"}
    r = client.post("/backtest", json={"routes": [boom], **PERIOD})
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "StrategyError"
    assert err["strategy"] == "Boom"
    assert err["file"] == "strategies/Boom/__init__.py"
    assert err["line"] == BOOM_LINE
    assert f"strategies/Boom/__init__.py line {BOOM_LINE}" in err["detail"]
    assert "ZeroDivisionError: the strategy divided by zero" in err["detail"]
    # the server keeps serving, and the next backtest is unaffected
    ok = client.post("/backtest", json={"routes": [ROUTE], **PERIOD})
    assert ok.status_code == 200
    assert without_timing(ok.json()) == without_timing(direct(client, [ROUTE]))


BAD_BACKTESTS = [
    ({"routes": [{**ROUTE, "strategy": "Nope"}]}, "strategy 'Nope' not found in strategies/; available: Boom, Rising"),
    ({"routes": [{**ROUTE, "strategy": "../Rising"}]}, "routes.0.strategy: strategy '../Rising' is not a strategy name"),
    ({"routes": [{**ROUTE, "strategy": "Rising.evil"}]}, "no paths or dots"),
    ({"routes": [{**ROUTE, "strategy": "strategies/Rising"}]}, "no paths or dots"),
    ({"routes": [{**ROUTE, "strategy": ""}]}, "routes.0.strategy: strategy '' is not a strategy name"),
    ({"routes": [{**ROUTE, "timeframe": "7m"}]}, "routes.0.timeframe: unknown timeframe '7m'; use one of: 1m, 3m"),
    ({"routes": [{**ROUTE, "timeframe": "4H"}]}, "did you mean '4h'?"),
    ({"routes": [{**ROUTE, "symbol": "BTCUSD"}]}, "routes.0.symbol: symbol 'BTCUSD' must be written BASE-QUOTE, like BTC-USDT; did you mean BTC-USD?"),
    ({"routes": [{**ROUTE, "exchange": "a/b"}]}, "routes.0.exchange: exchange 'a/b' is not an exchange name"),
    ({"routes": [{**ROUTE, "symbol": "ETH-USD"}]}, "ETH-USD"),
    ({"routes": []}, "routes: List should have at least 1 item"),
    ({}, "routes: Field required"),
    ({"routes": [ROUTE], "start": "2018-13-01"}, "start '2018-13-01' is not a date"),
    ({"routes": [ROUTE], "start": "July 1st"}, "start 'July 1st' is not a date"),
    ({"routes": [ROUTE], "start": "2018-09-01", "end": "2018-08-01"}, "start (2018-09-01) must be before end (2018-08-01)"),
    ({"routes": [ROUTE], "start": "2018-08-01", "end": "2018-08-01"}, "must be before end"),
    ({"routes": [ROUTE], "config": {"backtest": {"fee": 2}}}, "config.backtest.fee: Input should be less than 1"),
    ({"routes": [ROUTE], "config": {"backtest": {"feee": 0}}}, "config.backtest.feee: Extra inputs are not permitted"),
    ({"routes": [ROUTE], "config": {"database": {"url": "sqlite:////tmp/x.db"}}}, "config.database: Extra inputs are not permitted"),
    ({"routes": [ROUTE], "config": {"exchanges": {"binance": {"api_url": "http://127.0.0.1:1"}}}}, "config.exchanges: Extra inputs are not permitted"),
    ({"routes": [ROUTE], "config": {"server": {"token": "mine"}}}, "config.server: Extra inputs are not permitted"),
    ({"routes": [ROUTE], "config": {"backtest": {"leverage": 3}}}, "'leverage' needs type = \"futures\""),
    ({"routes": [ROUTE], "config": {"backtest": {"type": "margin"}}}, "config.backtest.type: Input should be 'spot' or 'futures'"),
    ({"routes": [ROUTE], "extra": True}, "extra: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("body, message", BAD_BACKTESTS, ids=[m[:40] for _, m in BAD_BACKTESTS])
def test_bad_backtests_are_422_with_a_message(client, sample_db, body, message):
    r = client.post("/backtest", json={**PERIOD, **body})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    assert message in detail
    assert client.get("/sessions").json() == []


def test_missing_candles_are_422(client, sample_db):
    r = client.post("/backtest", json={"routes": [ROUTE], "start": "2021-01-01", "end": "2021-02-01"})
    assert r.status_code == 422
    assert r.json()["error"] == "CandlesMissingError"
    assert SAMPLE_SYMBOL in r.json()["detail"]


def test_a_strategy_that_does_not_compile_names_its_file_and_line(client, sample_db, project):
    folder = project / "strategies" / "Broken"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from jbt.strategies import Strategy\n\nclass Broken(Strategy)\n    pass\n",
        encoding="utf-8",
    )
    r = client.post("/backtest", json={"routes": [{**ROUTE, "strategy": "Broken"}], **PERIOD})
    assert r.status_code == 422, r.text
    err = r.json()
    assert (err["error"], err["strategy"], err["file"], err["line"]) == (
        "StrategyError", "Broken", "strategies/Broken/__init__.py", 3,
    )
    assert "SyntaxError" in err["detail"]
    assert client.post("/backtest", json={"routes": [ROUTE], **PERIOD}).status_code == 200


def test_an_absurd_end_is_answered_from_the_stored_range(client, sample_db):
    """Issue 16, finding 13: an END of 9999-12-31 answered 422 after 239 s and 5.1 GB (every
    expected candle time up to END laid out first). Now the END is compared with the last
    stored candle before anything is read; bench/bench_absurd_end.py measures time and memory.
    """
    import time

    from jbt.dates import format_ms

    from .conftest import SAMPLE_HOURS

    last = 1_530_403_200_000 + (SAMPLE_HOURS - 1) * 3_600_000  # the sample starts 2018-07-01
    began = time.monotonic()
    r = client.post("/backtest", json={"routes": [ROUTE], "start": PERIOD["start"],
                                       "end": "9999-12-31"})
    took = time.monotonic() - began
    assert r.status_code == 422, r.text
    assert r.json() == {
        "detail": f"{SAMPLE_EXCHANGE} {SAMPLE_SYMBOL}: the stored 1h candles end at "
                  f"{format_ms(last)} UTC, before END 9999-12-31 00:00 UTC; leave END out to "
                  "stop there, or fetch the rest with: jbt import-candles "
                  f"{SAMPLE_EXCHANGE} {SAMPLE_SYMBOL} {format_ms(last + 3_600_000)[:10]}",
        "error": "CandlesMissingError",
    }
    assert took < 60  # not the 239 s of laying out 70 million hours
    assert client.get("/sessions").json() == []
