"""What a newcomer and an attacker ran into (issue 16), on a project with real Coinbase BTC-USD
hourly candles (2018-07-01 .. 2018-08-30): floods of warnings, a typo'd --project, symbols
spelled another way, suggestions that could not work, an absurd END, strategy errors without a
place, full-width digits."""

from __future__ import annotations

import hashlib
import json
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_project import END, END_MS, EXCHANGE, START, START_MS, SYMBOL, jbt_run, make_project

from jbt.modes.import_candles_mode import resolve_period

HOUR = 3_600_000
WARMUP = 20  # warmup_candles of cli_project's config.toml
LAST_STORED = "2018-08-29 23:00"  # the last of the 1,440 hours cli_project imports


def lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if line.strip()]


def fingerprint(project: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(project.glob("db.sqlite3*"))}


def write_strategy(project: Path, name: str, body: str) -> None:
    folder = project / "strategies" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(body), encoding="utf-8")


def route(project: Path, strategy: str, symbol: str = SYMBOL, exchange: str = EXCHANGE,
          tf: str = "1h") -> None:
    (project / "routes.py").write_text(
        f"routes = [({exchange!r}, {symbol!r}, {tf!r}, {strategy!r})]\n", encoding="utf-8")


def suggested_command(message: str) -> list[str]:
    """The ``jbt import-candles ...`` command a message suggests, as words."""
    text = message.split("with: ", 1)[1].split(" (or set", 1)[0].strip()
    words = shlex.split(text)
    assert words[:2] == ["jbt", "import-candles"], message
    return words


def assert_would_run(words: list[str]) -> tuple[int, int]:
    """The import command's dates are accepted (none in the future, END after START)."""
    start = words[4]
    end = words[words.index("--end") + 1] if "--end" in words else None
    return resolve_period(start, end)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The project with the candles imported, shared by the tests that do not change it."""
    return make_project(tmp_path_factory.mktemp("hardening") / "project")


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project")


# --- finding 2: one warning per refused order flooded stdout ----------------------------------


FLOOD = """\
    from jbt.strategies import Strategy


    class Flood(Strategy):
        def should_long(self):
            return True

        def go_long(self):
            self.buy = 1000, self.price  # 1000 BTC on a 10,000 balance: refused every bar
