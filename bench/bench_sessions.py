"""Benchmark saving a session: the EMA-cross example strategy on one year of seeded 1m candles
(525,600 bars: ~10,500 orders and fills, ~5,300 closed trades, 525,600 equity points), saved to
a fresh SQLite file by ``jbt.sessions.save_session``, next to the way jbt saved it before
(peewee ``insert_many`` of dicts built with ``dataclasses.asdict``, the equity curve as JSON
pairs), measured in one process on the same result.

    python bench/bench_sessions.py            # target: save <= 0.5 s
    python bench/bench_sessions.py --repeat 5

Each save goes to its own new database file. Reading the session back (``load_session``) is
timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_S = 0.5


def year_result():
    from bench_backtest import T0, make_candles

    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.metrics import compute_metrics
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy

    candles = make_candles()
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=210))
    result = run_backtest(
        cfg, [RouteSpec("bench", "BTC-USDT", "1m", "EmaCross")], {("bench", "BTC-USDT"): candles},
        "1m", {"EmaCross": load_strategy(ROOT, "EmaCross")}, T0, T0 + len(candles) * 60_000,
    )
    result.metrics = compute_metrics(result.equity_time, result.equity, result.trades,
                                     result.starting_balance, result.start, result.end)
    return result


def save_before(result) -> int:
    """How jbt saved a session before this benchmark's change (kept here as the reference)."""
    from jbt.models import (
        BacktestSession,
        ClosedTrade,
        Order,
        SessionData,
        Trade,
        database_proxy,
    )

    with database_proxy.obj.atomic():
        session = BacktestSession.create(
            created_at=int(time.time() * 1000), status="finished", duration_s=result.duration_s,
            start=result.start, end=result.end,
            routes=json.dumps([asdict(r) for r in result.routes]),
            config=json.dumps(result.config), metrics=json.dumps(result.metrics),
            equity=json.dumps([[t, e] for t, e in zip(result.equity_time, result.equity,
                                                      strict=True)]),
            starting_balance=result.starting_balance, finishing_balance=result.finishing_balance,
        )
        sid = session.id
        order_rows = [{"session": sid, "order_id": o.id, "route": o.route, "exchange": o.exchange,
                       "symbol": o.symbol, "side": o.side, "type": o.type, "role": o.role,
                       "qty": o.qty, "price": o.price, "status": o.status,
                       "created_at": o.created_at, "filled_at": o.filled_at,
                       "fill_price": o.fill_price, "fee": o.fee, "reduce_only": o.reduce_only}
                      for o in result.orders]
        fill_rows = [{"session": sid, "order_id": f.order_id, "route": f.route, "side": f.side,
                      "qty": f.qty, "price": f.price, "fee": f.fee, "timestamp": f.time}
                     for f in result.fills]
        trade_rows = [{"session": sid, "trade_id": t.id, "route": t.route,
                       "exchange": t.exchange, "symbol": t.symbol, "timeframe": t.timeframe,
                       "strategy": t.strategy, "side": t.side, "qty": t.qty,
                       "entry_time": t.entry_time, "entry_price": t.entry_price,
                       "exit_time": t.exit_time, "exit_price": t.exit_price, "pnl": t.pnl,
                       "fee": t.fee, "closed_by": t.closed_by, "leverage": t.leverage}
                      for t in result.trades]
        for model, rows in ((Order, order_rows), (Trade, fill_rows), (ClosedTrade, trade_rows)):
            for i in range(0, len(rows), 500):
                model.insert_many(rows[i: i + 500]).execute()
        exact = {"starting_balance": float(result.starting_balance),
                 "finishing_balance": float(result.finishing_balance),
                 "trades": [asdict(t) for t in result.trades],
                 "orders": [asdict(o) for o in result.orders],
                 "fills": [asdict(f) for f in result.fills], "warnings": [],
                 "base_timeframes": {}}
        SessionData.create(session=sid, data=json.dumps(exact, allow_nan=False))
    return sid


def timed(fn, result, folder: Path, name: str) -> tuple[float, int]:
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{folder / name}")
    try:
        began = time.perf_counter()
        sid = fn(result)
        return time.perf_counter() - began, sid
    finally:
        close_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="saves of each kind (best kept)")
    args = parser.parse_args()

    from jbt.models import close_database, open_database
    from jbt.sessions import load_session, save_session

    result = year_result()
    print(f"session: {len(result.equity):,} equity points, {len(result.orders):,} orders, "
          f"{len(result.fills):,} fills, {len(result.trades):,} closed trades")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        before = [timed(save_before, result, folder, f"before{i}.sqlite3")[0]
                  for i in range(args.repeat)]
        now = []
        for i in range(args.repeat):
            seconds, sid = timed(save_session, result, folder, f"now{i}.sqlite3")
            now.append(seconds)
        open_database(f"sqlite:///{folder / 'now0.sqlite3'}")
        began = time.perf_counter()
        back = load_session(1)
        read_s = time.perf_counter() - began
        close_database()
        result.session_id = 1
        same = back.to_dict() == result.to_dict()
    b, n = min(before), min(now)
    ok = "ok" if n <= TARGET_S else "SLOW"
    print(f"{'save, before (insert_many + asdict)':40s} {b:7.3f} s   (all: {', '.join(f'{x:.3f}' for x in before)})")
    print(f"{'save, now (jbt.sessions.save_session)':40s} {n:7.3f} s   (all: {', '.join(f'{x:.3f}' for x in now)})  target {TARGET_S} s  {ok}")
    print(f"{'ratio before / now':40s} {b / n:7.1f} x")
    print(f"{'read back (load_session)':40s} {read_s:7.3f} s   equal to the result: {same}")


if __name__ == "__main__":
    main()
