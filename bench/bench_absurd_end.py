"""An absurd END, and a stray far-future candle, answered from what is stored (issue 16).

    python bench/bench_absurd_end.py

Before, the loader laid out every expected candle time up to END before comparing END with the
stored data: ``jbt backtest`` or ``POST /backtest`` with END 9999-12-31 on 1h data answered after
239 s and 5.1 GB, with END 2400-01-01 on 1m data after 857 s and 13.6 GB, and one stray
candle in the year 2100 made every plain ``jbt backtest`` take 77 s and 2.6 GB.

Two projects in a temporary folder: the bundled Coinbase BTC-USD 1h candles (11,362), and a
year of seeded 1m candles (525,600). Each request runs in its own process: the command line
(``jbt backtest``, peak memory from ``wait4``'s ``ru_maxrss``) and the API (a ``jbt serve``
process; its peak memory is ``VmHWM`` from ``/proc`` after the answer). The targets: answered
in under a second, peak memory under 200 MB.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
T0 = 1_546_300_800_000  # 2019-01-01 UTC
TARGET_S, TARGET_MB = 1.0, 200.0
STRATEGY = """\
from jbt.strategies import Strategy


class Hold(Strategy):
    def should_long(self):
        return self.index == 0

    def go_long(self):
        self.buy = 0.1, self.price
"""


def make_project(root: Path, timeframe: str) -> Path:
    root.mkdir(parents=True)
    (root / "config.toml").write_text('[backtest]\nwarmup_candles = 10\n', encoding="utf-8")
    (root / "strategies" / "Hold").mkdir(parents=True)
    (root / "strategies" / "Hold" / "__init__.py").write_text(STRATEGY, encoding="utf-8")
    symbol = "BTC-USD" if timeframe == "1h" else "BTC-USDT"
    exchange = "coinbase" if timeframe == "1h" else "binance"
    (root / "routes.py").write_text(
        f'routes = [("{exchange}", "{symbol}", "{timeframe}", "Hold")]\n', encoding="utf-8")
    return root


def fill(root: Path, timeframe: str) -> None:
    """Store the candles, in a process of its own: a child forked from a process that held a
    year of candles would report that process's peak as its own ``ru_maxrss``."""
    subprocess.run([sys.executable, __file__, "--fill", str(root), timeframe], check=True)


def _fill(root: Path, timeframe: str) -> None:
    import numpy as np

    from jbt import candles
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{root / 'db.sqlite3'}")
    try:
        if timeframe == "1h":
            data = np.loadtxt(ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv", delimiter=",",
                              skiprows=1)
            # file order timestamp,open,high,low,close,volume -> jbt's t,o,c,h,l,v
            candles.insert_candles("coinbase", "BTC-USD", "1h", data[:, [0, 1, 4, 2, 3, 5]])
        else:
            n = 525_600
            rng = np.random.default_rng(7)
            close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
            open_ = np.r_[20_000.0, close[:-1]]
            wig = np.abs(rng.normal(0.0, 0.0005, (2, n))) * close
            ts = T0 + 60_000 * np.arange(n, dtype=np.float64)
            rows = np.column_stack([ts, open_, close, np.maximum(open_, close) + wig[0],
                                    np.minimum(open_, close) - wig[1], rng.uniform(1, 10, n)])
            candles.insert_candles("binance", "BTC-USDT", "1m", rows)
    finally:
        close_database()


def stray_candle(root: Path) -> None:
    """One row in the year 2100, written past the store as an older jbt or a hand edit could."""
    import sqlite3

    con = sqlite3.connect(root / "db.sqlite3")
    with con:
        con.execute('INSERT INTO "candle" VALUES (?, ?, ?, ?, 1, 1, 1, 1, 1)',
                    ("coinbase", "BTC-USD", "1h", 4_102_444_800_000))
    con.close()


def cli(root: Path, *args: str) -> tuple[float, float, int, str]:
    """Seconds, peak MB, exit code and last stderr line of one ``jbt backtest``."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(root), "backtest",
                             "--no-save", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in err.splitlines() if line.strip()]
    return took, usage.ru_maxrss / 1024, proc.returncode, lines[-1] if lines else ""


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api(root: Path, body: dict) -> tuple[float, float, int, str]:
    """Seconds, the server's peak MB, the status and the detail of one ``POST /backtest``."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(root), "serve",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/jobs", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        began = time.perf_counter()
        r = httpx.post(f"{base}/backtest", json=body, timeout=3600)
        took = time.perf_counter() - began
        detail = r.json().get("detail", "") if r.status_code != 200 else "200 OK"
        return took, peak_mb(server.pid), r.status_code, detail
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="jbt-bench-end-"))
    try:
        hourly = make_project(work / "hourly", "1h")
        fill(hourly, "1h")
        minutes = make_project(work / "minutes", "1m")
        fill(minutes, "1m")
        stray = make_project(work / "stray", "1h")
        fill(stray, "1h")
        stray_candle(stray)
        route_1h = {"exchange": "coinbase", "symbol": "BTC-USD", "timeframe": "1h",
                    "strategy": "Hold"}
        route_1m = {"exchange": "binance", "symbol": "BTC-USDT", "timeframe": "1m",
                    "strategy": "Hold"}
        # (name, run, held to the targets)
        cases = [
            ("CLI  1h  START in 2999 (*)", lambda: cli(hourly, "2999-01-01"), False),
            ("CLI  1h  END 9999-12-31", lambda: cli(hourly, "2019-01-01", "9999-12-31"), True),
            ("API  1h  end 9999-12-31", lambda: api(hourly, {
                "routes": [route_1h], "start": "2019-01-01", "end": "9999-12-31", "save": False}),
             True),
            ("CLI  1m  END 2400-01-01", lambda: cli(minutes, "2019-06-01", "2400-01-01"), True),
            ("API  1m  end 2400-01-01", lambda: api(minutes, {
                "routes": [route_1m], "start": "2019-06-01", "end": "2400-01-01", "save": False}),
             True),
            ("CLI  1h  a candle in 2100", lambda: cli(stray), False),
            ("CLI  1h  the same, none", lambda: cli(hourly), False),
        ]
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"{'request':<27} {'seconds':>8} {'peak MB':>8}  status  answer")
        ok = True
        for name, run, held in cases:
            took, mb, status, answer = run()
            if held:
                ok &= took < TARGET_S and mb < TARGET_MB
            print(f"{name:<27} {took:8.3f} {mb:8.1f}  {status!s:>6}  {answer[:110]}")
        print(f"absurd END: under {TARGET_S:g} s and {TARGET_MB:g} MB each: "
              f"{'met' if ok else 'NOT met'}")
        print("(*) the same command refused before any candle is read: what starting Python, "
              "jbt and the checks cost")
        print("The last two rows are whole backtests (exit 0): the one with a stored candle in "
              "2100 leaves it out and runs like the one without.")
        print("(the CLI's seconds are the whole command, startup included; the API's are the "
              "request alone, its peak memory the server process's)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fill"]:
        _fill(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
