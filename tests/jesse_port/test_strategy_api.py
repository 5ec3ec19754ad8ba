"""Jesse's strategy names in jbt, each shown by what it returns or does (Done-means 3 and 5):
cached, capital, log, increased_count / reduced_count, average_* prices, signed order
quantities, routes and selectors, the chart helpers, the other read-only names, and the one-line
message for a Jesse name jbt does not have."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from engine.kit import T0, M, candles, flat, run

from jbt import helpers as jh
from jbt.config import BacktestConfig, Config
from jbt.engine import run_backtest
from jbt.errors import StrategyError
from jbt.results import RouteSpec
from jbt.services.selectors import get_all_trading_routes, get_position
from jbt.strategies import Strategy, cached
from jbt.strategies._jesse_compat import JesseImportError, JesseNameError


def once(strategy, data, **kw):
    """One run (fast path); the strategies' logs and drawings are in the result."""
    return run(strategy, data, fast_path=True, **kw)


# ------------------------------------------------------------------------------ cached


def test_cached_computes_once_per_bar_and_again_on_the_next():
    calls = []

    class Cached(Strategy):
        @property
        @cached
        def expensive(self):
            calls.append(self.index)
            return self.close * 2

        @cached
        def scaled(self, k, offset=0):
            calls.append(("scaled", self.index, k, offset))
            return self.close * k + offset

        def before(self):
            self.seen = (self.expensive, self.expensive, self.scaled(3), self.scaled(3),
                         self.scaled(3, offset=1), self.scaled([1]) if False else None)

        def should_long(self):
            return self.expensive < 0

    data = candles(*[(p, p, p, p) for p in (100, 101, 102, 103)])
    once(Cached, data)
    assert calls == [0, ("scaled", 0, 3, 0), ("scaled", 0, 3, 1),
                     1, ("scaled", 1, 3, 0), ("scaled", 1, 3, 1),
                     2, ("scaled", 2, 3, 0), ("scaled", 2, 3, 1)]


def test_cached_with_an_unhashable_argument_still_answers():
    class Unhashable(Strategy):
        @cached
        def total(self, values):
            return sum(values)

        def should_long(self):
            assert self.total([1, 2]) == 3
            return False

    once(Unhashable, candles(*flat(100, 3)))


# ------------------------------------------------------------------------------ balance, log


def test_capital_log_and_leveraged_margin():
    seen = {}

    class Logs(Strategy):
        def should_long(self):
            seen["capital"] = self.capital
            seen["leveraged"] = self.leveraged_available_margin
            self.log(f"flat at {self.price:g}")
            if self.index == 1:
                self.log("careful", log_type="error")
            return False

    result = once(Logs, candles(*flat(100, 3)), type="futures", leverage=4)
    assert seen == {"capital": 10_000.0, "leveraged": 40_000.0}
    assert result.extra["logs"] == [
        {"time": T0 + M, "route": "sim:BTC-USDT:1m:Logs", "level": "info", "message": "flat at 100"},
        {"time": T0 + 2 * M, "route": "sim:BTC-USDT:1m:Logs", "level": "info", "message": "flat at 100"},
        {"time": T0 + 2 * M, "route": "sim:BTC-USDT:1m:Logs", "level": "error", "message": "careful"},
    ]
    assert result.to_dict()["logs"] == result.extra["logs"]

    class BadLog(Strategy):
        def should_long(self):
            self.log("x", log_type="warning")

    with pytest.raises(StrategyError, match="log_type must be 'info' or 'error'"):
        once(BadLog, candles(*flat(100, 3)))


# ------------------------------------------------------------------------------ counts, averages


