"""Benchmark the API under stalling load: how fast the endpoints that only read answer while
every backtest slot runs a strategy that loops forever, next to the same server idle; then how
long SIGTERM takes to stop it.

    python bench/bench_api.py                 # target: every read <= 1 s while busy
    python bench/bench_api.py --requests 50

A temporary project (the bundled Coinbase hourly candles, a strategy whose ``should_long`` is
``while True: pass``) is served by ``jbt serve`` in a subprocess with the default limits
(``[server] max_backtests = 4``, ``max_queued_backtests = 16``). The busy phase fills the four
slots and queues sixteen more backtests, then times ``GET /jobs``, ``/sessions`` and
``/candles`` one after another, each ``--requests`` times; one more backtest then finds the
queue full (429).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 1.0
PATHS = ("/jobs", "/sessions", "/candles")
LOOP = """\
from jbt.strategies import Strategy


class Loop(Strategy):
    def should_long(self):
        while True:
            pass
"""


def make_project(folder: Path) -> Path:
    from jbt import candles
    from jbt.config import load_config
    from jbt.models import close_database, open_database

    (folder / "strategies" / "Loop").mkdir(parents=True)
    (folder / "strategies" / "Loop" / "__init__.py").write_text(LOOP)
    (folder / "config.toml").write_text("[backtest]\nwarmup_candles = 20\n")
    open_database(load_config(folder, env={}).database_url())
    try:
        import csv

        import numpy as np

        from jbt.constants import CANDLE_COLUMNS

        with (ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv").open(newline="") as f:
            rows = [[float(r[k]) for k in CANDLE_COLUMNS] for r in csv.DictReader(f)]
        candles.insert_candles("coinbase", "BTC-USD", "1h", np.array(rows))
    finally:
        close_database()
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latencies(http, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p in PATHS}
    for _ in range(n):
        for path in PATHS:
            began = time.perf_counter()
            r = http.get(path)
            out[path].append(time.perf_counter() - began)
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return out


def show(label: str, got: dict[str, list[float]]) -> float:
    worst = 0.0
    for path, xs in got.items():
        worst = max(worst, max(xs))
        print(f"  {label:5s} GET {path:10s} median {statistics.median(xs) * 1000:8.1f} ms   "
              f"max {max(xs) * 1000:8.1f} ms")
    return worst


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint")
    parser.add_argument("--queued", type=int, default=16,
                        help="backtests queued behind the slots (16 fills the default queue)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "jbt", "--project", str(project), "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        posts: list[threading.Thread] = []
        try:
            with httpx.Client(base_url=base, timeout=30) as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if http.get("/jobs").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("jbt serve did not start")
                    time.sleep(0.1)
                idle = latencies(http, args.requests)

                body = {"routes": [{"exchange": "coinbase", "symbol": "BTC-USD", "timeframe": "1h",
                                    "strategy": "Loop"}]}

                def post() -> None:
                    try:
                        httpx.post(f"{base}/backtest", json=body, timeout=600)
                    except httpx.TransportError:
                        pass

                for _ in range(4 + args.queued):
                    posts.append(threading.Thread(target=post, daemon=True))
                    posts[-1].start()
                while True:
                    jobs = [j["status"] for j in http.get("/jobs").json()]
                    if jobs.count("running") == 4 and jobs.count("queued") == args.queued:
                        break
                    time.sleep(0.05)
                time.sleep(1.0)  # the four workers are looping
                load = os.getloadavg()
                busy = latencies(http, args.requests)
                over = httpx.post(f"{base}/backtest", json=body, timeout=30)

            print(f"jbt serve, 4 backtest slots each looping forever, {args.queued} queued; "
                  f"{args.requests} requests per endpoint")
            print(f"load average while busy: {' '.join(f'{x:.2f}' for x in load)}")
            show("idle", idle)
            worst = show("busy", busy)
            verdict = "ok" if worst <= TARGET_S else "SLOW"
            print(f"  slowest read while busy: {worst * 1000:.1f} ms (target {TARGET_S * 1000:.0f} ms)"
                  f"  {verdict}")
            print(f"  one more backtest with the queue at {args.queued}: {over.status_code} "
                  f"(Retry-After: {over.headers.get('retry-after')})")
            began = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            print(f"  SIGTERM to exit with every slot busy: {time.monotonic() - began:.2f} s")
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            for t in posts:
                t.join(5)


if __name__ == "__main__":
    main()
