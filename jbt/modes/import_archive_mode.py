"""Bulk history from Binance's public data archive: monthly and daily files, checksummed.

``jbt import-candles binance BTC-USDT 2020-01-01 --source archive`` (spot; ``binance-futures``
for USDⓈ-M perpetuals, with ``--mark`` for mark-price candles and ``--funding`` for funding
rates) calls :func:`run_cli`; :func:`run` is the mode.

The archive (``archive_url``, by default Binance's data.binance.vision) is laid out as::

    data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01.zip        (and .zip.CHECKSUM)
    data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01-31.zip
    data/futures/um/monthly/klines/BTCUSDT/1m/...                      binance-futures
    data/futures/um/monthly/markPriceKlines/BTCUSDT/1m/...             --mark
    data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2020-01.zip   --funding

How an import goes:

1. The period is the REST import's (START, END exclusive, default now; UTC). Each month of it
   is one monthly file. The current month has no monthly file yet: its days up to yesterday
   are daily files; so is the previous month while its monthly file is not published yet
   (Binance publishes it in the first days of the next month). Funding comes in monthly files
   only.
2. Resume: a file already imported for the part of the period wanted
   (:class:`jbt.models.ArchiveFile`), or whose part is already stored in full, is not
   downloaded again.
3. ``workers`` files are downloaded at once. Each is checked against its published SHA-256
   (``.CHECKSUM``) and read by the file importer (:mod:`jbt.importers.files`: the same checks
   as ``--file``) in the download thread; the calling thread stores the files in order, one
   transaction per file together with its record. A file whose checksum differs, or that the
   importer refuses, stops the import with one line and nothing stored from it; the files
   before it stay imported and a re-run downloads only the rest.
4. The parts of the period that no file covers, from the first covered moment on (before it
   the symbol was not listed yet), come from the exchange's REST API: the newest days, which
   are not archived yet. They go through the REST import (:mod:`import_candles_mode`,
   :mod:`import_funding_mode`) with its resume and gap report.

Minutes (or funding times) missing inside an archive file are reported as missing on the
exchange; nothing is invented.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from jbt import candles, funding
from jbt.constants import DAY_MS, HOUR_MS, MINUTE_MS
from jbt.dates import format_ms, now_ms
from jbt.errors import Cancelled, ExchangeError, InputError
from jbt.importers.files import check_symbol, read_candle_file
from jbt.models import deferred_checkpoints
from jbt.modes.import_candles_mode import (
    GAP_SETTLE_MS,
    ImportProgress,
    _Pipeline,
    _record_gaps,
    resolve_period,
)
from jbt.ranges import merge, subtract

if TYPE_CHECKING:
    from jbt.config import Config

#: Where Binance publishes its public data.
DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
#: Files downloaded at the same time.
DEFAULT_WORKERS = 4
#: A larger download is refused (a monthly 1m kline file is a few MiB).
MAX_DOWNLOAD_BYTES = 512 << 20
#: The archive's markets, by our exchange name.
MARKETS = {"binance": "spot", "binance-futures": "futures/um"}
#: From this many files to download on, they are read in a process of their own.
PROCESS_FILES = 6
#: What can be imported, by dataset: the archive's folder name.
DATASETS = {"candles": "klines", "mark": "markPriceKlines", "funding": "fundingRate"}


@dataclass(frozen=True)
class ArchiveUnit:
    """One file to import: its name, URL, period and the part of it wanted (inclusive ms)."""

    name: str
    url: str
    first: int
    last: int
    lo: int
    hi: int
    #: For a monthly file that may not be published yet: the daily files to use instead.
    daily: tuple[ArchiveUnit, ...] = ()


@dataclass
class ArchiveSummary:
    exchange: str
    symbol: str
    dataset: str  # candles, mark, funding
    start: int  # epoch ms, inclusive
    end: int  # epoch ms, inclusive (END - 1 ms)
    files: int = 0  # files of the period
    downloaded: int = 0
    already_imported: int = 0  # not downloaded: imported before, or their part stored in full
    not_archived: list[str] = field(default_factory=list)  # names the archive does not have
    bytes: int = 0  # downloaded
    rows_read: int = 0  # rows of the wanted parts of the files downloaded
    inserted: int = 0
    already_present: int = 0
    #: Minutes (candles) or funding times (funding) missing inside the files imported.
    missing_ranges: list[tuple[int, int]] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)  # parts of the period archived
    rest_ranges: list[tuple[int, int]] = field(default_factory=list)  # left to the REST API
    #: The REST imports of ``rest_ranges`` (ImportSummary or FundingImportSummary each).
    rest: list[Any] = field(default_factory=list)
    duration_s: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def stored_as(self) -> str:
        return funding.mark_source(self.exchange) if self.dataset == "mark" else self.exchange

    @property
    def missing(self) -> int:
        step = MINUTE_MS if self.dataset != "funding" else 0
        if step:
            return sum((b - a) // step + 1 for a, b in self.missing_ranges)
        return funding.count_missing(self.missing_ranges, self.exchange, self.symbol)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange, "symbol": self.symbol, "dataset": self.dataset,
            "stored_as": self.stored_as, "start": self.start, "end": self.end,
            "files": self.files, "downloaded": self.downloaded,
            "already_imported": self.already_imported, "not_archived": list(self.not_archived),
            "bytes": self.bytes, "rows_read": self.rows_read, "inserted": self.inserted,
            "already_present": self.already_present, "missing": self.missing,
            "missing_ranges": [list(r) for r in self.missing_ranges],
            "covered": [list(r) for r in self.covered],
            "rest_ranges": [list(r) for r in self.rest_ranges],
            "rest": [part.to_dict() for part in self.rest],
            "duration_s": self.duration_s, "interrupted": self.interrupted,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- planning


def _month_start(ms: int) -> datetime:
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return datetime(d.year, d.month, 1, tzinfo=timezone.utc)


def _next_month(d: datetime) -> datetime:
    return datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=timezone.utc)


def _ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def archive_base(config: Config, exchange: str) -> str:
    """``archive_url`` of the exchange, else of ``binance``, else Binance's public site."""
    url = config.exchange(exchange).archive_url or config.exchange("binance").archive_url
    return (url or DEFAULT_ARCHIVE_URL).rstrip("/")


