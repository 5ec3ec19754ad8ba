"""Helpers that write a project folder (routes.py, strategies/, config.toml) and its candles."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

BUY_AND_HOLD = '''
from jbt.strategies import Strategy


class {name}(Strategy):
    def should_long(self):
        return True

    def go_long(self):
        self.buy = {qty}, self.price
'''

BOOM = '''
from jbt.strategies import Strategy


class Boom(Strategy):
    def should_long(self):
        if self.index == 3:
            return 1 / 0
        return False
'''


def write_project(root: Path, *, routes: str, strategies: dict[str, str],
                  config: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "routes.py").write_text(textwrap.dedent(routes))
    for name, source in strategies.items():
        folder = root / "strategies" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(textwrap.dedent(source))
    (root / "config.toml").write_text(textwrap.dedent(config))
    return root


def store_candles(url: str, exchange: str, symbol: str, rows: np.ndarray) -> None:
    """Insert 1m candles into the database at ``url`` (and leave it bound)."""
    from jbt.candles import insert_candles
    from jbt.models import open_database

    open_database(url)
    insert_candles(exchange, symbol, "1m", rows)
