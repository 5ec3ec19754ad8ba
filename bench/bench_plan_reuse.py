"""Per-run cost of a reused RunPlan against a fresh run, on the seeded 1m year (525,600 candles).

    python bench/bench_plan_reuse.py             # 1h and 15m, 20 runs each way
    python bench/bench_plan_reuse.py --runs 50 --tf 1h

An optimiser runs one route thousands of times with other hyperparameters. A fresh run
(``run_backtest``) checks and sets everything up again (slicing, aggregating the 1m candles into
bars, the clock and the per-step lookups) before the bar loop; a reused plan
(``plan_run`` once, then ``run_plan`` per run) pays the loop only. The strategy is the
repository's EMA cross with ``fast``/``slow`` varied run by run (the same list of values both
ways, a fresh run and a reused one back to back, so that load changes on a shared machine hit
both); both ways must give the same trades. Times are the process's CPU time (``--wall`` for the wall clock: on a shared machine
the CPU time moves less with the load). Printed: the median and the best per-run time of
each way, and reused ÷ fresh as the median of the back-to-back pairs' ratios (target at 1h:
≤ 0.60).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

TARGET = {"1h": 0.60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", action="append", choices=("4h", "1h", "15m"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--wall", action="store_true",
                        help="time with the wall clock instead of this process's CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time

    from bench_backtest import T0, make_candles

    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest, run_plan
    from jbt.plan import plan_run
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy

    candles = {("bench", "BTC-USDT"): make_candles()}
    end = T0 + 525_600 * 60_000
    cls = load_strategy(ROOT, "EmaCross")
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=210))
    params = [{"EmaCross": {"fast": 5 + (3 * i) % 40, "slow": 50 + (7 * i) % 150}}
              for i in range(args.runs)]
    print(f"EmaCross on {525_600:,} seeded 1m candles, {args.runs} runs each way, "
          f"{'wall-clock' if args.wall else 'CPU'} time (load average {os.getloadavg()[0]:.2f})")
    print(f"{'tf':>4} {'fresh ms (median/best)':>24} {'reused ms (median/best)':>25} "
          f"{'reused/fresh':>13} {'target':>7}  same trades")
    for tf in args.tf or ("1h", "15m"):
        route = [RouteSpec("bench", "BTC-USDT", tf, "EmaCross")]
        strategies = {"EmaCross": cls}
        # warm the imports and caches once each way
        run_backtest(cfg, route, candles, "1m", strategies, T0, end)
        plan = plan_run(cfg, route, candles, "1m", T0, end)
        run_plan(plan, strategies)
        fresh, reused, same = [], [], True
        for hp in params:
            t = clock()
            a = run_backtest(cfg, route, candles, "1m", strategies, T0, end, hyperparameters=hp)
            fresh.append(clock() - t)
            t = clock()
            b = run_plan(plan, strategies, hyperparameters=hp)
            reused.append(clock() - t)
            same &= [vars(x) for x in a.trades] == [vars(x) for x in b.trades] and \
                a.equity == b.equity
        f, r = statistics.median(fresh), statistics.median(reused)
        ratio = statistics.median(b / a for a, b in zip(fresh, reused, strict=True))
        target = f"{TARGET[tf]:.2f}" if tf in TARGET else "-"
        ok = "" if tf not in TARGET else ("  ok" if ratio <= TARGET[tf] else "  SLOW")
        print(f"{tf:>4} {f * 1e3:>14.1f} / {min(fresh) * 1e3:>7.1f} "
              f"{r * 1e3:>15.1f} / {min(reused) * 1e3:>7.1f} {ratio:>13.2f} {target:>7}  "
              f"{'yes' if same else 'NO'}{ok}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
