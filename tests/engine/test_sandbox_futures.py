"""Futures: a short with a take-profit, a leveraged long liquidated (on the path and on a gap)."""

from __future__ import annotations

import pytest

from .kit import T0, M, candles, fills, flat, run, scripted


def test_short_on_futures_with_a_take_profit():
    def go(s):
        s.sell = 1, s.price  # short 1 @ 100
        s.take_profit = 1, 90  # a buy limit below

    # bar 2 is red: open 95 → high 96 → low 89 → close 90, reaching 90 on the way down.
    data = candles(*flat(100, 2), (95, 96, 89, 90), *flat(90, 1))
    r = run(scripted(short=go), data, type="futures", leverage=2, fee=0.001, maker_fee=0.0005)
    # entry fee 100*0.001 = 0.1 (taker); exit @ 90, maker 90*0.0005 = 0.045
    assert fills(r) == [
        ("sell", 1.0, 100.0, pytest.approx(0.1), T0 + M),
        ("buy", 1.0, 90.0, pytest.approx(0.045), T0 + 2 * M),
    ]
    (t,) = r.trades
    # (100 - 90) * 1 - 0.145 = 9.855
    assert (t.side, t.closed_by, t.leverage) == ("short", "take-profit", 2.0)
    assert t.pnl == pytest.approx(9.855, abs=1e-9)
    assert r.finishing_balance == pytest.approx(10009.855, abs=1e-9)


def test_short_is_refused_on_spot():
    from jbt.errors import StrategyError

    def go(s):
        s.sell = 1, s.price

    with pytest.raises(StrategyError, match="spot cannot short"):
        run(scripted(short=go), candles(*flat(100, 3)))


# long 10 @ 100 at leverage 10, maintenance margin 0.5%: margin 10 * 100 / 10 = 100;
# Binance's liquidation price (Q*EP - WB) / (Q * (1 - MMR)) = (1000 - 100) / (10 * 0.995)
# = 90 / 0.995 = 90.4522613..., bankruptcy price EP - WB/Q = 100 - 100/10 = 90.
# (Before issue 15 the liquidation filled at LIQ with the taker fee; it now fills at the
# bankruptcy price, losing exactly the margin, and pays the liquidation fee, 1.25% by default.)
LIQ = 90 / 0.995
BANKRUPT = 90.0
LIQ_FEE = 10 * 90.0 * 0.0125  # 11.25: the default liquidation fee of the notional at 90


def _long_10(s):
    s.buy = 10, s.price


def test_leveraged_long_is_liquidated_at_the_liquidation_price():
    # bar 2 is red: open 95 → high 96 → low 89 crosses 90.45 on the way down.
    data = candles(*flat(100, 2), (95, 96, 89, 90), *flat(90, 1))
    r = run(scripted(long=_long_10), data, type="futures", leverage=10, fee=0.001,
            maintenance_margin=0.005)
    assert fills(r) == [
        ("buy", 10.0, 100.0, pytest.approx(1.0), T0 + M),
        ("sell", 10.0, BANKRUPT, pytest.approx(LIQ_FEE), T0 + 2 * M),
    ]
    (t,) = r.trades
    assert t.closed_by == "liquidation"
    liq_order = [o for o in r.orders if o.role == "liquidation"]
    assert len(liq_order) == 1 and liq_order[0].status == "filled"
    # wallet: -1 (entry fee) + 10 * (90 - 100) (= -100, the margin) - 11.25 = -112.25
    expected = 10000 - 1.0 - 100.0 - 11.25
    assert r.finishing_balance == pytest.approx(expected, abs=1e-9)
    assert t.pnl == pytest.approx(expected - 10000, abs=1e-9)


def test_liquidation_gapped_through_fills_at_the_open():
    data = candles(*flat(100, 2), (88, 89, 87, 88.5))
    r = run(scripted(long=_long_10), data, type="futures", leverage=10, fee=0.001)
    # opens at 88 below 90.45: liquidated at the open, filled at the bankruptcy price 90 (not
    # at 88: the loss is the margin, 100, never more); liquidation fee 11.25: -1 - 100 - 11.25
    assert fills(r)[1] == ("sell", 10.0, BANKRUPT, pytest.approx(LIQ_FEE), T0 + 2 * M)
    assert r.trades[0].closed_by == "liquidation"
    assert r.finishing_balance == pytest.approx(9887.75, abs=1e-9)


def test_futures_entry_without_enough_margin_is_rejected():
    def go(s):
        s.buy = 30, s.price  # 3000 notional at leverage 2 needs 1500 margin + 3 fee

    r = run(scripted(long=go), candles(*flat(100, 3)), type="futures", leverage=2, fee=0.001,
             starting_balance=1000)
    assert [o.status for o in r.orders] == ["rejected"]
    assert r.fills == [] and r.finishing_balance == 1000
    assert len(r.extra["warnings"]) == 1 and "rejected" in r.extra["warnings"][0]


def test_leveraged_short_is_liquidated_on_the_way_up():
    # short 10 @ 100 at leverage 10, mm 0.5%: margin 100; Binance's liquidation price
    # (Q*EP + WB) / (Q * (1 + MMR)) = 1100 / 10.05 = 109.4527...; bankruptcy price
    # EP + WB/Q = 110

    def go(s):
        s.sell = 10, s.price

    # bar 2 is green: open 104 → low 103 → high 111 (through 109.45) → close 110
    data = candles(*flat(100, 2), (104, 111, 103, 110), *flat(110, 1))
    r = run(scripted(short=go), data, type="futures", leverage=10, fee=0.001)
    # filled at 110, liquidation fee 1.25% of 10 * 110 = 13.75
    assert fills(r)[1] == ("buy", 10.0, 110.0, pytest.approx(13.75), T0 + 2 * M)
    assert r.trades[0].closed_by == "liquidation"
    # -1 (entry fee) - 10 * (110 - 100) (the margin) - 13.75
    expected = 10000 - 1.0 - 100.0 - 13.75
    assert r.finishing_balance == pytest.approx(expected, abs=1e-9)
