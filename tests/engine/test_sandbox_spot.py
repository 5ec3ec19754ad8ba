"""Spot: an order that would spend more than the balance is rejected; all-in buys land on 0."""

from __future__ import annotations

import pytest

from .kit import T0, M, candles, flat, run, scripted


def test_market_buy_over_the_balance_is_rejected():
    def go(s):
        s.buy = 20, s.price  # 2000 > 1000

    r = run(scripted(long=go), candles(*flat(100, 3)), starting_balance=1000, fee=0.001)
    (o,) = r.orders
    assert (o.status, o.filled_at, o.fee) == ("rejected", None, 0.0)
    assert r.fills == [] and r.trades == []
    assert r.finishing_balance == 1000
    (w,) = r.extra["warnings"]
    assert "order #1" in w and "rejected" in w and "2002" in w  # cost 2000 + fee 2


def test_limit_buy_over_the_balance_is_rejected_when_it_would_fill():
    def go(s):
        s.buy = 15, 90  # 1350 at 90 > 1000

    data = candles(*flat(100, 2), (95, 96, 89, 90))
    r = run(scripted(long=go, cancel_entry=False), data, starting_balance=1000)
    (o,) = r.orders
    assert (o.type, o.status) == ("limit", "rejected")
    assert r.finishing_balance == 1000
    assert "2020-01-01 00:02 UTC" in r.extra["warnings"][0]


def test_buying_with_all_the_balance_spends_exactly_the_balance():
    seen = []

    def go(s):
        s.buy = s.balance / (s.price * (1 + s.fee_rate)), s.price

    class Watch(scripted(long=go)):
        def after(self):
            seen.append(self.balance)

    data = candles(*flat(100, 1), *flat(103.7, 3))
    r = run(Watch, data, starting_balance=1000, fee=0.001)
    # 1000 / (103.7 * 1.001) coins; the cost with the fee is the whole balance: 0 left
    assert r.fills[0].time == T0 + M and r.fills[0].price == 103.7
    assert seen[0] == 0.0
    assert all(b >= 0 for b in seen)
    # bought and sold at 103.7: 1000 less both fees
    qty = 1000 / (103.7 * 1.001)
    assert r.finishing_balance == pytest.approx(qty * 103.7 * 0.999, rel=1e-12)
