"""The order in which jbt calls a strategy's hooks, as Jesse 3 calls them (``_execute`` and
``_check`` in its Strategy), shown call by call on hand-written candles: the same-bar re-check
after update_position() closes the position (a reversal in one bar), on_cancel, older Jesse's
should_cancel / on_stop_loss / on_take_profit, on_route_* between routes, update_chart,
before_terminate; and the logs and drawings in the result of run_plan itself.

Each run goes through the fast path and the full walk (``kit.run``), which must agree.
``bench/jesse_compare.py`` runs a hook-recording strategy in Jesse 3.5.3 and in jbt over a
month of bars and compares the two sequences of calls.
"""

from __future__ import annotations

import pytest
from engine.kit import T0, M, candles, flat, result_signature, run

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest, run_plan
from jbt.plan import plan_run
from jbt.results import RouteSpec
from jbt.strategies import Strategy

HOOKS = ("before", "should_long", "should_short", "go_long", "go_short", "filters",
         "should_cancel_entry", "update_position", "on_open_position", "on_increased_position",
         "on_reduced_position", "on_close_position", "on_cancel", "after", "update_chart",
         "before_terminate", "terminate")


def paths(strategy: type, data, *records: list, **backtest):
    """Run on the fast path, then walking every candle: the two must record the same hook
    calls (``records``, left as the first run filled them) and decide the same things."""
    fast = run(strategy, data, fast_path=True, **backtest)
    seen = [list(r) for r in records]
    for r in records:
        r.clear()
    walk = run(strategy, data, fast_path=False, **backtest)
    assert [list(r) for r in records] == seen
    assert result_signature(walk) == result_signature(fast)
    for r, s in zip(records, seen, strict=True):
        r[:] = s
    return fast


def recorder(calls: list, *, script: dict, hooks=HOOKS) -> type:
    """A strategy that appends ``(index, hook)`` for each hook in ``hooks`` and does what
    ``script[(index, hook)]`` says (a function of the strategy); a script entry for a should_*
    hook is its answer (False when missing)."""

    def make(name):
        def hook(self, *args):
            calls.append((self.index, name))
            action = script.get((self.index, name))
            if name.startswith("should_"):
                return bool(action(self)) if callable(action) else bool(action)
            if name == "filters":
                return []
            if callable(action):
                action(self)
            return None

        hook.__name__ = name
        return hook

    return type("Recorder", (Strategy,), {name: make(name) for name in hooks})


def market_long(s, sl=None, tp=None):
    s.buy = 1, s.price
    if sl:
        s.stop_loss = 1, sl
    if tp:
        s.take_profit = 1, tp


def market_short(s, sl=None, tp=None):
    s.sell = 1, s.price
    if sl:
        s.stop_loss = 1, sl
    if tp:
        s.take_profit = 1, tp


BAR_END = [("after",), ("update_chart",)]


def seq(index, *hooks):
    return [(index, h) for h in hooks]


# ------------------------------------------------------------------------------ one route


def test_a_bar_the_same_bar_reversal_and_the_end():
    calls: list = []
    seen = []

    def close_long(s):
        seen.append(("update_position", len(s.candles), s.price, s.time))
        s.liquidate()

    def short_now(s):
        # asked again in the same bar, on the same candles and price: nothing after t
        seen.append(("should_short", len(s.candles), s.price, s.time, s.position.qty))
        return True

    Recorder = recorder(calls, script={
        (0, "should_long"): True, (0, "go_long"): market_long,
        (1, "update_position"): close_long,
        (1, "should_short"): short_now, (1, "go_short"): lambda s: market_short(s, tp=95),
    })
    # 00:03 falls to 94: the short's take-profit at 95
    r = paths(Recorder, candles(*flat(100, 3), (100, 100, 94, 96), *flat(96, 2)), calls, seen,
              type="futures")
    assert calls == [
        *seq(0, "before", "should_short", "should_long", "go_long", "filters",
             "on_open_position", "after", "update_chart"),
        # the long closes at market in update_position; the flat route decides again at once
        *seq(1, "before", "update_position", "on_cancel", "on_close_position",
             "should_short", "should_long", "go_short", "filters", "on_open_position",
             "after", "update_chart"),
        *seq(2, "before", "update_position", "after", "update_chart"),
        # the take-profit fills inside the 00:03 candle, between the calls
        *seq(2, "on_cancel", "on_close_position"),
        *seq(3, "before", "should_short", "should_long", "after", "update_chart"),
        *seq(4, "before", "should_short", "should_long", "after", "update_chart"),
        *seq(4, "before_terminate", "terminate"),
    ]
    assert seen == [("update_position", 2, 100.0, T0 + 2 * M),
                    ("should_short", 2, 100.0, T0 + 2 * M, 0.0)]
    long, short = r.trades
    assert (long.side, long.entry_time, long.exit_time, long.closed_by) == (
        "long", T0 + M, T0 + 2 * M, "signal")
    # reversed in the bar the long closed, at the same price
    assert (short.side, short.entry_time, short.entry_price, short.exit_price,
            short.closed_by) == ("short", T0 + 2 * M, 100.0, 95.0, "take-profit")


