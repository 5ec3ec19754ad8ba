"""import_candles_mode.run through the real ccxt client against the fake Binance server."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket

from jbt import candles
from jbt.config import parse_config
from jbt.errors import ExchangeError, InputError
from jbt.models import CandleGap
from jbt.modes.import_candles_mode import ImportProgress, known_gaps, resolve_period, run

MIN = 60_000
DAY = 1440 * MIN
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC


def config_for(server, **keys):
    table = {"api_url": server.url, "retry_delay": 0.01, **keys}
    return parse_config({"exchanges": {"binance": table, "binance-futures": table}}, env={})


def stored(exchange="binance", symbol="BTC-USDT"):
    return candles.load_candles(exchange, symbol, "1m")


@pytest.fixture
def sqlite_db(tmp_path):
    from jbt.models import open_database

    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield database
    database.close()


def in_ranges(ts: int, ranges) -> bool:
    return any(a <= ts <= b for a, b in ranges)


def test_three_days_store_exactly_what_the_server_holds(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0 - 10 * DAY, T0 + 10 * DAY, seed=11)
    with FakeBinance([market]) as server:
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        expected = server.candles("BTCUSDT", T0, T0 + 3 * DAY)
        klines = server.klines_requests()
    rows = stored()
    assert len(rows) == 4320
    assert np.array_equal(rows, expected)
    assert (summary.fetched, summary.inserted, summary.already_present) == (4320, 4320, 0)
    assert summary.missing_ranges == [] and not summary.interrupted
    assert (summary.start, summary.end) == (T0, T0 + 3 * DAY - MIN)
    # the listing (startTime=0, limit=1), then five pages of at most 1000 minutes, each
    # bounded by endTime: nothing outside the period
    assert klines[0].params == {"interval": "1m", "limit": "1", "symbol": "BTCUSDT",
                                "startTime": "0"}
    assert len(klines) == 6 and summary.requests == 6
    windows = sorted((int(r.params["startTime"]), int(r.params["endTime"])) for r in klines[1:])
    assert windows[0] == (T0, T0 + 999 * MIN)
    assert windows[-1] == (T0 + 4000 * MIN, T0 + 4319 * MIN)
    assert sorted(r.params["limit"] for r in klines[1:]) == ["1000"] * 4 + ["320"]


def test_faults_of_every_kind_end_with_the_same_rows(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0, T0 + 4 * DAY, seed=12)
    with FakeBinance([market], fault_rate=0.3, slow_s=0.6, retry_after_s=1, seed=5) as server:
        server.script(["429", "418", "500", "502", "503", "drop", "slow"])
        summary = run(config_for(server, timeout=0.3, max_retries=30), "binance", "BTC-USDT",
                      "2020-01-01", "2020-01-04")
        expected = server.candles("BTCUSDT", T0, T0 + 3 * DAY)
        faults = set(server.faults_served)
    rows = stored()
    assert np.array_equal(rows, expected)
    assert len(np.unique(rows[:, 0])) == len(rows) == 4320
    assert summary.inserted == 4320 and summary.missing_ranges == []
    assert faults == {"429", "418", "500", "502", "503", "drop", "slow"}


def test_resume_requests_only_what_is_not_stored(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0, T0 + 5 * DAY, seed=13)
    with FakeBinance([market]) as server:
        config = config_for(server)
        run(config, "binance", "BTC-USDT", "2020-01-02T03:17", "2020-01-02T21:00")
        run(config, "binance", "BTC-USDT", "2020-01-03T05:00", "2020-01-03T06:00")
        before = candles.stored_ranges("binance", "BTC-USDT", "1m")
        assert before == [(T0 + DAY + 197 * MIN, T0 + DAY + 1259 * MIN),
                          (T0 + 2 * DAY + 300 * MIN, T0 + 2 * DAY + 359 * MIN)]
        server.reset_requests()
        summary = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        expected = server.candles("BTCUSDT", T0, T0 + 3 * DAY)
        klines = server.klines_requests()
    assert np.array_equal(stored(), expected)
    assert summary.already_present == 1063 + 60
    assert summary.inserted == 4320 - 1123 == summary.fetched
    # 2020-01-01 00:00 is not stored, but the listing is known from the first run: not asked
    assert len(klines) == 5 and all(r.params["startTime"] != "0" for r in klines)
    for r in klines:
        a, b = int(r.params["startTime"]), int(r.params["endTime"])
        assert not any(lo <= b and a <= hi for lo, hi in before), (a, b)
    # again: everything is stored, not one request
    with FakeBinance([market]) as server:
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        assert server.klines_requests() == []
    assert (summary.fetched, summary.inserted, summary.already_present) == (0, 0, 4320)


def test_listing_and_exchange_holes_match_the_server(sqlite_db):
    listing = T0 + 2 * DAY + 123 * MIN
    holes = [(listing + 500 * MIN, listing + 500 * MIN),  # one minute
             (listing + 990 * MIN, listing + 1010 * MIN),  # across a page boundary
             (listing + 1999 * MIN, listing + 2999 * MIN),  # a whole page and more
             (T0 + 5 * DAY - 7 * MIN, T0 + 5 * DAY - MIN)]  # the period's last minutes
    market = FakeMarket("BTC", "USDT", listing, T0 + 9 * DAY, holes=holes, seed=14)
    with FakeBinance([market]) as server:
        config = config_for(server)
        summary = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-06")
        expected = server.candles("BTCUSDT", T0, T0 + 5 * DAY)
        # a re-run asks for nothing (the holes and the listing are known) and reports the holes
        # again
        server.reset_requests()
        again = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-06")
        rerun = server.klines_requests()
    assert np.array_equal(stored(), expected)
    assert summary.start == listing and summary.listing == listing and summary.start_adjusted
    assert summary.notes == [
        "BTC-USDT begins on binance at 2020-01-03 02:03; importing from there instead of "
        "2020-01-01 00:00"
    ]
    assert summary.missing_ranges == holes
    assert summary.missing == 1 + 21 + 1001 + 7
    assert summary.fetched == summary.inserted == len(expected)
    assert again.missing_ranges == holes and again.inserted == again.fetched == 0
    assert rerun == [] and again.requests == 0
    assert (again.start, again.listing, again.notes) == (listing, listing, summary.notes)
    # the hole across a page boundary is one row, not one per page
    assert known_gaps("binance", "BTC-USDT", "1m") == holes
    assert CandleGap.select().count() == 4


def test_a_symbol_listed_after_the_period_imports_nothing(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0 + 20 * DAY, T0 + 21 * DAY, seed=15)
    with FakeBinance([market]) as server:
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        assert len(server.klines_requests()) == 1  # the listing, nothing else
    assert summary.fetched == 0 and len(stored()) == 0
    assert summary.notes == ["BTC-USDT is listed on binance from 2020-01-21 00:00, after the "
                             "end of the period; nothing to import"]


def test_futures_import(sqlite_db):
    market = FakeMarket("ETH", "USDT", T0, T0 + 2 * DAY, seed=16)
    with FakeBinance([], [market]) as server:
        summary = run(config_for(server), "binance-futures", "eth-usdt", "2020-01-01",
                      "2020-01-02")
        expected = server.candles("ETHUSDT", T0, T0 + DAY, futures=True)
        paths = {r.path for r in server.requests}
    assert summary.exchange == "binance-futures" and summary.symbol == "ETH-USDT"
    assert np.array_equal(stored("binance-futures", "ETH-USDT"), expected)
    assert paths == {"/fapi/v1/exchangeInfo", "/fapi/v1/klines"}


def test_retries_run_out_keeping_what_was_fetched(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0, T0 + 4 * DAY, seed=17)
    with FakeBinance([market]) as server:
        config = config_for(server, max_retries=2)
        server.script(["ok", "ok", "ok", "503", "503", "503"])  # listing, 2 pages, failures
        with pytest.raises(ExchangeError) as err:
            run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-04", workers=1)
        assert str(err.value) == (
            "binance: fetching BTC-USDT candles from 2020-01-02 09:20 failed after 2 retries "
            "(last: HTTP 503); 2,000 new candles were saved, run the same command again to "
            "resume"
        )
        assert np.array_equal(stored(), server.candles("BTCUSDT", T0, T0 + 2000 * MIN))
        summary = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        assert np.array_equal(stored(), server.candles("BTCUSDT", T0, T0 + 3 * DAY))
    assert (summary.already_present, summary.inserted) == (2000, 2320)


def test_stop_flag_and_progress(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0, T0 + 4 * DAY, seed=18)
    seen: list[ImportProgress] = []
    with FakeBinance([market]) as server:
        config = config_for(server)
        summary = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-04",
                      progress=seen.append, should_stop=lambda: len(seen) >= 3, workers=1)
        assert summary.interrupted
        assert [p.done for p in seen] == [0, 1000, 2000]
        assert all(p.total == 4320 for p in seen)
        assert np.array_equal(stored(), server.candles("BTCUSDT", T0, T0 + 2000 * MIN))
        seen.clear()
        summary = run(config, "binance", "BTC-USDT", "2020-01-01", "2020-01-04",
                      progress=seen.append)
    assert not summary.interrupted
    assert [p.done for p in seen] == [0, 1000, 2000, 2320]
    assert seen[-1] == ImportProgress(done=2320, total=2320, fetched=2320, inserted=2320)


def test_bad_symbol_fails_before_any_candle_request(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0, T0 + DAY, seed=19)
    with FakeBinance([market]) as server:
        with pytest.raises(InputError, match="unknown symbol 'BTC-USDX' on binance; did you mean BTC-USDT"):
            run(config_for(server), "binance", "BTC-USDX", "2020-01-01")
        assert server.klines_requests() == []


NOW = T0 + 10 * DAY + 30 * MIN + 15_000  # 2020-01-11 00:30:15


@pytest.mark.parametrize(
    ("start", "end", "period"),
    [
        ("2020-01-01", "2020-01-04", (T0, T0 + 3 * DAY - MIN)),
        ("2020-01-01T12:30", "2020-01-01 13:00:00Z", (T0 + 750 * MIN, T0 + 779 * MIN)),
        ("2020-01-01T12:30:30+00:00", "2020-01-01T12:40:30", (T0 + 751 * MIN, T0 + 760 * MIN)),
        ("2020-01-10", None, (T0 + 9 * DAY, T0 + 10 * DAY + 29 * MIN)),  # last closed minute
        (T0, T0 + 5 * MIN, (T0, T0 + 4 * MIN)),
    ],
)
def test_resolve_period(start, end, period):
    assert resolve_period(start, end, now=NOW) == period


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2020-13-01", None, "START '2020-13-01' is not a date (month must be in 1..12); use "
                             "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("yesterday", None, "START 'yesterday' is not a date; use YYYY-MM-DD or "
                            "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-01-01", "2020-01-01T25:00", "END '2020-01-01T25:00' is not a date (hour must be "
                                           "in 0..23); use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-01-01T10:00+02:00", None, "START '2020-01-01T10:00+02:00' is not a date (only UTC "
                                         "offsets are accepted); use YYYY-MM-DD or "
                                         "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-02-01", None, "START 2020-02-01 00:00 is in the future"),
        ("2020-01-01", "2020-01-12", "END 2020-01-12 00:00 is in the future"),
        ("2020-01-05", "2020-01-04", "END 2020-01-04 00:00 is not after START 2020-01-05 00:00"),
        ("2020-01-05", "2020-01-05", "END 2020-01-05 00:00 is not after START 2020-01-05 00:00"),
        ("2020-01-05T00:00:10", "2020-01-05T00:00:50",
         "no closed minute between START 2020-01-05 00:00:10 and END 2020-01-05 00:00:50"),
    ],
)
def test_resolve_period_rejects(start, end, message):
    with pytest.raises(InputError) as err:
        resolve_period(start, end, now=NOW)
    assert str(err.value) == message


def test_any_ccxt_exchange_id_goes_through_the_generic_adapter(sqlite_db):
    # binanceus speaks Binance's API, so the fake server can stand in for it.
    listing = T0 + 30 * MIN
    market = FakeMarket("BTC", "USDT", listing, T0 + DAY, seed=23)
    with FakeBinance([market]) as server:
        config = parse_config({"exchanges": {"binanceus": {"api_url": server.url}}}, env={})
        summary = run(config, "binanceus", "BTC-USDT", "2020-01-01", "2020-01-01T02:00")
        expected = server.candles("BTCUSDT", T0, T0 + 120 * MIN)
        starts = [r.params["startTime"] for r in server.klines_requests()]
    assert np.array_equal(stored("binanceus"), expected)
    # no listing request: the generic adapter cannot tell, so the first half hour is missing
    assert starts == [str(T0)]
    assert summary.listing is None and summary.notes == []
    assert summary.missing_ranges == [(T0, listing - MIN)]


def test_retry_after_holds_every_worker(sqlite_db):
    # Four workers, every answer 0.25 s late; one page is refused with 429 and Retry-After: 1.
    # The refused window comes back a second after the refusal was answered, and no worker
    # sends anything in the meantime (retry_delay is 0.01 s: only Retry-After explains it).
    market = FakeMarket("BTC", "USDT", T0, T0 + 12 * DAY, seed=24)
    with FakeBinance([market], retry_after_s=1, latency_s=0.25) as server:
        server.script(["ok", "ok", "429"])  # the listing, one page, then a refusal
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-11",
                      workers=4)
        expected = server.candles("BTCUSDT", T0, T0 + 10 * DAY)
        klines = server.klines_requests()
    assert np.array_equal(stored(), expected)
    assert summary.inserted == 14_400 and summary.missing_ranges == []
    assert len(klines) == 1 + 15 + 1  # the listing, 15 pages, the one retry
    (refused,) = [r for r in klines if r.status == 429]
    window = (refused.params["startTime"], refused.params["endTime"])
    (retry,) = [r for r in klines
                if (r.params["startTime"], r.params.get("endTime")) == window and r.status == 200]
    answered = refused.time + 0.25
    assert 1.0 <= retry.time - answered < 1.8
    # requests sent before the refusal was answered arrive by then; nothing after it
    assert [r for r in klines if answered + 0.1 < r.time < answered + 1.0] == []
