"""Perpetual futures inputs of a plan: funding events and mark-price candles, as arrays.

:func:`jbt.plan.plan_run` takes, per (exchange, symbol), the funding events and the mark-price
candles a futures run uses, and this module turns them into what the engine reads.

Funding events
    ``funding[(exchange, symbol)]`` is an array with one row per event, in the columns of
    :func:`jbt.funding.load_funding`: ``[time (epoch ms), rate, interval (ms), mark price]``;
    the last two may be left out (or be 0 / NaN where unknown), and ``(times, rates)`` of two
    1-D arrays is accepted too. A positive rate: longs pay shorts.

    An event is settled at its time rounded down to the minute (Binance's funding times are
    sometimes a few milliseconds late), before anything trades at that time, on the positions
    open then: ``qty × price × rate``, where the price is the mark price the event itself
    gives, else the open of the mark-price candle at that time, else the open of the trade
    candle containing that time (documented fallbacks: the mark price is what exchanges
    settle at; the candle's open is the closest trade price to it). Only events after the
    first call and before the end of the period can meet a position.

    The events given for a symbol must cover the period: every funding time inside it has its
    event. The interval of an event is the one given (a gap of two intervals or more before an
    event is a hole), else the gap before it (a gap longer than 8 hours, or at least twice the
    gaps on both sides of it, is a hole: the rule of :mod:`jbt.funding`). A funding time
    missing inside the period raises :class:`~jbt.errors.CandlesMissingError` naming the import
    command (:func:`jbt.plan.check_funding`), unless ``backtest.funding = "ignore"`` (then no
    funding is charged at all).

Mark-price candles
    ``mark[(exchange, symbol)]`` is a candle array in jbt's column order, of the base
    timeframe or a finer one that divides it (1m as imported with ``--mark``; aggregated to the
    base). Liquidations then follow the mark price; fills stay on trade prices. A base candle
    without its mark candle uses its trade prices for the liquidation check (counted in
    ``RunPlan.mark_filled``, reported as a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jbt.constants import CLOSE, HIGH, HOUR_MS, LOW, MINUTE_MS, OPEN, TIMESTAMP
from jbt.errors import InputError

#: A gap longer than this between two funding events is always a hole (the longest interval
#: exchanges use).
MAX_INTERVAL_MS = 8 * HOUR_MS

SymbolKey = tuple[str, str]


@dataclass(frozen=True)
class FundingEvents:
    """One symbol's funding events as given, sorted: times (ms), rates, intervals (ms, 0 when
    not given) and mark prices (NaN when not given)."""

    times: np.ndarray
    rates: np.ndarray
    intervals: np.ndarray
    marks: np.ndarray


def funding_events(key: SymbolKey, value: Any) -> FundingEvents:
    """``value`` (an array of rows or ``(times, rates)``) as :class:`FundingEvents`;
    ``InputError`` for anything else."""
    name = f"funding for {key[0]} {key[1]}"
    if isinstance(value, (tuple, list)) and len(value) in (2, 3, 4) and all(
            np.ndim(v) == 1 for v in value):
        cols = [np.asarray(v, dtype=np.float64) for v in value]
        if len({len(c) for c in cols}) != 1:
            raise InputError(f"{name}: times and rates differ in length")
        arr = np.column_stack(cols) if len(cols[0]) else np.empty((0, len(cols)))
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name}: expected rows of [time, rate(, interval, mark price)] "
                             "or (times, rates)") from None
        if arr.ndim != 2 or not 2 <= arr.shape[1] <= 4:
            if arr.size == 0:
                arr = np.empty((0, 2))
            else:
                raise InputError(f"{name}: expected rows of [time, rate(, interval, mark "
                                 f"price)], got an array of shape {arr.shape}")
    n = len(arr)
    times = arr[:, 0]
    rates = arr[:, 1]
    if n and not (np.isfinite(times).all() and np.isfinite(rates).all()):
        raise InputError(f"{name}: times and rates must be finite numbers")
    intervals = np.nan_to_num(arr[:, 2]) if arr.shape[1] > 2 else np.zeros(n)
    marks = arr[:, 3] if arr.shape[1] > 3 else np.full(n, np.nan)
    order = np.argsort(times, kind="stable")
    return FundingEvents(times.astype(np.int64)[order], rates[order],
                         intervals.astype(np.int64)[order], marks[order])


def funding_gap(ev: FundingEvents, start: int, end: int) -> tuple[int, int] | None:
    """The first stretch ``(first, last)`` of funding times missing in ``(start, end)``, or
    None when every funding time of the period has its event (the rule in the module
    docstring)."""
    t = ev.times // MINUTE_MS * MINUTE_MS
    n = len(t)
    if n == 0:
        return (start, end - 1)
    gaps = np.r_[0, np.diff(t)]
    stated = ev.intervals > 0
    before = np.r_[0, gaps[:-1]]
    after = np.r_[gaps[1:], 0]
    inner = (np.arange(n) >= 2) & (np.arange(n) <= n - 2)
    inferred_hole = (gaps > MAX_INTERVAL_MS) | (inner & (gaps >= 2 * np.maximum(before, after)))
    with np.errstate(divide="ignore", invalid="ignore"):
        stated_hole = np.round(gaps / np.where(stated, ev.intervals, 1)) >= 2
    hole = np.where(stated, stated_hole, inferred_hole)
    hole[0] = False
    # each event's interval: the one given, else the gap before it (not across a hole), else
    # the nearest event's
    own = np.where(stated, ev.intervals, np.where(hole, 0, gaps))
    if n > 1 and own[0] == 0:
        own[0] = own[1] if own[1] > 0 else gaps[1]
    valid = own > 0
    if not valid.any():
        own = np.full(n, MAX_INTERVAL_MS)
    else:
        k = np.arange(n)
        last_valid = np.maximum.accumulate(np.where(valid, k, -1))
        next_valid = np.minimum.accumulate(np.where(valid, k, n)[::-1])[::-1]
        own = own[np.where(last_valid >= 0, last_valid, next_valid)]

    def first_after(base: int, step: int, x: int) -> int:
        """The first time ``base + k·step`` (k any integer) after ``x``."""
        return base + ((x - base) // step + 1) * step

    # before the first event
    step = int(own[0])
    missing = first_after(int(t[0]), step, start)
    if missing < min(int(t[0]), end):
        return (missing, min(int(t[0]) - step, end - 1))
    # holes between events
    for i in np.flatnonzero(hole).tolist():
        # the missing times: on the grid of the event before the hole, up to one interval of
        # the event after it before that event
        a, b, step, step_after = int(t[i - 1]), int(t[i]), int(own[i - 1]), int(own[i])
        missing = first_after(a, step, max(a, start))
        if missing < min(b - step_after // 2, end):
            return (missing, min(b - step_after, end - 1))
    # after the last event
    step = int(own[-1])
    missing = first_after(int(t[-1]), step, max(int(t[-1]), start))
    if missing < end:
        return (missing, end - 1)
    return None


def settle_prices(ev: FundingEvents, times: np.ndarray, sim: np.ndarray, s0: int, ms: int,
                  base: np.ndarray, mark: np.ndarray | None) -> np.ndarray:
    """The price each event at ``times`` (minutes, after the first simulated candle's open
    ``s0`` or not) is settled at: its own mark price, else the mark open of the base candle
    containing that time (``mark``: aligned to ``sim``), else that candle's open. Inside the
    period the simulated candles are complete, so the candle is found by arithmetic; before
    it, in ``base`` (the previous close when no candle contains the time)."""
    prices = np.array(ev.marks, dtype=np.float64)
    need = ~(np.isfinite(prices) & (prices > 0))
    if not need.any():
        return prices
    m = len(sim)
    idx = (times - s0) // ms
    inside = need & (idx >= 0) & (idx < m)
    source = sim[:, OPEN] if mark is None else mark[:, 0]
    prices[inside] = source[idx[inside]]
    before = need & ~inside
    if before.any():
        bts = base[:, TIMESTAMP]
        at = np.searchsorted(bts, times[before].astype(np.float64), side="right") - 1
        safe = np.maximum(at, 0)
        within = (at >= 0) & (bts[safe] + ms > times[before])
        prices[before] = np.where(within, base[safe, OPEN],
                                  np.where(at >= 0, base[safe, CLOSE], base[0, OPEN]))
    return prices


def align_mark(key: SymbolKey, mark: Any, sim: np.ndarray, base_tf: str) -> tuple[np.ndarray, int]:
    """The mark candle of each simulated base candle as an ``(m, 4)`` array of open, high,
    low, close, and how many base candles had none (their trade prices stand in)."""
    from jbt.timeframes import TIMEFRAMES, aggregate, to_ms

    arr = np.asarray(mark, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise InputError(f"mark-price candles for {key[0]} {key[1]}: expected a candle array "
                         "[timestamp, open, close, high, low, volume]")
    out = np.ascontiguousarray(sim[:, [OPEN, HIGH, LOW, CLOSE]])
    m = len(sim)
    if len(arr) == 0 or m == 0:
        return out, m
    arr = arr[np.argsort(arr[:, TIMESTAMP], kind="stable")]
    base_ms = to_ms(base_tf)
    steps = np.diff(arr[:, TIMESTAMP].astype(np.int64))
    steps = steps[steps > 0]
    step = int(steps.min()) if len(steps) else base_ms
    if step != base_ms:
        tf = next((name for name, ms in TIMEFRAMES.items() if ms == step), None)
        if tf is None or base_ms % step:
            raise InputError(
                f"mark-price candles for {key[0]} {key[1]}: {step} ms apart, which does not "
                f"divide the base timeframe {base_tf}"
            )
        arr = aggregate(arr, tf, base_tf)
        if len(arr) == 0:
            return out, m
    mts = arr[:, TIMESTAMP].astype(np.int64)
    sts = sim[:, TIMESTAMP].astype(np.int64)
    at = np.clip(np.searchsorted(mts, sts), 0, len(mts) - 1)
    found = mts[at] == sts
    rows = arr[at[found]]
    out[found] = rows[:, [OPEN, HIGH, LOW, CLOSE]]
    return out, int(m - found.sum())


__all__ = ["FundingEvents", "align_mark", "funding_events", "funding_gap", "settle_prices"]
