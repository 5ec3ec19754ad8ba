"""Two backtests running at the same time in two threads give exactly what each gives alone:
the engine keeps no module-level state and the indicator cache is per thread."""

from __future__ import annotations

import threading
from pathlib import Path

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.results import RouteSpec
from jbt.routes import load_strategy

from .kit import T0, M, random_trader, random_walk, result_signature

ROOT = Path(__file__).resolve().parents[2]


def _ema_run():
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=60))
    data = random_walk(20_000, 5, price=30_000.0, vol=0.002)
    return run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", "1m", "EmaCross")],
                        {("sim", "BTC-USDT"): data}, "1m",
                        {"EmaCross": load_strategy(ROOT, "EmaCross")},
                        T0 + 60 * M, T0 + 20_000 * M)


def _random_run():
    cfg = Config(backtest=BacktestConfig(fee=0.0005, type="futures", leverage=3.0,
                                         warmup_candles=5))
    data = random_walk(20_000, 9, price=2_000.0, vol=0.003)
    return run_backtest(cfg, [RouteSpec("sim", "ETH-USDT", "5m", "RandomTrader")],
                        {("sim", "ETH-USDT"): data}, "1m", {"RandomTrader": random_trader(9)},
                        T0 + 60 * M, T0 + 20_000 * M)


def test_two_threads_give_what_each_gives_alone():
    alone = [result_signature(_ema_run()), result_signature(_random_run())]
    assert len(alone[0][2]) > 10 and len(alone[1][2]) > 10  # both trade

    results: list = [None, None]
    errors: list = []
    barrier = threading.Barrier(2)

    def work(i, fn):
        try:
            barrier.wait()
            for _ in range(2):
                sig = result_signature(fn())
                assert results[i] is None or results[i] == sig
                results[i] = sig
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(0, _ema_run)),
               threading.Thread(target=work, args=(1, _random_run))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == alone
