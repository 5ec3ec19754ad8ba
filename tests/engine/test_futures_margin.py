"""Isolated margin as the exchange runs it (issue 15): a position never loses more than its
margin, whatever closes it, and the wallet never goes below 0; mark prices drive liquidations."""

from __future__ import annotations

import pytest

from jbt.metrics import trade_stats

from .kit import T0, M, candles, fills, flat, run, scripted


def _buy_1(s):
    s.buy = 1, s.price


# the issue's reproduction: 1m candles 100 x2, 100/100.2/99.8/100, then an open at 85
REPRO = candles(*flat(100, 2), (100, 100.2, 99.8, 100), (85, 86, 84, 85))


def test_the_issue_reproduction_loses_exactly_the_margin_plus_the_liquidation_fee():
    # buy 1 at 100 at leverage 10: margin 100 / 10 = 10, liquidation price
    # (1*100 - 10) / (1 * (1 - 0.005)) = 90.45, bankruptcy price 100 - 10/1 = 90. The open at
    # 85 gapped through both: liquidated at the open, filled at 90 (not 85), fee 1.25% of 90.
    r = run(scripted(long=_buy_1), REPRO, type="futures", leverage=10, fee=0.001)
    assert fills(r) == [("buy", 1.0, 100.0, pytest.approx(0.1), T0 + M),
                        ("sell", 1.0, 90.0, pytest.approx(1.125), T0 + 3 * M)]
    (t,) = r.trades
    assert t.closed_by == "liquidation"
    assert 1.0 * (t.exit_price - t.entry_price) == -10.0  # exactly the margin
    # -10 (the margin) - 0.1 (entry fee) - 1.125 (liquidation fee)
    assert t.pnl == pytest.approx(-11.225, abs=1e-12)
    assert r.finishing_balance == pytest.approx(10_000 - 11.225, abs=1e-9)
    m = trade_stats(r.trades)
    assert (m["liquidations"], m["fees_paid"], m["funding"]) == (1, pytest.approx(1.225), 0.0)


def test_the_wallet_never_goes_below_zero():
    # a wallet of exactly margin + entry fee: 10 + 0.1. The liquidation takes the margin; the
    # fee of 1.125 finds nothing left to take it from: the wallet ends at 0, not -1.125
    r = run(scripted(long=_buy_1), REPRO, type="futures", leverage=10, fee=0.001,
            starting_balance=10.1)
    assert r.fills[1].price == 90.0 and r.fills[1].fee == pytest.approx(0.0, abs=1e-12)
    assert r.finishing_balance == pytest.approx(0.0, abs=1e-12)
    assert r.finishing_balance >= 0.0
    assert min(r.equity) >= 0.0


def test_a_stop_filled_at_a_gapped_open_loses_no_more_than_the_margin():
    # long 10 @ 100 at leverage 10 (margin 100, bankruptcy 90) with a stop-loss at 95. The open
    # at 85 passed the stop (it fills first, at the open: the worse price) but 85 is beyond
    # the bankruptcy price: the fill is at 90. Taker fee on 10 x 90.
    def go(s):
        s.buy = 10, s.price
        s.stop_loss = 10, 95

    data = candles(*flat(100, 2), (85, 86, 84, 85), *flat(85, 1))
    r = run(scripted(long=go), data, type="futures", leverage=10, fee=0.001)
    assert fills(r)[1] == ("sell", 10.0, 90.0, pytest.approx(0.9), T0 + 2 * M)
    (t,) = r.trades
    assert t.closed_by == "stop-loss"
    assert t.pnl == pytest.approx(-100.0 - 1.0 - 0.9, abs=1e-9)


def test_a_short_stop_gapped_far_above_is_held_to_its_margin():
    # the issue's real-data case in small: a short 10 @ 100 at leverage 2 (margin 500,
    # bankruptcy price 150) with a stop at 110; the price opens at 300. Without the rule the
    # stop would lose 2000 on 500 of margin and the wallet of 600 would end at -1400.
    def go(s):
        s.sell = 10, s.price
        s.stop_loss = 10, 110

    data = candles(*flat(100, 2), (300, 310, 290, 300), *flat(300, 1))
    r = run(scripted(short=go), data, type="futures", leverage=2, fee=0.0,
            starting_balance=600)
    assert fills(r)[1] == ("buy", 10.0, 150.0, 0.0, T0 + 2 * M)
    assert r.trades[0].pnl == -500.0
    assert r.finishing_balance == 100.0