def test_increased_and_reduced_counts_follow_the_position():
    seen = []

    class Scaling(Strategy):
        def should_long(self):
            seen.append(("flat", self.index, self.increased_count, self.reduced_count))
            return self.index == 0

        def go_long(self):
            self.buy = 1, self.price

        def update_position(self):
            seen.append((self.index, self.increased_count, self.reduced_count))
            step = {1: lambda: setattr(self, "buy", (2, self.price)),
                    2: lambda: setattr(self, "sell", (1, self.price)),
                    3: lambda: setattr(self, "sell", (1, self.price)),
                    4: self.liquidate}.get(self.index)
            if step:
                step()

    once(Scaling, candles(*flat(100, 8)))
    # the liquidation at call 4 leaves the route flat: should_long is asked again at once
    assert seen == [("flat", 0, 0, 0), (1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 2, 2),
                    ("flat", 4, 0, 0), ("flat", 5, 0, 0), ("flat", 6, 0, 0)]


def test_average_prices_of_declared_order_lists():
    seen = {}

    class Averages(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = [(1, self.price), (3, self.price - 4)]
            self.stop_loss = [(2, 80), (2, 90)]
            self.take_profit = [(1, 110), (3, 130)]
            seen["in go_long"] = (self.average_entry_price, self.average_stop_loss,
                                  self.average_take_profit, self.has_long_entry_orders,
                                  self.has_short_entry_orders)

        def update_position(self):
            seen.setdefault("first", (self.average_entry_price, self.position.entry_price))
            seen["open"] = (self.average_entry_price, self.position.entry_price,
                            len(self.exit_orders), self.is_close)

    once(Averages, candles(*flat(100, 2), (100, 100, 95, 99), *flat(99, 3)))
    assert seen["in go_long"] == (97.0, 85.0, 125.0, True, False)
    # the declared average is 97 from the start; the position's entry is 100 (the market
    # part) until the limit at 96 fills, then the same 97; two stops and two targets wait
    assert seen["first"] == (97.0, 100.0)
    assert seen["open"] == (97.0, 97.0, 4, False)

    class NoStop(Strategy):
        def should_long(self):
            return self.average_stop_loss > 0

    with pytest.raises(StrategyError, match="self.average_stop_loss: set self.stop_loss first"):
        once(NoStop, candles(*flat(100, 3)))


def test_signed_quantities_as_jesse_passes_them():
    """Jesse strategies pass ``self.position.qty`` (negative for a short); Jesse takes the
    absolute value."""

    class Short(Strategy):
        def should_short(self):
            return self.index == 0

        def go_short(self):
            self.sell = 2, self.price

        def update_position(self):
            if self.index == 1:
                q = self.position.qty
                assert q == -2
                self.stop_loss = q, 105
                self.take_profit = [(q / 2, 95), (q / 2, 90)]

    result = once(Short, candles(*flat(100, 2), (100, 100, 94, 95), (95, 95, 89, 90),
                                 *flat(90, 2)), type="futures")
    exits = [(o.role, o.qty, o.price, o.status) for o in result.orders if o.role != "entry"]
    assert exits == [("stop-loss", 2.0, 105.0, "cancelled"), ("take-profit", 1.0, 95.0, "filled"),
                     ("take-profit", 1.0, 90.0, "filled")]
    assert [t.exit_price for t in result.trades] == [92.5]


def test_last_trade_index_and_trades_count():
    seen = []

    class Twice(Strategy):
        def should_long(self):
            seen.append((self.index, self.trades_count, self.last_trade_index))
            return self.index in (0, 3)

        def go_long(self):
            self.buy = 1, self.price

        def update_position(self):
            self.liquidate()

    once(Twice, candles(*flat(100, 7)))
    # each liquidation (calls 1 and 4) is followed by should_long in the same call, which
    # already counts the trade that just closed
    assert seen == [(0, 0, 0), (1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 2, 4), (5, 2, 4)]


# ------------------------------------------------------------------------------ routes


def two_routes(strategy_a, strategy_b, n=6):
    data = candles(*flat(100, n))
    other = candles(*flat(50, n))
    config = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1, type="futures"))
    routes = [RouteSpec("sim", "BTC-USDT", "1m", strategy_a.__name__),
              RouteSpec("sim", "ETH-USDT", "1m", strategy_b.__name__)]
    return run_backtest(config, routes, {("sim", "BTC-USDT"): data, ("sim", "ETH-USDT"): other},
                        "1m", {strategy_a.__name__: strategy_a, strategy_b.__name__: strategy_b},
                        T0 + M, T0 + n * M, extra_candles=[("sim", "BTC-USDT", "3m")])


