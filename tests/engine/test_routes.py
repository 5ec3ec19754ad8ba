"""routes.py and strategy loading: clear errors, no files written, projects kept apart; missing
candles named with the import command; two strategies on one symbol keep their own positions."""

from __future__ import annotations

import pytest

from jbt.config import BacktestConfig, Config, load_config
from jbt.engine import run_backtest
from jbt.errors import CandlesMissingError, InputError, StrategyError
from jbt.modes import backtest_mode
from jbt.results import RouteSpec
from jbt.routes import available_strategies, load_routes, load_strategy

from .kit import T0, M, candles, flat, random_walk
from .projects import BOOM, BUY_AND_HOLD, store_candles, write_project

ROUTES_OK = """
routes = [
    ("binance", "BTC-USDT", "4h", "Alpha"),
    {"exchange": "binance", "symbol": "BTC-USDT", "timeframe": "1h", "strategy": "Alpha"},
    ("binance", "ETH-USDT", "1d", "Beta"),
]
extra_candles = [("binance", "ETH-USDT", "15m")]
"""


def test_routes_file_is_read_with_tuples_and_dicts(tmp_path):
    write_project(tmp_path, routes=ROUTES_OK, strategies={})
    r = load_routes(tmp_path)
    assert r.routes == [
        RouteSpec("binance", "BTC-USDT", "4h", "Alpha"),
        RouteSpec("binance", "BTC-USDT", "1h", "Alpha"),
        RouteSpec("binance", "ETH-USDT", "1D", "Beta"),
    ]
    assert r.extra_candles == [("binance", "ETH-USDT", "15m")]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ('routes = [("binance", "BTC-USDT", "7m", "A")]', "route 1: unknown timeframe '7m'"),
        ('routes = [("binance", "BTC-USDT", "1h", "A"), ("binance", "BTC-USDT", "1h", "A")]',
         "route 2 (binance, BTC-USDT, 1h, A) duplicates route 1"),
        ('routes = [("binance", "BTC-USDT", "1h")]', "route 1 must be (exchange, symbol"),
        ("routes = []", "'routes' must be a non-empty list"),
        ("x = 1", "defines no 'routes' list"),
        ("routes = [(\n", "SyntaxError"),
    ],
)
def test_bad_routes_files_say_what_is_wrong(tmp_path, routes, message):
    write_project(tmp_path, routes=routes, strategies={})
    with pytest.raises(InputError, match="routes.py") as err:
        load_routes(tmp_path)
    assert message in str(err.value)


def test_unknown_strategy_lists_the_available_ones(tmp_path):
    write_project(tmp_path, routes="", strategies={
        "Alpha": BUY_AND_HOLD.format(name="Alpha", qty=1),
        "Beta": BUY_AND_HOLD.format(name="Beta", qty=1),
    })
    assert available_strategies(tmp_path) == ["Alpha", "Beta"]
    with pytest.raises(InputError, match="unknown strategy 'Gamma'.*available: Alpha, Beta"):
        load_strategy(tmp_path, "Gamma")


def test_strategy_loading_writes_nothing_and_supports_helper_modules(tmp_path):
    write_project(tmp_path, routes="", strategies={"Alpha": """
        from jbt.strategies import Strategy

        from .levels import QTY


        class Alpha(Strategy):
            qty = QTY
        """})
    (tmp_path / "strategies" / "Alpha" / "levels.py").write_text("QTY = 3\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    cls = load_strategy(tmp_path, "Alpha")
    assert cls.qty == 3
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_two_projects_with_one_strategy_name_do_not_collide(tmp_path):
    a = write_project(tmp_path / "a", routes="", strategies={
        "Same": BUY_AND_HOLD.format(name="Same", qty=1)})
    b = write_project(tmp_path / "b", routes="", strategies={
        "Same": BUY_AND_HOLD.format(name="Same", qty=2)})
    ca, cb = load_strategy(a, "Same"), load_strategy(b, "Same")
    assert ca is not cb and ca.__module__ != cb.__module__
    data = candles(*flat(100, 4))
    runs = [run_backtest(Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1)),
                         [RouteSpec("x", "BTC-USDT", "1m", "Same")], {("x", "BTC-USDT"): data},
                         "1m", {"Same": c}, T0 + M, T0 + 4 * M) for c in (ca, cb)]
    assert [r.fills[0].qty for r in runs] == [1.0, 2.0]


