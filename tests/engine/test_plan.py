"""RunPlan: the set-up of a backtest as a value. One plan run many times with other
hyperparameters gives exactly what as many fresh runs give; the plan's checks (routes, period,
missing candles) are the only ones; routes of one symbol and timeframe share one bar array and
its indicator cache."""

from __future__ import annotations

import hashlib
import random
import re
import threading
from pathlib import Path

import numpy as np
import pytest

import jbt.indicators as ta
from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest, run_plan
from jbt.errors import CandlesMissingError, InputError
from jbt.indicators._cache import dispatch
from jbt.plan import plan_run
from jbt.results import RouteSpec
from jbt.strategies import Strategy

from .kit import T0, M, random_trader, random_walk, result_signature

JBT = Path(__file__).resolve().parents[2] / "jbt"


class EmaCrossHp(Strategy):
    """An EMA cross with tunable periods, a stop-loss and a take-profit."""

    def hyperparameters(self):
        return [
            {"name": "fast", "type": int, "min": 2, "max": 30, "default": 5},
            {"name": "slow", "type": int, "min": 3, "max": 60, "default": 20},
            {"name": "stop", "type": float, "min": 0.001, "max": 0.05, "default": 0.01},
        ]

    def should_long(self):
        f = ta.ema(self.candles, self.hp["fast"], sequential=True)
        s = ta.ema(self.candles, self.hp["slow"], sequential=True)
        return ta.crossed(f, s, direction="above")

    def should_short(self):
        f = ta.ema(self.candles, self.hp["fast"], sequential=True)
        s = ta.ema(self.candles, self.hp["slow"], sequential=True)
        return ta.crossed(f, s, direction="below")

    def _size(self):
        return self.available_margin * 0.3 / self.price

    def go_long(self):
        qty = self._size()
        self.buy = qty, self.price
        self.stop_loss = qty, self.price * (1 - self.hp["stop"])
        self.take_profit = qty, self.price * (1 + 2 * self.hp["stop"])

    def go_short(self):
        qty = self._size()
        self.sell = qty, self.price
        self.stop_loss = qty, self.price * (1 + self.hp["stop"])
        self.take_profit = qty, self.price * (1 - 2 * self.hp["stop"])

    def update_position(self):
        f = ta.ema(self.candles, self.hp["fast"], sequential=True)
        s = ta.ema(self.candles, self.hp["slow"], sequential=True)
        if ta.crossed(f, s):
            self.liquidate()


def _seeded_trader(name: str) -> type:
    """kit.random_trader with its seed as a hyperparameter."""
    base = random_trader(0, name)

    class Seeded(base):
        def hyperparameters(self):
            return [{"name": "seed", "type": int, "min": 0, "max": 10**6, "default": 1}]

        def setUp(self):
            self.rng = random.Random(self.hp["seed"])

    Seeded.__name__ = name
    return Seeded


def _setup():
    cfg = Config(backtest=BacktestConfig(
        starting_balance=5000.0, fee=0.001, maker_fee=0.0002, slippage=0.0005,
        type="futures", leverage=4.0, warmup_candles=30,
    ))
    candles = {
        ("sim", "BTC-USDT"): random_walk(10 * 60, 11, price=100.0, vol=0.003),
        ("sim", "ETH-USDT"): random_walk(10 * 60, 12, price=20.0, vol=0.004),
    }
    routes = [
        RouteSpec("sim", "BTC-USDT", "5m", "EmaCrossHp"),
        RouteSpec("sim", "BTC-USDT", "15m", "Trader"),
        RouteSpec("sim", "ETH-USDT", "5m", "EmaCrossEth"),
    ]
    eth = type("EmaCrossEth", (EmaCrossHp,), {})
    strategies = {"EmaCrossHp": EmaCrossHp, "Trader": _seeded_trader("Trader"),
                  "EmaCrossEth": eth}
    return cfg, candles, routes, strategies


def _hp(i: int) -> dict:
    rng = random.Random(i)
    fast = rng.randint(2, 12)
    return {
        "EmaCrossHp": {"fast": fast, "slow": fast + rng.randint(1, 30),
                       "stop": rng.choice([0.002, 0.005, 0.01])},
        "Trader": {"seed": rng.randint(0, 10**6)},
        "EmaCrossEth": {"fast": rng.randint(2, 8), "slow": rng.randint(9, 40)},
    }


