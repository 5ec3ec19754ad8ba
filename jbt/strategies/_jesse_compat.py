"""Jesse's strategy vocabulary on top of jbt's :class:`~jbt.strategies.Strategy`.

Everything here reads the state the engine already keeps (position, orders, fills, balance) or
keeps the strategy's own records (chart lines, log lines); nothing changes how the engine runs
a bar. :class:`JesseCompat` is a base of ``Strategy``; :func:`cached` is Jesse's per-bar cache
decorator; :data:`JESSE_ONLY` lists the Jesse names jbt does not have, with what to use
instead, so ``self.funding_rate`` fails with one line saying so rather than a bare
``AttributeError``.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from jbt.constants import TIMESTAMP, VOLUME
from jbt.errors import JbtError, StrategyError

log = logging.getLogger("jbt.strategy")

#: A reduce-only fill leaving less than this fraction of the position closes it (the sandbox's
#: rule, repeated here to replay the fills).
_DUST = 1e-9


class JesseNameError(JbtError, AttributeError):
    """A strategy used a name jbt does not have (a Jesse name, or a typo). One line that says
    what to use instead; still an ``AttributeError``, so ``hasattr`` and ``getattr(x, n, d)``
    behave as usual."""


class JesseImportError(JbtError, ImportError):
    """``from jbt.helpers import x`` of a Jesse name jbt does not have. An ``ImportError`` (not
    an ``AttributeError``) so that Python keeps this message instead of its generic one."""


#: Strategy names of Jesse 3.x that jbt does not provide, and what to use instead.
JESSE_ONLY: dict[str, str] = {
    "broker": "orders are declared with self.buy / self.sell / self.stop_loss / "
              "self.take_profit and self.liquidate()",
    "trade": "self.position while it is open, self.trades once closed",
    "metrics": "self.trades (the closed trades) or the metrics of the result",
    "daily_balances": "the equity curve of the result (one point per bar)",
    "funding_rate": "nothing: jbt settles the funding events itself (imported with --funding)",
    "next_funding_timestamp": "nothing: jbt settles the funding events itself (imported with --funding)",
    "min_qty": "nothing: jbt has no exchange minimum quantity in backtests (Jesse only has it "
               "live)",
    "candles_pipeline": "nothing: jbt backtests the candles as stored",
    "record_features": "nothing: jbt has no machine-learning pipeline",
    "record_label": "nothing: jbt has no machine-learning pipeline",
    "export_ml_data": "nothing: jbt has no machine-learning pipeline",
    "ml_features": "nothing: jbt has no machine-learning pipeline",
    "ml_predict": "nothing: jbt has no machine-learning pipeline",
    "ml_predict_proba": "nothing: jbt has no machine-learning pipeline",
    "ml_mode": "nothing: jbt has no machine-learning pipeline",
}


# ---------------------------------------------------------------------------------- @cached


def cached(method: Callable) -> Callable:
    """Jesse's ``@cached``: remember what a strategy method returns for the current bar.

    The value is computed once per bar (per set of arguments) and forgotten when the strategy
    is called for the next bar or a fill hook runs at another time, as in Jesse, where the cache
    is cleared after every bar. Use it under ``@property`` as Jesse strategies do::

        @property
        @cached
        def anchor_candles(self):
            return self.get_candles(self.exchange, self.symbol, "1D")

    Calls with unhashable arguments are not cached.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        bar = (self.time, len(self.candles))
        memo = self.__dict__.get("_jbt_cached")
        if memo is None or memo[0] != bar:
            memo = (bar, {})
            self.__dict__["_jbt_cached"] = memo
        key = (method, args, tuple(sorted(kwargs.items()))) if kwargs else (method, args)
        try:
            return memo[1][key]
        except KeyError:
            value = method(self, *args, **kwargs)
            memo[1][key] = value
            return value
        except TypeError:  # an unhashable argument
            return method(self, *args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One route as Jesse's ``router.routes`` shows it (``strategy`` is the running instance;
    ``None`` for a data route)."""

    exchange: str
    symbol: str
    timeframe: str
    strategy_name: str | None
    strategy: Any = None


# ---------------------------------------------------------------------------------- charts


def _check_chart_value(value: Any, what: str) -> float | None:
    """A chart value as float, None for NaN/inf (skipped, as Jesse's dashboard skips them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise StrategyError(
            f"{what}: the value must be an int or a float, got {type(value).__name__} {value!r}"
        )
    value = float(value)
    return value if math.isfinite(value) else None


