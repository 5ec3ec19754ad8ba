"""The README names only commands and options that exist (compared with the CLI itself)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

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
