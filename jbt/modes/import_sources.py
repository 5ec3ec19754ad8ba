"""``jbt import-candles`` beyond trade candles from the REST API: ``--funding``, ``--mark`` and
``--source archive``, and what their command-line runs share (progress bar, Ctrl-C)."""

from __future__ import annotations

from typing import Any

from jbt.errors import InputError
from jbt.modes.import_progress import progress_bar, sigint_stop

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