def test_the_end_of_run_close_loses_no_more_than_the_margin():
    # mark candles keep the mark at 100, so the position is never liquidated while the trade
    # price collapses to 80; the end-of-run close at the last close (80) fills at 90
    data = candles(*flat(100, 2), (90, 91, 80, 80), *flat(80, 1))
    mark = candles(*flat(100, 4))
    r = run(scripted(long=_buy_1), data, type="futures", leverage=10, fee=0.0, mark=mark)
    (t,) = r.trades
    assert (t.closed_by, t.exit_price, t.pnl) == ("end-of-run", 90.0, -10.0)


def test_liquidations_follow_the_mark_price_and_fills_the_trade_price():
    # long 10 @ 100 at leverage 10: liquidation price 90.45. Bar 2's trade price wicks to 89
    # but its mark stays above 95: no liquidation. Bar 3's trade price stays at 93 but its mark
    # falls to 90: liquidated (at the bankruptcy price 90).
    def go(s):
        s.buy = 10, s.price

    data = candles(*flat(100, 2), (96, 97, 89, 96), (95, 95, 93, 94), *flat(94, 1))
    mark = candles(*flat(100, 2), (96, 97, 95, 96), (95, 95, 90, 94), *flat(94, 1))
    r = run(scripted(long=go), data, type="futures", leverage=10, fee=0.0, mark=mark,
            liquidation_fee=0.0)
    assert fills(r)[1] == ("sell", 10.0, 90.0, 0.0, T0 + 3 * M)
    assert r.trades[0].closed_by == "liquidation"
    # without the mark candles the wick of bar 2 liquidates it
    r = run(scripted(long=go), data, type="futures", leverage=10, fee=0.0, liquidation_fee=0.0)
    assert fills(r)[1] == ("sell", 10.0, 90.0, 0.0, T0 + 2 * M)


def test_a_mark_gap_liquidates_at_the_open_and_orders_still_fill_at_trade_prices():
    # a take-profit at 103 (a sell limit) is reached on bar 2's trade path (the mark stays
    # put); on another run the mark opens bar 2 at 88, through the liquidation price: the
    # position is liquidated at the open before the trade path can reach the take-profit
    def go(s):
        s.buy = 10, s.price
        s.take_profit = 10, 103

    data = candles(*flat(100, 2), (100, 104, 99, 102), *flat(102, 1))
    calm = candles(*flat(100, 4))
    r = run(scripted(long=go), data, type="futures", leverage=10, fee=0.0, mark=calm)
    assert fills(r)[1] == ("sell", 10.0, 103.0, 0.0, T0 + 2 * M)
    gap = candles(*flat(100, 2), (88, 89, 87, 88), *flat(100, 1))
    r = run(scripted(long=go), data, type="futures", leverage=10, fee=0.0, mark=gap,
            liquidation_fee=0.0)
    assert fills(r)[1] == ("sell", 10.0, 90.0, 0.0, T0 + 2 * M)
    assert r.trades[0].closed_by == "liquidation"


def test_mark_candles_missing_for_some_minutes_use_the_trade_prices_and_are_counted():
    from jbt.config import BacktestConfig, Config
    from jbt.plan import plan_run
    from jbt.results import RouteSpec

    data = candles(*flat(100, 6))
    mark = candles(*flat(100, 6))[[0, 1, 2, 5]]  # minutes 3 and 4 missing
    cfg = Config(backtest=BacktestConfig(type="futures", leverage=2, warmup_candles=1))
    plan = plan_run(cfg, [RouteSpec("sim", "BTC-USDT", "1m", "S")], {("sim", "BTC-USDT"): data},
                    "1m", T0 + M, T0 + 6 * M, mark={("sim", "BTC-USDT"): mark})
    assert plan.mark_filled == {"sim:BTC-USDT": 2}
