"""Search spaces from ``hyperparameters()`` (Jesse's format), ``--space`` and ``--hp``."""

from __future__ import annotations

import pytest

from jbt.errors import InputError
from jbt.optimize.objectives import parse_objectives
from jbt.optimize.space import build_space, hp_text
from jbt.strategies import Strategy


def strategy(name: str, items: list[dict]) -> type:
    return type(name, (Strategy,), {"hyperparameters": lambda self: items})


JESSE = strategy("Jesse", [
    {"name": "fast", "type": int, "min": 5, "max": 50, "default": 20},
    {"name": "ratio", "type": float, "min": 0.5, "max": 3.0, "step": 0.25, "default": 1.0},
    {"name": "trend", "type": bool, "default": True},
    {"name": "ma", "type": "categorical", "options": ["ema", "sma", "wma"], "default": "ema"},
    {"name": "risk", "type": "float", "min": 0.01, "max": 0.05, "default": 0.02},
])


def test_jesse_format_becomes_optuna_distributions():
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    space = build_space({"Jesse": JESSE}, ["Jesse"])
    assert space.distributions() == {
        "fast": IntDistribution(5, 50, step=1),
        "ratio": FloatDistribution(0.5, 3.0, step=0.25),
        "trend": CategoricalDistribution([False, True]),
        "ma": CategoricalDistribution(["ema", "sma", "wma"]),
        "risk": FloatDistribution(0.01, 0.05),
    }
    assert space.describe() == ("fast 5..50, ratio 0.5..3.0 step 0.25, trend in {false, true}, "
                                "ma in {ema, sma, wma}, risk 0.01..0.05")


def test_space_narrows_and_hp_fixes():
    space = build_space({"Jesse": JESSE}, ["Jesse"],
                        ["fast=10:40:5", "ratio=1:2", "ma=sma,ema", "trend=true"],
                        ["risk=0.03"])
    d = {p.key: p for p in space.params}
    assert (d["fast"].low, d["fast"].high, d["fast"].step) == (10, 40, 5)
    assert (d["ratio"].low, d["ratio"].high, d["ratio"].step) == (1.0, 2.0, 0.25)
    assert d["ma"].choices == ("sma", "ema")
    assert d["trend"].choices == (True,)
    assert "risk" not in d and space.fixed == {"Jesse": {"risk": 0.03}}
    assert space.overrides({"fast": 15, "ratio": 1.25, "ma": "sma", "trend": True}) == {
        "Jesse": {"risk": 0.03, "fast": 15, "ratio": 1.25, "ma": "sma", "trend": True}}
    assert space.hp_args({"fast": 15, "ratio": 1.25, "ma": "sma", "trend": True}) == [
        "risk=0.03", "fast=15", "ratio=1.25", "trend=true", "ma=sma"]


def test_steps_that_do_not_divide_the_range_end_on_the_last_step():
    space = build_space({"Jesse": JESSE}, ["Jesse"], ["fast=5:50:10", "ratio=0.5:1.4:0.3"])
    d = {p.key: p for p in space.params}
    assert (d["fast"].high, d["fast"].grid()) == (45, [5, 15, 25, 35, 45])
    assert d["ratio"].high == 1.4 and d["ratio"].grid() == [0.5, 0.8, 1.1, 1.4]


def test_several_strategies_are_searched_by_qualified_names():
    other = strategy("Other", [{"name": "fast", "type": int, "min": 1, "max": 9, "default": 3}])
    space = build_space({"Jesse": JESSE, "Other": other}, ["Jesse", "Other"],
                        ["Other.fast=2:4"], ["Jesse.ma=sma", "trend=false", "ratio=2",
                                             "risk=0.01"])
    assert [p.key for p in space.params] == ["Jesse.fast", "Other.fast"]
    assert space.hp_args({"Jesse.fast": 7, "Other.fast": 3}) == [
        "Jesse.ma=sma", "Jesse.trend=false", "Jesse.ratio=2.0", "Jesse.risk=0.01",
        "Jesse.fast=7", "Other.fast=3"]
    with pytest.raises(InputError, match="several strategies declare fast; write one of "
                                         "Jesse.fast, Other.fast"):
        build_space({"Jesse": JESSE, "Other": other}, ["Jesse", "Other"], ["fast=2:4"])


