"""The README names only commands and options that exist (compared with the CLI itself)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer.main

from jbt.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def cli_tree():
    root = typer.main.get_command(app)
    return root


def option_names(command) -> set[str]:
    names: set[str] = {"--help"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def readme_invocations() -> list[str]:
    """Every `jbt ...` command line in the README's code blocks and inline code."""
    text = README.read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"&&|\|", line):
                part = part.strip()
                if part.startswith("jbt "):
                    found.append(part)
    for span in re.findall(r"`(jbt [^`]+)`", text):
        found.append(span)
    return found


def resolve(root, words: list[str]):
    """Walk the command tree; return (command, leftover words, global option names)."""
    global_opts = option_names(root)
    command = root
    rest = list(words)
    while rest:
        word = rest[0]
        if word.startswith("-"):
            if command is root and word in global_opts:
                rest.pop(0)
                if word in ("--project", "-p") and rest:
                    rest.pop(0)
                continue
            break
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
        rest.pop(0)
    # a group that runs a hidden default command (jbt optimize [START] [END] ...)
    default = getattr(command, "commands", {}).get("run")
    if default is not None and default.hidden:
        command = default
    return command, rest, global_opts


def test_readme_has_the_two_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    quick = re.search(r"## Quick start\n(.*?)\n## ", text, flags=re.S)
    assert quick, "README needs a '## Quick start' section"
    commands = [
        line for line in re.findall(r"```bash\n(.*?)```", quick.group(1), flags=re.S)[0].splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2
    assert "jbt backtest" in commands[0]
    assert "pytest" in commands[1]


def test_every_command_and_option_in_the_readme_exists():
    root = cli_tree()
    invocations = readme_invocations()
    assert len(invocations) > 15
    seen_commands = set()
    for line in invocations:
        cleaned = line.replace("…", "").replace("...", "").replace("[", " ").replace("]", " ")
        words = shlex.split(cleaned)[1:]
        command, rest, global_opts = resolve(root, words)
        placeholder = bool(rest) and rest[0].isupper()  # e.g. COMMAND
        assert command is not root or not rest or rest[0].startswith("-") or placeholder, (
            f"README names an unknown command: {line!r}"
        )
        seen_commands.add(command.name)
        seen_commands.update(w for w in words[:1] if w in root.commands)
        allowed = option_names(command) | global_opts
        for word in rest:
            if word.startswith("--"):
                opt = word.split("=", 1)[0]
                assert opt in allowed, f"README uses {opt} on {command.name!r}: {line!r}"
    # and every command the CLI has is documented
    assert set(root.commands) <= seen_commands, set(root.commands) - seen_commands


def all_options(command) -> set[str]:
    names = option_names(command)
    for sub in getattr(command, "commands", {}).values():
        names |= all_options(sub)
    return names


def test_every_option_named_in_inline_code_exists():
    known = all_options(cli_tree())
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`(--[a-z][a-z-]*)", text))
    assert {"--trades", "--json", "--chart", "--breakdown"} <= named
    assert named <= known, named - known


def section(title: str) -> str:
    """The README's text from the heading ``title`` to the next heading of the same level."""
    text = README.read_text(encoding="utf-8")
    level = title.split(" ", 1)[0]
    found = re.search(rf"^{re.escape(title)}\n(.*?)(?=^{level} |\Z)", text, flags=re.S | re.M)
    assert found, f"README has no {title!r}"
    return found.group(1)


def test_the_strategy_api_example_runs_as_a_strategy(tmp_path):
    from jbt.config import load_config
    from jbt.importers.files import import_file
    from jbt.models import close_database, open_database
    from jbt.modes import backtest_mode
    from jbt.results import RouteSpec

    code = re.search(r"```python\n(.*?)```", section("## Strategy API"), flags=re.S).group(1)
    name = re.search(r"^class (\w+)\(Strategy\):", code, flags=re.M).group(1)
    folder = tmp_path / "strategies" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(code, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    open_database(url)
    try:
        import_file("coinbase", "BTC-USD", README.parent / "jbt" / "data" / "coinbase-BTC-USD-1h.csv")
        config = load_config(tmp_path, env={}).with_overrides({"database": {"url": url}})
        result = backtest_mode.run(
            config, [RouteSpec("coinbase", "BTC-USD", "4h", name)], project_dir=tmp_path, save=False
        )
    finally:
        close_database()
    assert len(result.trades) > 0
    assert result.extra.get("warnings", []) == []  # no order rejected
    assert result.finishing_balance == pytest.approx(
        result.starting_balance + sum(t.pnl for t in result.trades), rel=1e-12
    )


def test_the_config_table_names_every_key_with_its_default():
    import dataclasses

    from jbt.config import BacktestConfig, DatabaseConfig, ExchangeConfig, ServerConfig

    classes = {
        "database": DatabaseConfig, "backtest": BacktestConfig, "exchanges.NAME": ExchangeConfig,
        "server": ServerConfig,
    }
    documented: dict[str, str] = {}
    for keys, default in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|", section("## Configuration"), re.M):
        names = re.findall(r"`([\w.]+)`", keys)
        defaults = [d.strip() for d in default.split(",")]
        for i, key in enumerate(names):
            documented[key] = defaults[i] if len(defaults) == len(names) else defaults[0]
    expected = {
        f"{section_name}.{f.name}" for section_name, cls in classes.items()
        for f in dataclasses.fields(cls)
    }
    assert set(documented) == expected
    for key, text in documented.items():
        section_name, name = key.rsplit(".", 1)
        value = getattr(classes[section_name](), name)
        if text.startswith("`") and text != "`fee`":
            literal = text.strip("`").strip('"')
            # true/false as TOML writes them
            assert str(value) == literal or str(value).lower() == literal or \
                value == float(literal), key
        else:  # "the exchange's", "none", "`fee`": no value of its own
            assert value is None, key


def test_the_json_table_lists_the_keys_of_a_real_export(tmp_path):
    from cli_project import END, START, jbt_run, make_project

    project = make_project(tmp_path / "project")
    out = tmp_path / "run.json"
    assert jbt_run(project, "backtest", START, END, "--json", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    json_doc = section("### `--json PATH`")
    rows = dict(re.findall(r"^\| (`[^|]+`) \| (.+) \|$", json_doc, flags=re.M))
    top = {k for cell in rows for k in re.findall(r"`(\w+)`", cell)}
    # logs and charts only appear when a strategy logged or drew something
    assert top - {"logs", "charts"} == set(data)

    values = {"long", "short", "buy", "sell", "market", "limit", "stop", "filled", "cancelled",
              "open", "rejected", "entry", "exit", "signal", "null"}

    def listed(key: str) -> set[str]:
        """The field names a row lists (its backticked words that are not enumerated values)."""
        names = set()
        for chunk in re.findall(r"`([\w, ]+)`", rows[f"`{key}`"]):
            names.update(n.strip() for n in chunk.split(",") if n.strip())
        return names - values

    assert data["trades"] and data["orders"]
    assert listed("trades") == set(data["trades"][0])
    assert listed("orders") == set(data["orders"][0])
    assert set(data["period"]) == {"start", "end"}
    assert set(data["equity"][0]) == {"time", "equity"}
    statuses = {o["status"] for o in data["orders"]}
    assert statuses <= {"filled", "cancelled", "open", "rejected"}


def test_the_strategy_state_the_readme_lists_exists_and_the_missing_jesse_names_do_not():
    from jbt.store import Position
    from jbt.strategies import Strategy

    text = section("## Strategy API")
    state = re.search(r"\*\*State \(read-only\)\.\*\*(.*?)\n\n", text, flags=re.S).group(1)
    instance = Strategy()
    for name in re.findall(r"`self\.(\w+)`", state):
        assert hasattr(Strategy, name) or name in vars(instance), name
    position = re.search(r"`self\.position` \((.*?)\)", state, flags=re.S).group(1)
    for name in re.findall(r"`(\w+)`", position):
        assert hasattr(Position, name), name
    porting = section("### Porting a Jesse strategy")
    absent = re.search(r"These Jesse names do not exist in jbt: (.*?)\.\n", porting,
                       flags=re.S).group(1)
    for name in re.findall(r"`(\w+)(?:\(\))?`", absent):
        assert not hasattr(Strategy, name) and name not in vars(instance), name


def test_the_walk_through_runs_as_written(tmp_path):
    """Issue 16, finding 6: every command of the walk-through, in order, with the installed
    ``jbt``, in a fresh folder, offline; its routes.py block is what the project gets."""
    import os
    import subprocess
    import sys

    steps = re.findall(r"```(bash|python)\n(.*?)```", section("## Walk-through"), flags=re.S)
    assert [kind for kind, _ in steps] == ["bash", "bash", "bash", "python", "bash", "bash",
                                          "bash"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "100", "JBT_CACHE_DIR": str(tmp_path / "cache")}
    cwd = tmp_path
    ran = []
    for kind, body in steps:
        if kind == "python":
            (cwd / "routes.py").write_text(body, encoding="utf-8")
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line:
                continue
            if line.startswith("cd "):
                cwd = cwd / line[3:].strip()
                continue
            done = subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            assert "Error" not in done.stderr, (line, done.stderr)
            ran.append((line, done.stdout))
    outputs = dict(ran)
    assert [line.split()[1] for line, _ in ran] == [
        "new", "import-candles", "candles", "new", "backtest", "backtest", "optimize", "backtest",
        "sessions", "sessions"]
    assert "11,362" in outputs["jbt candles"]
    assert "Top 10 of 60 trials" in outputs["jbt optimize --trials 60 --min-trades 5"]
    for line, out in ran:
        if line.startswith("jbt backtest"):
            assert "Total trades" in out and "Saved as session" in out, out
    assert (cwd / "out" / "run.html").is_file()
    data = json.loads((cwd / "out" / "run.json").read_text(encoding="utf-8"))
    assert data["routes"] == [{"exchange": "coinbase", "symbol": "BTC-USD", "timeframe": "4h",
                               "strategy": "MyStrategy"}]
    assert data["period"]["start"] == 1_546_300_800_000  # 2019-01-01, the second backtest
