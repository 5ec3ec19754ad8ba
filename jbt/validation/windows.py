"""Durations (``180d``, ``4w``, ``12h``) and the windows of a walk-forward analysis.

Rolling windows (the default): window ``k`` trains on ``[S + k·step, S + k·step + train)``
and tests on the ``test`` after it. Anchored windows (``--anchored``) all train from ``S``:
``[S, S + train + k·step)``. Windows are made while the testing part ends at or before END;
``step`` defaults to ``test``, so the testing parts follow each other without a gap. A step
shorter than the testing part would test some days twice, so it is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jbt.constants import DAY_MS
from jbt.errors import InputError

_UNITS = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_DURATION = re.compile(r"(\d+)([mhdw])")


def parse_duration(text: str, option: str) -> int:
    """``180d``, ``4w``, ``12h``, ``90m``: milliseconds; one line naming ``option`` when the
    text is not a duration."""
    raw = (text or "").strip().lower()
    m = _DURATION.fullmatch(raw)
    if m is None or int(m.group(1)) == 0:
        raise InputError(f"{option} '{text}': give a duration such as 180d, 4w or 12h "
                         "(days, weeks, hours, minutes)")
    return int(m.group(1)) * _UNITS[m.group(2)]


def fmt_duration(ms: int) -> str:
    """The shortest way to write a duration back (``180d``, ``4w``, ``36h``)."""
    for unit in ("w", "d", "h", "m"):
        if ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class Window:
    index: int
    train_start: int
    train_end: int  # = test_start
    test_end: int

    @property
    def test_start(self) -> int:
        return self.train_end

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "train_start": self.train_start,
                "train_end": self.train_end, "test_start": self.test_start,
                "test_end": self.test_end}


def make_windows(start: int, end: int, train: int, test: int, step: int | None = None,
                 anchored: bool = False, align: int = 1) -> list[Window]:
    """The windows of ``[start, end)`` (see the module docstring). ``align``: every boundary
    must fall on a multiple of it (the coarsest route timeframe)."""
    step = test if step is None else step
    if step < test:
        raise InputError("--step must be at least --test: a shorter step would test some days "
                         "in two windows")
    for name, value in (("--train", train), ("--test", test), ("--step", step)):
        if value % align:
            raise InputError(f"{name} must be a whole number of the routes' longest timeframe "
                             f"({fmt_duration(align)})")
    if start % align:
        raise InputError(f"START must fall on the routes' longest timeframe ({fmt_duration(align)})")
    out = []
    k = 0
    while True:
        first = start if anchored else start + k * step
        train_end = start + train + k * step
        test_end = train_end + test
        if test_end > end:
            break
        out.append(Window(k, first, train_end, test_end))
        k += 1
    if not out:
        raise InputError(
            f"the period holds no window of {fmt_duration(train)} training and "
            f"{fmt_duration(test)} testing ({(end - start) / DAY_MS:g} days from START to END); "
            "give a longer period or shorter --train/--test"
        )
    return out
