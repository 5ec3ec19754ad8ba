"""``jbt optimize show --chart``: one offline page whose figures hold the study's data, read
back from the figure JSON of each ``Plotly.newPlot`` call."""

from __future__ import annotations

import json
import re

import pytest

from .kit import invoke, make_project, study_json

_BUNDLE = re.compile(r"<script[^>]*>\s*/\*\*\s*\*\s*plotly\.js v[\d.]+.*?</script>", re.S)


def figures(html: str) -> dict[str, tuple[list, dict]]:
    """``div id -> (data, layout)`` of every ``Plotly.newPlot(id, data, layout, ...)``."""
    dec = json.JSONDecoder()
    out = {}
    for m in re.finditer(r"Plotly\.newPlot\(", html):
        pos = m.end()
        values = []
        for _ in range(3):
            while html[pos] in " \n\t,":
                pos += 1
            value, pos = dec.raw_decode(html, pos)
            values.append(value)
        out[values[0]] = (values[1], values[2])
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("chart"), route="Mixed")
    res = invoke(root, "optimize", "--trials", "30", "--batch", "10", "--seed", "4",
                 "--min-trades", "12", "--space", "every=4:40", "--study", "c")
    assert res.exit_code == 0, res.output
    page = root / "out" / "c.html"
    res = invoke(root, "optimize", "show", "c", "--chart", str(page))
    assert res.exit_code == 0, res.output
    return study_json(root, "c"), page.read_text(encoding="utf-8")


def test_the_page_is_offline(study):
    _, html = study
    bundles = _BUNDLE.findall(html)
    assert len(bundles) == 1 and len(bundles[0]) > 1_000_000  # plotly.js inlined once
    rest = _BUNDLE.sub("", html)
    assert not re.search(r"<(script|img|iframe|source|embed)\b[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b|@import|url\(", rest, re.I)
    assert not re.search(r"https?:|//cdn|\bwww\.", rest, re.I)


def test_the_figures_hold_the_study(study):
    data, html = study
    figs = figures(_BUNDLE.sub("", html))
    assert set(figs) == {"jbt-history", "jbt-importance", "jbt-parallel", "jbt-heatmap"}
    trials = data["trials"]
    ok = [t for t in trials if t["status"] == "ok"]
    infeasible = [t for t in trials if t["status"] == "infeasible"]
    assert ok and infeasible

    history = {t["meta"]["role"]: t for t in figs["jbt-history"][0]}
    assert history["train"]["x"] == [t["number"] for t in ok]
    assert history["train"]["y"] == [t["values"][0] for t in ok]
    assert history["test"]["y"] == [t["test_values"][0] for t in ok]
    best, running = None, []
    for t in ok:
        best = t["values"][0] if best is None else max(best, t["values"][0])
        running.append(best)
    assert history["best"]["y"] == running
    assert history["infeasible"]["x"] == [t["number"] for t in infeasible]

    (bar,) = figs["jbt-importance"][0]
    keys = [p["key"] for p in data["settings"]["space"]["params"]]
    assert sorted(bar["y"]) == sorted(keys)
    assert bar["x"] == sorted(bar["x"], reverse=True)
    assert sum(bar["x"]) == pytest.approx(1.0)

    (par,) = figs["jbt-parallel"][0]
    dims = {d["label"]: d for d in par["dimensions"]}
    assert dims["every"]["values"] == [t["params"]["every"] for t in ok]
    assert dims["size"]["values"] == [t["params"]["size"] for t in ok]
    assert dims["side"]["ticktext"] == ["long", "flat"]
    assert dims["side"]["values"] == [["long", "flat"].index(t["params"]["side"]) for t in ok]
    assert dims["sharpe train"]["values"] == [t["values"][0] for t in ok]

    (heat,) = figs["jbt-heatmap"][0]
    px, py = bar["y"][:2]  # the two most important parameters
    assert (heat["meta"]["x"], heat["meta"]["y"]) == (px, py)
    params = {p["key"]: p for p in data["settings"]["space"]["params"]}

    def cells(key):
        p = params[key]
        values = [t["params"][key] for t in ok]
        if p["kind"] == "categorical":
            labels = [c for c in p["choices"] if c in values]
            return [str(c) for c in labels], [labels.index(v) for v in values]
        distinct = sorted(set(values))
        if len(distinct) <= 20:
            return distinct, [distinct.index(v) for v in values]
        width = (p["high"] - p["low"]) / 20
        return ([p["low"] + (i + 0.5) * width for i in range(20)],
                [min(19, int((v - p["low"]) / width)) for v in values])

    (xl, xi), (yl, yi) = cells(px), cells(py)
    want = [[None] * len(xl) for _ in yl]
    for t, i, j in zip(ok, xi, yi, strict=True):
        if want[j][i] is None or t["values"][0] > want[j][i]:
            want[j][i] = t["values"][0]
    assert heat["x"] == pytest.approx(xl) if not isinstance(xl[0], str) else heat["x"] == xl
    assert heat["y"] == pytest.approx(yl) if not isinstance(yl[0], str) else heat["y"] == yl
    assert heat["z"] == want
