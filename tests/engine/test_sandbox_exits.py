"""Exits: entry and stop-loss in one candle (both path orders), stop-loss vs take-profit in one
candle, one-cancels-other, scaling in and out. Fees are zero unless a test says otherwise."""

from __future__ import annotations

import pytest

from .kit import T0, M, candles, fills, flat, run, scripted


def test_entry_then_stop_loss_in_one_green_candle():
    def go(s):
        s.buy = 1, 99  # limit below 100
        s.stop_loss = 1, 97

    # green candle: open 100 → low 96 → high 101 → close 100.5. Falling, the entry fills at 99,
    # its stop-loss 97 is placed, and the same fall reaches 97.
    data = candles(*flat(100, 1), (100, 101, 96, 100.5), *flat(100.5, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [("buy", 1.0, 99.0, 0.0, T0 + M), ("sell", 1.0, 97.0, 0.0, T0 + M)]
    assert r.trades[0].closed_by == "stop-loss"
    assert r.finishing_balance == 9998.0


def test_entry_then_stop_loss_in_one_red_candle():
    def go(s):
        s.buy = 1, 102  # stop above 100
        s.stop_loss = 1, 98

    # red candle: open 100 → high 103 → low 97 → close 97.5: entry at 102 on the way up,
    # then the stop-loss at 98 on the way down.
    data = candles(*flat(100, 1), (100, 103, 97, 97.5), *flat(97.5, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [("buy", 1.0, 102.0, 0.0, T0 + M), ("sell", 1.0, 98.0, 0.0, T0 + M)]
    assert r.finishing_balance == 9996.0


def test_a_fill_is_never_followed_by_one_earlier_on_the_path():
    def go(s):
        s.buy = 1, 102
        s.stop_loss = 1, 98

    # green candle: open 100 → low 97 → high 103 → close 102.5. The low comes before the
    # entry (102 on the way up), so the stop-loss at 98 is not hit in this candle.
    data = candles(*flat(100, 1), (100, 103, 97, 102.5), *flat(102.5, 1))
    r = run(scripted(long=go), data)
    # entry @ 102, then closed at the end at 102.5 (end of the last candle, T0+3m)
    assert fills(r) == [("buy", 1.0, 102.0, 0.0, T0 + M), ("sell", 1.0, 102.5, 0.0, T0 + 3 * M)]
    sl = [o for o in r.orders if o.role == "stop-loss"]
    assert [o.status for o in sl] == ["cancelled"]
    assert r.trades[0].closed_by == "end-of-run"
    assert r.finishing_balance == 10000.5


@pytest.mark.parametrize(
    ("close", "exit_price", "closed_by"),
    [
        (101, 95.0, "stop-loss"),  # green: open → low (95 first) → high
        (99, 105.0, "take-profit"),  # red: open → high (105 first) → low
    ],
)
def test_stop_loss_versus_take_profit_in_one_candle(close, exit_price, closed_by):
    def go(s):
        s.buy = 1, s.price
        s.stop_loss = 1, 95
        s.take_profit = 1, 105

    data = candles(*flat(100, 1), (100, 106, 94, close), *flat(close, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [("buy", 1.0, 100.0, 0.0, T0 + M), ("sell", 1.0, exit_price, 0.0, T0 + M)]
    assert r.trades[0].closed_by == closed_by
    assert r.finishing_balance == 10000 - 100 + exit_price


def test_take_profit_cancels_the_stop_loss():
    def go(s):
        s.buy = 1, s.price
        s.stop_loss = 1, 95
        s.take_profit = 1, 105

    # bar 1 reaches 106 (take-profit 105); bar 2 falls to 90, below the cancelled stop.
    data = candles(*flat(100, 1), (100, 106, 99, 105.5), (105, 105, 90, 91))
    r = run(scripted(long=go), data)
    roles = {o.role: o.status for o in r.orders}
    assert roles == {"entry": "filled", "take-profit": "filled", "stop-loss": "cancelled"}
    assert fills(r) == [("buy", 1.0, 100.0, 0.0, T0 + M), ("sell", 1.0, 105.0, 0.0, T0 + M)]
    assert r.finishing_balance == 10005.0


def test_scaling_in_and_out_with_an_average_entry_price():
    seen = {}

    def add(s):
        s.buy = 1, s.price  # second buy at 110

    def reduce(s):
        seen["entry_after_add"] = s.position.entry_price
        seen["qty_after_add"] = s.position.qty
        s.sell = 1, s.price  # sell half at 120

    def close(s):
        seen["qty_after_reduce"] = s.position.qty
        s.sell = 1, s.price  # the rest at 90

    def go(s):
        s.buy = 1, s.price  # 100

    data = candles(*flat(100, 2), *flat(110, 1), *flat(120, 1), *flat(90, 2))
    r = run(scripted(long=go, update={1: add, 2: reduce, 3: close}), data, fee=0.001)
    # average entry (100 + 110) / 2 = 105
    assert seen == {"entry_after_add": 105.0, "qty_after_add": 2.0, "qty_after_reduce": 1.0}
    assert fills(r) == [
        ("buy", 1.0, 100.0, pytest.approx(0.1), T0 + M),
        ("buy", 1.0, 110.0, pytest.approx(0.11), T0 + 2 * M),
        ("sell", 1.0, 120.0, pytest.approx(0.12), T0 + 3 * M),
        ("sell", 1.0, 90.0, pytest.approx(0.09), T0 + 4 * M),
    ]
    (t,) = r.trades
    # one trade: max size 2, entry 105, exit (120 + 90) / 2 = 105, fees 0.42, pnl -0.42
    assert (t.qty, t.entry_price, t.exit_price, t.closed_by) == (2.0, 105.0, 105.0, "signal")
    assert t.fee == pytest.approx(0.42, abs=1e-12)
    assert t.pnl == pytest.approx(-0.42, abs=1e-9)
    # cash: -100.1 - 110.11 + 119.88 + 89.91 = -0.42
    assert r.finishing_balance == pytest.approx(9999.58, abs=1e-9)


def test_partial_take_profit_leaves_the_stop_loss_for_the_rest():
    def go(s):
        s.buy = 2, s.price  # 2 @ 100
        s.stop_loss = 2, 95
        s.take_profit = 1, 105

    # bar 1 reaches 106: the take-profit sells 1 @ 105; the stop-loss stays for what is left.
    # bar 2 falls to 94: the stop-loss (qty 2) sells only the 1 left, @ 95 (reduce-only).
    data = candles(*flat(100, 1), (100, 106, 100, 105.5), (105, 105, 94, 94.5), *flat(94.5, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [
        ("buy", 2.0, 100.0, 0.0, T0 + M),
        ("sell", 1.0, 105.0, 0.0, T0 + M),
        ("sell", 1.0, 95.0, 0.0, T0 + 2 * M),
    ]
    (t,) = r.trades
    # size 2, exit (105 + 95) / 2 = 100, pnl 0
    assert (t.qty, t.exit_price, t.pnl, t.closed_by) == (2.0, 100.0, 0.0, "stop-loss")
    assert r.finishing_balance == 10000.0
