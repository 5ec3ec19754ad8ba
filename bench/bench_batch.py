"""Benchmark ``jbt backtest --symbols``: a 32-symbol batch with ``--jobs 1`` and ``--jobs 2``,
and the same 32 backtests as 32 ``jbt backtest`` processes one after the other.

    python bench/bench_batch.py                 # 32 symbols, 2 rounds
    python bench/bench_batch.py --symbols 16 --rounds 3
    python bench/bench_batch.py --heavy         # four routes a symbol: ~3x the work
    python bench/bench_batch.py --ray           # also on a two-node Ray cluster (jbt[ray])

It builds a project in a temporary folder: the example strategies (EmaCross at 1h and
RsiReversion at 4h on one symbol) and 32 symbols of hourly candles made from the bundled
Coinbase BTC-USD sample (symbol k: a year of the real data starting k x 80 hours in, stamped on
the same hours, prices scaled by 1 + k/16), imported with ``jbt import-candles --file``.

Per round, each variant runs in a fresh process, as a user runs it, sessions saved (into a
fresh copy of the database each time, so every variant writes the same rows):

- ``--jobs 1``: the batch in one process;
- ``--jobs 2``: the batch on two worker processes (their start-up included);
- ``sequential``: ``jbt backtest`` once per symbol, routes.py edited in between (with
  ``--sequential``, or by default when the symbols are at most 32 and ``--ray`` is not given);
- ``ray 2 nodes`` (with ``--ray``): the batch with ``--ray ADDRESS`` on a two-node Ray cluster
  started on this machine (``ray start --head`` and ``ray start --address``, one CPU a node,
  tests/raycluster.py; its start-up, once, not counted; connecting is). Its CPU seconds are
  not shown: the nodes' processes are not this script's finished children.

The fastest wall time of each is kept (the machine is shared: the load average, and how many
cores two busy processes get, are printed before and after). Printed: wall seconds, backtests a second, the ratio to ``--jobs 1``, the
CPU seconds all the processes of the variant used (worker start-up included: on a machine
others use too, the figure that does not depend on them), and the mean engine time of one
backtest (from the saved sessions).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv"
EXCHANGE = "coinbase"
HOURS = 365 * 24
#: (timeframe, strategy) of the routes, and with --heavy (about 3x the work a backtest)
ROUTES = [("1h", "EmaCross"), ("4h", "RsiReversion")]
#: (futures: Breakout goes short)
HEAVY = [("1h", "EmaCross"), ("1h", "RsiReversion"), ("1h", "Breakout"), ("4h", "RsiReversion")]


def symbols(n: int) -> list[str]:
    return [f"S{k:02d}-USD" for k in range(n)]


def build(folder: Path, names: list[str]) -> Path:
    project = folder / "project"
    project.mkdir()
    shutil.copytree(ROOT / "strategies", project / "strategies",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / "config.toml").write_text(
        '[database]\nurl = "sqlite:///db.sqlite3"\n\n[backtest]\nstarting_balance = 10000\n'
        "fee = 0.001\nwarmup_candles = 60\n"
        # Breakout (--heavy) goes short: futures, without funding (the sample is spot data)
        + ('type = "futures"\nfunding = "ignore"\n' if ROUTES == HEAVY else ""),
        encoding="utf-8")
    write_routes(project, names[0])
    with SAMPLE.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    step = 80
    if (len(names) - 1) * step + HOURS > len(body):
        raise SystemExit(f"at most {(len(body) - HOURS) // step + 1} symbols")
    for k, name in enumerate(names):
        path = folder / f"{name}.csv"
        scale = 1 + k / 16
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for i in range(HOURS):
                src = body[step * k + i]
                w.writerow([body[i][0], *(repr(float(x) * scale) for x in src[1:5]), src[5]])
        jbt(project, "import-candles", EXCHANGE, name, "--file", str(path))
    return project


def write_routes(project: Path, symbol: str) -> None:
    routes = [(EXCHANGE, symbol, tf, strategy) for tf, strategy in ROUTES]
    (project / "routes.py").write_text(f"routes = {routes!r}\n", encoding="utf-8")


def jbt(project: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "jbt", "--project", str(project), *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"jbt {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def fresh(project: Path, pristine: Path) -> None:
    for f in project.glob("db.sqlite3*"):
        f.unlink()
    for f in pristine.parent.glob(pristine.name + "*"):
        shutil.copy(f, project / f.name.replace(pristine.name, "db.sqlite3"))


def engine_seconds(project: Path) -> tuple[int, float]:
    con = sqlite3.connect(project / "db.sqlite3")
    n, total = con.execute(
        "SELECT COUNT(*), SUM(duration_s) FROM backtest_session WHERE status = 'finished'"
    ).fetchone()
    con.close()
    return n, total or 0.0


SPIN = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(5_000_000): s += i\n" \
       "print(time.perf_counter() - t)"


def cores_free() -> float:
    """How many cores this machine gives two CPU-bound processes now: the time of one busy
    loop alone x 2 / the time of two side by side (2.0 on two idle cores, 1.0 when other
    work leaves the equivalent of one)."""
    def spin(n: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE,
                                  text=True) for _ in range(n)]
        return max(float(p.communicate()[0]) for p in procs)

    alone = min(spin(1) for _ in range(3))
    both = min(spin(2) for _ in range(3))
    return 2 * alone / both


def children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (and theirs: the workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--heavy", action="store_true",
                        help="four routes a symbol (EmaCross, RsiReversion, Breakout at 1h, "
                        "RsiReversion at 4h) instead of two")
    parser.add_argument("--sequential", action="store_true",
                        help="also time one jbt backtest process per symbol (default: when "
                        "--symbols <= 32)")
    parser.add_argument("--ray", action="store_true",
                        help="also run the batch with --ray on a two-node local Ray cluster")
    args = parser.parse_args()
    if args.heavy:
        ROUTES[:] = HEAVY
    names = symbols(args.symbols)
    sequential = args.sequential or (args.symbols <= 32 and not args.ray)
    cluster = None
    if args.ray:
        sys.path.insert(0, str(ROOT / "tests"))
        from raycluster import LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(nodes=2, cpus=1)
        print(f"Ray cluster (head + 1 worker node, 1 CPU each) started in "
              f"{time.perf_counter() - t0:.1f}s")
    try:
        run(args, names, sequential, cluster)
    finally:
        if cluster is not None:
            cluster.stop()


def run(args: argparse.Namespace, names: list[str], sequential: bool, cluster) -> None:
    with tempfile.TemporaryDirectory(prefix="jbt-bench-batch-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        project = build(folder, names)
        pristine = folder / "pristine.sqlite3"
        for f in project.glob("db.sqlite3*"):
            shutil.copy(f, folder / f.name.replace("db.sqlite3", "pristine.sqlite3"))
        print(f"built {len(names)} symbols x {HOURS:,} hourly candles in "
              f"{time.perf_counter() - t0:.1f}s; routes: "
              + " + ".join(f"{s} {tf}" for tf, s in ROUTES))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"cores free for two busy processes: {cores_free():.2f} of 2")
        listing = folder / "symbols.txt"
        listing.write_text("\n".join(names) + "\n", encoding="utf-8")
        best: dict[str, float] = {}
        engine: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(args.rounds):
            variants = (["jobs 1", "jobs 2"] + (["ray 2 nodes"] if cluster is not None else [])
                        + (["sequential"] if sequential else []))
            for variant in variants:
                fresh(project, pristine)
                write_routes(project, names[0])
                began = time.perf_counter()
                cpu0 = children_cpu()
                if variant == "sequential":
                    for name in names:
                        write_routes(project, name)
                        jbt(project, "backtest")
                elif variant == "ray 2 nodes":
                    jbt(project, "backtest", "--symbols-file", str(listing), "--ray",
                        cluster.address)
                else:
                    jbt(project, "backtest", "--symbols-file", str(listing), "--jobs",
                        variant.split()[1])
                took = time.perf_counter() - began
                used = children_cpu() - cpu0
                n, seconds = engine_seconds(project)
                assert n == len(names), f"{variant}: {n} sessions"
                if took < best.get(variant, float("inf")):  # the figures of the fastest round
                    best[variant], cpu[variant], engine[variant] = took, used, seconds / n
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"cores free for two busy processes: {cores_free():.2f} of 2")
        base = best["jobs 1"]
        print(f"{'variant':<12} {'wall s':>8} {'backtests/s':>12} {'vs jobs 1':>10} "
              f"{'CPU s':>7} {'engine ms/backtest':>19}")
        for variant, took in best.items():
            used = "n/a" if variant.startswith("ray") else f"{cpu[variant]:.2f}"
            print(f"{variant:<12} {took:8.2f} {len(names) / took:12.1f} {base / took:9.2f}x "
                  f"{used:>7} {engine[variant] * 1000:19.1f}")
        if cluster is not None:
            print(f"ray 2 nodes / jobs 2 wall: {best['ray 2 nodes'] / best['jobs 2']:.2f}x")
            warm_maps(project, names, cluster.address, args.rounds)


def warm_maps(project: Path, names: list[str], address: str, rounds: int) -> None:
    """The batch's backtests alone (not saved), in this process, on two local worker processes
    and on the Ray cluster, each executor's workers started (and answering) first: what a batch
    costs once the fixed start-up is paid."""
    from jbt import routes as routes_mod
    from jbt.config import load_config
    from jbt.models import close_database, open_database
    from jbt.modes import batch_mode
    from jbt.optimize.ray_executor import RayMapExecutor
    from jbt.parallel import ProcessExecutor

    config = load_config(project)
    open_database(config.database_url())
    declared = routes_mod.load_routes(project)
    tasks = batch_mode.tasks_for(config, project, names, declared.routes,
                                 declared.extra_candles, None, None)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, make in (("jobs 2", lambda: ProcessExecutor(2)),
                            ("ray 2 nodes", lambda: RayMapExecutor(address, project))):
            ex = make()
            try:
                list(ex.map(batch_mode.run_symbol, tasks[:4]))  # the workers up and warm
                began = time.perf_counter()
                outs = list(ex.map(batch_mode.run_symbol, tasks))
                took = time.perf_counter() - began
            finally:
                ex.close()
            assert all(o.ok for o in outs)
            best[label] = min(took, best.get(label, float("inf")))
    close_database()
    print(f"the {len(names)} backtests alone, workers already running (best of {rounds}): "
          + ", ".join(f"{k} {v:.2f}s" for k, v in best.items())
          + f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
