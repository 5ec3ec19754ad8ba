"""No look-ahead: (a) what a strategy can read at bar k does not change when everything after
bar k is replaced with garbage; (b) a run on data cut after bar k places the same orders up
to k as the full run."""

from __future__ import annotations

import numpy as np
import pytest

import jbt.indicators as ta
from jbt.config import BacktestConfig, Config
from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP
from jbt.engine import run_backtest
from jbt.results import RouteSpec
from jbt.strategies import Strategy

from .kit import T0, M, random_trader, random_walk

ROUTE = RouteSpec("sim", "BTC-USDT", "15m", "Recorder")
N = 3 * 24 * 60  # three days of 1m candles
START = T0 + 12 * 60 * M


def recorder(log: list) -> type:
    """Trades on what it sees (so balances and positions matter) and logs everything it can
    read, per call."""

    class Recorder(Strategy):
        def _snapshot(self):
            fast = ta.ema(self.candles, period=8, sequential=True)
            hourly = self.get_candles("sim", "BTC-USDT", "1h")
            log.append((
                self.time, self.price, self.balance, self.position.qty,
                self.position.entry_price, self.candles.tobytes(), fast.tobytes(),
                ta.rsi(self.candles, period=6), hourly.tobytes(),
                tuple((o.id, o.status, o.fill_price) for o in self.orders),
                tuple((t.id, t.pnl) for t in self.trades),
            ))

        def before(self):
            self._snapshot()

        def should_long(self):
            fast = ta.ema(self.candles, period=8)
            return self.candles[-1, CLOSE] > fast

        def go_long(self):
            qty = self.balance * 0.5 / self.price
            self.buy = qty, self.price * 0.999
            self.stop_loss = qty, self.price * 0.99
            self.take_profit = qty, self.price * 1.01

        def should_cancel_entry(self):
            return True

        def update_position(self):
            if self.candles[-1, CLOSE] < ta.ema(self.candles, period=8):
                self.liquidate()

    return Recorder


def _run(data, strategy, end=None, timeframe="15m"):
    cfg = Config(backtest=BacktestConfig(fee=0.001, warmup_candles=20))
    route = RouteSpec(ROUTE.exchange, ROUTE.symbol, timeframe, strategy.__name__)
    return run_backtest(cfg, [route], {("sim", "BTC-USDT"): data}, "1m",
                        {strategy.__name__: strategy}, START,
                        end or int(data[-1, TIMESTAMP]) + M,
                        extra_candles=[("sim", "BTC-USDT", "1h")])


def _garbage_after(data: np.ndarray, t: int, seed: int) -> np.ndarray:
    """``data`` with every candle from ``t`` on replaced by other prices, except the open of the
    candle at ``t`` (known at ``t``: it is ``self.price``)."""
    out = data.copy()
    later = out[:, TIMESTAMP] >= t
    rng = np.random.default_rng(seed)
    n = int(later.sum())
    o = rng.uniform(1, 1000, n)
    c = rng.uniform(1, 1000, n)
    out[later, OPEN] = o
    out[later, CLOSE] = c
    out[later, HIGH] = np.maximum(o, c) + rng.uniform(0, 50, n)
    out[later, LOW] = np.maximum(np.minimum(o, c) - rng.uniform(0, 50, n), 0.5)
    at = np.flatnonzero(later)[0]
    out[at, OPEN] = data[at, OPEN]
    out[at, HIGH] = max(out[at, HIGH], data[at, OPEN])
    out[at, LOW] = min(out[at, LOW], data[at, OPEN])
    return out


@pytest.mark.parametrize("k", [1, 17, 40, 133, 200])
def test_what_a_strategy_reads_at_bar_k_ignores_the_future(k):
    data = random_walk(N, 11, price=100.0, vol=0.002)
    full_log: list = []
    _run(data, recorder(full_log))
    t_k = full_log[k][0]
    assert t_k == START + k * 15 * M
    garbage_log: list = []
    _run(_garbage_after(data, t_k, seed=k), recorder(garbage_log))
    assert garbage_log[: k + 1] == full_log[: k + 1]
    # the garbage is visible after bar k, so the comparison above could have failed
    assert garbage_log[k + 1] != full_log[k + 1]


@pytest.mark.parametrize("seed", [3, 8, 21])
@pytest.mark.parametrize("k", [10, 75, 190])
def test_orders_up_to_bar_k_do_not_depend_on_later_data(seed, k):
    data = random_walk(N, seed, vol=0.003)
    strategy = random_trader(seed)
    full = _run(data, strategy, timeframe="5m")
    cut_end = START + (k + 1) * 5 * M  # data cut after bar k
    cut = _run(data[data[:, TIMESTAMP] < cut_end], random_trader(seed), timeframe="5m")

    def placed(r):
        return [(o.id, o.side, o.type, o.role, o.qty, o.price, o.created_at)
                for o in r.orders if o.created_at < cut_end and o.role != "end-of-run"]

    def filled(r):
        return [(f.order_id, f.side, f.qty, f.price, f.fee, f.time)
                for f in r.fills if f.time < cut_end]

    assert placed(cut) == placed(full)
    assert filled(cut) == filled(full)
    assert len(placed(full)) > 0
