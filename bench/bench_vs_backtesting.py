"""jbt against backtesting.py 0.6.6, side by side, on the seeded 1m year at 15m and 1m.

    python bench/bench_vs_backtesting.py                # 15m and 1m, best of 3 each
    python bench/bench_vs_backtesting.py --tf 15m --repeat 5

The strategy is an EMA 20/50 cross, long only, all in, 0.1% fee, written the way each tool's
users write it:

* jbt, as Jesse users write it: in ``before()`` ``f = ta.ema(self.candles, 20,
  sequential=True)``, the same for 50, then ``utils.crossed(f, s, direction="above")`` and
  ``"below"``; ``should_long`` and ``update_position`` read the result. Also the repository's
  own ``strategies/EmaCross`` (indicator calls in the hooks) for comparison.
* backtesting.py: ``self.I(ema, self.data.Close, 20)`` (pandas ``ewm`` seeded with the simple
  mean, as TA-Lib and jbt seed it) and ``crossover()`` in ``next()``, on bars resampled before
  the timing (backtesting.py has no intrabar simulation), ``FractionalBacktest`` for fractional
  BTC sizes.

Both buy at the open of the bar after the cross and sell at the open after the cross back.
The bench checks that both make the same trades (entry and exit times and prices; the
position still open at the end is left out, as backtesting.py leaves it out) and prints the
time of each: jbt's engine time (``run_backtest``: set-up and bar loop) and backtesting.py's
``Backtest(...).run()``. Each measurement is a fresh subprocess that first runs a small slice
(imports, caches), then times the year; the best of ``--repeat`` runs is shown, A and B
alternating, with the load average.

backtesting.py is a bench-only dependency: it is installed with pip into its own virtualenv
under ``$JBT_BENCH_CACHE`` (default ``~/.cache/jbt-bench``), never into the project's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER = "backtesting==0.6.6"
TIMEFRAMES = ("15m", "1m")
FEE = 0.001
BALANCE = 10_000.0


def peer_python() -> Path:
    """The Python of a virtualenv holding backtesting.py 0.6.6 (created on first use)."""
    cache = Path(os.environ.get("JBT_BENCH_CACHE", Path.home() / ".cache" / "jbt-bench"))
    venv = cache / "backtesting-0.6.6"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import backtesting; assert backtesting.__version__ == '0.6.6'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing {PEER} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER], check=True)
    subprocess.run(check, check=True)
    return python


def bars(tf: str, folder: Path) -> Path:
    """The seeded 1m year (bench_backtest.make_candles) resampled to ``tf`` for
    backtesting.py, saved as .npy (jbt reads the 1m candles and aggregates them itself)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from bench_backtest import make_candles

    from jbt.timeframes import aggregate

    path = folder / f"bars-{tf}.npy"
    import numpy as np

    np.save(path, aggregate(make_candles(), "1m", tf))
    return path


# ------------------------------------------------------------------------------ jbt side

JESSE_STYLE = '''
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class JesseEmaCross(Strategy):
    def before(self):
        f = ta.ema(self.candles, 20, sequential=True)
        s = ta.ema(self.candles, 50, sequential=True)
        self.vars["up"] = utils.crossed(f, s, direction="above")
        self.vars["down"] = utils.crossed(f, s, direction="below")

    def should_long(self):
        return self.vars["up"]

    def go_long(self):
        self.buy = self.balance / (self.price * (1 + self.fee_rate)), self.price

    def update_position(self):
        if self.vars["down"]:
            self.liquidate()
'''


