"""Saved sessions: ``jbt sessions`` lists every saved run, ``jbt sessions show ID`` prints the
same report again without re-running, a failed run is kept with its error."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from cli_project import END, START, jbt_run, make_project, write_routes

from jbt.models import open_database
from jbt.report import fmt_money, fmt_pct, fmt_price, fmt_ratio
from jbt.sessions import load_session


def _lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if line.strip()]


def _row(output: str, first: str) -> str:
    """The table line whose first cell is ``first``."""
    found = [line for line in _lines(output) if line.split()[0] == first]
    assert len(found) == 1, output
    return found[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An empty listing, then a saved run, an unsaved one and a failing one."""
    root = tmp_path_factory.mktemp("sessions")
    project = make_project(root / "project")
    empty = jbt_run(project, "sessions")
    ran = jbt_run(project, "backtest", START, END, "--trades", "--breakdown", "month",
                  "--json", str(root / "run.json"))
    assert ran.exit_code == 0, ran.output
    unsaved = jbt_run(project, "backtest", START, END, "--no-save")
    assert unsaved.exit_code == 0, unsaved.output
    write_routes(project, [("coinbase", "BTC-USD", "1h", "Boom")])
    failed = jbt_run(project, "backtest", START, END)
    data = json.loads((root / "run.json").read_text(encoding="utf-8"))
    listed = jbt_run(project, "sessions")
    assert listed.exit_code == 0, listed.output
    return {"project": project, "empty": empty, "ran": ran, "unsaved": unsaved,
            "failed": failed, "data": data, "listed": listed}


def test_sessions_lists_every_saved_run_newest_first(runs) -> None:
    assert runs["empty"].exit_code == 0
    assert _lines(runs["empty"].output) == [
        "No saved sessions yet: every 'jbt backtest' saves one."]
    sid = runs["data"]["session_id"]
    assert "Not saved" in runs["unsaved"].output
    out = runs["listed"].output
    m = runs["data"]["metrics"]
    row = _row(out, str(sid)).split()
    assert row[2:5] == ["finished", "BTC-USD", "1h"]
    assert row[5] == "2018-07-10"
    assert row[6:] == [str(m["total_trades"]), fmt_pct(m["total_return"]),
                       fmt_ratio(m["sharpe"]), f"{runs['data']['duration_s']:.2f}s"]
    assert m["total_trades"] == len(runs["data"]["trades"]) > 0
    failed = _row(out, str(sid + 1)).split()
    assert failed[2:5] == ["failed", "BTC-USD", "1h"]
    ids = [line.split()[0] for line in _lines(out) if line.split()[0].isdigit()]
    assert ids == [str(sid + 1), str(sid)]  # newest first; the --no-save run is not there
    assert "'jbt sessions show ID' prints the error of a failed session." in out
    # the second line of each entry: time of day, strategy, end of the period
    text = "\n".join(_lines(out))
    assert "Swing" in text and "Rising" in text and "Boom" in text and "2018-08-25" in text


def test_show_prints_the_same_report_without_rerunning(runs) -> None:
    sid = runs["data"]["session_id"]
    shown = jbt_run(runs["project"], "sessions", "show", str(sid), "--trades",
                    "--breakdown", "month")
    assert shown.exit_code == 0, shown.output
    ran = _lines(runs["ran"].output)
    assert ran[-1].startswith(f"Saved as session {sid} (engine ")
    assert ran[-2].startswith("Wrote ") and ran[-2].endswith("run.json")
    got = _lines(shown.output)
    assert got[0].startswith(f"Session {sid}, saved ")
    assert got[1:] == ran[:-2]


