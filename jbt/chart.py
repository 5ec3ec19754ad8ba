"""The interactive chart of a run: one self-contained HTML page that works offline.

Rows: the price candles of each route with its entry and exit markers (and the lines its
strategy drew with Jesse's chart helpers, extra charts below it), then the equity curve, then
the drawdown. plotly.js is inlined into the page, so nothing is fetched from the network.
Times are epoch milliseconds on date axes (plotly reads them as UTC).

The equity and drawdown lines hold every point of the run up to ``MAX_LINE_POINTS``. A longer
run (a year of 1m bars is 525,600 points) is thinned for the chart only: the points are cut
into ``(MAX_LINE_POINTS - 2) // 2`` equal buckets and each bucket keeps its lowest and highest
point, in time order, plus the first and last point of the run. Every peak and trough of the
curve survives, so the deepest drawdown reads the same; the exports keep every point.

A route with more than ``MAX_CANDLES`` candles in the period (a year of 1m bars) is drawn in the
smallest coarser timeframe that fits (1h for a 1m year: 8,784 bars), aggregated from its own
candles the way the engine aggregates them (first open, last close, highest high, lowest low),
so every extreme still shows; its panel title says so. The trade markers keep their exact times
and prices. (Drawing 525,600 candles made a 53 MB page and took 670 MB to write.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP
from jbt.results import BacktestResult

#: The id of the chart's <div> in the page.
DIV_ID = "jbt-chart"
_UP, _DOWN = "#26a69a", "#ef5350"
#: Most points drawn per equity or drawdown line (see the module docstring).
MAX_LINE_POINTS = 20_000
#: Most candles drawn per route (see the module docstring).
MAX_CANDLES = 10_000


def _candles_in_period(candles: np.ndarray | None, start: int, end: int) -> np.ndarray:
    if candles is None or len(candles) == 0:
        return np.empty((0, 6))
    c = np.asarray(candles, dtype=np.float64)
    return c[(c[:, TIMESTAMP] >= start) & (c[:, TIMESTAMP] < end)]


def drawn_candles(candles: np.ndarray, timeframe: str,
                  max_candles: int | None = None) -> tuple[np.ndarray, str]:
    """The candles to draw for a route and their timeframe: the route's own up to
    ``max_candles``, else aggregated to the smallest standard timeframe, a multiple of the
    route's, that brings them down to ``max_candles`` (partial bars at the ends kept)."""
    from jbt.timeframes import TIMEFRAMES, aggregate, normalize

    tf = normalize(timeframe)
    if max_candles is None:
        max_candles = MAX_CANDLES
    if len(candles) <= max_candles:
        return candles, tf
    tf_ms = TIMEFRAMES[tf]
    span = float(candles[-1, TIMESTAMP] - candles[0, TIMESTAMP]) + tf_ms
    for name, ms in sorted(TIMEFRAMES.items(), key=lambda kv: kv[1]):
        if ms > tf_ms and ms % tf_ms == 0 and span / ms + 1 <= max_candles:
            return aggregate(candles, tf, name, complete_only=False), name
    name = max(TIMEFRAMES, key=TIMEFRAMES.__getitem__)
    return aggregate(candles, tf, name, complete_only=False), name


def drawdown_curve(equity: list[float], starting_balance: float) -> list[float]:
    """Per-bar drawdown as a fraction, the peak starting at the starting balance."""
    v = np.asarray(equity, dtype=np.float64)
    if len(v) == 0:
        return []
    peak = np.maximum.accumulate(np.maximum(v, starting_balance))
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, v / peak - 1.0, 0.0)
    return dd.tolist()


def thin_line(times: list[int], values: list[float],
              max_points: int = MAX_LINE_POINTS) -> tuple[list[int], list[float]]:
    """At most ``max_points`` of a line: the first and last point and, per equal bucket, the
    lowest and highest point (in time order). Short lines come back whole."""
    n = len(values)
    if n <= max_points:
        return [int(t) for t in times], [float(v) for v in values]
    v = np.asarray(values, dtype=np.float64)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = {0, n - 1}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi > lo:
            part = v[lo:hi]
            keep.add(int(lo + np.argmin(part)))
            keep.add(int(lo + np.argmax(part)))
    idx = sorted(keep)
    return [int(times[i]) for i in idx], [float(v[i]) for i in idx]


