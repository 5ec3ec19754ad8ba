"""Benchmark funding in a futures backtest: an EMA-cross year at 1h with and without 8-hourly
funding events (target: with ≤ 1.1× without).

    python bench/bench_futures_funding.py [--repeat 11] [--tf 1h]

Two strategies: the repository's ``EmaCross`` (long while EMA 20 > EMA 50, flat otherwise) on
``type = "futures"``, the benchmark's case, and ``EmaFlip``, the same cross always in the market
(long above, short below), which holds a position through every funding event: the worst case.
The year of seeded 1m candles and the funding events are the fake Binance server's
(``tests/fakes/binance.py``: a seeded random walk from 2020-01-01, events every 8 hours with
seeded rates around 0.01%). Each pair of runs uses the same inputs and the fast path; the two
are timed alternately in one process (CPU time of ``run_backtest``: the plan and the run),
``--repeat`` times each after a warm-up, and the best and median are printed with the load
average (the machine is shared: compare the two columns of one run, not runs of different
moments). No database is involved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
YEAR_MS = 366 * 86_400_000  # 2020 is a leap year
T0 = 1_577_836_800_000  # 2020-01-01 UTC
TARGET = 1.1

STRATEGY = '''
import jbt.indicators as ta
from jbt.strategies import Strategy


class EmaFlip(Strategy):
    """Long while EMA 20 > EMA 50 of the closes, short while below; flips at market."""

    def emas(self):
        fast = ta.ema(self.candles, period=20, sequential=True)
        slow = ta.ema(self.candles, period=50, sequential=True)
        return fast[-1], slow[-1]

    def should_long(self):
        fast, slow = self.emas()
        return fast > slow

    def should_short(self):
        fast, slow = self.emas()
        return fast < slow

    def go_long(self):
        self.buy = self.available_margin * 0.9 * self.leverage / self.price, self.price

    def go_short(self):
        self.sell = self.available_margin * 0.9 * self.leverage / self.price, self.price

    def update_position(self):
        fast, slow = self.emas()
        if (fast < slow) if self.is_long else (fast > slow):
            self.liquidate()
'''


def inputs():
    """The year of 1m candles (jbt's column order) and the funding events ``[time, rate,
    interval]`` of the fake Binance market."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.binance import FakeMarket, _make_candles, _make_funding

    market = FakeMarket("BTC", "USDT", T0, T0 + YEAR_MS, seed=7, start_price=7000.0)
    rows = _make_candles(market)  # Binance's order: time, open, high, low, close, volume
    candles = np.ascontiguousarray(rows[:, [0, 1, 4, 2, 3, 5]])
    events = _make_funding(market)  # time, rate, mark price, interval
    return candles, np.ascontiguousarray(events[:, [0, 1, 3]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--tf", default="1h")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy

    namespace: dict = {}
    exec(compile(STRATEGY, "EmaFlip", "exec"), namespace)  # noqa: S102 - the bench's own source
    strategies = {"EmaCross": load_strategy(ROOT, "EmaCross"), "EmaFlip": namespace["EmaFlip"]}
    candles, events = inputs()
    key = ("bench", "BTC-USDT")
    cfg = Config(backtest=BacktestConfig(fee=0.0004, type="futures", leverage=3.0,
                                         warmup_candles=60))
    end = int(candles[-1, 0]) + 60_000
    print(f"EMA 20/50 cross, futures at leverage 3, {args.tf} on {len(candles):,} seeded 1m "
          f"candles; {len(events):,} funding events (8h); CPU time of run_backtest")
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.repeat} runs "
          "each, alternating")
    print(f"{'':>22} {'best s':>8} {'median s':>9} {'trades':>7} {'payments':>9} "
          f"{'funding':>10} {'fees':>9}")
    verdicts = []
    for name, strategy in strategies.items():
        route = [RouteSpec("bench", "BTC-USDT", args.tf, name)]

        def once(funding, route=route, name=name, strategy=strategy):
            t = time.process_time()
            r = run_backtest(cfg, route, {key: candles}, "1m", {name: strategy},
                             T0 + 86_400_000, end, funding=funding)
            return time.process_time() - t, r

        with_funding = {key: events}
        once(None)
        once(with_funding)
        plain, funded = [], []
        for _ in range(args.repeat):
            s, r0 = once(None)
            plain.append(s)
            s, r1 = once(with_funding)
            funded.append(s)
        assert r1.funding and sum(t.funding for t in r1.trades) != 0.0
        for label, times, r in ((f"{name} without funding", plain, r0),
                                (f"{name} with funding", funded, r1)):
            print(f"{label:>22} {min(times):>8.3f} {statistics.median(times):>9.3f} "
                  f"{len(r.trades):>7,} {len(r.funding):>9,} "
                  f"{sum(t.funding for t in r.trades):>10,.2f} "
                  f"{sum(t.fee for t in r.trades):>9,.2f}")
        ratio_best = min(funded) / min(plain)
        ratio_median = statistics.median(funded) / statistics.median(plain)
        ok = "" if name != "EmaCross" else "  ok" if ratio_best <= TARGET else "  SLOW"
        verdicts.append(f"{name}: with / without {ratio_best:.3f} (best), {ratio_median:.3f} "
                        f"(median){ok}")
    print("\n".join(verdicts) + f"\ntarget: <= {TARGET} for EmaCross")


if __name__ == "__main__":
    main()
