"""Peak memory of a whole ``jbt backtest`` of a year of 1m candles (issue 16, finding 11).

    python bench/bench_memory.py              # one route, then four routes on four symbols
    python bench/bench_memory.py --repeat 3   # each command three times (min/max of the peaks)
    python bench/bench_memory.py --chart      # also one route with --chart (page size, peak)

A project in a temporary folder holds a year of seeded 1m candles (525,600 a symbol) for four
symbols in its SQLite file; ``routes.py`` runs the example ``EmaCross`` on the 1m timeframe on
one symbol, then on the four (there each route buys with a quarter of the shared balance). The figure is the peak resident set size (``ru_maxrss`` from
``wait4``) of the ``jbt backtest`` process: starting Python and jbt, loading the candles, the
run, the metrics, saving the session (10,000+ orders and 525,600 equity points a route) and
printing the report. The candles are written by a process of their own, so nothing of that
is counted. Targets: one route ≤ 250 MB, four routes ≤ 500 MB (before: 322 MB and 745 MB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N = 525_600
T0 = 1_577_836_800_000  # 2020-01-01 UTC
SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT")
TARGETS_MB = {1: 250.0, 4: 500.0}
QUARTER = """\
from strategies.EmaCross import EmaCross


class EmaCrossQuarter(EmaCross):
    def go_long(self):
        self.buy = self.balance / 4 / (self.price * (1 + self.fee_rate)), self.price
"""


def make_project(root: Path, symbols: tuple[str, ...]) -> Path:
    root.mkdir(parents=True)
    (root / "config.toml").write_text("[backtest]\nwarmup_candles = 210\n", encoding="utf-8")
    shutil.copytree(ROOT / "strategies" / "EmaCross", root / "strategies" / "EmaCross")
    (root / "strategies" / "EmaCrossQuarter").mkdir()
    (root / "strategies" / "EmaCrossQuarter" / "__init__.py").write_text(QUARTER, "utf-8")
    name = "EmaCross" if len(symbols) == 1 else "EmaCrossQuarter"
    routes = ",\n".join(f'    ("binance", "{s}", "1m", "{name}")' for s in symbols)
    (root / "routes.py").write_text(f"routes = [\n{routes},\n]\n", encoding="utf-8")
    return root


def _fill(db: Path) -> None:
    """Write a seeded 1m year for every symbol (run in a process of its own)."""
    import numpy as np

    from jbt import candles
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{db}")
    try:
        for seed, symbol in enumerate(SYMBOLS, start=7):
            rng = np.random.default_rng(seed)
            price = 20_000.0 / (1 + 10 * (seed - 7))
            close = price * np.exp(np.cumsum(rng.normal(0.0, 0.0008, N)))
            open_ = np.r_[price, close[:-1]]
            wig = np.abs(rng.normal(0.0, 0.0005, (2, N))) * close
            ts = T0 + 60_000 * np.arange(N, dtype=np.float64)
            rows = np.column_stack([ts, open_, close, np.maximum(open_, close) + wig[0],
                                    np.minimum(open_, close) - wig[1], rng.uniform(1, 10, N)])
            candles.insert_candles("binance", symbol, "1m", rows)
    finally:
        close_database()


def backtest(root: Path, *extra: str) -> tuple[float, float, int, str]:
    """Seconds, peak MB, exit code and last output line of one ``jbt backtest``."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(root), "backtest",
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - began
    lines = [line for line in out.splitlines() if line.strip()]
    return (took, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status),
            lines[-1].strip() if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command")
    parser.add_argument("--chart", action="store_true",
                        help="also one route with --chart: the page's size and the peak")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jbt-bench-mem-"))
    try:
        one = make_project(work / "one", SYMBOLS[:1])
        four = make_project(work / "four", SYMBOLS)
        subprocess.run([sys.executable, __file__, "--fill", str(one / "db.sqlite3")], check=True)
        shutil.copy(one / "db.sqlite3", four / "db.sqlite3")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"jbt backtest, EmaCross on 1m, a year of 1m candles ({N:,}) a symbol, "
              "load + run + metrics + save + report")
        print(f"{'routes':>6} {'seconds':>8} {'peak MB':>8} {'target':>7}  last line")
        met = True
        for project, n in ((one, 1), (four, 4)):
            peaks = []
            for _ in range(args.repeat):
                took, mb, code, last = backtest(project)
                if code != 0:
                    raise SystemExit(f"jbt backtest exited {code}: {last}")
                peaks.append(mb)
                print(f"{n:>6} {took:8.2f} {mb:8.1f} {TARGETS_MB[n]:7.0f}  {last[:80]}")
            met &= max(peaks) <= TARGETS_MB[n]
        if args.chart:
            page = work / "chart.html"
            for _ in range(args.repeat):
                took, mb, code, last = backtest(one, "--chart", str(page))
                if code != 0:
                    raise SystemExit(f"jbt backtest --chart exited {code}: {last}")
                print(f"one route with --chart: {took:.2f} s, peak {mb:.1f} MB, page "
                      f"{page.stat().st_size / 1e6:.1f} MB")
        print(f"peak memory: one route ≤ {TARGETS_MB[1]:g} MB, four ≤ {TARGETS_MB[4]:g} MB: "
              f"{'met' if met else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fill"]:
        _fill(Path(sys.argv[2]))
    else:
        main()
