"""What one app instance owns: the config, the project folder, the database and its jobs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee as pw

from jbt.api.backtests import BacktestRunner, QueueFull
from jbt.api.jobs import ACTIVE, JobManager
from jbt.api.optimizations import OptimizeRunner
from jbt.config import Config
from jbt.errors import Cancelled, InputError
from jbt.routes import STRATEGIES_DIR, available_strategies

if TYPE_CHECKING:
    from jbt.exchanges.base import ExchangeAdapter

#: The numbers of an import summary a job shows under ``counts``.
IMPORT_COUNTS = ("fetched", "inserted", "already_present", "missing", "requests")
#: Import requests checked at once (each loads the exchange's market list); one more gets 429.
MAX_IMPORT_CHECKS = 4
#: Why backtests stop when the server stops.
STOPPING = "the server is stopping"
#: Longest an import request waits for the exchange's market list (the symbol check). When
#: the check has to wait (a retry's backoff, a Retry-After) or takes longer, the request
#: answers with the job at once; the job waits on, and ``DELETE /jobs/ID`` or stopping the
#: server ends it.
IMPORT_CHECK_S = 3.0


@dataclass
class ApiContext:
    config: Config
    project_dir: Path
    jobs: JobManager = field(default_factory=JobManager)
    #: Backtests: a few run at once, each in its own worker process; more wait, up to a bound.
    backtests: BacktestRunner = field(
        default_factory=lambda: BacktestRunner(slots=4, max_queued=16, time_limit=1800.0)
    )
    #: Optimisations: one at a time, in a coordinator process with its worker processes.
    optimizations: OptimizeRunner = field(
        default_factory=lambda: OptimizeRunner(max_jobs=None, time_limit=86_400.0)
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

    def start_import(self, exchange: str, symbol: str, start: str, end: str | None) -> dict:
        """Validate, then run ``import_candles_mode.run`` as a background job; its snapshot.

        The dates, the exchange and the symbol's format are checked at once; the symbol against
        the exchange's market list on a thread of its own: an unknown symbol or an unreachable
        exchange answered at once is the request's error, before any job. When the check has
        to wait (the exchange holds the market list back with ``Retry-After``, or a retry backs
        off) or takes more than :data:`IMPORT_CHECK_S` seconds, the job is started at once and
        finishes the check itself, cancellable like the rest of the import.
        """
        from jbt.exchanges import get_adapter
        from jbt.modes import import_candles_mode
        from jbt.symbols import normalize_symbol

        if not self.import_checks.acquire(blocking=False):
            raise QueueFull(5)
        try:
            first, last = import_candles_mode.resolve_period(start, end)
            wanted = normalize_symbol(symbol)  # its format, before any request
            adapter = get_adapter(exchange, self.config)
        except BaseException:
            self.import_checks.release()
            raise
        check = _MarketCheck(adapter, symbol, self.import_checks,
                             stop=lambda: self.stopping is not None)
        check.handover.wait(IMPORT_CHECK_S)
        if check.done.is_set():
            if check.error is not None:
                adapter.close()
                raise check.error
            return self._submit_import(adapter, check.symbol, start, end, first, last, None)
        return self._submit_import(adapter, wanted, start, end, first, last, check)

    def _submit_import(
        self,
        adapter: ExchangeAdapter,
        symbol: str,
        start: str,
        end: str | None,
        first: int,
        last: int,
        check: _MarketCheck | None,
    ) -> dict:
        """Run the import as a job; with ``check`` (the market list still awaited) the job
        first waits for it."""
        from jbt.modes import import_candles_mode

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
                if check is not None:
                    held = check.finish(should_stop, first, last)
                    if held is not None:  # cancelled while the market list was held back
                        return held
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
            job = self.jobs.submit("import", params, work, key=f"{adapter.name}:{symbol}")
        except BaseException:
            if check is not None:
                check.abandon()
            adapter.close()
            raise
        if check is not None:
            # a job cancelled before it runs never calls ``work``: the check sees it itself
            check.watch(lambda: (self.jobs.get(job["id"]) or {}).get("status") not in ACTIVE)
        return job


class _MarketCheck:
    """``adapter.validate_symbol(symbol)`` on a thread of its own (it loads the exchange's
    market list, which a ``Retry-After`` can hold back for an hour). Every wait of the adapter
    meanwhile polls ``stop`` and whatever :meth:`watch` adds; ``slot`` (the bound on checks at
    once) is released when the check ends."""

    def __init__(self, adapter: ExchangeAdapter, symbol: str,
                 slot: threading.BoundedSemaphore, *, stop: Callable[[], bool]) -> None:
        self.adapter = adapter
        self.wanted = symbol
        self.done = threading.Event()
        #: set when the check is done or has to wait: the request need not wait any longer
        self.handover = threading.Event()
        self.symbol: str | None = None
        self.error: BaseException | None = None
        self._stops: list[Callable[[], bool]] = [stop]
        self._abandoned = threading.Event()
        self._slot = slot
        adapter.should_stop = self._should_stop
        threading.Thread(target=self._run, name="jbt-import-check", daemon=True).start()

    def _should_stop(self) -> bool:
        self.handover.set()  # asked by every wait of the adapter, when it begins
        return self._abandoned.is_set() or any(stop() for stop in list(self._stops))

    def _run(self) -> None:
        try:
            self.symbol = self.adapter.validate_symbol(self.wanted)
        except BaseException as exc:  # noqa: BLE001 - handed to the request or the job
            self.error = exc
            if isinstance(exc, Cancelled):  # no import follows (a job cancelled while queued
                self.adapter.close()        # never runs to close it)
        finally:
            self.adapter.should_stop = None
            self._slot.release()
            self.done.set()
            self.handover.set()

    def watch(self, stop: Callable[[], bool]) -> None:
        """Stop the check when ``stop()`` turns true too."""
        self._stops.append(stop)

    def abandon(self) -> None:
        self._abandoned.set()

    def finish(self, should_stop: Callable[[], bool], first: int, last: int
               ) -> dict[str, Any] | None:
        """Wait for the check inside the job (an import of ``[first, last]``). ``None`` when
        the symbol is known (the import goes on); the summary of an import that stopped before
        it began when cancelled; the check's error raised (an unknown symbol, an unreachable
        exchange) otherwise."""
        from jbt.modes.import_candles_mode import TIMEFRAME, ImportSummary

        self.watch(should_stop)
        self.done.wait()
        if isinstance(self.error, Cancelled) or (self.error is None and should_stop()):
            return ImportSummary(exchange=self.adapter.name, symbol=self.symbol or self.wanted,
                                 timeframe=TIMEFRAME, requested_start=first, end=last,
                                 start=first, requests=self.adapter.requests,
                                 interrupted=True).to_dict()
        if self.error is not None:
            raise self.error
        return None
