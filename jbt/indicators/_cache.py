"""Per-run indicator cache: the whole series once per backtest, then O(1) per bar.

The engine owns, per (exchange, symbol, timeframe), one C-contiguous float64 candle array
``full`` (``full.flags.writeable = False``) and shows the strategy the prefix ``full[:k+1]`` at
bar ``k``. ``full`` may own its data or be a run of rows of a larger array (a route whose
timeframe is the stored one trades the loaded candles themselves, not a copy); two registered
arrays are never views of one array. It wraps the whole run in::

    from jbt.indicators import run_cache

    with run_cache(full_1h, full_4h):
        for k in range(...):
            strategy.candles = full_1h[:k + 1]   # a prefix slice, never a copy
            ...

While the context is open, an indicator called on a prefix slice of a registered array computes
its full series once per (array, indicator, arguments), then answers each call by indexing:
``sequential=False`` returns element ``len(candles) - 1``; ``sequential=True`` returns the
cached series sliced to ``len(candles)`` as a **read-only view** (copy it before writing).
Because every indicator is causal, this equals computing on the closed candles alone.
Calls on any other array (a copy, a slice not starting at row 0, another run's array) compute
normally.

Isolation: the registry lives in a :class:`contextvars.ContextVar`, so it is visible only to the
thread (or asyncio task) that opened the context; two runs in two threads never see each other's
caches, and the registration is removed on exit, even when the run raises. The module holds no
other mutable state.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from jbt.constants import TIMESTAMP
from jbt.indicators._source import IndicatorError

# Builds a named tuple without its Python-level __new__ (the fields are already in order).
_tuple_new = tuple.__new__

_RUNS: ContextVar[RunCache | None] = ContextVar("jbt_indicator_run_cache", default=None)


def _owner(array: np.ndarray) -> object:
    """What NumPy gives as ``.base`` of a slice of ``array``: ``array`` itself when it owns
    its data, else the array it is a view of. The registry is keyed by it, so a prefix view is
    found from its ``.base``."""
    return array[:0].base


class _Registered:
    """One registered candle array and the series computed on it during the run."""

    __slots__ = ("array", "n", "strides", "first_ts", "ts_increasing", "ptr", "series", "plain",
                 "scalars")

    def __init__(self, array: np.ndarray):
        self.array = array
        self.n = len(array)
        self.strides = array.strides
        self.first_ts = float(array[0, TIMESTAMP]) if len(array) else np.nan
        # With strictly increasing timestamps, a same-strided view of an array that owns its
        # data whose first timestamp equals array[0] must start at row 0: a ~60 ns check
        # instead of a ~1 µs data-pointer lookup. A view of a larger array (its slices are
        # slices of that array) is checked by the pointer and the length.
        ts = array[:, TIMESTAMP]
        self.ts_increasing = array.base is None and bool(len(array) and np.all(ts[1:] > ts[:-1]))
        self.ptr = array.ctypes.data
        #: (indicator kernel, arguments) -> cached series
        self.series: dict = {}
        #: kernel -> arguments -> the series, for those that are one array (``sequential=True``
        #: hits), and -> its values as a list (scalar hits, once a scalar call made it); two
        #: levels: a function hashes by identity, so a hit hashes the arguments' tuple only
        self.plain: dict = {}
        self.scalars: dict = {}

    def is_prefix(self, candles: np.ndarray) -> bool:
        """Whether ``candles`` (a view with the same ``.base`` as ``array[:0]``) is
        ``array[:m]``, m >= 1."""
        return (
            candles.strides == self.strides
            and candles.shape[1] == 6
            and len(candles) > 0
            and (candles[0, 0] == self.first_ts if self.ts_increasing
                 else candles.ctypes.data == self.ptr and len(candles) <= self.n)
        )


class RunCache:
    """The arrays registered in one context, plus the last prefix view seen (its registration,
    its length and that registration's series): a strategy usually passes the same
    ``self.candles`` object to several indicators in a bar."""

    __slots__ = ("entries", "last", "last_entry", "n", "plain", "scalars")

    def __init__(self, entries: dict):
        self.entries = entries
        self.last = None
        self.last_entry = None
        self.n = 0
        self.plain: dict = {}
        self.scalars: dict = {}

    def entry(self, array: np.ndarray) -> _Registered:
        """The registration of ``array`` (registered in this context), for :meth:`prefix`."""
        entry = self.entries.get(id(_owner(array)))
        if entry is None or entry.array is not array:
            raise IndicatorError("run_cache: this candle array is not registered")
        return entry

    def prefix(self, entry: _Registered, n: int) -> np.ndarray:
        """``entry.array[:n]``, known to the cache at once: the engine shows the strategy its
        candles through this, so the first indicator call of a bar needs no lookup (the view
        is new every bar)."""
        view = self.last = entry.array[:n]
        self.n = n
        if entry is not self.last_entry:
            self.use(entry)
        return view

    def use(self, entry: _Registered) -> None:
        """Make ``entry`` the registration of ``last`` (``last`` and ``n`` are set by whoever
        made the view: :meth:`prefix`, or the engine's loop doing the same)."""
        self.last_entry = entry
        self.plain = entry.plain
        self.scalars = entry.scalars

    def entry_for(self, candles) -> _Registered | None:
        entry = self.entries.get(id(getattr(candles, "base", None)))
        if entry is None or not entry.is_prefix(candles):
            return None
        self.last = candles
        self.n = len(candles)
        self.use(entry)
        return entry


def _check_registrable(array) -> None:
    if not isinstance(array, np.ndarray):
        raise IndicatorError(f"run_cache: expected numpy arrays, got {type(array).__name__}")
    problems = []
    if array.dtype != np.float64:
        problems.append(f"dtype is {array.dtype}, not float64")
    if array.ndim != 2 or array.shape[1] != 6:
        problems.append(f"shape is {array.shape}, not (n, 6)")
    if not array.flags.c_contiguous:
        problems.append("it is not C-contiguous")
    if array.flags.writeable:
        problems.append("it is writeable (set array.flags.writeable = False first)")
    if problems:
        raise IndicatorError("run_cache: cannot register candle array: " + "; ".join(problems))


@contextmanager
def run_cache(*arrays: np.ndarray):
    """Register ``arrays`` (the run's full candle arrays) for the duration of the block; the
    block gets the registry (``with run_cache(a) as cache: view = cache.prefix(a, n)``)."""
    owners: dict[int, np.ndarray] = {}
    for a in arrays:
        _check_registrable(a)
        other = owners.setdefault(id(_owner(a)), a)
        if other is not a:
            raise IndicatorError(
                "run_cache: cannot register two candle arrays that are views of one array "
                "(their slices could not be told apart): register a copy of one of them"
            )
    current = _RUNS.get()
    entries = dict(current.entries) if current else {}
    for a in arrays:
        entries[id(_owner(a))] = _Registered(a)
    run = RunCache(entries)
    token = _RUNS.set(run)
    try:
        yield run
    finally:
        _RUNS.reset(token)


def _frozen(result) -> list:
    """A computed series, frozen, as a cache entry ``[named tuple class or None, the series,
    its list copy]``; the list copy (fast scalar access) is made on the first scalar call, so a
    series only ever read with ``sequential=True`` costs no list."""
    if isinstance(result, tuple):
        for arr in result:
            arr.flags.writeable = False
        return [type(result), result, None]
    result.flags.writeable = False
    return [None, result, None]


def _lists(cached: list):
    series = cached[1]
    lists = tuple(a.tolist() for a in series) if cached[0] is not None else series.tolist()
    cached[2] = lists
    return lists


def dispatch(func, candles, sequential: bool, *args):
    """Run indicator kernel ``func(candles, *args)`` through the run cache when possible.

    ``func`` returns the full series (an array, or a named tuple of arrays). The result is that
    series (``sequential``) or its last element as a float (otherwise).
    """
    run = _RUNS.get()
    if run is None:
        return _compute(func, candles, sequential, args)
    if candles is run.last:
        # the common cases first: a series computed before, for the bar's candles
        found = (run.plain if sequential else run.scalars).get(func)
        if found is not None:
            try:
                found = found.get(args)
            except TypeError:  # an unhashable argument: let the kernel's check report it
                return _compute(func, candles, sequential, args)
            if found is not None:
                if sequential:
                    return found[:run.n]
                value = found[run.n - 1]
                if value == value:  # else NaN: reported below
                    return value
        entry = run.last_entry
    else:
        entry = run.entry_for(candles)
        if entry is None:
            return _compute(func, candles, sequential, args)
    key = (func, args)
    try:
        cached = entry.series[key]
    except KeyError:
        cached = entry.series[key] = _frozen(func(entry.array, *args))
        if cached[0] is None:
            entry.plain.setdefault(func, {})[args] = cached[1]
    except TypeError:  # an unhashable argument: let the kernel's check report it
        return _compute(func, candles, sequential, args)
    if sequential:
        if cached[0] is None:
            return cached[1][:len(candles)]
        return _prefixes(cached, len(candles))
    cls, _arrays, lists = cached
    if lists is None:
        lists = _lists(cached)
        if cls is None:
            entry.scalars.setdefault(func, {})[args] = lists
    n = len(candles)
    i = n - 1
    if cls is None:
        value = lists[i]
        if value != value:  # NaN: still inside the indicator's warm-up
            _too_few(func, n, args)
        return value
    if len(lists) == 3:
        a, b, c = lists
        values = (a[i], b[i], c[i])
    elif len(lists) == 2:
        a, b = lists
        values = (a[i], b[i])
    elif len(lists) == 4:
        a, b, c, d = lists
        values = (a[i], b[i], c[i], d[i])
    else:
        values = _row(lists, i)
    for value in values:
        if value != value:
            _too_few(func, n, args)
    return _tuple_new(cls, values)


# (the next two are functions of their own: a comprehension in dispatch() would cost every
# call a closure cell)


def _prefixes(cached: list, n: int):
    """A named tuple of series, each cut to ``n`` values."""
    return cached[0](*(a[:n] for a in cached[1]))


def _row(lists: tuple, i: int) -> tuple:
    """Value ``i`` of each list."""
    return tuple(lst[i] for lst in lists)


def _compute(func, candles, sequential: bool, args: tuple):
    result = func(candles, *args)
    if sequential:
        return result
    if isinstance(result, tuple):
        values = tuple(float(a[-1]) for a in result)
    else:
        values = (float(result[-1]),)
    for value in values:
        if value != value:
            _too_few(func, len(candles), args)
    return type(result)(*values) if isinstance(result, tuple) else values[0]


def _too_few(func, n: int, args: tuple) -> None:
    """The last candle has no value yet: too few candles for the indicator's warm-up."""
    name = func.__name__.lstrip("_")
    shown = ", ".join(repr(a) for a in args if not isinstance(a, np.ndarray))
    raise IndicatorError(
        f"ta.{name}: too few candles ({n}) for a value with arguments ({shown}); the first "
        "value needs more history: import more candles or raise warmup_candles "
        "(sequential=True returns the series with NaN during the warm-up)"
    )

