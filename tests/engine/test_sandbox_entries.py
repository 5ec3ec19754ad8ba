"""Entries: market at the bar's open, limit and stop orders, gaps, slippage and maker/taker fees.

Every expected number is worked out by hand in the comments from the candles written here.
"""

from __future__ import annotations

import pytest

from .kit import T0, M, candles, fills, flat, run, scripted


def test_market_entry_fills_at_the_open_of_the_forming_bar():
    seen = {}

    def go(s):
        seen["price"], seen["last_close_time"] = s.price, s.candles[-1][0]
        seen["n"] = len(s.candles)
        s.buy = 2, s.price

    data = candles((100, 101, 99, 100), (102, 103, 101, 102.5), (102.5, 104, 102, 103))
    r = run(scripted(long=go), data, fee=0.001)
    # Called at T0+1m: the strategy sees bar 0 only and the price is bar 1's open, 102.
    assert seen == {"price": 102.0, "last_close_time": T0, "n": 1}
    # buy 2 @ 102, fee 2*102*0.001 = 0.204; closed at the end at the last close 103,
    # fee 2*103*0.001 = 0.206, at the end of the last candle (T0+3m).
    assert fills(r) == [
        ("buy", 2.0, 102.0, pytest.approx(0.204), T0 + M),
        ("sell", 2.0, 103.0, pytest.approx(0.206), T0 + 3 * M),
    ]
    # 10000 - 204.204 + 205.794 = 10001.59
    assert r.finishing_balance == pytest.approx(10001.59, abs=1e-9)
    (t,) = r.trades
    assert (t.side, t.entry_price, t.exit_price, t.closed_by) == ("long", 102.0, 103.0, "end-of-run")
    assert t.pnl == pytest.approx(1.59, abs=1e-9)
    assert t.fee == pytest.approx(0.41, abs=1e-12)


def test_limit_entry_fills_at_its_price_and_pays_the_maker_fee():
    def go(s):
        s.buy = 1, 98  # below the price 100: a limit

    # bar 1 (low 99) does not reach 98; bar 2 is red (o→h→l→c) and falls through 98.
    data = candles(*flat(100, 1), (100, 101, 99, 100), (99.5, 99.8, 97, 98.5), (98.5, 99, 98, 99))
    r = run(scripted(long=go), data, fee=0.001, maker_fee=0.0002)
    (entry,) = [o for o in r.orders if o.role == "entry"]
    assert (entry.type, entry.status, entry.created_at) == ("limit", "filled", T0 + M)
    # fill 1 @ 98 at bar 2, maker fee 98*0.0002 = 0.0196; end close @ 99, taker fee 0.099
    assert fills(r) == [
        ("buy", 1.0, 98.0, pytest.approx(0.0196), T0 + 2 * M),
        ("sell", 1.0, 99.0, pytest.approx(0.099), T0 + 4 * M),
    ]
    # 10000 - 98.0196 + 98.901 = 10000.8814
    assert r.finishing_balance == pytest.approx(10000.8814, abs=1e-9)


def test_limit_entry_gets_the_better_open_when_the_open_gaps_below_it():
    def go(s):
        s.buy = 1, 98

    data = candles(*flat(100, 2), (96, 97, 95, 96.5))
    r = run(scripted(long=go), data, fee=0.001, maker_fee=0.0002)
    # bar 2 opens at 96, already below the limit 98: filled at the open, maker 96*0.0002
    assert fills(r)[0] == ("buy", 1.0, 96.0, pytest.approx(0.0192), T0 + 2 * M)


def test_stop_entry_fills_at_its_price_when_the_path_rises_to_it():
    def go(s):
        s.buy = 1, 103  # above the price 100: a stop

    # bar 1 tops at 102; bar 2 is green (o→l→h→c) and rises through 103.
    data = candles(*flat(100, 1), (100, 102, 99, 101), (101, 104, 100.5, 103.5))
    r = run(scripted(long=go), data, fee=0.001)
    assert r.orders[0].type == "stop"
    # taker fee 103*0.001 = 0.103
    assert fills(r)[0] == ("buy", 1.0, 103.0, pytest.approx(0.103), T0 + 2 * M)


def test_stop_entry_gapped_through_fills_at_the_worse_open():
    def go(s):
        s.buy = 1, 103

    data = candles(*flat(100, 2), (105, 106, 104, 105.5))
    r = run(scripted(long=go), data, fee=0.001)
    # bar 2 opens at 105, above the stop: filled at the open 105, fee 0.105
    assert fills(r)[0] == ("buy", 1.0, 105.0, pytest.approx(0.105), T0 + 2 * M)


def test_stop_loss_gapped_through_fills_at_the_open():
    def go(s):
        s.buy = 1, s.price
        s.stop_loss = 1, 95

    # entry @ 100 at bar 1 (low 96 keeps the stop); bar 2 opens at 93, under the stop.
    data = candles(*flat(100, 1), (100, 101, 96, 99), (93, 94, 92, 93.5))
    r = run(scripted(long=go), data, fee=0.001)
    assert fills(r) == [
        ("buy", 1.0, 100.0, pytest.approx(0.1), T0 + M),
        ("sell", 1.0, 93.0, pytest.approx(0.093), T0 + 2 * M),
    ]
    (t,) = r.trades
    # -7 - 0.1 - 0.093 = -7.193
    assert (t.closed_by, t.pnl) == ("stop-loss", pytest.approx(-7.193, abs=1e-9))
    assert r.finishing_balance == pytest.approx(10000 - 7.193, abs=1e-9)


def test_slippage_moves_market_fills_and_limits_pay_maker():
    def go(s):
        s.buy = 1, s.price
        s.take_profit = 1, 110

    data = candles(*flat(100, 1), (100, 111, 100, 110.5), *flat(110.5, 1))
    r = run(scripted(long=go), data, slippage=0.01, fee=0.001, maker_fee=0.0002,
            taker_fee=0.0007)
    # market buy @ 100*(1+0.01) = 101, taker 101*0.0007 = 0.0707;
    # take-profit limit @ 110 exactly (no slippage on limits), maker 110*0.0002 = 0.022
    assert fills(r) == [
        ("buy", 1.0, pytest.approx(101.0), pytest.approx(0.0707), T0 + M),
        ("sell", 1.0, 110.0, pytest.approx(0.022), T0 + M),
    ]
    # 10000 - 101.0707 + 109.978 = 10008.9073
    assert r.finishing_balance == pytest.approx(10008.9073, abs=1e-9)


def test_slippage_applies_to_a_triggered_stop_loss():
    def go(s):
        s.buy = 1, s.price
        s.stop_loss = 1, 95

    data = candles(*flat(100, 1), (100, 100, 94, 94.5), *flat(94.5, 1))
    r = run(scripted(long=go), data, slippage=0.01, taker_fee=0.0007, fee=0.001)
    # buy @ 101 (fee 0.0707); stop @ 95 → 95*0.99 = 94.05, fee 94.05*0.0007 = 0.065835
    assert fills(r)[1] == ("sell", 1.0, pytest.approx(94.05), pytest.approx(0.065835), T0 + M)
    # 10000 - 101.0707 + 94.05 - 0.065835 = 9992.913465
    assert r.finishing_balance == pytest.approx(9992.913465, abs=1e-9)
