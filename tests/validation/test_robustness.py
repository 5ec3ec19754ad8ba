"""``jbt robustness`` end to end: on a session and on a study's trial, the same figures for
the same seed whatever --jobs; the price paths are the documented candles run as a backtest;
the deflated Sharpe ratio and the overfitting probability of a study equal independent
implementations fed with ``jbt backtest`` runs of its trials; warm-up sensitivity finds the
warm-up a constructed strategy needs."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from optimize.kit import invoke

from jbt.metrics import daily_equity, daily_returns

from .kit import make_project
from .test_overfitting import _dsr_oracle, _pbo_oracle


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("rob"))
    res = invoke(root, "backtest", "2020-01-05", "2020-01-29")  # session 1
    assert res.exit_code == 0, res.output
    return root


def _robust(root, *args):
    out = root / "r.json"
    res = invoke(root, "robustness", *args, "--json", str(out))
    assert res.exit_code == 0, res.output
    return res.output, json.loads(out.read_text())


def _session(root, sid):
    out = root / f"s{sid}.json"
    res = invoke(root, "sessions", "show", str(sid), "--json", str(out))
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def test_a_session_the_same_seed_the_same_figures_whatever_jobs(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    args = ["1", "--paths", "4", "--scenarios", "300", "--warmups", "20,45", "--seed", "5"]
    out1, one = _robust(root, *args, "--jobs", "1")
    _, two = _robust(root, *args, "--jobs", "2")
    assert one == two
    _, other = _robust(root, *args[:-1], "6", "--jobs", "2", "--skip", "warmup")
    assert other["trades"]["bootstrap"] != one["trades"]["bootstrap"]
    assert other["paths"]["bootstrap"] != one["paths"]["bootstrap"]
    session = _session(root, 1)
    # the trade Monte Carlo starts from the session's own trades
    mc = one["trades"]
    assert mc["trades"] == len(session["trades"]) and mc["scenarios"] == 300
    assert mc["original"][-1] == pytest.approx(session["finishing_balance"], rel=1e-12)
    assert mc["shuffle"]["final_return"]["original"] == pytest.approx(
        session["metrics"]["total_return"], rel=1e-9)
    assert len(mc["bootstrap"]["final_return"]["values"]) == 300
    # the probabilistic Sharpe ratio of the session's daily returns against 0
    assert one["sharpe"]["kind"] == "probabilistic"
    eq = session["equity"]
    values = daily_equity([p["time"] for p in eq], [p["equity"] for p in eq],
                          session["starting_balance"], session["period"]["start"],
                          session["period"]["end"])[1]
    rets = daily_returns(values)
    sr0, psr = _dsr_oracle(rets, [0.0, 0.0], 2)  # zero spread: the benchmark is 0
    assert sr0 == 0.0 and one["sharpe"]["psr"] == pytest.approx(psr, abs=1e-9)
    assert "pbo" in one["skipped"] and "Probabilistic Sharpe ratio" in out1
    assert "Trade-sequence Monte Carlo: 300 scenarios" in out1


def test_a_price_path_is_the_documented_candles_backtested(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    _, doc = _robust(root, "1", "--paths", "3", "--block", "6h", "--noise", "0.2%",
                     "--seed", "11", "--skip", "trades,sharpe,warmup", "--jobs", "2")
    from jbt import research
    from jbt.config import load_config
    from jbt.models import close_database, open_database
    from jbt.modes.backtest_mode import load
    from jbt.results import RouteSpec
    from jbt.validation.paths import scenario_candles

    session = _session(root, 1)
    config = load_config(root)
    open_database(config.database_url())
    try:
        routes = [RouteSpec(**r) for r in session["routes"]]
        start, end = session["period"]["start"], session["period"]["end"]
        candles, _, _, _ = load(config, routes, [], start, end)
        key = ("sim", "BTC-USDT")
        for kind, index in (("bootstrap", 2), ("noise", 0)):
            path = scenario_candles(candles, kind, index, 11, {key: 360}, 0.002)[key]
            got = research.backtest([("sim", "BTC-USDT", "1h", "Ema")], candles=path,
                                    start=start, end=end, project=root)
            stats = doc["paths"][kind]
            assert stats["paths"] == 3 and stats["failed"] == 0
            assert stats["metrics"]["total_return"]["values"][index] == pytest.approx(
                got.metrics["total_return"], rel=1e-12)
            assert stats["metrics"]["total_trades"]["values"][index] == \
                got.metrics["total_trades"]
    finally:
        close_database()
    assert doc["paths"]["original"]["total_return"] == session["metrics"]["total_return"]


def test_warm_up_sensitivity_finds_the_warm_up_the_strategy_needs(tmp_path):
    root = make_project(tmp_path / "lb", route="Lookback")
    res = invoke(root, "backtest", "2020-01-06", "2020-01-20")
    assert res.exit_code == 0, res.output
    output, doc = _robust(root, "1", "--skip", "trades,paths,sharpe",
                          "--warmups", "10,39,40,41,45,60,90")
    w = doc["warmup"]
    assert w["stable_from"] == 40  # the strategy's K: the trades change below it
    by = {r["warmup"]: r for r in w["runs"]}
    assert [by[n]["bars"] for n in (10, 39, 40, 90)] == [10, 39, 40, 90]
    assert [by[n]["same"] for n in (10, 39, 40, 41, 45, 60, 90)] == [False, False] + [True] * 5
    # below K it bought at its first bar: the first difference is the start
    start = doc["source"]["start"]
    assert by[10]["first_difference"] == by[39]["first_difference"] == start
    assert w["session_warmup"] == 45 and w["reproduces_session"] is True
    assert "the trades stop changing from warmup_candles = 40" in output


def test_a_studys_deflated_sharpe_and_overfitting_probability(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    res = invoke(root, "optimize", "2020-01-03", "2020-01-31", "--trials", "14", "--batch", "7",
                 "--sampler", "random", "--seed", "1", "--study", "s", "--jobs", "2")
    assert res.exit_code == 0, res.output
    output, doc = _robust(root, "--study", "s", "--skip", "paths,warmup", "--pbo-blocks", "6",
                          "--scenarios", "50", "--jobs", "2")
    out = root / "study.json"
    assert invoke(root, "optimize", "show", "s", "--json", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    best = data["trials"][data["ranking"][0]]
    # one trial per distinct parameter set, the first that tried it (the chosen one kept)
    distinct = {}
    for t in data["trials"]:
        if t["status"] == "ok":
            distinct.setdefault(json.dumps(t["params"], sort_keys=True), t)
    distinct[json.dumps(best["params"], sort_keys=True)] = best
    trials = list(distinct.values())
    assert doc["pbo"]["trials"] == [t["number"] for t in trials]

    from jbt.modes.optimize_mode import cmd_date

    train = data["settings"]["train"]
    returns = {}
    for t in trials:  # each trial's daily training returns, from jbt backtest --hp
        path = root / f"t{t['number']}.json"
        args = ["backtest", cmd_date(train[0]), cmd_date(train[1]), "--no-save", "--json",
                str(path)]
        for a in t["hp_args"]:
            args += ["--hp", a]
        assert invoke(root, *args).exit_code == 0
        run = json.loads(path.read_text())
        eq = run["equity"]
        values = daily_equity([p["time"] for p in eq], [p["equity"] for p in eq],
                              run["starting_balance"], train[0], train[1])[1]
        returns[t["number"]] = daily_returns(values)
    srs = [t["train"]["sharpe"] / math.sqrt(365) for t in trials]
    sr0, dsr = _dsr_oracle(returns[best["number"]], srs, len(trials))
    s = doc["sharpe"]
    assert s["kind"] == "deflated" and s["trial"] == best["number"]
    assert s["n_trials"] == len(trials)
    assert s["sr0"] == pytest.approx(sr0, abs=1e-9)
    assert s["dsr"] == pytest.approx(dsr, abs=1e-9)
    assert s["sharpe_annual"] == pytest.approx(best["train"]["sharpe"], rel=1e-9)
    matrix = np.column_stack([returns[t["number"]] for t in trials])
    pbo, logits = _pbo_oracle(matrix, 6)
    assert doc["pbo"]["pbo"] == pytest.approx(pbo, abs=1e-9)
    np.testing.assert_allclose(doc["pbo"]["logits"], logits, rtol=0, atol=1e-9)
    assert doc["pbo"]["combinations"] == 20
    assert "Deflated Sharpe ratio" in output and "PBO" in output
    # the trade Monte Carlo ran on the trial's testing backtest (as --from-study runs it)
    test = data["settings"]["test"]
    assert [doc["source"]["start"], doc["source"]["end"]] == test
    assert doc["source"]["trades"] == doc["trades"]["trades"]

    res = invoke(root, "robustness", "--study", "s", "--skip", "paths,warmup,trades",
                 "--chart", str(root / "r.html"), "--jobs", "1")
    assert res.exit_code == 0, res.output
    page = (root / "r.html").read_text()
    assert 'id="jbt-pbo"' in page and "<script src=" not in page


def test_the_chart_has_the_distributions_and_fans(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root)
    res = invoke(root, "robustness", "1", "--paths", "2", "--scenarios", "100", "--warmups",
                 "20,45", "--jobs", "1", "--chart", str(root / "r.html"))
    assert res.exit_code == 0, res.output
    page = (root / "r.html").read_text()
    for div in ("jbt-mc-fan", "jbt-mc-hist", "jbt-paths-fan", "jbt-paths-hist", "jbt-warmup"):
        assert f'id="{div}"' in page
    assert "<script src=" not in page


def test_bad_input_is_one_clear_line(project):
    for args, message in (
        ([], "give a session ID (jbt sessions lists them) or --study NAME"),
        (["7"], "no session 7; run 'jbt sessions'"),
        (["1", "--study", "s"], "give a session ID (jbt sessions lists them) or --study NAME"),
        (["1", "--skip", "foo"], "--skip foo: use any of trades, paths, sharpe, pbo, warmup"),
        (["1", "--rank", "2"], "--rank, --period and --storage go with --study NAME"),
        (["1", "--drawdown", "120%"], "--drawdown '120%': must be between 0% and 100%"),
        (["1", "--block", "5"], "--block '5': give a duration"),
        (["1", "--warmups", "10"], "--warmups needs two or more"),
        (["1", "--pbo-blocks", "5"], "--pbo-blocks 5: give an even number"),
        (["--study", "nope"], "no study named 'nope'"),
    ):
        res = invoke(project, "robustness", *args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1
