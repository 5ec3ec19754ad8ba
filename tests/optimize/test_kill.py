"""SIGKILL of the coordinator in the middle of a 60-trial study, then the same command: exactly
60 trials, no trial number twice, the values of an uninterrupted run with the same seed; the
orphaned workers exit by themselves."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .kit import invoke, make_project, study_json, trial_rows

ARGS = ["optimize", "--trials", "60", "--jobs", "2", "--batch", "8", "--seed", "3",
        "--study", "k"]


def _stored(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("select count(*) from trials").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # the study's tables are not there yet
        return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("seed", [1])
def test_sigkill_then_the_same_command_gives_the_uninterrupted_study(tmp_path, seed):
    rng = random.Random(seed)
    killed = make_project(tmp_path / "killed", timeframe="30m")
    whole = tmp_path / "whole"
    shutil.copytree(killed, whole)

    env = {**os.environ, "JBT_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(killed), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    db = killed / "db.sqlite3"
    at = rng.choice([8, 16, 24, 32])  # after this many trials are stored ...
    deadline = time.monotonic() + 120
    while _stored(db) < at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.08))  # ... and a random moment later
    children = _children(proc.pid)  # the two workers and multiprocessing's resource tracker
    workers = [p for p in children if b"spawn_main" in _cmdline(p)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    stored = _stored(db)
    assert at <= stored < 60 and stored % 8 == 0  # whole batches only
    assert len(workers) == 2
    end = time.monotonic() + 15
    while any(_alive(p) for p in children) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(p) for p in children), "orphaned processes kept running"

    res = invoke(killed, *ARGS)
    assert res.exit_code == 0, res.output
    assert f"{stored} trials stored; running up to 60" in res.output
    numbers = [n for (n,) in sqlite3.connect(db).execute("select number from trials")]
    assert sorted(numbers) == list(range(60))

    res = invoke(whole, *ARGS)
    assert res.exit_code == 0, res.output
    assert trial_rows(study_json(killed, "k")) == trial_rows(study_json(whole, "k"))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_keeps_the_stored_batches_and_says_how_to_continue(tmp_path):
    root = make_project(tmp_path / "p")
    env = {**os.environ, "JBT_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    args = ["optimize", "--trials", "400", "--jobs", "2", "--batch", "8", "--study", "c"]
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(root), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    db = root / "db.sqlite3"
    deadline = time.monotonic() + 120
    while _stored(db) < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    stored = _stored(db)
    assert 8 <= stored < 400 and stored % 8 == 0
    assert err.decode().strip().splitlines()[-1] == (
        f"Error: interrupted: study c has {stored} trials saved; run the same command to "
        "continue")
    end = time.monotonic() + 15
    while any(_alive(p) for p in children) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(p) for p in children)
