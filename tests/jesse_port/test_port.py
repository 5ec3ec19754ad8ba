"""``jbt port`` on a Jesse project folder written here: only import lines change, helper
packages come along, routes.py is converted, the result backtests with no further edit, a
second run changes nothing, and an existing file is never overwritten (Done-means 4)."""

from __future__ import annotations

import difflib
import json
import textwrap

import pytest
from typer.testing import CliRunner

from jbt.cli import app
from jbt.porting import convert_routes, rewrite_imports

from .data import SAMPLE

STRATEGY = textwrap.dedent("""\
    import numpy as np
    import jesse.indicators as ta
    from jesse import utils
    from jesse.strategies import Strategy, cached
    import jesse.helpers as jh
    from jesse.services.selectors import get_all_trading_routes

    import custom_indicators as cta
    from vars import FAST, SLOW


    class Crossing(Strategy):
        \"\"\"Long and short on a crossing of two custom averages; the 4h trend decides.\"\"\"

        @property
        @cached
        def trend(self):
            daily = self.get_candles(self.exchange, self.symbol, '4h')
            return jh.get_candle_source(daily, 'close')[-1] > ta.sma(daily, 10)

        def should_long(self) -> bool:
            return cta.smooth(self.candles, FAST) > cta.smooth(self.candles, SLOW) and self.trend

        def should_short(self) -> bool:
            return cta.smooth(self.candles, FAST) < cta.smooth(self.candles, SLOW) and not self.trend

        def go_long(self):
            qty = utils.size_to_qty(self.capital * 0.5, self.price, fee_rate=self.fee_rate)
            self.buy = qty, self.price
            self.stop_loss = qty, self.price * 0.97

        def go_short(self):
            qty = utils.size_to_qty(self.capital * 0.5, self.price, fee_rate=self.fee_rate)
            self.sell = qty, self.price
            self.stop_loss = qty, self.price * 1.03

        def update_position(self):
            assert len(get_all_trading_routes()) == 1
            if self.is_long and self.should_short() or self.is_short and self.should_long():
                self.log(f"closing {self.position.type} at {self.price}")
                self.liquidate()

        def hyperparameters(self):
            return [{'name': 'unused', 'type': int, 'min': 10, 'max': 20, 'default': 5}]
""")

CUSTOM = textwrap.dedent("""\
    from jesse.helpers import get_candle_source, slice_candles
    import numpy as np


    def smooth(candles, period, sequential=False):
        candles = slice_candles(candles, sequential)
        source = get_candle_source(candles, 'hl2')
        weights = np.arange(1, period + 1, dtype=float)
        res = np.convolve(source, weights[::-1] / weights.sum(), mode='valid')
        return res if sequential else res[-1]
""")

ROUTES = textwrap.dedent("""\
    # Some comments Jesse writes
    routes = [
        {'exchange': 'Binance Perpetual Futures', 'strategy': 'Crossing', 'symbol': 'BTC-USDT', 'timeframe': '1h'},
    ]

    data_routes = [
        {'exchange': 'Binance Perpetual Futures', 'symbol': 'BTC-USDT', 'timeframe': '4h'},
    ]
""")


def jesse_project(root):
    (root / "strategies" / "Crossing").mkdir(parents=True)
    (root / "strategies" / "Crossing" / "__init__.py").write_text(STRATEGY, encoding="utf-8")
    (root / "strategies" / "Crossing" / "notes.txt").write_text("tested on 1h\n",
                                                                encoding="utf-8")
    (root / "custom_indicators").mkdir()
    (root / "custom_indicators" / "__init__.py").write_text("from .smooth import smooth\n",
                                                           encoding="utf-8")
    (root / "custom_indicators" / "smooth.py").write_text(CUSTOM, encoding="utf-8")
    (root / "vars.py").write_text("FAST = 8\nSLOW = 21\n", encoding="utf-8")
    (root / "routes.py").write_text(ROUTES, encoding="utf-8")
    (root / "storage" / "logs").mkdir(parents=True)
    (root / "storage" / "logs" / "x.py").write_text("print('not a helper')\n", encoding="utf-8")
    (root / ".env").write_text("POSTGRES_HOST=127.0.0.1\n", encoding="utf-8")
    return root


def jbt(project, *args):
    return CliRunner().invoke(app, ["--project", str(project), *args])