def _digest(plan) -> str:
    h = hashlib.sha256()
    for bars in plan.arrays():
        h.update(bars.tobytes())
    for d in plan.symbols:
        h.update(d.base.tobytes())
        h.update(np.asarray(d.opens).tobytes())
    return h.hexdigest()


def test_a_plan_run_100_times_equals_100_fresh_runs():
    cfg, candles, routes, strategies = _setup()
    start, end = T0 + 3 * 60 * M, T0 + 10 * 60 * M
    plan = plan_run(cfg, routes, candles, "1m", start, end)
    before = _digest(plan)
    kinds = set()
    for i in range(100):
        hp = _hp(i)
        fresh = run_backtest(cfg, routes, candles, "1m", strategies, start, end,
                             hyperparameters=hp)
        reused = run_plan(plan, strategies, hyperparameters=hp)
        assert result_signature(reused) == result_signature(fresh), f"run {i}: {hp}"
        assert reused.config == fresh.config
        assert reused.config["hyperparameters"]["Trader"] == hp["Trader"]
        kinds |= {(o.type, o.role) for o in reused.orders if o.status == "filled"}
    # the runs traded every way the sandbox fills, and the plan did not change
    assert {("market", "entry"), ("limit", "entry"), ("stop", "entry"), ("stop", "stop-loss"),
            ("limit", "take-profit")} <= kinds
    assert _digest(plan) == before
    assert all(not bars.flags.writeable for bars in plan.arrays())


