"""A small project to optimise: 30 days of seeded 1m candles, strategies with hyperparameters,
and helpers to run ``jbt optimize`` and read its study back."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from engine.kit import random_walk
from engine.projects import store_candles, write_project
from typer.testing import CliRunner

from jbt.cli import app

DAYS = 30
CANDLES = random_walk(DAYS * 1440, 11, vol=0.0012)

#: An EMA cross with two integer hyperparameters (as the example strategy).
EMA = textwrap.dedent('''
    import jbt.indicators as ta
    from jbt.strategies import Strategy


    class Ema(Strategy):
        def hyperparameters(self):
            return [{"name": "fast", "type": int, "min": 2, "max": 20, "default": 5},
                    {"name": "slow", "type": int, "min": 5, "max": 40, "default": 20}]

        def cross(self):
            f = ta.ema(self.candles, self.hp["fast"], sequential=True)
            s = ta.ema(self.candles, self.hp["slow"], sequential=True)
            return f[-2] - s[-2], f[-1] - s[-1]

        def should_long(self):
            before, now = self.cross()
            return before <= 0 < now

        def go_long(self):
            self.buy = self.balance * 0.5 / self.price, self.price

        def update_position(self):
            before, now = self.cross()
            if before >= 0 > now:
                self.liquidate()
''')

#: Declares nothing to search.
PLAIN = textwrap.dedent('''
    from jbt.strategies import Strategy


    class Plain(Strategy):
        def should_long(self):
            return False
''')

#: Trades every ``every`` bars; raises in training when ``boom`` is true (line BOOM_LINE); a
#: float, a bool and a categorical to search; ``objective()`` for ``--objective custom``.
MIXED = textwrap.dedent('''
    from jbt.strategies import Strategy


    class Mixed(Strategy):
        def hyperparameters(self):
            return [
                {"name": "every", "type": int, "min": 2, "max": 60, "step": 2, "default": 10},
                {"name": "size", "type": float, "min": 0.1, "max": 0.9, "default": 0.5},
                {"name": "boom", "type": bool, "default": False},
                {"name": "side", "type": "categorical", "options": ["long", "flat"],
                 "default": "long"},
            ]

        def before(self):
            if self.hp["boom"] and self.index == 5:
                raise ValueError("boom at bar five")

        def should_long(self):
            return self.hp["side"] == "long" and self.index % self.hp["every"] == 0

        def go_long(self):
            self.buy = self.balance * self.hp["size"] / self.price, self.price

        def update_position(self):
            if self.index % self.hp["every"] == self.hp["every"] // 2:
                self.liquidate()

        def objective(self, result):
            return result.metrics["net_profit"] * self.hp["size"]
''')
BOOM_LINE = next(i for i, line in enumerate(MIXED.splitlines(), 1) if "raise ValueError" in line)

#: Ends its worker process (as a strategy calling os._exit or a crash in C code would) when
#: ``n`` is 3.
CRASH = textwrap.dedent('''
    import os

    from jbt.strategies import Strategy


    class Crash(Strategy):
        def hyperparameters(self):
            return [{"name": "n", "type": int, "min": 1, "max": 6, "default": 1}]

        def should_long(self):
            if self.hp["n"] == 3 and self.index == 2:
                os._exit(9)
            return False
''')

CONFIG = """
[backtest]
starting_balance = 10000
fee = 0.001
warmup_candles = 45
"""


def make_project(root: Path, route: str = "Ema", timeframe: str = "1h") -> Path:
    write_project(
        root, routes=f'routes = [("sim", "BTC-USDT", "{timeframe}", "{route}")]',
        strategies={"Ema": EMA, "Plain": PLAIN, "Mixed": MIXED, "Crash": CRASH}, config=CONFIG,
    )
    store_candles(f"sqlite:///{root / 'db.sqlite3'}", "sim", "BTC-USDT", CANDLES)
    from jbt.models import close_database

    close_database()
    return root


def invoke(root: Path, *args: str):
    return CliRunner().invoke(app, ["--project", str(root), *args],
                              env={"COLUMNS": "120", "JBT_CACHE_DIR": str(root / ".cache")})


def study_json(root: Path, name: str, *extra: str) -> dict:
    out = root / f"{name}.json"
    res = invoke(root, "optimize", "show", name, "--json", str(out), *extra)
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text(encoding="utf-8"))


def trial_rows(data: dict) -> list[tuple]:
    """What must be equal between two runs of a study: every trial's number, params, status,
    objective values and both periods' metrics."""
    return [(t["number"], t["params"], t["status"], t["values"], t["test_values"], t["train"],
             t["test"], t["error"], t["reason"]) for t in data["trials"]]