def test_only_import_lines_change(tmp_path):
    src = jesse_project(tmp_path / "jesse")
    dst = tmp_path / "mine"
    dst.mkdir()
    out = jbt(dst, "port", str(src))
    assert out.exit_code == 0, out.output
    ported = (dst / "strategies" / "Crossing" / "__init__.py").read_text(encoding="utf-8")
    diff = [line for line in difflib.ndiff(STRATEGY.splitlines(), ported.splitlines())
            if line[:1] in "+-"]
    assert sorted(line for line in diff if line[0] == "-") == sorted([
        "- import jesse.indicators as ta", "- from jesse import utils",
        "- from jesse.strategies import Strategy, cached", "- import jesse.helpers as jh",
        "- from jesse.services.selectors import get_all_trading_routes"])
    assert sorted(line for line in diff if line[0] == "+") == sorted([
        "+ import jbt.indicators as ta", "+ from jbt import utils",
        "+ from jbt.strategies import Strategy, cached", "+ import jbt.helpers as jh",
        "+ from jbt.services.selectors import get_all_trading_routes"])
    assert (dst / "custom_indicators" / "smooth.py").read_text(encoding="utf-8") == CUSTOM.replace(
        "from jesse.helpers", "from jbt.helpers")
    assert (dst / "vars.py").read_text(encoding="utf-8") == "FAST = 8\nSLOW = 21\n"
    assert (dst / "strategies" / "Crossing" / "notes.txt").is_file()
    assert not (dst / "storage").exists() and not (dst / ".env").exists()
    assert "strategies/Crossing/__init__.py: 5 import line(s) rewritten" in out.output
    assert ("line 2: import jesse.indicators as ta  ->  import jbt.indicators as ta"
            in out.output)
    assert "routes.py: 1 route(s), 1 extra candle(s) (exchange 'Binance Perpetual Futures' -> " \
           "'binance-futures')" in out.output
    assert ('config.toml: type = "futures" (the routes trade futures); forming_candles = true '
            "(Crossing reads self.get_candles(), whose longer timeframes end with the bar still "
            "forming in Jesse)") in out.output
    # (issue 15: and funding = "ignore", as Jesse's backtests charge no funding)
    assert (dst / "config.toml").read_text(encoding="utf-8").splitlines()[1:] == [
        "[backtest]", 'type = "futures"', "leverage = 1",
        "# Jesse charges no funding in its backtests, so neither does this port.",
        "# To charge it, import the history (jbt import-candles binance-futures",
        "# SYMBOL START --funding) and remove this line.",
        'funding = "ignore"', "forming_candles = true"]
    assert "warning" not in out.output