def test_a_strategy_exception_names_the_file_line_and_bar_time(tmp_path):
    write_project(tmp_path, routes="", strategies={"Boom": BOOM})
    cls = load_strategy(tmp_path, "Boom")
    data = candles(*flat(100, 10))
    with pytest.raises(StrategyError) as err:
        run_backtest(Config(backtest=BacktestConfig(warmup_candles=1)),
                     [RouteSpec("x", "BTC-USDT", "1m", "Boom")], {("x", "BTC-USDT"): data},
                     "1m", {"Boom": cls}, T0 + M, T0 + 10 * M)
    # the 4th call (index 3) is at 00:04; `return 1 / 0` is line 8 of the file
    assert str(err.value) == (
        "strategies/Boom/__init__.py line 8 at 2020-01-01 00:04 UTC: "
        "ZeroDivisionError: division by zero"
    )


def _project_with_db(tmp_path, config=""):
    write_project(tmp_path, routes='routes = [("binance", "BTC-USDT", "1h", "Alpha")]',
                  strategies={"Alpha": BUY_AND_HOLD.format(name="Alpha", qty=1)}, config=config)
    return f"sqlite:///{tmp_path / 'db.sqlite3'}"


def test_no_candles_names_the_import_command(tmp_path):
    url = _project_with_db(tmp_path, "[backtest]\nwarmup_candles = 0\n")
    from jbt.models import open_database

    open_database(url)
    with pytest.raises(CandlesMissingError) as err:
        backtest_mode.run(load_config(tmp_path), None, T0 + 24 * 60 * M, None,
                          project_dir=tmp_path, save=False)
    assert str(err.value) == (
        "no candles stored for binance BTC-USDT; fetch them with: "
        "jbt import-candles binance BTC-USDT 2020-01-02"
    )


def _gappy(seed=1):
    data = random_walk(6 * 60, seed)
    keep = ~((data[:, 0] >= T0 + 130 * M) & (data[:, 0] < T0 + 150 * M))  # 02:10 .. 02:29
    return data, data[keep]


def test_missing_minutes_inside_the_period_are_refused_with_the_exact_command(tmp_path):
    url = _project_with_db(tmp_path, "[backtest]\nwarmup_candles = 1\n")
    store_candles(url, "binance", "BTC-USDT", _gappy()[1])
    with pytest.raises(CandlesMissingError) as err:
        backtest_mode.run(load_config(tmp_path), None, T0 + 60 * M, T0 + 5 * 60 * M,
                          project_dir=tmp_path, save=False)
    assert str(err.value) == (
        "binance BTC-USDT: 20 1m candles missing between 2020-01-01 02:10 and 2020-01-01 02:30 "
        "UTC; fetch them with: jbt import-candles binance BTC-USDT 2020-01-01T02:10 "
        "--end 2020-01-01T02:30 (or set missing_candles = \"fill\" in config.toml)"
    )


def test_missing_minutes_are_filled_when_the_config_says_so(tmp_path):
    url = _project_with_db(tmp_path, '[backtest]\nwarmup_candles = 1\nmissing_candles = "fill"\n')
    full, gappy = _gappy()
    store_candles(url, "binance", "BTC-USDT", gappy)
    r = backtest_mode.run(load_config(tmp_path), None, T0 + 60 * M, T0 + 5 * 60 * M,
                          project_dir=tmp_path, save=False)
    assert r.extra["filled_candles"] == {"binance:BTC-USDT": 20}
    # bought 1 at the 01:00 open, closed at the 04:59 close: the filled minutes are flat
    assert r.trades[0].entry_price == pytest.approx(full[60, 1])
    assert r.trades[0].exit_price == pytest.approx(full[299, 2])