def test_routes_selectors_and_the_other_route_names():
    seen = {}

    class First(Strategy):
        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = 1, self.price

    class Second(Strategy):
        def should_long(self):
            if self.index == 1:
                routes = get_all_trading_routes()
                seen["routes"] = [(r.exchange, r.symbol, r.timeframe, r.strategy_name)
                                  for r in routes]
                seen["same"] = [r.strategy for r in routes][1] is self
                seen["data"] = [(r.symbol, r.timeframe) for r in self.data_routes]
                seen["index"] = self.current_route_index
                seen["positions"] = {s: p.qty for s, p in self.all_positions.items()}
                seen["selector"] = get_position("sim", "BTC-USDT").qty
                seen["names"] = (self.name, self.id, self.base_asset, self.quote_asset)
            return False

    two_routes(First, Second)
    assert seen == {
        "routes": [("sim", "BTC-USDT", "1m", "First"), ("sim", "ETH-USDT", "1m", "Second")],
        "same": True, "data": [("BTC-USDT", "3m")], "index": 1,
        "positions": {"BTC-USDT": 1.0, "ETH-USDT": 0.0}, "selector": 1.0,
        "names": ("Second", "sim:ETH-USDT:1m:Second", "ETH", "USDT"),
    }
    with pytest.raises(StrategyError, match="inside a running strategy only"):
        get_all_trading_routes()


def test_bar_and_mode_names():
    seen = {}

    class Names(Strategy):
        def should_long(self):
            if self.index == 1:
                seen.update(volume=self.volume, open_time=self.closed_candle_open_time,
                            current=list(self.current_candle), mark=self.mark_price,
                            spot=self.is_spot_trading, fut=self.is_futures_trading,
                            live=(self.is_live, self.is_livetrading, self.is_papertrading),
                            value=self.portfolio_value, liq=self.liquidation_price)
            return False

    data = candles((10, 12, 9, 11), (11, 13, 10, 12), (12, 14, 11, 13), (13, 13, 13, 13))
    data[:, 5] = [5, 6, 7, 8]
    once(Names, data)
    assert seen == {"volume": 6.0, "open_time": T0 + M, "current": [T0 + M, 11, 12, 13, 10, 6],
                    "mark": 12.0, "spot": True, "fut": False, "live": (False, False, False),
                    "value": 10_000.0, "liq": None}


# ------------------------------------------------------------------------------ charts


def test_chart_helpers_record_points_at_the_closed_bar():
    class Draws(Strategy):
        def should_long(self):
            self.add_line_to_candle_chart("close x2", self.close * 2, color="#ff0000")
            self.add_extra_line_chart("osc", "rsi-ish", float(self.index))
            self.add_horizontal_line_to_candle_chart("level", 100.5 + self.index,
                                                     line_style="dotted")
            self.add_horizontal_line_to_extra_chart("osc", "mid", 50)
            self.add_line_to_candle_chart("nan skipped", float("nan"))
            return False

    result = once(Draws, candles(*[(p, p, p, p) for p in (10, 11, 12, 13)]))
    chart = result.extra["charts"]["sim:BTC-USDT:1m:Draws"]
    assert chart["candle_lines"]["close x2"] == {
        "color": "#ff0000", "points": [[T0, 20.0], [T0 + M, 22.0], [T0 + 2 * M, 24.0]]}
    assert chart["candle_lines"]["nan skipped"]["points"] == []
    assert chart["extra_lines"]["osc"]["rsi-ish"]["points"] == [[T0, 0.0], [T0 + M, 1.0],
                                                               [T0 + 2 * M, 2.0]]
    assert chart["candle_hlines"]["level"] == {"value": 102.5, "color": None,
                                               "line_width": 1.5, "line_style": "dotted"}
    assert chart["extra_hlines"]["osc"]["mid"]["value"] == 50.0

    class BadValue(Strategy):
        def should_long(self):
            self.add_line_to_candle_chart("x", "12")

    with pytest.raises(StrategyError, match=r"add_line_to_candle_chart\('x'\): the value must "
                                            "be an int or a float, got str"):
        once(BadValue, candles(*flat(100, 3)))


