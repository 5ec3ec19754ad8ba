"""Projects for the walk-forward and robustness tests: the optimisation kit's 30 days of
seeded 1m candles (2020-01-01 → 2020-01-31) with more strategies."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from engine.projects import store_candles, write_project
from optimize.kit import CANDLES, CONFIG, EMA, MIXED

from jbt.dates import parse_date

#: Raises when it sees a candle closing after the training end of the walk-forward window
#: whose training part starts where its run starts (the windows are read from windows.json
#: next to it: [[train_start, train_end], ...]); trades every ``every`` bars otherwise.
PEEK = textwrap.dedent('''
    import json
    from pathlib import Path

    from jbt.strategies import Strategy

    WINDOWS = json.loads((Path(__file__).parent / "windows.json").read_text())
    HOUR = 3_600_000


    class Peek(Strategy):
        def hyperparameters(self):
            return [{"name": "every", "type": int, "min": 2, "max": 30, "default": 6}]

        def before(self):
            if "limit" not in self.vars:
                self.vars["limit"] = next((e for s, e in WINDOWS if s == self.time), None)
            limit = self.vars["limit"]
            if limit is not None and (self.time >= limit
                                      or int(self.candles[-1][0]) + HOUR > limit):
                raise RuntimeError(f"saw a candle after the training end {limit}")

        def should_long(self):
            return self.index % self.hp["every"] == 0

        def go_long(self):
            self.buy = self.balance * 0.5 / self.price, self.price

        def update_position(self):
            if self.index % self.hp["every"] == self.hp["every"] // 2:
                self.liquidate()
''')

#: Its trades depend on the last K closes only, once it has K candles; with fewer (a warm-up
#: shorter than K bars) it buys at its first bar: the trades change below a warm-up of K.
LOOKBACK = textwrap.dedent('''
    import numpy as np

    from jbt.strategies import Strategy


    class Lookback(Strategy):
        K = 40

        def should_long(self):
            if len(self.candles) < self.K:
                return self.index == 0
            closes = self.candles[-self.K:, 2]
            return self.index % 5 == 2 and closes[-1] > np.mean(closes)

        def go_long(self):
            self.buy = self.balance * 0.5 / self.price, self.price

        def update_position(self):
            closes = self.candles[-self.K:, 2]
            if closes[-1] < np.mean(closes[-self.K // 2:]) or self.index % 11 == 0:
                self.liquidate()
''')


def make_project(root: Path, route: str = "Ema", windows: list | None = None) -> Path:
    write_project(
        root, routes=f'routes = [("sim", "BTC-USDT", "1h", "{route}")]',
        strategies={"Ema": EMA, "Mixed": MIXED, "Peek": PEEK, "Lookback": LOOKBACK},
        config=CONFIG,
    )
    (root / "strategies" / "Peek" / "windows.json").write_text(json.dumps(windows or []))
    store_candles(f"sqlite:///{root / 'db.sqlite3'}", "sim", "BTC-USDT", CANDLES)
    from jbt.models import close_database

    close_database()
    return root


def ms(text: str) -> int:
    return parse_date(text, name="date")
