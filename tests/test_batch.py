"""``jbt backtest --symbols`` and ``jbt.research.map_backtests``: the routes once per symbol.

Eight symbols' hourly candles are made from the bundled Coinbase BTC-USD sample by
deterministic transforms (each a different 30-day window of the real data, stamped on the same
hours and scaled by its own factor) and imported with ``jbt import-candles --file`` into a real
SQLite file. A batch must equal eight separate ``jbt backtest`` runs, session by session: the
same rows in every session table, ids included.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_project import SAMPLE, jbt_run, make_project, write_routes
from optimize.kit import EMA

from jbt import research
from jbt.errors import InputError
from jbt.modes.batch_mode import BatchError
from jbt.strategies import Strategy

EXCHANGE = "coinbase"
SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "XRP-USD", "DOT-USD", "LTC-USD",
           "BCH-USD"]
HOURS = 24 * 30  # 2018-07-01 .. 2018-07-31
START, END = "2018-07-06", "2018-07-30"
ROUTES = [(EXCHANGE, "BTC-USD", "1h", "Swing"), (EXCHANGE, "BTC-USD", "4h", "Rising")]
SESSION_TABLES = ("backtest_session", "order", "trade", "closed_trade", "backtest_session_data",
                  "backtest_session_equity")
#: what differs between two runs of the same backtest: when it ran and how long it took
TIMING = {"created_at", "duration_s"}


def _symbol_csv(folder: Path, k: int) -> Path:
    """Symbol k's candles: the sample's rows from hour 300k on, on the first HOURS hours of the
    sample, prices times (1 + k/4)."""
    with SAMPLE.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    scale = 1 + k / 4
    path = folder / f"{SYMBOLS[k]}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(HOURS):
            src = body[300 * k + i]
            w.writerow([body[i][0], *(repr(float(x) * scale) for x in src[1:5]), src[5]])
    return path


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A project (strategies Swing and Rising, routes on BTC-USD) with the eight symbols'
    candles imported; tests copy it."""
    from jbt.models import close_database

    root = make_project(tmp_path_factory.mktemp("batch") / "project")
    close_database()
    for db in root.glob("db.sqlite3*"):  # make_project's own sample; ours replace it
        db.unlink()
    for k, symbol in enumerate(SYMBOLS):
        imported = jbt_run(root, "import-candles", EXCHANGE, symbol, "--file",
                           str(_symbol_csv(root, k)))
        assert imported.exit_code == 0, imported.output
    write_routes(root, ROUTES)
    close_database()
    return root


def _copy(stored: Path, dest: Path) -> Path:
    shutil.copytree(stored, dest, ignore=shutil.ignore_patterns("*.csv"))
    return dest


def _session_rows(project: Path) -> dict[str, list[dict]]:
    """Every row of the session tables, timing columns left out (and the timing keys inside
    the session's JSON data)."""
    from jbt.models import close_database

    close_database()
    con = sqlite3.connect(project / "db.sqlite3")
    con.row_factory = sqlite3.Row
    out = {}
    for table in SESSION_TABLES:
        rows = []
        for row in con.execute(f'SELECT * FROM "{table}" ORDER BY id'):
            d = {k: row[k] for k in row.keys() if k not in TIMING}
            if table == "backtest_session_data":
                data = json.loads(d["data"])
                d["data"] = {k: v for k, v in data.items() if k not in TIMING}
            rows.append(d)
        out[table] = rows
    con.close()
    return out


