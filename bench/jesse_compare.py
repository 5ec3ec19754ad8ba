"""Trade-by-trade comparison of jbt with Jesse 3.x on the seeded gapless 1m year.

    python bench/jesse_compare.py                 # set Jesse up if needed, compare all
    python bench/jesse_compare.py --only RSI2     # one strategy
    python bench/jesse_compare.py --days 120      # a shorter stretch of the year
    python bench/jesse_compare.py --setup         # only create Jesse's environment

How Jesse is run: ``pip install jesse==3.5.3`` into its own virtualenv under the cache folder
(``$JBT_BENCH_CACHE`` or ``~/.cache/jbt-bench``; never a jbt dependency), then Jesse's own
``jesse.research.backtest()`` in that interpreter, with the candles passed in (no database, no
Redis: the research function needs neither). The strategy files are the same text for both, but
for the import lines (``jbt`` here, ``jesse`` there): the example strategies as the jbt tests
hold them (``tests/jesse_port/examples.py``) plus two small strategies written here for what the
examples do not use (limit entries; stop-loss and take-profit lists).

The candles: the seeded 1m year of jbt's tests (the fake Binance server's generator,
``tests/fakes/binance.py``, seed 7): gapless, each open equal to the previous close, so Jesse's
fills at a bar's close and jbt's at the next bar's open are the same price. Both get the same
warm-up (``WARMUP_DAYS`` of 1m candles before the start), fee 0.1%, 10,000 of balance, and
futures at leverage 1 where the strategy shorts or sets a stop-loss inside ``go_long`` (Jesse 3
refuses that in spot).

For each strategy the trades are matched in order and compared field by field: side, entry and
exit time, entry and exit price, quantity. The first differing trade is printed in full with
both sides; the README's porting section explains each kind of difference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

JESSE_VERSION = "3.5.3"
CACHE = Path(os.environ.get("JBT_BENCH_CACHE", Path.home() / ".cache" / "jbt-bench"))
VENV = CACHE / "jesse-venv"
WARMUP_DAYS = 60
EXCHANGE_JESSE = {"spot": "Binance Spot", "futures": "Binance Perpetual Futures"}
SYMBOL = "BTC-USDT"

#: Written for this comparison: what the example strategies do not exercise.
EXTRA_SOURCES = {
    "LimitEntries": textwrap.dedent("""\
        import jbt.indicators as ta
        from jbt import utils
        from jbt.strategies import Strategy


        class LimitEntries(Strategy):
            # Buy a dip with a limit 0.5% under the price when the trend is up, sell a rally
            # with a limit 0.5% over it when it is down; a stop-loss and a take-profit on the
            # position; an unfilled entry is cancelled at the next bar.

            def should_long(self):
                return ta.sma(self.candles, 20) > ta.sma(self.candles, 50)

            def should_short(self):
                return ta.sma(self.candles, 20) < ta.sma(self.candles, 50)

            def go_long(self):
                price = self.price * 0.995
                qty = utils.size_to_qty(self.balance * 0.5, price, fee_rate=self.fee_rate)
                self.buy = qty, price
                self.stop_loss = qty, price * 0.98
                self.take_profit = qty, price * 1.03

            def go_short(self):
                price = self.price * 1.005
                qty = utils.size_to_qty(self.balance * 0.5, price, fee_rate=self.fee_rate)
                self.sell = qty, price
                self.stop_loss = qty, price * 1.02
                self.take_profit = qty, price * 0.97

            def should_cancel_entry(self):
                return True
    """),
    "ExitLists": textwrap.dedent("""\
        import jbt.indicators as ta
        from jbt import utils
        from jbt.strategies import Strategy


        class ExitLists(Strategy):
            # Enter at market on an RSI extreme; exit in two halves: two stop-loss prices and
            # two take-profit prices, given as lists of (qty, price).

            def should_long(self):
                return ta.rsi(self.candles, 14) < 30

            def should_short(self):
                return ta.rsi(self.candles, 14) > 70

            def go_long(self):
                qty = utils.size_to_qty(self.balance * 0.5, self.price, fee_rate=self.fee_rate)
                half = qty / 2
                self.buy = qty, self.price
                self.stop_loss = [(half, self.price * 0.98), (half, self.price * 0.97)]
                self.take_profit = [(half, self.price * 1.02), (half, self.price * 1.04)]

            def go_short(self):
                qty = utils.size_to_qty(self.balance * 0.5, self.price, fee_rate=self.fee_rate)
                half = qty / 2
                self.sell = qty, self.price
                self.stop_loss = [(half, self.price * 1.02), (half, self.price * 1.03)]
                self.take_profit = [(half, self.price * 0.98), (half, self.price * 0.96)]
    """),
    "HookOrder": textwrap.dedent("""\
        from jbt.strategies import Strategy

        #: every hook call: [bar number, hook]
        CALLS = []


        class HookOrder(Strategy):
            # Records the order in which the engine calls each hook. Every 8 bars: a long
            # (at market or a limit under the price, with a stop-loss and a take-profit), then
            # added to, reduced and closed in update_position, a short opened in the same bar
            # the long closes, closed two bars later into a long.

            def note(self, name):
                CALLS.append([self.vars.get("n", 0), name])

            def before(self):
                self.vars["n"] = self.vars.get("n", 0) + 1
                self.note("before")

            def should_long(self):
                self.note("should_long")
                return self.vars["n"] % 8 in (1, 6)

            def should_short(self):
                self.note("should_short")
                return self.vars["n"] % 8 in (4, 5)

            def go_long(self):
                self.note("go_long")
                price = self.price if self.vars["n"] % 16 != 9 else self.price * 0.995
                qty = round(0.2 * self.balance / price, 3)
                self.buy = qty, price
                self.stop_loss = qty, price * 0.97
                self.take_profit = qty, price * 1.03

            def go_short(self):
                self.note("go_short")
                qty = round(0.2 * self.balance / self.price, 3)
                self.sell = qty, self.price
                self.stop_loss = qty, self.price * 1.03
                self.take_profit = qty, self.price * 0.97

            def should_cancel_entry(self):
                self.note("should_cancel_entry")
                return True

            def filters(self):
                self.note("filters")
                return []

            def update_position(self):
                self.note("update_position")
                step = self.vars["n"] % 8
                if step == 2 and self.is_long:
                    self.buy = round(0.1 * self.balance / self.price, 3), self.price
                elif step == 3:
                    self.take_profit = abs(self.position.qty) / 2, self.price
                elif step in (4, 6):
                    self.liquidate()

            def on_open_position(self, order):
                self.note("on_open_position")

            def on_increased_position(self, order):
                self.note("on_increased_position")

            def on_reduced_position(self, order):
                self.note("on_reduced_position")

            def on_close_position(self, order, trade):
                self.note("on_close_position")

            def on_cancel(self):
                self.note("on_cancel")

            def after(self):
                self.note("after")

            def update_chart(self):
                self.note("update_chart")

            def before_terminate(self):
                self.note("before_terminate")

            def terminate(self):
                self.note("terminate")
    """),
}

#: Strategies whose hook calls are compared (one by one) rather than their trades.
HOOK_CASES = [("HookOrder", "1h", "futures", 1)]


def jesse3_variant(name: str, text: str) -> str:
    """``text`` as Jesse 3 runs it: without the older on_stop_loss / on_take_profit hooks,
    which Jesse 3 no longer calls and jbt does (the class renamed ``<name>3``)."""
    return (text.replace(f"class {name}(", f"class {name}3(")
            .replace("def on_stop_loss(", "def _older_on_stop_loss(")
            .replace("def on_take_profit(", "def _older_on_take_profit("))

#: (strategy, timeframe, exchange type, leverage): spot, futures, shorts, SL/TP lists, limit
#: entries, reversals in one bar, a longer timeframe's forming bar.
CASES = [
    ("Donchian", "6h", "spot", 1),
    ("SMACrossover", "4h", "futures", 1),
    ("RSI2", "4h", "futures", 1),
    ("TradingView_RSI", "1h", "futures", 1),
    ("TurtleRules", "1D", "futures", 1),
    # the same without the hooks only jbt calls (what Jesse 3 runs)
    ("TurtleRules3", "1D", "futures", 1),
    ("LimitEntries", "1h", "futures", 1),
    ("ExitLists", "1h", "futures", 1),
    # its risk-sized entries can be worth more than the balance
    ("DUAL_THRUST", "1h", "futures", 3),
]

#: Candles a strategy reads with get_candles() besides its route's (Jesse's data routes):
#: DUAL_THRUST's anchor timeframe (``utils.anchor_timeframe("1h")``).
DATA_ROUTES = {"DUAL_THRUST": ["4h"]}

RUNNER = textwrap.dedent("""\
    import importlib.util, json, sys, time, warnings
    warnings.simplefilter("ignore")
    import numpy as np
    from jesse.research import backtest

    args = json.loads(sys.argv[1])
    # the class from its file: a working folder with strategies/ and storage/ would make Jesse
    # take it for a project and read its .env (database settings)
    spec = importlib.util.spec_from_file_location(args["strategy"], args["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    strategy = getattr(module, args["strategy"])
    candles = np.load(args["candles"])
    warm = args["warmup_minutes"]
    exchange, symbol = args["exchange"], args["symbol"]
    key = f"{exchange}-{symbol}"
    config = {"starting_balance": 10_000, "fee": 0.001, "type": args["type"],
              "futures_leverage": args["leverage"], "futures_leverage_mode": "isolated",
              "exchange": exchange, "warm_up_candles": args["warmup_bars"]}
    routes = [{"exchange": exchange, "strategy": strategy, "symbol": symbol,
               "timeframe": args["timeframe"]}]
    data_routes = [{"exchange": exchange, "symbol": symbol, "timeframe": tf}
                   for tf in args["data_routes"]]
    t = time.perf_counter()
    result = backtest(config, routes, data_routes,
                      {key: {"exchange": exchange, "symbol": symbol,
                             "candles": candles[warm:]}},
                      warmup_candles={key: {"exchange": exchange, "symbol": symbol,
                                            "candles": candles[:warm]}})
    seconds = time.perf_counter() - t
    trades = [{"side": tr["type"], "entry_time": int(tr["opened_at"]),
               "exit_time": int(tr["closed_at"]), "entry_price": tr["entry_price"],
               "exit_price": tr["exit_price"], "qty": abs(tr["qty"])}
              for tr in result.get("trades", [])]
    print(json.dumps({"seconds": seconds, "trades": trades,
                      "calls": getattr(module, "CALLS", None)}))
""")


def ensure_jesse() -> Path:
    """The Python of Jesse's own virtualenv, created on first use."""
    python = VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), "-c", "import jesse.version as v; print(v.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return python
    print(f"Creating {VENV} with jesse=={JESSE_VERSION} (a few minutes, once)...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"jesse=={JESSE_VERSION}"],
                   check=True)
    return python


def jesse_source(text: str) -> str:
    """The same strategy for Jesse: its jbt import lines pointed back at jesse."""
    out = []
    for line in text.splitlines(keepends=True):
        if re.match(r"\s*(from|import)\s+jbt\b", line):
            line = re.sub(r"\bjbt(?=[.\s])", "jesse", line, count=1)
        out.append(line)
    return "".join(out)


def seeded_year() -> np.ndarray:
    from jesse_port.data import seeded_year as make

    return np.asarray(make())


def run_jesse(python: Path, name: str, source: str, tf: str, kind: str, leverage: int,
              candles_file: Path, warmup_minutes: int, warmup_bars: int) -> dict:
    with tempfile.TemporaryDirectory() as project:
        strategy_file = Path(project) / f"{name}.py"
        strategy_file.write_text(jesse_source(source), encoding="utf-8")
        runner = Path(project) / "run_jesse.py"
        runner.write_text(RUNNER, encoding="utf-8")
        args = {"candles": str(candles_file), "file": str(strategy_file),
                "warmup_minutes": warmup_minutes,
                "warmup_bars": warmup_bars, "exchange": EXCHANGE_JESSE[kind], "symbol": SYMBOL,
                "type": kind, "strategy": name, "timeframe": tf, "leverage": leverage,
                "data_routes": DATA_ROUTES.get(name, [])}
        proc = subprocess.run([str(python), str(runner), json.dumps(args)], cwd=project,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": project})
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def run_jbt(name: str, source: str, tf: str, kind: str, leverage: int, candles: np.ndarray,
            warmup_minutes: int, warmup_bars: int) -> dict:
    from jbt.config import BacktestConfig, Config
    from jbt.engine import run_backtest
    from jbt.results import RouteSpec
    from jbt.routes import load_strategy
    from jbt.timeframes import to_ms

    with tempfile.TemporaryDirectory() as project:
        folder = Path(project) / "strategies" / name
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text(source, encoding="utf-8")
        cls = load_strategy(project, name)
        calls = getattr(sys.modules[cls.__module__], "CALLS", None)
        # forming_candles: get_candles() of a longer timeframe ends with the forming bar, as
        # in Jesse (made of the 1m candles closed so far)
        config = Config(backtest=BacktestConfig(starting_balance=10_000, fee=0.001, type=kind,
                                                leverage=leverage, warmup_candles=warmup_bars,
                                                forming_candles=True))
        # Jesse first runs a strategy when the first bar of the period has closed; jbt at the
        # start, on the bar before it: start jbt one bar later so both first decide at the
        # same moment on the same bars (the warm-up then holds that bar too)
        start = int(candles[warmup_minutes, 0]) + to_ms(tf)
        end = int(candles[-1, 0]) + 60_000
        t = time.perf_counter()
        result = run_backtest(config, [RouteSpec("bench", SYMBOL, tf, name)],
                              {("bench", SYMBOL): candles}, "1m", {name: cls}, start, end,
                              extra_candles=[("bench", SYMBOL, x)
                                             for x in DATA_ROUTES.get(name, [])])
        seconds = time.perf_counter() - t
    inside = {o.filled_at for o in result.orders if o.type != "market" and o.filled_at}
    # a fill inside a 1m candle (limit, stop): jbt stamps it with the candle's open time,
    # Jesse with its close; add the minute so the times compare
    trades = [{"side": tr.side,
               "entry_time": tr.entry_time + (60_000 if tr.entry_time in inside else 0),
               "exit_time": tr.exit_time + (60_000 if tr.closed_by in (
                   "stop-loss", "take-profit", "liquidation") else 0),
               "entry_price": tr.entry_price, "exit_price": tr.exit_price, "qty": tr.qty,
               "closed_by": tr.closed_by} for tr in result.trades]
    return {"seconds": seconds, "trades": trades, "calls": calls}


def _same(a: dict, b: dict) -> list[str]:
    """The fields on which two trades differ (prices and quantities to 1e-9 relative)."""
    out = []
    for key in ("side", "entry_time", "exit_time"):
        if a[key] != b[key]:
            out.append(key)
    for key in ("entry_price", "exit_price", "qty"):
        if abs(a[key] - b[key]) > 1e-9 * max(abs(a[key]), abs(b[key])):
            out.append(key)
    return out


def _fmt(t: dict) -> str:
    from datetime import datetime, timezone

    def ts(ms):
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

    return (f"{t['side']:5} {ts(t['entry_time'])} @ {t['entry_price']:.6f} -> "
            f"{ts(t['exit_time'])} @ {t['exit_price']:.6f}, qty {t['qty']:.8g}"
            + (f" ({t['closed_by']})" if "closed_by" in t else ""))


def compare(name: str, jbt_run: dict, jesse_run: dict) -> None:
    a, b = jbt_run["trades"], jesse_run["trades"]
    # the end-of-run close: jbt closes at the last close, Jesse too but reports it the same way
    equal = qty_only = 0
    first_diff = None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        fields = _same(x, y)
        if not fields:
            equal += 1
        elif fields == ["qty"] and abs(x["qty"] - y["qty"]) <= 1e-2 * abs(y["qty"]):
            qty_only += 1
        if fields and first_diff is None:
            first_diff = (i, fields, x, y)
    print(f"{name:28} jbt {len(a):4d} trades ({jbt_run['seconds']:.2f} s)  "
          f"Jesse {len(b):4d} trades ({jesse_run['seconds']:.1f} s)  identical {equal:4d}"
          + (f", same but qty within 1% {qty_only}" if qty_only else ""))
    if first_diff is not None:
        i, fields, x, y = first_diff
        print(f"    first difference, trade {i + 1}: {', '.join(fields)}")
        print(f"      jbt   {_fmt(x)}")
        print(f"      Jesse {_fmt(y)}")
    elif len(a) != len(b):
        longer, who = (a, "jbt") if len(a) > len(b) else (b, "Jesse")
        print(f"    {who} has {abs(len(a) - len(b))} more trade(s), from {_fmt(longer[min(len(a), len(b))])}")


def market_entry_hooks_last(calls: list[tuple]) -> list[tuple]:
    """jbt's calls with the hooks of a market entry's fill (those between ``filters`` and
    ``after`` of one bar) moved after that bar's ``update_chart``: where Jesse, which executes
    market orders once the strategy's bar is over, calls them (a documented difference)."""
    out: list[tuple] = []
    held: list[tuple] = []
    holding = False
    for call in calls:
        hook = call[1]
        if hook == "filters":
            holding = True
            out.append(call)
        elif holding and hook == "after":
            holding = False
            out.append(call)
        elif holding:
            held.append(call)
        else:
            out.append(call)
            if hook == "update_chart" and held:
                out.extend(held)
                held = []
    return out + held


def _first_difference(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def compare_calls(name: str, jbt_run: dict, jesse_run: dict) -> None:
    """The hook calls of both, one by one: how many agree, and the first that does not; then
    the same with jbt's market-entry hooks where Jesse calls them."""
    a = [tuple(c) for c in jbt_run["calls"]]
    b = [tuple(c) for c in jesse_run["calls"]]
    bars = len({c[0] for c in b})
    for label, ours in (("as called", a), ("market-entry hooks moved", market_entry_hooks_last(a))):
        same = _first_difference(ours, b)
        print(f"{name:28} jbt {len(ours):5d} calls  Jesse {len(b):5d} calls over {bars} bars, "
              f"{label}: {'identical' if ours == b else f'the first {same} identical'}")
        if ours != b:
            # to the end when little is left (the last bar and the end of the run)
            stop = max(len(ours), len(b)) if max(len(ours), len(b)) - same <= 12 else same + 4
            print(f"      jbt   {ours[max(0, same - 2):stop]}")
            print(f"      Jesse {b[max(0, same - 2):stop]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="only create Jesse's environment")
    parser.add_argument("--only", nargs="*", help="strategy names to compare")
    parser.add_argument("--days", type=int, default=365, help="days of the year to trade")
    args = parser.parse_args()
    python = ensure_jesse()
    if args.setup:
        print(f"Jesse is ready: {python}")
        return
    from jesse_port.examples import SOURCES

    sources = {**SOURCES, **EXTRA_SOURCES,
               "TurtleRules3": jesse3_variant("TurtleRules", SOURCES["TurtleRules"])}
    year = seeded_year()
    warm = WARMUP_DAYS * 24 * 60
    candles = np.ascontiguousarray(year[: warm + args.days * 24 * 60])
    CACHE.mkdir(parents=True, exist_ok=True)
    candles_file = CACHE / f"seeded-year-{len(candles)}.npy"
    if not candles_file.exists():
        np.save(candles_file, candles)
    print(f"{len(candles) - warm} 1m candles traded after {warm} of warm-up; "
          f"Jesse {JESSE_VERSION} from {python}; load average {os.getloadavg()[0]:.2f}")
    for name, tf, kind, leverage in CASES:
        if args.only and name not in args.only:
            continue
        bars = warm // _minutes(tf)
        ours = run_jbt(name, sources[name], tf, kind, leverage, candles, warm, bars)
        theirs = run_jesse(python, name, sources[name], tf, kind, leverage, candles_file, warm,
                           bars)
        if "error" in theirs:
            print(f"{name:28} Jesse failed: {theirs['error']}")
            continue
        compare(f"{name} {tf} {kind}", ours, theirs)
    for name, tf, kind, leverage in HOOK_CASES:
        if args.only and name not in args.only:
            continue
        bars = warm // _minutes(tf)
        ours = run_jbt(name, sources[name], tf, kind, leverage, candles, warm, bars)
        theirs = run_jesse(python, name, sources[name], tf, kind, leverage, candles_file, warm,
                           bars)
        if "error" in theirs:
            print(f"{name:28} Jesse failed: {theirs['error']}")
            continue
        compare(f"{name} {tf} {kind}", ours, theirs)
        compare_calls(f"{name} (hooks)", ours, theirs)


def _minutes(tf: str) -> int:
    from jbt.timeframes import to_ms

    return to_ms(tf) // 60_000


if __name__ == "__main__":
    main()
