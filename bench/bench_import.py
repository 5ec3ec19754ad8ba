"""Import one year of 1m candles from the fake Binance server through ccxt; print the rate.

The server runs in its own process (so it does not share our GIL) on 127.0.0.1 and enforces
Binance's published request-weight limit (6000 per minute, klines weight 2). The import goes
through the real mode function into a fresh SQLite file.

    python bench/bench_import.py [--days 365] [--workers 4] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.binance import FakeBinance, FakeMarket  # noqa: E402

DAY_MS = 86_400_000
LISTING = 1_577_836_800_000  # 2020-01-01


def _serve(days: int, latency_s: float, ready: mp.Queue, done: mp.Event) -> None:
    market = FakeMarket("BTC", "USDT", LISTING, LISTING + days * DAY_MS, seed=3)
    with FakeBinance([market], weight_limit=6000, latency_s=latency_s) as server:
        ready.put(server.url)
        done.wait()
        klines = server.klines_requests()
        ready.put((len(klines), sum(1 for r in klines if r.status == 429)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay the server adds to every answer (a real round trip)")
    args = parser.parse_args()

    from jbt.config import parse_config
    from jbt.models import close_database, open_database
    from jbt.modes import import_candles_mode

    ctx = mp.get_context("spawn")
    ready: mp.Queue = ctx.Queue()
    done = ctx.Event()
    proc = ctx.Process(target=_serve, args=(args.days, args.latency_ms / 1000, ready, done), daemon=True)
    proc.start()
    url = ready.get(timeout=60)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = parse_config(
                {"database": {"url": "sqlite:///bench.sqlite3"},
                 "exchanges": {"binance": {"api_url": url}}},
                project_dir=Path(tmp), env={},
            )
            open_database(config.database_url())
            t0 = time.perf_counter()
            summary = import_candles_mode.run(
                config, "binance", "BTC-USDT", LISTING, LISTING + args.days * DAY_MS,
                workers=args.workers,
            )
            seconds = time.perf_counter() - t0
            close_database()
    finally:
        done.set()
        served, refused = ready.get(timeout=30)
        proc.join(timeout=10)
    expected = args.days * 1440
    print(f"candles:   {summary.inserted:,} inserted of {expected:,} expected")
    print(f"requests:  {summary.requests:,} ({served:,} klines answered by the server, "
          f"{refused} refused for weight)")
    print(f"seconds:   {seconds:.2f}")
    print(f"rate:      {summary.inserted / seconds:,.0f} candles/s (workers={args.workers}, "
          f"latency {args.latency_ms:g} ms)")
    if summary.inserted != expected:
        raise SystemExit("the import did not store every candle")


if __name__ == "__main__":
    main()
