"""File import: the real Coinbase hourly data round-trips through every supported format."""

from __future__ import annotations

import csv
import gzip
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import jbt
from jbt import candles
from jbt.constants import CLOSE, HIGH, HOUR_MS, LOW, OPEN, TIMESTAMP, VOLUME
from jbt.errors import InputError
from jbt.importers.files import import_file

SAMPLE = Path(jbt.__file__).parent / "data" / "coinbase-BTC-USD-1h.csv"
FIRST = 1_530_403_200_000  # 2018-07-01 00:00 UTC
LAST = 1_571_302_800_000  # 2019-10-17 09:00 UTC
ROWS = 11_362


def sample_text_rows() -> list[list[str]]:
    """The sample's data rows as text: timestamp, open, high, low, close, volume."""
    with open(SAMPLE, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["timestamp", "open", "high", "low", "close", "volume"]
        return list(reader)


def expected_array(text_rows: list[list[str]]) -> np.ndarray:
    """What the store must hold: jbt's column order, values parsed from the source text."""
    out = np.array([[float(x) for x in row] for row in text_rows])
    return out[:, [0, 1, 4, 2, 3, 5]]


def iso(ms: str, sep: str = "T", suffix: str = "Z") -> str:
    dt = datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + suffix


def write_csv(path: Path, rows: list[list[str]], stamp=lambda ms: ms) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for ts, *values in rows:
            w.writerow([stamp(ts), *values])
    return path


def binance_lines(rows: list[list[str]], micro: bool = False) -> list[str]:
    """12-column kline rows like data.binance.vision's (quote volume etc. derived)."""
    scale = 1000 if micro else 1
    unit = scale * HOUR_MS
    out = []
    for i, (ts, o, h, lo, c, v) in enumerate(rows):
        t = int(ts) * scale
        quote = f"{float(v) * float(c):.8f}"
        out.append(f"{t},{o},{h},{lo},{c},{v},{t + unit - 1},{quote},{100 + i},{v},{quote},0")
    return out


def write_binance(path: Path, rows: list[list[str]], micro: bool = False, header: bool = False):
    lines = binance_lines(rows, micro)
    if header:
        lines.insert(
            0,
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore",
        )
    text = "\n".join(lines) + "\n"
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(path.stem + ".csv", text)
    else:
        path.write_text(text)
    return path


def make_file(kind: str, directory: Path, rows: list[list[str]]) -> Path:
    if kind == "csv-ms":
        return write_csv(directory / "btc.csv", rows)
    if kind == "csv-iso":
        return write_csv(directory / "btc.csv", rows, iso)
    if kind == "csv-iso-space":
        return write_csv(directory / "btc.csv", rows, lambda ms: iso(ms, " ", ""))
    if kind == "csv-ms-gz":
        return write_csv(directory / "btc.csv.gz", rows)
    if kind == "csv-iso-gz":
        return write_csv(directory / "btc.csv.gz", rows, lambda ms: iso(ms, "T", "+00:00"))
    if kind == "binance-csv":
        return write_binance(directory / "BTCUSD-1h-2018-07.csv", rows)
    if kind == "binance-zip":
        return write_binance(directory / "BTCUSD-1h-2018-07.zip", rows)
    if kind == "binance-zip-us":
        return write_binance(directory / "BTCUSD-1h-2025-01.zip", rows, micro=True)
    if kind == "binance-header":
        return write_binance(directory / "BTCUSD-1h-2018-07.csv", rows, header=True)
    raise AssertionError(kind)


KINDS = [
    "csv-ms",
    "csv-iso",
    "csv-iso-space",
    "csv-ms-gz",
    "csv-iso-gz",
    "binance-csv",
    "binance-zip",
    "binance-zip-us",
    "binance-header",
]


@pytest.fixture(scope="module")
def source() -> list[list[str]]:
    return sample_text_rows()


@pytest.mark.parametrize("kind", KINDS)
def test_real_data_round_trips(db, tmp_path, source, kind):
    path = make_file(kind, tmp_path, source)
    summary = import_file("coinbase", "BTC-USD", path)
    assert (summary.rows_read, summary.inserted, summary.already_present) == (ROWS, ROWS, 0)
    assert (summary.timeframe, summary.first, summary.last) == ("1h", FIRST, LAST)
    assert summary.missing_ranges == []
    assert summary.format == ("binance" if kind.startswith("binance") else "csv")

    stored = candles.load_candles("coinbase", "BTC-USD", "1h")
    assert stored.shape == (ROWS, 6)
    np.testing.assert_array_equal(stored, expected_array(source))
    # the first and last candles, to the cent (2018-07-01 00:00 and 2019-10-17 09:00)
    assert stored[0].tolist() == [FIRST, 6383.19, 6365.0, 6424.14, 6357.01, 379.89]
    assert stored[-1].tolist() == [LAST, 8051.0, 8035.88, 8056.83, 8021.23, 61.25]

    again = import_file("coinbase", "BTC-USD", path)
    assert (again.inserted, again.already_present) == (0, ROWS)
    assert candles.count_candles("coinbase", "BTC-USD", "1h") == ROWS


def test_holes_in_the_file_are_reported_exactly(db, tmp_path, source):
    removed = {5, *range(100, 105), *range(2000, 2024), ROWS - 2}
    kept = [row for i, row in enumerate(source) if i not in removed]
    summary = import_file("coinbase", "BTC-USD", write_csv(tmp_path / "holes.csv", kept))
    hour = lambda i: FIRST + i * HOUR_MS  # noqa: E731 - the sample has no missing hours
    assert summary.missing_ranges == [
        (hour(5), hour(5)),
        (hour(100), hour(104)),
        (hour(2000), hour(2023)),
        (hour(ROWS - 2), hour(ROWS - 2)),
    ]
    assert summary.missing == len(removed) == 31
    assert summary.inserted == ROWS - 31
    (row,) = candles.coverage()
    assert (row.count, row.missing) == (ROWS - 31, 31)


def test_a_later_file_fills_the_holes(db, tmp_path, source):
    import_file("coinbase", "BTC-USD", write_csv(tmp_path / "a.csv", source[:10] + source[20:30]))
    summary = import_file("coinbase", "BTC-USD", write_csv(tmp_path / "b.csv", source[5:25]))
    assert (summary.inserted, summary.already_present) == (10, 10)
    assert summary.missing_ranges == []
    assert candles.stored_ranges("coinbase", "BTC-USD", "1h") == [
        (FIRST, FIRST + 29 * HOUR_MS)
    ]


def test_exact_repeated_rows_are_accepted(db, tmp_path, source):
    rows = source[:10] + source[3:6]
    summary = import_file("coinbase", "BTC-USD", write_csv(tmp_path / "dup.csv", rows))
    assert (summary.rows_read, summary.inserted) == (13, 10)


def test_timeframe_option_and_coarser_file(db, tmp_path, source):
    four_hourly = [row for row in source if (int(row[0]) // HOUR_MS) % 4 == 0][:50]
    path = write_csv(tmp_path / "4h.csv", four_hourly)
    assert import_file("coinbase", "BTC-USD", path).timeframe == "4h"
    assert import_file("coinbase", "BTC-USD", path, timeframe="4h").inserted == 0
    assert candles.stored_timeframes("coinbase", "BTC-USD") == ["4h"]


def test_one_binance_row_takes_its_timeframe_from_the_close_time(db, tmp_path, source):
    summary = import_file("binance", "BTC-USDT", write_binance(tmp_path / "one.csv", source[:1]))
    assert (summary.timeframe, summary.inserted) == ("1h", 1)


def db_state() -> tuple:
    rows = [
        (r.exchange, r.symbol, r.timeframe, candles.load_candles(r.exchange, r.symbol, r.timeframe).tobytes())
        for r in candles.coverage()
    ]
    return tuple(rows)


def with_row(source: list[list[str]], line: int, row: list[str]) -> list[list[str]]:
    """The first 30 sample rows with the data row at file ``line`` (header is line 1) replaced."""
    rows = [list(r) for r in source[:30]]
    rows[line - 2] = row
    return rows


BAD_ROWS = [
    # (description, file line, replacement row or None for a raw line, expected message part)
    ("bad number", 17, lambda r: [r[0], r[1], r[2], r[3], "abc", r[5]],
     "line 17: 'abc' is not a number in column 'close'"),
    ("wrong column count", 9, lambda r: r[:5], "line 9: expected 6 columns like the header, found 5"),
    ("unaligned timestamp", 12, lambda r: [str(int(r[0]) + 1_800_000), *r[1:]],
     "line 12: timestamp 1530441000000 is not aligned to the 1h timeframe"),
    ("high below low", 20, lambda r: [r[0], r[1], "6000", "6100", r[4], r[5]],
     "line 20: high 6000 is below low 6100"),
    ("bad date", 3, lambda r: ["2018-13-01T00:00:00Z", *r[1:]],
     "line 3: '2018-13-01T00:00:00Z' is not a timestamp"),
    ("seconds", 2, lambda r: [str(int(r[0]) // 1000), *r[1:]], "line 2: timestamp 1530403200 "),
    ("negative volume", 30, lambda r: [*r[:5], "-1"], "line 30: volume -1 is negative"),
]


@pytest.mark.parametrize(("what", "line", "change", "message"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_malformed_rows_leave_the_database_unchanged(db, tmp_path, source, what, line, change, message):
    import_file("coinbase", "BTC-USD", write_csv(tmp_path / "good.csv", source[100:130]))
    before = db_state()
    rows = with_row(source, line, change(source[line - 2]))
    path = write_csv(tmp_path / "data.csv", rows)
    with pytest.raises(InputError) as err:
        import_file("coinbase", "BTC-USD", path)
    assert str(err.value).startswith("data.csv line ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert db_state() == before


@pytest.mark.parametrize("kind", ["csv-ms-gz", "binance-zip"])
def test_a_bad_last_line_writes_nothing_of_a_whole_file(db, tmp_path, source, kind):
    # 11,361 good candles, then a bad one: a reader that stored rows as it went would have
    # written them all by the time it reached the last line
    rows = [list(r) for r in source]
    rows[-1][2] = "n/a"
    path = make_file(kind, tmp_path, rows)
    with pytest.raises(InputError) as err:
        import_file("coinbase", "BTC-USD", path)
    line = ROWS + 1 if kind.startswith("csv") else ROWS
    member = "" if kind.startswith("csv") else ":BTCUSD-1h-2018-07.csv"
    assert str(err.value) == (
        f"{path.name}{member} line {line}: 'n/a' is not a number in column 'high'"
    )
    assert candles.coverage() == []


def test_conflicting_duplicate_names_both_lines(db, tmp_path, source):
    rows = [list(r) for r in source[:30]]
    changed = list(rows[4])
    changed[4] = str(float(changed[4]) + 1)
    rows.insert(20, changed)  # file line 22 repeats line 6's time with another close
    with pytest.raises(InputError, match=r"^data.csv line 22: a different candle for the same time as line 6"):
        import_file("coinbase", "BTC-USD", write_csv(tmp_path / "data.csv", rows))
    assert candles.coverage() == []


def test_binance_bad_row_names_the_zip_member_and_line(db, tmp_path, source):
    lines = binance_lines(source[:40])
    lines[25] = lines[25].replace(",", ";", 1)
    path = tmp_path / "BTCUSDT-1h-2018-07.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("BTCUSDT-1h-2018-07.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"^BTCUSDT-1h-2018-07.zip:BTCUSDT-1h-2018-07.csv line 26: expected 12 columns"):
        import_file("binance", "BTC-USDT", path)
    assert candles.coverage() == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", "empty.csv", "empty.csv: the file is empty"),
        ("timestamp,open,high,low,close,volume\n", "header.csv", "header.csv: no candles in the file"),
        ("time,open,high,low,close,volume\n1,2,3,4,5,6\n", "odd.csv", "odd.csv line 1: unknown format"),
        ("timestamp,open,high,close\n", "few.csv", "few.csv line 1: the header lacks 'low', 'volume'"),
        (
            "timestamp,open,high,low,close,volume\n1530403200000,1,2,1,1,1\n1530403620000,1,2,1,1,1\n",
            "seven.csv",
            "seven.csv: the most common step between candles is 7 minutes, not a supported timeframe",
        ),
        (
            "timestamp,open,high,low,close,volume\n1530403200000,1,2,1,1,1\n",
            "single.csv",
            "single.csv: one candle is not enough to infer the timeframe; pass --timeframe",
        ),
    ],
)
def test_unusable_files(db, tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as err:
        import_file("coinbase", "BTC-USD", path)
    assert str(err.value).startswith(message)
    assert candles.coverage() == []


def test_not_a_zip_or_gzip(db, tmp_path):
    for name in ("x.zip", "x.csv.gz"):
        (tmp_path / name).write_text("timestamp,open,high,low,close,volume\n")
        with pytest.raises(InputError, match=rf"^{name}: cannot be read"):
            import_file("coinbase", "BTC-USD", tmp_path / name)


def test_names_are_checked(db, tmp_path, source):
    path = write_csv(tmp_path / "a.csv", source[:3])
    with pytest.raises(InputError, match="symbol 'BTCUSD' must be written BASE-QUOTE"):
        import_file("coinbase", "BTCUSD", path)
    with pytest.raises(InputError, match="exchange 'coin base' is not a valid name"):
        import_file("coin base", "BTC-USD", path)
    with pytest.raises(InputError, match="unknown timeframe '7m'"):
        import_file("coinbase", "BTC-USD", path, timeframe="7m")
    with pytest.raises(InputError, match="missing.csv: file not found"):
        import_file("coinbase", "BTC-USD", tmp_path / "missing.csv")
    summary = import_file("Coinbase", "btc-usd", path)
    assert (summary.exchange, summary.symbol) == ("coinbase", "BTC-USD")


def test_columns_map_to_jbt_order(db, tmp_path):
    path = tmp_path / "reordered.csv"
    path.write_text(
        "volume,close,low,high,open,timestamp,note\n"
        "5,11,9,12,10,2019-01-01T00:00:00Z,first\n"
        "6,13,10,14,11,2019-01-01T00:01:00Z,second\n"
    )
    import_file("binance", "BTC-USDT", path)
    stored = candles.load_candles("binance", "BTC-USDT", "1m")
    t = 1_546_300_800_000
    assert stored[:, [TIMESTAMP, OPEN, CLOSE, HIGH, LOW, VOLUME]].tolist() == [
        [t, 10, 11, 12, 9, 5],
        [t + 60_000, 11, 13, 14, 10, 6],
    ]
