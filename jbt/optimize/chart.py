"""The chart page of a study: one self-contained HTML file that works offline.

Figures (each a ``<div>`` drawn by ``Plotly.newPlot``; plotly.js is inlined once):

- ``history``: the training objective of every feasible trial by trial number, its testing
  value, the best training value so far, and the infeasible trials' training values;
- ``importance``: how much each searched parameter matters to the training objective
  (Optuna's PED-ANOVA over the feasible trials; equal when there are fewer than three);
- ``parallel``: parallel coordinates, one line per feasible trial (params, then the training
  and testing objective);
- ``heatmap``: the best training objective over the two most important parameters. A numeric
  parameter with more than ``HEATMAP_CELLS`` distinct values is cut into ``HEATMAP_CELLS``
  equal-width bins over its range (a cell is labelled by its centre); otherwise each value is
  a cell. Empty cells are blank;
- ``pareto`` (two objectives): the feasible trials' training objectives, the front marked.

Objectives are the first one's unless named; categorical values are drawn by their index on
the parallel coordinates, with their text as tick labels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jbt.optimize.space import Param
from jbt.optimize.study import StudySettings, TrialRecord, pareto_numbers

HEATMAP_CELLS = 20
FIGURES = ("history", "importance", "parallel", "heatmap", "pareto")


def importances(settings: StudySettings, records: Sequence[TrialRecord]) -> dict[str, float]:
    """Each parameter's share of the training objective's variation, largest first."""
    import optuna
    from optuna.trial import create_trial

    keys = [p.key for p in settings.space.params]
    ok = [r for r in records if r.status == "ok"]
    if len(keys) == 1 or len(ok) < 3:
        return {k: 1.0 / len(keys) for k in keys}
    dists = settings.space.distributions()
    study = optuna.create_study(direction=settings.objectives[0].direction,
                                storage=optuna.storages.InMemoryStorage())
    study.add_trials([create_trial(params=r.params, distributions=dists, value=r.values[0])
                      for r in ok])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    return {k: float(got.get(k, 0.0)) for k in sorted(keys, key=lambda k: -got.get(k, 0.0))}


def heatmap_axis(param: Param, values: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """(cell labels, cell index of each value): see the module docstring."""
    distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
    if param.kind == "categorical":
        labels = [c for c in param.choices or () if c in set(values)] or distinct
        return [str(x) for x in labels], [labels.index(v) for v in values]
    if len(distinct) <= HEATMAP_CELLS:
        return distinct, [distinct.index(v) for v in values]
    lo, hi = float(param.low), float(param.high)
    width = (hi - lo) / HEATMAP_CELLS or 1.0
    idx = [min(HEATMAP_CELLS - 1, int((float(v) - lo) / width)) for v in values]
    labels = [lo + (i + 0.5) * width for i in range(HEATMAP_CELLS)]
    return labels, idx


def _better(maximize: bool, a: float, b: float | None) -> bool:
    return b is None or (a > b if maximize else a < b)


def figures(settings: StudySettings, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """The page's plotly figures by name."""
    import plotly.graph_objects as go

    obj = settings.objectives[0]
    name = obj.name
    ok = [r for r in records if r.status == "ok"]
    out: dict[str, Any] = {}

    # history
    best, running = None, []
    for r in ok:
        if _better(obj.maximize, r.values[0], best):
            best = r.values[0]
        running.append(best)
    infeasible = [r for r in records if r.status == "infeasible"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r.number for r in ok], y=[r.values[0] for r in ok],
                             mode="markers", name=f"{name} (training)",
                             meta={"role": "train"}))
    fig.add_trace(go.Scatter(x=[r.number for r in ok], y=[r.test_values[0] for r in ok],
                             mode="markers", name=f"{name} (testing)", marker={"symbol": "x"},
                             meta={"role": "test"}))
    fig.add_trace(go.Scatter(x=[r.number for r in ok], y=running, mode="lines",
                             line={"shape": "hv"}, name="best so far (training)",
                             meta={"role": "best"}))
    fig.add_trace(go.Scatter(x=[r.number for r in infeasible],
                             y=[r.values[0] for r in infeasible], mode="markers",
                             marker={"color": "#aaa"}, name="infeasible (training)",
                             meta={"role": "infeasible"}))
    failed = sum(r.status == "failed" for r in records)
    fig.update_layout(title=f"Optimisation history: {name} by trial ({len(ok)} feasible, "
                            f"{len(infeasible)} infeasible, {failed} failed)",
                      xaxis_title="trial", yaxis_title=name)
    out["history"] = fig

    # importance
    imp = importances(settings, records)
    fig = go.Figure(go.Bar(x=list(imp.values()), y=list(imp), orientation="h",
                           meta={"role": "importance"}))
    fig.update_layout(title=f"Parameter importance for {name} (training)",
                      yaxis={"autorange": "reversed"}, xaxis_title="importance")
    out["importance"] = fig

    # parallel coordinates
    dims = []
    for p in settings.space.params:
        values = [r.params[p.key] for r in ok]
        if p.kind == "categorical":
            choices = list(p.choices or ())
            dims.append({"label": p.key, "values": [choices.index(v) for v in values],
                         "tickvals": list(range(len(choices))),
                         "ticktext": [str(c) for c in choices]})
        else:
            dims.append({"label": p.key, "values": values})
    train = [r.values[0] for r in ok]
    test = [r.test_values[0] for r in ok]
    dims.append({"label": f"{name} train", "values": train})
    dims.append({"label": f"{name} test",
                 "values": [v if v is not None else math.nan for v in test]})
    fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": train, "showscale": True},
                                 meta={"role": "parallel"}))
    fig.update_layout(title=f"Parallel coordinates (feasible trials, colour: {name} training)")
    out["parallel"] = fig

    # heatmap of the two most important parameters
    top = list(imp)[:2]
    if len(top) == 2:
        px, py = (next(p for p in settings.space.params if p.key == k) for k in top)
        xl, xi = heatmap_axis(px, [r.params[px.key] for r in ok])
        yl, yi = heatmap_axis(py, [r.params[py.key] for r in ok])
        z: list[list[float | None]] = [[None] * len(xl) for _ in yl]
        for r, i, j in zip(ok, xi, yi, strict=True):
            if _better(obj.maximize, r.values[0], z[j][i]):
                z[j][i] = r.values[0]
        fig = go.Figure(go.Heatmap(x=xl, y=yl, z=z, colorbar={"title": name},
                                   meta={"role": "heatmap", "x": px.key, "y": py.key}))
        fig.update_layout(title=f"Best {name} (training) over {px.key} and {py.key}",
                          xaxis_title=px.key, yaxis_title=py.key)
        out["heatmap"] = fig

    if settings.multi:
        o2 = settings.objectives[1]
        front = pareto_numbers(settings, records)
        fig = go.Figure()
        for role, group in (("front", [r for r in ok if r.number in front]),
                            ("dominated", [r for r in ok if r.number not in front])):
            fig.add_trace(go.Scatter(
                x=[r.values[0] for r in group], y=[r.values[1] for r in group],
                customdata=[r.number for r in group], mode="markers",
                name="Pareto front" if role == "front" else "other trials",
                meta={"role": role}, hovertemplate="trial %{customdata}<extra></extra>",
            ))
        fig.update_layout(title=f"Training {name} and {o2.name}", xaxis_title=name,
                          yaxis_title=o2.name)
        out["pareto"] = fig
    return out


def write_study_chart(settings: StudySettings, records: Sequence[TrialRecord],
                      path: str | Path) -> Path:
    """Write the study's page: plotly.js inlined once, then one ``<div id="jbt-NAME">`` per
    figure; nothing is fetched from the network."""
    from jbt.chart import write_page
    from jbt.optimize.report import header_lines

    return write_page(path, f"jbt study {settings.name}", header_lines(settings),
                      figures(settings, records), height=460)
