"""Audit of the engine around the fills: scaling out of a short, the equity curve, routes
sharing a symbol, warm-up, what setUp and fill hooks can read, and user errors."""

from __future__ import annotations

import sys

import pytest

from jbt.config import BacktestConfig, Config
from jbt.constants import CLOSE
from jbt.engine import run_backtest
from jbt.errors import StrategyError
from jbt.results import RouteSpec
from jbt.routes import load_strategy
from jbt.strategies import Strategy

from .kit import T0, M, candles, fills, flat, random_walk, result_signature, run, scripted
from .projects import write_project

H = 60 * M


def test_short_scaled_out_by_a_partial_take_profit_then_the_stop_loss():
    def go(s):
        s.sell = 2, s.price  # short 2 @ 100
        s.take_profit = 1, 90  # buy limit below
        s.stop_loss = 2, 110  # buy stop above, for what is left

    # bar 2 red: 95 → 96 → 89 (take-profit 1 @ 90) → 91
    # bar 3 green: 91 → 91 → 112 (stop-loss @ 110, only the 1 left: reduce-only) → 111
    data = candles(*flat(100, 2), (95, 96, 89, 91), (91, 112, 91, 111), *flat(111, 1))
    r = run(scripted(short=go), data, type="futures", leverage=2, fee=0.001, maker_fee=0.0005)
    assert fills(r) == [
        ("sell", 2.0, 100.0, pytest.approx(0.2, abs=1e-12), T0 + M),
        ("buy", 1.0, 90.0, pytest.approx(0.045, abs=1e-12), T0 + 2 * M),
        ("buy", 1.0, 110.0, pytest.approx(0.11, abs=1e-12), T0 + 3 * M),
    ]
    (t,) = r.trades
    # size 2, entry 100, exit (90 + 110) / 2 = 100; pnl 10 - 10 - 0.355 fees
    assert (t.side, t.qty, t.entry_price, t.exit_price, t.closed_by) == (
        "short", 2.0, 100.0, 100.0, "stop-loss")
    assert t.fee == pytest.approx(0.355, abs=1e-12)
    assert t.pnl == pytest.approx(-0.355, abs=1e-9)
    assert r.finishing_balance == pytest.approx(9999.645, abs=1e-9)
    # equity at each close: T0+2m wallet 9999.8, short 2 marked at 100 → 9999.8;
    # T0+3m wallet 9999.8 + 10 - 0.045, short 1 marked at 91 (+9) → 10018.755;
    # T0+4m flat 9999.645; the end (T0+5m) 9999.645
    assert r.equity_time == [T0 + 2 * M, T0 + 3 * M, T0 + 4 * M, T0 + 5 * M]
    assert r.equity == pytest.approx([9999.8, 10018.755, 9999.645, 9999.645], abs=1e-9)


def test_spot_equity_is_marked_at_each_bar_close():
    def go(s):
        s.buy = 2, s.price

    data = candles(*flat(100, 2), (100, 106, 100, 105), (105, 111, 104, 110), *flat(110, 1))
    r = run(scripted(long=go), data)
    # 10000 - 200 + 2 * 100, + 2 * 105, + 2 * 110, then closed at 110
    assert r.equity_time == [T0 + 2 * M, T0 + 3 * M, T0 + 4 * M, T0 + 5 * M]
    assert r.equity == [10000.0, 10010.0, 10020.0, 10020.0]


def test_equity_never_marks_a_coarser_base_candle_before_it_has_closed():
    """ETH is stored as 1h candles, BTC as 1m with a 5m route: equity is sampled every 5m and
    the ETH position must be marked at the last 1h close, not the forming hour's close."""

    class Hold(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, self.price

    btc = candles(*flat(100, 4 * 60))
    eth = candles((100, 100, 100, 100), (100, 110, 100, 110), (110, 120, 110, 120),
                  (120, 120, 120, 120), step=H)
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1))
    routes = [RouteSpec("x", "BTC-USDT", "5m", "Idle"), RouteSpec("x", "ETH-USDT", "1h", "Hold")]
    sigs = []
    for fast in (True, False):
        r = run_backtest(cfg, routes, {("x", "BTC-USDT"): btc, ("x", "ETH-USDT"): eth},
                         {("x", "BTC-USDT"): "1m", ("x", "ETH-USDT"): "1h"},
                         {"Idle": Strategy, "Hold": Hold}, T0 + H, T0 + 4 * H, fast_path=fast)
        sigs.append(result_signature(r))
    assert sigs[0] == sigs[1]
    # bought 1 ETH @ 100 at 01:00; samples 01:05 … 03:55 and the end 04:00
    assert r.equity_time == [T0 + H + 5 * M * j for j in range(1, 36)] + [T0 + 4 * H]
    assert r.equity == [10000.0] * 11 + [10010.0] * 12 + [10020.0] * 12 + [10020.0]


