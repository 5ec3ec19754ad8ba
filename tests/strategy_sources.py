"""Strategy sources the CLI and API tests write into their project folders."""

from __future__ import annotations

import textwrap

#: Buys after two rising closes with a stop-loss 1.5% below and a take-profit 2% above; sells
#: on a third falling close. Trades on its own clock so every exit reason shows up.
SWING = textwrap.dedent(
    """\
    from jbt import utils
    from jbt.constants import CLOSE
    from jbt.strategies import Strategy


    class Swing(Strategy):
        def should_long(self):
            c = self.candles
            return len(c) >= 3 and c[-1][CLOSE] > c[-2][CLOSE] > c[-3][CLOSE]

        def should_short(self):
            return False

        def go_long(self):
            qty = utils.size_to_qty(self.balance * 0.4, self.price, fee_rate=self.fee_rate)
            self.buy = qty, self.price
            self.stop_loss = qty, self.price * 0.985
            self.take_profit = qty, self.price * 1.02

        def go_short(self):
            pass

        def should_cancel_entry(self):
            return True

        def update_position(self):
            c = self.candles
            if c[-1][CLOSE] < c[-2][CLOSE] < c[-3][CLOSE] < c[-4][CLOSE]:
                self.liquidate()
    """
)

#: Buys after two rising closes, sells on the first falling close.
RISING = textwrap.dedent(
    """\
    from jbt import utils
    from jbt.constants import CLOSE
    from jbt.strategies import Strategy


    class Rising(Strategy):
        def should_long(self):
            c = self.candles
            return len(c) >= 3 and c[-1][CLOSE] > c[-2][CLOSE] > c[-3][CLOSE]

        def should_short(self):
            return False

        def go_long(self):
            qty = utils.size_to_qty(self.balance * 0.4, self.price, fee_rate=self.fee_rate)
            self.buy = qty, self.price

        def go_short(self):
            pass

        def should_cancel_entry(self):
            return True

        def update_position(self):
            if self.candles[-1][CLOSE] < self.candles[-2][CLOSE]:
                self.liquidate()
    """
)

#: Raises once more than 30 bars have closed (line BOOM_LINE).
BOOM = textwrap.dedent(
    """\
    from jbt.strategies import Strategy


    class Boom(Strategy):
        def should_long(self):
            if len(self.candles) > 30:
                raise ZeroDivisionError("the strategy divided by zero")
            return False

        def should_short(self):
            return False

        def go_long(self):
            pass

        def go_short(self):
            pass
    """
)

#: The line of Boom's ``raise``.
BOOM_LINE = 7

#: Enters at its call number ``wait`` (0 = the first call) with ``size`` units.
WAIT = textwrap.dedent(
    """\
    from jbt.strategies import Strategy


    class Wait(Strategy):
        def hyperparameters(self):
            return [
                {"name": "wait", "type": int, "min": 0, "max": 50, "default": 1},
                {"name": "size", "type": float, "min": 0.001, "max": 1.0, "default": 0.5},
                {"name": "enabled", "type": bool, "default": True},
            ]

        def should_long(self):
            return self.hp["enabled"] and self.index == self.hp["wait"]

        def go_long(self):
            self.buy = self.hp["size"], self.price
    """
)
