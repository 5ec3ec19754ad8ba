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