@pytest.mark.parametrize(("items", "space", "message"), [
    ([{"name": "n", "type": int, "default": 3}], [],
     "hyperparameter n has no min/max to search; declare them, give a range with --space "
     "n=LO:HI, or fix it with --hp n=VALUE"),
    ([{"name": "s", "type": str, "default": "a"}], [],
     "hyperparameter s is a str, which cannot be searched"),
    ([{"name": "c", "type": "categorical", "options": [], "default": None}], [],
     "categorical hyperparameter c declares no options"),
    ([{"name": "n", "type": int, "min": 1, "max": 9, "default": 3}], ["n=1:9:0"],
     "hyperparameter n: step must be a positive integer"),
    ([{"name": "n", "type": int, "min": 1, "max": 9, "default": 3}], ["n=1.5:9"],
     "--space n=1.5:9: each part must be an integer"),
    ([{"name": "n", "type": int, "min": 1, "max": 9, "default": 3}], ["n"],
     "--space 'n': expected NAME=LO:HI"),
    ([{"name": "c", "type": "categorical", "options": ["a", "b"], "default": "a"}], ["c=a,z"],
     "hyperparameter c cannot be 'z'; allowed: one of 'a', 'b'"),
    ([{"name": "b", "type": bool, "default": True}], ["b=0:1"],
     "--space b=0:1: b is a bool; give true,false or one of them"),
])
def test_space_errors_say_what_to_change(items, space, message):
    with pytest.raises(InputError) as err:
        build_space({"S": strategy("S", items)}, ["S"], space)
    assert message in str(err.value)


def test_grid_needs_a_finite_space():
    space = build_space({"Jesse": JESSE}, ["Jesse"])
    with pytest.raises(InputError, match="--sampler grid needs a step for float hyperparameter "
                                         "risk; give one with --space risk=0.01:0.05:STEP"):
        space.grid()
    small = build_space({"Jesse": JESSE}, ["Jesse"], ["fast=5:15:5", "ratio=1:1.5"],
                        ["risk=0.02"])
    assert small.grid_size() == 3 * 3 * 2 * 3


def test_hp_text_reads_back_exactly():
    from jbt.strategies.hyperparameters import _check

    for value in (0.1 + 0.2, 1e-17, 3.0, 12345.678901234567):
        assert _check("S", {"name": "x", "type": float}, hp_text(value)) == value
    assert hp_text(True) == "true"


def test_objectives_and_their_directions():
    got = parse_objectives(["Sharpe", "max-drawdown", "fees_paid", "net_profit:min"][:2])
    assert [(o.name, o.direction) for o in got] == [("sharpe", "maximize"),
                                                   ("max_drawdown", "maximize")]
    (fees,) = parse_objectives(["fees_paid"])
    assert fees.direction == "minimize" and fees.label() == "fees_paid"
    (np_min,) = parse_objectives(["net_profit:min"])
    assert np_min.direction == "minimize" and np_min.label() == "net_profit:min"
    assert parse_objectives(None)[0].name == "sharpe"
    for bad, message in ((["a", "b", "c"], "give one --objective, or two"),
                         (["sharpe", "sharpe"], "name the same metric"),
                         (["sharpe:up"], "the direction is :max or :min")):
        with pytest.raises(InputError, match=message):
            parse_objectives(bad)


def test_help_imports_neither_optuna_nor_sqlalchemy():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from jbt.cli import app\n"
        "for args in (['--help'], ['optimize', '--help'], ['optimize', 'show', '--help']):\n"
        "    res = CliRunner().invoke(app, args)\n"
        "    assert res.exit_code == 0, res.output\n"
        "print(','.join(m for m in ('optuna', 'sqlalchemy', 'plotly', 'jbt.engine')\n"
        "               if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_optimize_help_names_the_subcommands():
    from typer.testing import CliRunner

    from jbt.cli import app

    res = CliRunner().invoke(app, ["optimize", "--help"], env={"COLUMNS": "100"})
    assert res.exit_code == 0
    for word in ("--trials", "--jobs", "--objective", "--sampler", "--seed", "--study",
                 "--test", "--test-start", "--min-trades", "--space", "--hp", "--batch",
                 "--storage", "jbt optimize show NAME", "jbt optimize list"):
        assert word in res.output, word
