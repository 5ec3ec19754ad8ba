"""`jbt new`: strategy and project scaffolding that never overwrites."""

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jbt.cli import app

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_new_strategy_creates_a_valid_class_and_says_how_to_route_it(tmp_path):
    result = run("--project", str(tmp_path), "new", "MyStrat")
    assert result.exit_code == 0, result.output
    target = tmp_path / "strategies" / "MyStrat" / "__init__.py"
    assert f"Created {target}" in result.output
    assert '("binance", "BTC-USDT", "4h", "MyStrat")' in result.output
    tree = ast.parse(target.read_text())
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [c.name for c in classes] == ["MyStrat"]
    assert [b.id for b in classes[0].bases] == ["Strategy"]
    assert "from jbt.strategies import Strategy" in target.read_text()


def test_new_strategy_suggests_a_route_like_the_projects_own(tmp_path):
    (tmp_path / "routes.py").write_text('routes = [("coinbase", "BTC-USD", "1h", "Other")]\n')
    result = run("--project", str(tmp_path), "new", "MyStrat")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        f"Add it to {tmp_path / 'routes.py'} to run it, for example:",
        '  routes = [("coinbase", "BTC-USD", "1h", "MyStrat")]',
    ]


#: What the Strategy base class lets a strategy override or assign (README "Strategy API").
HOOKS = [
    "hyperparameters", "setUp", "before", "after", "should_long", "should_short", "go_long",
    "go_short", "should_cancel_entry", "update_position", "on_open_position",
    "on_increased_position", "on_reduced_position", "on_close_position", "terminate", "filters",
]
ORDERS = ["self.buy =", "self.sell =", "self.stop_loss =", "self.take_profit =", "self.liquidate()"]


def test_the_template_shows_every_hook_and_order_attribute():
    from jbt.scaffold import strategy_source
    from jbt.strategies import Strategy

    source = strategy_source("MyStrat")
    compile(source, "strategies/MyStrat/__init__.py", "exec")
    for hook in HOOKS:
        assert callable(getattr(Strategy, hook)), hook
        assert f"def {hook}(self" in source, hook
    for order in ORDERS:
        assert order in source, order
    base_hooks = {
        name for name, value in vars(Strategy).items()
        if callable(value) and not name.startswith("_") and name not in ("liquidate", "get_candles")
    }
    assert base_hooks == set(HOOKS)


def test_new_strategy_refuses_to_overwrite(tmp_path):
    assert run("--project", str(tmp_path), "new", "MyStrat").exit_code == 0
    target = tmp_path / "strategies" / "MyStrat" / "__init__.py"
    target.write_text("# my edits\n")
    result = run("--project", str(tmp_path), "new", "MyStrat")
    assert result.exit_code == 2
    folder = tmp_path / "strategies" / "MyStrat"
    assert result.output == f"Error: {folder} already exists; choose another name or remove it first\n"
    assert target.read_text() == "# my edits\n"


@pytest.mark.parametrize(
    "name", ["1abc", "my-strat", "class", "_Hidden", "Strategy", "a.b", "Stratégie", "A" * 65, "../X"]
)
def test_new_strategy_refuses_invalid_class_names(tmp_path, name):
    result = run("--project", str(tmp_path), "new", name)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert not (tmp_path / "strategies").exists()


def test_new_project_writes_a_complete_project(tmp_path):
    proj = tmp_path / "proj"
    result = run("new", "--project", str(proj))
    assert result.exit_code == 0, result.output
    for rel in ("config.toml", "routes.py", ".gitignore", "strategies/SmaCross/__init__.py"):
        assert (proj / rel).is_file(), rel
    sample = proj / "data" / "coinbase-BTC-USD-1h.csv"
    assert sample.read_bytes() == (ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv").read_bytes()
    assert "db.sqlite3" in (proj / ".gitignore").read_text()
    assert '("coinbase", "BTC-USD", "4h", "SmaCross")' in (proj / "routes.py").read_text()
    assert "jbt import-candles coinbase BTC-USD --file data/coinbase-BTC-USD-1h.csv" in result.output


def test_new_project_refuses_to_overwrite_anything(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "routes.py").write_text("routes = []\n")
    result = run("new", "--project", str(proj))
    assert result.exit_code == 2
    assert result.output == f"Error: {proj / 'routes.py'} already exists; jbt new never overwrites files\n"
    assert (proj / "routes.py").read_text() == "routes = []\n"
    assert sorted(p.name for p in proj.iterdir()) == ["routes.py"]


def test_the_project_config_names_every_key_with_its_default():
    import dataclasses

    from jbt.config import BacktestConfig, DatabaseConfig, ExchangeConfig, ServerConfig, tomllib

    text = (ROOT / "jbt" / "templates" / "project" / "config.toml").read_text()
    # every key of every section, set or commented out
    keys = {
        "database": DatabaseConfig, "backtest": BacktestConfig, "server": ServerConfig,
        "exchanges.binance": ExchangeConfig,
    }
    for section, cls in keys.items():
        assert f"[{section}]" in text, section
        for f in dataclasses.fields(cls):
            assert f"\n{f.name} = " in text or f"\n# {f.name} = " in text, f"{section}.{f.name}"
    # the values that are set are the defaults
    values = tomllib.loads(text)
    defaults = {"database": DatabaseConfig(), "backtest": BacktestConfig(), "server": ServerConfig()}
    for section, obj in defaults.items():
        for key, value in values[section].items():
            assert getattr(obj, key) == value, f"{section}.{key}"


def test_root_config_is_the_template_config():
    template = ROOT / "jbt" / "templates" / "project" / "config.toml"
    assert (ROOT / "config.toml").read_text() == template.read_text()


def test_user_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    plain = run("--project", str(tmp_path), "new", "class")
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = run("--debug", "--project", str(tmp_path), "new", "class")
    assert debug.exit_code != 0
    assert type(debug.exception).__name__ == "InputError"
