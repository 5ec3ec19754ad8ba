"""Audit of the fill rules: cases that only pass when the price path, the gap rule, slippage
and the maker/taker split are exactly as DESIGN.md says. Each candle is chosen so that a
plausible mistake (a fixed path order, an optimistic stop-loss/take-profit, a stop filled at its
price on a gap, a limit with slippage, the fee of the other side) gives a different number.
Every run is also checked against the full minute-by-minute walk (see ``kit.run``)."""

from __future__ import annotations

import pytest

from .kit import T0, M, candles, fills, flat, run, scripted


def test_red_candle_goes_up_first_so_the_entry_stop_then_its_stop_loss_both_fill():
    def go(s):
        s.buy = 1, 102  # stop above 100
        s.stop_loss = 1, 98

    # red: open 100 → high 103 (entry @ 102) → low 97 (stop-loss @ 98) → close 99.
    # Walked open → low → high → close instead, the low would come before the entry and the
    # close 99 would not reach 98: only the entry would fill.
    data = candles(*flat(100, 1), (100, 103, 97, 99), *flat(99, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [("buy", 1.0, 102.0, 0.0, T0 + M), ("sell", 1.0, 98.0, 0.0, T0 + M)]
    assert r.trades[0].closed_by == "stop-loss"
    assert r.finishing_balance == 9996.0


def test_green_candle_goes_down_first_so_the_limit_entry_then_its_take_profit_both_fill():
    def go(s):
        s.buy = 1, 99  # limit below 100
        s.take_profit = 1, 102

    # green: open 100 → low 97 (entry @ 99) → high 103 (take-profit @ 102) → close 101.
    # Walked open → high → low → close, the high would come before the entry: no exit.
    data = candles(*flat(100, 1), (100, 103, 97, 101), *flat(101, 1))
    r = run(scripted(long=go), data)
    assert fills(r) == [("buy", 1.0, 99.0, 0.0, T0 + M), ("sell", 1.0, 102.0, 0.0, T0 + M)]
    assert r.trades[0].closed_by == "take-profit"
    assert r.finishing_balance == 10003.0


def test_red_candle_take_profit_above_is_not_reached_after_an_entry_on_the_way_down():
    def go(s):
        s.buy = 1, 99
        s.take_profit = 1, 102

    # red: open 100 → high 103 (the take-profit is not placed yet) → low 97 (entry @ 99) →
    # close 98. The high came before the entry, so the take-profit cannot fill in this candle.
    data = candles(*flat(100, 1), (100, 103, 97, 98), *flat(98, 1))
    r = run(scripted(long=go), data)
    # closed at the end at the last close 98, at the end of the last candle (T0+3m)
    assert fills(r) == [("buy", 1.0, 99.0, 0.0, T0 + M), ("sell", 1.0, 98.0, 0.0, T0 + 3 * M)]
    assert [o.status for o in r.orders if o.role == "take-profit"] == ["cancelled"]
    assert r.trades[0].closed_by == "end-of-run"
    assert r.finishing_balance == 9999.0


def test_stop_loss_cancels_the_take_profit():
    def go(s):
        s.buy = 1, s.price
        s.stop_loss = 1, 95
        s.take_profit = 1, 105

    # bar 1 red: 100 → 101 → 94 (stop-loss @ 95) → 96; bar 2 rises to 106, past the
    # cancelled take-profit; bar 3 falls back through 95 (nothing left to fill).
    data = candles(*flat(100, 1), (100, 101, 94, 96), (96, 106, 96, 105), (105, 105, 90, 91))
    r = run(scripted(long=go), data)
    assert {o.role: o.status for o in r.orders} == {
        "entry": "filled", "stop-loss": "filled", "take-profit": "cancelled"}
    assert fills(r) == [("buy", 1.0, 100.0, 0.0, T0 + M), ("sell", 1.0, 95.0, 0.0, T0 + M)]
    assert r.finishing_balance == 9995.0


def test_stop_entry_gapped_through_fills_at_the_open_plus_slippage_and_pays_taker():
    def go(s):
        s.buy = 1, 103  # stop

    data = candles(*flat(100, 2), (105, 106, 104, 105.5), *flat(105.5, 1))
    r = run(scripted(long=go), data, slippage=0.01, maker_fee=0.0002, taker_fee=0.0007)
    # the open 105 gapped through 103: 105 * 1.01 = 106.05, taker 106.05 * 0.0007 = 0.074235
    assert fills(r)[0] == ("buy", 1.0, pytest.approx(106.05, abs=1e-12),
                           pytest.approx(0.074235, abs=1e-12), T0 + 2 * M)


def test_stop_entry_on_the_path_fills_at_its_price_plus_slippage_and_pays_taker():
    def go(s):
        s.buy = 1, 103

    # green: 101 → 100.5 → 104 (through 103) → 103.5
    data = candles(*flat(100, 1), (100, 102, 99, 101), (101, 104, 100.5, 103.5), *flat(103.5, 1))
    r = run(scripted(long=go), data, slippage=0.01, maker_fee=0.0002, taker_fee=0.0007)
    # 103 * 1.01 = 104.03, taker 104.03 * 0.0007 = 0.072821
    assert fills(r)[0] == ("buy", 1.0, pytest.approx(104.03, abs=1e-12),
                           pytest.approx(0.072821, abs=1e-12), T0 + 2 * M)


def test_limit_entry_gapped_through_gets_the_open_without_slippage_and_pays_maker():
    def go(s):
        s.buy = 1, 98  # limit

    data = candles(*flat(100, 2), (96, 97, 95, 96.5), *flat(96.5, 1))
    r = run(scripted(long=go), data, slippage=0.01, maker_fee=0.0002, taker_fee=0.0007)
    # the open 96 is better than 98: filled at 96 exactly, maker 96 * 0.0002 = 0.0192
    assert fills(r)[0] == ("buy", 1.0, 96.0, pytest.approx(0.0192, abs=1e-12), T0 + 2 * M)


def test_sell_limit_exit_gapped_above_gets_the_better_open():
    def go(s):
        s.buy = 1, s.price
        s.take_profit = 1, 105

    # bar 2 opens at 108, above the take-profit 105: sold at the open 108 (the better price)
    data = candles(*flat(100, 2), (108, 109, 107, 108.5), *flat(108.5, 1))
    r = run(scripted(long=go), data, maker_fee=0.0002, taker_fee=0.0007)
    assert fills(r) == [
        ("buy", 1.0, 100.0, pytest.approx(0.07, abs=1e-12), T0 + M),
        ("sell", 1.0, 108.0, pytest.approx(0.0216, abs=1e-12), T0 + 2 * M),
    ]
    # 10000 - 100.07 + 108 - 0.0216 = 10007.9084
    assert r.finishing_balance == pytest.approx(10007.9084, abs=1e-9)


def test_short_stop_loss_gapped_through_fills_at_the_worse_open_plus_slippage():
    def go(s):
        s.sell = 2, s.price  # short 2 @ 100 * (1 - 0.001) = 99.9
        s.stop_loss = 2, 104

    data = candles(*flat(100, 2), (107, 108, 106, 107.5), *flat(107.5, 1))
    r = run(scripted(short=go), data, type="futures", leverage=2, slippage=0.001,
            taker_fee=0.001, maker_fee=0.0)
    # market sell 99.9, fee 0.1998; the stop-loss 104 gapped: open 107 * 1.001 = 107.107,
    # fee 2 * 107.107 * 0.001 = 0.214214
    assert fills(r) == [
        ("sell", 2.0, pytest.approx(99.9, abs=1e-12), pytest.approx(0.1998, abs=1e-12), T0 + M),
        ("buy", 2.0, pytest.approx(107.107, abs=1e-12), pytest.approx(0.214214, abs=1e-12),
         T0 + 2 * M),
    ]
    # 2 * (99.9 - 107.107) - 0.1998 - 0.214214 = -14.828014
    (t,) = r.trades
    assert (t.side, t.closed_by) == ("short", "stop-loss")
    assert t.pnl == pytest.approx(-14.828014, abs=1e-9)
    assert r.finishing_balance == pytest.approx(10000 - 14.828014, abs=1e-9)
