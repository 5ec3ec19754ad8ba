"""Funding rates and mark-price candles of perpetual futures: the store's rules, and the imports
through the real ccxt client against the fake Binance server (faults, resume after SIGKILL,
holes), in-process and as ``jbt import-candles ... --funding / --mark``."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket, write_project
from typer.testing import CliRunner

from jbt import candles, funding
from jbt.cli import app
from jbt.config import parse_config
from jbt.errors import ExchangeError, InputError
from jbt.funding import MARK_PRICE, RATE, TIME, infer_intervals
from jbt.modes import import_funding_mode

MIN = 60_000
H = 60 * MIN
DAY = 24 * H
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
EX = "binance-futures"


def config_for(server, **keys):
    table = {"api_url": server.url, "retry_delay": 0.01, **keys}
    return parse_config({"exchanges": {EX: table, "binance": table}}, env={})


@pytest.fixture
def sqlite_db(tmp_path):
    from jbt.models import open_database

    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield database
    database.close()


# A contract listed 2020-01-03 05:17 whose funding goes 8h -> 4h (2020-02-10) -> 1h
# (2020-03-01), with three holes on the exchange's side: one 8h event, a day of 4h events, and
# five hours of 1h events.
LISTING = T0 + 2 * DAY + 317 * MIN
SCHEDULE = [(0, 8 * H), (T0 + 40 * DAY, 4 * H), (T0 + 60 * DAY, H)]
HOLES = [(T0 + 20 * DAY + 8 * H, T0 + 20 * DAY + 8 * H),
         (T0 + 50 * DAY, T0 + 51 * DAY),
         (T0 + 70 * DAY + 3 * H, T0 + 70 * DAY + 7 * H)]


def contract(**kw) -> FakeMarket:
    return FakeMarket("BTC", "USDT", LISTING, T0 + 100 * DAY, seed=41,
                      funding_schedule=SCHEDULE, funding_holes=HOLES, **kw)


def assert_stored_equals(server, start, end):
    expected = server.funding("BTCUSDT", start, end)
    stored = funding.load_funding(EX, "BTC-USDT", start, end - 1)
    assert len(stored) == len(expected) > 0
    np.testing.assert_array_equal(stored[:, TIME], expected[:, 0])
    np.testing.assert_array_equal(stored[:, RATE], expected[:, 1])
    np.testing.assert_array_equal(stored[:, MARK_PRICE], expected[:, 2])
    # the intervals inferred from the times are the ones the exchange used
    np.testing.assert_array_equal(stored[:, funding.INTERVAL], expected[:, 3])
    return stored


# ------------------------------------------------------------------------ the store's rules


@pytest.mark.parametrize(
    ("gaps_h", "known_h", "intervals_h", "holes"),
    [
        # regular 8h; the first event takes the next one's interval
        ([8, 8, 8], None, [8, 8, 8, 8], []),
        # 8h -> 4h: the event at the change still covers 8 hours
        ([8, 8, 4, 4, 4], None, [8, 8, 8, 4, 4, 4], []),
        # 4h -> 8h is a change, not a hole (8 is not twice the gaps on both sides)
        ([4, 4, 8, 8, 8], None, [4, 4, 4, 8, 8, 8], []),
        # one 4h event missing: 8h between 4h and 4h; the event after it covers 4h
        ([4, 4, 8, 4, 4], None, [4, 4, 4, 4, 4, 4], [3]),
        # more than 8 hours is always a hole
        ([8, 16, 8], None, [8, 8, 8, 8], [2]),
        # 1h with three events missing
        ([1, 1, 4, 1, 1], None, [1, 1, 1, 1, 1, 1], [3]),
        # one event: nothing to infer from, 8 hours
        ([], None, [8], []),
        # stated intervals win: 8h stated after 4h gaps is a hole only when 2 x stated
        ([4, 4, 8, 4], [4, 4, 4, 4, 4], [4, 4, 4, 4, 4], [3]),
        ([4, 4, 8, 8], [4, 4, 4, 8, 8], [4, 4, 4, 8, 8], []),
    ],
)
def test_intervals_and_holes_follow_the_documented_rule(gaps_h, known_h, intervals_h, holes):
    times = T0 + np.r_[0, np.cumsum(gaps_h)].astype(np.int64) * H
    times[1::3] += 7  # Binance's few-millisecond-late funding times change nothing
    known = None if known_h is None else np.asarray(known_h, np.int64) * H
    intervals, hole = infer_intervals(times, known)
    assert (intervals // H).tolist() == intervals_h
    assert np.flatnonzero(hole).tolist() == holes


def test_insert_load_and_the_same_event_twice(db):
    times = np.array([T0, T0 + 8 * H, T0 + 16 * H, T0 + 32 * H], np.int64)
    rates = np.array([0.0001, -0.00025, 0.0003, 0.00012])
    marks = np.array([7000.5, np.nan, 7010.25, 7020.0])
    assert funding.insert_funding(EX, "BTC-USDT", times, rates, mark_prices=marks) == 4
    # the same events again, one 5 ms late (as the archive and the API may differ): no change
    again = times.copy()
    again[1] += 5
    assert funding.insert_funding(EX, "BTC-USDT", again, rates * 2) == 0
    stored = funding.load_funding(EX, "BTC-USDT")
    assert stored.shape == (4, 4)
    np.testing.assert_array_equal(stored[:, TIME], times)
    np.testing.assert_array_equal(stored[:, RATE], rates)
    np.testing.assert_array_equal(stored[:, MARK_PRICE], marks)
    assert (stored[:, funding.INTERVAL] // H).tolist() == [8, 8, 8, 8]
    assert funding.funding_holes(EX, "BTC-USDT") == [(T0 + 24 * H, T0 + 24 * H)]
    # the missing event arrives: the hole closes and the intervals are inferred again
    assert funding.insert_funding(EX, "BTC-USDT", [T0 + 24 * H], [0.0002]) == 1
    assert funding.funding_holes(EX, "BTC-USDT") == []
    assert funding.load_funding(EX, "BTC-USDT", T0 + 8 * H, T0 + 24 * H)[:, RATE].tolist() == [
        -0.00025, 0.0003, 0.0002]
    (row,) = funding.funding_coverage()
    assert (row.exchange, row.symbol, row.first, row.last, row.count, row.intervals,
            row.missing) == (EX, "BTC-USDT", T0, T0 + 32 * H, 5, (8 * H,), 0)
    assert funding.load_funding(EX, "ETH-USDT").shape == (0, 4)


# ------------------------------------------------------------------------ the import


def test_faults_of_every_kind_end_with_exactly_the_servers_events(sqlite_db):
    market = contract()
    with FakeBinance([], [market], fault_rate=0.3, fault_paths=["/fapi/v1/fundingRate"],
                     slow_s=0.6, retry_after_s=1, seed=4) as server:
        server.script(["429", "418", "500", "502", "503", "drop", "slow"])
        config = config_for(server, timeout=0.3, max_retries=30)
        summary = import_funding_mode.run(config, EX, "btc-usdt", "2020-01-01", "2020-04-01")
        faults = set(server.faults_served)
        pages = [r for r in server.funding_requests() if r.status == 200]
    assert faults == {"429", "418", "500", "502", "503", "drop", "slow"}
    stored = assert_stored_equals(server, T0, T0 + 91 * DAY)
    assert summary.fetched == summary.inserted == summary.stored == len(stored)
    assert summary.already_present == 0 and not summary.interrupted
    assert (summary.first_event, summary.last_event) == (stored[0, TIME], stored[-1, TIME])
    assert summary.intervals == [H, 4 * H, 8 * H]
    # every page bounded by endTime, oldest first from startTime, 1000 events at most
    assert all(int(r.params["endTime"]) == T0 + 91 * DAY - 1 for r in pages)
    assert {r.params["limit"] for r in pages} == {"1000"}
    assert {r.params["startTime"] for r in pages} == {str(T0)}  # fewer than 1000: one page
    # the exchange-side holes, as funding times, and the listing
    assert summary.missing_ranges == [
        (T0 + 20 * DAY + 8 * H, T0 + 20 * DAY + 8 * H),
        (T0 + 50 * DAY, T0 + 51 * DAY),
        (T0 + 70 * DAY + 3 * H, T0 + 70 * DAY + 7 * H),
    ]
    assert summary.missing == 1 + 7 + 5
    assert summary.notes == ["BTC-USDT's funding history on binance-futures begins at "
                             "2020-01-03 08:00"]


def test_a_rerun_asks_nothing_and_a_longer_period_asks_only_the_rest(sqlite_db):
    market = contract()
    with FakeBinance([], [market]) as server:
        config = config_for(server)
        first = import_funding_mode.run(config, EX, "BTC-USDT", "2020-01-01", "2020-02-01")
        server.reset_requests()
        again = import_funding_mode.run(config, EX, "BTC-USDT", "2020-01-01", "2020-02-01")
        assert server.funding_requests() == []
        longer = import_funding_mode.run(config, EX, "BTC-USDT", "2020-01-01", "2020-03-01")
        (page,) = server.funding_requests()
        assert (int(page.params["startTime"]), int(page.params["endTime"])) == (
            T0 + 31 * DAY, T0 + 60 * DAY - 1)
        assert_stored_equals(server, T0, T0 + 60 * DAY)
    assert (again.fetched, again.inserted, again.already_present) == (0, 0, first.stored)
    assert again.missing_ranges == first.missing_ranges == [HOLES[0]]
    assert longer.inserted == longer.stored - first.stored
    assert longer.missing_ranges == HOLES[:2]


def test_retries_run_out_keeping_every_page_saved(sqlite_db):
    market = contract(funding_jitter=False)
    with FakeBinance([], [market], fault_paths=["/fapi/v1/fundingRate"]) as server:
        config = config_for(server, max_retries=2)
        server.script(["ok", "503", "503", "503"])
        with pytest.raises(ExchangeError) as err:
            import_funding_mode.run(config, EX, "BTC-USDT", "2020-01-01", "2020-04-09")
        saved = funding.count_funding(EX, "BTC-USDT")
        assert saved == 1000
        last = int(funding.load_funding(EX, "BTC-USDT")[-1, TIME])
        from jbt.dates import format_ms
        assert str(err.value) == (
            f"binance-futures: fetching BTC-USDT funding rates from {format_ms(last + 1)} "
            "failed after 2 retries (last: HTTP 503); 1,000 new funding events were saved, "
            "run the same command again to resume"
        )
        server.reset_requests()
        summary = import_funding_mode.run(config, EX, "BTC-USDT", "2020-01-01", "2020-04-09")
        starts = [int(r.params["startTime"]) for r in server.funding_requests()]
    assert starts[0] == last + 1
    assert summary.already_present == 1000
    assert_stored_equals(server, T0, T0 + 99 * DAY)


def test_ctrl_c_reaches_a_wait_for_retry_after(sqlite_db):
    # the first page is refused with Retry-After: 3600; asking the import to stop ends the wait
    with FakeBinance([], [contract()], fault_paths=["/fapi/v1/fundingRate"],
                     retry_after_s=3600) as server:
        server.script(["429"])
        refused = threading.Event()
        server.on_funding = None
        out: list = []

        def stop() -> bool:
            if any(r.status == 429 for r in server.funding_requests()):
                refused.set()
            return refused.is_set()

        worker = threading.Thread(target=lambda: out.append(import_funding_mode.run(
            config_for(server), EX, "BTC-USDT", "2020-01-01", "2020-02-01", should_stop=stop)))
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()
    (summary,) = out
    assert summary.interrupted and summary.fetched == 0
    assert funding.count_funding(EX, "BTC-USDT") == 0


def test_funding_is_for_perpetual_markets(sqlite_db):
    spot = FakeMarket("BTC", "USDT", T0, T0 + DAY, seed=42)
    with FakeBinance([spot], [contract()]) as server:
        with pytest.raises(InputError, match="^--funding is for perpetual futures: use "
                           "binance-futures"):
            import_funding_mode.run(config_for(server), "binance", "BTC-USDT", "2020-01-01")
        with pytest.raises(InputError, match="unknown symbol 'ETH-USDT' on binance-futures"):
            import_funding_mode.run(config_for(server), EX, "ETH-USDT", "2020-01-01")
        assert server.funding_requests() == []


# ------------------------------------------------------------------------ the command line


def jbt_run(project: Path, *args: str):
    return CliRunner().invoke(app, ["--project", str(project), *args])


def events_committed(project: Path) -> int:
    path = project / "db.sqlite3"
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute('SELECT COUNT(*) FROM "funding_rate"').fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def spans(project: Path) -> list[tuple[int, int]]:
    con = sqlite3.connect(project / "db.sqlite3")
    try:
        return con.execute('SELECT "start", "end" FROM "funding_span" ORDER BY 1').fetchall()
    finally:
        con.close()


def test_sigkill_half_way_then_rerun_gives_the_uninterrupted_events(tmp_path):
    # a year of hourly funding: nine pages of at most 1000 events
    market = FakeMarket("ETH", "USDT", T0, T0 + 400 * DAY, seed=43,
                        funding_schedule=[(0, H)], funding_holes=[(T0 + 100 * DAY + 5 * H,
                                                                   T0 + 100 * DAY + 6 * H)])
    with FakeBinance([], [market], latency_s=0.05) as server:
        write_project(tmp_path, {EX: server}, retry_delay=0.01, timeout=5.0)
        args = ["--project", str(tmp_path), "import-candles", EX, "ETH-USDT", "2020-01-01",
                "--end", "2021-01-01", "--funding"]
        proc = subprocess.Popen([sys.executable, "-m", "jbt", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        killed: list[int] = []

        def kill_half_way(served: int) -> None:
            if not killed and served >= 3 and events_committed(tmp_path) > 0:
                killed.append(served)
                os.kill(proc.pid, signal.SIGKILL)

        server.on_funding = kill_half_way
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        server.on_funding = None
        before = spans(tmp_path)
        kept = events_committed(tmp_path)
        expected = server.funding("ETHUSDT", T0, T0 + 366 * DAY)
        assert 0 < kept < len(expected) and len(before) == 1

        server.reset_requests()
        result = jbt_run(tmp_path, *args[2:])
        assert result.exit_code == 0, result.output
        pages = server.funding_requests()
    # no page asked again: the re-run starts right after what was saved
    assert int(pages[0].params["startTime"]) == before[0][1] + 1
    lines = result.output.splitlines()
    assert any("already present" in line and line.rstrip(" │").endswith(f"{kept:,}")
               for line in lines)
    assert any("missing on the exchange" in line and line.rstrip(" │").endswith(" 2")
               for line in lines)
    assert "2020-04-10 05:00 → 2020-04-10 06:00" in result.output
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        stored = funding.load_funding(EX, "ETH-USDT")
        np.testing.assert_array_equal(stored[:, TIME], expected[:, 0])
        np.testing.assert_array_equal(stored[:, RATE], expected[:, 1])
    finally:
        close_database()


def test_cli_funding_then_candles_lists_its_coverage(tmp_path):
    with FakeBinance([FakeMarket("BTC", "USDT", T0, T0 + DAY, seed=44)], [contract()]) as server:
        write_project(tmp_path, {EX: server, "binance": server}, retry_delay=0.01)
        result = jbt_run(tmp_path, "import-candles", EX, "BTC-USDT", "2020-01-01", "--end",
                         "2020-02-01", "--funding")
        assert result.exit_code == 0, result.output
        assert "binance-futures BTC-USDT funding rates" in result.output
        assert "2020-01-21 08:00 → 2020-01-21 08:00" in result.output
        spot = jbt_run(tmp_path, "import-candles", "binance", "BTC-USDT", "2020-01-01",
                       "--funding")
        assert spot.exit_code == 2
        assert spot.output.strip() == ("Error: --funding is for perpetual futures: use "
                                       "binance-futures (USDⓈ-M), not binance")
    listing = jbt_run(tmp_path, "candles")
    assert listing.exit_code == 0, listing.output
    assert [line.rstrip() for line in listing.output.splitlines()][-3:] == [
        "Stored funding rates (times UTC)",
        "exchange        symbol   first            last             count every missing",
        "binance-futures BTC-USDT 2020-01-03 08:00 2020-01-31 16:00    85    8h       1",
    ]


def test_mark_price_candles_are_stored_apart_from_trade_candles(tmp_path):
    market = FakeMarket("BTC", "USDT", T0 + 30 * MIN, T0 + 3 * DAY, seed=45)
    with FakeBinance([], [market]) as server:
        write_project(tmp_path, {EX: server}, retry_delay=0.01)
        result = jbt_run(tmp_path, "import-candles", EX, "BTC-USDT", "2020-01-01", "--end",
                         "2020-01-02", "--mark")
        assert result.exit_code == 0, result.output
        trades = jbt_run(tmp_path, "import-candles", EX, "BTC-USDT", "2020-01-01", "--end",
                         "2020-01-02")
        assert trades.exit_code == 0, trades.output
        paths = {r.path for r in server.requests}
        mark = server.mark_candles("BTCUSDT", T0, T0 + DAY)
        trade = server.candles("BTCUSDT", T0, T0 + DAY, futures=True)
    assert "binance-futures:mark BTC-USDT 1m" in result.output
    assert "BTC-USDT begins on binance-futures:mark at 2020-01-01 00:30" in result.output
    assert {"/fapi/v1/markPriceKlines", "/fapi/v1/klines"} <= paths
    from jbt.models import close_database, open_database

    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        np.testing.assert_array_equal(funding.load_mark_candles(EX, "BTC-USDT"), mark)
        np.testing.assert_array_equal(candles.load_candles(EX, "BTC-USDT", "1m"), trade)
        assert not np.array_equal(mark[:, 1:5], trade[:, 1:5])
        assert [(r.exchange, r.symbol, r.count) for r in candles.coverage()] == [
            (EX, "BTC-USDT", 1410), ("binance-futures:mark", "BTC-USDT", 1410)]
    finally:
        close_database()