@pytest.fixture(scope="module")
def separate(stored, tmp_path_factory) -> dict[str, list[dict]]:
    """Eight ``jbt backtest START END`` runs, routes.py edited to each symbol in turn."""
    project = _copy(stored, tmp_path_factory.mktemp("separate") / "project")
    for symbol in SYMBOLS:
        write_routes(project, [(e, symbol, tf, s) for e, _, tf, s in ROUTES])
        ran = jbt_run(project, "backtest", START, END)
        assert ran.exit_code == 0, ran.output
    return _session_rows(project)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_batch_equals_separate_runs_session_by_session(stored, separate, tmp_path, jobs):
    project = _copy(stored, tmp_path / "project")
    ran = jbt_run(project, "backtest", START, END, "--symbols", ",".join(SYMBOLS), "--jobs", jobs)
    assert ran.exit_code == 0, ran.output

    rows = _session_rows(project)
    sessions = rows["backtest_session"]
    assert [json.loads(s["routes"])[0]["symbol"] for s in sessions] == SYMBOLS
    assert all(s["status"] == "finished" for s in sessions)
    trades = {s["id"]: sum(1 for t in rows["closed_trade"] if t["session_id"] == s["id"])
              for s in sessions}
    assert all(n > 0 for n in trades.values())  # every symbol traded: the comparison bites
    assert len({json.loads(s["metrics"])["net_profit"] for s in sessions}) == len(SYMBOLS)
    for table in SESSION_TABLES:
        assert rows[table] == separate[table], table

    # the comparison table: one row per symbol, in the order given, with its session id
    lines = ran.output.splitlines()
    for n, symbol in enumerate(SYMBOLS, 1):
        metrics = json.loads(sessions[n - 1]["metrics"])
        row = next(line for line in lines if line.startswith(f"{symbol} "))
        assert row.split()[1] == str(metrics["total_trades"])
        assert row.split()[2] == f"{metrics['total_return'] * 100:,.2f}%"
        assert row.split()[-1] == str(n)
    assert "8 of 8 symbols ran in" in ran.output
    assert f"on {jobs} worker" in ran.output