def test_the_ported_project_backtests_without_edits_and_a_second_run_changes_nothing(tmp_path):
    src = jesse_project(tmp_path / "jesse")
    dst = tmp_path / "mine"
    dst.mkdir()
    assert jbt(dst, "port", str(src)).exit_code == 0
    routes = (dst / "routes.py").read_text(encoding="utf-8")
    assert "('binance-futures', 'BTC-USDT', '1h', 'Crossing')," in routes
    assert "('binance-futures', 'BTC-USDT', '4h')," in routes
    imported = jbt(dst, "import-candles", "binance-futures", "BTC-USDT", "--file", str(SAMPLE))
    assert imported.exit_code == 0, imported.output
    result = jbt(dst, "backtest", "2018-09-01", "2019-03-01", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["config"]["backtest"]["type"] == "futures"
    assert len(data["trades"]) > 5 and {t["side"] for t in data["trades"]} == {"long", "short"}
    assert {t["closed_by"] for t in data["trades"]} >= {"signal", "stop-loss"}
    assert data["logs"] and data["logs"][0]["message"].startswith("closing ")
    assert "Log 20" in result.output and "closing long at" in result.output
    # the default outside its own min/max: used, with a warning
    assert ("Warning: strategy 'Crossing': hyperparameter unused default 5 is outside its "
            "min/max (an int from 10 to 20)") in result.output

    before = {p: p.read_bytes() for p in dst.rglob("*") if p.is_file() and p.suffix != ".sqlite3"
              and "db.sqlite3" not in p.name}
    again = jbt(dst, "port", str(src))
    assert again.exit_code == 0
    assert again.output.strip().splitlines()[-1] == (
        "0 file(s) written, 7 already there and unchanged, 0 left as they were (nothing to do)")
    assert {p: p.read_bytes() for p in before} == before


def test_an_existing_file_is_never_overwritten(tmp_path):
    src = jesse_project(tmp_path / "jesse")
    dst = tmp_path / "mine"
    (dst / "strategies" / "Crossing").mkdir(parents=True)
    mine = "# my own version\n"
    (dst / "strategies" / "Crossing" / "__init__.py").write_text(mine, encoding="utf-8")
    (dst / "routes.py").write_text("routes = [('binance', 'ETH-USDT', '4h', 'Other')]\n",
                                   encoding="utf-8")
    out = jbt(dst, "port", str(src))
    assert out.exit_code == 1
    assert (dst / "strategies" / "Crossing" / "__init__.py").read_text(encoding="utf-8") == mine
    assert "not overwritten: strategies/Crossing/__init__.py: exists with other content" in out.output
    assert "not overwritten: routes.py: exists with other content; not overwritten; the " \
           "converted routes are:" in out.output
    assert "('binance-futures', 'BTC-USDT', '1h', 'Crossing')," in out.output
    assert (dst / "vars.py").is_file()  # the rest was copied


def test_a_folder_of_strategy_folders_and_a_single_strategy(tmp_path):
    src = tmp_path / "collection"
    for name in ("A", "B"):
        (src / name).mkdir(parents=True)
        body = ("    def before(self):\n        self.get_candles(self.exchange, self.symbol, '4h')\n"
                if name == "B" else "    pass\n")
        (src / name / "__init__.py").write_text(
            f"from jesse.strategies import Strategy\n\nclass {name}(Strategy):\n{body}",
            encoding="utf-8")
    (src / "README.md").write_text("examples\n", encoding="utf-8")
    dst = tmp_path / "mine"
    dst.mkdir()
    out = jbt(dst, "port", str(src))
    assert out.exit_code == 0, out.output
    # no config.toml is written outside a whole project: what B needs is said instead
    assert not (dst / "config.toml").exists()
    assert ("warning: B reads self.get_candles(): in Jesse a longer timeframe's candles end with "
            "the bar still forming; set forming_candles = true in config.toml for the same"
            in out.output)
    assert sorted(p.name for p in (dst / "strategies").iterdir()) == ["A", "B"]
    assert not (dst / "routes.py").exists()
    single = tmp_path / "other"
    single.mkdir()
    assert jbt(single, "port", str(src / "A")).exit_code == 0
    assert (single / "strategies" / "A" / "__init__.py").read_text(encoding="utf-8").startswith(
        "from jbt.strategies import Strategy")


def test_names_jbt_does_not_have_are_reported_at_port_time(tmp_path):
    src = tmp_path / "S"
    src.mkdir()
    (src / "__init__.py").write_text(textwrap.dedent("""\
        from jesse.enums import sides
        from jesse.helpers import get_config, timestamp_to_time
        from jesse.strategies import Strategy
        import jesse


        class S(Strategy):
            def should_long(self):
                return jesse.helpers.is_live()
    """), encoding="utf-8")
    dst = tmp_path / "mine"
    dst.mkdir()
    out = jbt(dst, "port", str(src))
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert ("warning: strategies/S/__init__.py line 1: jesse.enums has no jbt counterpart; use "
            "write the values as strings ('buy', 'sell', 'long', 'short', '4h', ...)") in lines
    assert any(line.startswith("warning: strategies/S/__init__.py line 2: jesse.helpers.get_config"
                               " is a Jesse name jbt does not have") for line in lines)
    assert ("warning: strategies/S/__init__.py: the code refers to `jesse.` outside the imports; "
            "change those references to jbt by hand") in lines


def test_bad_input_is_one_line(tmp_path):
    out = jbt(tmp_path, "port", str(tmp_path / "missing"))
    assert out.exit_code != 0 and "not found" in out.output and "Traceback" not in out.output
    empty = tmp_path / "empty"
    empty.mkdir()
    out = jbt(tmp_path, "port", str(empty))
    assert out.exit_code != 0 and "no strategy found" in out.output


def test_rewrite_imports_keeps_everything_else():
    text = ("import jesse.indicators as ta, numpy as np  # jesse stuff\n"
            "from jesse.indicators import (\n    sma,\n    ema,\n)\n"
            "jesse_like = 'from jesse import x'\n"
            "from jesse_tools import y\n")
    new, changed = rewrite_imports(text)
    assert new == ("import jbt.indicators as ta, numpy as np  # jesse stuff\n"
                   "from jbt.indicators import (\n    sma,\n    ema,\n)\n"
                   "jesse_like = 'from jesse import x'\n"
                   "from jesse_tools import y\n")
    assert [n for n, _old, _new in changed] == [1, 2]


def test_older_routes_with_the_exchanges_enum(tmp_path):
    path = tmp_path / "routes.py"
    path.write_text(textwrap.dedent("""\
        from jesse.enums import exchanges
        routes = [
            (exchanges.BINANCE, 'BTC-USDT', '4h', 'A'),
            (exchanges.BITFINEX, 'ETH-USD', '1h', 'B'),
        ]
        extra_candles = [(exchanges.BINANCE, 'BTC-USDT', '1D')]
    """), encoding="utf-8")
    _text, routes, extra, notes, futures = convert_routes(path)
    assert routes == [("binance", "BTC-USDT", "4h", "A"), ("bitfinex", "ETH-USD", "1h", "B")]
    assert extra == [("binance", "BTC-USDT", "1D")] and not futures
    assert notes == ["exchange 'Binance' -> 'binance'", "exchange 'Bitfinex' -> 'bitfinex'"]
    path.write_text("routes = make_routes()\n", encoding="utf-8")
    with pytest.raises(Exception, match="the routes must be a literal list"):
        convert_routes(path)