def test_two_strategies_on_one_symbol_keep_their_own_positions():
    def trader(name, qty, exit_at):
        from jbt.strategies import Strategy

        class T(Strategy):
            def should_long(self):
                return self.index == 0

            def go_long(self):
                self.buy = qty, self.price

            def update_position(self):
                if self.index == exit_at:
                    self.liquidate()

        T.__name__ = name
        return T

    data = candles(*flat(100, 2), *flat(110, 2), *flat(120, 4))
    routes = [RouteSpec("x", "BTC-USDT", "1m", "A"), RouteSpec("x", "BTC-USDT", "1m", "B")]
    r = run_backtest(Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1)), routes,
                     {("x", "BTC-USDT"): data}, "1m",
                     {"A": trader("A", 1, 2), "B": trader("B", 3, 5)}, T0 + M, T0 + 8 * M)
    by_route = {t.route: (t.qty, t.entry_price, t.exit_price, t.pnl) for t in r.trades}
    # A: 1 @ 100 → out at the open of bar 3 (110); B: 3 @ 100 → out at bar 6 (120)
    assert by_route == {routes[0].key: (1.0, 100.0, 110.0, 10.0),
                        routes[1].key: (3.0, 100.0, 120.0, 60.0)}
    # one shared balance: 10000 + 10 + 60
    assert r.finishing_balance == 10070.0


def test_extra_candles_show_closed_bars_only():
    seen = []

    from jbt.strategies import Strategy

    class Reader(Strategy):
        def before(self):
            hourly = self.get_candles("x", "BTC-USDT", "1h")
            seen.append((self.time, int(hourly[-1, 0]) if len(hourly) else None, len(hourly)))

    data = random_walk(4 * 60, 2)
    run_backtest(Config(backtest=BacktestConfig(warmup_candles=4)),
                 [RouteSpec("x", "BTC-USDT", "15m", "Reader")], {("x", "BTC-USDT"): data},
                 "1m", {"Reader": Reader}, T0 + 60 * M, T0 + 4 * 60 * M,
                 extra_candles=[("x", "BTC-USDT", "1h")])
    # at 01:00 the 00:00 hour has closed; at 01:45 still only that one; at 02:00 two
    assert seen[0] == (T0 + 60 * M, T0, 1)
    assert seen[3] == (T0 + 105 * M, T0, 1)
    assert seen[4] == (T0 + 120 * M, T0 + 60 * M, 2)
    with pytest.raises(StrategyError, match="add .*extra_candles"):
        class Bad(Reader):
            def before(self):
                self.get_candles("x", "BTC-USDT", "4h")

        run_backtest(Config(backtest=BacktestConfig(warmup_candles=4)),
                     [RouteSpec("x", "BTC-USDT", "15m", "Bad")], {("x", "BTC-USDT"): data},
                     "1m", {"Bad": Bad}, T0 + 60 * M, T0 + 4 * 60 * M)


def test_hyperparameters_default_and_override():
    from jbt.strategies import Strategy

    class Sized(Strategy):
        def hyperparameters(self):
            return [{"name": "qty", "type": float, "default": 1.0}]

        def should_long(self):
            return self.index == 0

        def go_long(self):
            self.buy = self.hp["qty"], self.price

    data = candles(*flat(100, 3))

    def go(hp=None):
        return run_backtest(Config(backtest=BacktestConfig(fee=0.0, warmup_candles=1)),
                            [RouteSpec("x", "BTC-USDT", "1m", "Sized")],
                            {("x", "BTC-USDT"): data}, "1m", {"Sized": Sized}, T0 + M, T0 + 3 * M,
                            hyperparameters=hp)

    assert go().fills[0].qty == 1.0
    assert go({"Sized": {"qty": 2.5}}).fills[0].qty == 2.5
    with pytest.raises(InputError, match="has no hyperparameter size"):
        go({"Sized": {"size": 1}})
