"""bench/bench_indicators.py keeps running: both strategies go through the real engine and the
report prints both times and their ratio (the timing target itself is the benchmark's job)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_indicators.py"


def test_bench_runs_in_the_engine_and_reports_both_times(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_indicators", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    candles = bench.random_walk_candles(600 + bench.WARMUP)
    plain, ten = bench.backtest(bench.Plain, candles), bench.backtest(bench.TenIndicators, candles)
    assert len(plain.equity) == len(ten.equity) == 600  # one mark per bar close
    assert len(plain.trades) > 0 and len(ten.trades) > 0
    monkeypatch.setattr(sys, "argv", ["bench_indicators.py", "--bars", "600", "--repeats", "1"])
    bench.main()
    out = capsys.readouterr().out
    assert re.search(r"no indicators\s+[\d.]+ ms", out)
    assert re.search(r"10 indicators / bar\s+[\d.]+ ms", out)
    assert re.search(r"ratio\s+[\d.]+ x", out)
