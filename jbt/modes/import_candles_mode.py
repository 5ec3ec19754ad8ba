"""Import 1m candles from an exchange into the candle store: paging, resume, gap report.

:func:`run` is what the CLI and the HTTP API call; :func:`run_cli` adds the Rich progress bar,
Ctrl-C handling and the summary table.

How an import goes:

1. Validate everything before the first candle request: the dates (UTC; END is exclusive and
   defaults to the last closed minute), the exchange name and the symbol.
2. Resume: only the minutes of ``[START, END)`` that are neither stored nor known to be missing
   on the exchange (:class:`jbt.models.CandleGap`) are requested. They are cut into windows of
   at most 1000 minutes, and every request carries ``endTime``, so a re-run never asks for a
   range that is already stored or that the exchange already answered without candles.
3. A START before the symbol's listing moves to the listing and the summary says so. The
   listing is asked once (one tiny request, skipped when the first minute is stored or known
   to be missing) and kept (:class:`jbt.models.SymbolListing`). Adapters that cannot tell the
   listing start at START; minutes before the listing are then reported as missing.
4. A few worker threads fetch windows concurrently (each with its own ccxt client, sharing one
   weight-based rate limiter); the calling thread inserts each window in order, one transaction
   per window, as it arrives. If the exchange fails past its retries, what was fetched is saved
   before the error is raised; a re-run continues from there.
5. Minutes the exchange has no candle for are never invented: they are reported as missing
   ranges, and recorded as gaps in the same transaction as the window's candles, so a re-run
   reports them again without asking. Only minutes that closed ``GAP_SETTLE_MS`` before the
   run are recorded (the exchange may publish the latest ones late). ``refetch_gaps=True``
   (``--refetch-gaps``) asks for the known gaps and the listing again, for exchanges that
   backfill; the gaps are trimmed to what is still missing.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jbt.constants import MINUTE_MS
from jbt.dates import format_ms, now_ms, parse_date
from jbt.errors import Cancelled, ExchangeError, InputError

if TYPE_CHECKING:
    from jbt.config import Config
    from jbt.exchanges.base import ExchangeAdapter

TIMEFRAME = "1m"
#: Windows fetched at the same time (each by its own thread and ccxt client).
DEFAULT_WORKERS = 4
#: A minute the exchange answered without a candle is recorded as a gap only when its open time
#: is at least this long before the run's last closed minute; later ones stay requestable.
GAP_SETTLE_MS = 60 * MINUTE_MS


@dataclass(frozen=True)
class ImportProgress:
    """Sent to the ``progress`` callback after each window is stored."""

    done: int  # minutes of the plan handled so far
    total: int  # minutes to request in this run
    fetched: int
    inserted: int


@dataclass
class ImportSummary:
    exchange: str
    symbol: str
    timeframe: str
    requested_start: int  # epoch ms, as asked (rounded up to the minute)
    end: int  # open time of the last minute wanted, inclusive
    start: int  # where the import begins: requested_start or the listing, whichever is later
    listing: int | None = None  # first candle the exchange has, when it was asked
    fetched: int = 0  # candles received from the exchange
    inserted: int = 0  # of those, new in the database
    already_present: int = 0  # candles of [start, end] stored before this run
    missing_ranges: list[tuple[int, int]] = field(default_factory=list)  # exchange-side holes
    requests: int = 0
    duration_s: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def start_adjusted(self) -> bool:
        return self.start > self.requested_start

    @property
    def missing(self) -> int:
        return sum((b - a) // MINUTE_MS + 1 for a, b in self.missing_ranges)

    @property
    def candles_per_s(self) -> float:
        return self.fetched / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange, "symbol": self.symbol, "timeframe": self.timeframe,
            "requested_start": self.requested_start, "start": self.start, "end": self.end,
            "listing": self.listing, "start_adjusted": self.start_adjusted,
            "fetched": self.fetched, "inserted": self.inserted,
            "already_present": self.already_present, "missing": self.missing,
            "missing_ranges": [list(r) for r in self.missing_ranges],
            "requests": self.requests, "duration_s": self.duration_s,
            "interrupted": self.interrupted, "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- input


def resolve_period(start: str | int, end: str | int | None = None, *,
                   now: int | None = None) -> tuple[int, int]:
    """``(first, last)`` open times wanted, inclusive, from START and an exclusive END.

    Dates are UTC text (``2020-01-01``, ``2020-01-01T12:30``) or epoch milliseconds. START is
    rounded up to a whole minute; END defaults to now, and only closed minutes are imported.
    """
    now = now_ms() if now is None else now
    start_ms = parse_date(start, name="START") if isinstance(start, str) else int(start)
    if start_ms > now:
        raise InputError(f"START {format_ms(start_ms)} is in the future")
    if end is None:
        end_ms = now
    else:
        end_ms = parse_date(end, name="END") if isinstance(end, str) else int(end)
        if end_ms > now:
            raise InputError(f"END {format_ms(end_ms)} is in the future")
        if end_ms <= start_ms:
            raise InputError(
                f"END {format_ms(end_ms)} is not after START {format_ms(start_ms)}"
            )
    first = -(-start_ms // MINUTE_MS) * MINUTE_MS
    last_closed = (now // MINUTE_MS) * MINUTE_MS - MINUTE_MS
    last = min(-(-end_ms // MINUTE_MS) * MINUTE_MS - MINUTE_MS, last_closed)
    if last < first:
        raise InputError(
            f"no closed minute between START {format_ms(start_ms)} and END {format_ms(end_ms)}"
        )
    return first, last


def _windows(holes: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    out = []
    for a, b in holes:
        cursor = a
        while cursor <= b:
            stop = min(b, cursor + (size - 1) * MINUTE_MS)
            out.append((cursor, stop))
            cursor = stop + MINUTE_MS
    return out


def _minutes(a: int, b: int) -> int:
    return (b - a) // MINUTE_MS + 1


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + MINUTE_MS:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(ranges: list[tuple[int, int]],
              cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Minutes of the sorted, disjoint ``ranges`` outside every range of ``cut``."""
    cut = _merge(cut)
    out: list[tuple[int, int]] = []
    j = 0
    for a, b in ranges:
        while j < len(cut) and cut[j][1] < a:
            j += 1
        cursor = a
        k = j
        while k < len(cut) and cut[k][0] <= b:
            c, d = cut[k]
            if c > cursor:
                out.append((cursor, c - MINUTE_MS))
            cursor = max(cursor, d + MINUTE_MS)
            k += 1
        if cursor <= b:
            out.append((cursor, b))
    return out


