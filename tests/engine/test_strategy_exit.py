"""A strategy that calls sys.exit() stops the run with a StrategyError naming its file and line,
like any other exception in user code."""

import numpy as np
import pytest

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.errors import StrategyError
from jbt.results import RouteSpec

from .projects import write_project

T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
M = 60_000

EXITS = '''
import sys

from jbt.strategies import Strategy


class Exits(Strategy):
    def should_long(self):
        if self.index == 2:
            sys.exit(3)
        return False
'''


def test_sys_exit_in_a_strategy_is_a_strategy_error(tmp_path):
    from jbt.routes import load_strategy

    write_project(tmp_path, routes="", strategies={"Exits": EXITS})
    cls = load_strategy(tmp_path, "Exits")
    n = 20
    data = np.empty((n, 6))
    data[:, 0] = T0 + M * np.arange(n)
    data[:, 1:5] = 100.0
    data[:, 5] = 1.0
    config = Config(backtest=BacktestConfig(warmup_candles=0))
    with pytest.raises(StrategyError) as info:
        run_backtest(config, [RouteSpec("x", "BTC-USDT", "1m", "Exits")],
                     {("x", "BTC-USDT"): data}, "1m", {"Exits": cls}, T0 + M, T0 + n * M)
    message = str(info.value)
    assert message.startswith("strategies/Exits/__init__.py line 10 at 2020-01-01 00:0")
    assert message.endswith(
        "SystemExit: the strategy called sys.exit(3); a strategy cannot stop the run "
        "(return from the hook instead)"
    )