def test_two_routes_on_one_symbol_keep_their_pending_orders_apart():
    class A(Strategy):  # long 1 with a stop-loss at 95, held
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, self.price
            self.stop_loss = 1, 95

    class B(Strategy):  # long 3 with its own stop-loss, out at market on its second call
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 3, self.price
            self.stop_loss = 3, 80

        def update_position(self):
            if self.index == 1:
                self.liquidate()

    # both buy @ 100 at 00:01; B sells 3 @ 102 at 00:02 (cancelling only its own stop-loss);
    # bar 3 (red) falls to 94: A's stop-loss sells 1 @ 95
    data = candles(*flat(100, 2), (102, 103, 101, 102), (101, 101, 94, 94.5), *flat(80, 1))
    routes = [RouteSpec("x", "BTC-USDT", "1m", "A"), RouteSpec("x", "BTC-USDT", "1m", "B")]
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1))
    runs = [run_backtest(cfg, routes, {("x", "BTC-USDT"): data}, "1m", {"A": A, "B": B},
                         T0 + M, T0 + 5 * M, fast_path=fast) for fast in (True, False)]
    assert result_signature(runs[0]) == result_signature(runs[1])
    r = runs[0]
    got = [(t.route, t.qty, t.entry_price, t.exit_price, t.exit_time, t.pnl, t.closed_by)
           for t in r.trades]
    assert got == [
        (routes[1].key, 3.0, 100.0, 102.0, T0 + 2 * M, 6.0, "signal"),
        (routes[0].key, 1.0, 100.0, 95.0, T0 + 3 * M, -5.0, "stop-loss"),
    ]
    # B's stop-loss at 80 was cancelled when B went flat; the last bar at 80 fills nothing
    assert [(o.route, o.status) for o in r.orders if o.role == "stop-loss"] == [
        (routes[0].key, "filled"), (routes[1].key, "cancelled")]
    assert r.finishing_balance == 10001.0


def test_one_route_liquidated_leaves_the_other_routes_position_alone():
    class Long10(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 10, self.price

    class Short1(Strategy):
        def should_short(self):
            return self.index == 0

        def go_short(self):
            self.sell = 1, self.price

    # at leverage 10, mm 0.5%: the long's P_liq = 90 / 0.995 = 90.4523; the short's 109.45.
    # bar 2 red: 95 → 96 → 89 liquidates the long; the short stays open to the end at 89.
    data = candles(*flat(100, 2), (95, 96, 89, 89.5), *flat(89, 1))
    routes = [RouteSpec("x", "BTC-USDT", "1m", "L"), RouteSpec("x", "BTC-USDT", "1m", "S")]
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1, type="futures",
                                         leverage=10, maintenance_margin=0.005))
    runs = [run_backtest(cfg, routes, {("x", "BTC-USDT"): data}, "1m",
                         {"L": Long10, "S": Short1}, T0 + M, T0 + 4 * M, fast_path=fast)
            for fast in (True, False)]
    assert result_signature(runs[0]) == result_signature(runs[1])
    r = runs[0]
    # issue 15: the long is liquidated when the path reaches 90.45 but filled at its
    # bankruptcy price 100 - 100/10 = 90 (losing exactly its margin, 100), and pays the
    # liquidation fee (default 1.25%) on 10 * 90: 11.25
    got = [(t.route, t.side, t.exit_time, t.closed_by) for t in r.trades]
    assert got == [(routes[0].key, "long", T0 + 2 * M, "liquidation"),
                   (routes[1].key, "short", T0 + 4 * M, "end-of-run")]
    assert r.trades[0].exit_price == 90.0
    assert r.trades[0].pnl == pytest.approx(10 * (90 - 100) - 11.25, abs=1e-9)
    assert r.trades[1].pnl == 11.0
    assert r.finishing_balance == pytest.approx(10000 + 10 * (90 - 100) - 11.25 + 11, abs=1e-9)


class _Observer(Strategy):
    """Records what setUp and each call can read."""

    log: list = []

    def setUp(self):
        self.log.append(("setUp", self.timeframe, self.time, len(self.candles),
                         int(self.candles[-1, 0]) if len(self.candles) else None))

    def before(self):
        self.log.append(("call", self.timeframe, self.time, len(self.candles),
                         int(self.candles[-1, 0]), self.price))