"""


def test_refused_orders_are_summed_up_and_every_warning_is_kept(project, tmp_path):
    write_strategy(project, "Flood", FLOOD)
    route(project, "Flood")
    out = tmp_path / "run.json"
    result = jbt_run(project, "backtest", START, END, "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    refused = [o for o in data["orders"] if o["status"] == "rejected"]
    bars = (END_MS - START_MS) // HOUR
    assert len(refused) == bars  # one refused order a bar, all of them in the JSON
    assert [int(w.split("#")[1].split()[0]) for w in data["warnings"]] == [
        o["id"] for o in refused]
    shown = [line for line in lines(result.output) if line.startswith("Warning:")]
    assert shown[:3] == [f"Warning: {w}" for w in data["warnings"][:3]]
    assert shown[3:] == [
        f"Warning: {bars - 3:,} more orders rejected for insufficient balance (all of them are "
        "in the saved session and --json)"
    ]
    assert len(result.output) < 10_000  # was one line per refused order
    # the saved session keeps them all too
    again = tmp_path / "again.json"
    shown_again = jbt_run(project, "sessions", "show", str(data["session_id"]), "--json",
                          str(again))
    assert shown_again.exit_code == 0, shown_again.output
    assert json.loads(again.read_text(encoding="utf-8"))["warnings"] == data["warnings"]
    assert len([x for x in lines(shown_again.output) if x.startswith("Warning:")]) == 4


# --- finding 3: a typo'd --project created a project, read-only commands a database ------------


def test_project_must_be_an_existing_folder_and_reading_creates_no_database(tmp_path, sample):
    typo = tmp_path / "typo"
    for args in (["candles"], ["sessions"], ["backtest"], ["new", "MyStrategy"],
                 ["import-candles", "coinbase", "BTC-USD", "2020-01-01"]):
        result = jbt_run(typo, *args)
        assert result.exit_code == 2, (args, result.output)
        assert lines(result.output) == [
            f"Error: --project {typo} does not exist; create a project with: "
            f"jbt new --project {typo}"]
        assert not typo.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    result = jbt_run(a_file, "candles")
    assert result.exit_code == 2
    assert lines(result.output)[0].startswith(f"Error: --project {a_file} is not a folder")

    empty = tmp_path / "empty"
    empty.mkdir()
    assert lines(jbt_run(empty, "candles").output)[0].startswith("No candles stored yet")
    assert lines(jbt_run(empty, "sessions").output) == [
        "No saved sessions yet: every 'jbt backtest' saves one."]
    show = jbt_run(empty, "sessions", "show", "1")
    assert show.exit_code == 2
    assert lines(show.output) == [
        "Error: no session 1; run 'jbt sessions' to list the saved sessions and their ids"]
    no_routes = jbt_run(empty, "backtest")
    assert no_routes.exit_code == 2 and "routes.py: not found" in no_routes.output
    assert list(empty.iterdir()) == []  # no database, nothing at all
    # routes and strategies but no candles: the import to run, still no database
    (empty / "strategies").mkdir()
    write_strategy(empty, "Flood", FLOOD)
    route(empty, "Flood")
    result = jbt_run(empty, "backtest", START, END)
    assert result.exit_code == 1
    # no config.toml: the default warm-up of 210 bars before START
    assert lines(result.output) == [
        f"Error: no candles stored for {EXCHANGE} {SYMBOL}; fetch them with: jbt import-candles "
        f"{EXCHANGE} {SYMBOL} 2018-07-01T06:00 --end {END}"]
    assert sorted(p.name for p in empty.iterdir()) == ["routes.py", "strategies"]
    # on a project with a database, reading leaves its bytes alone
    before = fingerprint(sample)
    for args in (["candles"], ["sessions"], ["sessions", "show", "999"]):
        jbt_run(sample, *args)
    assert fingerprint(sample) == before
    # `jbt new --project` is still the way to create one
    made = jbt_run(tmp_path, "new", "--project", str(tmp_path / "fresh"))
    assert made.exit_code == 0 and (tmp_path / "fresh" / "routes.py").is_file()


# --- finding 4: symbols in routes.py were not normalised like the importer's ------------------


def test_routes_symbols_are_normalised_and_unknown_ones_get_did_you_mean(project, tmp_path):
    outputs = {}
    for exchange, symbol in ((EXCHANGE, SYMBOL), ("Coinbase", "btc-usd"), (EXCHANGE, "btc/usd"),
                             (EXCHANGE, "BTC_USD")):
        route(project, "Swing", symbol, exchange)
        out = tmp_path / f"{symbol.replace('/', '')}.json"
        result = jbt_run(project, "backtest", START, END, "--no-save", "--json", str(out))
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text(encoding="utf-8"))
        assert data["routes"][0]["exchange"] == EXCHANGE and data["routes"][0]["symbol"] == SYMBOL
        outputs[symbol] = {k: v for k, v in data.items() if k != "duration_s"}
    assert len({json.dumps(v, sort_keys=True) for v in outputs.values()}) == 1
    assert outputs[SYMBOL]["trades"]  # the same trades, and there are some

    route(project, "Swing", "BTCUSD")
    result = jbt_run(project, "backtest", START, END)
    assert result.exit_code == 2
    assert lines(result.output) == [
        f"Error: {project / 'routes.py'}: route 1: symbol 'BTCUSD' must be written BASE-QUOTE, "
        "like BTC-USDT; did you mean BTC-USD (stored)?"]

    route(project, "Swing", "btc-usdt")
    result = jbt_run(project, "backtest", START, END)
    assert result.exit_code == 1
    warm_start = datetime.fromtimestamp((START_MS - WARMUP * HOUR) / 1000, tz=timezone.utc)
    assert lines(result.output) == [
        f"Error: no candles stored for {EXCHANGE} BTC-USDT; did you mean BTC-USD (stored)? "
        f"Otherwise fetch them with: jbt import-candles {EXCHANGE} BTC-USDT "
        f"{warm_start:%Y-%m-%dT%H:%M} --end {END}"]
    assert_would_run(suggested_command(result.output))


# --- finding 5: suggested commands that could not work ----------------------------------------


def test_every_suggested_import_would_run_and_includes_the_warm_up(sample):
    future = jbt_run(sample, "backtest", "2030-01-01")
    assert future.exit_code == 2
    assert lines(future.output) == [
        "Error: START 2030-01-01 00:00 UTC is in the future; give a START before now"]

    # after the stored candles: the import starts early enough for the warm-up (20 bars of the
    # project's longest route timeframe, 4h)
    after = jbt_run(sample, "backtest", "2018-09-10")
    assert after.exit_code == 1
    assert lines(after.output) == [
        f"Error: no 1h candles stored for {EXCHANGE} {SYMBOL} in the period; fetch them with: "
        f"jbt import-candles {EXCHANGE} {SYMBOL} 2018-09-06T16:00"]
    first, _ = assert_would_run(suggested_command(after.output))
    assert first == int(datetime(2018, 9, 10, tzinfo=timezone.utc).timestamp() * 1000) - (
        WARMUP * 4 * HOUR)

    # an END after now: the import stops at now (no --end, which would be refused)
    past_now = jbt_run(sample, "backtest", START, "2031-01-01")
    assert past_now.exit_code == 1
    assert lines(past_now.output) == [
        f"Error: {EXCHANGE} {SYMBOL}: the stored 1h candles end at {LAST_STORED} UTC, before END "
        "2031-01-01 00:00 UTC; leave END out to stop there, or fetch the rest with: "
        f"jbt import-candles {EXCHANGE} {SYMBOL} 2018-08-30"]
    assert_would_run(suggested_command(past_now.output))
    # an END in the past is kept
    past = jbt_run(sample, "backtest", START, "2018-09-05")
    words = suggested_command(past.output)
    assert words[4:] == ["2018-08-30", "--end", "2018-09-05"]
    assert_would_run(words)


# --- finding 13: an absurd END (or a stray future candle) stalled the machine ----------------


def test_an_absurd_end_is_answered_from_the_stored_range(sample):
    tracemalloc.start()
    try:
        result = jbt_run(sample, "backtest", START, "9999-12-31")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1
    assert lines(result.output) == [
        f"Error: {EXCHANGE} {SYMBOL}: the stored 1h candles end at {LAST_STORED} UTC, before END "
        "9999-12-31 00:00 UTC; leave END out to stop there, or fetch the rest with: "
        f"jbt import-candles {EXCHANGE} {SYMBOL} 2018-08-30"]
    # the hours up to 9999 are 70 million: nothing that size was built (was 4.6 GB)
    assert peak < 30 * 2**20, peak


def test_a_stray_future_candle_is_left_out_and_refused_at_import(project, tmp_path):
    ok = jbt_run(project, "backtest", "--no-save", "--json", str(tmp_path / "before.json"))
    assert ok.exit_code == 0, ok.output
    before = json.loads((tmp_path / "before.json").read_text(encoding="utf-8"))
    # a row from the year 2100, written behind the store's back (an old jbt, a hand edit)
    con = sqlite3.connect(project / "db.sqlite3")
    with con:
        con.execute('INSERT INTO "candle" VALUES (?, ?, ?, ?, 1, 1, 1, 1, 1)',
                    (EXCHANGE, SYMBOL, "1h", 4_102_444_800_000))
    con.close()
    tracemalloc.start()
    try:
        result = jbt_run(project, "backtest", "--no-save", "--json", str(tmp_path / "after.json"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    assert peak < 60 * 2**20, peak  # 715,000 hours to 2100 were never laid out
    after = json.loads((tmp_path / "after.json").read_text(encoding="utf-8"))
    assert after["period"] == before["period"] and after["trades"] == before["trades"]
    assert after["warnings"] == [
        f"{EXCHANGE} {SYMBOL}: 1 stored 1h candle opens after now (no exchange has it); left out "
        "of the run"]
    # the store refuses such a row: a file with one is not imported, the database unchanged
    data = tmp_path / "future.csv"
    data.write_text("timestamp,open,high,low,close,volume\n"
                    "2018-09-01T00:00:00Z,1,1,1,1,1\n2100-01-01T00:00:00Z,1,1,1,1,1\n",
                    encoding="utf-8")
    before_bytes = fingerprint(project)
    refused = jbt_run(project, "import-candles", EXCHANGE, "ETH-USD", "--file", str(data),
                      "--timeframe", "1h")
    assert refused.exit_code == 2
    assert "2100-01-01 00:00" in refused.output and "future" in refused.output
    assert fingerprint(project) == before_bytes


# --- finding 20: strategy errors without a place; a strategy's KeyboardInterrupt --------------


@pytest.mark.parametrize(("assignment", "what"), [
    ('float("nan"), self.price', "qty must be a positive number, got nan"),
    # (a negative qty is Jesse's signed form: its absolute value is used; 0 is still wrong)
    ("0.0, self.price", "qty must be a positive number, got 0.0"),
    ('0.1, float("nan")', "price must be a positive number, got nan"),
])
def test_bad_order_numbers_name_the_strategy_line_and_bar(project, assignment, what):
    write_strategy(project, "Bad", f"""\
        from jbt.strategies import Strategy


        class Bad(Strategy):
            def should_long(self):
                return self.index == 2

            def go_long(self):
                self.buy = {assignment}
    """)
    route(project, "Bad")
    result = jbt_run(project, "backtest", START, END)
    assert result.exit_code == 1
    assert lines(result.output) == [
        f"Error: strategies/Bad/__init__.py line 9 at 2018-07-10 02:00 UTC: self.buy: {what}"]


def test_the_api_locates_a_bad_order_too(project):
    from fastapi.testclient import TestClient

    from jbt.api import create_app
    from jbt.config import load_config

    write_strategy(project, "Bad", """\
        from jbt.strategies import Strategy


        class Bad(Strategy):
            def should_long(self):
                return True

            def go_long(self):
                self.buy = float("nan"), self.price
    """)
    with TestClient(create_app(load_config(project, env={}), project), base_url="http://127.0.0.1") as client:
        r = client.post("/backtest", json={
            "routes": [{"exchange": EXCHANGE, "symbol": "btc-usd", "timeframe": "1h",
                        "strategy": "Bad"}], "start": START, "end": END})
    assert r.status_code == 422
    body = r.json()
    assert (body["strategy"], body["file"], body["line"]) == (
        "Bad", "strategies/Bad/__init__.py", 9)


def test_a_strategy_raising_keyboard_interrupt_is_its_error_not_a_ctrl_c(project):
    write_strategy(project, "Kb", """\
        from jbt.strategies import Strategy


        class Kb(Strategy):
            def should_long(self):
                if self.index == 3:
                    raise KeyboardInterrupt
                return False
    """)
    route(project, "Kb")
    result = jbt_run(project, "backtest", START, END)
    assert result.exit_code == 1
    assert lines(result.output) == [
        "Error: strategies/Kb/__init__.py line 7 at 2018-07-10 03:00 UTC: KeyboardInterrupt: "
        "raised by the strategy, not by Ctrl-C; a strategy cannot stop the run (return from the "
        "hook instead)"]
    listed = jbt_run(project, "sessions")
    assert " failed " in listed.output  # kept as a failed run, as any strategy error


def test_ctrl_c_during_a_backtest_is_still_an_interruption(project, tmp_path):
    marker = tmp_path / "running"
    write_strategy(project, "Slow", f"""\
        import pathlib
        import time

        from jbt.strategies import Strategy


        class Slow(Strategy):
            def should_long(self):
                pathlib.Path({str(marker)!r}).touch()
                time.sleep(0.05)
                return False
    """)
    route(project, "Slow")
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(project), "backtest",
                             START, END], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert lines(err) == ["Error: interrupted; everything saved so far is kept"]


def test_full_width_digits_are_not_a_date(sample):
    result = jbt_run(sample, "backtest", "２０１８-０７-１０")
    assert result.exit_code == 2
    assert lines(result.output) == [
        "Error: START '２０１８-０７-１０' is not a date; use YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM[:SS] (UTC)"]


# --- finding 19: prices edited inside a cached block changed a backtest silently --------------


def test_a_backtest_ignores_prices_edited_inside_a_cached_block(project, tmp_path):
    import numpy as np

    from jbt.constants import CLOSE, HIGH, LOW, OPEN

    first = tmp_path / "first.json"
    assert jbt_run(project, "backtest", START, END, "--json", str(first)).exit_code == 0
    con = sqlite3.connect(project / "db.sqlite3")
    with con:  # double every price of every cached block; the rows stay as they were
        for key, data in con.execute('SELECT "block_start", "data" FROM "candle_block"').fetchall():
            arr = np.frombuffer(data, dtype=np.float64).reshape(-1, 6).copy()
            arr[:, [OPEN, CLOSE, HIGH, LOW]] *= 2
            con.execute('UPDATE "candle_block" SET "data" = ? WHERE "block_start" = ?',
                        (arr.tobytes(), key))
    con.close()
    second = tmp_path / "second.json"
    assert jbt_run(project, "backtest", START, END, "--json", str(second)).exit_code == 0
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    assert a["trades"] and b["trades"] == a["trades"] and b["metrics"] == a["metrics"]
