"""A jbt project folder for CLI tests: config.toml with a SQLite file inside, routes.py, two
small strategies, and real Coinbase BTC-USD hourly candles imported through
``jbt import-candles --file``."""

from __future__ import annotations

import csv
from pathlib import Path

from strategy_sources import BOOM, RISING, SWING
from typer.testing import CliRunner

import jbt
from jbt.cli import app

SAMPLE = Path(jbt.__file__).parent / "data" / "coinbase-BTC-USD-1h.csv"
EXCHANGE, SYMBOL = "coinbase", "BTC-USD"
HOURS = 24 * 60  # 2018-07-01 .. 2018-08-30
START, END = "2018-07-10", "2018-08-25"
START_MS, END_MS = 1_531_180_800_000, 1_535_155_200_000




ROUTES = [(EXCHANGE, SYMBOL, "1h", "Swing"), (EXCHANGE, SYMBOL, "4h", "Rising")]


def jbt_run(project: Path, *args: str):
    """Run ``jbt --project PROJECT ARGS`` in-process."""
    return CliRunner().invoke(app, ["--project", str(project), *args])


def write_routes(project: Path, routes: list[tuple[str, str, str, str]]) -> None:
    (project / "routes.py").write_text(f"routes = {routes!r}\n", encoding="utf-8")


def make_project(root: Path) -> Path:
    """The project folder with the sample candles imported; returns it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(
        '[database]\nurl = "sqlite:///db.sqlite3"\n\n'
        "[backtest]\nstarting_balance = 10000\nfee = 0.001\nwarmup_candles = 20\n",
        encoding="utf-8",
    )
    for name, source in (("Swing", SWING), ("Rising", RISING), ("Boom", BOOM)):
        folder = root / "strategies" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(source, encoding="utf-8")
    write_routes(root, ROUTES)
    data = root / "candles.csv"
    with SAMPLE.open(newline="") as src, data.open("w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i >= HOURS:
                break
            writer.writerow(row)
    imported = jbt_run(root, "import-candles", EXCHANGE, SYMBOL, "--file", str(data))
    assert imported.exit_code == 0, imported.output
    return root


def hourly_candles() -> list[list[float]]:
    """The imported rows as ``[timestamp, open, high, low, close, volume]`` (the file's order)."""
    with SAMPLE.open(newline="") as f:
        rows = list(csv.reader(f))[1: HOURS + 1]
    return [[float(x) for x in r] for r in rows]
