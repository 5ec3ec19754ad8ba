"""RSI mean reversion (spot, long only).

Buys when RSI(14) of closes has fallen below 30 (oversold), protects the position with a
stop-loss 2 ATR below the entry and a take-profit 3 ATR above it (whichever is hit first
cancels the other), and exits early when RSI recovers above 70.
"""

import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class RsiReversion(Strategy):
    def hyperparameters(self):
        return [
            {"name": "rsi_period", "type": int, "min": 2, "max": 50, "default": 14},
            {"name": "oversold", "type": int, "min": 5, "max": 45, "default": 30},
            {"name": "overbought", "type": int, "min": 55, "max": 95, "default": 70},
            {"name": "stop_atr", "type": float, "min": 0.5, "max": 5, "default": 2.0},
            {"name": "target_atr", "type": float, "min": 0.5, "max": 10, "default": 3.0},
        ]

    @property
    def rsi(self):
        return ta.rsi(self.candles, period=self.hp["rsi_period"])

    @property
    def atr(self):
        return ta.atr(self.candles, period=14)

    def should_long(self) -> bool:
        return self.rsi < self.hp["oversold"]

    def should_short(self) -> bool:
        return False

    def go_long(self):
        qty = utils.size_to_qty(self.balance * 0.95, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price
        self.stop_loss = qty, self.price - self.hp["stop_atr"] * self.atr
        self.take_profit = qty, self.price + self.hp["target_atr"] * self.atr

    def go_short(self):
        pass

    def should_cancel_entry(self) -> bool:
        return True

    def update_position(self):
        if self.rsi > self.hp["overbought"]:
            self.liquidate()
