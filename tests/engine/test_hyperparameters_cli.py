"""``jbt backtest --hp``: hyperparameters set from the command line, converted to the declared
type, checked against min/max before anything runs, and recorded in the result's config."""

from __future__ import annotations

import json

import pytest
from strategy_sources import WAIT
from typer.testing import CliRunner

from jbt.cli import app

from .kit import T0, M, random_walk
from .projects import store_candles, write_project

#: Another strategy that also declares ``wait``.
OTHER = '''
from jbt.strategies import Strategy


class Other(Strategy):
    def hyperparameters(self):
        return [{"name": "wait", "type": "int", "min": 0, "max": 9, "default": 5},
                {"name": "mode", "type": "categorical", "options": ["a", "b"], "default": "a"}]
'''

CONFIG = """
[backtest]
starting_balance = 5000
fee = 0.0
warmup_candles = 4
"""

START = T0 + 12 * 60 * M  # 2020-01-01 12:00 UTC: the first call of the 15m route
STEP = 15 * M
CANDLES = random_walk(24 * 60, 7, vol=0.002)
ONE_ROUTE = 'routes = [("binance", "BTC-USDT", "15m", "Wait")]'
TWO_ROUTES = ('routes = [("binance", "BTC-USDT", "15m", "Wait"), '
              '("binance", "BTC-USDT", "1h", "Other")]')


def _project(tmp_path, routes=ONE_ROUTE):
    write_project(tmp_path, routes=routes, strategies={"Wait": WAIT, "Other": OTHER},
                  config=CONFIG)
    store_candles(f"sqlite:///{tmp_path / 'db.sqlite3'}", "binance", "BTC-USDT", CANDLES)


def _invoke(tmp_path, *args):
    return CliRunner().invoke(
        app, ["--project", str(tmp_path), *args], env={"COLUMNS": "200"}
    )


def _backtest(tmp_path, *hp):
    out = tmp_path / "run.json"
    ran = _invoke(tmp_path, "backtest", "2020-01-01T12:00", "2020-01-01T18:00", "--json",
                  str(out), *hp)
    assert ran.exit_code == 0, ran.output
    return json.loads(out.read_text(encoding="utf-8"))


def _open_at(ms: int) -> float:
    return float(CANDLES[(ms - T0) // M, 1])


def _sessions(tmp_path) -> int:
    from jbt.models import BacktestSession, open_database

    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    return BacktestSession.select().count()


def test_hp_sets_the_entry_bar_and_is_recorded(tmp_path):
    _project(tmp_path)
    data = _backtest(tmp_path, "--hp", "wait=3")
    entry = START + 3 * STEP  # the 4th call
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in data["trades"]] == [
        (entry, _open_at(entry), 0.5)
    ]
    assert data["config"]["hyperparameters"] == {"Wait": {"wait": 3, "size": 0.5, "enabled": True}}

    shown = tmp_path / "shown.json"
    again = _invoke(tmp_path, "sessions", "show", str(data["session_id"]), "--json", str(shown))
    assert again.exit_code == 0, again.output
    assert json.loads(shown.read_text(encoding="utf-8")) == data


def test_without_hp_the_defaults_apply(tmp_path):
    _project(tmp_path)
    data = _backtest(tmp_path)
    entry = START + STEP  # the default wait = 1: the 2nd call
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in data["trades"]] == [
        (entry, _open_at(entry), 0.5)
    ]
    assert data["config"]["hyperparameters"] == {"Wait": {"wait": 1, "size": 0.5, "enabled": True}}


def test_values_are_converted_to_the_declared_types(tmp_path):
    _project(tmp_path)
    data = _backtest(tmp_path, "--hp", "size=0.25", "--hp", "wait=0")
    assert [(t["entry_time"], t["entry_price"], t["qty"]) for t in data["trades"]] == [
        (START, _open_at(START), 0.25)
    ]
    off = _backtest(tmp_path, "--hp", "enabled=false")
    assert off["trades"] == []
    assert off["config"]["hyperparameters"] == {
        "Wait": {"wait": 1, "size": 0.5, "enabled": False}
    }


def test_strategy_dot_name_targets_one_strategy(tmp_path):
    _project(tmp_path, TWO_ROUTES)
    data = _backtest(tmp_path, "--hp", "Wait.wait=2", "--hp", "Other.mode=b")
    entry = START + 2 * STEP
    assert [(t["entry_time"], t["entry_price"]) for t in data["trades"]] == [
        (entry, _open_at(entry))
    ]
    assert data["config"]["hyperparameters"] == {
        "Wait": {"wait": 2, "size": 0.5, "enabled": True},
        "Other": {"wait": 5, "mode": "b"},
    }
    both = _backtest(tmp_path, "--hp", "wait=4")
    assert both["config"]["hyperparameters"] == {
        "Wait": {"wait": 4, "size": 0.5, "enabled": True},
        "Other": {"wait": 4, "mode": "a"},
    }


@pytest.mark.parametrize(
    ("routes", "hp", "message"),
    [
        (ONE_ROUTE, "speed=3",
         "strategy 'Wait' has no hyperparameter speed; it declares: wait, size, enabled"),
        (ONE_ROUTE, "wait=abc",
         "strategy 'Wait': hyperparameter wait cannot be 'abc'; allowed: an int from 0 to 50"),
        (ONE_ROUTE, "wait=2.5",
         "strategy 'Wait': hyperparameter wait cannot be '2.5'; allowed: an int from 0 to 50"),
        (ONE_ROUTE, "wait=51",
         "strategy 'Wait': hyperparameter wait = 51 is out of range; allowed: an int from 0 to 50"),
        (ONE_ROUTE, "size=0",
         "strategy 'Wait': hyperparameter size = 0.0 is out of range; allowed: a number from "
         "0.001 to 1.0"),
        (ONE_ROUTE, "size=nan",
         "strategy 'Wait': hyperparameter size cannot be 'nan'; allowed: a number from 0.001 to "
         "1.0"),
        (ONE_ROUTE, "enabled=maybe",
         "strategy 'Wait': hyperparameter enabled cannot be 'maybe'; allowed: true or false"),
        (ONE_ROUTE, "wait",
         "--hp 'wait': expected NAME=VALUE or Strategy.NAME=VALUE, e.g. --hp fast=12"),
        (ONE_ROUTE, "Other.wait=3",
         "hyperparameters given for strategy 'Other', which no route runs; the routes run: Wait"),
        (TWO_ROUTES, "speed=3",
         "--hp speed: no strategy of the routes has hyperparameter speed; Wait declares wait, "
         "size, enabled; Other declares wait, mode"),
        (TWO_ROUTES, "Other.mode=c",
         "strategy 'Other': hyperparameter mode cannot be 'c'; allowed: one of 'a', 'b'"),
        (TWO_ROUTES, "wait=10",
         "strategy 'Other': hyperparameter wait = 10 is out of range; allowed: an int from 0 to 9"),
    ],
)
def test_bad_values_are_one_line_before_anything_runs(tmp_path, routes, hp, message):
    _project(tmp_path, routes)
    ran = _invoke(tmp_path, "backtest", "2020-01-01T12:00", "2020-01-01T18:00", "--hp", hp)
    assert ran.exit_code == 2
    assert ran.output.strip().splitlines() == [f"Error: {message}"]
    assert _sessions(tmp_path) == 0