def test_setup_sees_only_the_bars_closed_at_the_first_clock_time():
    """A 5m route whose first call is at 00:10 must not see the 00:05 bar (closing at 00:10)
    in setUp, which runs at 00:07 when the 1m route starts."""
    log: list = []
    obs = type("Obs", (_Observer,), {"log": log})
    data = random_walk(30, 4)
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=2))
    routes = [RouteSpec("x", "BTC-USDT", "1m", "Obs"), RouteSpec("x", "BTC-USDT", "5m", "Obs5")]
    run_backtest(cfg, routes, {("x", "BTC-USDT"): data}, "1m", {"Obs": obs, "Obs5": obs},
                 T0 + 7 * M, T0 + 30 * M)
    setups = [e for e in log if e[0] == "setUp"]
    # 1m: warm-up bars 00:05 and 00:06; 5m: only the 00:00 bar has closed at 00:07
    assert setups == [("setUp", "1m", T0 + 7 * M, 2, T0 + 6 * M),
                      ("setUp", "5m", T0 + 7 * M, 1, T0)]
    first_5m = next(e for e in log if e[0] == "call" and e[1] == "5m")
    assert first_5m == ("call", "5m", T0 + 10 * M, 2, T0 + 5 * M, float(data[10, 1]))


def test_warm_up_bars_are_history_and_the_first_call_is_at_the_start():
    log: list = []
    obs = type("Obs", (_Observer,), {"log": log})
    data = random_walk(60, 5)
    route = RouteSpec("x", "BTC-USDT", "5m", "Obs")
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=3))
    r = run_backtest(cfg, [route], {("x", "BTC-USDT"): data}, "1m", {"Obs": obs},
                     T0 + 30 * M, T0 + 60 * M)
    calls = [e for e in log if e[0] == "call"]
    # bars 00:15, 00:20, 00:25 are the warm-up; the first call is at 00:30 with them as
    # history and the price the open of the 00:30 candle; then every 5m to 00:55
    assert calls[0] == ("call", "5m", T0 + 30 * M, 3, T0 + 25 * M, float(data[30, 1]))
    assert [e[2] for e in calls] == [T0 + m * M for m in range(30, 60, 5)]
    assert r.extra["warmup_bars"] == {route.key: 3}
    # the 00:25 bar aggregates minutes 25..29
    bar = [T0 + 25 * M, data[25, 1], data[29, CLOSE], data[25:30, 3].max(),
           data[25:30, 4].min(), data[25:30, 5].sum()]
    assert r.equity_time[0] == T0 + 35 * M
    log.clear()

    class Peek(_Observer):
        def before(self):
            self.log.append(self.candles[-1].tolist())

    peek = type("Peek2", (Peek,), {"log": log})
    run_backtest(cfg, [RouteSpec("x", "BTC-USDT", "5m", "Peek2")], {("x", "BTC-USDT"): data},
                 "1m", {"Peek2": peek}, T0 + 30 * M, T0 + 35 * M)
    assert log[1] == pytest.approx(bar, rel=1e-15)


def test_without_stored_history_the_first_call_waits_for_one_closed_bar():
    log: list = []
    obs = type("Obs", (_Observer,), {"log": log})
    data = random_walk(30, 6)
    route = RouteSpec("x", "BTC-USDT", "5m", "Obs")
    r = run_backtest(Config(backtest=BacktestConfig(warmup_candles=50)), [route],
                     {("x", "BTC-USDT"): data}, "1m", {"Obs": obs}, T0, T0 + 30 * M)
    calls = [e for e in log if e[0] == "call"]
    assert calls[0] == ("call", "5m", T0 + 5 * M, 1, T0, float(data[5, 1]))
    assert r.extra["warmup_bars"] == {route.key: 0}


def test_fill_hooks_read_only_what_has_closed_at_the_fill():
    seen = {}

    class Hook(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, 95  # a limit, reached in the 00:07 candle

        def on_open_position(self, order):
            seen["time"], seen["price"] = self.time, self.price
            seen["1m"] = int(self.get_candles("x", "BTC-USDT", "1m")[-1, 0])
            seen["5m"] = int(self.get_candles("x", "BTC-USDT", "5m")[-1, 0])
            seen["1h"] = len(self.get_candles("x", "BTC-USDT", "1h"))
            seen["own"] = int(self.candles[-1, 0])

    # 5m route, called at 00:05; the 00:07 candle falls to 94
    data = candles(*flat(100, 7), (100, 100, 94, 96), *flat(96, 12))
    r = run_backtest(Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1)),
                     [RouteSpec("x", "BTC-USDT", "5m", "Hook")], {("x", "BTC-USDT"): data}, "1m",
                     {"Hook": Hook}, T0 + 5 * M, T0 + 20 * M,
                     extra_candles=[("x", "BTC-USDT", "1m"), ("x", "BTC-USDT", "1h")])
    assert r.fills[0].time == T0 + 7 * M
    # the forming 00:07 candle and the forming 00:05 bar are not visible; no hour has closed
    assert seen == {"time": T0 + 7 * M, "price": 95.0, "1m": T0 + 6 * M, "5m": T0, "1h": 0,
                    "own": T0}