def test_symbols_file_with_comments_and_missing_candles(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    listing = tmp_path / "symbols.txt"
    listing.write_text("# majors\nBTC-USD\n\neth/usd   # spelled as ccxt does\nDOGE-USD\n",
                       encoding="utf-8")
    ran = jbt_run(project, "backtest", START, END, "--symbols-file", str(listing), "--jobs", "1")

    assert ran.exit_code == 1  # a symbol did not run: scripts notice
    doge = [line for line in ran.output.splitlines() if line.startswith("Error: DOGE-USD: ")]
    assert len(doge) == 1
    assert "no candles stored for coinbase DOGE-USD" in doge[0]
    assert "jbt import-candles coinbase DOGE-USD 2018-" in doge[0]
    rows = _session_rows(project)["backtest_session"]
    assert [json.loads(s["routes"])[0]["symbol"] for s in rows] == ["BTC-USD", "ETH-USD"]
    assert "2 of 3 symbols ran" in ran.output


def test_a_failing_strategy_is_a_failed_session_and_the_others_run(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    write_routes(project, [(EXCHANGE, "BTC-USD", "1h", "Boom")])
    ran = jbt_run(project, "backtest", START, END, "--symbols", "BTC-USD,ETH-USD", "-j", "1")
    assert ran.exit_code == 1
    sessions = _session_rows(project)["backtest_session"]
    assert [s["status"] for s in sessions] == ["failed", "failed"]
    assert "Error: BTC-USD: " in ran.output and "(saved as failed session 1)" in ran.output

    separate = _copy(stored, tmp_path / "separate")
    write_routes(separate, [(EXCHANGE, "ETH-USD", "1h", "Boom")])
    jbt_run(separate, "backtest", START, END)
    alone = _session_rows(separate)["backtest_session"][0]
    assert {k: v for k, v in sessions[1].items() if k != "id"} == {
        k: v for k, v in alone.items() if k != "id"}


@pytest.mark.parametrize(("args", "message"), [
    (["--symbols", ""], "--symbols: an empty symbol name"),
    (["--symbols", "BTC-USD,,ETH-USD"], "--symbols: an empty symbol name"),
    (["--symbols", "BTC-USD,btc/usd"], "--symbols: BTC-USD is given twice (BTC-USD and btc/usd)"),
    (["--symbols", "BTCUSD"], "--symbols: symbol 'BTCUSD' must be written BASE-QUOTE"),
    (["--symbols", "BTC-USD", "--symbols-file", "x.txt"], "give --symbols or --symbols-file"),
    (["--jobs", "2"], "--jobs goes with --symbols or --symbols-file"),
    (["--symbols", "BTC-USD", "--json", "out.json"], "--json shows or exports one session"),
    (["--symbols", "BTC-USD", "--hp", "nope=1"], "nope"),
    (["--symbols-file", "nowhere.txt"], "--symbols-file nowhere.txt does not exist"),
])
def test_bad_input_is_one_line_and_writes_nothing(stored, tmp_path, args, message):
    project = _copy(stored, tmp_path / "project")
    before = _session_rows(project)
    ran = jbt_run(project, "backtest", START, END, *args)
    assert ran.exit_code == 2
    assert message in ran.output
    assert "Traceback" not in ran.output
    assert _session_rows(project) == before


def test_bad_symbols_files(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    for text, message in [("# nothing\n\n", "lists no symbol"),
                          ("BTC-USD ETH-USD\n", "line 1: one symbol a line"),
                          ("BTC-USD\nBTC-USD\n", "BTC-USD is given twice")]:
        listing = tmp_path / "symbols.txt"
        listing.write_text(text, encoding="utf-8")
        ran = jbt_run(project, "backtest", "--symbols-file", str(listing))
        assert ran.exit_code == 2 and message in ran.output, ran.output
    assert _session_rows(project)["backtest_session"] == []


def test_routes_on_two_symbols_are_refused(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    write_routes(project, [ROUTES[0], (EXCHANGE, "ETH-USD", "4h", "Rising")])
    ran = jbt_run(project, "backtest", "--symbols", "SOL-USD")
    assert ran.exit_code == 2
    assert ("the routes trade 2 symbols (BTC-USD, ETH-USD); keep the routes on one symbol"
            in ran.output)
    assert _session_rows(project)["backtest_session"] == []


def test_extra_candles_on_the_routes_symbol_follow_it(stored, tmp_path):
    """extra_candles on the routes' symbol become the batch symbol's; others stay."""
    from jbt.modes.batch_mode import for_symbol
    from jbt.results import RouteSpec

    routes = [RouteSpec(*r) for r in ROUTES]
    extra = [(EXCHANGE, "BTC-USD", "1D"), (EXCHANGE, "ETH-USD", "1h")]
    new_routes, new_extra = for_symbol(routes, extra, "SOL-USD")
    assert [r.symbol for r in new_routes] == ["SOL-USD", "SOL-USD"]
    assert new_extra == [(EXCHANGE, "SOL-USD", "1D"), (EXCHANGE, "ETH-USD", "1h")]

    # and in a run: a 1D extra on the routes' symbol is loaded for each batch symbol
    project = _copy(stored, tmp_path / "project")
    (project / "routes.py").write_text(
        f"routes = {ROUTES!r}\nextra_candles = [('coinbase', 'BTC-USD', '1D')]\n",
        encoding="utf-8")
    ran = jbt_run(project, "backtest", START, END, "--symbols", "ETH-USD,SOL-USD", "-j", "1")
    assert ran.exit_code == 0, ran.output


# ------------------------------------------------------------------------- map_backtests


def test_map_backtests_equals_research_backtest_per_symbol(stored, tmp_path, monkeypatch):
    project = _copy(stored, tmp_path / "project")
    monkeypatch.chdir(project)
    routes = [(e, s, tf, name) for e, s, tf, name in ROUTES]
    mapped = research.map_backtests(routes, SYMBOLS[:4], start=START, end=END, jobs=2)
    assert list(mapped) == SYMBOLS[:4]
    for symbol, result in mapped.items():
        alone = research.backtest([(e, symbol, tf, name) for e, _, tf, name in ROUTES],
                                  start=START, end=END)
        assert result.trades and result.trades == alone.trades
        assert result.fills == alone.fills and result.orders == alone.orders
        got, want = result.to_dict(), alone.to_dict()
        got.pop("duration_s"), want.pop("duration_s")
        assert got == want
    assert _session_rows(project)["backtest_session"] == []  # save=False: nothing written


def test_map_backtests_on_given_candles_and_errors(stored, tmp_path, monkeypatch):
    project = _copy(stored, tmp_path / "project")
    monkeypatch.chdir(project)
    routes = [(EXCHANGE, "BTC-USD", "1h", "Swing")]
    frames = {s: research.get_candles(EXCHANGE, s, "1h", dataframe=True) for s in SYMBOLS[:3]}
    mapped = research.map_backtests(routes, SYMBOLS[:3], frames, start=START, end=END,
                                    save=True)
    for n, symbol in enumerate(SYMBOLS[:3], 1):
        alone = research.backtest([(EXCHANGE, symbol, "1h", "Swing")], frames[symbol],
                                  start=START, end=END)
        assert mapped[symbol].trades == alone.trades
        assert mapped[symbol].session_id == n  # saved in the order of the symbols
    sessions = _session_rows(project)["backtest_session"]
    assert [json.loads(s["routes"])[0]["symbol"] for s in sessions] == SYMBOLS[:3]

    with pytest.raises(BatchError) as caught:
        research.map_backtests(routes, ["BTC-USD", "DOGE-USD"], start=START, end=END)
    assert list(caught.value.results) == ["BTC-USD"]
    assert "DOGE-USD: no candles stored for coinbase DOGE-USD" in str(caught.value)
    with pytest.raises(InputError, match="symbols: ETH-USD is given twice"):
        research.map_backtests(routes, ["ETH-USD", "eth_usd"])
    with pytest.raises(InputError, match="symbols: no symbol given"):
        research.map_backtests(routes, [])

    class Local(Strategy):
        def should_long(self):
            return False

    with pytest.raises(InputError, match="strategy Local is defined where worker processes"):
        research.map_backtests([(EXCHANGE, "BTC-USD", "1h", Local)], SYMBOLS[:2], jobs=2)
    inline = research.map_backtests([(EXCHANGE, "BTC-USD", "1h", Local)], SYMBOLS[:2],
                                    start=START, end=END)
    assert [r.trades for r in inline.values()] == [[], []]


def test_the_readme_example_runs(stored, tmp_path, monkeypatch, capsys):
    import re

    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    part = re.search(r"^## Batch backtests over symbols.*?(?=^## )", text, flags=re.S | re.M)
    block = re.search(r"```python\n(.*?)```", part.group(0), flags=re.S).group(1)
    project = _copy(stored, tmp_path / "project")
    shutil.copytree(readme.parent / "strategies" / "EmaCross", project / "strategies" / "EmaCross",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(project)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_batch"})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["BTC-USD", "ETH-USD", "SOL-USD"]
    assert all(int(line.split()[1]) > 0 for line in printed), printed
    for line in printed:
        symbol, trades, total_return = line.split()
        alone = research.backtest([(EXCHANGE, symbol, "1h", "EmaCross")], start=START, end=END)
        assert int(trades) == alone.metrics["total_trades"]
        assert float(total_return) == alone.metrics["total_return"]


#: Ends its worker process (as a crash in C code would) on ETH-USD.
CRASH = """
import os

from jbt.strategies import Strategy


class Crash(Strategy):
    def should_long(self):
        if self.symbol == "ETH-USD" and self.index == 50:
            os._exit(9)
        return False
"""


def test_a_worker_that_dies_stops_the_batch_with_one_line(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    (project / "strategies" / "Crash").mkdir()
    (project / "strategies" / "Crash" / "__init__.py").write_text(CRASH, encoding="utf-8")
    write_routes(project, [(EXCHANGE, "BTC-USD", "1h", "Crash")])
    ran = jbt_run(project, "backtest", START, END, "--symbols", "BTC-USD,ETH-USD,SOL-USD",
                  "--jobs", "2")
    assert ran.exit_code == 1
    assert "Error: a worker process died" in ran.output and "Traceback" not in ran.output
    saved = _session_rows(project)["backtest_session"]
    # what was saved is the symbols before the one that died, in order, finished
    assert [json.loads(s["routes"])[0]["symbol"] for s in saved] == ["BTC-USD"][:len(saved)]
    assert all(s["status"] == "finished" for s in saved)


def test_a_studys_best_trial_over_symbols(stored, tmp_path):
    project = _copy(stored, tmp_path / "project")
    (project / "strategies" / "Ema").mkdir()
    (project / "strategies" / "Ema" / "__init__.py").write_text(EMA, encoding="utf-8")
    write_routes(project, [(EXCHANGE, "BTC-USD", "1h", "Ema")])
    studied = jbt_run(project, "optimize", START, END, "--trials", "6", "--jobs", "1",
                      "--study", "ema", "--sampler", "random")
    assert studied.exit_code == 0, studied.output
    ran = jbt_run(project, "backtest", START, END, "--from-study", "ema", "--symbols",
                  "ETH-USD,SOL-USD", "-j", "1")
    assert ran.exit_code == 0, ran.output
    batch = _session_rows(project)["backtest_session"]
    hp = json.loads(batch[0]["config"])["hyperparameters"]["Ema"]
    assert hp != {"fast": 5, "slow": 20}  # the best trial's values, not the defaults

    separate = _copy(stored, tmp_path / "separate")
    shutil.copytree(project / "strategies" / "Ema", separate / "strategies" / "Ema")
    for symbol in ("ETH-USD", "SOL-USD"):
        write_routes(separate, [(EXCHANGE, symbol, "1h", "Ema")])
        alone = jbt_run(separate, "backtest", START, END, "--hp", f"fast={hp['fast']}",
                        "--hp", f"slow={hp['slow']}")
        assert alone.exit_code == 0, alone.output
    want = _session_rows(separate)["backtest_session"]
    for got, expected in zip(batch, want, strict=True):
        assert {k: v for k, v in got.items() if k != "id"} == {
            k: v for k, v in expected.items() if k != "id"}


@pytest.mark.postgres
def test_a_batch_on_postgresql_equals_separate_runs(stored, tmp_path, postgres_url, monkeypatch):
    """Candles and sessions in PostgreSQL: the workers read their symbols from it, the
    command saves the sessions in order; the same rows as separate runs."""
    import peewee as pw

    from jbt.models import MODELS, close_database, open_database

    symbols = SYMBOLS[:3]
    project = _copy(stored, tmp_path / "project")
    monkeypatch.setenv("JBT_DATABASE_URL", postgres_url)
    try:
        for k, symbol in enumerate(symbols):
            imported = jbt_run(project, "import-candles", EXCHANGE, symbol, "--file",
                               str(_symbol_csv(project, k)))
            assert imported.exit_code == 0, imported.output
        ran = jbt_run(project, "backtest", START, END, "--symbols", ",".join(symbols),
                      "--jobs", "2")
        assert ran.exit_code == 0, ran.output
        for symbol in symbols:
            write_routes(project, [(e, symbol, tf, s) for e, _, tf, s in ROUTES])
            alone = jbt_run(project, "backtest", START, END)
            assert alone.exit_code == 0, alone.output
        db = open_database(postgres_url)
        cursor = db.execute_sql(
            "SELECT id, status, start, \"end\", routes, config, metrics, starting_balance, "
            "finishing_balance FROM backtest_session ORDER BY id")
        sessions = cursor.fetchall()
        assert len(sessions) == 6 and all(s[1] == "finished" for s in sessions)
        fills = db.execute_sql(
            'SELECT session_id, route, side, qty, price, fee, timestamp FROM "trade" ORDER BY id'
        ).fetchall()
        for n in range(3):
            batch, alone = sessions[n], sessions[n + 3]
            assert json.loads(batch[4])[0]["symbol"] == symbols[n]
            assert batch[1:] == alone[1:]
            got = [f[1:] for f in fills if f[0] == batch[0]]
            assert got and got == [f[1:] for f in fills if f[0] == alone[0]]
    finally:
        close_database()
        database = open_database(postgres_url)
        if isinstance(database, pw.PostgresqlDatabase):
            database.drop_tables(MODELS, safe=True, cascade=True)
        database.close()


def test_without_a_database_each_symbol_says_how_to_import_and_nothing_is_created(stored,
                                                                                   tmp_path):
    project = _copy(stored, tmp_path / "project")
    for db in project.glob("db.sqlite3*"):
        db.unlink()
    ran = jbt_run(project, "backtest", START, END, "--symbols", "BTC-USD,ETH-USD")
    assert ran.exit_code == 1
    lines = [line for line in ran.output.splitlines() if line.startswith("Error: ")]
    assert [line.split()[1] for line in lines] == ["BTC-USD:", "ETH-USD:"]
    assert all("jbt import-candles coinbase" in line for line in lines)
    assert not list(project.glob("db.sqlite3*"))
