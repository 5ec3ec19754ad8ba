"""``jbt import-candles`` beyond trade candles from the REST API: ``--funding``, ``--mark`` and
``--source archive``, and what their command-line runs share (progress bar, Ctrl-C)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jbt.errors import InputError
from jbt.modes.import_candles_mode import ImportProgress

SOURCES = ("api", "archive")


def run_cli(state: Any, exchange: str, symbol: str, start: str, end: str | None, *,
            funding: bool, mark: bool, source: str, refetch_gaps: bool) -> None:
    """Import what the flags ask for: mark-price candles and/or funding rates (else trade
    candles) from the REST API or the archive."""
    from jbt.modes import import_archive_mode, import_candles_mode, import_funding_mode

    if source not in SOURCES:
        raise InputError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    if refetch_gaps and source == "archive":
        raise InputError("--refetch-gaps is for --source api; the archive's files do not change")
    datasets = [name for name, on in (("mark", mark), ("funding", funding)) if on]
    for dataset in datasets or ["candles"]:
        if source == "archive":
            import_archive_mode.run_cli(state, exchange, symbol, start, end, dataset)
        elif dataset == "funding":
            import_funding_mode.run_cli(state, exchange, symbol, start, end, refetch_gaps)
        elif dataset == "mark":
            _mark_cli(state, exchange, symbol, start, end, refetch_gaps)
        else:
            import_candles_mode.run_cli(state, exchange, symbol, start, end, refetch_gaps)


def _mark_cli(state: Any, exchange: str, symbol: str, start: str, end: str | None,
              refetch_gaps: bool) -> None:
    """Mark-price 1m candles through the candle import, stored as ``EXCHANGE:mark``."""
    import typer
    from rich.console import Console

    from jbt.exchanges import get_adapter
    from jbt.exchanges.futures import MarkPriceAdapter
    from jbt.modes import import_candles_mode

    config = state.config()
    import_candles_mode.resolve_period(start, end)
    inner = get_adapter(exchange, config)
    try:
        adapter = MarkPriceAdapter(inner)
        symbol = adapter.validate_symbol(symbol)
        state.open_db()
        with sigint_stop() as stop, progress_bar(f"{adapter.name} {symbol}", "candles") as bar:
            summary = import_candles_mode.run(config, exchange, symbol, start, end,
                                              progress=bar, should_stop=stop, adapter=adapter,
                                              refetch_gaps=refetch_gaps)
    finally:
        inner.close()
    import_candles_mode.render_summary(summary, Console())
    if summary.interrupted:
        Console(stderr=True).print("Interrupted: everything saved so far is kept; run the same "
                                   "command again to resume.")
        raise typer.Exit(130)


@contextmanager
def sigint_stop() -> Iterator[Callable[[], bool]]:
    """While open, the first Ctrl-C asks the import to stop after its current step (the
    function yielded turns true); a second one stops at once."""
    event = threading.Event()
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield event.is_set
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def progress_bar(label: str, unit: str) -> Iterator[Callable[[ImportProgress], None]]:
    """A Rich progress bar on stderr, fed with :class:`ImportProgress` (``fetched`` counts
    ``unit``)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    began = time.perf_counter()
    bar = Progress(TextColumn(label), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[count]} " + unit + " ({task.fields[rate]}/s)"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=False)
    task = bar.add_task("import", total=None, count="0", rate="0")

    def update(p: ImportProgress) -> None:
        elapsed = time.perf_counter() - began
        bar.update(task, total=max(p.total, 1), completed=p.done if p.total else 1,
                   count=f"{p.fetched:,}", rate=f"{p.fetched / elapsed:,.0f}" if elapsed else "0")

    with bar:
        yield update
