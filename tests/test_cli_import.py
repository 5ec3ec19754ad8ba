"""``jbt import-candles EXCHANGE SYMBOL START`` against the fake Binance server, in-process and as
a real subprocess (killed half-way, interrupted with Ctrl-C)."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket, write_project
from typer.testing import CliRunner

from jbt.cli import app

MIN = 60_000
DAY = 1440 * MIN
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC


def jbt_run(project: Path, *args: str):
    return CliRunner().invoke(app, ["--project", str(project), *args])


def load(project: Path, symbol: str = "BTC-USDT") -> np.ndarray:
    from jbt import candles
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{project / 'db.sqlite3'}")
    try:
        return candles.load_candles("binance", symbol, "1m")
    finally:
        close_database()


def stored_ranges(project: Path) -> list[tuple[int, int]]:
    from jbt import candles
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{project / 'db.sqlite3'}")
    try:
        return candles.stored_ranges("binance", "BTC-USDT", "1m")
    finally:
        close_database()


def rows_committed(project: Path) -> int:
    """Candle rows another process has committed (a read-only look, no jbt state touched)."""
    path = project / "db.sqlite3"
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute('SELECT COUNT(*) FROM "candle"').fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        con.close()


def db_fingerprint(project: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(project.glob("db.sqlite3*"))}


@pytest.fixture
def server():
    markets = [FakeMarket("BTC", "USDT", T0, T0 + 30 * DAY, holes=[(T0 + 100 * MIN, T0 + 109 * MIN)],
                          seed=21),
               FakeMarket("ETH", "USDT", T0, T0 + 30 * DAY, seed=22)]
    with FakeBinance(markets) as srv:
        yield srv


@pytest.fixture
def project(tmp_path, server):
    write_project(tmp_path, {"binance": server}, retry_delay=0.01, timeout=5.0)
    return tmp_path


def test_import_three_days(project, server):
    result = jbt_run(project, "import-candles", "binance", "BTC-USDT", "2020-01-01",
                     "--end", "2020-01-04")
    assert result.exit_code == 0, result.output
    expected = server.candles("BTCUSDT", T0, T0 + 3 * DAY)
    assert np.array_equal(load(project), expected)
    assert len(expected) == 4320 - 10
    out = result.output
    assert "binance BTC-USDT 1m" in out
    assert "2020-01-01 00:00 → 2020-01-03 23:59" in out
    for label, value in (("fetched", "4,310"), ("inserted", "4,310"), ("already present", "0"),
                         ("missing on the exchange", "10")):
        assert any(label in line and line.rstrip(" │").endswith(value)
                   for line in out.splitlines()), label
    assert "2020-01-01 01:40 → 2020-01-01 01:49  (10 min)" in out


def test_rerun_asks_nothing_and_refetch_gaps_asks_the_known_gap(project, server):
    args = ("import-candles", "binance", "BTC-USDT", "2020-01-01", "--end", "2020-01-02")
    assert jbt_run(project, *args).exit_code == 0
    for extra, requested in (((), []),
                             (("--refetch-gaps",), [(T0 + 100 * MIN, T0 + 109 * MIN)])):
        server.reset_requests()
        result = jbt_run(project, *args, *extra)
        assert result.exit_code == 0, result.output
        assert [(int(r.params["startTime"]), int(r.params["endTime"]))
                for r in server.klines_requests()] == requested
        assert "2020-01-01 01:40 → 2020-01-01 01:49  (10 min)" in result.output
        assert any("missing on the exchange" in line and line.rstrip(" │").endswith("10")
                   for line in result.output.splitlines())
    assert np.array_equal(load(project), server.candles("BTCUSDT", T0, T0 + DAY))


def test_refetch_gaps_is_not_for_files(project, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("timestamp,open,high,low,close,volume\n0,1,1,1,1,1\n", encoding="utf-8")
    result = jbt_run(project, "import-candles", "binance", "BTC-USDT", "--file", str(data),
                     "--refetch-gaps")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --refetch-gaps is for exchange imports, not --file"


INFO = "/api/v3/exchangeInfo"


@pytest.mark.parametrize(
    ("args", "message", "paths"),
    [
        (["binanse", "BTC-USDT", "2020-01-01"],
         "Error: unknown exchange 'binanse'; did you mean binance", []),
        (["binance", "BTC-USDX", "2020-01-01"],
         "Error: unknown symbol 'BTC-USDX' on binance; did you mean BTC-USDT", [INFO]),
        # the format is checked before any request
        (["binance", "BTCUSDT", "2020-01-01"],
         "Error: symbol 'BTCUSDT' must be written BASE-QUOTE, like BTC-USDT; did you mean "
         "BTC-USDT?", []),
        (["binance", "BTC-USDT", "2020-01-32"],
         "Error: START '2020-01-32' is not a date (day is out of range for month)", []),
        (["binance", "BTC-USDT", "2020-01-01", "--end", "soon"],
         "Error: END 'soon' is not a date; use YYYY-MM-DD", []),
        (["binance", "BTC-USDT", "2999-01-01"],
         "Error: START 2999-01-01 00:00 is in the future", []),
        (["binance", "BTC-USDT", "2020-01-01", "--end", "2999-01-01"],
         "Error: END 2999-01-01 00:00 is in the future", []),
        (["binance", "BTC-USDT", "2020-01-02", "--end", "2020-01-01"],
         "Error: END 2020-01-01 00:00 is not after START 2020-01-02 00:00", []),
        (["binance", "BTC-USDT"], "Error: give START, the first day to import", []),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_database_alone(project, server, args, message,
                                                              paths):
    ok = jbt_run(project, "import-candles", "binance", "ETH-USDT", "2020-01-01", "--end",
                 "2020-01-01T02:00")
    assert ok.exit_code == 0, ok.output
    before = db_fingerprint(project)
    server.reset_requests()
    result = jbt_run(project, "import-candles", *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert db_fingerprint(project) == before
    # bad dates and names fail before any request; a symbol needs the market list, nothing more
    assert [r.path for r in server.requests] == paths


def test_debug_shows_the_traceback(project, server):
    result = jbt_run(project, "--debug", "import-candles", "binance", "BTC-USDX", "2020-01-01")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "InputError"
    assert str(result.exception).startswith("unknown symbol 'BTC-USDX' on binance")


def test_unknown_exchange_fails_without_a_database(tmp_path):
    result = jbt_run(tmp_path, "import-candles", "nope", "BTC-USDT", "2020-01-01")
    assert result.exit_code == 2
    assert result.output.startswith("Error: unknown exchange 'nope'; ")
    assert "supported: binance, binance-futures, or any ccxt exchange id" in result.output
    assert not (tmp_path / "db.sqlite3").exists()


def spawn_import(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jbt", "--project", str(project), "import-candles", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sigkill_half_way_then_rerun_gives_the_uninterrupted_rows(project, server):
    server.latency_s = 0.05
    args = ("binance", "BTC-USDT", "2020-01-01", "--end", "2020-01-21")  # 29 pages
    proc = spawn_import(project, *args)
    killed: list[int] = []

    def kill_half_way(served: int) -> None:
        # from the 10th page on, as soon as the import has committed something (on a busy
        # machine the first commit can come after the 10th answer)
        if not killed and served >= 10 and rows_committed(project) > 0:
            killed.append(served)
            os.kill(proc.pid, signal.SIGKILL)

    server.on_klines = kill_half_way
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    server.on_klines = None
    before = stored_ranges(project)
    kept = sum((b - a) // MIN + 1 for a, b in before)
    expected = server.candles("BTCUSDT", T0, T0 + 20 * DAY)
    assert 0 < kept < len(expected)

    server.reset_requests()
    result = jbt_run(project, "import-candles", *args)
    assert result.exit_code == 0, result.output
    assert np.array_equal(load(project), expected)
    assert any(line.rstrip(" │").endswith(f"{kept:,}") for line in result.output.splitlines()
               if "already present" in line)
    pages = [r for r in server.klines_requests() if r.params["startTime"] != "0"]
    assert pages
    for r in pages:
        a, b = int(r.params["startTime"]), int(r.params["endTime"])
        assert not any(lo <= b and a <= hi for lo, hi in before), (a, b, before)


def test_ctrl_c_stops_cleanly_and_keeps_what_was_saved(project, server):
    server.latency_s = 0.02
    proc = spawn_import(project, "binance", "BTC-USDT", "2020-01-01", "--end", "2020-01-21")
    server.on_klines = lambda served: served == 6 and os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted: everything saved so far is kept" in err
    # the progress bar's last frame: the candles per second and the time left
    bar = err.splitlines()[0]
    assert bar.startswith("binance BTC-USDT ") and " candles/s ETA " in bar, err
    assert "inserted" in out and "Traceback" not in err
    ranges = stored_ranges(project)
    # saved in order: everything from the start up to the page where it stopped, less the hole
    assert ranges[0] == (T0, T0 + 99 * MIN) and ranges[1][0] == T0 + 110 * MIN
    end = ranges[-1][1] + MIN
    assert len(ranges) == 2 and (end - T0) % (1000 * MIN) == 0
    assert np.array_equal(load(project), server.candles("BTCUSDT", T0, end))