def test_the_end_before_terminate_then_the_close_then_terminate():
    calls: list = []
    state = []
    Recorder = recorder(calls, script={
        (0, "should_long"): True, (0, "go_long"): market_long,
        (1, "before_terminate"): lambda s: state.append(("before_terminate", s.position.qty,
                                                         s.price, len(s.trades))),
        (1, "terminate"): lambda s: state.append(("terminate", s.position.qty, len(s.trades))),
    })
    r = paths(Recorder, candles(*flat(100, 2), (100, 104, 99, 103)), calls, state)
    assert calls[-5:] == seq(1, "update_chart", "before_terminate", "on_cancel",
                             "on_close_position", "terminate")
    # before_terminate sees the position still open, at the last close; terminate after the
    # end-of-run close
    assert state == [("before_terminate", 1.0, 103.0, 0), ("terminate", 0.0, 1)]
    assert r.trades[0].closed_by == "end-of-run"

    def out_now(s):
        s.liquidate()

    class Leaves(recorder([], script={(0, "should_long"): True, (0, "go_long"): market_long,
                                      (1, "before_terminate"): out_now})):
        pass

    r = run(Leaves, candles(*flat(100, 2), (100, 104, 99, 103)))
    (trade,) = r.trades
    assert (trade.exit_price, trade.closed_by) == (103.0, "signal")


def test_should_cancel_entry_cancels_then_the_route_decides_again_in_the_same_bar():
    calls: list = []
    buys = []

    def limit_long(s):
        s.buy = 1, 90
        s.stop_loss = 1, 80

    def again(s):
        buys.append((s.buy, s.has_long_entry_orders, len(s.entry_orders)))
        return True

    Recorder = recorder(calls, script={
        (0, "should_long"): True, (0, "go_long"): limit_long,
        (1, "should_cancel_entry"): False,
        (2, "should_cancel_entry"): True,
        (2, "should_long"): again, (2, "go_long"): market_long,
    })
    r = paths(Recorder, candles(*flat(100, 5)), calls, buys)
    assert calls == [
        *seq(0, "before", "should_short", "should_long", "go_long", "filters", "after",
             "update_chart"),
        # kept: no entry decision while it waits
        *seq(1, "before", "should_cancel_entry", "after", "update_chart"),
        *seq(2, "before", "should_cancel_entry", "on_cancel", "should_short", "should_long",
             "go_long", "filters", "on_open_position", "after", "update_chart"),
        *seq(3, "before", "update_position", "after", "update_chart"),
        *seq(3, "before_terminate", "on_cancel", "on_close_position", "terminate"),
    ]
    # cancelled and forgotten: self.buy reads None, nothing waits (Jesse's _reset)
    assert buys == [(None, False, 0)]
    assert [(o.type, o.price, o.status) for o in r.orders[:1]] == [("limit", 90.0, "cancelled")]
    assert r.trades[0].entry_time == T0 + 3 * M