def _intersect(ranges: list[tuple[int, int]],
               other: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Minutes of the sorted, disjoint ``ranges`` that are also in ``other``."""
    return _subtract(ranges, _subtract(ranges, other))


def _holes_in(window: tuple[int, int], ts: np.ndarray) -> list[tuple[int, int]]:
    """Minutes of ``window`` absent from the sorted open times ``ts``."""
    a, b = window
    grid = np.arange(a, b + MINUTE_MS, MINUTE_MS, dtype=np.int64)
    absent = grid[~np.isin(grid, ts.astype(np.int64))]
    if len(absent) == 0:
        return []
    breaks = np.flatnonzero(np.diff(absent) != MINUTE_MS)
    starts = np.r_[absent[0], absent[breaks + 1]]
    ends = np.r_[absent[breaks], absent[-1]]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


# ---------------------------------------------------------------------- known gaps


def known_gaps(exchange: str, symbol: str, timeframe: str, start: int | None = None,
               end: int | None = None) -> list[tuple[int, int]]:
    """Recorded gaps overlapping ``[start, end]`` (clipped to it), sorted and merged."""
    from jbt.models import CandleGap

    query = CandleGap.select(CandleGap.start, CandleGap.end).where(
        (CandleGap.exchange == exchange) & (CandleGap.symbol == symbol)
        & (CandleGap.timeframe == timeframe)
    )
    if start is not None:
        query = query.where(CandleGap.end >= start)
    if end is not None:
        query = query.where(CandleGap.start <= end)
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return _merge([(int(max(a, lo)), int(min(b, hi))) for a, b in query.tuples()])


def _known_listing(exchange: str, symbol: str) -> int | None:
    from jbt.models import SymbolListing

    row = SymbolListing.get_or_none((SymbolListing.exchange == exchange)
                                    & (SymbolListing.symbol == symbol))
    return None if row is None else int(row.listing)


def _transaction() -> Any:
    """A write transaction; on SQLite it takes the write lock first (as the candle store does),
    and inside another transaction it is a savepoint."""
    import peewee as pw

    from jbt.models import database_proxy

    db = database_proxy.obj
    return db.atomic() if isinstance(db, pw.PostgresqlDatabase) else db.atomic("IMMEDIATE")


def _save_listing(exchange: str, symbol: str, listing: int) -> None:
    from jbt.models import SymbolListing

    with _transaction():
        SymbolListing.delete().where((SymbolListing.exchange == exchange)
                                     & (SymbolListing.symbol == symbol)).execute()
        SymbolListing.create(exchange=exchange, symbol=symbol, listing=listing)


def _record_gaps(exchange: str, symbol: str, window: tuple[int, int],
                 holes: list[tuple[int, int]], settled: int) -> None:
    """After ``window`` was fetched: it replaces what was known of its minutes. Its ``holes``
    before ``settled`` become gaps, merged with the recorded gaps they touch. Call inside the
    transaction that stores the window's candles."""
    from jbt.models import CandleGap

    a, b = window
    new = [(lo, min(hi, settled - MINUTE_MS)) for lo, hi in holes if lo < settled]
    key = ((CandleGap.exchange == exchange) & (CandleGap.symbol == symbol)
           & (CandleGap.timeframe == TIMEFRAME))
    near = key & (CandleGap.end >= a - MINUTE_MS) & (CandleGap.start <= b + MINUTE_MS)
    old = [(int(lo), int(hi)) for lo, hi in
           CandleGap.select(CandleGap.start, CandleGap.end).where(near).tuples()]
    if not old and not new:
        return
    kept = _merge(_subtract(_merge(old), [window]) + new)
    if old:
        CandleGap.delete().where(near).execute()
    if kept:
        CandleGap.insert_many(
            [{"exchange": exchange, "symbol": symbol, "timeframe": TIMEFRAME, "start": lo,
              "end": hi} for lo, hi in kept]
        ).execute()


# ---------------------------------------------------------------------- fetching


class _Pipeline:
    """Worker threads fetch windows ahead of the consumer, which takes them in order.

    Daemon threads, so an interrupted import never waits for a request still in flight.
    """

    def __init__(self, fetch: Callable[[tuple[int, int]], np.ndarray],
                 windows: list[tuple[int, int]], workers: int) -> None:
        self._fetch = fetch
        self._windows = windows
        self._results: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._next = 0
        self._consumed = 0
        self._lookahead = max(1, 2 * workers)
        self._stopped = False
        for _ in range(max(1, min(workers, len(windows)))):
            threading.Thread(target=self._work, daemon=True, name="jbt-import").start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while (not self._stopped and self._next < len(self._windows)
                       and self._next >= self._consumed + self._lookahead):
                    self._cond.wait()
                if self._stopped or self._next >= len(self._windows):
                    return
                i = self._next
                self._next += 1
            try:
                result: Any = self._fetch(self._windows[i])
            except Exception as exc:  # handed to the consumer, raised there
                result = exc
            with self._cond:
                self._results[i] = result
                self._cond.notify_all()

    def get(self, i: int, should_stop: Callable[[], bool]) -> Any:
        """Window ``i``'s rows or exception; ``None`` when ``should_stop`` turned true first."""
        with self._cond:
            while i not in self._results:
                if should_stop():
                    return None
                self._cond.wait(timeout=0.1)
            self._consumed = i + 1
            self._cond.notify_all()
            return self._results.pop(i)

    def stop(self) -> dict[int, Any]:
        """No new windows; return those already fetched."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            done, self._results = self._results, {}
            return done


def _fetch_window(adapter: ExchangeAdapter, symbol: str,
                  window: tuple[int, int]) -> np.ndarray:
    """Every candle the exchange has in ``window``; asks again after a short answer."""
    a, b = window
    parts = []
    cursor = a
    while cursor <= b:
        rows = adapter.fetch_ohlcv(symbol, cursor, min(adapter.page_limit, _minutes(cursor, b)),
                                   end_ms=b)
        rows = rows[(rows[:, 0] >= cursor) & (rows[:, 0] <= b)]
        if len(rows) == 0:
            break
        parts.append(rows)
        last = int(rows[-1, 0])
        if last >= b:
            break
        cursor = last + MINUTE_MS
    if not parts:
        return np.empty((0, 6), dtype=np.float64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# ---------------------------------------------------------------------- the mode


def run(
    config: Config,
    exchange: str,
    symbol: str,
    start: str | int,
    end: str | int | None = None,
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    adapter: ExchangeAdapter | None = None,
    workers: int = DEFAULT_WORKERS,
    refetch_gaps: bool = False,
) -> ImportSummary:
    """Import the 1m candles of ``[start, end)`` into the open database; return what happened.

    Raises InputError for bad input (before any candle request) and ExchangeError when the
    exchange keeps failing (after saving what was fetched). ``should_stop`` is polled between
    windows and by every wait of the adapter (backoff, ``Retry-After``, rate limit): when it
    returns true the import stops, keeping what was saved, and the summary has
    ``interrupted=True``. ``refetch_gaps`` asks the exchange again for the minutes it answered
    without candles before (and for the listing), instead of reporting them from the database.
    """
    from jbt.exchanges import get_adapter

    began = time.perf_counter()
    now = now_ms()
    first, last = resolve_period(start, end, now=now)
    settled = (now // MINUTE_MS) * MINUTE_MS - MINUTE_MS - GAP_SETTLE_MS
    if adapter is None:
        adapter = get_adapter(exchange, config)
    name = adapter.name
    symbol = adapter.validate_symbol(symbol)
    requests_before = adapter.requests
    stop = should_stop or (lambda: False)
    summary = ImportSummary(exchange=name, symbol=symbol, timeframe=TIMEFRAME,
                            requested_start=first, end=last, start=first)

    def finish() -> ImportSummary:
        summary.requests = adapter.requests - requests_before
        summary.duration_s = time.perf_counter() - began
        summary.missing_ranges = _merge(summary.missing_ranges)
        return summary

    previous_stop, adapter.should_stop = adapter.should_stop, stop
    try:
        return _run(adapter, summary, finish, stop, progress, workers, refetch_gaps, settled)
    except Cancelled:
        summary.interrupted = True
        return finish()
    finally:
        adapter.should_stop = previous_stop


def _run(adapter: ExchangeAdapter, summary: ImportSummary, finish: Callable[[], ImportSummary],
         stop: Callable[[], bool], progress: Callable[[ImportProgress], None] | None,
         workers: int, refetch_gaps: bool, settled: int) -> ImportSummary:
    from jbt import candles

    name, symbol = summary.exchange, summary.symbol
    first, last = summary.requested_start, summary.end
    if candles.count_candles(name, symbol, TIMEFRAME, first, first) == 0:
        listing = None if refetch_gaps else _known_listing(name, symbol)
        if listing is None and (refetch_gaps
                                or not known_gaps(name, symbol, TIMEFRAME, first, first)):
            listing = adapter.first_timestamp(symbol)
            if listing is not None:
                _save_listing(name, symbol, listing)
        summary.listing = listing
        if listing is not None and listing > last:
            summary.notes.append(
                f"{symbol} is listed on {name} from {format_ms(listing)}, after the end of the "
                "period; nothing to import"
            )
            summary.start = listing
            return finish()
        if listing is not None and listing > first:
            summary.start = listing
            summary.notes.append(
                f"{symbol} begins on {name} at {format_ms(listing)}; importing from there "
                f"instead of {format_ms(first)}"
            )
    begin = summary.start
    summary.already_present = candles.count_candles(name, symbol, TIMEFRAME, begin, last)
    holes = candles.missing_ranges(name, symbol, TIMEFRAME, begin, last)
    if not refetch_gaps:
        known = _intersect(holes, known_gaps(name, symbol, TIMEFRAME, begin, last))
        summary.missing_ranges.extend(known)
        holes = _subtract(holes, known)
    windows = _windows(holes, adapter.page_limit)
    total = sum(_minutes(a, b) for a, b in windows)
    done = 0
    if progress is not None:
        progress(ImportProgress(0, total, 0, 0))
    if not windows:
        return finish()

    def store(window: tuple[int, int], rows: np.ndarray) -> None:
        absent = _holes_in(window, rows[:, 0])
        with _transaction():
            inserted = candles.insert_candles(name, symbol, TIMEFRAME, rows)
            _record_gaps(name, symbol, window, absent, settled)
        summary.fetched += len(rows)
        summary.inserted += inserted
        summary.missing_ranges.extend(absent)

    pipeline = _Pipeline(lambda w: _fetch_window(adapter, symbol, w), windows, workers)
    try:
        for i, window in enumerate(windows):
            result = pipeline.get(i, stop)
            if result is None or isinstance(result, Cancelled):
                summary.interrupted = True
                break
            if isinstance(result, Exception):
                for j, rows in sorted(pipeline.stop().items()):
                    if not isinstance(rows, Exception):
                        store(windows[j], rows)
                if isinstance(result, ExchangeError):
                    raise ExchangeError(
                        f"{result}; {summary.inserted:,} new candles were saved, run the same "
                        "command again to resume"
                    ) from result
                raise result
            store(window, result)
            done += _minutes(*window)
            if progress is not None:
                progress(ImportProgress(done, total, summary.fetched, summary.inserted))
            if stop() and i + 1 < len(windows):
                summary.interrupted = True
                break
    finally:
        pipeline.stop()
    return finish()


# ---------------------------------------------------------------------- command line


def run_cli(state: Any, exchange: str, symbol: str, start: str, end: str | None = None,
            refetch_gaps: bool = False) -> None:
    """``jbt import-candles EXCHANGE SYMBOL START [--end END] [--refetch-gaps]`` with a progress
    bar."""
    import typer
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from jbt.exchanges import get_adapter

    config = state.config()
    resolve_period(start, end)  # bad dates fail before anything else
    adapter = get_adapter(exchange, config)
    symbol = adapter.validate_symbol(symbol)
    state.open_db()

    console = Console(stderr=True)
    stop_event = threading.Event()
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        if stop_event.is_set():  # a second Ctrl-C: stop right now
            raise KeyboardInterrupt
        stop_event.set()

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)

    columns = (
        TextColumn(f"{adapter.name} {symbol}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]} candles/s"), TextColumn("ETA"), TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    began = time.perf_counter()
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("import", total=None, rate="0")

            def on_progress(p: ImportProgress) -> None:
                elapsed = time.perf_counter() - began
                rate = f"{p.fetched / elapsed:,.0f}" if elapsed > 0 else "0"
                bar.update(task, total=max(p.total, 1), completed=p.done if p.total else 1,
                           rate=rate)

            summary = run(config, adapter.name, symbol, start, end, progress=on_progress,
                          should_stop=stop_event.is_set, adapter=adapter,
                          refetch_gaps=refetch_gaps)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        adapter.close()
    render_summary(summary, Console())
    if summary.interrupted:
        console.print("Interrupted: everything saved so far is kept; run the same command "
                      "again to resume.")
        raise typer.Exit(130)


def render_summary(summary: ImportSummary, console: Any) -> None:
    """The summary table (and notes) of an import."""
    from rich.table import Table

    for note in summary.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{summary.exchange} {summary.symbol} {summary.timeframe}",
                  show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    period = f"{format_ms(summary.start)} → {format_ms(summary.end)}"
    if summary.start > summary.end:
        period = "nothing to import"
    table.add_row("period (UTC)", period)
    table.add_row("fetched", f"{summary.fetched:,}")
    table.add_row("inserted", f"{summary.inserted:,}")
    table.add_row("already present", f"{summary.already_present:,}")
    table.add_row("missing on the exchange", f"{summary.missing:,}")
    table.add_row("requests", f"{summary.requests:,}")
    rate = summary.candles_per_s
    table.add_row("time", f"{summary.duration_s:.1f} s ({rate:,.0f} candles/s)"
                  if math.isfinite(rate) else f"{summary.duration_s:.1f} s")
    console.print(table)
    if summary.missing_ranges:
        shown = summary.missing_ranges[:20]
        console.print("Missing ranges (the exchange has no candles for these minutes):")
        for a, b in shown:
            console.print(f"  {format_ms(a)} → {format_ms(b)}  ({_minutes(a, b):,} min)",
                          highlight=False)
        if len(summary.missing_ranges) > len(shown):
            console.print(f"  ... and {len(summary.missing_ranges) - len(shown)} more ranges")
