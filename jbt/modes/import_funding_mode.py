"""Import a perpetual contract's funding-rate history: paging, resume, hole report.

``jbt import-candles binance-futures BTC-USDT 2023-01-01 --funding`` calls :func:`run_cli`;
:func:`run` is the mode itself (the archive import calls it for the newest months).

How it goes:

1. The period is the candle import's: START and END (exclusive, default now) in UTC, checked
   before any request, and the symbol against the exchange's perpetual markets.
2. Resume: the times already asked (:class:`jbt.models.FundingSpan`) are not asked again. The
   rest is fetched page by page, oldest first (at most 1000 events a request, each bounded by
   ``endTime``), through the adapter's retries, weight limiter and ``Retry-After`` handling.
3. Each page's events and the span it answered go in one transaction, so a killed import
   keeps every page it finished and a re-run asks only for the rest. The last hour is never
   recorded as asked: the exchange may still publish it.
4. The summary counts the events fetched and new, and reports the holes: funding times the
   exchange has no event for between stored events (the rule in :mod:`jbt.funding`), and the
   first event when the history begins after START.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jbt import funding
from jbt.constants import MINUTE_MS
from jbt.dates import format_ms, now_ms
from jbt.errors import Cancelled, ExchangeError
from jbt.modes.import_candles_mode import GAP_SETTLE_MS, ImportProgress, resolve_period
from jbt.ranges import subtract

if TYPE_CHECKING:
    from jbt.config import Config


@dataclass
class FundingImportSummary:
    exchange: str
    symbol: str
    start: int  # epoch ms, START rounded up to the minute
    end: int  # last moment of the period, inclusive (END - 1 ms)
    fetched: int = 0  # events received from the exchange
    inserted: int = 0  # of those, new in the database
    already_present: int = 0  # events of the period stored before this run
    stored: int = 0  # events of the period stored after it
    first_event: int | None = None  # first and last stored event of the period
    last_event: int | None = None
    intervals: list[int] = field(default_factory=list)  # distinct intervals in the period, ms
    missing_ranges: list[tuple[int, int]] = field(default_factory=list)  # funding times
    missing: int = 0  # events absent in missing_ranges
    requests: int = 0
    duration_s: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange, "symbol": self.symbol, "start": self.start,
            "end": self.end, "fetched": self.fetched, "inserted": self.inserted,
            "already_present": self.already_present, "stored": self.stored,
            "first_event": self.first_event, "last_event": self.last_event,
            "intervals": list(self.intervals), "missing": self.missing,
            "missing_ranges": [list(r) for r in self.missing_ranges],
            "requests": self.requests, "duration_s": self.duration_s,
            "interrupted": self.interrupted, "notes": list(self.notes),
        }


def run(
    config: Config,
    exchange: str,
    symbol: str,
    start: str | int,
    end: str | int | None = None,
    *,
    adapter: Any = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    refetch: bool = False,
) -> FundingImportSummary:
    """Import the funding events of ``[start, end)`` into the open database.

    Raises InputError for bad input (before any funding request) and ExchangeError when the
    exchange keeps failing (after saving what was fetched). ``refetch`` asks for the whole
    period again, in case the exchange has filled holes since.
    """
    from jbt.exchanges import get_adapter
    from jbt.exchanges.futures import FUNDING_PAGE_LIMIT, fetch_funding_rates, require_perpetual

    began = time.perf_counter()
    now = now_ms()
    first, last = resolve_period(start, end, now=now)
    period_end = last + MINUTE_MS - 1
    settled = (now // MINUTE_MS) * MINUTE_MS - GAP_SETTLE_MS
    own_adapter = adapter is None
    if adapter is None:
        adapter = get_adapter(exchange, config)
    try:
        require_perpetual(adapter, "--funding")
        name = adapter.name
        symbol = adapter.validate_symbol(symbol)
        requests_before = adapter.requests
        stop = should_stop or (lambda: False)
        summary = FundingImportSummary(exchange=name, symbol=symbol, start=first, end=period_end)
        summary.already_present = funding.count_funding(name, symbol, first, period_end)
        todo = [(first, period_end)]
        if not refetch:
            todo = subtract(todo, funding.known_spans(name, symbol, first, period_end))
        total = sum(b - a + 1 for a, b in todo) // MINUTE_MS
        done = 0
        if progress is not None:
            progress(ImportProgress(0, total, 0, 0))
        previous_stop, adapter.should_stop = adapter.should_stop, stop
        try:
            for a, b in todo:
                cursor = a
                while cursor <= b and not summary.interrupted:
                    times, rates, marks = fetch_funding_rates(adapter, symbol, cursor, b)
                    full = len(times) >= FUNDING_PAGE_LIMIT
                    answered = int(times[-1]) if full else b
                    with funding._transaction():
                        summary.inserted += funding.insert_funding(
                            name, symbol, times, rates, mark_prices=marks)
                        funding.record_span(name, symbol, cursor, min(answered, settled - 1))
                    summary.fetched += len(times)
                    done += (min(answered, b) - cursor + 1) // MINUTE_MS
                    if progress is not None:
                        progress(ImportProgress(done, total, summary.fetched, summary.inserted))
                    if not full:
                        break
                    cursor = answered + 1
                    if stop():
                        summary.interrupted = True
                if summary.interrupted:
                    break
        except Cancelled:  # stopped while waiting for the exchange (Retry-After, backoff)
            summary.interrupted = True
        except ExchangeError as exc:
            raise ExchangeError(
                f"{exc}; {summary.inserted:,} new funding events were saved, run the same "
                "command again to resume"
            ) from exc
        finally:
            adapter.should_stop = previous_stop
        _describe(summary, name, symbol, first, period_end)
        summary.requests = adapter.requests - requests_before
        summary.duration_s = time.perf_counter() - began
        return summary
    finally:
        if own_adapter:
            adapter.close()


def _describe(summary: FundingImportSummary, name: str, symbol: str, first: int,
              period_end: int) -> None:
    """What is stored for the period after the import: events, intervals, holes, notes."""
    events = funding.load_funding(name, symbol, first, period_end)
    summary.stored = len(events)
    if len(events) == 0:
        if funding.known_spans(name, symbol, first, period_end):
            summary.notes.append(
                f"{name} has no funding events for {symbol} between {format_ms(first)} and "
                f"{format_ms(period_end)}"
            )
        return
    summary.first_event = int(events[0, funding.TIME])
    summary.last_event = int(events[-1, funding.TIME])
    summary.intervals = sorted({int(i) for i in events[:, funding.INTERVAL]})
    summary.missing_ranges = funding.funding_holes(name, symbol, first, period_end)
    summary.missing = funding.count_missing(summary.missing_ranges, name, symbol)
    spans = funding.known_spans(name, symbol, first, first)
    earlier = funding.count_funding(name, symbol, None, first - 1)
    if (spans and not earlier
            and summary.first_event - first > funding.MAX_INTERVAL_MS):
        summary.notes.append(
            f"{symbol}'s funding history on {name} begins at {format_ms(summary.first_event)}"
        )


# ---------------------------------------------------------------------- command line


def run_cli(state: Any, exchange: str, symbol: str, start: str, end: str | None = None,
            refetch: bool = False) -> None:
    """``jbt import-candles EXCHANGE SYMBOL START --funding`` with a progress bar."""
    import typer
    from rich.console import Console

    from jbt.exchanges import get_adapter
    from jbt.exchanges.futures import require_perpetual
    from jbt.modes.import_progress import progress_bar, sigint_stop

    config = state.config()
    resolve_period(start, end)
    adapter = get_adapter(exchange, config)
    try:
        require_perpetual(adapter, "--funding")
        symbol = adapter.validate_symbol(symbol)
        state.open_db()
        with sigint_stop() as stop, progress_bar(f"{adapter.name} {symbol} funding",
                                                 "events") as bar:
            summary = run(config, adapter.name, symbol, start, end, adapter=adapter,
                          progress=bar, should_stop=stop, refetch=refetch)
    finally:
        adapter.close()
    render_summary(summary, Console())
    if summary.interrupted:
        Console(stderr=True).print("Interrupted: everything saved so far is kept; run the same "
                                   "command again to resume.")
        raise typer.Exit(130)


def _interval_name(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    return f"{hours}h" if rest == 0 else f"{ms // MINUTE_MS}m"


def render_summary(summary: FundingImportSummary, console: Any) -> None:
    """The summary table (and notes) of a funding import."""
    from rich.table import Table

    from jbt.importers.render import print_ranges

    for note in summary.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{summary.exchange} {summary.symbol} funding rates", show_header=False,
                  title_justify="left")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_row("period (UTC)", f"{format_ms(summary.start)} → {format_ms(summary.end)}")
    if summary.first_event is not None and summary.last_event is not None:
        table.add_row("events stored", f"{format_ms(summary.first_event)} → "
                      f"{format_ms(summary.last_event)}")
    table.add_row("intervals", ", ".join(_interval_name(i) for i in summary.intervals) or "-")
    table.add_row("fetched", f"{summary.fetched:,}")
    table.add_row("inserted", f"{summary.inserted:,}")
    table.add_row("already present", f"{summary.already_present:,}")
    table.add_row("missing on the exchange", f"{summary.missing:,}")
    table.add_row("requests", f"{summary.requests:,}")
    table.add_row("time", f"{summary.duration_s:.1f} s" if math.isfinite(summary.duration_s)
                  else "-")
    console.print(table)
    print_ranges(console, "Missing funding times (the exchange has no event for these):",
                 summary.missing_ranges)
