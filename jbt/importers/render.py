"""Rich tables for ``jbt import-candles --file`` and ``jbt candles``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jbt.candles import CoverageRow
from jbt.dates import format_ms
from jbt.funding import FundingCoverageRow
from jbt.importers.files import FileImportSummary
from jbt.timeframes import TIMEFRAMES

#: Missing ranges listed one by one before the rest is summed up in one line.
SHOWN_RANGES = 20


def render_file_summary(summary: FileImportSummary, console: Any) -> None:
    """The summary table of a file import, then the holes between its first and last candle."""
    from rich.table import Table

    table = Table(
        title=f"{summary.exchange} {summary.symbol} {summary.timeframe}",
        show_header=False,
        title_justify="left",
    )
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    table.add_row("file", f"{summary.path} ({summary.format})")
    table.add_row("period (UTC)", f"{format_ms(summary.first)} → {format_ms(summary.last)}")
    table.add_row("rows read", f"{summary.rows_read:,}")
    table.add_row("inserted", f"{summary.inserted:,}")
    table.add_row("already present", f"{summary.already_present:,}")
    table.add_row("missing", f"{summary.missing:,}")
    console.print(table)
    if summary.missing_ranges:
        step = TIMEFRAMES[summary.timeframe]
        console.print(f"Missing ranges ({summary.timeframe} candles absent from the file):")
        for a, b in summary.missing_ranges[:SHOWN_RANGES]:
            n = (b - a) // step + 1
            console.print(f"  {format_ms(a)} → {format_ms(b)}  ({n:,} candles)", highlight=False)
        rest = len(summary.missing_ranges) - SHOWN_RANGES
        if rest > 0:
            console.print(f"  ... and {rest} more ranges")


#: Files at least this large show a progress bar while they are imported.
PROGRESS_BYTES = 32 << 20


@contextmanager
def file_progress(path: Path) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr for a large file (bytes of the file read, MB/s);
    ``None`` for a small one."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        size = 0
    if size < PROGRESS_BYTES:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn(Path(path).name), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("read", total=size)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def print_ranges(console: Any, heading: str, ranges: list[tuple[int, int]]) -> None:
    """``heading``, then the first ``SHOWN_RANGES`` ranges (UTC) and a count of the rest."""
    if not ranges:
        return
    console.print(heading, highlight=False)
    for a, b in ranges[:SHOWN_RANGES]:
        console.print(f"  {format_ms(a)} → {format_ms(b)}", highlight=False)
    if len(ranges) > SHOWN_RANGES:
        console.print(f"  ... and {len(ranges) - SHOWN_RANGES} more ranges")


def render_coverage(rows: list[CoverageRow], console: Any) -> None:
    """One line per stored exchange, symbol and timeframe."""

    if not rows:
        console.print(
            "No candles stored yet; import some with "
            "'jbt import-candles binance BTC-USDT 2024-01-01' or "
            "'jbt import-candles EXCHANGE SYMBOL --file PATH'.",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    table = _listing("Stored candles (times UTC)",
                     ("exchange", "symbol", "timeframe", "first", "last"), ("count", "missing"))
    for row in rows:
        table.add_row(
            row.exchange,
            row.symbol,
            row.timeframe,
            format_ms(row.first),
            format_ms(row.last),
            f"{row.count:,}",
            f"{row.missing:,}",
        )
    console.print(table)


def render_funding_coverage(rows: list[FundingCoverageRow], console: Any) -> None:
    """One line per stored funding history (nothing when there is none); ``every`` lists the
    funding intervals. A full row fits 80 columns."""
    if not rows:
        return
    table = _listing("Stored funding rates (times UTC)", ("exchange", "symbol", "first", "last"),
                     ("count", "every", "missing"))
    for row in rows:
        table.add_row(
            row.exchange,
            row.symbol,
            format_ms(row.first),
            format_ms(row.last),
            f"{row.count:,}",
            "/".join(_hours(ms) for ms in row.intervals),
            f"{row.missing:,}",
        )
    console.print(table)


def _listing(title: str, left: tuple[str, ...], right: tuple[str, ...]) -> Any:
    """A borderless table, one space between columns (a full row fits 80 columns)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, padding=(0, 1),
                  collapse_padding=True, pad_edge=False, header_style="bold")
    for name in left:
        table.add_column(name, no_wrap=True)
    for name in right:
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _hours(ms: int) -> str:
    return f"{ms // 3_600_000}h" if ms % 3_600_000 == 0 else f"{ms // 60_000}m"