def test_trades_flag_prints_every_trade(runs) -> None:
    out = runs["ran"].output
    trades = runs["data"]["trades"]
    for t in trades:
        line = _row(out, str(t["id"]))
        cells = line.split()
        assert cells[1] == "BTC-USD"
        assert cells[2] == datetime.fromtimestamp(
            t["entry_time"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
        assert fmt_price(t["entry_price"]) in cells and fmt_price(t["exit_price"]) in cells
        assert fmt_money(t["pnl"]) in cells
    reasons = {t["closed_by"] for t in trades}
    assert {"signal", "stop-loss", "take-profit"} <= reasons


def test_breakdown_month_prints_a_row_per_month(runs) -> None:
    data = runs["data"]
    lines = _lines(runs["ran"].output)
    i = lines.index("Returns by month")
    july_end = 1_533_081_600_000  # 2018-08-01 00:00 UTC
    at_july_end = [p["equity"] for p in data["equity"] if p["time"] <= july_end][-1]
    final = data["equity"][-1]["equity"]
    assert final == data["finishing_balance"]
    assert lines[i + 3].split() == [
        "2018-07", "10,000.00", fmt_money(at_july_end), fmt_pct(at_july_end / 10_000 - 1)]
    assert lines[i + 4].split() == [
        "2018-08", fmt_money(at_july_end), fmt_money(final), fmt_pct(final / at_july_end - 1)]


def test_an_unknown_session_is_one_line_and_a_non_zero_exit(runs) -> None:
    r = jbt_run(runs["project"], "sessions", "show", "999")
    assert r.exit_code != 0
    assert _lines(r.output) == [
        "Error: no session 999; run 'jbt sessions' to list the saved sessions and their ids"]


def test_a_failed_run_is_saved_with_its_error(runs) -> None:
    failed = runs["failed"]
    assert failed.exit_code == 1
    [message] = _lines(failed.output)
    assert "ZeroDivisionError: the strategy divided by zero" in message
    fid = runs["data"]["session_id"] + 1
    with sqlite3.connect(runs["project"] / "db.sqlite3") as con:
        status, error, start, end, routes, config, duration = con.execute(
            'SELECT status, error, start, "end", routes, config, duration_s '
            "FROM backtest_session WHERE id = ?", (fid,)).fetchone()
    assert status == "failed"
    assert error == message.removeprefix("Error: ")
    assert (start, end) == (runs["data"]["period"]["start"], runs["data"]["period"]["end"])
    assert json.loads(routes) == [{"exchange": "coinbase", "symbol": "BTC-USD",
                                   "timeframe": "1h", "strategy": "Boom"}]
    assert json.loads(config)["backtest"]["warmup_candles"] == 20
    assert duration > 0
    shown = jbt_run(runs["project"], "sessions", "show", str(fid))
    assert shown.exit_code == 1
    assert _lines(shown.output) == [f"Error: session {fid} failed: {error}"]


def test_load_session_equals_the_json_export(runs) -> None:
    open_database(f"sqlite:///{runs['project'] / 'db.sqlite3'}")
    result = load_session(runs["data"]["session_id"])
    assert result.to_dict() == runs["data"]
    assert len(result.fills) >= 2 * len(result.trades)


def test_a_session_saved_without_its_exact_row_reads_from_the_tables(tmp_path) -> None:
    project = make_project(tmp_path / "project")
    ran = jbt_run(project, "backtest", START, END, "--json", str(tmp_path / "run.json"))
    assert ran.exit_code == 0, ran.output
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    with sqlite3.connect(project / "db.sqlite3") as con:
        assert con.execute("DELETE FROM backtest_session_data").rowcount == 1
    open_database(f"sqlite:///{project / 'db.sqlite3'}")
    got = load_session(data["session_id"]).to_dict()
    for key in ("session_id", "config", "routes", "period", "metrics", "equity", "duration_s",
                "starting_balance"):
        assert got[key] == data[key], key
    assert got["finishing_balance"] == pytest.approx(data["finishing_balance"], abs=1e-11)
    for name in ("trades", "orders"):
        assert len(got[name]) == len(data[name]) > 0
        for g, w in zip(got[name], sorted(data[name], key=lambda x: x["id"]), strict=True):
            assert g.keys() == w.keys()
            for k, v in w.items():
                if isinstance(v, float):
                    assert g[k] == pytest.approx(v, abs=1e-11), k  # 12 decimal places
                else:
                    assert g[k] == v, k
