"""Perpetual futures data beside the candles: funding events and mark-price candles.

Funding events live in the ``funding_rate`` table (:class:`jbt.models.FundingRate`), one row per
(exchange, symbol, funding time): the rate, the interval it covers, and the mark price it was
settled at when the exchange gave one. A backtest charges ``position notional × rate`` at each
event the position holds through (longs pay shorts when the rate is positive).

Intervals. Binance settles funding every 8 hours on most contracts, and every 4 or 1 hours on
some, changing it over a contract's life. The archive's files state each event's interval
(``interval_source = "exchange"``); the REST history does not, so it is inferred from the times
of the events around it (``"inferred"``, recomputed whenever events are added):

- The gap before an event is the time since the previous one, rounded to the minute (Binance's
  funding times are sometimes a few milliseconds late).
- The gap is a *hole* (events missing on the exchange's side) when it is longer than
  ``MAX_INTERVAL_MS`` (8 hours, the longest interval exchanges use), or when it is at least
  twice the gaps on both sides of it (4h, 4h, 8h, 4h: one event missing; 4h, 4h, 8h, 8h: the
  interval changed to 8h). With a stated interval, a gap of two intervals or more is a hole.
- An event's interval is its stated one, else the gap before it, else (after a hole, or for
  the first event stored) the interval of the nearest event that has one, else 8 hours.

Two events of one contract less than ``SAME_EVENT_MS`` apart are the same event (the REST API
and the archive sometimes differ by milliseconds): the one stored first is kept.

Mark-price candles are candles: they live in the candle store (:mod:`jbt.candles`) under their
own source name, ``EXCHANGE:mark`` (``binance-futures:mark``), which no exchange has, so they
are never read as trade candles and ``jbt candles`` lists them on their own line.

For the engine: :func:`load_funding` and :func:`load_mark_candles` return numpy arrays for a
period; :func:`funding_holes` says where the history has holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jbt import candles
from jbt.constants import HOUR_MS, MINUTE_MS
from jbt.models import FundingRate, FundingSpan
from jbt.ranges import merge

#: Columns of :func:`load_funding`'s array.
FUNDING_COLUMNS = ("time", "rate", "interval", "mark_price")
TIME, RATE, INTERVAL, MARK_PRICE = 0, 1, 2, 3

#: The interval of an event nothing else tells about.
DEFAULT_INTERVAL_MS = 8 * HOUR_MS
#: A longer gap between two funding events is always a hole.
MAX_INTERVAL_MS = 8 * HOUR_MS
#: Events of one contract closer than this are one event.
SAME_EVENT_MS = MINUTE_MS
#: Where mark-price candles are stored: ``<exchange>:mark``.
MARK_SUFFIX = ":mark"

_TABLE = f'"{FundingRate._meta.table_name}"'
_INSERT_PAGE = 500


def mark_source(exchange: str) -> str:
    """The candle-store name of an exchange's mark-price candles: ``binance-futures:mark``."""
    return f"{exchange}{MARK_SUFFIX}"


def load_mark_candles(
    exchange: str, symbol: str, start: int | None = None, end: int | None = None
) -> np.ndarray:
    """Stored 1m mark-price candles with open time in ``[start, end]`` (inclusive): a float64
    ``(n, 6)`` array in the candle order (:mod:`jbt.constants`; volume is 0)."""
    return candles.load_candles(mark_source(exchange), symbol, "1m", start, end)


@dataclass(frozen=True)
class FundingCoverageRow:
    """What is stored for one (exchange, symbol)."""

    exchange: str
    symbol: str
    first: int  # funding time of the first stored event, epoch ms
    last: int
    count: int
    intervals: tuple[int, ...]  # distinct intervals (ms), shortest first
    missing: int  # events absent in holes between first and last


def _db():
    return candles._db()


def _where(db, exchange: str, symbol: str, start: int | None, end: int | None
           ) -> tuple[str, list]:
    p = db.param
    sql = f'"exchange" = {p} AND "symbol" = {p}'
    params: list = [exchange, symbol]
    if start is not None:
        sql += f' AND "timestamp" >= {p}'
        params.append(int(start))
    if end is not None:
        sql += f' AND "timestamp" <= {p}'
        params.append(int(end))
    return sql, params


