"""Benchmark ``jbt optimize``: the example EMA cross (two integer hyperparameters) at 1h on one
year of seeded 1m candles (525,600, the generator of bench_backtest.py), 200 TPE trials.

    python bench/bench_optimize.py                     # 200 TPE trials, 2 rounds
    python bench/bench_optimize.py --sampler random    # a sampler that costs ~nothing
    python bench/bench_optimize.py --trials 100 --rounds 3

It builds a project in a temporary folder (routes, EmaCross, the year in SQLite), then, per
round:

1. runs the study with ``--jobs 1`` and with ``--jobs 2`` (fresh studies, the same seed, so the
   same 200 trials) and times them from the moment the candles are loaded (worker start-up
   included), and from the first trial's result to the last (the steady rate);
2. runs the same 200 trials' backtests (training and testing period each) one after the other
   in this process on one reused runner (one run plan a period) — the work the workers do, with
   no optimiser, storage or processes — for the optimiser and storage overhead of
   ``--jobs 1``;
3. samples the proportional set size (PSS, /proc/PID/smaps_rollup) of the two workers of the
   ``--jobs 2`` run, and compares their sum with the PSS of one ``jbt backtest`` of the year
   in a fresh process.

The fastest of each is kept (the machine is shared; the load average is printed). Targets on
a 2-core machine: ``--jobs 2`` >= 1.7x ``--jobs 1``; overhead <= 10%; workers' PSS <= 1.5x one
backtest's. The coordinator's own CPU time a trial (mostly the sampler: TPE costs a few ms a
trial, growing with the trials) is printed too: with ``--jobs 2`` on two cores it takes from
the workers, with ``--jobs 1`` it runs beside the worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SPACE = ("fast=2:50", "slow=10:200")
ONE_BACKTEST = """
import sys, json
from pathlib import Path
from jbt.config import load_config
from jbt.models import open_database
from jbt.modes import backtest_mode
root = Path(sys.argv[1])
config = load_config(root)
open_database(config.database_url())
result = backtest_mode.run(config, project_dir=root, save=False)
pss = rss = 0
for line in open("/proc/self/smaps_rollup"):
    if line.startswith("Pss:"):
        pss = int(line.split()[1])
    elif line.startswith("Rss:"):
        rss = int(line.split()[1])