def plan(base: str, exchange: str, dataset: str, symbol: str, first: int, last: int,
         now: int) -> list[ArchiveUnit]:
    """The files covering ``[first, last]`` (inclusive ms) in the archive at ``base``."""
    market = MARKETS[exchange]
    folder = DATASETS[dataset]
    sid = symbol.replace("-", "")
    today = now // DAY_MS * DAY_MS
    current = _month_start(now)
    previous = _month_start(_ms(current) - 1)

    def unit(period: str, label: str, start: int, end: int) -> ArchiveUnit:
        if dataset == "funding":
            name = f"{sid}-fundingRate-{label}.zip"
            path = f"data/{market}/{period}/{folder}/{sid}/{name}"
        else:
            name = f"{sid}-1m-{label}.zip"
            path = f"data/{market}/{period}/{folder}/{sid}/1m/{name}"
        return ArchiveUnit(name, f"{base}/{path}", start, end - 1, max(first, start),
                           min(last, end - 1))

    def days(month: datetime) -> tuple[ArchiveUnit, ...]:
        out = []
        day = max(_ms(month), first // DAY_MS * DAY_MS)
        while day < min(_ms(_next_month(month)), today) and day <= last:
            label = datetime.fromtimestamp(day / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
            out.append(unit("daily", label, day, day + DAY_MS))
            day += DAY_MS
        return tuple(out)

    units: list[ArchiveUnit] = []
    month = _month_start(first)
    while _ms(month) <= last:
        if month >= current:
            if dataset != "funding":
                units.extend(days(month))
        else:
            monthly = unit("monthly", month.strftime("%Y-%m"), _ms(month), _ms(_next_month(month)))
            fallback = days(month) if month == previous and dataset != "funding" else ()
            units.append(ArchiveUnit(**{**monthly.__dict__, "daily": fallback}))
        month = _next_month(month)
    return units


# ---------------------------------------------------------------------- downloading


class _ChecksumError(Exception):
    pass


@dataclass
class _File:
    """A downloaded, verified and parsed file."""

    unit: ArchiveUnit
    sha256: str
    size: int
    rows: np.ndarray | None = None  # candles, jbt's order, sorted by time
    events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # funding


@dataclass
class _Absent:
    unit: ArchiveUnit


def _reason(exc: BaseException) -> tuple[str, bool]:
    """What went wrong with a request, and whether asking again may help."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return "cannot resolve the host: no network or DNS?", False
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", False
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason})", False
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer in time", True
    return "connection dropped", True


class _Downloader:
    """GET with the exchange's retry settings; 404 is ``None`` (not published)."""

    def __init__(self, config: Any, label: str, should_stop: Callable[[], bool],
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.label = label
        self._stop = should_stop
        self._sleep = sleep
        self.requests = 0
        self._lock = threading.Lock()

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise Cancelled as soon as the import is asked to stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop():
                raise Cancelled(f"{self.label}: stopped while waiting to download again")
            self._sleep(min(left, 0.1))

    def get(self, url: str, name: str) -> bytes | None:
        from jbt import __version__

        cfg = self.config
        attempt = 0
        while True:
            with self._lock:
                self.requests += 1
            retry_after = None
            try:
                request = urllib.request.Request(url, headers={"User-Agent": f"jbt/{__version__}"})
                with urllib.request.urlopen(request, timeout=cfg.timeout) as answer:
                    data = answer.read(MAX_DOWNLOAD_BYTES + 1)
                if len(data) > MAX_DOWNLOAD_BYTES:
                    raise ExchangeError(
                        f"{self.label}: {name} is larger than {MAX_DOWNLOAD_BYTES >> 20} MiB; "
                        "not an archive file, refused"
                    )
                return data
            except urllib.error.HTTPError as exc:
                if exc.code in (403, 404):  # S3 answers 403 for a missing key without listing
                    return None
                if exc.code not in (418, 429) and exc.code < 500:
                    raise ExchangeError(f"{self.label}: downloading {name} failed: HTTP "
                                        f"{exc.code}") from None
                kind = f"HTTP {exc.code}"
                value = exc.headers.get("Retry-After") if exc.headers else None
                try:
                    retry_after = float(value) if value is not None else None
                except ValueError:
                    retry_after = None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                kind, transient = _reason(exc)
                if not transient:
                    raise ExchangeError(f"{self.label}: downloading {name} failed: {kind}"
                                        ) from None
            if attempt >= cfg.max_retries:
                raise ExchangeError(f"{self.label}: downloading {name} failed after "
                                    f"{cfg.max_retries} retries (last: {kind})")
            delay = min(30.0, cfg.retry_delay * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            self._wait(max(delay, retry_after or 0.0))


def _published_sha256(text: bytes, name: str) -> str | None:
    """The hex digest of a ``.CHECKSUM`` file (``<sha256>  <name>``)."""
    try:
        first = text.decode("ascii").split()[0].lower()
    except (UnicodeDecodeError, IndexError):
        return None
    if len(first) == 64 and all(c in "0123456789abcdef" for c in first):
        return first
    return None


def read_funding_file(data: bytes, name: str, now: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fundingRate zip (``calc_time,funding_interval_hours,last_funding_rate``): times (ms),
    rates, intervals (ms). InputError naming the line for anything else."""
    now = now_ms() if now is None else now
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise InputError(f"{name}: expected one .csv inside the zip, found "
                                 f"{len(members)}")
            text = archive.read(members[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{name}: cannot be read ({exc})") from None
    where = f"{name}:{members[0]}"
    times, rates, hours = [], [], []
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if row[0].strip().lower() == "calc_time":
            continue
        if len(row) != 3:
            raise InputError(f"{where} line {line}: expected 3 columns (calc_time, "
                             f"funding_interval_hours, last_funding_rate), found {len(row)}")
        try:
            t, h, r = int(row[0]), int(row[1]), float(row[2])
        except ValueError:
            raise InputError(f"{where} line {line}: {','.join(row)!r} is not a funding event"
                             ) from None
        if not (10**11 <= t <= now) or not 0 < h <= 24 or not np.isfinite(r):
            raise InputError(f"{where} line {line}: implausible funding event {','.join(row)!r}")
        times.append(t)
        hours.append(h)
        rates.append(r)
    return (np.asarray(times, np.int64), np.asarray(rates, np.float64),
            np.asarray(hours, np.int64) * HOUR_MS)


def parse_file(dataset: str, name: str, data: bytes, now: int
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A verified archive zip read by the file importer: candles as one float64 ``(n, 6)``
    array sorted by time, or funding events ``(times, rates, intervals)``."""
    if dataset == "funding":
        return read_funding_file(data, name, now)
    _, blocks = read_candle_file(lambda: io.BytesIO(data), name, "zip", "1m")
    rows = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    if len(blocks) > 1:
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return rows


def _parse_pool(files: int) -> Any:
    """A process to read files in while this one writes, for imports of ``PROCESS_FILES``
    files or more on a machine with more than one core (reading holds Python's GIL, so a thread
    cannot overlap it with the writing). ``None``: read in the download threads."""
    if files < PROCESS_FILES or (os.cpu_count() or 1) < 2:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


# ---------------------------------------------------------------------- the mode


def _minute_holes(lo: int, hi: int, ts: np.ndarray) -> list[tuple[int, int]]:
    """Minutes of ``[lo, hi]`` (rounded to the grid) absent from the distinct open times
    ``ts`` (minutes of that range)."""
    a = -(-lo // MINUTE_MS) * MINUTE_MS
    b = hi // MINUTE_MS * MINUTE_MS
    if b < a:
        return []
    if len(ts) == (b - a) // MINUTE_MS + 1:
        return []
    edges = np.r_[a - MINUTE_MS, np.sort(ts), b + MINUTE_MS]
    gaps = np.flatnonzero(np.diff(edges) > MINUTE_MS)
    return [(int(edges[i]) + MINUTE_MS, int(edges[i + 1]) - MINUTE_MS) for i in gaps.tolist()]


def _check_source(exchange: str, dataset: str) -> None:
    if exchange not in MARKETS:
        raise InputError(
            f"--source archive is for binance and binance-futures (Binance's public data "
            f"archive); {exchange} has none that jbt knows"
        )
    if dataset != "candles" and exchange != "binance-futures":
        flag = "--mark" if dataset == "mark" else "--funding"
        raise InputError(f"{flag} is for perpetual futures: use binance-futures (USDⓈ-M), "
                         f"not {exchange}")


def run(
    config: Config,
    exchange: str,
    symbol: str,
    start: str | int,
    end: str | int | None = None,
    *,
    dataset: str = "candles",
    workers: int = DEFAULT_WORKERS,
    now: int | None = None,
    rest: bool = True,
    adapter: Any = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ArchiveSummary:
    """Import ``[start, end)`` of one dataset (``candles``, ``mark``, ``funding``) from the
    archive, then the rest from the REST API (unless ``rest`` is false).

    ``now`` (epoch ms) decides which files exist (tests set it); the REST part always uses the
    clock. Raises InputError for bad input or a file the importer refuses, ExchangeError for a
    checksum that does not match or an archive that keeps failing; what was stored stays.
    """
    from jbt.exchanges import check_exchange
    from jbt.models import ArchiveFile

    began = time.perf_counter()
    exchange = check_exchange(exchange)
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    _check_source(exchange, dataset)
    symbol = check_symbol(symbol)
    clock = now_ms() if now is None else now
    first, last = resolve_period(start, end, now=clock)
    period_end = last + MINUTE_MS - 1
    stop = should_stop or (lambda: False)
    summary = ArchiveSummary(exchange, symbol, dataset, first, period_end)
    store = summary.stored_as
    folder = DATASETS[dataset]
    units = plan(archive_base(config, exchange), exchange, dataset, symbol, first, period_end,
                 clock)
    summary.files = len(units)

    records = {r.name: (int(r.first), int(r.last)) for r in ArchiveFile.select().where(
        (ArchiveFile.exchange == exchange) & (ArchiveFile.dataset == folder)
        & (ArchiveFile.symbol == symbol))}

    anything_stored = (funding.count_funding(exchange, symbol, first, period_end)
                       if dataset == "funding"
                       else candles.count_candles(store, symbol, "1m", first, period_end)) > 0

    def done_before(u: ArchiveUnit) -> bool:
        rec = records.get(u.name)
        if rec is not None and rec[0] <= u.lo and rec[1] >= u.hi:
            return True
        if not anything_stored:
            return False
        return _all_stored(summary, u.lo, u.hi)

    todo = []
    for u in units:
        if done_before(u):
            summary.already_imported += 1
            summary.covered.append((u.lo, u.hi))
        else:
            todo.append(u)

    settled = now_ms() // MINUTE_MS * MINUTE_MS - MINUTE_MS - GAP_SETTLE_MS
    label = f"{exchange} archive"
    downloader = _Downloader(config.exchange(exchange), label, stop)

    def fetch_one(u: ArchiveUnit) -> _File | _Absent:
        data = downloader.get(u.url, u.name)
        if data is None:
            return _Absent(u)
        published = downloader.get(u.url + ".CHECKSUM", u.name + ".CHECKSUM")
        expected = None if published is None else _published_sha256(published, u.name)
        actual = hashlib.sha256(data).hexdigest()
        if expected is None:
            raise _ChecksumError(f"{label}: {u.name} has no published SHA-256 checksum "
                                 f"({u.name}.CHECKSUM); refused, nothing stored from it")
        if expected != actual:
            raise _ChecksumError(
                f"{label}: {u.name} does not match its published SHA-256 checksum (got "
                f"{actual[:16]}…, published {expected[:16]}…); refused, nothing stored from it"
            )
        out = _File(u, actual, len(data))
        if pool is None or (u is todo[0] and not warm.done()):
            # the first file while the process is still starting: nothing else runs yet
            parsed = parse_file(dataset, u.name, data, clock)
        else:
            parsed = pool.submit(parse_file, dataset, u.name, data, clock).result()
        if dataset == "funding":
            out.events = parsed
        else:
            out.rows = parsed
        return out

    def fetch(u: ArchiveUnit) -> list[_File | _Absent]:
        got = fetch_one(u)
        if isinstance(got, _Absent) and u.daily:
            return [got, *(fetch_one(d) for d in u.daily)]
        return [got]

    def keep(f: _File) -> None:
        u = f.unit
        with funding._transaction():
            if f.events is not None:
                times, rates, intervals = f.events
                inside = (times >= u.lo) & (times <= u.hi)
                summary.rows_read += int(inside.sum())
                new = funding.insert_funding(exchange, symbol, times[inside], rates[inside],
                                             intervals=intervals[inside])
                funding.record_span(exchange, symbol, u.lo, u.hi)
                summary.already_present += int(inside.sum()) - new
                summary.inserted += new
            else:
                assert f.rows is not None
                rows = f.rows[(f.rows[:, 0] >= u.lo) & (f.rows[:, 0] <= u.hi)]
                if len(rows):
                    new = candles.insert_candles(store, symbol, "1m", rows)
                    summary.rows_read += len(rows)
                    summary.inserted += new
                    summary.already_present += len(rows) - new
                ts = rows[:, 0].astype(np.int64)
                holes = _minute_holes(u.lo, u.hi, ts)
                if len(ts) and not _stored_before(store, symbol, u.lo):
                    # the symbol's first file: minutes before its first row precede the listing
                    holes = [h for h in holes if h[0] > ts.min()]
                # the exchange's answer for these minutes, as the REST import remembers its own
                window = (-(-u.lo // MINUTE_MS) * MINUTE_MS, u.hi // MINUTE_MS * MINUTE_MS)
                _record_gaps(store, symbol, window, holes, settled)
            old = records.get(u.name)
            lo, hi = (u.lo, u.hi) if old is None else (min(u.lo, old[0]), max(u.hi, old[1]))
            ArchiveFile.delete().where(
                (ArchiveFile.exchange == exchange) & (ArchiveFile.dataset == folder)
                & (ArchiveFile.symbol == symbol) & (ArchiveFile.name == u.name)).execute()
            ArchiveFile.create(exchange=exchange, dataset=folder, symbol=symbol, name=u.name,
                               sha256=f.sha256, first=lo, last=hi,
                               rows=len(f.rows) if f.rows is not None else len(f.events[0]),
                               imported_at=now_ms())
            records[u.name] = (lo, hi)
        summary.downloaded += 1
        summary.bytes += f.size
        summary.covered.append((u.lo, u.hi))

    if progress is not None:
        progress(ImportProgress(0, len(todo), 0, 0))
    pool = _parse_pool(len(todo))
    # start the process now, while the first files download (it starts on its first task)
    warm = pool.submit(int) if pool is not None else None
    pipeline = _Pipeline(fetch, todo, workers) if todo else None
    # a transaction per file; the WAL is copied into the database file once, at the end
    with deferred_checkpoints(candles._db()):
        try:
            for i, _unit in enumerate(todo):
                assert pipeline is not None
                got = pipeline.get(i, stop)
                if got is None:
                    summary.interrupted = True
                    break
                if isinstance(got, Cancelled):
                    summary.interrupted = True
                    break
                if isinstance(got, Exception):
                    n = summary.downloaded
                    kept = (f"{n:,} file{'' if n == 1 else 's'} imported before it "
                            f"{'is' if n == 1 else 'are'} kept")
                    if isinstance(got, _ChecksumError):
                        raise ExchangeError(f"{got} ({kept}; run again to resume)") from None
                    if isinstance(got, InputError):
                        raise InputError(f"{got}; nothing stored from it ({kept})") from None
                    if isinstance(got, ExchangeError):
                        raise ExchangeError(f"{got}; {kept}, run the same command again to resume"
                                            ) from None
                    raise got
                for part in got:
                    if isinstance(part, _Absent):
                        if not part.unit.daily:
                            summary.not_archived.append(part.unit.name)
                    else:
                        keep(part)
                if progress is not None:
                    progress(ImportProgress(i + 1, len(todo), summary.rows_read, summary.inserted))
                if stop() and i + 1 < len(todo):
                    summary.interrupted = True
                    break
        finally:
            if pipeline is not None:
                pipeline.stop()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
    summary.covered = merge(summary.covered)
    _describe(summary, store, first)
    if not summary.interrupted:
        wanted = [(first, period_end)]
        if summary.covered:
            wanted = [(summary.covered[0][0], period_end)]
        summary.rest_ranges = [r for r in subtract(wanted, summary.covered)
                               if not _all_stored(summary, *r)]
        if rest and summary.rest_ranges:
            summary.rest = _rest_fill(config, exchange, symbol, dataset, summary.rest_ranges,
                                      adapter, stop)
            summary.interrupted = any(part.interrupted for part in summary.rest)
    summary.duration_s = time.perf_counter() - began
    return summary


def _stored_before(store: str, symbol: str, moment: int) -> bool:
    """Whether any 1m candle of ``store`` opens before ``moment`` (one index probe)."""
    db = candles._db()
    p = db.param
    sql = ('SELECT 1 FROM "candle" WHERE "exchange" = ' + p + ' AND "symbol" = ' + p
           + ' AND "timeframe" = ' + p + ' AND "timestamp" < ' + p + " LIMIT 1")
    return db.execute_sql(sql, [store, symbol, "1m", moment]).fetchone() is not None


def _all_stored(summary: ArchiveSummary, lo: int, hi: int) -> bool:
    """Whether ``[lo, hi]`` is stored in full already (or, for funding, was asked)."""
    if summary.dataset == "funding":
        return funding.known_spans(summary.exchange, summary.symbol, lo, hi) == [(lo, hi)]
    minutes = hi // MINUTE_MS - (-(-lo // MINUTE_MS)) + 1
    return candles.count_candles(summary.stored_as, summary.symbol, "1m", lo, hi) == minutes


def _describe(summary: ArchiveSummary, store: str, first: int) -> None:
    """Holes inside the archived part of the period, as stored (so a re-run that downloads
    nothing reports the same), after the first row the archive has; a note when that row comes
    after START (the listing)."""
    from jbt.modes.import_candles_mode import known_gaps

    exchange, symbol = summary.exchange, summary.symbol
    if not summary.covered:
        return
    lo, hi = summary.covered[0][0], summary.covered[-1][1]
    if summary.dataset == "funding":
        events = funding.load_funding(exchange, symbol, lo, hi)
        begins = int(events[0, funding.TIME]) if len(events) else None
        holes = [r for a, b in summary.covered for r in funding.funding_holes(exchange, symbol,
                                                                                a, b)]
    else:
        db = candles._db()
        p = db.param
        row = db.execute_sql(
            'SELECT MIN("timestamp") FROM "candle" WHERE "exchange" = ' + p
            + ' AND "symbol" = ' + p + ' AND "timeframe" = ' + p + ' AND "timestamp" >= ' + p
            + ' AND "timestamp" <= ' + p, [store, symbol, "1m", lo, hi]).fetchone()
        begins = None if row is None or row[0] is None else int(row[0])
        holes = [r for a, b in summary.covered for r in known_gaps(store, symbol, "1m", a, b)]
    if begins is None:
        return
    summary.missing_ranges = [(max(a, begins), b) for a, b in holes if b >= begins]
    if begins > max(first, lo) + (funding.MAX_INTERVAL_MS if summary.dataset == "funding"
                                  else 0):
        summary.notes.append(
            f"{symbol} begins in the archive at {format_ms(begins)}; nothing before it"
        )


def _rest_fill(config: Config, exchange: str, symbol: str, dataset: str,
               ranges: list[tuple[int, int]], adapter: Any, stop: Callable[[], bool]
               ) -> list[Any]:
    """Import ``ranges`` (inclusive ms) from the REST API; a summary per range."""
    from jbt.exchanges import get_adapter
    from jbt.exchanges.futures import MarkPriceAdapter
    from jbt.modes import import_candles_mode, import_funding_mode

    own = adapter is None
    if own:
        adapter = get_adapter(exchange, config)
        if dataset == "mark":
            adapter = MarkPriceAdapter(adapter)
    parts: list[Any] = []
    try:
        for a, b in ranges:
            if dataset == "funding":
                part = import_funding_mode.run(config, exchange, symbol, a, b + 1,
                                               adapter=adapter, should_stop=stop)
            else:
                part = import_candles_mode.run(config, exchange, symbol, a, b + 1,
                                               adapter=adapter, should_stop=stop)
            parts.append(part)
            if part.interrupted:
                break
        return parts
    finally:
        if own:
            adapter.close()


# ---------------------------------------------------------------------- command line


def run_cli(state: Any, exchange: str, symbol: str, start: str, end: str | None,
            dataset: str) -> None:
    """``jbt import-candles EXCHANGE SYMBOL START --source archive [--mark|--funding]``."""
    import typer
    from rich.console import Console

    from jbt.exchanges import check_exchange
    from jbt.modes.import_progress import progress_bar, sigint_stop

    config = state.config()
    exchange = check_exchange(exchange)
    _check_source(exchange, dataset)
    symbol = check_symbol(symbol)
    resolve_period(start, end)
    state.open_db()
    with sigint_stop() as stop, progress_bar(f"{exchange} {symbol} archive", "rows") as bar:
        summary = run(config, exchange, symbol, start, end, dataset=dataset, progress=bar,
                      should_stop=stop)
    render_summary(summary, Console())
    if summary.interrupted:
        Console(stderr=True).print("Interrupted: everything saved so far is kept; run the same "
                                   "command again to resume.")
        raise typer.Exit(130)


def render_summary(summary: ArchiveSummary, console: Any) -> None:
    """The archive part's table, then the REST part's."""
    from rich.table import Table

    from jbt.importers.render import print_ranges
    from jbt.modes import import_candles_mode, import_funding_mode

    for note in summary.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    what = {"candles": "1m", "mark": "1m mark price", "funding": "funding rates"}
    table = Table(title=f"{summary.exchange} {summary.symbol} {what[summary.dataset]} "
                  "from the archive", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_row("period (UTC)", f"{format_ms(summary.start)} → {format_ms(summary.end)}")
    if summary.covered:
        table.add_row("archived", f"{format_ms(summary.covered[0][0])} → "
                      f"{format_ms(summary.covered[-1][1])}")
    table.add_row("files", f"{summary.files:,}")
    table.add_row("downloaded", f"{summary.downloaded:,} ({summary.bytes / 1e6:,.1f} MB)")
    table.add_row("already imported", f"{summary.already_imported:,}")
    table.add_row("not in the archive", f"{len(summary.not_archived):,}")
    table.add_row("rows read", f"{summary.rows_read:,}")
    table.add_row("inserted", f"{summary.inserted:,}")
    table.add_row("already present", f"{summary.already_present:,}")
    table.add_row("missing in the files", f"{summary.missing:,}")
    rate = summary.rows_read / summary.duration_s if summary.duration_s > 0 else 0.0
    table.add_row("time", f"{summary.duration_s:.1f} s ({rate:,.0f} rows/s)")
    console.print(table)
    print_ranges(console, "Missing in the archive's files:", summary.missing_ranges)
    for part in summary.rest:
        console.print("Not in the archive (yet), from the REST API:", highlight=False)
        if summary.dataset == "funding":
            import_funding_mode.render_summary(part, console)
        else:
            import_candles_mode.render_summary(part, console)