def test_one_plan_runs_in_several_threads_at_once():
    cfg, candles, routes, strategies = _setup()
    plan = plan_run(cfg, routes, candles, "1m", T0 + 3 * 60 * M, T0 + 10 * 60 * M)
    alone = {i: result_signature(run_plan(plan, strategies, hyperparameters=_hp(i)))
             for i in range(4)}
    got: dict = {}
    errors: list = []
    barrier = threading.Barrier(4)

    def work(i):
        try:
            barrier.wait()
            got[i] = result_signature(run_plan(plan, strategies, hyperparameters=_hp(i)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == alone


# ------------------------------------------------------------------ one bar array per symbol+tf


def _counting_kernel(calls: list):
    def _closes_mean(candles, period):
        calls.append(len(candles))
        return ta.sma(candles, period, sequential=True)

    return _closes_mean


def test_routes_of_one_symbol_and_timeframe_share_one_array_and_its_indicator_cache():
    computed: list = []
    kernel = _counting_kernel(computed)
    seen: dict[str, list] = {}

    def strategy(name):
        class Watch(Strategy):
            def before(self):
                value = dispatch(kernel, self.candles, False, 10)
                # equal to a fresh computation on the closed candles alone
                assert value == pytest.approx(self.candles[-10:, 2].mean(), rel=1e-12)
                seen.setdefault(name, []).append(id(self.candles.base))

        Watch.__name__ = name
        return Watch

    names = ["A", "B", "C", "D"]
    routes = [RouteSpec("sim", "BTC-USDT", "1h", n) for n in names]
    routes.append(RouteSpec("sim", "BTC-USDT", "4h", "E"))
    data = random_walk(3 * 24 * 60, 3)
    cfg = Config(backtest=BacktestConfig(warmup_candles=12))
    plan = plan_run(cfg, routes, {("sim", "BTC-USDT"): data}, "1m", T0 + 2 * 24 * 60 * M,
                    T0 + 3 * 24 * 60 * M)
    assert len(plan.arrays()) == 2  # one 1h array for A..D, one 4h array for E
    run_plan(plan, {n: strategy(n) for n in [*names, "E"]})
    # every route was called every bar of its timeframe; all four 1h routes read the same
    # array, and the kernel ran once per array: every other call was a cache hit
    assert [len(seen[n]) for n in names] == [24] * 4 and len(seen["E"]) == 6
    assert len({x for n in names for x in seen[n]}) == 1
    assert seen["A"][0] != seen["E"][0]
    assert len(computed) == 2


def test_four_routes_of_one_symbol_compute_each_indicator_once():
    """With ta.ema, through the registry the engine opens: one series per (array, args)."""
    from jbt.indicators import _cache

    registries = []

    def strategy(name):
        class Ema(Strategy):
            def before(self):
                ta.ema(self.candles, 8)
                ta.ema(self.candles, 8, sequential=True)
                registries.append(_cache._RUNS.get())

        Ema.__name__ = name
        return Ema

    names = ["A", "B", "C", "D"]
    data = random_walk(2 * 24 * 60, 4)
    run_backtest(Config(backtest=BacktestConfig(warmup_candles=10)),
                 [RouteSpec("sim", "BTC-USDT", "1h", n) for n in names],
                 {("sim", "BTC-USDT"): data}, "1m", {n: strategy(n) for n in names},
                 T0 + 24 * 60 * M, T0 + 2 * 24 * 60 * M)
    assert len(registries) == 4 * 24 and len({id(r) for r in registries}) == 1
    (entry,) = registries[0].entries.values()
    assert [key[1] for key in entry.series] == [(8, "close")]


def test_a_reused_plan_shows_the_same_candles_from_the_views_it_keeps(monkeypatch):
    """From its second run a plan keeps each route array's prefix views (bars[:n]) and later
    runs show them as self.candles: the same values, read-only, still cache hits, and the same
    results as fresh runs, also for the arrays left without views once the plan keeps
    PREFIXES_KEPT views."""
    import jbt.plan as plan_module

    shown: list = []

    def strategy(name):
        class Look(EmaCrossHp):
            def before(self):
                c = self.candles
                assert not c.flags.writeable and c.base is not None
                shown.append((name, self.time, c.shape, c[:, 0].tolist()[-3:],
                              float(c[:, 2].sum())))

        Look.__name__ = name
        return Look

    cfg, candles, _routes, _ = _setup()
    # A and B share one 5m array, C has its own 15m one, D trades ETH at 5m
    routes = [RouteSpec("sim", "BTC-USDT", "5m", "A"), RouteSpec("sim", "BTC-USDT", "5m", "B"),
              RouteSpec("sim", "BTC-USDT", "15m", "C"), RouteSpec("sim", "ETH-USDT", "5m", "D")]
    strategies = {n: strategy(n) for n in "ABCD"}
    hps = [{n: {"fast": 3 + i, "slow": 12 + 2 * i, "stop": 0.005} for n in "ABCD"}
           for i in range(4)]
    start, end = T0 + 3 * 60 * M, T0 + 10 * 60 * M
    fresh = []
    for hp in hps:
        shown.clear()
        fresh.append((result_signature(run_backtest(cfg, routes, candles, "1m", strategies,
                                                    start, end, hyperparameters=hp)),
                      list(shown)))
    for kept in (plan_module.PREFIXES_KEPT, 130):  # all arrays, then only the first one
        monkeypatch.setattr(plan_module, "PREFIXES_KEPT", kept)
        plan = plan_run(cfg, routes, candles, "1m", start, end)
        for i, hp in enumerate(hps):
            shown.clear()
            got = result_signature(run_plan(plan, strategies, hyperparameters=hp))
            assert (got, shown) == fresh[i], (kept, i)
            views = plan.memo.get("prefixes")
            if i == 0:  # the first run keeps none: a one-off run cuts its views as it goes
                assert views is None
                continue
            assert plan.prefixes() is views  # made at the second run, kept since
            a, c, d = (plan.route_plans[j].bars for j in (0, 2, 3))
            assert plan.route_plans[1].bars is a
            expected = [a, c, d] if kept > 130 else [a]
            assert sorted(views) == sorted(id(x) for x in expected)
            for bars in expected:
                assert [v.tolist() for v in views[id(bars)]] == \
                    [bars[:n].tolist() for n in range(len(bars) + 1)]
    # what a reused plan keeps is its own: a result's lists can be changed at will
    one, two = (run_plan(plan, strategies, hyperparameters=hps[0]) for _ in range(2))
    one.equity_time.clear()
    one.equity.clear()
    assert result_signature(two) == fresh[0][0]
    assert result_signature(run_plan(plan, strategies, hyperparameters=hps[0])) == fresh[0][0]


# ------------------------------------------------------------------------- the plan's checks


def _plan(data=None, routes=None, start=T0 + 10 * M, end=T0 + 60 * M, **backtest):
    backtest.setdefault("warmup_candles", 2)
    cfg = Config(backtest=BacktestConfig(**backtest))
    data = random_walk(60, 1) if data is None else data
    routes = [RouteSpec("sim", "BTC-USDT", "5m", "S")] if routes is None else routes
    return plan_run(cfg, routes, {("sim", "BTC-USDT"): data}, "1m", start, end)


def test_plan_checks_routes_and_period():
    with pytest.raises(InputError, match="no routes"):
        _plan(routes=[], start=T0, end=T0 + M)
    route = RouteSpec("sim", "BTC-USDT", "5m", "S")
    with pytest.raises(InputError, match="duplicated route sim:BTC-USDT:5m:S"):
        _plan(routes=[route, route])
    with pytest.raises(InputError, match=r"^start \(2020-01-01 01:00\) must be before end "
                                         r"\(2020-01-01\)$"):
        _plan(start=T0 + 60 * M, end=T0)
    with pytest.raises(InputError, match="timeframe 7m|unknown timeframe"):
        _plan(routes=[RouteSpec("sim", "BTC-USDT", "7m", "S")])
    with pytest.raises(CandlesMissingError, match="no candles given for sim ETH-USDT"):
        _plan(routes=[RouteSpec("sim", "ETH-USDT", "5m", "S")])
    hourly = random_walk(5, 1)
    hourly[:, 0] = T0 + 60 * M * np.arange(5)
    with pytest.raises(InputError, match="timeframe 5m is not a multiple of the base timeframe "
                                         "1h"):
        plan_run(Config(), [route], {("sim", "BTC-USDT"): hourly}, "1h", T0, T0 + 5 * 60 * M)


def test_a_period_left_out_comes_from_the_candles_and_one_given_is_checked_against_them():
    plan = _plan(start=None, end=None, warmup_candles=3)
    # 5m bars from 00:00; three of them closed at 00:15; the end is the candles' end
    assert (plan.start, plan.end) == (T0 + 15 * M, T0 + 60 * M)
    with pytest.raises(CandlesMissingError, match=r"not enough candles stored for the warm-up "
                                                  r".*warmup_candles = 20"):
        _plan(start=None, end=None, warmup_candles=20)
    # a start before the candles: the minutes before them are missing, warm-up included
    with pytest.raises(CandlesMissingError) as err:
        _plan(start=T0 - 60 * M, end=T0 + 30 * M)
    assert str(err.value) == (
        "sim BTC-USDT: 60 1m candles missing between 2019-12-31 23:00 and 2020-01-01 00:00 UTC; "
        "fetch them with: jbt import-candles sim BTC-USDT 2019-12-31T22:50 --end "
        "2020-01-01 (or set missing_candles = \"fill\" in config.toml)"
    )
    # an end after them: said, with what to fetch (filling cannot help)
    for policy in ("refuse", "fill"):
        with pytest.raises(CandlesMissingError) as err:
            _plan(start=T0 + 10 * M, end=T0 + 120 * M, missing_candles=policy)
        assert str(err.value) == (
            "sim BTC-USDT: the stored 1m candles end at 2020-01-01 00:59 UTC, before END "
            "2020-01-01 02:00 UTC; leave END out to stop there, or fetch the rest with: "
            "jbt import-candles sim BTC-USDT 2020-01-01T01:00 --end 2020-01-01T02:00"
        )


def test_missing_candles_are_refused_with_the_import_command_or_filled():
    data = random_walk(60, 2)
    gappy = data[(data[:, 0] < T0 + 20 * M) | (data[:, 0] >= T0 + 25 * M)]
    with pytest.raises(CandlesMissingError) as err:
        _plan(gappy)
    assert str(err.value) == (
        "sim BTC-USDT: 5 1m candles missing between 2020-01-01 00:20 and 2020-01-01 00:25 UTC; "
        "fetch them with: jbt import-candles sim BTC-USDT 2020-01-01T00:20 --end "
        "2020-01-01T00:25 (or set missing_candles = \"fill\" in config.toml)"
    )
    plan = _plan(gappy, missing_candles="fill")
    assert dict(plan.filled) == {"sim:BTC-USDT": 5}
    (sym,) = plan.symbols
    filled = sym.sim[(sym.sim[:, 0] >= T0 + 20 * M) & (sym.sim[:, 0] < T0 + 25 * M)]
    assert filled[:, 1:5].tolist() == [[data[19, 2]] * 4] * 5
    assert filled[:, 5].tolist() == [0] * 5
    # several holes: counted together, from the first to the end of the last
    two = gappy[(gappy[:, 0] < T0 + 40 * M) | (gappy[:, 0] >= T0 + 42 * M)]
    with pytest.raises(CandlesMissingError, match=r"7 1m candles missing between 2020-01-01 "
                                                  r"00:20 and 2020-01-01 00:42"):
        _plan(two)
    shifted = np.delete(data, 29, axis=0)
    shifted[29:, 0] += 1_000  # a missing minute, then candles off the minute grid
    with pytest.raises(CandlesMissingError, match="not one every base timeframe"):
        _plan(shifted)


def test_validation_lives_in_the_plan_only():
    """The period, route and gap messages are written once, in jbt/plan.py."""
    sources = {p: p.read_text(encoding="utf-8") for p in JBT.rglob("*.py")}
    for needle in ("must be before end", "candles missing between", "duplicated route",
                   "not enough candles stored for the warm-up", "must be after START"):
        where = sorted(str(p.relative_to(JBT)) for p, s in sources.items() if needle in s)
        assert where in ([], ["plan.py"]), (needle, where)
    assert len([p for p, s in sources.items() if "candles missing between" in s]) == 1


def test_no_type_ignore_attr_defined_in_the_engine():
    text = (JBT / "engine.py").read_text(encoding="utf-8")
    assert not re.search(r"type:\s*ignore\[attr-defined\]", text)


def test_a_plan_pickles_for_worker_processes():
    import pickle

    cfg, candles, routes, strategies = _setup()
    plan = plan_run(cfg, routes, candles, "1m", T0 + 3 * 60 * M, T0 + 10 * 60 * M)
    copy = pickle.loads(pickle.dumps(plan))
    assert _digest(copy) == _digest(plan)
    assert all(not bars.flags.writeable for bars in copy.arrays())
    assert not copy.symbols[0].sim.flags.writeable and not copy.route_plans[0].bars.flags.writeable
    # routes of one symbol and timeframe still share one array
    assert len(copy.arrays()) == len(plan.arrays())
    for i in (1, 2):
        assert result_signature(run_plan(copy, strategies, hyperparameters=_hp(i))) == \
            result_signature(run_plan(plan, strategies, hyperparameters=_hp(i)))
    data = random_walk(60, 2)
    gappy = data[(data[:, 0] < T0 + 20 * M) | (data[:, 0] >= T0 + 25 * M)]
    filled = _plan(gappy, missing_candles="fill")
    again = pickle.loads(pickle.dumps(filled))
    assert dict(again.filled) == {"sim:BTC-USDT": 5}
    assert again.symbols[0].sim.tolist() == filled.symbols[0].sim.tolist()


@pytest.mark.parametrize("futures", [False, True])
def test_the_equity_curve_is_each_sample_marked_as_it_comes(futures):
    """The curve computed after the loop equals marking the balance and the position at the
    close of the last bar, sample by sample, as a strategy sees them (market orders only, so
    nothing fills between the sample and the strategy's call)."""
    marked: list[float] = []

    class Marker(Strategy):
        def setUp(self):
            self.rng = random.Random(3)

        def before(self):
            if self.index == 0:
                return
            pos = self.position
            close = float(self.candles[-1, 2])
            value = pos.qty * (close - pos.entry_price) if futures else pos.qty * close
            marked.append(self.balance + value if pos.qty else self.balance)

        def should_long(self):
            return self.rng.random() < 0.3

        def should_short(self):
            return futures and self.rng.random() < 0.3

        def go_long(self):
            self.buy = self.available_margin * 0.5 / self.price, self.price

        def go_short(self):
            self.sell = self.available_margin * 0.5 / self.price, self.price

        def update_position(self):
            r = self.rng.random()
            if r < 0.2:
                self.liquidate()
            elif r < 0.4:
                qty = abs(self.position.qty) * 0.3
                if self.position.qty > 0:
                    self.sell = qty, self.price
                else:
                    self.buy = qty, self.price

    cfg = Config(backtest=BacktestConfig(fee=0.001, type="futures" if futures else "spot",
                                         leverage=2.0 if futures else 1.0, warmup_candles=1))
    r = run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", "5m", "Marker")],
                     {("sim", "BTC-USDT"): random_walk(12 * 60, 8)}, "1m", {"Marker": Marker},
                     T0 + 5 * M, T0 + 12 * 60 * M)
    assert len(r.trades) > 10
    assert r.equity[:-1] == marked
    assert r.equity_time[:-1] == [T0 + 10 * M + 5 * M * k for k in range(len(marked))]
