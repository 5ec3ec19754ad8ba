"""``jbt import-candles --file`` and ``jbt candles``, run in-process on a project folder."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jbt
from jbt.cli import app

SAMPLE = Path(jbt.__file__).parent / "data" / "coinbase-BTC-USD-1h.csv"


def jbt_run(project: Path, *args: str):
    return CliRunner().invoke(app, ["--project", str(project), *args])


def stored(project: Path) -> list[tuple]:
    """Every candle row in the project's SQLite file, read without jbt."""
    path = project / "db.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as con:
        return con.execute(
            "SELECT exchange, symbol, timeframe, timestamp, open, high, low, close, volume "
            "FROM candle ORDER BY exchange, symbol, timeframe, timestamp"
        ).fetchall()


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_candles_with_nothing_stored_prints_a_hint(tmp_path):
    result = jbt_run(tmp_path, "candles")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "No candles stored yet; import some with 'jbt import-candles binance BTC-USDT "
        "2024-01-01' or 'jbt import-candles EXCHANGE SYMBOL --file PATH'."
    ]


def test_import_sample_then_list_it(tmp_path):
    result = jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file", str(SAMPLE))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "coinbase BTC-USD 1h" in out
    assert "2018-07-01 00:00 → 2019-10-17 09:00" in out
    for label, value in (("rows read", "11,362"), ("inserted", "11,362"), ("already present", "0"),
                         ("missing", "0")):
        assert any(label in line and line.rstrip(" │").endswith(value) for line in out.splitlines()), label
    rows = stored(tmp_path)
    assert len(rows) == 11_362
    assert rows[0][:4] == ("coinbase", "BTC-USD", "1h", 1_530_403_200_000)
    assert [float(x) for x in rows[0][4:]] == [6383.19, 6424.14, 6357.01, 6365.0, 379.89]

    again = jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file", str(SAMPLE))
    assert again.exit_code == 0
    assert any("inserted" in line and line.rstrip(" │").endswith(" 0") for line in again.output.splitlines())
    assert any("already present" in line and "11,362" in line for line in again.output.splitlines())
    assert len(stored(tmp_path)) == 11_362

    listing = jbt_run(tmp_path, "candles")
    assert listing.exit_code == 0
    assert [line.rstrip() for line in listing.output.splitlines()] == [
        "Stored candles (times UTC)",
        "exchange symbol  timeframe first            last              count missing",
        "coinbase BTC-USD 1h        2018-07-01 00:00 2019-10-17 09:00 11,362       0",
    ]


def test_gaps_are_listed(tmp_path):
    lines = SAMPLE.read_text().splitlines()
    kept = [line for i, line in enumerate(lines) if i not in (3, 4, 5, 50)]  # data rows 3-5, 50
    path = tmp_path / "holes.csv"
    path.write_text("\n".join(kept) + "\n")
    result = jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert "2018-07-01 02:00 → 2018-07-01 04:00  (3 candles)" in result.output
    assert "2018-07-03 01:00 → 2018-07-03 01:00  (1 candles)" in result.output
    listing = jbt_run(tmp_path, "candles")
    assert listing.output.splitlines()[-1].split()[-2:] == ["11,358", "4"]


def bad_file(tmp_path: Path, line: int, replace) -> Path:
    lines = SAMPLE.read_text().splitlines()[:40]
    lines[line - 1] = replace(lines[line - 1])
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "replace", "message"),
    [
        (17, lambda s: s.rsplit(",", 2)[0] + ",abc," + s.rsplit(",", 1)[1],
         "Error: data.csv line 17: 'abc' is not a number in column 'close'"),
        (9, lambda s: s + ",1", "Error: data.csv line 9: expected 6 columns like the header, found 7"),
        (12, lambda s: str(int(s.split(",")[0]) + 60_000) + s[13:],
         "Error: data.csv line 12: timestamp 1530439260000 is not aligned to the 1h timeframe (UTC)"),
        (25, lambda s: ",".join([*s.split(",")[:2], "1", "99999", *s.split(",")[4:]]),
         "Error: data.csv line 25: high 1 is below low 99999"),
    ],
)
def test_malformed_file_exits_nonzero_and_changes_nothing(tmp_path, line, replace, message):
    shutil.copy(SAMPLE, tmp_path / "good.csv")
    assert jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file",
                   str(tmp_path / "good.csv")).exit_code == 0
    before = stored(tmp_path)
    result = jbt_run(tmp_path, "import-candles", "kraken", "BTC-USD", "--file",
                     str(bad_file(tmp_path, line, replace)))
    assert result.exit_code == 2
    assert error_line(result) == message
    assert stored(tmp_path) == before


def test_duplicate_time_with_other_values(tmp_path):
    lines = SAMPLE.read_text().splitlines()[:30]
    ts, o, h, lo, c, v = lines[10].split(",")
    lines.append(",".join([ts, o, h, lo, c, str(float(v) + 1)]))
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    result = jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file", str(path))
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: data.csv line 31: a different candle for the same time as line 11 "
        "(timestamp 1530435600000)"
    )
    assert stored(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["coinbase", "BTCUSD", "--file", str(SAMPLE)],
         "Error: symbol 'BTCUSD' must be written BASE-QUOTE, like BTC-USDT; did you mean BTC-USD?"),
        (["coinbase", "BTC-USD", "--file", str(SAMPLE), "--timeframe", "2x"],
         "Error: unknown timeframe '2x'"),
        (["coinbase", "BTC-USD", "--file", str(SAMPLE), "--timeframe", "4h"],
         "Error: coinbase-BTC-USD-1h.csv line 3: timestamp 1530406800000 is not aligned to the "
         "4h timeframe (UTC)"),
        (["coinbase", "BTC-USD", "2020-01-01", "--file", str(SAMPLE)],
         "Error: --file imports the whole file; START and --end are for exchanges"),
        (["binance", "BTC-USDT", "2020-01-01", "--timeframe", "1h"],
         "Error: --timeframe goes with --file; exchange imports fetch 1m candles"),
        (["binance", "BTC-USDT"],
         "Error: give START, the first day to import (e.g. 2020-01-01), or --file PATH"),
    ],
)
def test_bad_arguments(tmp_path, args, message):
    result = jbt_run(tmp_path, "import-candles", *args)
    assert result.exit_code == 2
    assert error_line(result).startswith(message)
    assert stored(tmp_path) == []


def test_missing_file(tmp_path):
    result = jbt_run(tmp_path, "import-candles", "coinbase", "BTC-USD", "--file",
                     str(tmp_path / "nope.csv"))
    assert result.exit_code == 2
    assert error_line(result) == f"Error: {tmp_path / 'nope.csv'}: file not found"
    assert not (tmp_path / "db.sqlite3").exists()


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "jbt", "--help"], capture_output=True, text=True,
                         check=True).stdout
    commands = out.split("Commands:", 1)[1].split()
    for name in ("import-candles", "candles", "backtest", "sessions", "new", "serve"):
        assert name in commands, out
    for option in ("--project", "--debug", "--version"):
        assert option in out


def test_project_defaults_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["import-candles", "coinbase", "BTC-USD", "--file",
                                      str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert len(stored(tmp_path)) == 11_362
    listing = CliRunner().invoke(app, ["candles"])
    assert listing.output.splitlines()[-1].split() == [
        "coinbase", "BTC-USD", "1h", "2018-07-01", "00:00", "2019-10-17", "09:00", "11,362", "0"]
