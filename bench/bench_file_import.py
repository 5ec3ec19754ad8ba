"""File and archive imports: a year of 1m candles from CSV, the peak memory of a 2,000,000-row
CSV, and a year of 1m from a local fake of Binance's public archive; print the figures.

    python bench/bench_file_import.py [--only csv|memory|archive] [--keep DIR]

- csv: the seeded year (525,600 candles) written as jbt CSV, imported into a fresh SQLite
  file with ``jbt.importers.files.import_file`` (target: at most 3 s).
- memory: a 2,000,000-row CSV imported by ``jbt import-candles --file`` in a child process;
  its peak RSS (target: at most 200 MB).
- archive: a year of BTCUSDT 1m as the archive's twelve monthly zips (with checksums), served
  by ``tests/fakes/binance_archive.py`` from its own process, imported with
  ``--source archive`` into a fresh SQLite file (target: at least 200,000 candles/s).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

MINUTE_MS = 60_000
DAY_MS = 86_400_000
T0 = 1_577_836_800_000  # 2020-01-01
YEAR = 525_600


def seeded_rows(n: int, seed: int = 7, start: int = T0) -> np.ndarray:
    """``n`` 1m candles of a seeded random walk, Binance's column order [t, o, h, l, c, v]."""
    rng = np.random.default_rng(seed)
    ts = start + np.arange(n, dtype=np.int64) * MINUTE_MS
    close = np.round(7000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n))), 2)
    open_ = np.round(np.r_[7000.0, close[:-1]], 2)
    wick = np.round(np.abs(rng.normal(0, 0.0005, (2, n))) * close, 2)
    high = np.round(np.maximum(open_, close) + wick[0], 2)
    low = np.round(np.minimum(open_, close) - wick[1], 2)
    volume = np.round(rng.gamma(2.0, 3.0, n), 5)
    return np.column_stack([ts, open_, high, low, close, volume])


def write_csv(path: Path, rows: np.ndarray) -> None:
    with open(path, "w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for lo in range(0, len(rows), 100_000):
            part = rows[lo:lo + 100_000]
            f.write("".join(f"{int(t)},{o:.2f},{h:.2f},{lo_:.2f},{c:.2f},{v:.5f}\n"
                            for t, o, h, lo_, c, v in part.tolist()))


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_csv(tmp: Path) -> None:
    from jbt.importers.files import import_file
    from jbt.models import close_database, open_database

    path = tmp / "year.csv"
    write_csv(path, seeded_rows(YEAR))
    open_database(f"sqlite:///{tmp / 'csv.sqlite3'}")
    t0 = time.perf_counter()
    summary = import_file("binance", "BTC-USDT", path)
    seconds = time.perf_counter() - t0
    close_database()
    assert summary.inserted == YEAR, summary
    print(f"csv:      {YEAR:,} candles ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.2f} s, "
          f"{YEAR / seconds:,.0f} candles/s (target <= 3 s; load {load_average()})")


def bench_memory(tmp: Path) -> None:
    n = 2_000_000
    path = tmp / "two-million.csv"
    write_csv(path, seeded_rows(n, seed=8, start=T0 - n * MINUTE_MS))
    project = tmp / "memory"
    project.mkdir()
    # the peak is VmHWM (kB) of the child's own address space: ru_maxrss would count the
    # pages it shared with this (large) process between fork and exec
    code = (
        "import resource, sys, time\n"
        "from jbt.cli import main\n"
        "sys.argv = ['jbt', '--project', sys.argv[1], 'import-candles', 'binance', "
        "'BTC-USDT', '--file', sys.argv[2]]\n"
        "t0 = time.perf_counter()\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "try:\n"
        "    peak = [int(line.split()[1]) for line in open('/proc/self/status')\n"
        "            if line.startswith('VmHWM:')][0]\n"
        "except OSError:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(time.perf_counter() - t0, peak, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(project), str(path)],
                          capture_output=True, text=True, check=True)
    seconds, peak_kb = done.stderr.split()[-2:]
    print(f"memory:   {n:,}-row CSV ({path.stat().st_size / 1e6:.0f} MB) imported by "
          f"'jbt import-candles --file' in {float(seconds):.1f} s, peak RSS "
          f"{int(peak_kb) / 1024:.0f} MB (target <= 200 MB; load {load_average()})")


def _serve_archive(ready: mp.Queue, done: mp.Event, first: int, end: int) -> None:
    from fakes.binance import FakeBinance, FakeMarket
    from fakes.binance_archive import FakeArchive

    from jbt.modes.import_archive_mode import plan

    market = FakeMarket("BTC", "USDT", first, end, seed=3)
    with FakeBinance([market]) as exchange, FakeArchive(exchange) as archive:
        units = plan(archive.url, "binance", "candles", "BTC-USDT", first, end - 1, end + DAY_MS)
        archive.prebuild(u.url[len(archive.url):] for u in units)
        ready.put((exchange.url, archive.url))
        done.wait()


def bench_archive(tmp: Path) -> None:
    from jbt.config import parse_config
    from jbt.models import close_database, open_database
    from jbt.modes import import_archive_mode

    end = T0 + 366 * DAY_MS  # 2020 is a leap year: twelve monthly files, 527,040 candles
    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    done = ctx.Event()
    proc = ctx.Process(target=_serve_archive, args=(ready, done, T0, end), daemon=True)
    proc.start()
    api_url, archive_url = ready.get(timeout=300)
    try:
        config = parse_config(
            {"database": {"url": "sqlite:///archive.sqlite3"},
             "exchanges": {"binance": {"api_url": api_url, "archive_url": archive_url}}},
            project_dir=tmp, env={},
        )
        open_database(config.database_url())
        t0 = time.perf_counter()
        summary = import_archive_mode.run(config, "binance", "BTC-USDT", T0, end,
                                          now=end + DAY_MS)
        seconds = time.perf_counter() - t0
        close_database()
    finally:
        done.set()
        proc.join(timeout=10)
    assert summary.inserted == 366 * 1440 and not summary.rest, summary
    print(f"archive:  {summary.inserted:,} candles from {summary.downloaded} monthly files "
          f"({summary.bytes / 1e6:.1f} MB, checksums verified) in {seconds:.2f} s, "
          f"{summary.inserted / seconds:,.0f} candles/s (target >= 200,000/s; "
          f"load {load_average()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("csv", "memory", "archive"))
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"rss now {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        for name, fn in (("csv", bench_csv), ("memory", bench_memory),
                         ("archive", bench_archive)):
            if args.only in (None, name):
                fn(tmp)


if __name__ == "__main__":
    main()
