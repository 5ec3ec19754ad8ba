"""Inclusive ranges of integer times, ``(first, last)``: merged and subtracted."""

from __future__ import annotations

Range = tuple[int, int]


def merge(ranges: list[Range], touch: int = 1) -> list[Range]:
    """Sorted, disjoint ranges covering the same times; ranges closer than ``touch`` (the
    grid's step: 1 ms, or a minute for minute open times) become one."""
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + touch:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(ranges: list[Range], cut: list[Range], step: int = 1) -> list[Range]:
    """The times of the sorted, disjoint ``ranges`` outside every range of ``cut``, on a grid
    of ``step``."""
    cut = merge(cut, step)
    out: list[Range] = []
    for a, b in ranges:
        cursor = a
        for c, d in cut:
            if d < cursor or c > b:
                continue
            if c > cursor:
                out.append((cursor, c - step))
            cursor = max(cursor, d + step)
        if cursor <= b:
            out.append((cursor, b))
    return out
