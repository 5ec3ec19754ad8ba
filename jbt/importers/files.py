"""Import candles from a file: jbt's CSV or a Binance public-data kline file.

Formats (recognised from the first line, compressed or not):

- jbt CSV: a header naming ``timestamp,open,high,low,close,volume`` (any order, other columns
  ignored); timestamps in epoch milliseconds or ISO 8601 (``2019-01-01T00:00:00Z``,
  ``2019-01-01 00:00:00``; no offset means UTC). ``.csv`` or ``.csv.gz``.
- Binance kline files from data.binance.vision: 12 columns, no header (the futures files'
  ``open_time,...`` header is skipped), ``.csv`` or a ``.zip`` holding one csv. Spot files from
  2025 on carry microsecond timestamps; any timestamp of 10^14 or more is read as microseconds.

Reading is streamed (:class:`CandleReader`): the decompressed text comes in blocks of
``BLOCK_BYTES``, and the lines of a block are parsed together by numpy (``np.loadtxt`` and
vectorised checks). Only a block that fails those checks is read again row by row, which names
its first bad line exactly; both readings accept and refuse the same rows. Memory does not grow
with the file: a block, the candles of a block, and the open times kept to spot a candle given
twice (only when blocks overlap in time, see below).

Bounded work on hostile files: a line longer than ``MAX_LINE_BYTES``, or more text than
``FREE_BYTES`` plus ``BYTES_PER_CANDLE`` per candle read so far, stops the reading at once, so a
zip bomb or a zip of newlines is refused after a few MiB instead of being decompressed whole.

Plausibility: no candle may open in the future, and a file holds one timeframe. The timeframe is
``--timeframe`` or the most common step between the candles of the first block; every open time
must be aligned to it, a Binance row whose close time says it is a candle of another timeframe is
refused, and so is a run of ``MIXED_RUN`` steps in a row that are all one coarser timeframe
(hourly candles inside a file of minutes, which would otherwise be stored as minutes).

Every refusal is an :class:`~jbt.errors.InputError` naming the file and line. The candles are
written with one idempotent insert per block inside one transaction for the whole file, so a bad
line anywhere leaves the database untouched.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np

from jbt import candles
from jbt.constants import TIMESTAMP
from jbt.dates import format_ms, now_ms
from jbt.errors import InputError
from jbt.timeframes import TIMEFRAMES, bar_open, normalize

#: Columns of jbt's CSV, in the order the header names them in the docs.
CSV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
#: Binance kline columns; the first six are the candle, the seventh its close time.
BINANCE_COLUMNS = 12

#: Decompressed bytes read and parsed at a time.
BLOCK_BYTES = 1 << 21
#: A longer line is not a candle: the file is refused.
MAX_LINE_BYTES = 4096
#: Text allowed before any candle has been read (a header, blank lines)...
FREE_BYTES = 1 << 20
#: ...and per candle read. A Binance kline line is under 200 bytes.
BYTES_PER_CANDLE = 1024
#: Steps in a row, all equal to one coarser timeframe, that make a file "mixed".
MIXED_RUN = 8

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# Below 10^11 a timestamp is in seconds (before 1973 in ms); from 10^14 on, microseconds.
_MIN_MS = 10**11
_MIN_US = 10**14
_MAX_US = 10**17
# Above 2^53 a float64 is no longer every integer; such a timestamp is far in the future anyway.
_MAX_EXACT = 2**53
_EXCHANGE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_ISO_ALLOWED = frozenset(b"0123456789-:. T")


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


def compression_of(name: str) -> str:
    """``zip``, ``gz`` or ``none``, from a file name."""
    suffix = Path(name).suffix.lower()
    return {".zip": "zip", ".gz": "gz"}.get(suffix, "none")


def import_file(
    exchange: str,
    symbol: str,
    path: str | Path,
    timeframe: str | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> FileImportSummary:
    """Read, check and store the candles of one file into the open database.

    ``timeframe`` defaults to the most common step between the file's first candles; every
    timestamp must be aligned to it (UTC). Re-importing a file inserts nothing. ``progress`` is
    called with (bytes of the file read, file size) after each block.
    """
    exchange, symbol = check_exchange(exchange), check_symbol(symbol)
    tf = normalize(timeframe) if timeframe is not None else None
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    size = path.stat().st_size

    def opener() -> BinaryIO:
        return open(path, "rb")  # noqa: SIM115 - closed by the reader

    return store_candle_file(
        exchange, symbol, opener, name=path.name, compression=compression_of(path.name),
        timeframe=tf, label=str(path),
        progress=None if progress is None else (lambda done: progress(done, size)),
    )


def store_candle_file(
    exchange: str,
    symbol: str,
    opener: Callable[[], BinaryIO],
    *,
    name: str,
    compression: str,
    timeframe: str | None = None,
    label: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileImportSummary:
    """Stream a candle file from ``opener()`` into the store, in one transaction.

    When the file's blocks overlap in time (an unsorted file), the transaction is rolled back
    and the file read again keeping every open time, so a candle given twice with different
    values is found wherever it is.
    """
    for keep_times in (False, True):
        reader = CandleReader(opener, name, compression, timeframe, keep_times=keep_times,
                              progress=progress)
        inserted = 0
        blocks = iter(reader)
        try:
            with candles._write_transaction(candles._db()):
                for rows in blocks:
                    inserted += candles.insert_candles(exchange, symbol, reader.timeframe, rows)
        except _Overlap:
            continue
        finally:
            blocks.close()
        break
    tf = reader.timeframe
    return FileImportSummary(
        exchange=exchange,
        symbol=symbol,
        timeframe=tf,
        path=label or name,
        format=reader.format,
        rows_read=reader.rows_read,
        inserted=inserted,
        already_present=reader.candles - inserted,
        first=reader.first,
        last=reader.last,
        missing_ranges=_holes(exchange, symbol, tf, reader.first, reader.last),
    )


def _holes(exchange: str, symbol: str, timeframe: str, first: int, last: int
           ) -> list[tuple[int, int]]:
    """Stored holes in ``[first, last]``; a count from the index first, the ranges only when
    something is missing."""
    expected = (last - first) // TIMEFRAMES[timeframe] + 1
    if candles.count_candles(exchange, symbol, timeframe, first, last) == expected:
        return []
    return candles.missing_ranges(exchange, symbol, timeframe, first, last)


def read_candle_file(
    opener: Callable[[], BinaryIO], name: str, compression: str, timeframe: str | None = None,
) -> tuple[CandleReader, list[np.ndarray]]:
    """Read and check a whole (small) file without writing: the reader and its blocks' rows.

    For files that are read in one piece anyway, such as the archive's monthly files, which a
    worker thread reads while the calling thread writes the previous one.
    """
    for keep_times in (False, True):
        reader = CandleReader(opener, name, compression, timeframe, keep_times=keep_times)
        try:
            return reader, list(reader)
        except _Overlap:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------------ reading


class _Overlap(Exception):
    """A block overlaps earlier ones in time and the reader did not keep their open times."""


@dataclass
class _Layout:
    """Where a format keeps a candle's fields."""

    format: str  # "csv" or "binance"
    width: int  # columns of every data line
    ts_col: int
    value_cols: tuple[int, int, int, int, int]  # open, close, high, low, volume (jbt's order)
    close_col: int | None = None  # Binance: the close time


