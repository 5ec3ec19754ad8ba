"""Funding on futures, computed by hand: every funding event a position holds through is paid
(long, positive rate) or received, at the event's time and price, through interval changes."""

from __future__ import annotations

import numpy as np
import pytest

from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.errors import CandlesMissingError
from jbt.results import RouteSpec
from jbt.strategies import Strategy

from .kit import T0, M, result_signature

H = 60 * M
KEY = ("sim", "BTC-USDT")


def ramp(hours: int) -> np.ndarray:
    """1m candles from T0: minute k opens and closes at 100 + 0.01·k (flat candles, a step of
    0.01 between them), so the price at any minute is known by heart."""
    k = np.arange(hours * 60, dtype=np.float64)
    price = 100.0 + 0.01 * k
    return np.column_stack([T0 + k * M, price, price, price, price, np.ones_like(k)])


def price_at(t: int) -> float:
    """The open of the 1m candle at ``t``."""
    return 100.0 + 0.01 * ((t - T0) // M)


def holder(side: str, qty: float, open_at: int, close_at: int) -> type:
    """Enters ``qty`` at market at ``open_at`` and closes at market at ``close_at``."""

    class Holder(Strategy):
        def should_long(self):
            return side == "long" and self.time == open_at

        def should_short(self):
            return side == "short" and self.time == open_at

        def go_long(self):
            self.buy = qty, self.price

        def go_short(self):
            self.sell = qty, self.price

        def update_position(self):
            if self.time == close_at:
                self.liquidate()

    return Holder


def run(strategy: type, data: np.ndarray, events_given, *, timeframe: str = "1h", start: int,
        end: int, fast_path: bool | None = None, mark=None, **backtest):
    backtest.setdefault("fee", 0.0)
    backtest.setdefault("warmup_candles", 1)
    cfg = Config(backtest=BacktestConfig(type="futures", leverage=2, **backtest))

    def once(fast: bool):
        return run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", timeframe, "Holder")],
                            {KEY: data}, "1m", {"Holder": strategy}, start, end,
                            fast_path=fast,
                            funding=None if events_given is None else {KEY: events_given},
                            mark=None if mark is None else {KEY: mark})

    if fast_path is not None:
        return once(fast_path)
    fast = once(True)
    assert result_signature(fast) == result_signature(once(False)), "fast path != full walk"
    return fast


# events every 8 hours, then every 4 hours from 24:00: rates (a positive rate: longs pay)
EVENTS = [(8 * H, 0.0001, 8 * H), (16 * H, -0.0002, 8 * H), (24 * H, 0.0003, 8 * H),
          (28 * H, 0.0001, 4 * H), (32 * H, 0.0002, 4 * H), (36 * H, -0.0001, 4 * H),
          (40 * H, 0.0001, 4 * H)]


def events(rows=EVENTS) -> np.ndarray:
    """[time, rate, interval, mark price] rows from T0 (no mark price: NaN)."""
    return np.array([[T0 + t, r, i, np.nan] for t, r, i in rows], dtype=np.float64)


@pytest.mark.parametrize("side", ["long", "short"])
def test_a_position_pays_or_receives_every_funding_event_it_holds_through(side):
    # opened at 01:00, closed at 34:00: held through 08:00, 16:00, 24:00 (8h apart), then
    # 28:00 and 32:00 (4h apart): five events; 36:00 and 40:00 come after the close
    data = ramp(42)
    r = run(holder(side, 2.0, T0 + H, T0 + 34 * H), data, events(), start=T0 + H, end=T0 + 42 * H)
    sign = -1.0 if side == "long" else 1.0  # a positive rate: the long pays, the short receives
    # 2 x the open of the minute at the event x the rate, e.g. at 08:00: 2 x 104.80 x 0.0001
    expected = [(T0 + t, rate, price_at(T0 + t), sign * 2.0 * price_at(T0 + t) * rate)
                for t, rate, _ in EVENTS[:5]]
    assert price_at(T0 + 8 * H) == pytest.approx(104.8)
    got = [(f.time, f.rate, f.price, f.amount) for f in r.funding]
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3] == pytest.approx(e[3], rel=1e-12)
    assert all(f.qty == (2.0 if side == "long" else -2.0) for f in r.funding)
    (t,) = r.trades
    total = sum(e[3] for e in expected)
    assert t.funding == pytest.approx(total, rel=1e-12)
    # the trade's PnL: the price move (entry 100.60 at 01:00, exit 120.40 at 34:00) + funding
    move = 2.0 * (price_at(T0 + 34 * H) - price_at(T0 + H)) * (1 if side == "long" else -1)
    assert t.pnl == pytest.approx(move + total, rel=1e-12)
    assert r.finishing_balance == pytest.approx(10_000 + move + total, rel=1e-12)
    assert t.fee == 0.0  # funding is never counted as a fee