def _transaction():
    return candles._write_transaction(_db())


# ------------------------------------------------------------------------------ intervals


def infer_intervals(times: np.ndarray, known: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each event's interval (ms) and whether a hole comes before it, for sorted funding
    ``times``; ``known`` holds stated intervals (0: not stated). The rule is in the module
    docstring."""
    times = np.asarray(times, dtype=np.int64)
    n = len(times)
    known = np.zeros(n, np.int64) if known is None else np.asarray(known, dtype=np.int64)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    gaps = np.zeros(n, np.int64)
    gaps[1:] = np.round(np.diff(times) / MINUTE_MS).astype(np.int64) * MINUTE_MS
    k = np.arange(n)
    before = np.r_[0, gaps[:-1]]  # the gap before the previous event
    after = np.r_[gaps[1:], 0]  # the gap before the next event
    both = (k >= 2) & (k <= n - 2)
    inferred_hole = (gaps > MAX_INTERVAL_MS) | (both & (gaps >= 2 * np.maximum(before, after)))
    with np.errstate(divide="ignore", invalid="ignore"):
        stated_hole = np.round(gaps / np.where(known > 0, known, 1)) >= 2
    hole = np.where(known > 0, stated_hole, inferred_hole)
    hole[0] = False
    own = np.where(known > 0, known, np.where(hole, 0, gaps))
    own[0] = known[0]
    valid = own > 0
    if not valid.any():
        return np.full(n, DEFAULT_INTERVAL_MS, np.int64), hole
    last_valid = np.maximum.accumulate(np.where(valid, k, -1))
    next_valid = np.minimum.accumulate(np.where(valid, k, n)[::-1])[::-1]
    source = np.where(last_valid >= 0, last_valid, next_valid)
    return own[source], hole


def hole_ranges(times: np.ndarray, intervals: np.ndarray, hole: np.ndarray
                ) -> list[tuple[int, int]]:
    """``(first, last)`` funding times missing in each hole, inclusive, on the minute grid."""
    out = []
    for i in np.flatnonzero(hole).tolist():
        step = int(intervals[i])
        prev = int(round(times[i - 1] / MINUTE_MS)) * MINUTE_MS
        gap = int(round(times[i] / MINUTE_MS)) * MINUTE_MS - prev
        count = max(1, round(gap / step) - 1)
        out.append((prev + step, prev + count * step))
    return out


def _series(exchange: str, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, stored intervals and whether each was stated, for one contract, sorted."""
    db = _db()
    where, params = _where(db, exchange, symbol, None, None)
    sql = (f'SELECT "timestamp", "interval_ms", "interval_source" FROM {_TABLE} WHERE {where} '
           'ORDER BY "timestamp"')
    rows = db.execute_sql(sql, params).fetchall()
    times = np.array([r[0] for r in rows], dtype=np.int64)
    intervals = np.array([r[1] for r in rows], dtype=np.int64)
    stated = np.array([r[2] == "exchange" for r in rows], dtype=bool)
    return times, intervals, stated


def _refresh_intervals(exchange: str, symbol: str) -> None:
    """Recompute the inferred intervals of one contract; write those that changed."""
    times, stored, stated = _series(exchange, symbol)
    intervals, _ = infer_intervals(times, np.where(stated, stored, 0))
    changed = np.flatnonzero(intervals != stored)
    if len(changed) == 0:
        return
    db = _db()
    p = db.param
    sql = (f'UPDATE {_TABLE} SET "interval_ms" = {p} WHERE "exchange" = {p} AND "symbol" = {p} '
           f'AND "timestamp" = {p}')
    db.cursor().executemany(sql, [(int(intervals[i]), exchange, symbol, int(times[i]))
                                  for i in changed.tolist()])


# ------------------------------------------------------------------------------ writing


def insert_funding(
    exchange: str,
    symbol: str,
    times: np.ndarray,
    rates: np.ndarray,
    *,
    intervals: np.ndarray | None = None,
    mark_prices: np.ndarray | None = None,
) -> int:
    """Store funding events; return how many were new.

    ``intervals`` (ms) are the exchange's stated intervals, when it gave them (0 or absent:
    inferred); ``mark_prices`` may hold NaN. Events of the same contract within
    ``SAME_EVENT_MS`` of a stored one (or of an earlier one in the call) are skipped. One
    transaction (a savepoint inside the caller's), which also refreshes the inferred intervals.
    """
    times = np.asarray(times, dtype=np.int64)
    rates = np.asarray(rates, dtype=np.float64)
    n = len(times)
    stated = np.zeros(n, np.int64) if intervals is None else np.asarray(intervals, np.int64)
    marks = np.full(n, np.nan) if mark_prices is None else np.asarray(mark_prices, np.float64)
    if n == 0:
        return 0
    if not np.isfinite(rates).all():
        raise ValueError("funding rates must be finite numbers")
    order = np.argsort(times, kind="stable")
    times, rates, stated, marks = times[order], rates[order], stated[order], marks[order]
    keep = np.r_[True, np.diff(times) >= SAME_EVENT_MS]
    with _transaction():
        db = _db()
        where, params = _where(db, exchange, symbol, int(times[0]) - SAME_EVENT_MS,
                               int(times[-1]) + SAME_EVENT_MS)
        near = np.array([r[0] for r in db.execute_sql(
            f'SELECT "timestamp" FROM {_TABLE} WHERE {where} ORDER BY "timestamp"', params)],
            dtype=np.int64)
        if len(near):
            at = np.searchsorted(near, times)
            left = np.abs(times - near[np.maximum(at - 1, 0)]) < SAME_EVENT_MS
            right = np.abs(near[np.minimum(at, len(near) - 1)] - times) < SAME_EVENT_MS
            keep &= ~(left | right)
        rows = [
            {"exchange": exchange, "symbol": symbol, "timestamp": t, "rate": r,
             "interval_ms": i, "interval_source": "exchange" if i > 0 else "inferred",
             "mark_price": None if m != m else m}
            for t, r, i, m in zip(times[keep].tolist(), rates[keep].tolist(),
                                  stated[keep].tolist(), marks[keep].tolist(), strict=True)
        ]
        for lo in range(0, len(rows), _INSERT_PAGE):
            FundingRate.insert_many(rows[lo:lo + _INSERT_PAGE]).on_conflict_ignore().execute()
        if rows:
            _refresh_intervals(exchange, symbol)
    return len(rows)


def count_funding(exchange: str, symbol: str, start: int | None = None,
                  end: int | None = None) -> int:
    """Stored events with funding time in ``[start, end]``."""
    db = _db()
    where, params = _where(db, exchange, symbol, start, end)
    return int(db.execute_sql(f"SELECT COUNT(*) FROM {_TABLE} WHERE {where}", params)
               .fetchone()[0])


def delete_funding(exchange: str, symbol: str) -> int:
    """Remove one contract's events and the record of what was asked; return how many."""
    with _transaction():
        deleted = FundingRate.delete().where(
            (FundingRate.exchange == exchange) & (FundingRate.symbol == symbol)).execute()
        FundingSpan.delete().where(
            (FundingSpan.exchange == exchange) & (FundingSpan.symbol == symbol)).execute()
    return int(deleted)


# ------------------------------------------------------------------------------ reading


def load_funding(exchange: str, symbol: str, start: int | None = None,
                 end: int | None = None) -> np.ndarray:
    """Stored funding events with funding time in ``[start, end]`` (inclusive), sorted.

    A float64 ``(n, 4)`` array: ``[time (epoch ms), rate, interval (ms), mark_price]`` (column
    indices ``TIME``, ``RATE``, ``INTERVAL``, ``MARK_PRICE``); the mark price is NaN where the
    exchange gave none. ``(0, 4)`` when nothing matches.
    """
    db = _db()
    where, params = _where(db, exchange, symbol, start, end)
    sql = (f'SELECT "timestamp", "rate", "interval_ms", "mark_price" FROM {_TABLE} '
           f'WHERE {where} ORDER BY "timestamp"')
    rows = db.execute_sql(sql, params).fetchall()
    if not rows:
        return np.empty((0, 4), dtype=np.float64)
    return np.array([(t, r, i, np.nan if m is None else m) for t, r, i, m in rows],
                    dtype=np.float64)


def funding_holes(exchange: str, symbol: str, start: int | None = None,
                  end: int | None = None) -> list[tuple[int, int]]:
    """Funding times missing between stored events (the rule in the module docstring), as
    inclusive ``(first, last)`` ranges clipped to ``[start, end]``."""
    times, stored, stated = _series(exchange, symbol)
    intervals, hole = infer_intervals(times, np.where(stated, stored, 0))
    out = []
    for a, b in hole_ranges(times, intervals, hole):
        lo = a if start is None else max(a, start)
        hi = b if end is None else min(b, end)
        if lo <= hi:
            out.append((lo, hi))
    return out


def count_missing(ranges: list[tuple[int, int]], exchange: str, symbol: str) -> int:
    """Funding events absent in ``ranges`` (from :func:`funding_holes`), at the interval of the
    event after each range."""
    if not ranges:
        return 0
    events = load_funding(exchange, symbol)
    times = events[:, TIME]
    total = 0
    for a, b in ranges:
        i = min(int(np.searchsorted(times, b)), len(times) - 1)
        step = int(events[i, INTERVAL]) or DEFAULT_INTERVAL_MS
        total += (b - a) // step + 1
    return total


def funding_coverage() -> list[FundingCoverageRow]:
    """One row per stored (exchange, symbol), sorted by those two."""
    db = _db()
    sql = (f'SELECT "exchange", "symbol", MIN("timestamp"), MAX("timestamp"), COUNT(*) '
           f'FROM {_TABLE} GROUP BY "exchange", "symbol" ORDER BY "exchange", "symbol"')
    out = []
    for exchange, symbol, first, last, count in db.execute_sql(sql).fetchall():
        times, stored, stated = _series(exchange, symbol)
        intervals, hole = infer_intervals(times, np.where(stated, stored, 0))
        missing = sum((b - a) // int(intervals[i]) + 1 for (a, b), i in
                      zip(hole_ranges(times, intervals, hole),
                          np.flatnonzero(hole).tolist(), strict=True))
        out.append(FundingCoverageRow(
            exchange=exchange, symbol=symbol, first=int(first), last=int(last),
            count=int(count), intervals=tuple(sorted(set(intervals.tolist()))),
            missing=int(missing),
        ))
    return out


# ------------------------------------------------------------------------------ spans asked


def known_spans(exchange: str, symbol: str, start: int | None = None,
                end: int | None = None) -> list[tuple[int, int]]:
    """Recorded spans overlapping ``[start, end]`` (clipped to it), merged, sorted."""
    query = FundingSpan.select(FundingSpan.start, FundingSpan.end).where(
        (FundingSpan.exchange == exchange) & (FundingSpan.symbol == symbol))
    if start is not None:
        query = query.where(FundingSpan.end >= start)
    if end is not None:
        query = query.where(FundingSpan.start <= end)
    lo = -np.inf if start is None else start
    hi = np.inf if end is None else end
    return merge([(int(max(a, lo)), int(min(b, hi))) for a, b in query.tuples()])


def record_span(exchange: str, symbol: str, start: int, end: int) -> None:
    """Add ``[start, end]`` to what was asked, merged with the spans it touches. Call in the
    transaction that stores the events of that span."""
    if end < start:
        return
    key = (FundingSpan.exchange == exchange) & (FundingSpan.symbol == symbol)
    near = key & (FundingSpan.end >= start - 1) & (FundingSpan.start <= end + 1)
    old = [(int(a), int(b)) for a, b in
           FundingSpan.select(FundingSpan.start, FundingSpan.end).where(near).tuples()]
    merged = merge([*old, (start, end)])
    if old:
        FundingSpan.delete().where(near).execute()
    FundingSpan.insert_many([{"exchange": exchange, "symbol": symbol, "start": a, "end": b}
                             for a, b in merged]).execute()