def test_chart_helpers_draw_into_the_html_chart():
    from jbt.chart import chart_figure

    class Draws(Strategy):
        def should_long(self):
            self.add_line_to_candle_chart("fast", self.close)
            self.add_extra_line_chart("momentum", "mom", self.close - self.open)
            self.add_horizontal_line_to_extra_chart("momentum", "zero", 0)
            return False

    data = candles(*[(p, p + 1, p - 1, p + 0.5) for p in range(100, 110)])
    result = once(Draws, data)
    fig = chart_figure(result, {"sim:BTC-USDT:1m:Draws": data})
    traces = {(t.meta.get("role"), t.meta.get("chart"), t.meta.get("title")): t
              for t in fig.data if isinstance(t.meta, dict)}
    line = traces[("line", None, "fast")]
    assert list(line.x) == [T0 + i * M for i in range(9)]
    assert list(line.y) == [p + 0.5 for p in range(100, 109)]
    assert list(traces[("line", "momentum", "mom")].y) == [0.5] * 9
    assert list(traces[("hline", "momentum", "zero")].y) == [0, 0]
    titles = [a.text for a in fig.layout.annotations]
    assert "BTC-USDT 1m · momentum" in titles  # the extra chart has a panel of its own


# ------------------------------------------------------------------------------ unknown names


def test_a_jesse_name_jbt_lacks_is_one_line_naming_the_replacement():
    class Funding(Strategy):
        def should_long(self):
            return self.funding_rate > 0

    with pytest.raises(StrategyError) as info:
        once(Funding, candles(*flat(100, 3)))
    message = str(info.value)
    assert message.endswith("`self.funding_rate` is a Jesse name jbt does not have; use nothing: "
                            "jbt settles the funding events itself (imported with --funding)")
    assert "\n" not in message and "test_strategy_api.py line" in message


def test_a_typo_is_named_with_a_suggestion_and_hasattr_still_works():
    class Typo(Strategy):
        def should_long(self):
            assert not hasattr(self, "metricz")
            assert getattr(self, "broker", "none") == "none"
            return self.is_lng

    with pytest.raises(StrategyError, match=r"`self.is_lng` is not a name of Typo or of jbt's "
                                            r"Strategy \(nor a Jesse name\); did you mean "
                                            r"self.is_long\?"):
        once(Typo, candles(*flat(100, 3)))
    assert issubclass(JesseNameError, AttributeError)


def test_an_unknown_name_outside_the_bar_loop_is_the_same_one_line():
    class InInit(Strategy):
        def __init__(self):
            super().__init__()
            self.size = self.funding_rate

    class InHyperparameters(Strategy):
        def hyperparameters(self):
            return [{"name": "fast", "type": int, "default": self.is_lng}]

    with pytest.raises(JesseNameError, match=r"^`self.funding_rate` is a Jesse name jbt does "
                                             r"not have; use nothing"):
        once(InInit, candles(*flat(100, 3)))
    with pytest.raises(JesseNameError, match=r"^`self.is_lng` is not a name of "
                                             r"InHyperparameters .*did you mean self.is_long\?$"):
        once(InHyperparameters, candles(*flat(100, 3)))


def test_a_property_that_fails_inside_keeps_its_own_error():
    class Inner(Strategy):
        @property
        def signal(self):
            return self.candles.no_such_attribute

        def should_long(self):
            return self.signal

    with pytest.raises(StrategyError, match="AttributeError: 'numpy.ndarray' object has no "
                                            "attribute 'no_such_attribute'"):
        once(Inner, candles(*flat(100, 3)))