def test_funding_inside_a_daily_bar_is_settled_at_its_own_time():
    # a 1D route: the long opens at the day-1 call (24:00) and closes at the day-2 call
    # (48:00); the 4-hourly events inside the day are settled at their time and price, the
    # one at 48:00 too (it is settled before the strategy closes at that time)
    rows = [(t * H, 0.0001 * (1 + t % 3), 4 * H) for t in range(4, 56, 4)]
    data = ramp(56)
    r = run(holder("long", 1.0, T0 + 24 * H, T0 + 48 * H), data, events(rows), timeframe="1D",
            start=T0 + 24 * H, end=T0 + 56 * H)
    held = [(t, rate) for t, rate, _ in rows if 24 * H < t <= 48 * H]
    assert [f.time for f in r.funding] == [T0 + t for t, _ in held]
    assert len(held) == 6
    for f, (t, rate) in zip(r.funding, held, strict=True):
        assert f.price == price_at(T0 + t)
        assert f.amount == pytest.approx(-1.0 * price_at(T0 + t) * rate, rel=1e-12)


def test_a_position_opened_and_closed_between_two_funding_times_pays_nothing():
    data = ramp(20)
    r = run(holder("long", 1.0, T0 + 9 * H, T0 + 15 * H), data,
            events([(8 * H, 0.001, 8 * H), (16 * H, 0.001, 8 * H)]),
            start=T0 + H, end=T0 + 20 * H)
    (t,) = r.trades
    assert r.funding == [] and t.funding == 0.0
    assert t.pnl == pytest.approx(price_at(T0 + 15 * H) - price_at(T0 + 9 * H), rel=1e-12)


def test_the_mark_price_of_the_event_and_the_mark_candles_value_the_notional():
    data = ramp(20)
    # 08:00 says its own mark price (settled at it); 16:00 does not: the mark candle's open
    rows = events([(8 * H, 0.001, 8 * H), (16 * H, 0.001, 8 * H)])
    rows[0, 3] = 123.0
    mark = data.copy()
    mark[:, 1:5] += 7.0  # the mark 7 above the trade price throughout
    r = run(holder("long", 3.0, T0 + H, T0 + 19 * H), data, rows, mark=mark,
            start=T0 + H, end=T0 + 20 * H)
    assert [(f.time, f.price) for f in r.funding] == [
        (T0 + 8 * H, 123.0), (T0 + 16 * H, price_at(T0 + 16 * H) + 7.0)]
    assert r.funding[0].amount == pytest.approx(-3.0 * 123.0 * 0.001, rel=1e-12)
    assert r.funding[1].amount == pytest.approx(-3.0 * (price_at(T0 + 16 * H) + 7.0) * 0.001,
                                                rel=1e-12)
    # without mark candles, the 16:00 event is settled at the trade candle's open
    r = run(holder("long", 3.0, T0 + H, T0 + 19 * H), data, rows, start=T0 + H, end=T0 + 20 * H)
    assert [f.price for f in r.funding] == [123.0, price_at(T0 + 16 * H)]


