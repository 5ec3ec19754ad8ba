"""The set-up of a backtest as a value: :func:`plan_run` checks the routes, the period and the
candles once and returns a frozen :class:`RunPlan` that any number of runs can share.

A plan holds everything about a run that does not depend on the strategies or their
hyperparameters: each route's bars (aggregated once, read-only, shared by the routes of one
symbol and timeframe), the clock (every time some route has a bar closing), which routes run at
each step, and, per symbol and step, the open (``self.price``), the high and low of the interval
that follows (for the fast path), and the mark prices of the equity curve. Running a plan
(:func:`jbt.engine.run_plan`) costs only the bar loop, so an optimiser builds one plan and runs
it with thousands of hyperparameter sets; each run gives what a fresh
:func:`jbt.engine.run_backtest` gives.

Validation lives here and only here: routes (at least one, no duplicate, a timeframe that is a
multiple of the stored base), the period (``start < end``, inside the candles given, enough
history for the warm-up when ``start`` is left out) and missing candles inside the period
(refused with the ``jbt import-candles`` command that fetches them, or filled when
``missing_candles = "fill"``). The backtest mode, the HTTP API and :mod:`jbt.research` call
these functions instead of repeating the checks.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.constants import CLOSE, HIGH, LOW, MINUTE_MS, OPEN, TIMESTAMP, VOLUME
from jbt.dates import now_ms
from jbt.errors import CandlesMissingError, InputError
from jbt.perpetuals import FundingEvents, align_mark, funding_events, funding_gap, settle_prices
from jbt.results import RouteSpec
from jbt.timeframes import aggregate, bar_open, normalize, to_ms

SymbolKey = tuple[str, str]
CandleKey = tuple[str, str, str]
INF = float("inf")
#: Prefix views of bars a plan keeps for its later runs, at most (see :meth:`RunPlan.prefixes`):
#: about 9 MB, seven years of 1h bars or a year and a half of 15m (an optimiser's worker keeps
#: a plan per period).
PREFIXES_KEPT = 1 << 16


# ---------------------------------------------------------------------------------- checks


def check_period(start: int | None, end: int | None) -> None:
    """``InputError`` unless ``start`` is before ``end`` (either may be None: not given)."""
    if start is not None and end is not None and end <= start:
        raise InputError(f"start ({_date(start)}) must be before end ({_date(end)})")


def check_routes(routes: Iterable[RouteSpec]) -> list[RouteSpec]:
    """The routes with their timeframes normalised; ``InputError`` for none or a duplicate."""
    out = [RouteSpec(r.exchange, r.symbol, normalize(r.timeframe), r.strategy) for r in routes]
    if not out:
        raise InputError("no routes to backtest: add at least one route to routes.py")
    seen: set[str] = set()
    for r in out:
        if r.key in seen:
            raise InputError(f"duplicated route {r.key}")
        seen.add(r.key)
    return out


def check_extra(extra: Iterable[tuple[str, str, str]]) -> list[CandleKey]:
    """``extra_candles`` entries with their timeframes normalised, without duplicates."""
    out: list[CandleKey] = []
    for e, s, tf in extra:
        key = (e, s, normalize(tf))
        if key not in out:
            out.append(key)
    return out


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True, eq=False)
class SymbolPlan:
    """One (exchange, symbol): its base candles and per-clock-step lookups into them."""

    key: SymbolKey
    #: position among the run's symbols (orders of two symbols at one time: this order)
    index: int
    #: the base timeframe and its length
    tf: str
    ms: int
    #: every base candle given (warm-up included), read-only
    base: np.ndarray
    #: the base candles simulated: those opening in ``[s0, end)``, complete
    sim: np.ndarray
    #: the first base-candle open time at or after the start
    s0: int
    #: per clock step: the open of the base candle opening at that time (NaN when none does);
    #: an ``array.array`` of floats (indexed like a list, 8 bytes a value), never changed
    opens: Sequence[float]
    #: per clock step: the highest high / lowest low of the base candles simulated in it
    ihigh: np.ndarray
    ilow: np.ndarray
    #: per equity sample: the close of the last base candle closed at the sample's time
    eq_marks: np.ndarray
    #: mark-price candles (futures): per simulated base candle its mark open, high, low and
    #: close (trade prices where none was given), per clock step the mark open and the
    #: interval's mark high/low; None without mark candles
    mark: np.ndarray | None = None
    mopens: Sequence[float] | None = None
    mihigh: np.ndarray | None = None
    milow: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class RoutePlan:
    """One route: its bars and when its strategy runs."""

    index: int
    spec: RouteSpec
    symbol: SymbolPlan
    tf_ms: int
    #: the route's bars (warm-up included), read-only; shared by the routes of one symbol and
    #: timeframe and registered once with the indicator cache
    bars: np.ndarray
    #: close time of each bar
    closes: np.ndarray
    #: bars closed at the route's first call (its ``self.candles`` then has this length)
    n_first: int
    #: bars closed at or before the start (the warm-up the strategy gets)
    warmup_bars: int


@dataclass(frozen=True, eq=False)
class RunPlan:
    """What :func:`plan_run` prepared; read-only, reusable by any number of runs, in threads
    or in other processes. Its mappings and lists are never changed by a run; do not change
    them either. A plan pickles as what it was made from (the config, the routes, the base
    candles, the period), and is made again where it is unpickled: a worker process receives
    the candles once and pays ``plan_run`` once."""

    config: Config
    routes: tuple[RouteSpec, ...]
    extra_candles: tuple[CandleKey, ...]
    #: the period simulated, ``[start, end)`` in epoch ms
    start: int
    end: int
    symbols: tuple[SymbolPlan, ...]
    route_plans: tuple[RoutePlan, ...]
    #: (exchange, symbol, timeframe) -> (bars, close times): routes and extra candles
    candles: Mapping[CandleKey, tuple[np.ndarray, np.ndarray]]
    #: every time some route has a bar closing, in order (a range when evenly spaced)
    clock: Sequence[int]
    #: the distinct sets of routes (indices) that run at one step, and each step's set
    groups: tuple[tuple[int, ...], ...]
    group_of: bytes | tuple[int, ...]
    #: per step: 1 when an equity point is recorded before the step
    eq_steps: bytes
    #: the route whose bars the equity curve follows (the shortest timeframe)
    eq_route: int
    #: base timeframe per symbol, and base candles filled per "exchange:symbol"
    base_tf: Mapping[SymbolKey, str]
    filled: Mapping[str, int]
    #: funding events a position can meet (futures), in the order they are settled: time
    #: (ms, a minute), symbol index, rate, settlement price; and per clock step, bit 1: an
    #: event at the step's time, bit 2: events inside the interval after it
    funding_time: Sequence[int] = ()
    funding_symbol: Sequence[int] = ()
    funding_rate: Sequence[float] = ()
    funding_price: Sequence[float] = ()
    funding_steps: bytes = b""
    #: base candles without a mark-price candle per "exchange:symbol" (their trade prices
    #: stand in for the liquidation checks)
    mark_filled: Mapping[str, int] = field(default_factory=dict)
    #: the funding events and mark candles as given (a plan pickles as what it was made from)
    funding_given: Mapping[SymbolKey, Any] | None = None
    mark_given: Mapping[SymbolKey, Any] | None = None

    #: what the runs of a reused plan keep for its later runs (see :meth:`kept`); no part of
    #: the plan's value
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def arrays(self) -> list[np.ndarray]:
        """Every distinct bar array of the plan (what the indicator cache registers)."""
        return [bars for bars, _ in self.candles.values()]

    def started(self) -> bool:
        """Whether a run of the plan started before this call (which counts as a run's start).
        A plan's first run (a one-off :func:`jbt.engine.run_backtest`) keeps nothing; the
        later runs of a reused plan keep what depends only on the plan (:meth:`kept`)."""
        memo = self.memo
        started = memo.get("started", False)
        memo["started"] = True
        return started

    def kept(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, made at the first call and kept with the plan for the later ones. Only
        for values that depend on the plan alone and that no run changes; two threads making
        one at once both get a right value."""
        value = self.memo.get(name)
        if value is None:
            value = self.memo[name] = make()
        return value

    def prefixes(self) -> dict[int, list[np.ndarray]]:
        """Per route bar array (by ``id``), ``[bars[:0], bars[:1], ..., bars[:len(bars)]]``: what
        a run shows the strategy as ``self.candles`` bar after bar, made once and kept with the
        plan for the runs of a reused plan (read-only views of read-only bars: one serves every
        run, in any thread), so that they do not cut a view per bar. At most
        :data:`PREFIXES_KEPT` views are kept (about 140 bytes each): the arrays beyond that get
        none."""
        return self.kept("prefixes", self._prefixes)

    def _prefixes(self) -> dict[int, list[np.ndarray]]:
        views: dict[int, list[np.ndarray]] = {}
        kept = 0
        for rp in self.route_plans:
            bars = rp.bars
            if id(bars) not in views and kept + len(bars) + 1 <= PREFIXES_KEPT:
                kept += len(bars) + 1
                views[id(bars)] = [bars[:n] for n in range(len(bars) + 1)]
        return views

    def __reduce__(self):
        inputs = (self.config, self.routes, {d.key: d.base for d in self.symbols},
                  dict(self.base_tf), self.start, self.end, self.extra_candles)
        given = (None if self.funding_given is None else dict(self.funding_given),
                 None if self.mark_given is None else dict(self.mark_given))
        return _made_again, (inputs, dict(self.filled), given)


def _made_again(inputs: tuple, filled: dict[str, int], given: tuple = (None, None)) -> RunPlan:
    """An unpickled plan: made again from its (already filled) base candles."""
    plan = plan_run(*inputs, funding=given[0], mark=given[1])
    return replace(plan, filled=filled)  # the candles it filled at first


def plan_run(
    config: Config,
    routes: Sequence[RouteSpec],
    candles: Mapping[SymbolKey, np.ndarray],
    base_tf: str | Mapping[SymbolKey, str],
    start: int | None,
    end: int | None,
    extra_candles: Iterable[tuple[str, str, str]] = (),
    *,
    funding: Mapping[SymbolKey, Any] | None = None,
    mark: Mapping[SymbolKey, Any] | None = None,
) -> RunPlan:
    """Check a backtest's routes, period and candles and prepare everything its runs share.

    ``candles[(exchange, symbol)]`` is that symbol's base candles (timeframe ``base_tf``, one
    name or one per symbol), sorted by time, in jbt's column order, including the history
    before the start that the warm-up may use. ``start``/``end`` are epoch ms (``end``
    exclusive); None means: from the first time every route has ``warmup_candles`` bars of
    history / to the end of the candles. Base candles missing in the period raise
    :class:`CandlesMissingError` naming the import command that fetches them; holes between
    candles are filled instead when ``missing_candles = "fill"`` (the previous close carried
    forward as a flat, zero-volume candle), but a period starting before the first candle or
    ending after the last is refused either way. The arrays given are read, never written; the plan keeps read-only
    views of them, so do not modify them while the plan is in use.

    Futures only (:mod:`jbt.perpetuals` has the formats and rules): ``funding[(exchange,
    symbol)]`` are the symbol's funding events (symbols left out, and every symbol when
    ``funding`` is None or ``backtest.funding = "ignore"``, pay no funding); funding times
    missing inside the period raise :class:`CandlesMissingError` naming the import command.
    ``mark[(exchange, symbol)]`` are mark-price candles the liquidations then follow.
    """
    bt = config.backtest
    specs = check_routes(routes)
    extra = check_extra(extra_candles)
    check_period(start, end)

    # ---- the symbols and their base candles
    bases: dict[SymbolKey, tuple[np.ndarray, str]] = {}
    wanted: dict[SymbolKey, list[str]] = {}
    for e, s, tf in [(r.exchange, r.symbol, r.timeframe) for r in specs] + extra:
        wanted.setdefault((e, s), []).append(tf)
    for key, tfs in wanted.items():
        if key not in candles:
            raise CandlesMissingError(f"no candles given for {key[0]} {key[1]}")
        tf = normalize(base_tf if isinstance(base_tf, str) else base_tf[key])
        arr = np.asarray(candles[key], dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 6 or len(arr) == 0:
            raise CandlesMissingError(f"no candles for {key[0]} {key[1]}")
        for want in tfs:
            if to_ms(want) % to_ms(tf):
                raise InputError(
                    f"{key[0]} {key[1]}: timeframe {want} is not a multiple of the base "
                    f"timeframe {tf} of its candles"
                )
        view = arr.view()
        view.flags.writeable = False
        bases[key] = (view, tf)

    # ---- the period [start, end): left out, from the candles; given, checked against them
    warm = bt.warmup_candles
    if start is None:
        start = max(int(a[0, TIMESTAMP]) for a, _ in bases.values())
        for r in specs:
            arr = bases[(r.exchange, r.symbol)][0]
            tf_ms = to_ms(r.timeframe)
            first_bar = int(bar_open(int(arr[0, TIMESTAMP]) + tf_ms - 1, r.timeframe))
            start = max(start, first_bar + warm * tf_ms)
    if end is None:
        end = min(int(a[-1, TIMESTAMP]) + to_ms(tf) for a, tf in bases.values())
    start, end = int(start), int(end)
    if end <= start:
        raise CandlesMissingError(
            "not enough candles stored for the warm-up and at least one bar "
            f"(warmup_candles = {warm}); import more history or lower warmup_candles"
        )

    # ---- missing candles in the period: refused, or holes between candles filled
    filled: dict[str, int] = {}
    for key, (arr, tf) in list(bases.items()):
        e, s = key
        step = to_ms(tf)
        s0 = -(-start // step) * step
        holes = _holes(arr, s0, end, step)
        if holes is None:
            continue
        count, a, b = holes
        warm_ms = warm * max(to_ms(t) for t in wanted[key])
        last = int(arr[-1, TIMESTAMP])
        if b > last + step:  # the period runs past the candles: filling cannot help
            raise CandlesMissingError(candles_end_message(e, s, tf, last, start, end, warm_ms))
        if bt.missing_candles == "fill" and a > int(arr[0, TIMESTAMP]):
            arr = _fill(arr, s0, end, step)
            arr.flags.writeable = False
            bases[key] = (arr, tf)
            filled[f"{e}:{s}"] = count
            continue
        since = min(a, start - warm_ms) if a == s0 else a  # the start: its warm-up too
        raise CandlesMissingError(
            f"{e} {s}: {count} {tf} candles missing between {_human(a)} and {_human(b)} UTC; "
            f"fetch them with: {import_command(e, s, since, b)} (or set missing_candles = "
            "\"fill\" in config.toml)"
        )

    # ---- each symbol's simulated candles
    sims: dict[SymbolKey, tuple[np.ndarray, int]] = {}
    for key, (arr, tf) in bases.items():
        ms = to_ms(tf)
        s0 = -(-start // ms) * ms
        lo, hi = np.searchsorted(arr[:, TIMESTAMP], [s0, end], side="left")
        sims[key] = (arr[lo:hi], s0)

    # ---- each route's bars (one array per exchange, symbol and timeframe) and call times
    arrays: dict[CandleKey, tuple[np.ndarray, np.ndarray]] = {}
    views: set[int] = set()  # the arrays a bar array is a view of
    calls: list[np.ndarray] = []
    route_bars: list[tuple[np.ndarray, np.ndarray, int, int, int]] = []
    for spec in specs:
        ckey = (spec.exchange, spec.symbol, spec.timeframe)
        tf_ms = to_ms(spec.timeframe)
        if ckey not in arrays:
            arr, tf = bases[(spec.exchange, spec.symbol)]
            bars = _bars(arr, tf, spec.timeframe, start, end, warm, views)
            arrays[ckey] = (bars, _readonly(bars[:, TIMESTAMP].astype(np.int64) + tf_ms))
        bars, closes = arrays[ckey]
        k0, k1 = np.searchsorted(closes, [start, end], side="left")
        calls.append(closes[k0:k1])
        warmup_bars = int(np.searchsorted(closes, start, side="right"))
        route_bars.append((bars, closes, tf_ms, int(k0) + 1, warmup_bars))
    for e, s, tf in extra:
        if (e, s, tf) not in arrays:
            arr, base = bases[(e, s)]
            bars = _bars(arr, base, tf, start, end, None, views)
            arrays[(e, s, tf)] = (bars, _readonly(bars[:, TIMESTAMP].astype(np.int64) + to_ms(tf)))

    # ---- the clock
    if len(calls) == 1:
        clock = calls[0]
    else:
        merged = np.sort(np.concatenate(calls), kind="stable")
        clock = merged[np.r_[True, merged[1:] != merged[:-1]]] if len(merged) else merged
    n = len(clock)

    # which routes run at each step: a small table of distinct route groups and, per step, the
    # index of its group (one byte per step for up to 255 groups)
    called = np.zeros((len(specs), n), dtype=bool)
    for j, c in enumerate(calls):
        called[j, np.searchsorted(clock, c)] = True
    if len(specs) <= 16:  # one byte or two per step, distinct values by a lookup table
        kind = np.uint8 if len(specs) <= 8 else np.uint16
        keys = np.zeros(n, dtype=kind)
        for j in range(len(specs)):
            keys |= called[j].astype(kind) << kind(j)
        uniq = np.flatnonzero(np.bincount(keys, minlength=1))
        lookup = np.zeros(int(uniq[-1]) + 1 if len(uniq) else 1, dtype=np.int64)
        lookup[uniq] = np.arange(len(uniq))
        group = lookup[keys] if len(uniq) > 1 else np.zeros(n, dtype=np.uint8)
        groups = tuple(
            tuple(j for j in range(len(specs)) if (int(u) >> j) & 1) for u in uniq
        )
    elif len(specs) <= 62:
        keys = np.zeros(n, dtype=np.int64)
        for j in range(len(specs)):
            keys |= called[j].astype(np.int64) << j
        uniq, group = np.unique(keys, return_inverse=True)
        groups = tuple(
            tuple(j for j in range(len(specs)) if (int(u) >> j) & 1) for u in uniq
        )
    else:  # pragma: no cover - more than 62 routes
        cols = [tuple(int(j) for j in np.flatnonzero(called[:, i])) for i in range(n)]
        table: dict[tuple[int, ...], int] = {}
        group = np.array([table.setdefault(c, len(table)) for c in cols], dtype=np.int64)
        groups = tuple(table)
    group_of: bytes | tuple[int, ...] = (
        bytes(group.astype(np.uint8)) if len(groups) < 256 else tuple(group.tolist())
    )

    # the equity curve follows the route with the shortest timeframe; it is sampled when that
    # route runs (but not at its first call)
    eq_route = min(range(len(specs)), key=lambda j: route_bars[j][2])
    eq_row = called[eq_route].copy()
    firsts = np.flatnonzero(eq_row)
    if len(firsts):
        eq_row[firsts[0]] = False

    # ---- futures: funding events (checked to cover the period) and mark-price candles
    futures = bt.type == "futures"
    route_keys = list(dict.fromkeys((r.exchange, r.symbol) for r in specs))
    events = check_funding(funding if futures and bt.funding != "ignore" else None,
                           route_keys, start, end)
    mark_given = {tuple(k): v for k, v in (mark or {}).items()}
    mark_filled: dict[str, int] = {}

    # ---- per symbol and step: the open, the interval's high/low, the equity marks
    symbols: dict[SymbolKey, SymbolPlan] = {}
    for index, (key, (arr, tf)) in enumerate(bases.items()):
        sim, s0 = sims[key]
        ms = to_ms(tf)
        m = len(sim)
        # the base candles simulated in step i are those closing in (clock[i], clock[i+1]]
        # (the last step takes the rest): with a base coarser than the clock, a candle is
        # walked in the step where it closes, so no other route sees its fills earlier
        start_idx = np.clip((clock - s0) // ms, 0, m).astype(np.int64)
        if m == n and n and start_idx[0] == 0 and start_idx[-1] == n - 1 and \
                bool(np.all(start_idx[1:] > start_idx[:-1])):
            # one base candle a step (a route in the base timeframe): its high and low are
            # the interval's, read from the candles themselves
            ihigh, ilow = sim[:, HIGH], sim[:, LOW]
        else:
            end_idx = np.r_[start_idx[1:], m].astype(np.int64)
            ihigh = np.full(n, -INF)
            ilow = np.full(n, INF)
            nonempty = np.flatnonzero(end_idx > start_idx)
            del end_idx
            if len(nonempty):
                idx = start_idx[nonempty]
                ihigh[nonempty] = np.maximum.reduceat(sim[:, HIGH], idx)
                ilow[nonempty] = np.minimum.reduceat(sim[:, LOW], idx)
                del idx
            del nonempty
        aligned = ((clock - s0) % ms == 0) & (start_idx < m)
        opens = np.full(n, np.nan)
        opens[aligned] = sim[start_idx[aligned], OPEN]
        marks: dict[str, Any] = {}
        if futures and mark is not None and key in mark_given:
            aligned_mark, missing = align_mark(key, mark_given[key], sim, tf)
            if missing:
                mark_filled[f"{key[0]}:{key[1]}"] = missing
            mihigh = np.full(n, -INF)
            milow = np.full(n, INF)
            nonempty = np.flatnonzero(np.r_[start_idx[1:], m] > start_idx)
            if len(nonempty):
                idx = start_idx[nonempty]
                mihigh[nonempty] = np.maximum.reduceat(aligned_mark[:, 1], idx)
                milow[nonempty] = np.minimum.reduceat(aligned_mark[:, 2], idx)
            mopens = np.full(n, np.nan)
            mopens[aligned] = aligned_mark[start_idx[aligned], 0]
            marks = dict(mark=_readonly(aligned_mark), mopens=_floats(mopens),
                         mihigh=_readonly(mihigh), milow=_readonly(milow))
        del aligned, start_idx
        # the mark of each equity sample: the close of the last base candle closed at the
        # sample's time (with a base coarser than the clock, the candle still forming at that
        # time is not used: its close is in the future)
        b = np.clip((clock[eq_row] - s0) // ms, 0, m)
        before = np.searchsorted(arr[:, TIMESTAMP], s0) - 1
        mark0 = float(arr[before, CLOSE]) if before >= 0 else float(sim[0, OPEN])
        if m and len(b) and b[0] > 0 and b[-1] - b[0] == len(b) - 1 and \
                bool(np.all(b[1:] > b[:-1])):
            # consecutive candles (one a sample): their closes, read in place
            eq_marks = sim[b[0] - 1:b[-1], CLOSE]
        elif m:
            eq_marks = np.where(b > 0, sim[np.maximum(b - 1, 0), CLOSE], mark0)
        else:
            eq_marks = np.full(len(b), mark0)
        del b
        symbols[key] = SymbolPlan(
            key=key, index=index, tf=tf, ms=ms, base=arr, sim=sim, s0=s0,
            opens=_floats(opens), ihigh=_readonly(ihigh), ilow=_readonly(ilow),
            eq_marks=_readonly(np.asarray(eq_marks, dtype=np.float64)), **marks,
        )
        del opens

    funding_plan = _funding_plan(events, symbols, clock, end)
    route_plans = tuple(
        RoutePlan(index=j, spec=spec, symbol=symbols[(spec.exchange, spec.symbol)],
                  tf_ms=tf_ms, bars=bars, closes=closes, n_first=n_first,
                  warmup_bars=warmup_bars)
        for j, (spec, (bars, closes, tf_ms, n_first, warmup_bars))
        in enumerate(zip(specs, route_bars, strict=True))
    )
    return RunPlan(
        config=config,
        routes=tuple(specs),
        extra_candles=tuple(extra),
        start=int(start),
        end=int(end),
        symbols=tuple(symbols.values()),
        route_plans=route_plans,
        candles=arrays,
        clock=_steps(clock),
        groups=groups,
        group_of=group_of,
        eq_steps=bytes(eq_row.astype(np.uint8)),
        eq_route=eq_route,
        base_tf={k: tf for k, (_a, tf) in bases.items()},
        filled=filled,
        **funding_plan,
        mark_filled=mark_filled,
        funding_given=funding,
        mark_given=mark,
    )


def _funding_plan(events: Mapping[SymbolKey, FundingEvents],
                  symbols: Mapping[SymbolKey, SymbolPlan], clock: np.ndarray,
                  end: int) -> dict[str, Any]:
    """The funding events a position can meet (after the first clock time, before the end),
    merged over the symbols in the order they are settled (time, then symbol), with their
    settlement prices, and the steps they fall in."""
    if not events or len(clock) == 0:
        return {}
    times, index, rates, prices = [], [], [], []
    for key, ev in events.items():
        d = symbols[key]
        t = ev.times // MINUTE_MS * MINUTE_MS
        keep = (t > clock[0]) & (t < end)
        if not keep.any():
            continue
        sub = FundingEvents(ev.times[keep], ev.rates[keep], ev.intervals[keep], ev.marks[keep])
        times.append(t[keep])
        index.append(np.full(int(keep.sum()), d.index))
        rates.append(sub.rates)
        prices.append(settle_prices(sub, t[keep], d.sim, d.s0, d.ms, d.base, d.mark))
    if not times:
        return {}
    t_all = np.concatenate(times)
    i_all = np.concatenate(index)
    order = np.lexsort((i_all, t_all))
    t_all, i_all = t_all[order], i_all[order]
    steps = np.zeros(len(clock), dtype=np.uint8)
    at = np.searchsorted(clock, t_all, side="right") - 1  # the step each event falls in
    on_step = clock[at] == t_all
    np.bitwise_or.at(steps, at[on_step], 1)
    np.bitwise_or.at(steps, at[~on_step], 2)
    return dict(
        funding_time=t_all.tolist(), funding_symbol=i_all.tolist(),
        funding_rate=np.concatenate(rates)[order].tolist(),
        funding_price=np.concatenate(prices)[order].tolist(),
        funding_steps=bytes(steps),
    )


# ------------------------------------------------------------------------------- helpers


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _floats(a: np.ndarray) -> Sequence[float]:
    """A float64 array as an ``array.array``: indexing gives Python floats at about list
    speed, in 8 bytes a value instead of a list's 32."""
    out = array("d")
    out.frombytes(memoryview(np.ascontiguousarray(a, dtype=np.float64)).cast("B"))
    return out


def _steps(clock: np.ndarray) -> Sequence[int]:
    """The clock as Python ints: a range when evenly spaced (no list of a million ints)."""
    if len(clock) >= 3:
        d = np.diff(clock)
        if bool((d == d[0]).all()):
            return range(int(clock[0]), int(clock[-1]) + 1, int(d[0]))
    return tuple(clock.tolist())


def _bars(arr: np.ndarray, base_tf: str, tf: str, start: int, end: int,
          warmup: int | None, views: set[int]) -> np.ndarray:
    """Bars of ``tf`` from the base candles: the warm-up before the start (all history when
    ``warmup`` is None) and the period; a C-contiguous, read-only array (what the indicator
    cache registers). In the base timeframe they are the base candles themselves (a view, no
    copy: a year of 1m candles is 25 MB), unless another bar array already is a view of the
    same array (``views``: the ids of those arrays), which the cache could not tell apart."""
    tf_ms = to_ms(tf)
    ts = arr[:, TIMESTAMP]
    first_call = int(bar_open(start + tf_ms - 1, tf))
    lo = 0 if warmup is None else int(np.searchsorted(ts, first_call - warmup * tf_ms))
    hi = int(np.searchsorted(ts, end))
    if to_ms(base_tf) == tf_ms:
        rows = arr[lo:hi]
        owner = id(rows[:0].base)
        if rows.flags.c_contiguous and owner not in views:
            views.add(owner)
            return _readonly(rows)
    full = aggregate(arr[lo:hi], base_tf, tf)
    if full.base is not None or not full.flags.c_contiguous or not full.flags.owndata:
        full = np.array(full, dtype=np.float64, order="C", copy=True)
    full.flags.writeable = False
    return full


def _holes(arr: np.ndarray, s0: int, end: int, step: int) -> tuple[int, int, int] | None:
    """Base candles missing in ``[s0, end)``: (count, first missing, end of the last missing),
    or None. Works from the candles present, so its cost follows the data, not the period."""
    lo, hi = np.searchsorted(arr[:, TIMESTAMP], [s0, end])
    expected = max(0, -(-(end - s0) // step))
    if hi - lo == expected:
        return None
    inside = arr[lo:hi, TIMESTAMP].astype(np.int64)
    if len(inside) == 0:
        return expected, s0, s0 + expected * step
    if np.any((inside - s0) % step) or np.any(np.diff(inside) <= 0):
        raise CandlesMissingError(
            "the candles' open times are not one every base timeframe: sort them, remove "
            "duplicates and align them to the timeframe"
        )
    # the grid positions present; a hole is a jump of more than one between neighbours
    pos = (inside - s0) // step
    edges = np.r_[-1, pos, expected]
    jumps = np.flatnonzero(np.diff(edges) > 1)
    a = s0 + int(edges[jumps[0]] + 1) * step
    b = s0 + int(edges[jumps[-1] + 1]) * step
    return int(expected - len(inside)), a, b


def _fill(arr: np.ndarray, first: int, end: int, step: int) -> np.ndarray:
    """Every base time in ``[first, end)`` present: a missing candle repeats the previous
    close as a flat candle of volume 0. A candle before ``first`` must exist."""
    ts = arr[:, TIMESTAMP].astype(np.int64)
    before = arr[ts < first]
    grid = first + step * np.arange(-(-(end - first) // step), dtype=np.int64)
    idx = np.searchsorted(ts, grid, side="right") - 1  # the last stored candle at or before
    out = np.empty((len(grid), 6), dtype=np.float64)
    present = ts[idx] == grid
    out[present] = arr[idx[present]]
    prev_close = arr[idx[~present], CLOSE]
    # a run of missing candles copies the close of the last stored one before it
    out[~present, TIMESTAMP] = grid[~present]
    for col in (OPEN, CLOSE, HIGH, LOW):
        out[~present, col] = prev_close
    out[~present, VOLUME] = 0.0
    after = arr[ts >= end]
    return np.concatenate([before, out, after])


def import_command(exchange: str, symbol: str, since: int, end: int | None = None, *,
                   now: int | None = None) -> str:
    """A ``jbt import-candles`` command that would run: dates before now, END after START and
    left out when it is now or later (the import's default)."""
    now = now_ms() if now is None else now
    since = min(since, now - MINUTE_MS) // MINUTE_MS * MINUTE_MS
    cmd = f"jbt import-candles {exchange} {symbol} {_cmd_date(since)}"
    if end is not None and end < now:
        end = max(-(-end // MINUTE_MS) * MINUTE_MS, since + MINUTE_MS)
        cmd += f" --end {_cmd_date(end)}"
    return cmd


def candles_end_message(exchange: str, symbol: str, tf: str, last: int, start: int | None,
                        end: int, warm_ms: int, now: int | None = None) -> str:
    """END is after the last candle (open time ``last``): say so, and how to fetch what the
    period and its warm-up need (not everything since the last candle)."""
    since = last + to_ms(tf)
    if start is not None:
        since = max(since, start - warm_ms)
    return (
        f"{exchange} {symbol}: the stored {tf} candles end at {_human(last)} UTC, before "
        f"END {_human(end)} UTC; leave END out to stop there, or fetch the rest with: "
        f"{import_command(exchange, symbol, since, end, now=now)}"
    )


def funding_message(exchange: str, symbol: str, gap: tuple[int, int], now: int | None = None
                    ) -> str:
    """One line: which funding history is missing and the import command that fetches it."""
    first, last = gap
    cmd = import_command(exchange, symbol, first, last + 1, now=now)
    return (
        f"{exchange} {symbol}: funding rates missing between {_human(first)} and "
        f"{_human(last)} UTC; fetch them with: {cmd} --funding (or set funding = \"ignore\" "
        "in config.toml's [backtest] to leave funding out)"
    )


def check_funding(funding: Mapping[SymbolKey, Any] | None, keys: list[SymbolKey],
                  start: int, end: int) -> dict[SymbolKey, FundingEvents]:
    """The events of each symbol of ``keys`` given in ``funding`` (symbols left out pay no
    funding), checked to cover ``(start, end)``."""
    out: dict[SymbolKey, FundingEvents] = {}
    if funding is None:
        return out
    given = {tuple(k): v for k, v in funding.items()}
    for key in keys:
        if key not in given:
            continue
        ev = funding_events(key, given[key])
        gap = funding_gap(ev, start, end)
        if gap is not None:
            raise CandlesMissingError(funding_message(key[0], key[1], gap))
        out[key] = ev
    return out


def _date(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == dt.second == 0 else \
        dt.strftime("%Y-%m-%d %H:%M")


def _cmd_date(ms: int) -> str:
    """A date as the import command takes it (no spaces)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == 0 else dt.strftime("%Y-%m-%dT%H:%M")


def _human(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


__all__ = ["RoutePlan", "RunPlan", "SymbolPlan", "candles_end_message", "check_extra",
           "check_funding", "check_period", "check_routes", "funding_message", "import_command",
           "plan_run"]