def chart_figure(result: BacktestResult, candles_by_route: dict[str, np.ndarray]) -> Any:
    """Build the plotly figure. ``candles_by_route`` maps ``RouteSpec.key`` to that route's
    candles (``[timestamp, open, close, high, low, volume]``); candles outside the run's
    period (warm-up) are left out. What a strategy drew with Jesse's chart helpers
    (``result.extra["charts"]``) goes on its candle panel, and each extra chart it named on a
    panel of its own right below."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    routes = result.routes
    drawn = result.extra.get("charts") or {}
    panels: list[tuple[Any, str | None]] = []  # (route, None) or (route, extra chart name)
    for route in routes:
        panels.append((route, None))
        extra = drawn.get(route.key, {})
        names = list(extra.get("extra_lines", {}))
        names += [n for n in extra.get("extra_hlines", {}) if n not in names]
        panels.extend((route, name) for name in names)
    from jbt.timeframes import normalize

    n = len(panels)
    shown: dict[str, tuple[np.ndarray, str]] = {}
    for route in routes:
        c = _candles_in_period(candles_by_route.get(route.key), result.start, result.end)
        shown[route.key] = drawn_candles(c, route.timeframe)

    def title(r: Any) -> str:
        tf = shown[r.key][1]
        drawn_as = "" if tf == normalize(r.timeframe) else f", drawn as {tf} candles"
        return f"{r.symbol} {r.timeframe} · {r.strategy} ({r.exchange}{drawn_as})"

    titles = [title(r) if name is None else f"{r.symbol} {r.timeframe} · {name}"
              for r, name in panels]
    fig = make_subplots(
        rows=n + 2, cols=1, shared_xaxes=True, vertical_spacing=0.04,
        row_heights=[3.0 if name is None else 1.5 for _, name in panels] + [2.0, 1.0],
        subplot_titles=[*titles, "Equity", "Drawdown"],
    )
    for row, (route, name) in enumerate(panels, start=1):
        chart = drawn.get(route.key, {})
        if name is not None:
            _drawn_lines(fig, go, row, route.key, name, chart.get("extra_lines", {}).get(name, {}),
                         chart.get("extra_hlines", {}).get(name, {}), result)
            continue
        c = shown[route.key][0]
        fig.add_trace(
            go.Candlestick(
                x=c[:, TIMESTAMP].astype(np.int64).tolist(), open=c[:, OPEN].tolist(),
                high=c[:, HIGH].tolist(), low=c[:, LOW].tolist(), close=c[:, CLOSE].tolist(),
                name=route.symbol, increasing_line_color=_UP, decreasing_line_color=_DOWN,
                meta={"route": route.key, "role": "candles"},
            ),
            row=row, col=1,
        )
        trades = [t for t in result.trades if t.route == route.key]
        fig.add_trace(
            go.Scatter(
                x=[t.entry_time for t in trades], y=[t.entry_price for t in trades],
                customdata=[t.id for t in trades], mode="markers", name="entries",
                marker={
                    "symbol": ["triangle-up" if t.is_long else "triangle-down" for t in trades],
                    "color": [_UP if t.is_long else _DOWN for t in trades],
                    "size": 11, "line": {"width": 1, "color": "#333"},
                },
                text=[f"#{t.id} {t.side} {t.qty:g} @ {t.entry_price:,.8g}" for t in trades],
                hoverinfo="x+text", meta={"route": route.key, "role": "entries"},
            ),
            row=row, col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[t.exit_time for t in trades], y=[t.exit_price for t in trades],
                customdata=[t.id for t in trades], mode="markers", name="exits",
                marker={
                    "symbol": "x", "size": 10,
                    "color": [_UP if t.pnl > 0 else _DOWN if t.pnl < 0 else "#888"
                              for t in trades],
                },
                text=[f"#{t.id} {t.closed_by} @ {t.exit_price:,.8g}, PnL {t.pnl:,.2f}"
                      for t in trades],
                hoverinfo="x+text", meta={"route": route.key, "role": "exits"},
            ),
            row=row, col=1,
        )
        _drawn_lines(fig, go, row, route.key, None, chart.get("candle_lines", {}),
                     chart.get("candle_hlines", {}), result)
        fig.update_xaxes(rangeslider_visible=False, row=row, col=1)
        fig.update_yaxes(title_text="price", row=row, col=1)
    eq_t, eq_v = thin_line(result.equity_time, result.equity)
    fig.add_trace(
        go.Scatter(x=eq_t, y=eq_v, mode="lines", name="equity",
                   line={"color": "#1f77b4"}, meta={"role": "equity"}),
        row=n + 1, col=1,
    )
    dd_t, dd_v = thin_line(result.equity_time,
                           drawdown_curve(result.equity, result.starting_balance))
    fig.add_trace(
        go.Scatter(x=dd_t, y=dd_v, mode="lines", fill="tozeroy", name="drawdown",
                   line={"color": _DOWN}, meta={"role": "drawdown"}),
        row=n + 2, col=1,
    )
    fig.update_yaxes(title_text="equity", row=n + 1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".1%", row=n + 2, col=1)
    fig.update_xaxes(type="date")
    fig.update_layout(
        title={"text": f"jbt backtest {_period(result)}"}, showlegend=False,
        height=sum(320 if name is None else 160 for _, name in panels) + 420,
        hovermode="closest", template="plotly_white",
        margin={"l": 60, "r": 20, "t": 70, "b": 40},
    )
    return fig


def _drawn_lines(fig: Any, go: Any, row: int, route_key: str, chart_name: str | None,
                 lines: dict[str, Any], hlines: dict[str, Any], result: BacktestResult) -> None:
    """The lines a strategy drew on one panel: its value lines, then its horizontal lines
    (drawn across the run's period)."""
    for title, line in lines.items():
        points = line.get("points", [])
        fig.add_trace(
            go.Scatter(
                x=[int(t) for t, _ in points], y=[float(v) for _, v in points], mode="lines",
                name=title, line={"color": line.get("color"), "width": 1.5},
                meta={"route": route_key, "role": "line", "chart": chart_name, "title": title},
            ),
            row=row, col=1,
        )
    for title, h in hlines.items():
        dash = "dot" if h.get("line_style") == "dotted" else "solid"
        fig.add_trace(
            go.Scatter(
                x=[result.start, result.end], y=[h["value"], h["value"]], mode="lines",
                name=title, line={"color": h.get("color"), "width": h.get("line_width", 1.5),
                                  "dash": dash},
                meta={"route": route_key, "role": "hline", "chart": chart_name, "title": title},
            ),
            row=row, col=1,
        )


def _period(result: BacktestResult) -> str:
    from jbt.report import fmt_date

    return f"{fmt_date(result.start)} → {fmt_date(result.end)}"


def write_chart(result: BacktestResult, candles_by_route: dict[str, np.ndarray],
                path: str | Path) -> Path:
    """Write the chart as one HTML file with plotly.js inlined (no CDN, works offline)."""
    fig = chart_figure(result, candles_by_route)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = fig.to_html(
        include_plotlyjs=True, include_mathjax=False, full_html=True, div_id=DIV_ID,
        config={"displaylogo": False, "responsive": True},
    )
    path.write_text(html, encoding="utf-8")
    return path


def write_page(path: str | Path, title: str, lines: Sequence[str], figs: dict[str, Any],
               height: int | None = None) -> Path:
    """One self-contained page of several figures (the study, walk-forward and robustness
    charts): plotly.js inlined once, the header ``lines`` as paragraphs, then one ``<div
    id="jbt-NAME">`` per figure; nothing is fetched from the network."""
    import html

    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    parts = []
    for name, fig in figs.items():
        fig.update_layout(template="plotly_white")
        if height is not None:
            fig.update_layout(height=height)
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=False,
                                 div_id=f"jbt-{name}",
                                 config={"displaylogo": False, "responsive": True}))
    head = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em 2em}p{margin:.2em 0}</style>"
        f"</head><body>\n<script type=\"text/javascript\">{get_plotlyjs()}</script>\n"
        f"{head}\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
