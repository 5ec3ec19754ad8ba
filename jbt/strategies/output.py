"""Gather what strategies log (``self.log``) and draw (the chart helpers) during one run.

A run's caller opens :func:`collect` around the engine call; a strategy that logs or draws
registers itself with the collector of the current context (a :class:`~contextvars.ContextVar`,
so runs in other threads never see it). Without a collector the lines still go to the
``jbt.strategy`` Python logger and stay readable on the strategy (``strategy.logs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_CURRENT: ContextVar[Output | None] = ContextVar("jbt_strategy_output", default=None)


class Output:
    """The strategies of one run that logged or drew something."""

    def __init__(self) -> None:
        self.strategies: list[Any] = []

    def logs(self) -> list[dict[str, Any]]:
        """Every logged line (``time``, ``route``, ``level``, ``message``), in time order (route
        order within one time)."""
        lines = [entry for s in self.strategies for entry in s.__dict__.get("_jbt_logs", ())]
        lines.sort(key=lambda e: e["time"])
        return lines

    def charts(self) -> dict[str, dict[str, Any]]:
        """Per route key: the lines drawn (see :class:`jbt.strategies._jesse_compat.ChartData`)."""
        out = {}
        for s in self.strategies:
            chart = s.__dict__.get("_jbt_chart")
            if chart is not None and not chart.is_empty():
                out[s._route.key] = chart.as_dict()
        return out


@contextmanager
def collect() -> Iterator[Output]:
    """Collect the output of the strategies run inside the block."""
    out = Output()
    token = _CURRENT.set(out)
    try:
        yield out
    finally:
        _CURRENT.reset(token)


def register(strategy: Any) -> None:
    """Called by a strategy the first time it logs or draws."""
    out = _CURRENT.get()
    if out is not None and not any(s is strategy for s in out.strategies):
        out.strategies.append(strategy)


def attach(result: Any, out: Output) -> None:
    """Put the collected lines into ``result.extra["logs"]`` / ``["charts"]`` (when any)."""
    logs = out.logs()
    charts = out.charts()
    if logs:
        result.extra["logs"] = logs
    if charts:
        result.extra["charts"] = charts
