"""N routes on one symbol and timeframe against one route, on the seeded 1m year at 1h.

    python bench/bench_routes_one_symbol.py            # N = 1, 2, 4, 8; best of 5 each
    python bench/bench_routes_one_symbol.py --tf 15m --repeat 3

Each route runs the repository's EMA cross (a subclass per route, since a route is an exchange,
a symbol, a timeframe and a strategy), sized to a small fixed quantity so that the routes never
compete for the shared balance. Routes of one symbol and timeframe share one bar array,
registered once with the indicator cache, so each route's indicator calls are O(1): N routes
should cost about N times one route's bar loop, and less than N times a whole run (the candles
are aggregated once). Printed: the engine time (``run_backtest``) of N routes, its ratio to one
route, and that ratio over N (target ≤ 1.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", default="1h", choices=("4h", "1h", "15m"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from bench_backtest import T0, make_candles

    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy

    base = load_strategy(ROOT, "EmaCross")

    def sized(name: str) -> type:
        class Route(base):
            def go_long(self):
                self.buy = 0.01, self.price

        Route.__name__ = name
        return Route

    candles = {("bench", "BTC-USDT"): make_candles()}
    end = T0 + 525_600 * 60_000
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=210))

    def run(n: int) -> tuple[float, int]:
        names = [f"EmaCross{i}" for i in range(n)]
        routes = [RouteSpec("bench", "BTC-USDT", args.tf, name) for name in names]
        strategies = {name: sized(name) for name in names}
        best = None
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = run_backtest(cfg, routes, candles, "1m", strategies, T0, end)
            took = time.perf_counter() - t
            best = took if best is None else min(best, took)
        return best, len(result.trades)

    run(1)  # imports and first-run caches
    print(f"EmaCross routes on one symbol at {args.tf}, {525_600:,} seeded 1m candles, best of "
          f"{args.repeat} (load average {os.getloadavg()[0]:.2f})")
    print(f"{'routes':>6} {'trades':>7} {'engine s':>9} {'× one route':>12} {'÷ N':>6} "
          f"{'target':>7}")
    one = None
    for n in (1, 2, 4, 8):
        seconds, trades = run(n)
        one = one or seconds
        ratio = seconds / one
        print(f"{n:>6} {trades:>7} {seconds:>9.3f} {ratio:>12.2f} {ratio / n:>6.2f} {1.1:>7.2f}"
              f"  {'ok' if ratio / n <= 1.1 else 'SLOW'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
