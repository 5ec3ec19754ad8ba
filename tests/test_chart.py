"""The chart page holds the candles, every trade marker and the equity, and works offline."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from report_fixtures import BTC, ETH, T0, H, make_result

from jbt.chart import DIV_ID, drawdown_curve, write_chart
from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP

_BUNDLE = re.compile(r"<script[^>]*>\s*/\*\*\s*\*\s*plotly\.js v[\d.]+.*?</script>", re.S)


def split_page(html: str) -> tuple[str, str]:
    """(the inlined plotly.js bundle, everything else in the page)."""
    bundles = _BUNDLE.findall(html)
    assert len(bundles) == 1, "plotly.js must be inlined exactly once"
    return bundles[0], _BUNDLE.sub("", html)


def figure_from_page(rest: str) -> tuple[list[dict], dict]:
    """The data and layout arguments of the page's ``Plotly.newPlot(id, data, layout, ...)``."""
    dec = json.JSONDecoder()
    i = rest.index("Plotly.newPlot(") + len("Plotly.newPlot(")

    def value(pos: int):
        while rest[pos] in " \n\t,":
            pos += 1
        return dec.raw_decode(rest, pos)

    div, i = value(i)
    assert div == DIV_ID
    data, i = value(i)
    layout, _ = value(i)
    return data, layout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    result, candles = make_result()
    # Warm-up candles before the start must not be drawn.
    warm = candles[BTC.key][:3].copy()
    warm[:, TIMESTAMP] -= 3 * H
    candles = {**candles, BTC.key: np.vstack([warm, candles[BTC.key]])}
    path = write_chart(result, candles, tmp_path_factory.mktemp("chart") / "run.html")
    return result, candles, path.read_text(encoding="utf-8")


def test_page_holds_candles_markers_and_equity(page) -> None:
    result, candles, html = page
    _, rest = split_page(html)
    data, layout = figure_from_page(rest)
    by = {(t.get("meta", {}).get("route"), t["meta"]["role"]): t for t in data}
    for route in (BTC, ETH):
        c = candles[route.key]
        c = c[c[:, TIMESTAMP] >= T0]
        tr = by[(route.key, "candles")]
        assert tr["type"] == "candlestick"
        assert tr["x"] == c[:, TIMESTAMP].astype(int).tolist()  # every candle, no warm-up
        assert tr["open"] == c[:, OPEN].tolist() and tr["close"] == c[:, CLOSE].tolist()
        assert tr["high"] == c[:, HIGH].tolist() and tr["low"] == c[:, LOW].tolist()
        trades = [t for t in result.trades if t.route == route.key]
        entries, exits = by[(route.key, "entries")], by[(route.key, "exits")]
        assert entries["customdata"] == [t.id for t in trades]
        assert entries["x"] == [t.entry_time for t in trades]
        assert entries["y"] == [t.entry_price for t in trades]
        assert exits["x"] == [t.exit_time for t in trades]
        assert exits["y"] == [t.exit_price for t in trades]
    assert sum(len(by[(r.key, "entries")]["x"]) for r in (BTC, ETH)) == len(result.trades)
    eq = by[(None, "equity")]
    assert eq["x"] == result.equity_time
    assert eq["y"] == pytest.approx(result.equity, rel=0, abs=0)
    dd = by[(None, "drawdown")]["y"]
    assert len(dd) == len(result.equity) and max(dd) <= 0.0
    assert min(dd) == pytest.approx(min(drawdown_curve(result.equity, 10_000.0)))
    assert "Drawdown" in json.dumps(layout) and "Equity" in json.dumps(layout)


def test_page_references_nothing_on_the_network(page) -> None:
    """No tag loads anything (no <script src>, <link>, <img>, <iframe>, CSS @import/url()),
    and outside the inlined plotly.js bundle there is no URL at all. The bundle's own code
    carries URL strings (license notes, the topojson/map-tile defaults used only by geo and
    map traces); the page draws only candlestick and scatter traces, which fetch nothing."""
    _, _, html = page
    bundle, rest = split_page(html)
    assert len(bundle) > 1_000_000  # the full library is inside the page
    assert not re.search(r"<(script|img|iframe|source|embed)\b[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert not re.search(r"@import|url\(", rest, re.I)
    assert not re.search(r"https?:|//cdn|\bwww\.", rest, re.I)
    data, _ = figure_from_page(rest)
    assert {t["type"] for t in data} == {"candlestick", "scatter"}


def test_drawdown_curve_by_hand() -> None:
    # Start 100: 90 is -10% of the starting peak; 120 new peak; 108 is -10% of 120.
    assert drawdown_curve([90.0, 120.0, 108.0], 100.0) == pytest.approx([-0.1, 0.0, -0.1])
    assert drawdown_curve([], 100.0) == []


def test_a_year_of_1m_candles_is_drawn_as_1h_candles_with_every_extreme(tmp_path) -> None:
    from jbt.chart import MAX_CANDLES, drawn_candles
    from jbt.timeframes import aggregate

    rng = np.random.default_rng(3)
    n = 366 * 1440
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    base = np.empty((n, 6))
    base[:, TIMESTAMP] = 1_704_067_200_000 + 60_000 * np.arange(n) + 37 * 60_000  # not on the hour
    base[:, OPEN] = np.r_[close[0], close[:-1]]
    base[:, CLOSE] = close
    base[:, HIGH] = np.maximum(base[:, OPEN], close) * (1 + rng.uniform(0, 1e-3, n))
    base[:, LOW] = np.minimum(base[:, OPEN], close) * (1 - rng.uniform(0, 1e-3, n))
    base[:, 5] = 1.0
    drawn, tf = drawn_candles(base, "1m")
    assert tf == "1h" and len(drawn) <= MAX_CANDLES
    # each drawn bar is its hour of 1m candles, the first and last partial hours included
    assert np.array_equal(drawn, aggregate(base, "1m", "1h", complete_only=False))
    assert drawn[0, TIMESTAMP] == base[0, TIMESTAMP] - 37 * 60_000
    assert drawn[:, HIGH].max() == base[:, HIGH].max() and drawn[:, LOW].min() == base[:, LOW].min()
    assert drawn[0, OPEN] == base[0, OPEN] and drawn[-1, CLOSE] == base[-1, CLOSE]
    # the route's own candles when they fit
    same, tf_same = drawn_candles(base[:MAX_CANDLES], "1m")
    assert tf_same == "1m" and np.array_equal(same, base[:MAX_CANDLES])


def test_the_chart_says_when_candles_are_drawn_coarser(tmp_path, monkeypatch) -> None:
    import jbt.chart as chart

    result, candles = make_result()
    c = candles[BTC.key]
    c = c[c[:, TIMESTAMP] >= T0]
    monkeypatch.setattr(chart, "MAX_CANDLES", len(c) - 1)
    html = write_chart(result, candles, tmp_path / "run.html").read_text(encoding="utf-8")
    data, layout = figure_from_page(split_page(html)[1])
    tr = next(t for t in data if t["meta"].get("route") == BTC.key and t["meta"]["role"] == "candles")
    assert len(tr["x"]) < len(c)
    assert max(tr["high"]) == c[:, HIGH].max() and min(tr["low"]) == c[:, LOW].min()
    titles = [a["text"] for a in layout["annotations"]]
    assert any(BTC.symbol in t and "drawn as" in t for t in titles), titles
