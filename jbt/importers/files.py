"""Import candles from a file: jbt's CSV or a Binance public-data kline file.

Formats (recognised from the first line, compressed or not):

- jbt CSV: a header naming ``timestamp,open,high,low,close,volume`` (any order, other columns
  ignored); timestamps in epoch milliseconds or ISO 8601 (``2019-01-01T00:00:00Z``,
  ``2019-01-01 00:00:00``; no offset means UTC). ``.csv`` or ``.csv.gz``.
- Binance kline files from data.binance.vision: 12 columns, no header (the futures files'
  ``open_time,...`` header is skipped), ``.csv`` or a ``.zip`` holding one csv. Spot files from
  2025 on carry microsecond timestamps; any timestamp of 10^14 or more is read as microseconds.

The whole file is read and checked before anything is written: a malformed row is an
:class:`~jbt.errors.InputError` naming the file and line, and the database is left untouched.
Then every candle goes in with one idempotent insert inside one transaction.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from jbt import candles
from jbt.constants import TIMESTAMP
from jbt.errors import InputError
from jbt.timeframes import TIMEFRAMES, bar_open, normalize

#: Columns of jbt's CSV, in the order the header names them in the docs.
CSV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
#: Binance kline columns; the first six are the candle.
BINANCE_COLUMNS = 12

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# Below 10^11 a timestamp is in seconds (before 1973 in ms); from 10^14 on, microseconds.
_MIN_MS = 10**11
_MIN_US = 10**14
_MAX_US = 10**17
_EXCHANGE = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@dataclass
class FileImportSummary:
    """What one file import did; rendering is the caller's job."""

    exchange: str
    symbol: str
    timeframe: str
    path: str
    format: str  # "csv" or "binance"
    rows_read: int  # data rows in the file (duplicates of the same candle included)
    inserted: int  # candles that were new to the database
    already_present: int  # distinct candles of the file that were stored before
    first: int  # open time of the file's first candle, epoch ms
    last: int  # open time of the file's last candle, epoch ms
    #: Holes between ``first`` and ``last`` in what is stored after the import, inclusive.
    missing_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def missing(self) -> int:
        step = TIMEFRAMES[self.timeframe]
        return sum((b - a) // step + 1 for a, b in self.missing_ranges)


@dataclass
class ParsedFile:
    """Candles read from a file, checked row by row, in file order."""

    name: str  # how messages name the file
    format: str
    rows: np.ndarray  # float64 (n, 6) in jbt's order
    lines: np.ndarray  # int64 (n,), line number of each row
    close_times: np.ndarray | None = None  # Binance only: epoch ms of each row's close time


def check_exchange(exchange: str) -> str:
    """Exchange names are lower case: ``binance``, ``coinbase``, ``binance-futures``."""
    name = str(exchange).strip().lower()
    if not _EXCHANGE.fullmatch(name):
        raise InputError(
            f"exchange '{exchange}' is not a valid name; use letters, digits, '-', e.g. binance"
        )
    return name


def check_symbol(symbol: str) -> str:
    """Symbols are written BASE-QUOTE on our side: ``BTC-USDT`` (:mod:`jbt.symbols`)."""
    from jbt.symbols import normalize_symbol

    return normalize_symbol(symbol)


def import_file(
    exchange: str, symbol: str, path: str | Path, timeframe: str | None = None
) -> FileImportSummary:
    """Read, check and store the candles of one file into the open database.

    ``timeframe`` defaults to the most common step between the file's timestamps; every
    timestamp must be aligned to it (UTC). Re-importing a file inserts nothing.
    """
    exchange, symbol = check_exchange(exchange), check_symbol(symbol)
    tf = normalize(timeframe) if timeframe is not None else None
    parsed = read_candle_file(path)
    tf = tf or infer_timeframe(parsed)
    unique = _unique_candles(parsed)
    _check_aligned(parsed, tf)
    inserted = candles.insert_candles(exchange, symbol, tf, unique)
    first, last = int(unique[0, TIMESTAMP]), int(unique[-1, TIMESTAMP])
    return FileImportSummary(
        exchange=exchange,
        symbol=symbol,
        timeframe=tf,
        path=str(path),
        format=parsed.format,
        rows_read=len(parsed.rows),
        inserted=inserted,
        already_present=len(unique) - inserted,
        first=first,
        last=last,
        missing_ranges=candles.missing_ranges(exchange, symbol, tf, first, last),
    )


# ------------------------------------------------------------------------------ reading


def read_candle_file(path: str | Path) -> ParsedFile:
    """Parse and check every row of a jbt CSV or Binance kline file (plain, .gz or .zip)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with _open_text(path) as (name, text):
            reader = csv.reader(text)
            first = _first_row(reader)
            if first is None:
                raise InputError(f"{name}: the file is empty")
            header = [cell.strip().lower() for cell in first]
            if "timestamp" in header:
                return _read_csv(name, reader, header)
            if header[0] == "open_time" and len(header) == BINANCE_COLUMNS:
                return _read_binance(name, reader, None)
            if len(first) == BINANCE_COLUMNS:
                return _read_binance(name, reader, first)
            raise InputError(
                f"{name} line {reader.line_num}: unknown format; expected a header "
                f"'{','.join(CSV_COLUMNS)}' or a 12-column Binance kline file"
            )
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not a UTF-8 text file") from None
    except (OSError, EOFError, zipfile.BadZipFile, csv.Error) as exc:
        raise InputError(f"{path.name}: cannot be read ({exc})") from None


@contextmanager
def _open_text(path: Path) -> Iterator[tuple[str, io.TextIOBase]]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [
                m for m in archive.namelist() if m.lower().endswith(".csv") and not m.endswith("/")
            ]
            if len(members) != 1:
                raise InputError(
                    f"{path.name}: expected one .csv inside the zip, found {len(members)}"
                )
            with archive.open(members[0]) as raw:
                yield f"{path.name}:{members[0]}", io.TextIOWrapper(
                    raw, encoding="utf-8-sig", newline=""
                )
    elif suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
            yield path.name, text
    else:
        with open(path, encoding="utf-8-sig", newline="") as text:
            yield path.name, text


def _first_row(reader: Iterator[list[str]]) -> list[str] | None:
    for row in reader:
        if any(cell.strip() for cell in row):
            return row
    return None


def _read_csv(name: str, reader, header: list[str]) -> ParsedFile:
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"{name} line {reader.line_num}: the header lacks {', '.join(map(repr, missing))}; "
            f"expected '{','.join(CSV_COLUMNS)}'"
        )
    width = len(header)
    index = {c: header.index(c) for c in CSV_COLUMNS}
    ts_i = index["timestamp"]
    # jbt's in-memory order: open, close, high, low, volume after the timestamp.
    value_cols = [(c, index[c]) for c in ("open", "close", "high", "low", "volume")]
    rows: list[list[float]] = []
    lines: list[int] = []
    for raw in reader:
        line = reader.line_num
        if len(raw) != width:
            if not any(cell.strip() for cell in raw):
                continue
            raise InputError(
                f"{name} line {line}: expected {width} columns like the header, found {len(raw)}"
            )
        ts = _timestamp(name, line, raw[ts_i], "timestamp", allow_iso=True)
        row = [float(ts)] + [_number(name, line, raw[i], col) for col, i in value_cols]
        _check_prices(name, line, row)
        rows.append(row)
        lines.append(line)
    return _parsed(name, "csv", rows, lines)


def _read_binance(name: str, reader, first: list[str] | None) -> ParsedFile:
    rows: list[list[float]] = []
    lines: list[int] = []
    closes: list[int] = []

    def take(raw: list[str], line: int) -> None:
        if len(raw) != BINANCE_COLUMNS:
            raise InputError(
                f"{name} line {line}: expected {BINANCE_COLUMNS} columns (Binance kline), "
                f"found {len(raw)}"
            )
        ts = _timestamp(name, line, raw[0], "open_time", allow_iso=False)
        o, h, lo, c, v = (
            _number(name, line, raw[i], col)
            for i, col in ((1, "open"), (2, "high"), (3, "low"), (4, "close"), (5, "volume"))
        )
        row = [float(ts), o, c, h, lo, v]
        _check_prices(name, line, row)
        closes.append(_timestamp(name, line, raw[6], "close_time", allow_iso=False, close=True))
        rows.append(row)
        lines.append(line)

    if first is not None:
        take(first, reader.line_num)
    for raw in reader:
        if not any(cell.strip() for cell in raw):
            continue
        take(raw, reader.line_num)
    parsed = _parsed(name, "binance", rows, lines)
    parsed.close_times = np.asarray(closes, dtype=np.int64)
    return parsed


def _parsed(name: str, fmt: str, rows: list[list[float]], lines: list[int]) -> ParsedFile:
    if not rows:
        raise InputError(f"{name}: no candles in the file")
    return ParsedFile(
        name=name,
        format=fmt,
        rows=np.asarray(rows, dtype=np.float64).reshape(-1, 6),
        lines=np.asarray(lines, dtype=np.int64),
    )


def _number(name: str, line: int, text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} line {line}: {text!r} is not a number in column '{column}'") from None
    if not math.isfinite(value):
        raise InputError(f"{name} line {line}: {text!r} is not a finite number in column '{column}'")
    return value


def _timestamp(
    name: str, line: int, text: str, column: str, *, allow_iso: bool, close: bool = False
) -> int:
    """Epoch milliseconds from integer ms (µs when >= 10^14) or, in jbt CSV, ISO 8601."""
    raw = text.strip()
    if raw.isdigit():
        value = int(raw)
        if value >= _MAX_US or value < _MIN_MS:
            unit = "seconds" if value < _MIN_MS else "nanoseconds"
            raise InputError(
                f"{name} line {line}: timestamp {raw} in column '{column}' looks like {unit}; "
                "expected epoch milliseconds"
            )
        if value >= _MIN_US:
            # a close time in microseconds ends in 999; the open time must be a whole ms
            if close:
                return value // 1000
            if value % 1000:
                raise InputError(
                    f"{name} line {line}: microsecond timestamp {raw} in column '{column}' "
                    "is not a whole millisecond"
                )
            return value // 1000
        return value
    if allow_iso:
        iso = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError:
            pass
        else:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return (dt - _EPOCH) // _MS
    kind = "epoch milliseconds or ISO 8601" if allow_iso else "epoch milliseconds"
    raise InputError(f"{name} line {line}: {text!r} is not a timestamp ({kind}) in column '{column}'")


def _check_prices(name: str, line: int, row: list[float]) -> None:
    _, o, c, h, lo, v = row
    if min(o, c, h, lo) <= 0:
        raise InputError(f"{name} line {line}: prices must be positive")
    if v < 0:
        raise InputError(f"{name} line {line}: volume {v:g} is negative")
    if h < lo:
        raise InputError(f"{name} line {line}: high {h:g} is below low {lo:g}")
    if h < max(o, c):
        raise InputError(f"{name} line {line}: high {h:g} is below open/close {max(o, c):g}")
    if lo > min(o, c):
        raise InputError(f"{name} line {line}: low {lo:g} is above open/close {min(o, c):g}")


# ------------------------------------------------------------------------------ checking


def infer_timeframe(parsed: ParsedFile) -> str:
    """The timeframe whose length is the most common step between the file's candles."""
    ts = np.unique(parsed.rows[:, TIMESTAMP].astype(np.int64))
    if len(ts) >= 2:
        steps, counts = np.unique(np.diff(ts), return_counts=True)
        step = int(steps[np.argmax(counts)])
        what = "the most common step between candles"
    elif parsed.close_times is not None:
        step = int(parsed.close_times[0] - ts[0] + 1)
        what = "the candle's close time minus its open time"
    else:
        raise InputError(f"{parsed.name}: one candle is not enough to infer the timeframe; "
                         "pass --timeframe")
    for tf, ms in TIMEFRAMES.items():
        if ms == step:
            return tf
    raise InputError(
        f"{parsed.name}: {what} is {_duration(step)}, not a supported timeframe; "
        "pass --timeframe"
    )


def _duration(ms: int) -> str:
    if ms % 60_000 == 0:
        return f"{ms // 60_000} minutes"
    return f"{ms / 1000:g} seconds"


def _unique_candles(parsed: ParsedFile) -> np.ndarray:
    """Rows sorted by time; exact repeats dropped, conflicting repeats refused."""
    order = np.argsort(parsed.rows[:, TIMESTAMP], kind="stable")
    rows, lines = parsed.rows[order], parsed.lines[order]
    same = np.flatnonzero(rows[1:, TIMESTAMP] == rows[:-1, TIMESTAMP])
    if len(same) == 0:
        return np.ascontiguousarray(rows)
    differs = same[(rows[same + 1] != rows[same]).any(axis=1)]
    if len(differs):
        # report the conflict that appears first in the file
        i = differs[np.argmin(lines[differs + 1])]
        a, b = sorted((int(lines[i]), int(lines[i + 1])))
        raise InputError(
            f"{parsed.name} line {b}: a different candle for the same time as line {a} "
            f"(timestamp {int(rows[i, TIMESTAMP])})"
        )
    keep = np.ones(len(rows), dtype=bool)
    keep[same + 1] = False
    return np.ascontiguousarray(rows[keep])


def _check_aligned(parsed: ParsedFile, timeframe: str) -> None:
    ts = parsed.rows[:, TIMESTAMP].astype(np.int64)
    bad = np.flatnonzero(bar_open(ts, timeframe) != ts)
    if len(bad):
        i = bad[0]
        raise InputError(
            f"{parsed.name} line {int(parsed.lines[i])}: timestamp {int(ts[i])} is not aligned "
            f"to the {timeframe} timeframe (UTC)"
        )