def run_jbt(tf: str, strategy: str) -> dict:
    """jbt on the 1m candles (its normal input: the route's bars are aggregated in the run)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from bench_backtest import make_candles

    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy
    from jbt.timeframes import to_ms

    if strategy == "EmaCross":
        cls = load_strategy(ROOT, "EmaCross")
    else:
        scope: dict = {}
        exec(compile(JESSE_STYLE, "jesse_style.py", "exec"), scope)
        cls = scope["JesseEmaCross"]
    data = make_candles()
    cfg = Config(backtest=BacktestConfig(starting_balance=BALANCE, fee=FEE, warmup_candles=0))
    route = RouteSpec("bench", "BTC-USDT", tf, strategy)

    def once(rows):
        t = time.perf_counter()
        r = run_backtest(cfg, [route], {("bench", "BTC-USDT"): rows}, "1m", {strategy: cls},
                         int(rows[0, 0]), int(rows[-1, 0]) + 60_000)
        return time.perf_counter() - t, r

    once(data[: 5_000 * to_ms(tf) // 60_000])
    seconds, result = once(data)
    trades = [[t.entry_time, t.exit_time, t.entry_price, t.exit_price]
              for t in result.trades if t.closed_by != "end-of-run"]
    return {"seconds": seconds, "trades": trades, "bars": len(result.equity) - 1}


# -------------------------------------------------------------------- backtesting.py side

PEER_SCRIPT = r'''
import json, sys, time, warnings
import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover

warnings.filterwarnings("ignore")
path, fee, cash = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])


def ema(values, period):
    """EMA seeded with the simple mean of the first `period` values (as TA-Lib and jbt)."""
    x = pd.Series(values, dtype="float64")
    seeded = x.copy()
    seeded.iloc[: period - 1] = np.nan
    seeded.iloc[period - 1] = x.iloc[:period].mean()
    return seeded.ewm(alpha=2 / (period + 1), adjust=False, ignore_na=True).mean().to_numpy()


class EmaCross(Strategy):
    def init(self):
        self.fast = self.I(ema, self.data.Close, 20)
        self.slow = self.I(ema, self.data.Close, 50)

    def next(self):
        if not self.position and crossover(self.fast, self.slow):
            self.buy()
        elif self.position and crossover(self.slow, self.fast):
            self.position.close()


a = np.load(path)  # jbt order: timestamp, open, close, high, low, volume
df = pd.DataFrame({"Open": a[:, 1], "High": a[:, 3], "Low": a[:, 4], "Close": a[:, 2],
                   "Volume": a[:, 5]}, index=pd.to_datetime(a[:, 0].astype("int64"), unit="ms"))


def once(frame):
    t = time.perf_counter()
    stats = FractionalBacktest(frame, EmaCross, cash=cash, commission=fee).run()
    return time.perf_counter() - t, stats


once(df.iloc[:5_000])
seconds, stats = once(df)
tr = stats["_trades"]
ms = lambda col: (tr[col].astype("datetime64[ms]").astype("int64")).tolist()
trades = [list(x) for x in zip(ms("EntryTime"), ms("ExitTime"), tr["EntryPrice"].tolist(),
                               tr["ExitPrice"].tolist())]
print(json.dumps({"seconds": seconds, "trades": trades, "bars": len(df)}))
'''


def run_peer(python: Path, path: Path) -> dict:
    out = subprocess.run([str(python), "-c", PEER_SCRIPT, str(path), str(FEE), str(BALANCE)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_self(tf: str, strategy: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", tf, strategy],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_trades(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x[0] != y[0] or x[1] != y[1]:
            return False
        if abs(x[2] - y[2]) > 1e-9 * abs(y[2]) or abs(x[3] - y[3]) > 1e-9 * abs(y[3]):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", choices=TIMEFRAMES, action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tf, strategy = args.child
        print(json.dumps(run_jbt(tf, strategy)))
        return
    python = peer_python()
    print(f"EMA 20/50 cross on the seeded 1m year (525,600 candles), {FEE:.1%} fee; best of "
          f"{args.repeat}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'tf':>4} {'bars':>8} {'trades':>7} {'jbt Jesse-style s':>18} {'jbt EmaCross s':>15} "
          f"{'backtesting.py s':>17} {'jbt/bt.py':>10}  same trades")
    with tempfile.TemporaryDirectory() as tmp:
        for tf in args.tf or TIMEFRAMES:
            path = bars(tf, Path(tmp))
            best = {"jesse": None, "own": None, "peer": None}
            for _ in range(args.repeat):
                for key in ("jesse", "peer", "own"):
                    if key == "peer":
                        r = run_peer(python, path)
                    else:
                        r = run_self(tf, "JesseEmaCross" if key == "jesse" else "EmaCross")
                    if best[key] is None or r["seconds"] < best[key]["seconds"]:
                        best[key] = r
            jesse, own, peer = best["jesse"], best["own"], best["peer"]
            same = same_trades(jesse["trades"], peer["trades"]) and same_trades(
                own["trades"], peer["trades"])
            print(f"{tf:>4} {peer['bars']:>8,} {len(peer['trades']):>7,} "
                  f"{jesse['seconds']:>18.3f} {own['seconds']:>15.3f} {peer['seconds']:>17.3f} "
                  f"{jesse['seconds'] / peer['seconds']:>10.2f}  {'yes' if same else 'NO'}",
                  flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
