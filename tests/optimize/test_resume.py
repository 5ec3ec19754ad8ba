"""A study stopped after some batches and run again ends with exactly the trials and values of
an uninterrupted run, for every sampler (in-process executor: the sequence is the
coordinator's; the process executor is held to the same trials by test_optimize)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from jbt.errors import JbtError
from jbt.optimize.executors import InlineExecutor

from .kit import make_project

CASES = {
    "tpe": dict(route="Ema", sampler="tpe"),
    "random": dict(route="Ema", sampler="random"),
    "cmaes": dict(route="Ema", sampler="cmaes"),
    "grid": dict(route="Mixed", sampler="grid", space=["every=10:30:5", "size=0.2:0.6:0.2"],
                 hp=["boom=false"]),
    "nsga2": dict(route="Mixed", sampler="nsga2", objectives=["sharpe", "max_drawdown"],
                  hp=["boom=false"]),
}


def _run(root, name, case, trials, stop_after=None):
    from jbt.config import load_config
    from jbt.models import open_database
    from jbt.modes import optimize_mode

    config = load_config(root)
    open_database(config.database_url())
    saved = []

    def should_stop() -> bool:
        saved.append(1)
        return stop_after is not None and len(saved) >= stop_after

    return optimize_mode.run(
        config, root, trials=trials, sampler=case["sampler"], seed=5, study=name, batch=6,
        objectives=case.get("objectives"), space=case.get("space", ()), hp=case.get("hp", ()),
        executor=InlineExecutor(), should_stop=should_stop,
    )


def _rows(result):
    return [(r.number, r.batch, r.params, r.status, r.values, r.test_values, r.train, r.test)
            for r in result.records]


@pytest.mark.parametrize("sampler", list(CASES))
def test_a_stopped_study_continues_to_the_uninterrupted_trials(tmp_path, sampler):
    case = CASES[sampler]
    root = make_project(tmp_path, route=case["route"])
    whole = _run(root, "whole", case, 20)
    assert len(whole.records) == 20 and whole.stats.ran == 20

    first = _run(root, "parts", case, 20, stop_after=2)
    # two batches stored, the batch already asked and running is dropped
    assert len(first.records) == 12 and first.stats.ran == 12
    again = _run(root, "parts", case, 20)
    assert again.stats.replayed == 12 and again.stats.ran == 8
    assert _rows(again) == _rows(whole)
    if sampler == "grid":
        assert len({tuple(r.params.values()) for r in whole.records}) == 20
        full = _run(root, "full", case, 40)  # 5 x 3 x 2 points: every one once, then stop
        assert full.note == "the grid has 30 points: 30 trials"
        assert len({tuple(r.params.values()) for r in full.records}) == len(full.records) == 30


def test_a_stored_trial_the_sampler_would_not_ask_stops_the_replay(tmp_path):
    case = CASES["random"]
    root = make_project(tmp_path)
    _run(root, "s", case, 12)
    db = sqlite3.connect(root / "db.sqlite3")
    (tid, raw), = db.execute(
        "select a.trial_id, a.value_json from trial_user_attributes a join trials t "
        "on a.trial_id = t.trial_id where t.number = 3 and a.key = 'jbt'").fetchall()
    data = json.loads(raw)
    data["params"]["fast"] = data["params"]["fast"] % 18 + 2
    with db:
        db.execute("update trial_user_attributes set value_json = ? where trial_id = ? and "
                   "key = 'jbt'", (json.dumps(data), tid))
    with pytest.raises(JbtError, match=r"study 's': trial 3 was stored with \{'fast': "
                                       r"\d+, 'slow': \d+\} but the sampler now asks"):
        _run(root, "s", case, 18)
    assert db.execute("select count(*) from trials").fetchone()[0] == 12
