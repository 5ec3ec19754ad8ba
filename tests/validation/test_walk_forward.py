"""``jbt walk-forward`` end to end: the stitched out-of-sample run equals separate ``jbt
backtest --hp`` runs of each window's choice, compounded; a window's search never sees a
candle after its training end; the same seed gives the same run whatever --jobs; a run is
saved, shown again, continued after an interruption, exported and charted."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3

import pytest
from optimize.kit import invoke

from jbt.constants import DAY_MS
from jbt.errors import InputError
from jbt.metrics import METRIC_NAMES
from jbt.validation.windows import make_windows, parse_duration

from .kit import make_project, ms

START, END = "2020-01-03", "2020-01-31"
ARGS = ["walk-forward", START, END, "--train", "9d", "--test", "4d", "--trials", "12",
        "--batch", "6", "--seed", "3"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("wf"))


@pytest.fixture(scope="module")
def runs(project, tmp_path_factory):
    """The same walk-forward with --jobs 2 (saved) and --jobs 1 (not saved), each in its own
    copy of the project."""
    out = {}
    for jobs, extra in ((2, []), (1, ["--no-save"])):
        root = tmp_path_factory.mktemp(f"wf{jobs}")
        shutil.copytree(project, root, dirs_exist_ok=True)
        res = invoke(root, *ARGS, "--jobs", str(jobs), *extra, "--json", str(root / "wf.json"))
        assert res.exit_code == 0, res.output
        out[jobs] = (root, res.output, json.loads((root / "wf.json").read_text()))
    return out


def test_windows_arithmetic():
    d = DAY_MS
    rolling = make_windows(0, 30 * d, 10 * d, 5 * d)
    assert [(w.train_start, w.train_end, w.test_end) for w in rolling] == [
        (0, 10 * d, 15 * d), (5 * d, 15 * d, 20 * d), (10 * d, 20 * d, 25 * d),
        (15 * d, 25 * d, 30 * d)]
    anchored = make_windows(0, 30 * d, 10 * d, 5 * d, 7 * d, anchored=True)
    assert [(w.train_start, w.train_end, w.test_end) for w in anchored] == [
        (0, 10 * d, 15 * d), (0, 17 * d, 22 * d), (0, 24 * d, 29 * d)]
    assert parse_duration("26w", "--train") == 182 * d
    assert parse_duration("36h", "--test") == 36 * 3_600_000
    for bad in ("10", "0d", "5y", "1.5d"):
        with pytest.raises(InputError, match=f"--train '{bad}': give a duration"):
            parse_duration(bad, "--train")
    with pytest.raises(InputError, match="--step must be at least --test"):
        make_windows(0, 30 * d, 10 * d, 5 * d, 4 * d)
    with pytest.raises(InputError, match="holds no window of 20d training and 11d testing"):
        make_windows(0, 30 * d, 20 * d, 11 * d)
    with pytest.raises(InputError, match="--test must be a whole number"):
        make_windows(0, 30 * d, 4 * d, 36 * 3_600_000, align=d)


def _backtest(root, start, end, hp_args, name):
    out = root / f"{name}.json"
    args = ["backtest", start, end, "--no-save", "--json", str(out)]
    for a in hp_args:
        args += ["--hp", a]
    res = invoke(root, *args)
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def _same(w):
    """What two runs of a window must agree on: all but its session's id and the trials'
    durations."""
    return {**{k: v for k, v in w.items() if k != "session_id"},
            "trials": [{k: v for k, v in t.items() if k != "duration_s"} for t in w["trials"]]}


def _close(a, b, rel=1e-12):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_stitched_out_of_sample_equals_separate_backtests_compounded(runs):
    from jbt.modes.optimize_mode import cmd_date

    root, output, data = runs[2]
    windows = data["windows"]
    oos = data["out_of_sample"]
    assert [(w["test"][0], w["test"][1]) for w in windows] == [
        (ms("2020-01-12"), ms("2020-01-16")), (ms("2020-01-16"), ms("2020-01-20")),
        (ms("2020-01-20"), ms("2020-01-24")), (ms("2020-01-24"), ms("2020-01-28"))]
    assert all(w["status"] == "ok" for w in windows)
    balance = oos["starting_balance"]
    factor, trades_seen, times, values = 1.0, 0, [], []
    for k, w in enumerate(windows):
        sep = _backtest(root, cmd_date(w["test"][0]), cmd_date(w["test"][1]), w["hp_args"],
                        f"oos{k}")
        # the window's out-of-sample metrics are that backtest's
        assert sep["config"]["hyperparameters"] == w["hyperparameters"]
        assert all(_close(sep["metrics"][m], w["out_of_sample"][m]) for m in METRIC_NAMES)
        assert oos["scales"][k] == pytest.approx(factor, rel=1e-15)
        # its trades, scaled by the stitched balance at its start over the starting balance
        mine = oos["trades"][trades_seen:trades_seen + len(sep["trades"])]
        trades_seen += len(sep["trades"])
        assert len(mine) == len(sep["trades"]) == w["out_of_sample"]["total_trades"]
        for got, want in zip(mine, sep["trades"], strict=True):
            for key in ("side", "entry_time", "exit_time", "entry_price", "exit_price",
                        "closed_by", "route"):
                assert got[key] == want[key]
            for key in ("qty", "pnl", "fee"):
                assert got[key] == pytest.approx(want[key] * factor, rel=1e-12)
        # its equity points, scaled the same way, after a point at its start
        if not times or times[-1] < w["test"][0]:
            times.append(w["test"][0])
            values.append(factor * balance)
        times += [p["time"] for p in sep["equity"]]
        values += [p["equity"] * factor for p in sep["equity"]]
        factor *= sep["finishing_balance"] / balance
    assert trades_seen == len(oos["trades"])
    assert [p["time"] for p in oos["equity"]] == times
    assert [p["equity"] for p in oos["equity"]] == pytest.approx(values, rel=1e-12)
    assert oos["finishing_balance"] == pytest.approx(balance * factor, rel=1e-12)
    assert oos["metrics"]["total_return"] == pytest.approx(factor - 1, rel=1e-9)
    assert [oos["period"]["start"], oos["period"]["end"]] == [windows[0]["test"][0],
                                                              windows[-1]["test"][1]]


def test_in_sample_metrics_are_the_chosen_trial_on_training(runs):
    from jbt.modes.optimize_mode import cmd_date

    root, _, data = runs[2]
    w = data["windows"][1]
    sep = _backtest(root, cmd_date(w["train"][0]), cmd_date(w["train"][1]), w["hp_args"], "is")
    assert all(_close(sep["metrics"][m], w["in_sample"][m]) for m in METRIC_NAMES)
    best = next(t for t in w["trials"] if t["number"] == w["trial"])
    assert best["params"] == w["params"] and best["status"] == "ok"
    feasible = [t["values"][0] for t in w["trials"] if t["status"] == "ok"]
    assert w["in_sample"]["sharpe"] == max(feasible)  # the best training objective
    assert sum(w["counts"].values()) == len(w["trials"]) == 12


def test_the_same_seed_gives_the_same_run_whatever_jobs(runs):
    a, b = runs[2][2], runs[1][2]

    assert [_same(w) for w in a["windows"]] == [_same(w) for w in b["windows"]]
    for key in ("equity", "trades", "metrics"):
        assert a["out_of_sample"][key] == b["out_of_sample"][key]
    assert a["efficiency"] == b["efficiency"] and a["stability"] == b["stability"]
    # window k's seed comes from --seed and k only
    from jbt.modes.walkforward_mode import window_seed

    assert [w["seed"] for w in a["windows"]] == [window_seed(3, k) for k in range(4)]
    assert len({w["seed"] for w in a["windows"]}) == 4
    assert b["walk_forward_id"] is None and "Not saved" in runs[1][1]


def test_the_report_efficiency_and_stability(runs):
    _, output, data = runs[2]
    assert "4 rolling windows, training 9d, testing 4d, step 4d" in output
    assert "Walk-forward efficiency:" in output and "Parameter stability" in output
    ins = [w["in_sample"]["annual_return"] for w in data["windows"]]
    want = data["out_of_sample"]["metrics"]["annual_return"] / (sum(ins) / len(ins))
    assert data["efficiency"] == (pytest.approx(want) if sum(ins) > 0 else None)
    fast = next(s for s in data["stability"] if s["key"] == "fast")
    values = [w["params"]["fast"] for w in data["windows"]]
    assert fast["values"] == values
    assert fast["mean"] == pytest.approx(sum(values) / 4)
    assert fast["changes"] == sum(1 for x, y in zip(values, values[1:], strict=False) if x != y)


def test_a_run_is_saved_shown_listed_exported_and_charted(runs):
    root, _, data = runs[2]
    assert data["walk_forward_id"] == 1
    sessions = [w["session_id"] for w in data["windows"]]
    assert sessions == [1, 2, 3, 4]
    res = invoke(root, "walk-forward", "show", "1", "--json", str(root / "show.json"),
                 "--csv", str(root / "csv"), "--chart", str(root / "wf.html"))
    assert res.exit_code == 0, res.output
    assert json.loads((root / "show.json").read_text()) == data
    header = (root / "csv" / "windows.csv").read_text().splitlines()[0].split(",")
    assert header[:12] == ["window", "train_start", "train_end", "test_start", "test_end",
                           "seed", "status", "trial", "efficiency", "session_id", "fast", "slow"]
    assert "oos_sharpe" in header and "is_sharpe" in header
    assert (root / "csv" / "trades.csv").read_text().count("\n") == \
        len(data["out_of_sample"]["trades"]) + 1
    page = (root / "wf.html").read_text()
    for div in ("jbt-oos", "jbt-windows", "jbt-params"):
        assert f'id="{div}"' in page
    assert "<script src=" not in page
    res = invoke(root, "walk-forward", "list")
    assert res.exit_code == 0 and "Ema-BTC-USDT-1h" in res.output and "finished" in res.output
    res = invoke(root, "sessions", "show", "2")
    assert res.exit_code == 0 and "2020-01-16 → 2020-01-20" in res.output
    res = invoke(root, "walk-forward", "show", "7")
    assert res.exit_code == 2 and "no walk-forward run 7" in res.output


def test_an_interrupted_run_is_continued_by_the_same_command(runs):
    root, _, data = runs[2]
    db = sqlite3.connect(root / "db.sqlite3")
    with db:  # as if the run had stopped after its third window
        db.execute("delete from walk_forward_window where \"index\" = 3")
        db.execute("update walk_forward_run set status = 'running', summary = null")
    res = invoke(root, *ARGS, "--jobs", "2", "--json", str(root / "again.json"))
    assert res.exit_code == 0, res.output
    assert "Continued: 3 window(s) were stored by an earlier run." in res.output
    assert res.output.count("Window ") == 1  # only the fourth ran
    again = json.loads((root / "again.json").read_text())
    assert again["walk_forward_id"] == 1
    assert again["windows"][:3] == data["windows"][:3]
    assert _same(again["windows"][3]) == _same(data["windows"][3])
    assert again["out_of_sample"]["equity"] == data["out_of_sample"]["equity"]
    assert db.execute("select status from walk_forward_run").fetchall() == [("finished",)]


def test_bad_input_is_one_line_and_writes_nothing(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    for args, message in (
        (["--test", "4d", "--step", "2d"], "--step must be at least --test"),
        (["--train", "40d"], "holds no window of 40d training and 30d testing"),
        (["--train", "9x"], "--train '9x': give a duration such as 180d"),
        (["--trials", "0"], "--trials must be at least 1"),
    ):
        res = invoke(root, "walk-forward", START, END, "--jobs", "1", *args)
        assert res.exit_code == 2, res.output
        assert message in res.output and len(res.output.strip().splitlines()) == 1
    db = sqlite3.connect(root / "db.sqlite3")
    assert db.execute("select count(*) from walk_forward_run").fetchone() == (0,)
    assert db.execute("select count(*) from backtest_session").fetchone() == (0,)


def test_a_windows_search_never_sees_a_candle_after_its_training_end(tmp_path):
    train, test = parse_duration("9d", "--train"), parse_duration("4d", "--test")
    windows = make_windows(ms(START), ms(END), train, test)
    # the strategy raises in a run that starts at a training start once it sees a candle
    # closing after that window's training end
    root = make_project(tmp_path / "peek", route="Peek",
                        windows=[[w.train_start, w.train_end] for w in windows])
    res = invoke(root, "walk-forward", START, END, "--train", "9d", "--test", "4d",
                 "--trials", "8", "--batch", "4", "--sampler", "random", "--jobs", "2",
                 "--json", str(root / "wf.json"))
    assert res.exit_code == 0, res.output
    data = json.loads((root / "wf.json").read_text())
    assert len(data["windows"]) == len(windows) == 4
    for w in data["windows"]:
        assert w["counts"] == {"ok": 8, "infeasible": 0, "failed": 0}, w["counts"]
        assert w["in_sample"]["days"] == 9
    # the check is live: a backtest from a training start past its training end raises
    from jbt.modes.optimize_mode import cmd_date

    w0 = windows[0]
    res = invoke(root, "backtest", cmd_date(w0.train_start), cmd_date(w0.test_end), "--no-save")
    assert res.exit_code != 0
    assert f"saw a candle after the training end {w0.train_end}" in res.output