def test_paid_funding_comes_out_of_the_margin_and_moves_the_liquidation_price():
    # long 1 @ 100 at leverage 2, no maintenance margin: margin 50, liquidation (= bankruptcy)
    # price 100 - 50 = 50. A funding of 10% at 08:00 on 1 x 100 takes 10 from the margin: 40,
    # so the price falling to 55 at 09:00 liquidates it (at the bankruptcy price 100 - 40 = 60)
    flat = np.full(12 * 60, 100.0)
    flat[9 * 60:] = 55.0
    data = np.column_stack([T0 + np.arange(12 * 60) * M, flat, flat, flat, flat,
                            np.ones(12 * 60)])
    r = run(holder("long", 1.0, T0 + H, T0 + 11 * H), data,
            events([(8 * H, 0.1, 8 * H), (16 * H, 0.0, 8 * H)]), start=T0 + H,
            end=T0 + 12 * H, maintenance_margin=0.0, liquidation_fee=0.0)
    assert [f.amount for f in r.funding] == [pytest.approx(-10.0)]
    (t,) = r.trades
    assert (t.closed_by, t.exit_time, t.exit_price) == ("liquidation", T0 + 9 * H, 60.0)
    # lost: 10 of funding, then the 40 of margin left: the whole margin of 50
    assert t.pnl == pytest.approx(-50.0) and t.funding == pytest.approx(-10.0)
    assert r.finishing_balance == pytest.approx(10_000 - 50.0)


def test_missing_funding_history_is_refused_with_the_import_command():
    data = ramp(42)
    strategy = holder("long", 1.0, T0 + H, T0 + 34 * H)
    gap = [row for row in EVENTS if row[0] != 24 * H]  # 24:00 missing
    with pytest.raises(CandlesMissingError) as err:
        run(strategy, data, events(gap), start=T0 + H, end=T0 + 42 * H)
    msg = str(err.value)
    assert msg == (
        "sim BTC-USDT: funding rates missing between 2020-01-02 00:00 and 2020-01-02 00:00 UTC; "
        "fetch them with: jbt import-candles sim BTC-USDT 2020-01-02 --end "
        "2020-01-02T00:01 --funding (or set funding = \"ignore\" in config.toml's [backtest] "
        "to leave funding out)")
    # history ending before the period does: the rest is missing
    with pytest.raises(CandlesMissingError, match="between 2020-01-02 16:00 and 2020-01-02 "
                       "17:59 UTC"):
        run(strategy, data, events(EVENTS[:-1]), start=T0 + H, end=T0 + 42 * H)
    # funding = "ignore": no funding at all, no complaint
    r = run(strategy, data, events(gap), start=T0 + H, end=T0 + 42 * H, funding="ignore")
    assert r.funding == [] and r.trades[0].funding == 0.0


def test_spot_and_runs_without_funding_pay_none():
    data = ramp(20)
    strategy = holder("long", 1.0, T0 + H, T0 + 19 * H)
    r = run(strategy, data, None, start=T0 + H, end=T0 + 20 * H)
    assert r.funding == []
    cfg = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1))
    r = run_backtest(cfg, [RouteSpec("sim", "BTC-USDT", "1h", "Holder")], {KEY: data}, "1m",
                     {"Holder": strategy}, T0 + H, T0 + 20 * H,
                     funding={KEY: events([(8 * H, 0.01, 8 * H), (16 * H, 0.01, 8 * H)])})
    assert r.funding == [] and r.trades[0].pnl == pytest.approx(price_at(T0 + 19 * H) - 100.6)


def test_a_plan_with_funding_and_marks_pickles_as_what_it_was_made_from():
    import pickle

    from jbt.engine import run_plan
    from jbt.plan import plan_run

    data = ramp(42)
    mark = data.copy()
    mark[:, 1:5] += 3.0
    cfg = Config(backtest=BacktestConfig(type="futures", leverage=2, fee=0.0, warmup_candles=1))
    plan = plan_run(cfg, [RouteSpec("sim", "BTC-USDT", "1h", "Holder")], {KEY: data}, "1m",
                    T0 + H, T0 + 42 * H, funding={KEY: events()}, mark={KEY: mark})
    again = pickle.loads(pickle.dumps(plan))
    strategy = {"Holder": holder("short", 1.0, T0 + H, T0 + 30 * H)}
    first, second = run_plan(plan, strategy), run_plan(again, strategy)
    # held through 08:00, 16:00, 24:00 and 28:00, settled at the mark (the trade price + 3)
    assert len(first.funding) == 4 and first.funding[0].price == price_at(T0 + 8 * H) + 3.0
    assert result_signature(first) == result_signature(second)