def test_helpers_jesse_internals_give_one_line():
    with pytest.raises(JesseImportError, match=r"^jesse.helpers.get_config is a Jesse name jbt "
                                               r"does not have; use nothing"):
        from jbt.helpers import get_config  # noqa: F401
    with pytest.raises(ImportError, match="cannot import name 'nothing_at_all'"):
        from jbt.helpers import nothing_at_all  # noqa: F401


# ------------------------------------------------------------------------------ helpers


def test_candle_helpers():
    c = candles(*[(p, p + 2, p - 1, p + 1) for p in range(300)])
    np.testing.assert_array_equal(jh.get_candle_source(c, "hl2"), (c[:, 3] + c[:, 4]) / 2)
    assert jh.slice_candles(c, False).shape == (240, 6)
    assert jh.slice_candles(c, False)[0, 0] == c[60, 0]
    assert jh.slice_candles(c, True) is c or jh.slice_candles(c, True).shape == (300, 6)
    np.testing.assert_array_equal(jh.np_shift(np.arange(5.0), 2, np.nan)[2:], [0, 1, 2])
    np.testing.assert_array_equal(jh.np_shift(np.arange(5.0), -1, 0), [1, 2, 3, 4, 0])
    np.testing.assert_array_equal(jh.np_ffill(np.array([np.nan, 1, np.nan, 3, np.nan])),
                                  [np.nan, 1, 1, 3, 3])
    np.testing.assert_array_equal(jh.same_length(np.zeros(4), np.ones(2)), [np.nan, np.nan, 1, 1])
    assert jh.timestamp_to_time(1609804800000) == "2021-01-05T00:00:00+00:00"
    assert jh.timestamp_to_date(1609804800000) == "2021-01-05"
    assert jh.date_to_timestamp("2015-08-01") == 1438387200000
    assert jh.iso8601_to_timestamp("2021-01-05T00:00:00.000Z") == 1609804800000
    assert jh.timeframe_to_one_minutes("4h") == 240
    assert jh.max_timeframe(["1m", "4h", "15m"]) == "4h"
    assert jh.estimate_PNL(2, 100, 110, "short", 0.001) == pytest.approx(-20 - 0.42)
    assert jh.dashy_symbol("BTCUSDT") == "BTC-USDT" and jh.quote_asset("ETH-BTC") == "BTC"
    assert jh.prepare_qty(3, "sell") == -3 and jh.opposite_side("buy") == "sell"
    assert jh.is_backtesting() and not jh.is_live()


def test_strategies_see_their_custom_indicator_written_with_the_helpers(tmp_path):
    """A Jesse-style custom indicator (get_candle_source + slice_candles) in a helper package
    next to strategies/, imported as in Jesse."""
    from jbt.routes import load_strategy

    (tmp_path / "custom_indicators").mkdir()
    (tmp_path / "custom_indicators" / "__init__.py").write_text(
        "from .mid import mid\n", encoding="utf-8")
    (tmp_path / "custom_indicators" / "mid.py").write_text(
        "from jbt.helpers import get_candle_source, slice_candles\n\n"
        "def mid(candles, sequential=False):\n"
        "    candles = slice_candles(candles, sequential)\n"
        "    res = get_candle_source(candles, 'hl2')\n"
        "    return res if sequential else res[-1]\n", encoding="utf-8")
    (tmp_path / "vars.py").write_text("THRESHOLD = 105\n", encoding="utf-8")
    (tmp_path / "helpers.py").write_text("def half(x):\n    return x / 2\n", encoding="utf-8")
    folder = tmp_path / "strategies" / "UsesHelpers"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        "import custom_indicators as cta\n"
        "from vars import THRESHOLD\n"
        "from helpers import half\n"
        "from jbt.strategies import Strategy\n\n"
        "class UsesHelpers(Strategy):\n"
        "    def should_long(self):\n"
        "        return cta.mid(self.candles) > THRESHOLD\n\n"
        "    def go_long(self):\n"
        "        self.buy = half(2), self.price\n", encoding="utf-8")
    cls = load_strategy(tmp_path, "UsesHelpers")
    assert "custom_indicators" not in sys.modules and "vars" not in sys.modules
    assert "helpers" not in sys.modules
    assert str(tmp_path) not in sys.path
    result = once(cls, candles(*[(p, p + 1, p - 1, p) for p in (100, 104, 106, 110, 110)]))
    # hl2 of bar 2 is 106 > 105; the qty from helpers.half
    assert [(t.entry_time, t.qty) for t in result.trades] == [(T0 + 3 * M, 1.0)]
    assert not list(tmp_path.rglob("__pycache__"))
    (tmp_path / "vars.py").write_text("THRESHOLD = 1000\n", encoding="utf-8")
    again = once(load_strategy(tmp_path, "UsesHelpers"), candles(*flat(200, 4)))
    assert again.trades == []  # the edited helper was read again


