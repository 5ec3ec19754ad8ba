"""Benchmark the backtest engine: the example EMA-cross strategy, written the natural way
(indicator calls on self.candles every bar), on one year of seeded 1m candles (525,600).

    python bench/bench_backtest.py            # 4h, 1h, 15m, 1m, each in its own process
    python bench/bench_backtest.py --tf 1h    # one timeframe

For each timeframe a fresh subprocess generates the candles, runs ``run_backtest`` once on the
first 10,000 candles to load every module, then times one run on the year (the engine time:
aggregation, the bar loop, fills, indicators). Peak memory is the subprocess's maximum resident
set size (ru_maxrss): the interpreter, NumPy, the year of candles and the run. No database is involved; loading
from SQLite is measured by bench/bench_candles.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEFRAMES = ("4h", "1h", "15m", "1m")
TARGETS = {"4h": 0.1, "1h": 0.15, "15m": 0.4, "1m": 4.0}
N = 525_600
T0 = 1_577_836_800_000  # 2020-01-01 UTC


def make_candles(n: int = N, seed: int = 7):
    """A seeded geometric random walk of 1m candles in jbt's column order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.r_[20_000.0, close[:-1]]
    wiggle = np.abs(rng.normal(0.0, 0.0005, (2, n))) * close
    high = np.maximum(open_, close) + wiggle[0]
    low = np.minimum(open_, close) - wiggle[1]
    ts = T0 + 60_000 * np.arange(n, dtype=np.float64)
    vol = rng.uniform(1, 10, n)
    return np.ascontiguousarray(np.column_stack([ts, open_, close, high, low, vol]))


def run_one(tf: str, fast_path: bool = True) -> dict:
    sys.path.insert(0, str(ROOT))
    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy

    candles = make_candles()
    ema_cross = load_strategy(ROOT, "EmaCross")
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=210))
    route = RouteSpec("bench", "BTC-USDT", tf, "EmaCross")

    def once(data):
        t = time.perf_counter()
        r = run_backtest(cfg, [route], {("bench", "BTC-USDT"): data}, "1m",
                         {"EmaCross": ema_cross}, T0, T0 + len(data) * 60_000,
                         fast_path=fast_path)
        return time.perf_counter() - t, r

    once(candles[:10_000])
    seconds, result = once(candles)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "tf": tf,
        "seconds": seconds,
        "bars": len(result.equity),
        "trades": len(result.trades),
        "finishing_balance": result.finishing_balance,
        "peak_rss_mb": rss_kb / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", choices=TIMEFRAMES, help="run one timeframe in this process")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--walk-all", action="store_true",
                        help="walk every 1m candle (fast_path=False), for comparison")
    args = parser.parse_args()
    if args.tf:
        out = run_one(args.tf, fast_path=not args.walk_all)
        print(json.dumps(out) if args.json else out)
        return
    mode = "every 1m candle walked" if args.walk_all else "fast path"
    print(f"EMA cross 20/50 on {N:,} seeded 1m candles (engine time of one run, {mode})")
    print(f"{'tf':>4} {'bars':>8} {'trades':>7} {'engine s':>9} {'target s':>9} {'peak MB':>8}")
    for tf in TIMEFRAMES:
        proc = subprocess.run(
            [sys.executable, __file__, "--tf", tf, "--json"]
            + (["--walk-all"] if args.walk_all else []),
            capture_output=True, text=True, check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ok = "ok" if r["seconds"] <= TARGETS[tf] and r["peak_rss_mb"] <= 300 else "SLOW"
        print(f"{tf:>4} {r['bars']:>8,} {r['trades']:>7,} {r['seconds']:>9.3f} "
              f"{TARGETS[tf]:>9.2f} {r['peak_rss_mb']:>8.0f}  {ok}")


if __name__ == "__main__":
    main()
