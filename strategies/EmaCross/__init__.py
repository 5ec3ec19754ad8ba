"""EMA cross: long with the whole balance when the fast EMA of closes crosses above the slow
one, out when it crosses back below. Spot, long only, market orders.

The indicators are called the natural way, on ``self.candles`` every bar; inside a backtest
they are computed once per run and indexed, so this costs about a microsecond per call.
"""

import jbt.indicators as ta
from jbt.strategies import Strategy


class EmaCross(Strategy):
    def hyperparameters(self):
        return [
            {"name": "fast", "type": int, "min": 2, "max": 100, "default": 20},
            {"name": "slow", "type": int, "min": 3, "max": 200, "default": 50},
        ]

    def emas(self):
        fast = ta.ema(self.candles, period=self.hp["fast"], sequential=True)
        slow = ta.ema(self.candles, period=self.hp["slow"], sequential=True)
        return fast, slow

    def should_long(self) -> bool:
        fast, slow = self.emas()
        # crossed above: at or below on the bar before, above on the last closed bar
        return len(fast) > 1 and fast[-2] <= slow[-2] and fast[-1] > slow[-1]

    def go_long(self):
        # the whole balance, leaving room for the taker fee
        qty = self.balance / (self.price * (1 + self.fee_rate))
        self.buy = qty, self.price

    def update_position(self):
        fast, slow = self.emas()
        if fast[-2] >= slow[-2] and fast[-1] < slow[-1]:
            self.liquidate()
