"""Benchmark ``jbt robustness``'s trade-sequence Monte Carlo: 1,000 scenarios (shuffle and
bootstrap each) of a real 500-trade session.

    python bench/bench_robustness.py
    python bench/bench_robustness.py --scenarios 10000 --rounds 7 --paths 20

It builds a project in a temporary folder (the seeded 1m year of bench_backtest.py, a strategy
that buys and sells every few hours at 1h), backtests it into a saved session and keeps its
first 500 closed trades as the session, then times, the fastest of ``--rounds``:

1. ``trade_monte_carlo`` on the session's trades (the computation: both methods, the
   percentiles, the drawdown probabilities and the fan);
2. the whole ``jbt robustness ID --skip paths,sharpe,warmup`` in this process (reading the
   session back from SQLite included).

Target: under 1 s for 1,000 scenarios of 500 trades. It also checks that two runs with the
same seed give the same figures. With ``--paths N`` it times N block-bootstrap and N noise
paths of the year at 1h with ``--jobs 1`` and ``--jobs 2`` (paths a second).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STRATEGY = '''
from jbt.strategies import Strategy


class Churn(Strategy):
    def should_long(self):
        return self.index % 7 == 0

    def go_long(self):
        self.buy = self.balance * 0.5 / self.price, self.price

    def update_position(self):
        if self.index % 7 == 4:
            self.liquidate()
'''


def make_project(folder: Path) -> None:
    from bench_backtest import make_candles

    from jbt.candles import insert_candles
    from jbt.models import close_database, open_database

    (folder / "strategies" / "Churn").mkdir(parents=True)
    (folder / "strategies" / "Churn" / "__init__.py").write_text(STRATEGY)
    (folder / "routes.py").write_text('routes = [("bench", "BTC-USDT", "1h", "Churn")]\n')
    (folder / "config.toml").write_text("[backtest]\nfee = 0.001\nwarmup_candles = 24\n")
    open_database(f"sqlite:///{folder / 'db.sqlite3'}")
    insert_candles("bench", "BTC-USDT", "1m", make_candles())
    close_database()


def best_of(rounds: int, fn):
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--trades", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--paths", type=int, default=0)
    args = ap.parse_args()

    from jbt.config import load_config
    from jbt.models import open_database
    from jbt.modes import backtest_mode, robustness_mode
    from jbt.sessions import save_session
    from jbt.validation.montecarlo import trade_monte_carlo

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_project(folder)
        config = load_config(folder)
        open_database(config.database_url())
        result = backtest_mode.run(config, project_dir=folder, save=False)
        first = sorted(result.trades, key=lambda t: (t.exit_time, t.entry_time))[:args.trades]
        if len(first) < args.trades:
            sys.exit(f"the backtest made {len(first)} trades, fewer than {args.trades}")
        result.trades = first
        sid = save_session(result)
        print(f"load average {os.getloadavg()[0]:.2f}; session {sid}: {len(first)} closed "
              f"trades; {args.scenarios:,} scenarios per method, best of {args.rounds}")

        t_fn, mc = best_of(args.rounds, lambda: trade_monte_carlo(
            first, result.starting_balance, scenarios=args.scenarios, seed=0))
        again = trade_monte_carlo(first, result.starting_balance, scenarios=args.scenarios,
                                  seed=0)
        same = mc.to_dict() == again.to_dict()
        print(f"trade_monte_carlo (shuffle + bootstrap, percentiles, fan): {t_fn:.3f} s; "
              f"the same seed again gives the same figures: {same}")

        def whole():
            return robustness_mode.run(config, folder, session_id=sid, seed=0,
                                       scenarios=args.scenarios,
                                       skip=("paths", "sharpe", "warmup"))

        t_cmd, doc = best_of(args.rounds, whole)
        b = doc["trades"]["bootstrap"]
        print(f"jbt robustness {sid} --skip paths,sharpe,warmup (in process, session read "
              f"back included): {t_cmd:.3f} s")
        print(f"  bootstrap final return 5/50/95%: "
              f"{b['final_return']['p5']:.2%} / {b['final_return']['p50']:.2%} / "
              f"{b['final_return']['p95']:.2%}; max drawdown median "
              f"{b['max_drawdown']['p50']:.2%}")
        verdict = "PASS" if max(t_fn, t_cmd) < 1.0 else "FAIL"
        print(f"target < 1 s for {args.scenarios:,} scenarios of {len(first)} trades: {verdict}")

        if args.paths:
            result = backtest_mode.run(config, project_dir=folder, save=True)
            for jobs in (1, 2):
                t0 = time.perf_counter()
                robustness_mode.run(config, folder, session_id=result.session_id, seed=0,
                                    paths=args.paths, jobs=jobs,
                                    skip=("trades", "sharpe", "warmup"))
                took = time.perf_counter() - t0
                print(f"price paths, --jobs {jobs}: {2 * args.paths} paths of the year at 1h "
                      f"in {took:.2f} s ({2 * args.paths / took:.1f} paths/s)")
        print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
