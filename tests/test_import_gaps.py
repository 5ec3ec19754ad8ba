"""Known gaps: minutes the exchange answered without candles are not asked for again."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket

from jbt import candles
from jbt.config import parse_config
from jbt.dates import now_ms
from jbt.models import CandleGap, SymbolListing
from jbt.modes.import_candles_mode import _intersect, _subtract, known_gaps, run

MIN = 60_000
DAY = 1440 * MIN
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC


def config_for(server):
    table = {"api_url": server.url, "retry_delay": 0.01}
    return parse_config({"exchanges": {"binance": table}}, env={})


def windows(server):
    return sorted((int(r.params["startTime"]), int(r.params["endTime"]))
                  for r in server.klines_requests())


@pytest.fixture
def sqlite_db(tmp_path):
    from jbt.models import open_database

    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield database
    database.close()


def test_a_second_run_sends_no_request_and_reports_the_same_ranges(sqlite_db):
    listing = T0 + DAY + 5 * MIN
    holes = [(T0 + 2 * DAY + 10 * MIN, T0 + 2 * DAY + 19 * MIN),
             (T0 + 3 * DAY - 3 * MIN, T0 + 3 * DAY + 2 * MIN)]  # across a day boundary
    market = FakeMarket("BTC", "USDT", listing, T0 + 9 * DAY, holes=holes, seed=31)
    with FakeBinance([market]) as server:
        first = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        expected = server.candles("BTCUSDT", T0, T0 + 3 * DAY)
    assert first.missing_ranges == [holes[0], (holes[1][0], T0 + 3 * DAY - MIN)]
    assert known_gaps("binance", "BTC-USDT", "1m") == first.missing_ranges
    assert [(r.exchange, r.symbol, r.listing) for r in SymbolListing.select()] == [
        ("binance", "BTC-USDT", listing)]
    with FakeBinance([market]) as server:
        again = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-04")
        assert server.klines_requests() == []  # no listing request, no window
    assert np.array_equal(candles.load_candles("binance", "BTC-USDT", "1m"), expected)
    assert again.missing_ranges == first.missing_ranges and again.missing == 13
    assert (again.start, again.listing, again.notes) == (listing, listing, first.notes)
    assert (again.fetched, again.inserted, again.already_present) == (0, 0, len(expected))
    # a longer period asks for the new day only; the known part of the hole is not asked again
    with FakeBinance([market]) as server:
        longer = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-05")
        assert windows(server) == [(T0 + 3 * DAY, T0 + 3 * DAY + 999 * MIN),
                                   (T0 + 3 * DAY + 1000 * MIN, T0 + 4 * DAY - MIN)]
    assert longer.missing_ranges == holes and longer.inserted == 1440 - 3
    assert known_gaps("binance", "BTC-USDT", "1m") == holes
    assert CandleGap.select().count() == 2  # the two parts of the second hole are one row


def test_refetch_gaps_asks_again_and_keeps_what_is_still_missing(sqlite_db):
    holes = [(T0 + 100 * MIN, T0 + 109 * MIN), (T0 + 700 * MIN, T0 + 704 * MIN)]
    market = FakeMarket("BTC", "USDT", T0, T0 + 2 * DAY, holes=holes, seed=32)
    with FakeBinance([market]) as server:
        run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-02")
    # the exchange backfills all of the first hole but its last three minutes
    still = [(T0 + 107 * MIN, T0 + 109 * MIN), holes[1]]
    backfilled = FakeMarket("BTC", "USDT", T0, T0 + 2 * DAY, holes=still, seed=32)
    with FakeBinance([backfilled]) as server:
        plain = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-02")
        assert server.klines_requests() == []
        assert plain.missing_ranges == holes
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-02",
                      refetch_gaps=True)
        # exactly the known gaps (the first minute is stored: no listing request); the short
        # answer for the first one is followed by one for the rest of it, which comes back empty
        assert windows(server) == [holes[0], still[0], holes[1]]
        expected = server.candles("BTCUSDT", T0, T0 + DAY)
    assert np.array_equal(candles.load_candles("binance", "BTC-USDT", "1m"), expected)
    assert (summary.fetched, summary.inserted, summary.already_present) == (7, 7, 1440 - 15)
    assert summary.missing_ranges == still
    assert known_gaps("binance", "BTC-USDT", "1m") == still
    with FakeBinance([backfilled]) as server:
        again = run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-02")
        assert server.klines_requests() == []
    assert again.missing_ranges == still and again.inserted == 0


def test_refetch_gaps_asks_for_the_listing_again(sqlite_db):
    market = FakeMarket("BTC", "USDT", T0 + 60 * MIN, T0 + DAY, seed=33)
    with FakeBinance([market]) as server:
        run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-01T03:00")
        server.reset_requests()
        run(config_for(server), "binance", "BTC-USDT", "2020-01-01", "2020-01-01T03:00")
        assert server.klines_requests() == []
    # the exchange now has the first hour too
    earlier = FakeMarket("BTC", "USDT", T0, T0 + DAY, seed=33)
    with FakeBinance([earlier]) as server:
        summary = run(config_for(server), "binance", "BTC-USDT", "2020-01-01",
                      "2020-01-01T03:00", refetch_gaps=True)
        params = [r.params for r in server.klines_requests()]
    assert params == [
        {"interval": "1m", "limit": "1", "symbol": "BTCUSDT", "startTime": "0"},
        {"interval": "1m", "limit": "60", "symbol": "BTCUSDT", "startTime": str(T0),
         "endTime": str(T0 + 59 * MIN)},
    ]
    assert (summary.listing, summary.start, summary.inserted) == (T0, T0, 60)
    assert summary.notes == [] and summary.missing_ranges == []
    assert [r.listing for r in SymbolListing.select()] == [T0]


def test_gaps_near_now_are_not_remembered(sqlite_db):
    now0 = now_ms() // MIN * MIN
    listing = now0 - 300 * MIN
    old = (listing + 10 * MIN, listing + 19 * MIN)  # hours ago: remembered
    recent = (now0 - 50 * MIN, now0 - 41 * MIN)  # within the hour before now: asked again
    # the exchange has published nothing for the last 20 minutes
    market = FakeMarket("BTC", "USDT", listing, now0 - 20 * MIN, holes=[old, recent], seed=34)
    with FakeBinance([market]) as server:
        first = run(config_for(server), "binance", "BTC-USDT", listing)
        assert first.missing_ranges == [old, recent, (now0 - 20 * MIN, first.end)]
        assert known_gaps("binance", "BTC-USDT", "1m") == [old]
        server.reset_requests()
        again = run(config_for(server), "binance", "BTC-USDT", listing)
        assert windows(server) == [recent, (now0 - 20 * MIN, again.end)]
    assert again.missing_ranges == [old, recent, (now0 - 20 * MIN, again.end)]
    assert known_gaps("binance", "BTC-USDT", "1m") == [old]


@pytest.mark.parametrize(
    ("ranges", "cut", "rest", "common"),
    [
        ([(0, 9 * MIN)], [], [(0, 9 * MIN)], []),
        ([(0, 9 * MIN)], [(2 * MIN, 3 * MIN), (5 * MIN, 5 * MIN)],
         [(0, MIN), (4 * MIN, 4 * MIN), (6 * MIN, 9 * MIN)],
         [(2 * MIN, 3 * MIN), (5 * MIN, 5 * MIN)]),
        ([(0, 2 * MIN), (5 * MIN, 9 * MIN)], [(MIN, 6 * MIN)],
         [(0, 0), (7 * MIN, 9 * MIN)], [(MIN, 2 * MIN), (5 * MIN, 6 * MIN)]),
        ([(3 * MIN, 4 * MIN)], [(0, 9 * MIN)], [], [(3 * MIN, 4 * MIN)]),
    ],
)
def test_subtract_and_intersect(ranges, cut, rest, common):
    assert _subtract(ranges, cut) == rest
    assert _intersect(ranges, cut) == common
