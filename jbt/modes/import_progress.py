"""What the command-line imports share: a Rich progress bar fed with import progress, and
Ctrl-C turned into a request to stop after the current step."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jbt.modes.import_candles_mode import ImportProgress


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
