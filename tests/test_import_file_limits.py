"""File import on hostile and implausible files (issue 16, findings 7 and 8), and the streamed
reader's block boundaries: unsorted files, quoted fields, line ends."""

from __future__ import annotations

import csv
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jbt import candles
from jbt.constants import MINUTE_MS
from jbt.dates import now_ms
from jbt.errors import InputError
from jbt.importers import files
from jbt.importers.files import import_file

T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
HEADER = "timestamp,open,high,low,close,volume\n"


def candle_lines(times: list[int], price: float = 100.0) -> list[str]:
    """One valid candle per open time; prices vary with the time so rows differ."""
    out = []
    for t in times:
        p = price + (t // MINUTE_MS) % 97
        out.append(f"{t},{p},{p + 2},{p - 1},{p + 1},{(t // MINUTE_MS) % 13 + 0.5}\n")
    return out


def expected_rows(lines: list[str]) -> np.ndarray:
    rows = np.array([[float(x) for x in line.split(",")] for line in lines])
    return rows[:, [0, 1, 4, 2, 3, 5]]


def stored(symbol="BTC-USDT", timeframe="1m"):
    return candles.load_candles("binance", symbol, timeframe)


def write_zip(path: Path, member: str, parts) -> Path:
    """A zip whose one csv is the concatenation of ``parts`` (bytes), written streaming."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(member, "w") as f:
        for part in parts:
            f.write(part)
    return path


# ------------------------------------------------------------------- finding 7: bounded work


def newlines(total_mib: int):
    block = b"\n" * (1 << 20)
    for _ in range(total_mib):
        yield block


@pytest.mark.parametrize("kind", ["zip of newlines", "gzip of newlines", "zip bomb"])
def test_hostile_files_are_refused_after_a_few_mib(db, tmp_path, kind):
    # 64 MiB of text behind one candle: a reader without a budget would decompress all of it
    # (the attack run: 687 s for a zip of newlines, 8.8 GB for a zip bomb)
    head = (HEADER + candle_lines([T0])[0]).encode()
    if kind == "zip of newlines":
        path = write_zip(tmp_path / "x.zip", "x.csv", [head, *newlines(64)])
        name = "x.zip:x.csv"
    elif kind == "gzip of newlines":
        path = tmp_path / "x.csv.gz"
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(head)
            for part in newlines(64):
                f.write(part)
        name = "x.csv.gz"
    else:  # one endless line of zeros after the candle
        zeros = b"0" * (1 << 20)
        path = write_zip(tmp_path / "x.zip", "x.csv", [head, *(zeros for _ in range(64))])
        name = "x.zip:x.csv"
    assert path.stat().st_size < (1 << 20)  # the whole attack fits in under a MiB
    read: list[int] = []
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", path, progress=lambda done, size: read.append(done))
    message = str(err.value)
    assert "\n" not in message
    if kind == "zip bomb":
        assert message == f"{name} line 3: longer than 4,096 bytes; not a candle file"
    else:
        assert message == (
            f"{name}: 2.0 MiB of text hold only 1 candle (at most 1,024 bytes a candle); "
            "not a candle file, refused before reading on"
        )
    # it stopped after the first block of 2 MiB of the 64 MiB
    assert len(read) <= 2
    assert candles.coverage() == []


def test_a_long_line_in_a_plain_file_names_its_line(db, tmp_path):
    text = HEADER + "".join(candle_lines([T0, T0 + MINUTE_MS])) + "1," * 3000 + "\n"
    (tmp_path / "long.csv").write_text(text)
    with pytest.raises(InputError, match=r"^long.csv line 4: longer than 4,096 bytes"):
        import_file("binance", "BTC-USDT", tmp_path / "long.csv")
    assert candles.coverage() == []


def test_many_candles_are_not_limited_by_the_budget(db, tmp_path, monkeypatch):
    # small blocks: the budget is checked after each; long valid lines (an extra note column)
    # stay well inside 1 KiB a candle
    monkeypatch.setattr(files, "BLOCK_BYTES", 4096)
    times = [T0 + i * MINUTE_MS for i in range(3000)]
    lines = candle_lines(times)
    note = "x" * 300
    path = tmp_path / "notes.csv"
    path.write_text("timestamp,open,high,low,close,volume,note\n"
                    + "".join(line.rstrip("\n") + f",{note}\n" for line in lines))
    summary = import_file("binance", "BTC-USDT", path)
    assert summary.inserted == 3000
    np.testing.assert_array_equal(stored(), expected_rows(lines))


# ------------------------------------------------------------------- finding 8: plausibility


def test_timestamps_in_the_future_are_refused_with_their_line(db, tmp_path):
    far = 32_503_680_000_000  # 3000-01-01 00:00 UTC
    lines = candle_lines([T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS])
    lines.insert(2, candle_lines([far])[0])
    (tmp_path / "far.csv").write_text(HEADER + "".join(lines))
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", tmp_path / "far.csv", timeframe="1m")
    assert str(err.value) == (
        f"far.csv line 4: timestamp {far} (3000-01-01 00:00 UTC) is in the future"
    )
    # year 9999 written in ISO 8601
    iso = [f"2020-01-01T00:0{i}:00Z," + line.split(",", 1)[1] for i, line in enumerate(lines)]
    iso[2] = "9999-12-31T00:00:00Z," + lines[2].split(",", 1)[1]
    (tmp_path / "iso.csv").write_text(HEADER + "".join(iso))
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", tmp_path / "iso.csv", timeframe="1m")
    assert str(err.value) == (
        "iso.csv line 4: timestamp 253402214400000 (9999-12-31 00:00 UTC) is in the future"
    )
    # the next minute is in the future too, by a minute
    soon = (now_ms() // MINUTE_MS + 1) * MINUTE_MS
    (tmp_path / "soon.csv").write_text(
        HEADER + "".join(candle_lines([soon - 2 * MINUTE_MS, soon - MINUTE_MS, soon])))
    with pytest.raises(InputError, match=r"^soon.csv line 4: timestamp \d+ \(.*\) is in the future"):
        import_file("binance", "BTC-USDT", tmp_path / "soon.csv")
    assert candles.coverage() == []


def test_a_file_mixing_hours_and_minutes_is_refused(db, tmp_path):
    # 12 hourly candles, then two days of minutes: the most common step is a minute, so
    # without the check the hours would be stored as minutes with 59-minute holes
    hours = [T0 + i * 60 * MINUTE_MS for i in range(12)]
    minutes = [T0 + 12 * 60 * MINUTE_MS + i * MINUTE_MS for i in range(2880)]
    path = tmp_path / "mixed.csv"
    path.write_text(HEADER + "".join(candle_lines(hours + minutes)))
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", path)
    assert str(err.value) == (
        "mixed.csv line 2: candles 1h apart from here on, in a file of 1m candles; import one "
        "timeframe per file"
    )
    # hours after the minutes (from the next whole hour): found where they begin
    path.write_text(HEADER + "".join(candle_lines(
        minutes + [T0 + (61 + i) * 60 * MINUTE_MS for i in range(12)])))
    with pytest.raises(InputError, match=r"^mixed.csv line 2882: candles 1h apart from here on"):
        import_file("binance", "BTC-USDT", path)
    assert candles.coverage() == []


def test_a_binance_file_with_a_candle_of_another_timeframe_is_refused(db, tmp_path):
    lines = []
    for i in range(30):
        t = T0 + i * MINUTE_MS
        close = t + (60 if i == 17 else 1) * MINUTE_MS - 1  # line 18 closes an hour later
        lines.append(f"{t},10,11,9,10.5,1,{close},10.5,3,0.5,5.2,0\n")
    path = write_zip(tmp_path / "BTCUSDT-1m-2020-01.zip", "BTCUSDT-1m-2020-01.csv",
                     ["".join(lines).encode()])
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", path)
    assert str(err.value) == (
        "BTCUSDT-1m-2020-01.zip:BTCUSDT-1m-2020-01.csv line 18: a 1h candle (open_time to "
        "close_time) in a file of 1m candles; import one timeframe per file"
    )
    assert candles.coverage() == []


def test_minutes_with_holes_are_one_timeframe(db, tmp_path):
    # holes of 1 hour, of 5 minutes (several, not in a row) and a day: still a file of minutes
    times = [T0 + i * MINUTE_MS for i in range(600)]
    times = times[:100] + times[160:300] + times[305:310] + times[315:320] + times[325:]
    times += [T0 + 1440 * MINUTE_MS + i * MINUTE_MS for i in range(50)]
    (tmp_path / "holes.csv").write_text(HEADER + "".join(candle_lines(times)))
    summary = import_file("binance", "BTC-USDT", tmp_path / "holes.csv")
    assert summary.timeframe == "1m" and summary.inserted == len(times)
    assert summary.missing_ranges[:3] == [
        (T0 + 100 * MINUTE_MS, T0 + 159 * MINUTE_MS),
        (T0 + 300 * MINUTE_MS, T0 + 304 * MINUTE_MS),
        (T0 + 310 * MINUTE_MS, T0 + 314 * MINUTE_MS),
    ]


# ------------------------------------------------------------------- the streamed reader


def test_an_unsorted_file_spanning_blocks_finds_repeats_anywhere(db, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BLOCK_BYTES", 2048)  # about 40 lines a block
    times = [T0 + i * MINUTE_MS for i in range(400)]
    lines = candle_lines(times)
    shuffled = [lines[i] for i in np.random.default_rng(3).permutation(len(lines))]
    # an exact repeat of a candle 300 lines after it: accepted, stored once
    repeated = [*shuffled[:320], shuffled[5], *shuffled[320:]]
    (tmp_path / "a.csv").write_text(HEADER + "".join(repeated))
    # (unsorted: the timeframe is given, the first block alone would not show it)
    summary = import_file("binance", "BTC-USDT", tmp_path / "a.csv", timeframe="1m")
    assert (summary.rows_read, summary.inserted, summary.already_present) == (401, 400, 0)
    np.testing.assert_array_equal(stored(), expected_rows(lines))
    # the same candle with another close, 300 lines later: both lines named, nothing stored
    candles.delete_candles("binance", "BTC-USDT", "1m")
    t, o, h, lo, c, v = shuffled[5].strip().split(",")
    changed = f"{t},{o},{h},{lo},{float(c) + 0.5},{v}\n"
    (tmp_path / "b.csv").write_text(HEADER + "".join([*shuffled[:320], changed, *shuffled[320:]]))
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", tmp_path / "b.csv", timeframe="1m")
    assert str(err.value) == (
        f"b.csv line 322: a different candle for the same time as line 7 (timestamp {t})"
    )
    assert candles.coverage() == []


@pytest.mark.parametrize("style", ["quoted", "crlf", "cr", "blank lines", "utf-8 bom"])
def test_text_variants_store_the_same_rows(db, tmp_path, monkeypatch, style):
    monkeypatch.setattr(files, "BLOCK_BYTES", 1024)
    times = [T0 + i * MINUTE_MS for i in range(200)]
    lines = candle_lines(times)
    path = tmp_path / "v.csv"
    if style == "quoted":
        with open(path, "w", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(HEADER.strip().split(","))
            for line in lines:
                w.writerow(line.strip().split(","))
    elif style == "crlf":
        path.write_bytes((HEADER + "".join(lines)).replace("\n", "\r\n").encode())
    elif style == "cr":
        path.write_bytes((HEADER + "".join(lines)).replace("\n", "\r").encode())
    elif style == "blank lines":
        path.write_text("\n\n" + HEADER + "\n".join(lines))
    else:
        path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "".join(lines)).encode())
    summary = import_file("binance", "BTC-USDT", path)
    assert (summary.rows_read, summary.inserted) == (200, 200)
    np.testing.assert_array_equal(stored(), expected_rows(lines))


def test_a_bad_row_deep_in_a_big_file_is_named_and_nothing_is_stored(db, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BLOCK_BYTES", 8192)
    times = [T0 + i * MINUTE_MS for i in range(5000)]
    lines = candle_lines(times)
    lines[4321] = f"{times[4321]},1,2,nan,1,1\n"
    (tmp_path / "deep.csv").write_text(HEADER + "".join(lines))
    with pytest.raises(InputError) as err:
        import_file("binance", "BTC-USDT", tmp_path / "deep.csv")
    assert str(err.value) == "deep.csv line 4323: 'nan' is not a finite number in column 'low'"
    assert candles.coverage() == []