def _line_style(line_style: str, what: str) -> str:
    if line_style not in ("solid", "dotted"):
        raise StrategyError(f"{what}: line_style must be 'solid' or 'dotted', got {line_style!r}")
    return line_style


class ChartData:
    """What a strategy drew with the chart helpers, kept per strategy (route)."""

    def __init__(self) -> None:
        #: title -> {"color": str | None, "points": [[time_ms, value], ...]}
        self.candle_lines: dict[str, dict[str, Any]] = {}
        #: title -> {"value", "color", "line_width", "line_style"}
        self.candle_hlines: dict[str, dict[str, Any]] = {}
        #: chart name -> title -> {"color", "points"}
        self.extra_lines: dict[str, dict[str, dict[str, Any]]] = {}
        #: chart name -> title -> {"value", "color", "line_width", "line_style"}
        self.extra_hlines: dict[str, dict[str, dict[str, Any]]] = {}

    def is_empty(self) -> bool:
        return not (self.candle_lines or self.candle_hlines or self.extra_lines
                    or self.extra_hlines)

    def as_dict(self) -> dict[str, Any]:
        return {"candle_lines": self.candle_lines, "candle_hlines": self.candle_hlines,
                "extra_lines": self.extra_lines, "extra_hlines": self.extra_hlines}


def _add_point(lines: dict[str, dict[str, Any]], title: str, t: int, value: float | None,
               color: str | None) -> None:
    line = lines.get(title)
    if line is None:
        line = lines[title] = {"color": color, "points": []}
    elif color is not None:
        line["color"] = color
    if value is None:
        return
    points = line["points"]
    if points and points[-1][0] == t:
        points[-1][1] = value  # drawn twice for one bar: the last value counts
    else:
        points.append([t, value])


def _fmt_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------------------- the mixin