# ------------------------------------------------------------------------------ utils, hours


def test_the_rest_of_jesses_utils():
    from jbt import utils

    np.testing.assert_array_equal(utils.streaks(np.array([1, 2, 3, 2, 1, 1, 2, 2, 3, 1.])),
                                  [1, 2, -1, -2, 0, 1, 0, 1, -1])
    alpha, beta = utils.calculate_alpha_beta([1.0, 3.0, 5.5], [0.0, 1.0, 2.0])
    assert (alpha, beta) == pytest.approx((0.916666666666667, 2.25))
    assert utils.combinations_without_repeat(np.arange(3), 2).tolist() == [
        [0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]
    assert utils.timeframe_to_one_minutes("1D") == 1440
    df = utils.numpy_candles_to_dataframe(candles(*flat(100, 2)))
    assert list(df.columns) == ["date", "open", "close", "high", "low", "volume"]
    assert str(df.index[0]) == "2020-01-01 00:00:00"

    class Dumps(Strategy):
        def should_long(self):
            utils.dd("the value")

    with pytest.raises(StrategyError, match=r"line \d+ at .*: stopped by utils.dd\(\)"):
        once(Dumps, candles(*flat(100, 3)))
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(0, 1, 500)) + 100
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        with pytest.raises(Exception, match="needs statsmodels: pip install statsmodels"):
            utils.are_cointegrated(walk, walk * 2 + rng.normal(0, 0.1, 500))
    else:
        assert utils.are_cointegrated(walk, walk * 2 + rng.normal(0, 0.1, 500))


NEW_YORK = {"timezone": "America/New_York", "hours": {"Mon-Fri": ["09:30-12:00", "13:00-16:00"],
                                                      "Sun": "22:00-02:00"},
            "closed": ["2024-07-04"], "overrides": {"2024-07-05": "09:30-13:00"}}


def test_trading_hours_follow_the_local_calendar():
    from jbt import utils

    def utc(text):  # a UTC time as epoch ms
        from datetime import datetime, timezone

        return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)

    inside = utils.is_in_trading_hours
    assert inside(utc("2024-07-08 13:30"), NEW_YORK)  # Monday 09:30 EDT
    assert not inside(utc("2024-07-08 13:29"), NEW_YORK)
    assert not inside(utc("2024-07-08 16:30"), NEW_YORK)  # the lunch break
    assert not inside(utc("2024-07-04 15:00"), NEW_YORK)  # closed
    assert inside(utc("2024-07-05 16:59"), NEW_YORK) and not inside(utc("2024-07-05 17:00"),
                                                                    NEW_YORK)  # half day
    assert inside(utc("2024-07-08 05:59"), NEW_YORK)  # Sunday's window runs past midnight
    assert inside(utc("2024-01-08 14:30"), NEW_YORK) and not inside(utc("2024-01-08 13:30"),
                                                                    NEW_YORK)  # EST
    minutes = utc("2024-07-01 00:00") + 60_000 * np.arange(7 * 24 * 60)
    c = np.column_stack([minutes, np.ones((len(minutes), 5))])
    kept = utils.filter_candles_by_hours(c, NEW_YORK)
    # Mon-Wed 5.5 h, Thursday closed, Friday 3.5 h; the night of Sunday 30 June runs 4 h into
    # Monday (UTC 02:00-06:00); that of Sunday 7 July starts after the week (UTC 02:00 on 8th)
    assert len(kept) == 3 * 330 + 210 + 240
    assert all(inside(int(t), NEW_YORK) for t in kept[::37, 0])
    assert utils.filter_candles_by_hours(c, None) is c
    with pytest.raises(ValueError, match="'hours' key 'Monday'"):
        inside(0, {"timezone": "UTC", "hours": {"Monday": "09:00-17:00"}})
    with pytest.raises(ValueError, match="'timezone' must be an IANA name"):
        inside(0, {"timezone": "Mars/Base", "hours": {"Mon": "09:00-17:00"}})


