"""bench/jesse_compare.py keeps working without Jesse: the Jesse copy of a strategy differs only
in its import lines, and the jbt half runs every case and reports trades in the shape the
comparison reads (Jesse itself runs only in the benchmark's own environment)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .data import seeded_year
from .examples import SOURCES

BENCH = Path(__file__).resolve().parents[2] / "bench" / "jesse_compare.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("jesse_compare", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_jesse_copy_differs_only_in_imports():
    bench = load_bench()
    for text in [*SOURCES.values(), *bench.EXTRA_SOURCES.values()]:
        theirs = bench.jesse_source(text)
        diff = [(a, b) for a, b in zip(text.splitlines(), theirs.splitlines(), strict=True)
                if a != b]
        assert diff and all(a.replace("jbt", "jesse", 1) == b for a, b in diff)
        assert all(a.lstrip().startswith(("import ", "from ")) for a, _ in diff)


def test_every_case_runs_in_jbt_with_the_benchs_settings():
    bench = load_bench()
    warm = 60 * 1440
    candles = np.asarray(seeded_year()[: warm + 40 * 1440])
    sources = {**SOURCES, **bench.EXTRA_SOURCES,
               "TurtleRules3": bench.jesse3_variant("TurtleRules", SOURCES["TurtleRules"])}
    for name, tf, kind, leverage in bench.CASES + bench.HOOK_CASES:
        run = bench.run_jbt(name, sources[name], tf, kind, leverage, candles, warm,
                            warm // bench._minutes(tf))
        assert run["seconds"] > 0
        if name == "HookOrder":  # the hooks it records, each bar's in Jesse's order
            calls = [c[1] for c in run["calls"]]
            assert calls[:8] == ["before", "should_short", "should_long", "go_long", "filters",
                                 "on_open_position", "after", "update_chart"]
            assert calls[-4:] == ["before_terminate", "on_cancel", "on_close_position",
                                  "terminate"]
            moved = [c[1] for c in bench.market_entry_hooks_last(run["calls"])]
            assert moved[:8] == ["before", "should_short", "should_long", "go_long", "filters",
                                 "after", "update_chart", "on_open_position"]
        for trade in run["trades"]:
            assert set(trade) == {"side", "entry_time", "exit_time", "entry_price",
                                  "exit_price", "qty", "closed_by"}
            assert trade["entry_time"] >= candles[warm, 0] + bench._minutes(tf) * 60_000
    same = {"side": "long", "entry_time": 1, "exit_time": 2, "entry_price": 10.0,
            "exit_price": 11.0, "qty": 1.0}
    assert bench._same(same, dict(same)) == []
    assert bench._same(same, {**same, "qty": 1.001, "exit_time": 3}) == ["exit_time", "qty"]