class JesseCompat:
    """Jesse's strategy names that read state jbt already keeps. A base of ``Strategy``."""

    # --- names and identity ----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The strategy's name (the route's strategy, e.g. ``"EmaCross"``)."""
        override = self.__dict__.get("_jbt_name")
        if override is not None:
            return override
        ctx = self._ctx
        return ctx.route.spec.strategy if ctx is not None else type(self).__name__

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_jbt_name"] = value

    @property
    def id(self) -> str:
        """A stable id of this strategy in the run: its route key."""
        return self._ctx.route.key

    @property
    def base_asset(self) -> str:
        """``"BTC"`` for ``BTC-USDT``."""
        return self.symbol.split("-")[0]

    @property
    def quote_asset(self) -> str:
        """``"USDT"`` for ``BTC-USDT``."""
        parts = self.symbol.split("-")
        return parts[1] if len(parts) > 1 else ""

    # --- balance ----------------------------------------------------------------------------

    @property
    def capital(self) -> float:
        """Jesse's older name of :attr:`balance`."""
        return self.balance

    @property
    def leveraged_available_margin(self) -> float:
        """``leverage × available_margin``: the position value new orders can still open."""
        return self.leverage * self.available_margin

    @property
    def portfolio_value(self) -> float:
        """The balance plus the open positions marked at the current prices (the equity)."""
        return self._ctx.store.equity()

    # --- the bar ----------------------------------------------------------------------------

    @property
    def volume(self) -> float:
        """Volume of the last closed bar."""
        return float(self.candles[-1, VOLUME])

    @property
    def closed_candle_open_time(self) -> int:
        """Open time (ms) of the last closed bar, the one the decision is based on."""
        return int(self.candles[-1, TIMESTAMP])

    @property
    def mark_price(self) -> float:
        """The current price (jbt has no separate mark price)."""
        return self.price

    @property
    def liquidation_price(self) -> float | None:
        """Futures: the price at which the open position is liquidated (None when none)."""
        return self.position.liquidation_price

    # --- trading hours ----------------------------------------------------------------------

    def trading_hours(self) -> dict | None:
        """The market schedule the strategy follows (see :mod:`jbt.trading_hours`), or None.
        The engine does not enforce it: it answers :attr:`is_trading_hours` and is meant for
        ``utils.filter_candles_by_hours``."""
        return None

    @property
    def is_trading_hours(self) -> bool:
        """Whether the bar that just closed opened inside :meth:`trading_hours` (True with no
        schedule)."""
        from jbt.trading_hours import schedule

        s = schedule(self.trading_hours())
        return True if s is None else s.contains(self.closed_candle_open_time)

    # --- mode -------------------------------------------------------------------------------

    @property
    def is_spot_trading(self) -> bool:
        return self.exchange_type == "spot"

    @property
    def is_futures_trading(self) -> bool:
        return self.exchange_type == "futures"

    @property
    def is_livetrading(self) -> bool:
        return False

    @property
    def is_papertrading(self) -> bool:
        return False

    @property
    def is_live(self) -> bool:
        return False

    # --- position history -------------------------------------------------------------------

    def _fill_counts(self) -> tuple[int, int]:
        """(increased_count, reduced_count) of the open position, replayed from the run's fills
        (new fills only: the replay keeps its place between calls)."""
        route = self._ctx.route
        fills = self._ctx.store.fills
        state = self.__dict__.get("_jbt_counts")
        if state is None:
            state = [0, 0.0, 0, 0]  # fills read, qty, increased, reduced
            self.__dict__["_jbt_counts"] = state
        read, qty, inc, red = state
        key = route.key
        for i in range(read, len(fills)):
            _oid, rkey, side, fqty, _p, _fee, _t = fills[i]
            if rkey != key:
                continue
            signed = fqty if side == "buy" else -fqty
            if qty == 0.0 or (qty > 0) == (signed > 0):
                inc = 1 if qty == 0.0 else inc + 1
                if qty == 0.0:
                    red = 0
                qty += signed
            elif abs(fqty) >= abs(qty) * (1.0 - _DUST):
                qty, inc, red = 0.0, 0, 0
            else:
                qty += signed
                red += 1
        state[:] = [len(fills), qty, inc, red]
        return inc, red

    @property
    def increased_count(self) -> int:
        """How many entry fills built the open position (1 once it opens); 0 while flat."""
        return self._fill_counts()[0]

    @property
    def reduced_count(self) -> int:
        """How many fills reduced the open position without closing it; 0 while flat."""
        return self._fill_counts()[1]

    @property
    def trades_count(self) -> int:
        """How many trades this route has closed."""
        return len(self._ctx.route.closed_trades)

    @property
    def last_trade_index(self) -> int:
        """:attr:`index` at which the last trade closed (0 before any)."""
        ctx = self._ctx
        trades = ctx.route.closed_trades
        if not trades:
            return 0
        closes = ctx.closes
        return int(np.searchsorted(closes, trades[-1].exit_time, side="left")) - (ctx.n_first - 1)

    # --- declared orders --------------------------------------------------------------------

    def _declared(self, name: str) -> np.ndarray | None:
        """What the strategy assigned to ``self.<name>`` as an (n, 2) array of (qty, price)."""
        value = self._ctx.route.assigned.get(name) if self._ctx is not None else None
        if value is None:
            return None
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            return None
        return arr

    @staticmethod
    def _weighted(arr: np.ndarray) -> float:
        qty = np.abs(arr[:, 0])
        return float((qty * arr[:, 1]).sum() / qty.sum())

    @property
    def average_entry_price(self) -> float | None:
        """The size-weighted price of the declared entries (``self.buy`` for a long,
        ``self.sell`` for a short, or the pending ones while flat); the position's entry
        price when none is declared; None with neither."""
        if self.is_long:
            arr = self._declared("buy")
        elif self.is_short:
            arr = self._declared("sell")
        elif self.has_long_entry_orders:
            arr = self._declared("buy")
        elif self.has_short_entry_orders:
            arr = self._declared("sell")
        else:
            return None
        if arr is None:
            return self.position.entry_price if self.position.is_open else None
        return self._weighted(arr)

    @property
    def average_stop_loss(self) -> float:
        """The size-weighted price of ``self.stop_loss``."""
        arr = self._declared("stop_loss")
        if arr is None:
            raise StrategyError("self.average_stop_loss: set self.stop_loss first")
        return self._weighted(arr)

    @property
    def average_take_profit(self) -> float:
        """The size-weighted price of ``self.take_profit``."""
        arr = self._declared("take_profit")
        if arr is None:
            raise StrategyError("self.average_take_profit: set self.take_profit first")
        return self._weighted(arr)

    def _has_entry(self, side: str) -> bool:
        pending = self.entry_orders
        if pending:
            return pending[0].side == side
        # nothing placed yet: inside go_long/go_short or the filters, what was declared
        return self.is_close and getattr(self, side) is not None

    @property
    def has_long_entry_orders(self) -> bool:
        """An entry buy is pending (inside go_long and the filters: ``self.buy`` is set)."""
        return self._has_entry("buy")

    @property
    def has_short_entry_orders(self) -> bool:
        """An entry sell is pending (inside go_short and the filters: ``self.sell`` is set)."""
        return self._has_entry("sell")

    @property
    def exit_orders(self) -> list:
        """The pending reduce-only orders of the position (stop-loss, take-profit, exits)."""
        return [o for o in self._ctx.route.pending if o.role != "entry"]

    @property
    def active_exit_orders(self) -> list:
        """Same as :attr:`exit_orders`: in a backtest every pending exit is active."""
        return self.exit_orders

    # --- other routes -----------------------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """Every trading route of the run, in routes.py order."""
        ctx = self._ctx
        return [Route(r.spec.exchange, r.spec.symbol, r.spec.timeframe, r.spec.strategy, s)
                for r, s in zip(ctx.store.routes, ctx.strategies, strict=True)]

    @property
    def data_routes(self) -> list[Route]:
        """The ``extra_candles`` (Jesse's data routes) of the run."""
        return [Route(e, s, tf, None) for e, s, tf in self._ctx.extra_candles]

    @property
    def current_route_index(self) -> int:
        """This route's position in :attr:`routes`."""
        return self._ctx.route.index

    @property
    def all_positions(self) -> dict[str, Any]:
        """Every route's position by symbol (the last route wins when two trade one symbol)."""
        return {r.spec.symbol: r.position for r in self._ctx.store.routes}

    # --- Jesse's other hooks (the engine calls them where Jesse does; see jbt.engine) -------

    def on_cancel(self) -> None:
        """The route's orders were cancelled: should_cancel_entry() cancelled the waiting
        entries, or the position has just closed (before on_close_position)."""

    def update_chart(self) -> None:
        """Every bar, after after(): draw with the chart helpers."""

    def before_terminate(self) -> None:
        """Once at the end, before the open positions are closed (and before terminate())."""

    def should_cancel(self) -> bool:
        """Older Jesse's name of should_cancel_entry(), asked instead of it when a strategy
        defines only this one."""
        return True

    def on_stop_loss(self, order) -> None:
        """Older Jesse: a stop-loss closed the position, or liquidate() closed it at a loss
        (right before on_close_position)."""

    def on_take_profit(self, order) -> None:
        """Older Jesse: a take-profit closed the position, or liquidate() closed it in profit
        (right before on_close_position)."""

    def on_route_open_position(self, strategy) -> None:
        """Another route (``strategy``) opened a position."""

    def on_route_close_position(self, strategy) -> None:
        """Another route closed its position."""

    def on_route_increased_position(self, strategy) -> None:
        """Another route added to its position."""

    def on_route_reduced_position(self, strategy) -> None:
        """Another route reduced its position."""

    def on_route_canceled(self, strategy) -> None:
        """Another route's orders were cancelled (its on_cancel)."""

    def on_route_stop_loss(self, strategy) -> None:
        """Older Jesse: another route's position closed as for on_stop_loss."""

    def on_route_take_profit(self, strategy) -> None:
        """Older Jesse: another route's position closed as for on_take_profit."""

    def watch_list(self) -> list:
        """Jesse's live-dashboard values: ``[(key, value), ...]``."""
        return []

    def dna(self) -> str:
        return ""

    # --- logging ----------------------------------------------------------------------------

    def log(self, msg: Any, log_type: str = "info", send_notification: bool = False,
            webhook: str | None = None) -> None:
        """Record a line with the bar's time and the route: in the result's ``logs`` (printed
        after the report, written to ``--json``) and on the ``jbt.strategy`` Python logger.
        ``log_type`` is "info" or "error"; notifications do not apply to backtests."""
        if log_type not in ("info", "error"):
            raise StrategyError(f"self.log: log_type must be 'info' or 'error', got {log_type!r}")
        text = str(msg)
        t = int(self.time)
        route = self._ctx.route.key if self._ctx is not None else type(self).__name__
        logs = self.__dict__.get("_jbt_logs")
        if logs is None:
            logs = self.__dict__["_jbt_logs"] = []
        logs.append({"time": t, "route": route, "level": log_type, "message": text})
        log.log(logging.ERROR if log_type == "error" else logging.INFO, "%s %s: %s",
                _fmt_time(t), route, text)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The lines this strategy logged so far (``time``, ``route``, ``level``, ``message``)."""
        return list(self.__dict__.get("_jbt_logs", ()))

    # --- chart helpers ----------------------------------------------------------------------

    def _chart(self) -> ChartData:
        chart = self.__dict__.get("_jbt_chart")
        if chart is None:
            chart = self.__dict__["_jbt_chart"] = ChartData()
        return chart

    def _chart_time(self) -> int:
        """Where a value goes on the chart: the open time of the last closed bar."""
        return int(self.candles[-1, TIMESTAMP])

    def add_line_to_candle_chart(self, title: str, value: float, color: str | None = None) -> None:
        """A point of line ``title`` on this route's candle chart, at the last closed bar."""
        v = _check_chart_value(value, f"add_line_to_candle_chart({title!r})")
        _add_point(self._chart().candle_lines, title, self._chart_time(), v, color)

    def add_horizontal_line_to_candle_chart(self, title: str, value: float,
                                            color: str | None = None, line_width: float = 1.5,
                                            line_style: str = "solid") -> None:
        """A horizontal line on the candle chart (drawing it again moves it)."""
        what = f"add_horizontal_line_to_candle_chart({title!r})"
        v = _check_chart_value(value, what)
        style = _line_style(line_style, what)
        if v is not None:
            old = self._chart().candle_hlines.get(title, {})
            self._chart().candle_hlines[title] = {
                "value": v, "color": color if color is not None else old.get("color"),
                "line_width": float(line_width), "line_style": style,
            }

    def add_extra_line_chart(self, chart_name: str, title: str, value: float,
                             color: str | None = None) -> None:
        """A point of line ``title`` on the extra chart ``chart_name`` (a panel of its own
        below the route's candles), at the last closed bar."""
        v = _check_chart_value(value, f"add_extra_line_chart({chart_name!r}, {title!r})")
        lines = self._chart().extra_lines.setdefault(chart_name, {})
        _add_point(lines, title, self._chart_time(), v, color)

    def add_horizontal_line_to_extra_chart(self, chart_name: str, title: str, value: float,
                                           color: str | None = None, line_width: float = 1.5,
                                           line_style: str = "solid") -> None:
        """A horizontal line on the extra chart ``chart_name`` (drawing it again moves it)."""
        what = f"add_horizontal_line_to_extra_chart({chart_name!r}, {title!r})"
        v = _check_chart_value(value, what)
        style = _line_style(line_style, what)
        if v is not None:
            hlines = self._chart().extra_hlines.setdefault(chart_name, {})
            old = hlines.get(title, {})
            hlines[title] = {
                "value": v, "color": color if color is not None else old.get("color"),
                "line_width": float(line_width), "line_style": style,
            }

    # Unknown names (``self.funding_rate``, ``self.is_lng``) are reported by
    # :func:`unknown_name_error`, where the engine catches what a strategy raised. The class
    # defines no ``__getattr__``: with one, CPython looks up every attribute of a strategy
    # (``self.candles``, ``self.hp``, its own methods) through a slow path, about 2.5x the cost.


