"""``jbt optimize`` end to end on a small project: the same trials whatever --jobs, every
trial's metrics equal to ``jbt backtest --hp`` on each period, infeasible and failing trials
recorded and never best, the study readable by Optuna, and bad input refused before anything
is written."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3

import pytest

from jbt.metrics import METRIC_NAMES

from .kit import BOOM_LINE, invoke, make_project, study_json, trial_rows


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("opt"))


@pytest.fixture(scope="module")
def jobs_runs(project, tmp_path_factory):
    """The same TPE study with --jobs 1 and --jobs 2, each in its own copy of the project."""
    out = {}
    for jobs in (1, 2):
        root = tmp_path_factory.mktemp(f"jobs{jobs}")
        shutil.copytree(project, root, dirs_exist_ok=True)
        res = invoke(root, "optimize", "--trials", "40", "--batch", "8", "--seed", "7",
                     "--jobs", str(jobs), "--study", "ema")
        assert res.exit_code == 0, res.output
        out[jobs] = (root, res.output, study_json(root, "ema"))
    return out


def test_jobs_never_change_the_trials(jobs_runs):
    one, two = jobs_runs[1][2], jobs_runs[2][2]
    assert len(one["trials"]) == 40
    assert trial_rows(one) == trial_rows(two)
    assert one["ranking"] == two["ranking"]
    # the trials are TPE's, not the same point again and again: the search moved
    assert len({tuple(t["params"].values()) for t in one["trials"]}) > 20
    assert {t["batch"] for t in one["trials"]} == {0, 8, 16, 24, 32}


def test_the_run_prints_the_top_trials_and_the_hp_line(jobs_runs):
    root, output, data = jobs_runs[2]
    best = data["trials"][data["ranking"][0]]
    assert "Study ema (new): Ema BTC-USDT 1h (sim)" in output
    assert "2 worker processes" in output
    assert "Top 10 of 40 trials" in output
    hp = " ".join(f"--hp {a}" for a in best["hp_args"])
    assert best["hp_args"] == [f"fast={best['params']['fast']}", f"slow={best['params']['slow']}"]
    train, test = data["settings"]["train"], data["settings"]["test"]
    from jbt.modes.optimize_mode import cmd_date

    assert f"jbt backtest {cmd_date(train[0])} {cmd_date(train[1])} {hp}" in output
    assert f"jbt backtest {cmd_date(test[0])} {cmd_date(test[1])} {hp}" in output
    assert "Ran 40 trials" in output


def _backtest_metrics(root, start, end, hp_args, tmp_name):
    out = root / f"{tmp_name}.json"
    args = ["backtest", start, end, "--no-save", "--json", str(out)]
    for a in hp_args:
        args += ["--hp", a]
    res = invoke(root, *args)
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text(encoding="utf-8"))["metrics"]


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def test_trial_metrics_equal_jbt_backtest_on_each_period(jobs_runs):
    from jbt.modes.optimize_mode import cmd_date

    root, _, data = jobs_runs[2]  # run by worker processes on memory-mapped candles
    train, test = data["settings"]["train"], data["settings"]["test"]
    order = data["ranking"]
    for number in (order[0], order[len(order) // 2], order[-1]):
        t = data["trials"][number]
        for period, metrics in ((train, t["train"]), (test, t["test"])):
            got = _backtest_metrics(root, cmd_date(period[0]), cmd_date(period[1]),
                                    t["hp_args"], f"bt{number}")
            assert set(got) == set(METRIC_NAMES) == set(metrics)
            bad = {k: (metrics[k], got[k]) for k in METRIC_NAMES if not _close(metrics[k], got[k])}
            assert not bad, f"trial {number}: {bad}"
        assert t["values"] == [t["train"]["sharpe"]]
        assert t["test_values"] == [t["test"]["sharpe"]]


def test_from_study_runs_the_best_trial_on_the_testing_period(jobs_runs):
    root, _, data = jobs_runs[1]
    best = data["trials"][data["ranking"][0]]
    out = root / "from.json"
    res = invoke(root, "backtest", "--from-study", "ema", "--no-save", "--json", str(out))
    assert res.exit_code == 0, res.output
    assert f"Study ema, trial {best['number']} (rank 1)" in res.output
    got = json.loads(out.read_text(encoding="utf-8"))
    assert [got["period"]["start"], got["period"]["end"]] == data["settings"]["test"]
    assert got["config"]["hyperparameters"] == {"Ema": best["params"]}
    assert all(_close(best["test"][k], got["metrics"][k]) for k in METRIC_NAMES)

    second = data["trials"][data["ranking"][1]]
    res = invoke(root, "backtest", "--from-study", "ema", "--rank", "2", "--no-save",
                 "--json", str(out))
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["config"]["hyperparameters"] == {"Ema": second["params"]}
    n = len(data["ranking"])
    res = invoke(root, "backtest", "--from-study", "ema", "--rank", str(n + 1), "--no-save")
    assert res.exit_code == 2
    assert f"study 'ema' has {n} feasible trials; --rank must be at most {n}" in res.output
    res = invoke(root, "backtest", "--from-study", "nope")
    assert res.exit_code == 2 and "no study named 'nope'; the studies are: ema" in res.output


def test_optuna_reads_the_study(jobs_runs):
    import optuna

    root, _, data = jobs_runs[1]
    study = optuna.load_study(study_name="ema", storage=f"sqlite:///{root / 'db.sqlite3'}")
    trials = study.trials
    assert [t.number for t in trials] == list(range(40))
    for t, mine in zip(trials, data["trials"], strict=True):
        assert t.params == mine["params"]
        assert t.state.name == ("COMPLETE" if mine["status"] == "ok" else "FAIL")
        assert t.values == (mine["values"] if mine["status"] == "ok" else None)
        assert t.user_attrs["jbt"]["train"] == mine["train"]
    assert study.best_trial.number == data["ranking"][0]


def test_continuing_adds_trials_and_show_list(jobs_runs):
    root, _, before = jobs_runs[1]
    res = invoke(root, "optimize", "--trials", "44", "--batch", "8", "--seed", "7",
                 "--study", "ema")
    assert res.exit_code == 0, res.output
    assert "Study ema (continued)" in res.output and "40 trials stored; running up to 44" in res.output
    after = study_json(root, "ema")
    assert trial_rows(after)[:40] == trial_rows(before)
    assert [t["batch"] for t in after["trials"][40:]] == [40] * 4

    res = invoke(root, "optimize", "--trials", "10", "--batch", "8", "--seed", "7",
                 "--study", "ema")
    assert res.exit_code == 0 and "Ran 0 trials" in res.output

    res = invoke(root, "optimize", "list")
    assert res.exit_code == 0, res.output
    assert "ema" in res.output and "44" in res.output

    res = invoke(root, "optimize", "show", "ema", "--top", "3")
    assert res.exit_code == 0, res.output
    assert "Top 3 of 44 trials" in res.output


def test_other_settings_cannot_continue_a_study(jobs_runs):
    root, _, _ = jobs_runs[2]
    n = sqlite3.connect(root / "db.sqlite3").execute("select count(*) from trials").fetchone()[0]
    res = invoke(root, "optimize", "--trials", "50", "--batch", "8", "--seed", "8",
                 "--study", "ema")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "Error: study 'ema' was started with another --seed (7 there, 8 now); continue it "
        "with the same ones, or start a new study with --study NAME"]
    res = invoke(root, "optimize", "--trials", "50", "--batch", "8", "--seed", "7",
                 "--study", "ema", "--objective", "sortino")
    assert res.exit_code == 2 and "another --objective (sharpe there, sortino now)" in res.output
    res = invoke(root, "optimize", "--trials", "50", "--batch", "8", "--seed", "7",
                 "--study", "ema", "--space", "fast=2:10")
    assert res.exit_code == 2 and "another search space" in res.output
    assert sqlite3.connect(root / "db.sqlite3").execute(
        "select count(*) from trials").fetchone()[0] == n


def test_infeasible_and_failing_trials_are_recorded_and_never_best(tmp_path):
    root = make_project(tmp_path, route="Mixed")
    res = invoke(root, "optimize", "--trials", "24", "--batch", "8", "--sampler", "random",
                 "--seed", "2", "--min-trades", "12", "--study", "mixed")
    assert res.exit_code == 0, res.output
    data = study_json(root, "mixed")
    by = {s: [t for t in data["trials"] if t["status"] == s]
          for s in ("ok", "infeasible", "failed")}
    assert all(by.values()), {s: len(v) for s, v in by.items()}
    for t in by["failed"]:
        assert t["params"]["boom"] is True
        assert t["error"] == (f"training period: strategies/Mixed/__init__.py line {BOOM_LINE} "
                              f"at {t['error'].split(' at ')[1].split(': ')[0]}: "
                              "ValueError: boom at bar five")
        assert t["train"] is None and t["test"] is None
    for t in by["infeasible"]:
        assert t["params"]["boom"] is False
        trades = t["train"]["total_trades"]
        assert trades < 12
        assert t["reason"] == (f"{trades} training trade{'s' if trades != 1 else ''}, "
                               "fewer than --min-trades 12")
        assert t["values"] == [t["train"]["sharpe"]]  # its real value is kept
        assert t["test"] is not None  # both periods are still recorded
    ok = {t["number"] for t in by["ok"]}
    assert set(data["ranking"]) == ok
    assert all(t["train"]["total_trades"] >= 12 for t in by["ok"])
    best = max(by["ok"], key=lambda t: (t["values"][0], -t["number"]))
    assert data["ranking"][0] == best["number"]
    # an infeasible trial with a higher training Sharpe than the best is not the best
    assert any(t["values"][0] is not None and t["values"][0] > best["values"][0]
               for t in by["infeasible"])
    rows = sqlite3.connect(root / "db.sqlite3").execute(
        "select number, state from trials order by number").fetchall()
    assert rows == [(t["number"], "COMPLETE" if t["status"] == "ok" else "FAIL")
                    for t in data["trials"]]
    assert "Failed trials (the first errors):" in res.output
    assert f"line {BOOM_LINE}" in res.output


def test_custom_objective_and_two_objectives(tmp_path):
    root = make_project(tmp_path, route="Mixed")
    res = invoke(root, "optimize", "--trials", "16", "--batch", "8", "--sampler", "nsga2",
                 "--objective", "custom", "--objective", "max_drawdown", "--hp", "boom=false",
                 "--study", "two")
    assert res.exit_code == 0, res.output
    data = study_json(root, "two")
    assert [o["name"] for o in data["settings"]["objectives"]] == ["custom", "max_drawdown"]
    for t in data["trials"]:
        if t["status"] == "failed":
            continue
        assert t["values"][0] == pytest.approx(t["train"]["net_profit"] * t["params"]["size"],
                                               rel=1e-15)
        assert t["values"][1] == t["train"]["max_drawdown"]
        assert t["test_values"][0] == pytest.approx(
            t["test"]["net_profit"] * t["params"]["size"], rel=1e-15)
    ok = [t for t in data["trials"] if t["status"] == "ok"]
    front = set(data["pareto_front"])
    for t in ok:  # front: no other trial at least as good in both and better in one
        dominated = any(u["values"][0] >= t["values"][0] and u["values"][1] >= t["values"][1]
                        and u["values"] != t["values"] for u in ok)
        assert (t["number"] in front) == (not dominated)
    assert data["ranking"][:len(front)] == sorted(
        front, key=lambda n: (-data["trials"][n]["values"][0], n))
    assert "on the Pareto front" in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--objective", "sharp"], "--objective sharp: unknown metric; use one of"),
    (["--objective", "days"], "--objective days: days is the same in every trial"),
    (["--space", "fast=1:10"], "hyperparameter fast = 1 is out of range; allowed: an int "
                               "from 2 to 20"),
    (["--space", "fast=10:5"], "--space fast=10:5: HI is below LO"),
    (["--space", "speed=1:2"], "--space speed: no hyperparameter speed to search; the "
                               "strategies declare: fast, slow"),
    (["--hp", "fast=9", "--space", "fast=2:5"], "--space fast: fast is fixed with --hp"),
    (["--hp", "fast=9", "--hp", "slow=30"], "nothing to search: every hyperparameter is fixed"),
    (["--test", "150%"], "--test '150%': the testing share must be between 0% and 100%"),
    (["--test-start", "2019-01-01"], "--test-start 2019-01-01 must be inside the period"),
    (["--sampler", "cmaes", "--objective", "sharpe", "--objective", "sortino"],
     "--sampler cmaes optimises one objective"),
    (["--sampler", "bayes"], "--sampler bayes: use one of tpe, random, cmaes, grid, nsga2"),
    (["--objective", "custom"], "--objective custom: strategy 'Ema' has no objective() method"),
    (["--shared"], "--shared needs the study on a PostgreSQL server every process reaches: add "
                   "--storage postgresql://USER@HOST/DATABASE"),
    (["--heartbeat", "5"], "--heartbeat is for a --shared study"),
    (["--shared", "--ray", "auto"], "give --shared or --ray, not both: on a Ray cluster one "
                                    "coordinator keeps the study"),
])
def test_bad_input_is_one_line_and_writes_nothing(project, tmp_path, args, message):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    res = invoke(root, "optimize", "--trials", "5", *args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    tables = {r[0] for r in sqlite3.connect(root / "db.sqlite3").execute(
        "select name from sqlite_master where type = 'table'")}
    assert "studies" not in tables


def test_a_strategy_without_hyperparameters_is_one_clear_line(tmp_path):
    root = make_project(tmp_path, route="Plain")
    res = invoke(root, "optimize", "--trials", "5")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "Error: strategy 'Plain' declares no hyperparameters to optimize; add a "
        'hyperparameters() method returning e.g. [{"name": "fast", "type": int, "min": 5, '
        '"max": 50, "default": 20}]'
    ]


def test_show_and_delete_need_a_study(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    res = invoke(root, "optimize", "list")
    assert res.exit_code == 0 and "No studies yet" in res.output
    res = invoke(root, "optimize", "show", "x")
    assert res.exit_code == 2
    assert "no study named 'x'; there are none yet: run jbt optimize" in res.output
    tables = {r[0] for r in sqlite3.connect(root / "db.sqlite3").execute(
        "select name from sqlite_master where type = 'table'")}
    assert "studies" not in tables  # reading wrote nothing

    res = invoke(root, "optimize", "--trials", "3", "--batch", "2", "--sampler", "random",
                 "--study", "gone")
    assert res.exit_code == 0, res.output
    res = invoke(root, "optimize", "delete", "gone")
    assert res.exit_code == 2 and "add --yes" in res.output
    res = invoke(root, "optimize", "delete", "gone", "--yes")
    assert res.exit_code == 0 and "Deleted study gone (3 trials)." in res.output
    res = invoke(root, "optimize", "list")
    assert "No studies yet" in res.output


def test_a_study_whose_every_trial_fails_exits_1_with_the_error(tmp_path):
    root = make_project(tmp_path, route="Mixed")
    res = invoke(root, "optimize", "--trials", "4", "--batch", "2", "--hp", "boom=true",
                 "--study", "boom")
    assert res.exit_code == 1, res.output
    assert "Top 0 of 4 trials (0 feasible, 0 infeasible, 4 failed)" in res.output
    assert f"trial 0: training period: strategies/Mixed/__init__.py line {BOOM_LINE}" in res.output
    assert "No feasible trial yet." in res.output


def test_a_worker_that_dies_stops_the_study_with_one_line_and_keeps_what_was_saved(tmp_path):
    root = make_project(tmp_path, route="Crash")
    # grid order is seeded: find where n = 3 comes, then expect the batches before it stored
    res = invoke(root, "optimize", "--trials", "6", "--batch", "1", "--sampler", "grid",
                 "--jobs", "2", "--study", "crash")
    assert res.exit_code == 1, res.output
    last = res.output.strip().splitlines()[-1]
    assert last == ("Error: a worker process died while running trials (killed, out of memory, "
                    "or a strategy that ended the process); the trials saved so far are kept: "
                    "run the same command to continue")
    data = study_json(root, "crash")
    assert all(t["params"]["n"] != 3 for t in data["trials"])
    assert [t["number"] for t in data["trials"]] == list(range(len(data["trials"])))
