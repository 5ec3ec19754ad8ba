"""The pages of ``jbt walk-forward --chart`` and ``jbt robustness --chart``: one
self-contained HTML file each (plotly.js inlined once, nothing fetched), one ``<div
id="jbt-NAME">`` per figure.

Walk-forward: ``oos`` (the stitched out-of-sample run charted as a backtest is: candles with
the trades, equity, drawdown; each window's testing part shaded), ``windows`` (in-sample and
out-of-sample return per window), ``params`` (the parameters chosen per window).

Robustness: ``mc-fan`` (the closed-trade balance after each trade: the session's, and the
bootstrap's 5–95% and 25–75% bands and median), ``mc-hist`` (final return and max drawdown
over the scenarios), ``paths-fan`` (daily equity of the price paths, per kind: bands and
median, and the session's), ``paths-hist`` (their total returns), ``pbo`` (the CSCV logits),
``warmup`` (trades and net profit per warm-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jbt.chart import write_page

# ------------------------------------------------------------------------- walk-forward


def walk_forward_figures(res: Any) -> dict[str, Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from jbt.chart import chart_figure
    from jbt.sessions import route_candles

    out: dict[str, Any] = {}
    fig = chart_figure(res.stitched, route_candles(res.stitched))
    for w in res.windows:
        fig.add_vrect(x0=w.test[0], x1=w.test[1], fillcolor="#1f77b4" if w.index % 2 else "#999",
                      opacity=0.07, line_width=0, annotation_text=f"w{w.index + 1}",
                      annotation_position="top left")
    fig.update_layout(title={"text": f"Walk-forward {res.name}: stitched out-of-sample"})
    out["oos"] = fig

    labels = [f"w{w.index + 1}" for w in res.windows]
    fig = go.Figure()
    for role, name in (("in_sample", "in-sample (training)"),
                       ("out_of_sample", "out-of-sample (testing)")):
        fig.add_trace(go.Bar(x=labels, y=[(getattr(w, role) or {}).get("total_return")
                                          for w in res.windows], name=name,
                             meta={"role": role}))
    fig.update_layout(title="Return per window", yaxis_tickformat=".1%", barmode="group",
                      height=380)
    out["windows"] = fig

    params = list(res.space.params)
    if params:
        fig = make_subplots(rows=len(params), cols=1, shared_xaxes=True,
                            subplot_titles=[p.key for p in params], vertical_spacing=0.08)
        for i, p in enumerate(params, start=1):
            vals = [w.params.get(p.key) if w.status == "ok" else None for w in res.windows]
            fig.add_trace(go.Scatter(x=labels, y=[str(v) if p.kind == "categorical" else v
                                                  for v in vals],
                                     mode="lines+markers", name=p.key,
                                     meta={"role": "param", "key": p.key}), row=i, col=1)
            if p.kind != "categorical":
                fig.update_yaxes(range=[float(p.low), float(p.high)], row=i, col=1)
        fig.update_layout(title="Parameters chosen per window", showlegend=False,
                          height=220 * len(params) + 80)
        out["params"] = fig
    return out


def write_walk_forward_chart(res: Any, path: str | Path) -> Path:
    from jbt.validation.report import wf_header_lines

    return write_page(path, f"jbt walk-forward {res.name}", wf_header_lines(res),
                      walk_forward_figures(res))


# --------------------------------------------------------------------------- robustness


def _fan(fig: Any, go: Any, x: Sequence[Any], fan: dict[str, Sequence[float]], name: str,
         color: str) -> None:
    for lo, hi, opacity in (("p5", "p95", 0.15), ("p25", "p75", 0.3)):
        fig.add_trace(go.Scatter(x=list(x), y=list(fan[hi]), mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip",
                                 meta={"role": f"{name}-{hi}"}))
        fig.add_trace(go.Scatter(x=list(x), y=list(fan[lo]), mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor=_rgba(color, opacity),
                                 name=f"{name} {lo[1:]}–{hi[1:]}%", meta={"role": f"{name}-{lo}"}))
    fig.add_trace(go.Scatter(x=list(x), y=list(fan["p50"]), mode="lines",
                             line={"color": color}, name=f"{name} median",
                             meta={"role": f"{name}-p50"}))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def robustness_figures(doc: dict[str, Any]) -> dict[str, Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out: dict[str, Any] = {}
    mc = doc.get("trades")
    if mc:
        x = list(range(mc["trades"] + 1))
        fig = go.Figure()
        _fan(fig, go, x, mc["bootstrap"]["fan"], "bootstrap", "#1f77b4")
        fig.add_trace(go.Scatter(x=x, y=mc["original"], mode="lines", name="session",
                                 line={"color": "#d62728"}, meta={"role": "original"}))
        fig.update_layout(title="Trade-sequence Monte Carlo: balance after each closed trade",
                          xaxis_title="trades", yaxis_title="balance", height=460)
        out["mc-fan"] = fig
        fig = make_subplots(rows=1, cols=2, subplot_titles=["final return", "max drawdown"])
        for method, color in (("shuffle", "#ff7f0e"), ("bootstrap", "#1f77b4")):
            m = mc[method]
            for col, key in ((1, "final_return"), (2, "max_drawdown")):
                if method == "shuffle" and key == "final_return":
                    continue  # the same for every shuffle
                fig.add_trace(go.Histogram(x=m[key]["values"], name=f"{method} {key}",
                                           marker_color=color, opacity=0.6, nbinsx=50,
                                           meta={"role": f"{method}-{key}"}), row=1, col=col)
        fig.update_xaxes(tickformat=".0%")
        fig.update_layout(title="Trade-sequence Monte Carlo: distributions", barmode="overlay",
                          height=400)
        out["mc-hist"] = fig
    paths = doc.get("paths")
    if paths:
        fig = go.Figure()
        colors = {"bootstrap": "#1f77b4", "noise": "#2ca02c"}
        for kind in ("bootstrap", "noise"):
            k = paths.get(kind)
            if k and k.get("fan"):
                _fan(fig, go, k["fan"]["days"], k["fan"], kind, colors[kind])
        fig.add_trace(go.Scatter(x=paths["original_equity"]["days"],
                                 y=paths["original_equity"]["values"], mode="lines",
                                 name="session", line={"color": "#d62728"},
                                 meta={"role": "original"}))
        fig.update_layout(title="Price paths: daily equity", xaxis_title="day",
                          yaxis_title="equity", height=460)
        out["paths-fan"] = fig
        fig = go.Figure()
        for kind in ("bootstrap", "noise"):
            k = paths.get(kind)
            if k:
                fig.add_trace(go.Histogram(x=k["metrics"]["total_return"]["values"], name=kind,
                                           marker_color=colors[kind], opacity=0.6, nbinsx=40,
                                           meta={"role": kind}))
        fig.update_layout(title="Price paths: total return", barmode="overlay",
                          xaxis_tickformat=".0%", height=380)
        out["paths-hist"] = fig
    pbo = doc.get("pbo")
    if pbo:
        fig = go.Figure(go.Histogram(x=pbo["logits"], nbinsx=40, meta={"role": "logits"}))
        fig.add_vline(x=0, line_dash="dash")
        fig.update_layout(title=f"CSCV logits of the in-sample best's out-of-sample rank "
                                f"(PBO {pbo['pbo'] * 100:.1f}%: the share at or left of 0)",
                          xaxis_title="logit", height=380)
        out["pbo"] = fig
    warm = doc.get("warmup")
    if warm:
        ok = [r for r in warm["runs"] if not r.get("error")]
        fig = go.Figure(go.Bar(
            x=[str(r["warmup"]) for r in ok], y=[r["metrics"].get("net_profit") for r in ok],
            marker_color=["#2ca02c" if r["same"] else "#d62728" for r in ok],
            text=[f"{r['metrics'].get('total_trades')} trades" for r in ok],
            meta={"role": "warmup"}))
        fig.update_layout(title="Warm-up sensitivity: net profit per warmup_candles (green: the "
                                "same trades as the longest)", xaxis_title="warmup_candles",
                          xaxis_type="category", height=380)
        out["warmup"] = fig
    return out


def write_robustness_chart(doc: dict[str, Any], path: str | Path) -> Path:
    return write_page(path, "jbt robustness", doc["header"], robustness_figures(doc))


def fan_of(rows: Sequence[Sequence[float]], qs: Sequence[int] = (5, 25, 50, 75, 95)
           ) -> dict[str, list[float]]:
    """Per column percentiles of equal-length rows (the price paths' daily equity)."""
    m = np.asarray(rows, dtype=np.float64)
    return {f"p{q}": v.tolist() for q, v in zip(qs, np.percentile(m, qs, axis=0), strict=True)}
