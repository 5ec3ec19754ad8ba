"""``jbt optimize --ray`` on a real two-node Ray cluster started on this machine (``ray start
--head`` and ``ray start --address``, as Ray documents, see tests/raycluster.py): the trials and
values of ``--jobs 1`` with the same seed (also through Ray Client, and for a walk-forward); a
worker node SIGKILLed in the middle of the study loses and duplicates no trial. ``jbt backtest
--symbols --ray`` on the same cluster: the sessions of separate runs (the 8-symbol project and
its reference of tests/test_batch.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raycluster import LocalCluster
from test_batch import END as BATCH_END
from test_batch import ROUTES as BATCH_ROUTES
from test_batch import SESSION_TABLES, SYMBOLS, _copy, _session_rows, separate, stored
from test_batch import START as BATCH_START

from .kit import invoke, make_project, study_json, trial_rows

__all__ = ["separate", "stored"]  # tests/test_batch.py's fixtures, used here too

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")]

ARGS = ["optimize", "--trials", "40", "--batch", "8", "--seed", "5", "--study", "r"]


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(nodes=2, cpus=1)  # its session folder in /tmp: Ray's socket paths are short
    yield c
    c.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project, and the study run with --jobs 1 (kept in a copy as the reference)."""
    base = tmp_path_factory.mktemp("projects")
    root = make_project(base / "clean", timeframe="1m")
    ref = base / "jobs1"
    shutil.copytree(root, ref)
    res = invoke(ref, *ARGS, "--jobs", "1")
    assert res.exit_code == 0, res.output
    return root, trial_rows(study_json(ref, "r"))


def _jbt(root: Path, *args: str) -> subprocess.Popen:
    """``jbt`` in a process of its own (a Ray driver, as a user runs it)."""
    env = {**os.environ, "JBT_CACHE_DIR": str(root / ".cache"), "COLUMNS": "120"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _numbers(db: Path) -> list[int]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return [n for (n,) in con.execute("select number from trials order by number")]
        finally:
            con.close()
    except sqlite3.OperationalError:  # the study's tables are not there yet
        return []


def test_a_study_on_two_ray_nodes_equals_jobs_1(cluster, project, tmp_path):
    clean, reference = project
    root = tmp_path / "p"
    shutil.copytree(clean, root)
    proc = _jbt(root, *ARGS, "--ray", cluster.address)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert f"on the Ray cluster at {cluster.address}, 2 CPUs" in out  # one CPU a node
    assert _numbers(root / "db.sqlite3") == list(range(40))
    rows = trial_rows(study_json(root, "r"))
    assert rows == reference
    assert sum(r[2] == "ok" for r in rows) > 30  # real backtests, not 40 failures alike


def test_through_ray_client_the_same_trials(cluster, project, tmp_path):
    """``ray://HOST:PORT``: the driver talks to the cluster through Ray Client (the project's
    code uploaded from here); a 16-trial study is the first 16 trials of the reference (its
    first two batches are asked before anything is told)."""
    clean, reference = project
    root = tmp_path / "p"
    shutil.copytree(clean, root)
    args = [a if a != "40" else "16" for a in ARGS]
    proc = _jbt(root, *args, "--ray", cluster.client_address)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert trial_rows(study_json(root, "r")) == reference[:16]


def test_walk_forward_on_ray_equals_jobs_1(cluster, project, tmp_path):
    clean, _ = project
    args = ["walk-forward", "--train", "10d", "--test", "5d", "--trials", "8", "--batch", "8",
            "--seed", "2", "--csv"]
    local, remote = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(clean, local)
    shutil.copytree(clean, remote)
    res = invoke(local, *args, str(tmp_path / "local-csv"), "--jobs", "1")
    assert res.exit_code == 0, res.output
    proc = _jbt(remote, *args, str(tmp_path / "ray-csv"), "--ray", cluster.address)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    windows = (tmp_path / "local-csv" / "windows.csv").read_text()
    assert len(windows.splitlines()) >= 3  # a header and two windows or more
    assert (tmp_path / "ray-csv" / "windows.csv").read_text() == windows
    for name in ("trades.csv", "equity.csv"):
        assert (tmp_path / "ray-csv" / name).read_text() == (
            tmp_path / "local-csv" / name).read_text()


def test_a_symbol_batch_on_two_ray_nodes_equals_separate_runs(cluster, stored, separate,
                                                              tmp_path):
    """``jbt backtest --symbols`` over 8 symbols with ``--ray``: every session equals that of
    a separate ``jbt backtest`` of the symbol (as ``--jobs 1`` does, tests/test_batch.py); the
    candles reach the nodes through the object store, the results come back in symbol order."""
    root = _copy(stored, tmp_path / "p")
    proc = _jbt(root, "backtest", BATCH_START, BATCH_END, "--symbols", ",".join(SYMBOLS),
                "--ray", cluster.address)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "8 of 8 symbols ran in" in out
    assert f"on the Ray cluster at {cluster.address}, 2 CPUs;" in out
    rows = _session_rows(root)
    assert [json.loads(s["routes"])[0]["symbol"] for s in rows["backtest_session"]] == SYMBOLS
    for table in SESSION_TABLES:
        assert rows[table] == separate[table], table


def test_map_backtests_on_ray_equals_research_backtest(cluster, stored, tmp_path):
    """``research.map_backtests(..., executor=RayMapExecutor(...))`` from this process: each
    result that of ``research.backtest`` on the symbol."""
    from jbt import research
    from jbt.models import close_database
    from jbt.optimize.ray_executor import RayMapExecutor

    root = _copy(stored, tmp_path / "p")
    routes = [(e, "BTC-USD", tf, name) for e, _, tf, name in BATCH_ROUTES]
    try:
        mapped = research.map_backtests(routes, SYMBOLS[:3], start=BATCH_START, end=BATCH_END,
                                        project=root,
                                        executor=RayMapExecutor(cluster.address, root))
        assert list(mapped) == SYMBOLS[:3]
        for symbol, result in mapped.items():
            alone = research.backtest([(e, symbol, tf, name) for e, _, tf, name in routes],
                                      start=BATCH_START, end=BATCH_END, project=root)
            assert result.trades and result.trades == alone.trades
            got, want = result.to_dict(), alone.to_dict()
            got.pop("duration_s"), want.pop("duration_s")
            assert got == want
    finally:
        close_database()


def test_a_worker_node_killed_mid_study_loses_and_duplicates_no_trial(cluster, project,
                                                                       tmp_path):
    clean, reference = project
    root = tmp_path / "p"
    shutil.copytree(clean, root)
    worker = cluster.nodes[1]
    proc = _jbt(root, *ARGS, "--ray", cluster.address)
    db = root / "db.sqlite3"
    deadline = time.monotonic() + 240
    # the worker node is running trials (the study uses both nodes)
    while proc.poll() is None and time.monotonic() < deadline:
        if worker.running(b"ray::jbt_trials"):
            break
        time.sleep(0.005)
    worker.kill(signal.SIGKILL)
    assert proc.poll() is None, ("the study ended before the worker node was seen running a "
                                 f"trial: {proc.communicate()}")
    assert len(_numbers(db)) < 40
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert worker.proc.wait(timeout=10) == -signal.SIGKILL
    assert _numbers(db) == list(range(40))
    assert trial_rows(study_json(root, "r")) == reference
