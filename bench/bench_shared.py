"""Benchmark a shared study (``jbt optimize --shared``) against the one-process study, on a
PostgreSQL server: the EMA cross at 1h on the seeded 1m year (the project of
bench_optimize.py), TPE, the same number of trials.

    python bench/bench_shared.py --storage postgresql://USER@HOST:PORT/DB   # 200 trials
    JBT_TEST_POSTGRES_URL=postgresql://... python bench/bench_shared.py --trials 100

It runs, one after the other, each a fresh study on that server:

1. ``--jobs 1`` without ``--shared`` (one coordinator, batches written in one transaction);
2. ``--jobs 1 --shared``: one process on a shared study;
3. two ``--jobs 1 --shared`` processes started together on one shared study (2 cores);
4. ``--jobs 2`` without ``--shared``, for comparison with 3.

once a round (``--rounds``, default 2; the fastest of each is kept), and prints each one's
trials per second over the whole run (loading the candles and starting the workers included;
for 3 and 4, starting Python too), and for 1 and 2 the process's database and sampler time a
trial (``ask``: reserving and sampling; ``store``: writing the outcome). It then times Optuna's heartbeat write (``record_heartbeat``) and the stale-trial check
(``fail_stale_trials``) on the shared study: what ``--heartbeat`` costs per running trial and
interval. The load average is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SPACE = ("fast=2:50", "slow=10:200")
RAN = re.compile(r"Ran ([\d,]+) trials in ([\d.,]+)s")


def command(folder: Path, url: str, name: str, trials: int, jobs: int, shared: bool) -> list:
    args = [sys.executable, "-m", "jbt", "--project", str(folder), "optimize", "--trials",
            str(trials), "--jobs", str(jobs), "--seed", "0", "--study", name, "--storage", url]
    for s in SPACE:
        args += ["--space", s]
    return args + (["--shared"] if shared else [])


def ran(output: str) -> tuple[int, float]:
    m = RAN.search(output)
    if m is None:
        raise SystemExit(f"no 'Ran N trials' line in:\n{output}")
    return int(m.group(1).replace(",", "")), float(m.group(2).replace(",", ""))


def in_process(folder: Path, url: str, name: str, trials: int, shared: bool) -> dict:
    from jbt.config import load_config
    from jbt.modes import optimize_mode

    t = time.perf_counter()
    result = optimize_mode.run(load_config(folder), folder, trials=trials, jobs=1, seed=0,
                               study=name, space=SPACE, storage=url, shared=shared)
    s = result.stats
    return {"seconds": time.perf_counter() - t, "ask_ms": s.ask_s / s.ran * 1000,
            "store_ms": (s.save_s + s.tell_s) / s.ran * 1000, "ran": s.ran}


def heartbeat_costs(url: str, name: str, rounds: int = 200) -> tuple[float, float]:
    import optuna

    from jbt.optimize.storage import StudyStore

    store = StudyStore(url, heartbeat=10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.load_study(study_name=name, storage=store.storage)
            trial_id = study.trials[0]._trial_id
            t = time.perf_counter()
            for _ in range(rounds):
                store.storage.record_heartbeat(trial_id)
            beat = (time.perf_counter() - t) / rounds
            t = time.perf_counter()
            for _ in range(rounds):
                optuna.storages.fail_stale_trials(study)
            stale = (time.perf_counter() - t) / rounds
    finally:
        store.close()
    return beat * 1000, stale * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=os.environ.get("JBT_TEST_POSTGRES_URL"),
                        help="a PostgreSQL URL (default: $JBT_TEST_POSTGRES_URL)")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not args.storage:
        raise SystemExit("give --storage postgresql://... (or set JBT_TEST_POSTGRES_URL)")
    n, url = args.trials, args.storage
    from bench_optimize import make_project

    tmp = Path(tempfile.mkdtemp(prefix="jbt-bench-shared-"))
    os.environ["JBT_CACHE_DIR"] = str(tmp / "cache")
    tag = uuid.uuid4().hex[:6]
    try:
        folder = tmp / "proj"
        make_project(folder)
        print(f"EMA cross at 1h (fast 2..50, slow 10..200) on the seeded 1m year, {n} TPE "
              f"trials; load average before: {os.getloadavg()[0]:.2f}")
        rows: dict[str, list[float]] = {}
        costs: dict[str, list[tuple[float, float]]] = {"one": [], "shared1": []}
        for i in range(args.rounds):  # each configuration once a round, side by side
            for key, shared in (("one", False), ("shared1", True)):
                r = in_process(folder, url, f"bench-{tag}-{key}-{i}", n, shared=shared)
                rows.setdefault(key, []).append(r["seconds"])
                costs[key].append((r["ask_ms"], r["store_ms"]))
            name = f"bench-{tag}-shared2-{i}"
            t = time.perf_counter()
            procs = [subprocess.Popen(command(folder, url, name, n, 1, True), cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for _ in range(2)]
            outs = [p.communicate()[0] for p in procs]
            rows.setdefault("shared2", []).append(time.perf_counter() - t)
            parts = [ran(o)[0] for o in outs]
            assert sum(parts) == n, parts
            t = time.perf_counter()
            subprocess.run(command(folder, url, f"bench-{tag}-jobs2-{i}", n, 2, False),
                           cwd=ROOT, capture_output=True, text=True, check=True)
            rows.setdefault("jobs2", []).append(time.perf_counter() - t)
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items())
                  + f" (the 2 processes ran {' + '.join(map(str, parts))}; load average "
                  f"{os.getloadavg()[0]:.2f})")
        best = {k: min(v) for k, v in rows.items()}
        ask1, store1 = min(costs["one"])
        ask2, store2 = min(costs["shared1"])
        print(f"the fastest of {args.rounds} rounds:")
        print(f"  1 process, no --shared (in this process):   {n / best['one']:6.2f} trials/s; "
              f"ask {ask1:.2f} ms, store {store1:.2f} ms a trial")
        print(f"  1 process, --shared (in this process):      {n / best['shared1']:6.2f} "
              f"trials/s; ask {ask2:.2f} ms, store {store2:.2f} ms a trial")
        print(f"  2 processes --jobs 1, --shared (commands):  {n / best['shared2']:6.2f} "
              "trials/s (Python start-up included)")
        print(f"  1 process --jobs 2, no --shared (command):  {n / best['jobs2']:6.2f} trials/s "
              f"(the same way)")
        beat, stale = heartbeat_costs(url, f"bench-{tag}-shared1-0")
        print(f"  a heartbeat write: {beat:.2f} ms (one a running trial every --heartbeat "
              f"seconds, from a background thread); a stale-trial check: {stale:.2f} ms (at "
              "most one every half --heartbeat, while reserving)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