def test_older_should_cancel_is_asked_when_should_cancel_entry_is_not_defined():
    asked = []

    class Old(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, 90

        def should_cancel(self):
            asked.append(("should_cancel", self.index))
            return self.index == 2

    r = paths(Old, candles(*flat(100, 5)), asked)
    assert asked == [("should_cancel", 1), ("should_cancel", 2)]
    (order,) = r.orders
    assert (order.status, order.type) == ("cancelled", "limit")

    class Both(Old):
        def should_cancel_entry(self):
            asked.append(("should_cancel_entry", self.index))
            return False

    asked.clear()
    r = paths(Both, candles(*flat(100, 4)), asked)
    # Jesse 3's name wins: should_cancel is never asked, the order waits to the end
    assert asked == [("should_cancel_entry", 1), ("should_cancel_entry", 2)]
    assert r.orders[0].status == "open"


def test_both_should_long_and_should_short_true_goes_long():
    calls: list = []
    Recorder = recorder(calls, script={(0, "should_long"): True, (0, "should_short"): True,
                                       (0, "go_long"): market_long})
    r = paths(Recorder, candles(*flat(100, 3)), calls, type="futures")
    assert calls[:4] == seq(0, "before", "should_short", "should_long", "go_long")
    assert r.trades[0].side == "long"


# ------------------------------------------------------------------------------ older exits


def older_exits(log: list, script: dict) -> type:
    class Older(Strategy):
        def should_long(self):
            return script.get((self.index, "long"), False)

        def should_short(self):
            return script.get((self.index, "short"), False)

        def go_long(self):
            script[(self.index, "go")](self)

        def go_short(self):
            script[(self.index, "go")](self)

        def update_position(self):
            action = script.get((self.index, "update"))
            if action:
                action(self)

        def on_stop_loss(self, order):
            log.append(("on_stop_loss", order.role, order.fill_price))

        def on_take_profit(self, order):
            log.append(("on_take_profit", order.role, order.fill_price))

        def on_cancel(self):
            log.append(("on_cancel",))

        def on_close_position(self, order, trade):
            log.append(("on_close_position", trade.closed_by))

    return Older


def test_on_stop_loss_and_on_take_profit_of_older_jesse():
    log: list = []
    # long at 100 (SL 95, TP 110): 00:02 falls to 94 -> the stop-loss; short at 100 (SL 105,
    # TP 90) at 00:04: 00:05 falls to 89 -> the take-profit
    Older = older_exits(log, {
        (0, "long"): True, (0, "go"): lambda s: market_long(s, 95, 110),
        (3, "short"): True, (3, "go"): lambda s: market_short(s, 105, 90),
    })
    data = candles(*flat(100, 2), (100, 100, 94, 96), (100, 100, 100, 100),
                   (100, 100, 100, 100), (100, 100, 89, 92), *flat(92, 2))
    r = paths(Older, data, log, type="futures")
    assert [t.closed_by for t in r.trades] == ["stop-loss", "take-profit"]
    # after on_cancel (every close cancels the route's orders), before on_close_position
    assert log == [("on_cancel",), ("on_stop_loss", "stop-loss", 95.0),
                   ("on_close_position", "stop-loss"),
                   ("on_cancel",), ("on_take_profit", "take-profit", 90.0),
                   ("on_close_position", "take-profit")]


def test_liquidate_calls_on_take_profit_in_profit_and_on_stop_loss_at_a_loss():
    """Older Jesse's liquidate() placed a take-profit at the price when the position was in
    profit, else a stop-loss: its hook followed. The end-of-run close calls neither."""
    log: list = []
    Older = older_exits(log, {
        (0, "long"): True, (0, "go"): market_long, (1, "update"): lambda s: s.liquidate(),
        (2, "short"): True, (2, "go"): market_short, (3, "update"): lambda s: s.liquidate(),
        (4, "long"): True, (4, "go"): market_long,
    })
    # opens: 100, 104 (long closes +4), 104, 101 (short closes +3, in profit) ... then the
    # third: long at 101, closed at the end
    data = candles((100, 100, 100, 100), (100, 104, 100, 104), (104, 104, 104, 104),
                   (104, 104, 101, 101), (101, 101, 101, 101), (101, 101, 99, 99),
                   (99, 99, 99, 99))
    r = paths(Older, data, log, type="futures")
    assert [(t.side, t.entry_price, t.exit_price, t.closed_by) for t in r.trades] == [
        ("long", 100.0, 104.0, "signal"), ("short", 104.0, 101.0, "signal"),
        ("long", 101.0, 99.0, "end-of-run")]
    assert [x for x in log if x[0] != "on_cancel"] == [
        ("on_take_profit", "exit", 104.0), ("on_close_position", "signal"),
        ("on_take_profit", "exit", 101.0), ("on_close_position", "signal"),
        ("on_close_position", "end-of-run")]

    log.clear()
    losing = older_exits(log, {(0, "long"): True, (0, "go"): market_long,
                               (1, "update"): lambda s: s.liquidate()})
    paths(losing, candles((100, 100, 100, 100), (100, 100, 97, 97), *flat(97, 2)), log,
          type="futures")
    assert log[:3] == [("on_cancel",), ("on_stop_loss", "exit", 97.0),
                       ("on_close_position", "signal")]


# ------------------------------------------------------------------------------ routes


def test_other_routes_hear_on_route_hooks_before_the_routes_own_hook():
    log: list = []

    class A(Strategy):
        def should_long(self):
            return self.index in (0, 5)

        def go_long(self):
            if self.index == 0:
                self.buy = 2, self.price
            else:
                self.buy = 1, self.price * 0.5  # a limit that never fills

        def update_position(self):
            {1: lambda: setattr(self, "buy", (1, self.price)),
             2: lambda: setattr(self, "sell", (1, self.price)),
             3: self.liquidate}.get(self.index, lambda: None)()

        def should_cancel_entry(self):
            return True

        def on_open_position(self, order):
            log.append(("A", "on_open_position"))

        def on_increased_position(self, order):
            log.append(("A", "on_increased_position"))

        def on_reduced_position(self, order):
            log.append(("A", "on_reduced_position"))

        def on_close_position(self, order, trade):
            log.append(("A", "on_close_position"))

        def on_cancel(self):
            log.append(("A", "on_cancel"))

    def heard(name):
        def hook(self, strategy):
            log.append(("B", name, strategy.symbol, self.index))
        return hook

    B = type("B", (Strategy,), {name: heard(name) for name in (
        "on_route_open_position", "on_route_increased_position", "on_route_reduced_position",
        "on_route_close_position", "on_route_canceled", "on_route_stop_loss",
        "on_route_take_profit")})
    config = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1, type="futures"))
    routes = [RouteSpec("sim", "BTC-USDT", "1m", "A"), RouteSpec("sim", "ETH-USDT", "1m", "B")]
    data = {("sim", "BTC-USDT"): candles(*flat(100, 9)),
            ("sim", "ETH-USDT"): candles(*flat(50, 9))}
    run_backtest(config, routes, data, "1m", {"A": A, "B": B}, T0 + M, T0 + 9 * M)
    # B's index: B runs after A in each bar, so during A's call B still has the last one
    assert log == [
        ("B", "on_route_open_position", "BTC-USDT", 0), ("A", "on_open_position"),
        ("B", "on_route_increased_position", "BTC-USDT", 0), ("A", "on_increased_position"),
        ("B", "on_route_reduced_position", "BTC-USDT", 1), ("A", "on_reduced_position"),
        # liquidate() at the entry price: no profit, older Jesse's stop-loss kind of close
        ("B", "on_route_close_position", "BTC-USDT", 2),
        ("B", "on_route_stop_loss", "BTC-USDT", 2),
        ("B", "on_route_canceled", "BTC-USDT", 2), ("A", "on_cancel"), ("A", "on_close_position"),
        # the limit of call 5 is cancelled at call 6
        ("B", "on_route_canceled", "BTC-USDT", 5), ("A", "on_cancel"),
    ]