def unknown_name_error(exc: BaseException) -> BaseException:
    """``exc`` as a :class:`JesseNameError` naming what to use instead when it is Python's
    ``AttributeError`` for a name that neither the strategy nor jbt defines (with ``exc``'s
    traceback, so the strategy's line is still found); otherwise ``exc`` itself."""
    if type(exc) is not AttributeError:
        return exc
    obj, name = exc.obj, exc.name
    if not isinstance(obj, JesseCompat) or not isinstance(name, str) or name.startswith("_"):
        return exc
    cls = type(obj)
    if hasattr(cls, name):  # a property of the class raised it itself: keep that error
        return exc
    named = JesseNameError(unknown_name_message(name, cls)).with_traceback(exc.__traceback__)
    named.__context__ = exc.__context__
    named.__cause__ = exc.__cause__
    return named


@contextmanager
def unknown_names() -> Iterator[None]:
    """Strategy code run inside this block (its ``__init__``, ``hyperparameters()``) reports an
    unknown name as :func:`unknown_name_error` does."""
    try:
        yield
    except AttributeError as exc:
        named = unknown_name_error(exc)
        if named is exc:
            raise
        raise named from None


def unknown_name_message(name: str, cls: type) -> str:
    """The one line for ``self.<name>`` that neither jbt nor the strategy defines."""
    hint = JESSE_ONLY.get(name)
    if hint is not None:
        return f"`self.{name}` is a Jesse name jbt does not have; use {hint}"
    known = [n for n in dir(cls) if not n.startswith("_")]
    close = difflib.get_close_matches(name, known, n=1)
    also = f"; did you mean self.{close[0]}?" if close else ""
    return (f"`self.{name}` is not a name of {cls.__name__} or of jbt's Strategy (nor a Jesse "
            f"name){also}")