@dataclass
class _Rows:
    """Parsed rows of one block, in file order."""

    ts: np.ndarray  # int64 open times, ms
    values: np.ndarray  # float64 (n, 5): open, close, high, low, volume
    lines: np.ndarray  # int64 line numbers
    close: np.ndarray | None = None  # int64 close times, ms (Binance)


_BINANCE = _Layout("binance", BINANCE_COLUMNS, 0, (1, 4, 2, 3, 5), close_col=6)


class CandleReader:
    """Reads and checks one candle file block by block; iterating gives, per block, the
    block's candles as a float64 ``(n, 6)`` array in jbt's order, sorted by time, each candle
    once and none given by an earlier block. Nothing touches the database.

    After the iteration: ``format``, ``timeframe``, ``rows_read``, ``candles`` (distinct),
    ``first`` and ``last`` open times.
    """

    def __init__(
        self,
        opener: Callable[[], BinaryIO],
        name: str,
        compression: str,
        timeframe: str | None = None,
        *,
        keep_times: bool = False,
        now: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._opener = opener
        self.name = name
        self._compression = compression
        self.timeframe: str = timeframe or ""
        self._step = TIMEFRAMES[timeframe] if timeframe else 0
        self._keep_times = keep_times
        self._now = now_ms() if now is None else now
        self._progress = progress
        self.format = ""
        self.rows_read = 0
        self.candles = 0
        self.first = 0
        self.last = 0
        self.bytes_read = 0
        self._layout: _Layout | None = None
        # blocks seen so far: their time ranges (and, with keep_times, their candles' times,
        # a hash of their values, and their lines)
        self._ranges: list[tuple[int, int]] = []
        self._seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # the run check, carried across blocks: previous open time, current step, run length
        self._prev_ts: int | None = None
        self._prev_line = 0
        self._run_step = 0
        self._run = 0
        self._run_line = 0

    # -------------------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            with self._open() as (name, stream):
                self.name = name
                yield from self._blocks(stream)
        except UnicodeDecodeError:
            raise InputError(f"{self.name}: not a UTF-8 text file") from None
        except (OSError, EOFError, zipfile.BadZipFile, csv.Error) as exc:
            raise InputError(f"{self.name}: cannot be read ({exc})") from None
        if self.rows_read == 0:
            raise InputError(f"{self.name}: no candles in the file")

    @contextmanager
    def _open(self) -> Iterator[tuple[str, BinaryIO]]:
        raw = self._opener()
        self._raw = raw
        try:
            if self._compression == "zip":
                with zipfile.ZipFile(raw) as archive:
                    members = [m for m in archive.namelist()
                               if m.lower().endswith(".csv") and not m.endswith("/")]
                    if len(members) != 1:
                        raise InputError(
                            f"{self.name}: expected one .csv inside the zip, found {len(members)}"
                        )
                    with archive.open(members[0]) as member:
                        yield f"{self.name}:{members[0]}", member
            elif self._compression == "gz":
                with gzip.GzipFile(fileobj=raw, mode="rb") as member:
                    yield self.name, member
            else:
                yield self.name, raw
        finally:
            raw.close()

    def _line_blocks(self, stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """``(number of its first line, bytes)`` of blocks of whole lines, ``\\n``-terminated;
        ``\\r\\n`` becomes ``\\n``, and a file of ``\\r``-only line ends is read as such."""
        pending = b""
        line = 1
        started = False
        cr_only = False
        while True:
            data = stream.read(BLOCK_BYTES)
            self.bytes_read += len(data)
            if self._progress is not None:
                self._progress(self._raw_position())
            if not started and data:
                started = True
                if data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
                cr_only = b"\n" not in data and b"\r" in data
            if cr_only:
                data = data.replace(b"\r", b"\n")
            if not data:
                if pending:
                    yield line, _normalise(pending + b"\n")
                return
            buf = pending + data if pending else data
            cut = buf.rfind(b"\n") + 1
            block, pending = buf[:cut], buf[cut:]
            if len(pending) > MAX_LINE_BYTES:
                at = line + _count(block, 10)
                raise InputError(
                    f"{self.name} line {at}: longer than {MAX_LINE_BYTES:,} bytes; "
                    "not a candle file"
                )
            if block:
                block = _normalise(block)
                yield line, block
                line += _count(block, 10)

    def _raw_position(self) -> int:
        try:
            return int(self._raw.tell())
        except (OSError, ValueError):
            return 0

    def _blocks(self, stream: BinaryIO) -> Iterator[np.ndarray]:
        for first_line, block in self._line_blocks(stream):
            if self._layout is None:
                first_line, block = self._header(first_line, block)
                if self._layout is None:
                    self._check_budget()
                    continue
            rows = self._parse(block, first_line)
            self._check_budget(len(rows.ts))
            if len(rows.ts) == 0:
                continue
            out = self._check(rows)
            if len(out):
                yield out
        if self._layout is None:
            raise InputError(f"{self.name}: the file is empty")

    def _check_budget(self, new_rows: int = 0) -> None:
        self.rows_read += new_rows
        allowed = FREE_BYTES + BYTES_PER_CANDLE * self.rows_read
        if self.bytes_read > allowed:
            raise InputError(
                f"{self.name}: {_mib(self.bytes_read)} of text hold only {self.rows_read:,} "
                f"candle{'' if self.rows_read == 1 else 's'} (at most {BYTES_PER_CANDLE:,} "
                "bytes a candle); not a candle file, refused before reading on"
            )

    # -------------------------------------------------------------------------- the header
    def _header(self, first_line: int, block: bytes) -> tuple[int, bytes]:
        """Find the first non-blank line; set the layout from it. Returns the data lines."""
        offset = 0
        line = first_line
        while offset < len(block):
            end = block.index(b"\n", offset)
            text = block[offset:end].decode("utf-8")
            if text.strip():
                break
            offset = end + 1
            line += 1
        else:
            return line, b""
        row = next(csv.reader([text]))
        header = [cell.strip().lower() for cell in row]
        rest = block[end + 1:]
        if "timestamp" in header:
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise InputError(
                    f"{self.name} line {line}: the header lacks "
                    f"{', '.join(map(repr, missing))}; expected '{','.join(CSV_COLUMNS)}'"
                )
            index = {c: header.index(c) for c in CSV_COLUMNS}
            self._layout = _Layout(
                "csv", len(header), index["timestamp"],
                tuple(index[c] for c in ("open", "close", "high", "low", "volume")),  # type: ignore[arg-type]
            )
            self.format = "csv"
            return line + 1, rest
        if header[0] == "open_time" and len(header) == BINANCE_COLUMNS:
            self._layout = _BINANCE
            self.format = "binance"
            return line + 1, rest
        if len(row) == BINANCE_COLUMNS:
            self._layout = _BINANCE
            self.format = "binance"
            return line, block[offset:]
        raise InputError(
            f"{self.name} line {line}: unknown format; expected a header "
            f"'{','.join(CSV_COLUMNS)}' or a 12-column Binance kline file"
        )

    # -------------------------------------------------------------------------- parsing
    def _parse(self, block: bytes, first_line: int) -> _Rows:
        lay = self._layout
        assert lay is not None
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        lengths = np.diff(ends, prepend=-1) - 1
        if len(lengths) and int(lengths.max()) > MAX_LINE_BYTES:
            i = int(np.argmax(lengths > MAX_LINE_BYTES))
            raise InputError(
                f"{self.name} line {first_line + i}: longer than {MAX_LINE_BYTES:,} bytes; "
                "not a candle file"
            )
        blank = lengths == 0
        numbers = first_line + np.flatnonzero(~blank)
        if len(numbers) == 0:
            return _Rows(np.empty(0, np.int64), np.empty((0, 5)), numbers)
        rows = None
        if block.isascii() and _count(block, 44) == len(numbers) * (lay.width - 1):
            rows = self._fast(block, numbers)
        if rows is None:
            rows = self._slow(block, first_line)
        return rows

    def _fast(self, block: bytes, numbers: np.ndarray) -> _Rows | None:
        """The block's rows parsed by numpy, or None when any row needs a closer look.

        Every line has exactly ``width - 1`` commas: the block's count says so on average, and
        reading the last column makes numpy refuse a line with fewer.
        """
        lay = self._layout
        assert lay is not None
        last = lay.width - 1
        used = (lay.ts_col, *lay.value_cols)
        extra = [] if lay.close_col is None else [lay.close_col]
        names = ["t", "o", "c", "h", "l", "v"] + ["x"] * len(extra)
        formats = ["i8", "f8", "f8", "f8", "f8", "f8"] + ["i8"] * len(extra)
        cols = [*used, *extra]
        if last not in cols:
            cols.append(last)
            names.append("_")
            formats.append("S1")  # any text: only its presence matters
        dtype = np.dtype({"names": names, "formats": formats})
        try:
            arr = np.loadtxt(io.BytesIO(block), delimiter=",", comments=None, dtype=dtype,
                             usecols=cols, ndmin=1)
            iso = None
        except ValueError:
            if lay.format != "csv":
                return None
            try:
                values_only = [*lay.value_cols, last] if last not in lay.value_cols else list(
                    lay.value_cols)
                vdtype = np.dtype({
                    "names": ["o", "c", "h", "l", "v", "_"][: len(values_only)],
                    "formats": ["f8"] * 5 + ["S1"] * (len(values_only) - 5),
                })
                arr = np.loadtxt(io.BytesIO(block), delimiter=",", comments=None, dtype=vdtype,
                                 usecols=values_only, ndmin=1)
            except ValueError:
                return None
            iso = self._iso_times(block, len(numbers))
            if iso is None:
                return None
        if len(arr) != len(numbers):
            return None
        values = np.empty((len(arr), 5), dtype=np.float64)
        for j, f in enumerate("ochlv"):
            values[:, j] = arr[f]
        ts = _ms_times(arr["t"], open_times=True) if iso is None else iso
        if ts is None or not _values_ok(values):
            return None
        close = None
        if lay.close_col is not None:
            close = _ms_times(arr["x"], open_times=False)
            if close is None:
                return None
        return _Rows(ts, values, numbers, close)

    def _iso_times(self, block: bytes, n: int) -> np.ndarray | None:
        """The timestamp column as ISO 8601 text (UTC: no offset, ``Z`` or ``+00:00``) read by
        numpy, in epoch ms; None when any value needs Python's parser."""
        lay = self._layout
        assert lay is not None
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        lengths = np.diff(ends, prepend=-1) - 1
        ends = ends[lengths > 0]
        starts = np.r_[0, np.flatnonzero(buf == 10)[:-1] + 1][lengths > 0]
        commas = np.flatnonzero(buf == 44).reshape(n, lay.width - 1)
        k = lay.ts_col
        lo = starts if k == 0 else commas[:, k - 1] + 1
        hi = ends if k == lay.width - 1 else commas[:, k]
        sizes = hi - lo
        if len(sizes) == 0 or sizes.min() != sizes.max() or not 10 <= int(sizes[0]) <= 40:
            return None
        size = int(sizes[0])
        text = buf[lo[:, None] + np.arange(size)]
        if ((text[:, -1] | 0x20) == ord("z")).all():
            text = text[:, :-1]
        elif size > 16 and (text[:, -6:] == np.frombuffer(b"+00:00", np.uint8)).all():
            text = text[:, :-6]
        if not (np.isin(text, list(_ISO_ALLOWED)).all()
                and (text[:, :4] - 48 <= 9).all() and (text[:, 4] == 45).all()
                and (text[:, 7] == 45).all() and (text[:, 10:] != 45).all()
                and (text[:, -1] - 48 <= 9).all()):
            return None
        strings = np.ascontiguousarray(text).view(f"S{text.shape[1]}").ravel()
        try:
            times = strings.astype("datetime64[ms]")
        except ValueError:
            return None
        if np.isnat(times).any():
            return None
        return times.astype(np.int64)

    def _slow(self, block: bytes, first_line: int) -> _Rows:
        """The block read row by row with Python's csv module: the first bad row raises."""
        lay = self._layout
        assert lay is not None
        name = self.name
        lines = block.decode("utf-8").split("\n")[:-1]
        reader = csv.reader(lines)
        ts: list[int] = []
        values: list[list[float]] = []
        numbers: list[int] = []
        closes: list[int] = []
        kind = "Binance kline" if lay.format == "binance" else None
        for raw in reader:
            line = first_line + reader.line_num - 1
            if not any(cell.strip() for cell in raw):
                continue
            if len(raw) != lay.width:
                what = (f"expected {lay.width} columns ({kind}), found {len(raw)}" if kind
                        else f"expected {lay.width} columns like the header, found {len(raw)}")
                raise InputError(f"{name} line {line}: {what}")
            column = "open_time" if lay.format == "binance" else "timestamp"
            t = _timestamp(name, line, raw[lay.ts_col], column, allow_iso=lay.format == "csv")
            row = [_number(name, line, raw[i], col) for i, col in
                   zip(lay.value_cols, ("open", "close", "high", "low", "volume"), strict=True)]
            _check_prices(name, line, row)
            if lay.close_col is not None:
                closes.append(_timestamp(name, line, raw[lay.close_col], "close_time",
                                         allow_iso=False, close=True))
            ts.append(t)
            values.append(row)
            numbers.append(line)
        return _Rows(
            np.asarray(ts, dtype=np.int64),
            np.asarray(values, dtype=np.float64).reshape(-1, 5),
            np.asarray(numbers, dtype=np.int64),
            None if lay.close_col is None else np.asarray(closes, dtype=np.int64),
        )

    # -------------------------------------------------------------------------- checking
    def _check(self, rows: _Rows) -> np.ndarray:
        """The block's new candles, after every check that needs more than one row."""
        if not self.timeframe:
            self.timeframe = _infer_timeframe(self.name, rows)
            self._step = TIMEFRAMES[self.timeframe]
        out, lines = _unique(self.name, rows)
        out, lines = self._across_blocks(out, lines)
        ts = out[:, TIMESTAMP].astype(np.int64)
        if len(ts):
            self._check_aligned(ts, lines)
            self._check_future(ts, lines)
        self._check_one_timeframe(rows)
        if len(ts):
            if self.candles == 0:
                self.first, self.last = int(ts[0]), int(ts[-1])
            else:
                self.first, self.last = min(self.first, int(ts[0])), max(self.last, int(ts[-1]))
        self.candles += len(out)
        return out

    def _across_blocks(self, out: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop candles an earlier block gave already; refuse ones it gave differently."""
        if len(out) == 0:
            return out, lines
        ts = out[:, TIMESTAMP].astype(np.int64)
        lo, hi = int(ts[0]), int(ts[-1])
        overlapping = [i for i, (a, b) in enumerate(self._ranges) if a <= hi and lo <= b]
        self._ranges.append((lo, hi))
        digest = _digest(out) if self._keep_times else None
        if overlapping and not self._keep_times:
            raise _Overlap
        keep = np.ones(len(ts), dtype=bool)
        conflict: tuple[int, int, int] | None = None  # (later line, earlier line, timestamp)
        for i in overlapping:
            seen_ts, seen_digest, seen_lines = self._seen[i]
            at = np.minimum(np.searchsorted(seen_ts, ts), len(seen_ts) - 1)
            same_time = seen_ts[at] == ts
            if not same_time.any():
                continue
            differs = np.flatnonzero(same_time & (seen_digest[at] != digest))
            if len(differs):
                j = differs[np.argmin(lines[differs])]
                found = (int(lines[j]), int(seen_lines[at[j]]), int(ts[j]))
                conflict = found if conflict is None or found < conflict else conflict
            keep &= ~same_time
        if conflict is not None:
            b, a, t = conflict
            raise InputError(
                f"{self.name} line {b}: a different candle for the same time as line {a} "
                f"(timestamp {t})"
            )
        if self._keep_times:
            self._seen.append((ts, digest, lines))
        else:
            self._seen.append((np.empty(0, np.int64),) * 3)
        return out[keep], lines[keep]

    def _check_aligned(self, ts: np.ndarray, lines: np.ndarray) -> None:
        bad = np.flatnonzero(bar_open(ts, self.timeframe) != ts)
        if len(bad):
            i = bad[np.argmin(lines[bad])]
            raise InputError(
                f"{self.name} line {int(lines[i])}: timestamp {int(ts[i])} is not aligned "
                f"to the {self.timeframe} timeframe (UTC)"
            )

    def _check_future(self, ts: np.ndarray, lines: np.ndarray) -> None:
        bad = np.flatnonzero(ts > self._now)
        if len(bad):
            i = bad[np.argmin(lines[bad])]
            raise InputError(
                f"{self.name} line {int(lines[i])}: timestamp {int(ts[i])} "
                f"({format_ms(int(ts[i]))} UTC) is in the future"
            )

    def _check_one_timeframe(self, rows: _Rows) -> None:
        """Refuse a second timeframe: Binance close times of another timeframe, or a run of
        ``MIXED_RUN`` steps (rows in file order) that are all one coarser timeframe, between
        candles aligned to it."""
        name, tf, step = self.name, self.timeframe, self._step
        if rows.close is not None:
            length = rows.close - rows.ts + 1
            other = (length != step) & np.isin(length, _TIMEFRAME_MS)
            if other.any():
                i = int(np.argmax(other))
                raise InputError(
                    f"{name} line {int(rows.lines[i])}: a {_TF_NAMES[int(length[i])]} candle "
                    f"(open_time to close_time) in a file of {tf} candles; "
                    "import one timeframe per file"
                )
        ts = rows.ts
        steps = np.diff(ts, prepend=ts[0] if self._prev_ts is None else self._prev_ts)
        # the line each step starts from: where a run of coarse steps begins
        starts = np.r_[self._prev_line, rows.lines[:-1]]
        self._prev_ts, self._prev_line = int(ts[-1]), int(rows.lines[-1])
        coarse = (steps > step) & np.isin(steps, _TIMEFRAME_MS)
        for s in np.unique(steps[coarse]).tolist():
            at = np.flatnonzero(coarse & (steps == s))
            coarse[at] = bar_open(ts[at], _TF_NAMES[s]) == ts[at]
        last = -1 if self._run else -2  # a run open at the end of the previous block
        for i in np.flatnonzero(coarse).tolist():
            s = int(steps[i])
            if i == last + 1 and s == self._run_step:
                self._run += 1
            else:
                self._run_step, self._run, self._run_line = s, 1, int(starts[i])
            last = i
            if self._run >= MIXED_RUN:
                raise InputError(
                    f"{name} line {self._run_line}: candles {_TF_NAMES[s]} apart from here on, "
                    f"in a file of {tf} candles; import one timeframe per file"
                )
        if last != len(ts) - 1:
            self._run = 0


_TIMEFRAME_MS = np.array(sorted(set(TIMEFRAMES.values())), dtype=np.int64)
_TF_NAMES = {ms: tf for tf, ms in sorted(TIMEFRAMES.items(), key=lambda kv: -len(kv[0]))}


def _count(block: bytes, byte: int) -> int:
    """Occurrences of one byte (numpy counts faster than ``bytes.count`` for common ones)."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == byte))


def _normalise(block: bytes) -> bytes:
    return block.replace(b"\r\n", b"\n") if b"\r" in block else block


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def _ms_times(ts: np.ndarray, *, open_times: bool) -> np.ndarray | None:
    """Epoch ms from ms or µs (>= 10^14); None when a value is out of range (or an open time
    in µs is not a whole ms): the row-by-row reading has the message."""
    ts = ts.astype(np.int64, copy=False)
    if len(ts) == 0:
        return ts
    if int(ts.min()) < _MIN_MS or int(ts.max()) >= min(_MAX_US, _MAX_EXACT):
        return None
    micro = ts >= _MIN_US
    if micro.any():
        if open_times and (ts[micro] % 1000).any():
            return None
        ts = np.where(micro, ts // 1000, ts)
    return ts


def _values_ok(values: np.ndarray) -> bool:
    if not np.isfinite(values).all():
        return False
    o, c, h, lo, v = values.T
    return bool(
        (np.minimum(np.minimum(o, c), np.minimum(h, lo)) > 0).all()
        and (v >= 0).all()
        and (h >= lo).all()
        and (h >= np.maximum(o, c)).all()
        and (lo <= np.minimum(o, c)).all()
    )


def _digest(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's five values (two different candles collide with odds of
    one in 2^64)."""
    bits = np.ascontiguousarray(rows[:, 1:] + 0.0).view(np.uint64)
    h = np.full(len(rows), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):
            h = (h ^ bits[:, j]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return h


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
    o, c, h, lo, v = row
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


def _infer_timeframe(name: str, rows: _Rows) -> str:
    """The timeframe whose length is the most common step between the block's candles."""
    ts = np.unique(rows.ts)
    if len(ts) >= 2:
        steps, counts = np.unique(np.diff(ts), return_counts=True)
        step = int(steps[np.argmax(counts)])
        what = "the most common step between candles"
    elif rows.close is not None:
        step = int(rows.close[0] - ts[0] + 1)
        what = "the candle's close time minus its open time"
    else:
        raise InputError(f"{name}: one candle is not enough to infer the timeframe; "
                         "pass --timeframe")
    for tf, ms in TIMEFRAMES.items():
        if ms == step:
            return tf
    raise InputError(
        f"{name}: {what} is {_duration(step)}, not a supported timeframe; pass --timeframe"
    )


def _duration(ms: int) -> str:
    if ms % 60_000 == 0:
        return f"{ms // 60_000} minutes"
    return f"{ms / 1000:g} seconds"


def _unique(name: str, parsed: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by time and their lines; exact repeats dropped, conflicting repeats
    refused (naming the conflict that appears first in the file)."""
    order = np.argsort(parsed.ts, kind="stable")
    rows = np.empty((len(order), 6), dtype=np.float64)
    rows[:, 0] = parsed.ts[order]
    rows[:, 1:] = parsed.values[order]
    lines = parsed.lines[order]
    same = np.flatnonzero(rows[1:, TIMESTAMP] == rows[:-1, TIMESTAMP])
    if len(same) == 0:
        return rows, lines
    differs = same[(rows[same + 1] != rows[same]).any(axis=1)]
    if len(differs):
        i = differs[np.argmin(lines[differs + 1])]
        a, b = sorted((int(lines[i]), int(lines[i + 1])))
        raise InputError(
            f"{name} line {b}: a different candle for the same time as line {a} "
            f"(timestamp {int(rows[i, TIMESTAMP])})"
        )
    keep = np.ones(len(rows), dtype=bool)
    keep[same + 1] = False
    return rows[keep], lines[keep]