def test_spot_should_short_true_is_a_clear_error():
    class Shorty(Strategy):
        def should_short(self):
            return True

        def go_short(self):
            self.sell = 1, self.price

    with pytest.raises(StrategyError) as err:
        run(Shorty, candles(*flat(100, 3)))
    assert str(err.value) == (
        'should_short() returned True but spot cannot short (set type = "futures" in '
        "config.toml)"
    )


HOOK_BOOM = '''
from jbt.strategies import Strategy


class HookBoom(Strategy):
    def should_long(self):
        return self.index == 0

    def go_long(self):
        self.buy = 1, 95

    def should_cancel_entry(self):
        return False

    def on_open_position(self, order):
        raise ValueError("no " + str(order.fill_price))
'''


def test_an_exception_in_a_fill_hook_names_the_line_and_the_fill_candle_time(tmp_path):
    write_project(tmp_path, routes="", strategies={"HookBoom": HOOK_BOOM})
    cls = load_strategy(tmp_path, "HookBoom")
    data = candles(*flat(100, 7), (100, 100, 94, 96), *flat(96, 4))
    with pytest.raises(StrategyError) as err:
        run(cls, data, timeframe="1m")
    assert str(err.value) == (
        "strategies/HookBoom/__init__.py line 16 at 2020-01-01 00:07 UTC: ValueError: no 95.0"
    )


def test_a_coarse_base_candle_reaches_the_shared_balance_only_once_it_has_closed():
    """ETH stored as 1h candles: a limit filled somewhere inside the 01:00 hour changes the
    balance the 5m BTC route reads at 02:00, not at 01:05 (that would tell it the hour's low)."""
    seen: list = []

    class Watch(Strategy):
        def before(self):
            seen.append((self.time, self.balance))

    class Dip(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, 95  # limit; the 01:00 hour dips to 94

        def should_cancel_entry(self):
            return False

    btc = candles(*flat(100, 3 * 60))
    eth = candles(*flat(100, 1), (100, 101, 94, 100), *flat(100, 1), step=H)
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1))
    routes = [RouteSpec("x", "BTC-USDT", "5m", "Watch"), RouteSpec("x", "ETH-USDT", "1h", "Dip")]
    sigs = []
    for fast in (True, False):
        seen.clear()
        r = run_backtest(cfg, routes, {("x", "BTC-USDT"): btc, ("x", "ETH-USDT"): eth},
                         {("x", "BTC-USDT"): "1m", ("x", "ETH-USDT"): "1h"},
                         {"Watch": Watch, "Dip": Dip}, T0 + H, T0 + 3 * H, fast_path=fast)
        sigs.append(result_signature(r))
        # the fill is stamped with the candle's open time, 01:00
        assert fills(r)[0] == ("buy", 1.0, 95.0, 0.0, T0 + H)
        assert seen[:12] == [(T0 + H + 5 * M * j, 10000.0) for j in range(12)]
        assert seen[12] == (T0 + 2 * H, 9905.0)
    assert sigs[0] == sigs[1]


LAZY = '''
from jbt.strategies import Strategy

from .sizes import QTY


class Lazy(Strategy):
    def should_long(self):
        from .levels import LEVEL  # imported during the run, not when the file is loaded

        return self.index == 0 and self.price < LEVEL

    def go_long(self):
        self.buy = QTY, self.price
'''


def test_strategy_files_stay_untouched_even_where_python_writes_bytecode(tmp_path, monkeypatch):
    """The test environment may set PYTHONDONTWRITEBYTECODE; a user's usually does not."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    write_project(tmp_path, routes="", strategies={"Lazy": LAZY})
    (tmp_path / "strategies" / "Lazy" / "sizes.py").write_text("QTY = 2\n")
    (tmp_path / "strategies" / "Lazy" / "levels.py").write_text("LEVEL = 150\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = run(load_strategy(tmp_path, "Lazy"), candles(*flat(100, 4)))
    assert fills(r)[0] == ("buy", 2.0, 100.0, 0.0, T0 + M)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_setup_runs_at_the_first_call_time_with_that_open_as_the_price():
    seen = []

    class Early(Strategy):
        def setUp(self):
            seen.append((self.time, self.price, len(self.candles)))

    data = random_walk(30, 8)
    # start 00:07: the 5m route is first called at 00:10, when the 00:05 bar has closed
    run_backtest(Config(backtest=BacktestConfig(warmup_candles=5)),
                 [RouteSpec("x", "BTC-USDT", "5m", "Early")], {("x", "BTC-USDT"): data}, "1m",
                 {"Early": Early}, T0 + 7 * M, T0 + 30 * M)
    assert seen == [(T0 + 10 * M, float(data[10, 1]), 2)]
