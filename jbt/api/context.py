"""What one app instance owns: the config, the project folder, the database and its jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee as pw

from jbt.api.backtests import BacktestRunner, QueueFull
from jbt.api.jobs import JobManager
from jbt.config import Config
from jbt.errors import InputError
from jbt.routes import STRATEGIES_DIR, available_strategies

if TYPE_CHECKING:
    from jbt.exchanges.base import ExchangeAdapter

#: The numbers of an import summary a job shows under ``counts``.
IMPORT_COUNTS = ("fetched", "inserted", "already_present", "missing", "requests")
#: Import requests checked at once (each loads the exchange's market list); one more gets 429.
MAX_IMPORT_CHECKS = 4
#: Why backtests stop when the server stops.
STOPPING = "the server is stopping"


@dataclass
class ApiContext:
    config: Config
    project_dir: Path
    jobs: JobManager = field(default_factory=JobManager)
    #: Backtests: a few run at once, each in its own worker process; more wait, up to a bound.
    backtests: BacktestRunner = field(
        default_factory=lambda: BacktestRunner(slots=4, max_queued=16, time_limit=1800.0)
    )
    #: Bound at startup (the app's lifespan) by ``open_database``.
    db: pw.Database | None = None
    #: Set (to why) once the server stops: running backtests are cancelled and answer 503.
    stopping: str | None = None
    import_checks: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MAX_IMPORT_CHECKS)
    )

    def begin_shutdown(self, reason: str = STOPPING) -> None:
        """Stop taking work: safe to call from a signal handler (it only sets a field)."""
        if self.stopping is None:
            self.stopping = reason

    def check_strategy(self, name: str) -> None:
        """InputError unless ``strategies/<name>/__init__.py`` exists in the project."""
        names = available_strategies(self.project_dir)
        if name not in names:
            listed = ", ".join(names) if names else "none (create one with: jbt new MyStrategy)"
            raise InputError(
                f"strategy '{name}' not found in {STRATEGIES_DIR}/; available: {listed}"
            )

    def prepare_import(
        self, exchange: str, symbol: str, start: str, end: str | None
    ) -> tuple[ExchangeAdapter, str, int, int]:
        """Check an import before any job starts: the dates, the exchange and the symbol (which
        loads the exchange's market list). Returns the adapter, the symbol in our spelling and
        the first and last minute wanted (epoch ms, inclusive)."""
        from jbt.exchanges import get_adapter
        from jbt.modes.import_candles_mode import resolve_period

        first, last = resolve_period(start, end)
        adapter = get_adapter(exchange, self.config)
        try:
            symbol = adapter.validate_symbol(symbol)
        except BaseException:
            adapter.close()
            raise
        return adapter, symbol, first, last

    def start_import(self, exchange: str, symbol: str, start: str, end: str | None) -> dict:
        """Validate, then run ``import_candles_mode.run`` as a background job; its snapshot."""
        from jbt.modes import import_candles_mode

        if not self.import_checks.acquire(blocking=False):
            raise QueueFull(5)
        try:
            adapter, symbol, first, last = self.prepare_import(exchange, symbol, start, end)
        finally:
            self.import_checks.release()
        params = {
            "exchange": adapter.name,
            "symbol": symbol,
            "start": start,
            "end": end,
            "first": first,
            "last": last,
        }

        def work(report: Callable[..., None], should_stop: Callable[[], bool]) -> dict[str, Any]:
            def on_progress(p: Any) -> None:
                percent = round(100.0 * p.done / p.total, 2) if p.total else 100.0
                report(
                    {"done": p.done, "total": p.total, "percent": percent},
                    {"fetched": p.fetched, "inserted": p.inserted},
                )

            try:
                with self.db.connection_context():
                    summary = import_candles_mode.run(
                        self.config,
                        adapter.name,
                        symbol,
                        start,
                        end,
                        progress=on_progress,
                        should_stop=should_stop,
                        adapter=adapter,
                    )
            finally:
                adapter.close()
            result = summary.to_dict()
            report(None, {k: result[k] for k in IMPORT_COUNTS})
            return result

        try:
            return self.jobs.submit("import", params, work, key=f"{adapter.name}:{symbol}")
        except BaseException:
            adapter.close()
            raise
