"""Warnings of a run, as a reader can take them in: a few of each kind, then the counts.

A strategy whose orders are refused can produce thousands of identical warnings. The result,
the saved session and the JSON keep every one; the report shows the first few of each kind and
one line with how many more there are of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Warnings shown one by one of each kind before the rest is counted.
SHOWN_PER_KIND = 3

#: Known kinds, recognised by their text, and how the summary line names them.
_KINDS = (
    (re.compile(r"^order #\d+ \(.*\) rejected at .*exceeds the available balance"),
     "orders rejected for insufficient balance"),
    (re.compile(r"warm-up bars stored before the start"), "routes with less warm-up than configured"),
    (re.compile(r"stored \S+ candles? opens? after now"), "symbols with candles stored after now"),
)


def kind_of(warning: str) -> str:
    """The kind a warning is counted under: a known kind's name, or the warning's text with its
    numbers blanked (``order #12 ...`` and ``order #13 ...`` are one kind)."""
    for pattern, name in _KINDS:
        if pattern.search(warning):
            return name
    return "warnings like: " + re.sub(r"\d[\d,.:]*", "#", warning)


def summarize(warnings: Iterable[str], shown: int = SHOWN_PER_KIND) -> list[str]:
    """The lines to print: up to ``shown`` warnings of each kind in their order, then one line
    counting the rest of every kind (``2,628 more orders rejected for insufficient balance``)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for line in warnings:
        kind = kind_of(line)
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= shown:
            out.append(line)
    more = [f"{n - shown:,} more {kind}" for kind, n in seen.items() if n > shown]
    if more:
        out.append("; ".join(more) + " (all of them are in the saved session and --json)")
    return out


__all__ = ["SHOWN_PER_KIND", "kind_of", "summarize"]