print(json.dumps({"pss_kb": pss, "rss_kb": rss, "trades": len(result.trades)}))
"""


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def make_project(folder: Path) -> None:
    from bench_backtest import make_candles

    from jbt.candles import insert_candles
    from jbt.models import close_database, open_database

    (folder / "strategies").mkdir(parents=True)
    shutil.copytree(ROOT / "strategies" / "EmaCross", folder / "strategies" / "EmaCross")
    (folder / "routes.py").write_text('routes = [("bench", "BTC-USDT", "1h", "EmaCross")]\n')
    (folder / "config.toml").write_text("[backtest]\nfee = 0.001\nwarmup_candles = 210\n")
    open_database(f"sqlite:///{folder / 'db.sqlite3'}")
    insert_candles("bench", "BTC-USDT", "1m", make_candles())
    close_database()


def run_study(folder: Path, jobs: int, trials: int, sample_pss: bool, name: str,
              sampler: str = "tpe"):
    from jbt.config import load_config
    from jbt.modes import optimize_mode
    from jbt.optimize.executors import ProcessExecutor

    config = load_config(folder)
    executor = ProcessExecutor(jobs)
    marks: dict[str, float] = {}
    peak = {"sum": 0, "last": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            pids = executor.worker_pids()
            if len(pids) == jobs:
                total = sum(pss_kb(p) for p in pids)
                peak["sum"] = max(peak["sum"], total)
                peak["last"] = total

    def on_progress(p) -> None:
        if p.record is not None:
            marks.setdefault("first", time.perf_counter())
            marks["last"] = time.perf_counter()

    watcher = threading.Thread(target=sample, daemon=True)
    if sample_pss:
        watcher.start()
    began = time.perf_counter()
    cpu0 = time.process_time()
    started: dict[str, float] = {}
    result = optimize_mode.run(
        config, folder, trials=trials, jobs=jobs, seed=0, study=name, sampler=sampler,
        space=SPACE, executor=executor, on_progress=on_progress,
        on_start=lambda info: started.setdefault("t", time.perf_counter()),
    )
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    stop.set()
    if sample_pss:
        watcher.join()
    return {
        "result": result,
        "total_s": end - began,
        "trials_s": end - started["t"],
        # from the first trial's result to the last's: n - 1 trials with the workers running
        "steady_s": (marks["last"] - marks["first"]) * trials / (trials - 1),
        "coordinator_s": result.stats.ask_s + result.stats.tell_s + result.stats.save_s,
        "save_s": result.stats.save_s,
        "cpu_s": cpu,
        "ask_s": result.stats.ask_s,
        "pss_peak_kb": peak["sum"],
        "pss_last_kb": peak["last"],
    }


def plain_runs(folder: Path, result) -> float:
    """Seconds for the study's trials run back to back in this process on one reused runner
    (what a worker does, without optimiser, storage or processes)."""
    from jbt.config import load_config
    from jbt.models import close_database, open_database
    from jbt.modes.backtest_mode import load
    from jbt.optimize.worker import PeriodData, TrialRunner, WorkerSpec

    config = load_config(folder)
    open_database(config.database_url())
    s = result.settings
    periods = {"train": load(config, list(s.routes), list(s.extra), *s.train),
               "test": load(config, list(s.routes), list(s.extra), *s.test)}
    spec = WorkerSpec(str(folder), config, s.routes, s.extra,
                      (PeriodData("train", *s.train, dict(periods["train"][1])),
                       PeriodData("test", *s.test, dict(periods["test"][1]))),
                      s.space, s.objectives, s.min_trades)
    runner = TrialRunner(spec, {k: v[0] for k, v in periods.items()})  # one plan a period
    runner.run(0, result.records[0].params)  # warm: imports and caches, as a worker's first
    t = time.perf_counter()
    for r in result.records:
        runner.run(r.number, r.params)
    seconds = time.perf_counter() - t
    close_database()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sampler", default="tpe", help="tpe (default) or random, ...")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of (--jobs 1, --jobs 2, plain runs); the fastest of each "
                        "is kept, as the machine is shared")
    args = parser.parse_args()
    n = args.trials

    tmp = Path(tempfile.mkdtemp(prefix="jbt-bench-opt-"))
    os.environ["JBT_CACHE_DIR"] = str(tmp / "cache")
    try:
        t = time.perf_counter()
        make_project(tmp / "proj")
        folder = tmp / "proj"
        print(f"project with the seeded 1m year in {time.perf_counter() - t:.1f}s; "
              f"load average before: {os.getloadavg()[0]:.2f}")
        rounds = []
        for i in range(args.rounds):
            one = run_study(folder, 1, n, sample_pss=False, name=f"r{i}-jobs1",
                            sampler=args.sampler)
            two = run_study(folder, 2, n, sample_pss=True, name=f"r{i}-jobs2",
                            sampler=args.sampler)
            plain = plain_runs(folder, one["result"])
            rounds.append((one, two, plain))
            print(f"  round {i + 1}: --jobs 1 {one['trials_s']:.2f}s ({one['steady_s']:.2f}s "
                  f"steady), --jobs 2 {two['trials_s']:.2f}s ({two['steady_s']:.2f}s), plain "
                  f"{plain:.2f}s "
                  f"(load average {os.getloadavg()[0]:.2f})")
        one = min((r[0] for r in rounds), key=lambda x: x["trials_s"])
        two = min((r[1] for r in rounds), key=lambda x: x["trials_s"])
        steady1 = min(r[0]["steady_s"] for r in rounds)
        steady2 = min(r[1]["steady_s"] for r in rounds)
        plain = min(r[2] for r in rounds)
        records = [[(r.params, r.values, r.test_values) for r in x["result"].records]
                   for rnd in rounds for x in rnd[:2]]
        same = all(rec == records[0] for rec in records)

        proc = subprocess.run([sys.executable, "-c", ONE_BACKTEST, str(folder)],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        import json

        single = json.loads(proc.stdout.strip().splitlines()[-1])

        rate1, rate2 = n / one["trials_s"], n / two["trials_s"]
        overhead = one["trials_s"] / plain - 1
        pss = max(r[1]["pss_peak_kb"] for r in rounds)
        pss_ratio = pss / single["pss_kb"]
        print(f"EMA cross at 1h (fast 2..50, slow 10..200), {n} {args.sampler} trials (seed 0), "
              "each a "
              "training (70%) and a testing (30%) backtest of the year; the fastest of "
              f"{args.rounds} rounds")
        print(f"  same trials and values in every run, --jobs 1 and --jobs 2: {same}")
        print(f"  --jobs 1: {rate1:6.2f} trials/s  ({one['trials_s']:.2f}s from the start of the "
              f"run, workers included; {one['total_s']:.2f}s with loading the candles)")
        print(f"  --jobs 2: {rate2:6.2f} trials/s  ({two['trials_s']:.2f}s; "
              f"{two['total_s']:.2f}s)")
        print(f"  speed-up --jobs 2 / --jobs 1: {rate2 / rate1:.2f}x   (target >= 1.7x)")
        print(f"  once the workers run (first result to last): --jobs 1 {n / steady1:.2f} "
              f"trials/s, --jobs 2 {n / steady2:.2f} trials/s, {steady1 / steady2:.2f}x; "
              f"overhead of --jobs 1 {(steady1 / plain - 1) * 100:+.1f}%")
        print(f"  {n} plain runs of the trials on one reused runner: {plain:.2f}s "
              f"({plain / n * 1000:.1f} ms a trial)")
        print(f"  overhead of --jobs 1 against them: {overhead * 100:+.1f}%   (target <= 10%)")
        print(f"  coordinator time a trial (ask {one['ask_s'] / n * 1000:.2f} ms, store "
              f"{one['save_s'] / n * 1000:.2f} ms, all {one['coordinator_s'] / n * 1000:.2f} ms;"
              " it overlaps the workers' backtests); the coordinator process's CPU time a "
              f"trial, everything included: {one['cpu_s'] / n * 1000:.2f} ms (--jobs 1), "
              f"{two['cpu_s'] / n * 1000:.2f} ms (--jobs 2)")
        print(f"  workers' PSS with --jobs 2: {pss / 1024:.0f} MB at peak; one jbt backtest of "
              f"the year: {single['pss_kb'] / 1024:.0f} MB (RSS {single['rss_kb'] / 1024:.0f} MB)")
        print(f"  ratio: {pss_ratio:.2f}x   (target <= 1.5x)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
