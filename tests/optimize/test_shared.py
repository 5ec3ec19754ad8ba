"""A study shared by several ``jbt optimize --shared`` processes on the PostgreSQL server: two
processes started together end with exactly N finished trials, both having run some, each trial
equal to ``jbt backtest --hp`` of its params; a process killed with SIGKILL leaves its running
trials failed, and the other process runs them again with the same params and still ends at
exactly N."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from engine.projects import store_candles, write_project

from jbt.metrics import METRIC_NAMES

from .kit import CANDLES, CONFIG, EMA, invoke, study_json

#: The EMA cross, slowed by 0.15 s a backtest (0.3 s a trial) so that two processes overlap.
SLOW = "import time\n" + EMA.replace("class Ema(", "class Slow(") + (
    "\n"
    "    def before(self):\n"
    "        if self.index == 0:\n"
    "            time.sleep(0.15)\n"
)

pytestmark = pytest.mark.postgres


def _project(root: Path) -> Path:
    write_project(root, routes='routes = [("sim", "BTC-USDT", "1h", "Slow")]',
                  strategies={"Slow": SLOW}, config=CONFIG)
    store_candles(f"sqlite:///{root / 'db.sqlite3'}", "sim", "BTC-USDT", CANDLES)
    from jbt.models import close_database

    close_database()
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("shared"))


def _start(root: Path, url: str, name: str, trials: int, cache: Path,
           heartbeat: int = 1) -> subprocess.Popen:
    env = {**os.environ, "JBT_CACHE_DIR": str(cache), "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "jbt", "--project", str(root), "optimize", "--trials",
         str(trials), "--jobs", "1", "--seed", "5", "--study", name, "--storage", url,
         "--shared", "--heartbeat", str(heartbeat)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )


def _load(url: str, name: str):
    import optuna

    return optuna.load_study(study_name=name,
                             storage=url.replace("postgresql://", "postgresql+psycopg2://"))


def _finished(trial) -> bool:
    return "jbt" in trial.user_attrs


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def test_two_processes_share_one_study(project, postgres_url, tmp_path):
    name = f"shared-{uuid.uuid4().hex[:8]}"
    # a heartbeat of 2 s: a process slowed by a busy machine is not taken for dead (a grace
    # period of 6 s), so no trial is run twice here
    procs = [_start(project, postgres_url, name, 20, tmp_path / "cache", heartbeat=2)
             for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, (out + err).decode()
    # each process ends with the whole study and names its own part in it
    assert sum(f"shared: process {k} to join it" in out.decode()
               for k in (1, 2) for out, _ in outs) == 2
    for out, _ in outs:
        assert f"study {name} has 20." in out.decode()

    study = _load(postgres_url, name)
    trials = study.trials
    assert [t.number for t in trials] == list(range(20))  # none lost, none extra
    assert all(_finished(t) for t in trials)
    assert sum(t.state.name == "COMPLETE" for t in trials) >= 10
    ran_by = {t.user_attrs["jbt_process"] for t in trials}
    assert ran_by == {f"{socket.gethostname()}:{p.pid}" for p in procs}  # both contributed
    assert all(t.system_attrs["jbt:process"] == t.user_attrs["jbt_process"] for t in trials)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert attrs["jbt:shared"] is True and attrs["jbt:processes"] == 2

    data = study_json(project, name, "--storage", postgres_url)
    assert [t["number"] for t in data["trials"]] == list(range(20))
    assert [t["params"] for t in data["trials"]] == [t.params for t in trials]
    assert [t["values"] for t in data["trials"] if t["status"] == "ok"] == [
        [t.value] for t in trials if t.state.name == "COMPLETE"]
    # a trial of each process equals jbt backtest --hp of its params, on each period
    from jbt.modes.optimize_mode import cmd_date

    by_number = {t["number"]: t for t in data["trials"]}
    for who in sorted(ran_by):
        number = next(t.number for t in trials if t.user_attrs["jbt_process"] == who
                      and t.state.name == "COMPLETE")
        t = by_number[number]
        for period, metrics in ((data["settings"]["train"], t["train"]),
                                (data["settings"]["test"], t["test"])):
            out = tmp_path / f"bt{number}.json"
            args = ["backtest", cmd_date(period[0]), cmd_date(period[1]), "--no-save",
                    "--json", str(out)]
            for a in t["hp_args"]:
                args += ["--hp", a]
            res = invoke(project, *args)
            assert res.exit_code == 0, res.output
            got = json.loads(out.read_text(encoding="utf-8"))["metrics"]
            bad = {k: (metrics[k], got[k]) for k in METRIC_NAMES if not _close(metrics[k], got[k])}
            assert not bad, f"trial {number}: {bad}"
        assert t["values"] == [t["train"]["sharpe"]]

    # the same command again: the study is complete, nothing runs
    res = invoke(project, "optimize", "--trials", "20", "--seed", "5", "--study", name,
                 "--storage", postgres_url, "--shared")
    assert res.exit_code == 0, res.output
    assert "20 trials stored; running up to 20." in res.output
    assert "Ran 0 trials" in res.output
    # without --shared the study is not replayed as a one-process study
    res = invoke(project, "optimize", "--trials", "24", "--seed", "5", "--study", name,
                 "--storage", postgres_url)
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: study '{name}' is shared by several processes (it "
                                  "was run with --shared): add --shared to continue it")
    assert len(_load(postgres_url, name).trials) == 20


def _wait(cond, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _progress(url: str, name: str) -> dict[str, tuple[int, int]]:
    """Per process (``host:pid``): its finished trials, and its running trials with params."""
    import psycopg2

    sql = """
        select sa.value_json, count(ua.trial_id),
               count(*) filter (where t.state = 'RUNNING' and exists (
                   select 1 from trial_params p where p.trial_id = t.trial_id))
        from trials t
        join studies s on s.study_id = t.study_id and s.study_name = %s
        join trial_system_attributes sa on sa.trial_id = t.trial_id and sa.key = 'jbt:process'
        left join trial_user_attributes ua on ua.trial_id = t.trial_id and ua.key = 'jbt'
        group by sa.value_json
    """
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute(sql, (name,))
            return {json.loads(who): (done, running) for who, done, running in cur.fetchall()}
    except psycopg2.errors.UndefinedTable:
        return {}
    finally:
        con.close()


def test_a_killed_process_has_its_trials_failed_and_run_again(project, postgres_url, tmp_path):
    from optuna.trial import TrialState

    name = f"killed-{uuid.uuid4().hex[:8]}"
    victim, survivor = (_start(project, postgres_url, name, 24, tmp_path / "cache")
                        for _ in range(2))
    me = f"{socket.gethostname()}:{victim.pid}"
    other = f"{socket.gethostname()}:{survivor.pid}"

    def ready() -> bool:  # both have run trials, and the victim is running one now
        p = _progress(postgres_url, name)
        return p.get(other, (0, 0))[0] >= 1 and p.get(me, (0, 0))[0] >= 1 and p[me][1] >= 1

    _wait(lambda: ready() or victim.poll() is not None or survivor.poll() is not None,
          "both processes to run trials")
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    running = [t for t in _load(postgres_url, name).trials
               if t.state == TrialState.RUNNING and t.system_attrs.get("jbt:process") == me]
    assert any(t.params for t in running)  # what the heartbeat must catch

    out, err = survivor.communicate(timeout=180)
    assert survivor.returncode == 0, (out + err).decode()
    trials = _load(postgres_url, name).trials
    finished = [t for t in trials if _finished(t)]
    assert len(finished) == 24  # exactly N, the retries included, nothing counted twice
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    by_number = {t.number: t for t in trials}
    for dead in running:
        now = by_number[dead.number]
        assert now.state == TrialState.FAIL and not _finished(now)  # failed by the heartbeat
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
        assert len(retries) == 1, [t.number for t in retries]
        retry = retries[0]
        if dead.params:  # killed after its params were drawn: run again with them
            assert retry.params == dead.params
        assert _finished(retry) and retry.user_attrs["jbt_process"] == other
    assert "process 2 to join it" in out.decode() or "process 1 to join it" in out.decode()
    # the failed trials are not the study's trials: show lists the N finished ones
    data = study_json(project, name, "--storage", postgres_url)
    assert [t["number"] for t in data["trials"]] == [t.number for t in finished]
    assert len({json.dumps(t["params"], sort_keys=True) for t in data["trials"]}) > 12


def test_ctrl_c_hands_the_running_trials_back_at_once(project, postgres_url, tmp_path):
    """Ctrl-C fails this process's running trials and queues them again right away (no grace
    period: the default heartbeat of 10 s would take 30 s); the same command runs them. With
    NSGA-II, a sampler that draws through Optuna's storage (its state is in the trials)."""
    from optuna.trial import TrialState

    name = f"ctrlc-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JBT_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    args = ["optimize", "--trials", "10", "--jobs", "1", "--seed", "5", "--study", name,
            "--storage", postgres_url, "--shared", "--sampler", "nsga2"]
    proc = subprocess.Popen([sys.executable, "-m", "jbt", "--project", str(project), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    me = f"{socket.gethostname()}:{proc.pid}"
    _wait(lambda: (lambda p: p.get(me, (0, 0))[0] >= 2 and p[me][1] >= 1)(
        _progress(postgres_url, name)) or proc.poll() is not None, "a running trial")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip().splitlines()[-1].startswith(f"Error: interrupted: study {name} "
                                                            "has ")
    trials = _load(postgres_url, name).trials
    handed = [t for t in trials if t.state == TrialState.FAIL and not _finished(t)]
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert handed and not [t for t in trials if t.state == TrialState.RUNNING]
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == [t.number for t in handed]
    assert all(w.params == by.params for w in waiting for by in handed
               if w.system_attrs["failed_trial"] == by.number and by.params)

    began = time.monotonic()
    res = invoke(project, *args)
    assert res.exit_code == 0, res.output
    assert time.monotonic() - began < 25  # the queued trials ran at once
    trials = _load(postgres_url, name).trials
    assert sum(_finished(t) for t in trials) == 10
    assert all(_finished(t) for t in trials if t.number in {w.number for w in waiting})
