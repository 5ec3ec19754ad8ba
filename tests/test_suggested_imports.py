"""Every ``jbt import-candles`` command a backtest suggests is one that runs (issue 16, finding
5): run here against the fake exchange, after which the backtest it was suggested for runs with
its full warm-up. Dates after now are never suggested."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone

import pytest
from fakes.binance import FakeBinance, FakeMarket, write_project
from strategy_sources import RISING
from typer.testing import CliRunner

from jbt.cli import app
from jbt.dates import now_ms

HOUR = 3_600_000
WARMUP = 5


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def setup(tmp_path):
    now_hour = now_ms() // HOUR * HOUR
    listing = now_hour - 48 * HOUR
    market = FakeMarket("BTC", "USDT", listing, now_hour - HOUR, seed=5)
    with FakeBinance([market]) as server:
        root = tmp_path / "project"
        write_project(root, {"binance": server}, retry_delay=0.01)
        with (root / "config.toml").open("a", encoding="utf-8") as f:
            f.write(f"\n[backtest]\nwarmup_candles = {WARMUP}\n")
        (root / "strategies" / "Rising").mkdir(parents=True)
        (root / "strategies" / "Rising" / "__init__.py").write_text(RISING, encoding="utf-8")
        (root / "routes.py").write_text('routes = [("binance", "BTC-USDT", "1h", "Rising")]\n',
                                        encoding="utf-8")
        yield root, listing


def run(root, *args):
    return CliRunner().invoke(app, ["--project", str(root), *args])


def suggestion(output: str) -> list[str]:
    words = shlex.split(output.split("with: ", 1)[1].split(" (or set", 1)[0])
    assert words[:2] == ["jbt", "import-candles"], output
    return words[2:]


def as_minutes(words: list[str]) -> list[str]:
    """The suggestion's dates in ``day()``'s form (exactly midnight is printed as the bare day)."""
    return [w + "T00:00" if len(w) == 10 and w[4] == "-" and w[7] == "-" else w for w in words]


def test_the_suggested_import_runs_and_then_the_backtest_does(setup, tmp_path):
    root, listing = setup
    first = run(root, "import-candles", "binance", "BTC-USDT", day(listing), "--end",
                day(listing + 12 * HOUR))
    assert first.exit_code == 0, first.output
    start, end = listing + 30 * HOUR, listing + 40 * HOUR
    refused = run(root, "backtest", day(start), day(end))
    assert refused.exit_code == 1
    words = suggestion(refused.output)
    # the period and the warm-up before it: 5 bars of 1h
    assert as_minutes(words) == ["binance", "BTC-USDT", day(start - WARMUP * HOUR), "--end",
                                 day(end)]
    fetched = run(root, "import-candles", *words)
    assert fetched.exit_code == 0, fetched.output
    out = tmp_path / "run.json"
    ran = run(root, "backtest", day(start), day(end), "--json", str(out))
    assert ran.exit_code == 0, ran.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["period"] == {"start": start, "end": end}
    assert data["warnings"] == []  # the whole warm-up was fetched too


def test_an_end_after_now_suggests_an_import_up_to_now(setup):
    root, listing = setup
    assert run(root, "import-candles", "binance", "BTC-USDT", day(listing), "--end",
               day(listing + 12 * HOUR)).exit_code == 0
    refused = run(root, "backtest", day(listing + 8 * HOUR), "2031-01-01")
    assert refused.exit_code == 1
    words = suggestion(refused.output)
    assert as_minutes(words) == ["binance", "BTC-USDT", day(listing + 12 * HOUR)]  # no --end: it is now
    fetched = run(root, "import-candles", *words)
    assert fetched.exit_code == 0, fetched.output
    assert "END" not in fetched.output
    future = run(root, "backtest", "2031-01-01")
    assert future.exit_code == 2
    assert "is in the future" in future.output and "import-candles" not in future.output