def test_is_trading_hours_reads_the_bar_that_just_closed():
    seen = []

    class Hours(Strategy):
        def trading_hours(self):
            return {"timezone": "UTC", "hours": {"Wed": "00:01-00:03"}}

        def should_long(self):
            seen.append(self.is_trading_hours)
            return False

    once(Hours, candles(*flat(100, 5)))  # 2020-01-01 was a Wednesday
    assert seen == [False, True, True, False]


def test_every_name_of_jesses_utils_exists():
    from jbt import utils

    jesse_utils = """anchor_timeframe crossed estimate_risk limit_stop_loss numpy_candles_to_dataframe
    qty_to_size risk_to_qty risk_to_size size_to_qty subtract_floats sum_floats
    strictly_increasing strictly_decreasing streaks signal_line kelly_criterion prices_to_returns
    z_score are_cointegrated dd combinations_without_repeat calculate_alpha_beta
    timeframe_to_one_minutes filter_candles_by_hours is_in_trading_hours""".split()
    assert [n for n in jesse_utils if not callable(getattr(utils, n, None))] == []


# ------------------------------------------------------------------------------ more names


def test_vars_shared_vars_margin_and_leverage():
    seen = []

    class A(Strategy):
        def should_long(self):
            self.vars["calls"] = self.vars.get("calls", 0) + 1
            self.shared_vars["from A"] = self.index
            return self.index == 0

        def go_long(self):
            self.buy = 1, self.price

        def update_position(self):
            self.vars["calls"] += 1
            seen.append(("A", self.vars["calls"], self.available_margin, self.leverage,
                         self.is_close, self.is_open))

    class B(Strategy):
        def should_long(self):
            seen.append(("B", dict(self.vars), dict(self.shared_vars)))
            return False

    config = Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1, type="futures",
                                            leverage=2))
    routes = [RouteSpec("sim", "BTC-USDT", "1m", "A"), RouteSpec("sim", "ETH-USDT", "1m", "B")]
    run_backtest(config, routes, {("sim", "BTC-USDT"): candles(*flat(100, 3)),
                                  ("sim", "ETH-USDT"): candles(*flat(50, 3))},
                 "1m", {"A": A, "B": B}, T0 + M, T0 + 3 * M)
    # A's vars are its own and last between bars; shared_vars is one dict for the run; a long
    # of 1 at 100 at leverage 2 holds 50 of margin
    assert seen == [("B", {}, {"from A": 0}), ("A", 2, 9950.0, 2.0, False, True),
                    ("B", {}, {"from A": 0})]


def test_ma_takes_talibs_matypes_0_to_8():
    """0 sma ... 6 kama, 7 mama, 8 t3: the values of TA-Lib's MA for the same type."""
    talib = pytest.importorskip("talib")
    from engine.kit import random_walk

    import jbt.indicators as ta

    c = random_walk(600, 3)
    for matype in range(9):
        got = ta.ma(c, 20, matype, sequential=True)
        expected = talib.MA(c[:, 2], 20, matype)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=str(matype))
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-12, err_msg=str(matype))
