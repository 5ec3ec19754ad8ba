"""``forming_candles`` / ``get_candles(..., forming=True)``: a longer timeframe's bars end with
the bar still forming, as Jesse gives them, made only of the base candles closed by then (no
look-ahead); off by default (closed bars only)."""

from __future__ import annotations

import numpy as np
import pytest
from engine.kit import T0, M, candles, flat, random_walk

from jbt.config import BacktestConfig, Config, load_config
from jbt.constants import TIMESTAMP
from jbt.engine import run_backtest
from jbt.errors import ConfigError
from jbt.results import RouteSpec
from jbt.strategies import Strategy
from jbt.timeframes import aggregate


def reader(log: list, **kw) -> type:
    class Reader(Strategy):
        def before(self):
            log.append((self.time, np.array(self.get_candles("x", "BTC-USDT", "1h", **kw))))

    return Reader


def backtest(strategy, data, *, forming, start=T0 + 60 * M, end=T0 + 4 * 60 * M):
    config = Config(backtest=BacktestConfig(warmup_candles=4, forming_candles=forming))
    return run_backtest(config, [RouteSpec("x", "BTC-USDT", "15m", "Reader")],
                        {("x", "BTC-USDT"): data}, "1m", {"Reader": strategy}, start, end,
                        extra_candles=[("x", "BTC-USDT", "1h")])


def test_the_forming_bar_is_made_of_the_candles_closed_so_far():
    data = random_walk(4 * 60, 5)  # gaps between candles, wicks on both sides
    log: list = []
    backtest(reader(log), data, forming=True)
    assert len(log) == 12  # 01:00 to 03:45, every 15 minutes
    for t, bars in log:
        closed = data[data[:, TIMESTAMP] < t]  # the 1m candles closed at t
        expected = aggregate(closed, "1m", "1h", complete_only=False)
        np.testing.assert_array_equal(bars, expected)
        if (t - T0) % (60 * M):  # inside an hour: that hour so far
            assert bars[-1, TIMESTAMP] == t - (t - T0) % (60 * M)
        else:  # on the hour: the hour that has just closed, nothing more
            assert bars[-1, TIMESTAMP] == t - 60 * M
    # with the setting off: the closed hours only
    closed_only: list = []
    backtest(reader(closed_only), data, forming=False)
    for (t, bars), (_, with_forming) in zip(closed_only, log, strict=True):
        n = (t - T0) // (60 * M)
        np.testing.assert_array_equal(bars, aggregate(data, "1m", "1h")[:n])
        assert len(with_forming) == n + (1 if (t - T0) % (60 * M) else 0)


def test_nothing_after_t_reaches_the_forming_bar():
    data = random_walk(4 * 60, 6)
    log: list = []
    backtest(reader(log), data, forming=True)
    t, seen = log[5]  # 02:15
    garbage = data.copy()
    later = garbage[:, TIMESTAMP] >= t
    rng = np.random.default_rng(1)
    garbage[later, 1:5] = rng.uniform(1, 1000, (int(later.sum()), 4))
    again: list = []
    backtest(reader(again), garbage, forming=True)
    assert again[5][0] == t
    np.testing.assert_array_equal(again[5][1], seen)


def test_the_keyword_overrides_the_setting():
    data = random_walk(4 * 60, 7)
    on: list = []
    off: list = []
    backtest(reader(on, forming=True), data, forming=False)
    backtest(reader(off, forming=False), data, forming=True)
    t, bars = on[1]  # 01:15
    assert bars[-1, TIMESTAMP] == T0 + 60 * M and len(bars) == 2
    t, bars = off[1]
    assert bars[-1, TIMESTAMP] == T0 and len(bars) == 1


def test_in_a_fill_hook_the_forming_bar_ends_at_the_fill():
    seen = {}

    class Hook(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, 95  # a limit, reached in the 00:07 candle

        def on_open_position(self, order):
            seen["5m"] = self.get_candles("x", "BTC-USDT", "5m", forming=True)[-1].tolist()

    data = candles(*flat(100, 5), (100, 101, 99, 100), (100, 102, 98, 99), (99, 99, 94, 96),
                   *flat(96, 12))
    run_backtest(Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1)),
                 [RouteSpec("x", "BTC-USDT", "5m", "Hook")], {("x", "BTC-USDT"): data}, "1m",
                 {"Hook": Hook}, T0 + 5 * M, T0 + 20 * M)
    # the 00:05 bar so far: the 00:05 and 00:06 candles (the 00:07 one is still forming)
    assert seen["5m"] == [T0 + 5 * M, 100.0, 99.0, 102.0, 98.0, 2.0]


def test_forming_candles_in_config_toml(tmp_path):
    (tmp_path / "config.toml").write_text("[backtest]\nforming_candles = true\n")
    assert load_config(tmp_path, env={}).backtest.forming_candles is True
    (tmp_path / "config.toml").write_text('[backtest]\nforming_candles = "yes"\n')
    with pytest.raises(ConfigError, match="'forming_candles' must be true or false, got 'yes'"):
        load_config(tmp_path, env={})
