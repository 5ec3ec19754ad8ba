"""Donchian breakout, long and short (futures, with leverage).

When the last closed bar closes above the highest high of the 20 bars before it, go long;
below the lowest low, go short. Each trade risks 2% of the balance between the entry and a
stop-loss at the channel's middle line, and is closed when price breaks the opposite side of a
10-bar channel. Run it with `type = "futures"` (and e.g. `leverage = 2`) in config.toml.
"""

import jbt.indicators as ta
from jbt import utils
from jbt.constants import CLOSE
from jbt.strategies import Strategy


class Breakout(Strategy):
    def hyperparameters(self):
        return [
            {"name": "entry_period", "type": int, "min": 5, "max": 100, "default": 20},
            {"name": "exit_period", "type": int, "min": 5, "max": 50, "default": 10},
            {"name": "risk", "type": float, "min": 0.5, "max": 5, "default": 2.0},
        ]

    def _channel(self, period):
        # The channel of the bars *before* the last closed one, so the last close can break it.
        return ta.donchian(self.candles[:-1], period=period)

    def should_long(self) -> bool:
        if len(self.candles) <= self.hp["entry_period"]:
            return False
        return self.candles[-1, CLOSE] > self._channel(self.hp["entry_period"]).upperband

    def should_short(self) -> bool:
        if len(self.candles) <= self.hp["entry_period"]:
            return False
        return self.candles[-1, CLOSE] < self._channel(self.hp["entry_period"]).lowerband

    def _qty(self, stop):
        qty = utils.risk_to_qty(
            self.balance, self.hp["risk"], self.price, stop, fee_rate=self.fee_rate
        )
        # never more than the leveraged balance allows
        cap = utils.size_to_qty(
            self.balance * self.leverage * 0.95, self.price, fee_rate=self.fee_rate
        )
        return min(qty, cap)

    def go_long(self):
        stop = self._channel(self.hp["entry_period"]).middleband
        qty = self._qty(stop)
        self.buy = qty, self.price
        self.stop_loss = qty, stop

    def go_short(self):
        stop = self._channel(self.hp["entry_period"]).middleband
        qty = self._qty(stop)
        self.sell = qty, self.price
        self.stop_loss = qty, stop

    def should_cancel_entry(self) -> bool:
        return True

    def update_position(self):
        if len(self.candles) <= self.hp["exit_period"]:
            return
        exit_channel = self._channel(self.hp["exit_period"])
        last_close = self.candles[-1, CLOSE]
        if self.position.is_long and last_close < exit_channel.lowerband:
            self.liquidate()
        elif self.position.is_short and last_close > exit_channel.upperband:
            self.liquidate()