def run_output(strategies: list[Any]) -> dict[str, Any]:
    """What the strategies of one run (in route order) logged and drew, for its result:
    ``{"logs": [...], "charts": {...}}`` with only the keys that have something. Logs are in
    time order (route order within one time): ``time``, ``route``, ``level``, ``message``;
    charts per route key (see :class:`ChartData`)."""
    out: dict[str, Any] = {}
    logs = [entry for s in strategies for entry in s.__dict__.get("_jbt_logs", ())]
    if logs:
        logs.sort(key=lambda e: e["time"])
        out["logs"] = logs
    charts = {}
    for s in strategies:
        chart = s.__dict__.get("_jbt_chart")
        if chart is not None and not chart.is_empty():
            charts[s._ctx.route.key] = chart.as_dict()
    if charts:
        out["charts"] = charts
    return out


def unsigned(value: Any) -> Any:
    """An order assignment with its quantities made positive: Jesse strategies pass the signed
    position size (``self.stop_loss = self.position.qty, price`` on a short) and Jesse takes the
    absolute value. Anything that is not (qty, price) or a list of them is left for the order
    parser to report."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and len(value) == 2:
            return (abs(float(value[0])), value[1])
        if value.ndim == 2 and value.shape[1] == 2:
            out = value.astype(np.float64, copy=True)
            out[:, 0] = np.abs(out[:, 0])
            return out
        return value
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and not isinstance(value[0], (tuple, list, np.ndarray)):
            qty = value[0]
            if isinstance(qty, (int, float, np.integer, np.floating)) and not isinstance(qty, bool):
                return (abs(qty), value[1])
            return value
        return [unsigned(item) if isinstance(item, (tuple, list, np.ndarray)) else item
                for item in value]
    return value


__all__ = ["JESSE_ONLY", "ChartData", "JesseCompat", "JesseImportError", "JesseNameError",
           "Route", "cached", "run_output", "unknown_name_error", "unknown_name_message",
           "unknown_names", "unsigned"]
