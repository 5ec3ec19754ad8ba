"""``--ray`` refused before anything runs or is written: Ray not installed (one line saying
how to install it), a malformed address, ``--jobs`` beside it, an address nothing answers at."""

from __future__ import annotations

import socket
import sqlite3
import sys

import pytest

from .kit import invoke, make_project


@pytest.fixture
def root(tmp_path):
    return make_project(tmp_path / "p")


def _studies(root) -> list:
    """The studies stored in the project's database (none while Optuna's tables are absent)."""
    con = sqlite3.connect(root / "db.sqlite3")
    try:
        return con.execute("select study_name from studies").fetchall()
    except sqlite3.OperationalError:  # no such table
        return []
    finally:
        con.close()


def _last_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("command", [["optimize"], ["walk-forward"], ["robustness", "1"],
                                     ["backtest", "--symbols", "BTC-USD,ETH-USD"]])
def test_without_ray_installed_one_line_says_how_to_install_it(root, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    res = invoke(root, *command, "--ray", "auto")
    assert res.exit_code == 1
    assert _last_line(res.output) == (
        'Error: --ray needs Ray, which is not installed: pip install "jbt[ray]"')
    assert _studies(root) == []


def test_ray_with_jobs_or_a_malformed_address_is_refused(root):
    res = invoke(root, "optimize", "--jobs", "2", "--ray", "auto")
    assert res.exit_code == 2
    assert _last_line(res.output) == ("Error: give --jobs or --ray, not both: with --ray every "
                                      "CPU of the cluster runs trials")
    res = invoke(root, "backtest", "--symbols", "BTC-USD,ETH-USD", "--jobs", "2", "--ray", "auto")
    assert res.exit_code == 2
    assert _last_line(res.output) == ("Error: give --jobs or --ray, not both: with --ray every "
                                      "CPU of the cluster runs symbols")
    res = invoke(root, "backtest", "--ray", "auto")
    assert res.exit_code == 2
    assert _last_line(res.output) == "Error: --ray goes with --symbols or --symbols-file"
    res = invoke(root, "optimize", "--ray", "head-node")
    assert res.exit_code == 2
    assert _last_line(res.output).startswith("Error: --ray 'head-node': give auto (the cluster")
    assert _studies(root) == []


def test_an_address_nothing_answers_at_is_one_line_and_writes_nothing(root):
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        res = invoke(root, "optimize", "--trials", "4", "--ray", address)
        assert res.exit_code == 1
        assert _last_line(res.output) == (
            f"Error: --ray {address}: no Ray cluster answers there (Connection refused); start "
            "one with 'ray start --head' (see the README's Ray section) or check the address")
    assert _studies(root) == []


def test_a_node_with_another_jbt_refuses_the_trials():
    from jbt import __version__
    from jbt.errors import JbtError
    from jbt.optimize.ray_executor import ray_trials

    with pytest.raises(JbtError) as err:
        ray_trials("token", [], [(0, {})], version=f"{__version__}.other")
    assert str(err.value).endswith(
        f"runs jbt {__version__}, the coordinator jbt {__version__}.other: install the same "
        "jbt on every node")