# ------------------------------------------------------------------------------ output


def test_update_chart_draws_each_bar_and_run_plan_returns_the_logs_and_charts():
    class Charted(Strategy):
        def should_long(self):
            return False

        def after(self):
            self.vars["after"] = self.index

        def update_chart(self):
            assert self.vars["after"] == self.index  # after() has run
            self.add_line_to_candle_chart("close", self.close)
            if self.index == 1:
                self.log(f"bar {self.index}")

    config = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1))
    data = candles(*[(p, p, p, p) for p in (10, 11, 12, 13)])
    plan = plan_run(config, [RouteSpec("sim", "BTC-USDT", "1m", "Charted")],
                    {("sim", "BTC-USDT"): data}, "1m", T0 + M, T0 + 4 * M)
    first = run_plan(plan, {"Charted": Charted})
    again = run_plan(plan, {"Charted": Charted})
    key = "sim:BTC-USDT:1m:Charted"
    for result in (first, again):  # each run has its own, none leaks into the next
        assert result.extra["charts"][key]["candle_lines"] == {
            "close": {"color": None, "points": [[T0, 10.0], [T0 + M, 11.0], [T0 + 2 * M, 12.0]]}}
        assert result.extra["logs"] == [
            {"time": T0 + 2 * M, "route": key, "level": "info", "message": "bar 1"}]


@pytest.mark.parametrize("fast", [True, False])
def test_a_reversal_in_one_bar_is_the_same_on_both_paths(fast):
    """Liquidate-and-reverse every third bar on seeded candles with gaps: the walk and the fast
    path give the same trades, and each reversal opens where the previous trade closed."""
    from engine.kit import random_walk

    class Flip(Strategy):
        def should_long(self):
            return self.index % 6 < 3

        def should_short(self):
            return self.index % 6 >= 3

        def go_long(self):
            self.buy = 1, self.price
            self.stop_loss = 1, self.price * 0.99

        def go_short(self):
            self.sell = 1, self.price
            self.stop_loss = 1, self.price * 1.01

        def update_position(self):
            if self.index % 3 == 0:
                self.liquidate()

    data = random_walk(600, 11)
    r = run(Flip, data, type="futures", fee=0.001, fast_path=fast)
    both = run(Flip, data, type="futures", fee=0.001)  # asserts fast == walk
    assert [(t.entry_time, t.exit_time, t.qty) for t in r.trades] == \
        [(t.entry_time, t.exit_time, t.qty) for t in both.trades]
    signals = [t for t in r.trades if t.closed_by == "signal"]
    assert len(signals) > 20
    follows = {t.entry_time: t for t in r.trades}
    for t in signals:
        nxt = follows.get(t.exit_time)
        assert nxt is not None and nxt.side != t.side and nxt.entry_price == t.exit_price
