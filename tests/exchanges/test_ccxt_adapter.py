"""Adapters through the real ccxt client against the fake Binance server on 127.0.0.1."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket

from jbt.config import ExchangeConfig, parse_config
from jbt.errors import ExchangeError, InputError
from jbt.exchanges import check_exchange, get_adapter
from jbt.exchanges.ccxt_adapter import CcxtAdapter, rewrite_api_urls

MIN = 60_000
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
LISTING = T0 + 90 * MIN
HOLE = (T0 + 600 * MIN, T0 + 629 * MIN)


@pytest.fixture(scope="module")
def server():
    spot = [
        FakeMarket("BTC", "USDT", LISTING, T0 + 2 * 1440 * MIN, holes=[HOLE], seed=1),
        FakeMarket("ETH", "USDT", T0, T0 + 1440 * MIN, seed=2),
        FakeMarket("ETH", "BTC", T0, T0 + 1440 * MIN, seed=3),
    ]
    futures = [FakeMarket("BTC", "USDT", T0, T0 + 1440 * MIN, seed=4)]
    with FakeBinance(spot, futures, slow_s=1.0) as srv:
        yield srv


def config_for(server, **keys):
    table = {"api_url": server.url, "retry_delay": 0.01, **keys}
    return parse_config(
        {"exchanges": {"binance": table, "binance-futures": table}}, env={}
    )


@pytest.fixture
def binance(server):
    server.reset_requests()
    adapter = get_adapter("binance", config_for(server))
    yield adapter
    adapter.close()


def test_markets_are_written_our_way_and_loaded_only_for_spot(server, binance):
    assert binance.markets() == ["BTC-USDT", "ETH-BTC", "ETH-USDT"]
    assert [r.path for r in server.requests] == ["/api/v3/exchangeInfo"]


def test_symbol_validation_normalises_and_suggests(binance):
    assert binance.validate_symbol(" btc-usdt ") == "BTC-USDT"
    assert binance.validate_symbol("eth/btc") == "ETH-BTC"
    assert binance.validate_symbol("BTC/USDT:USDT") == "BTC-USDT"
    with pytest.raises(InputError, match=r"symbol 'BTCUSDT' must be written BASE-QUOTE, like "
                                         r"BTC-USDT; did you mean BTC-USDT\?"):
        binance.validate_symbol("BTCUSDT")
    with pytest.raises(InputError, match=r"did you mean .*ETH-USDT"):
        binance.validate_symbol("ETH-USDX")
    with pytest.raises(InputError, match=r"^unknown symbol 'DOGE-EUR' on binance$"):
        binance.validate_symbol("DOGE-EUR")


def test_fetch_ohlcv_returns_the_servers_rows_in_jbt_order(server, binance):
    start, end = LISTING + 10 * MIN, LISTING + 1009 * MIN
    rows = binance.fetch_ohlcv("BTC-USDT", start, 1000, end_ms=end)
    expected = server.candles("BTCUSDT", start, end + MIN)
    assert rows.dtype == np.float64 and rows.shape == expected.shape
    assert np.array_equal(rows, expected)
    # the hole is absent, not filled
    assert not ((rows[:, 0] >= HOLE[0]) & (rows[:, 0] <= HOLE[1])).any()
    req = server.klines_requests()[-1]
    assert req.params == {"symbol": "BTCUSDT", "interval": "1m", "limit": "1000",
                          "startTime": str(start), "endTime": str(end)}


def test_first_timestamp_is_the_listing(binance):
    assert binance.first_timestamp("BTC-USDT") == LISTING
    assert binance.first_timestamp("ETH-USDT") == T0


def test_futures_adapter_uses_fapi(server):
    server.reset_requests()
    adapter = get_adapter("binance-futures", config_for(server))
    assert adapter.markets() == ["BTC-USDT"]
    rows = adapter.fetch_ohlcv("BTC-USDT", T0, 1000, end_ms=T0 + 999 * MIN)
    assert np.array_equal(rows, server.candles("BTCUSDT", T0, T0 + 1000 * MIN, futures=True))
    assert [r.path for r in server.requests] == ["/fapi/v1/exchangeInfo", "/fapi/v1/klines"]
    adapter.close()


@pytest.mark.parametrize("fault", ["500", "502", "503", "drop", "slow"])
def test_transient_failures_are_retried(server, fault):
    server.reset_requests()
    adapter = get_adapter("binance", config_for(server, timeout=0.3))
    adapter.markets()
    server.script([fault, fault])
    rows = adapter.fetch_ohlcv("ETH-USDT", T0, 1000, end_ms=T0 + 999 * MIN)
    assert np.array_equal(rows, server.candles("ETHUSDT", T0, T0 + 1000 * MIN))
    assert server.faults_served == [fault, fault]
    assert len(server.klines_requests()) == 3
    assert adapter.requests == 4  # exchangeInfo + 2 failures + the answer
    adapter.close()


@pytest.mark.parametrize("fault", ["429", "418"])
def test_rate_limit_answers_wait_for_retry_after(server, fault):
    adapter = get_adapter("binance", config_for(server))
    adapter.markets()
    server.reset_requests()
    server.script([fault])
    began = time.monotonic()
    rows = adapter.fetch_ohlcv("ETH-USDT", T0, 10, end_ms=T0 + 9 * MIN)
    assert len(rows) == 10
    first, second = server.klines_requests()
    assert first.status == int(fault) and second.status == 200
    assert second.time - first.time >= 1.0  # the server asked for Retry-After: 1
    assert time.monotonic() - began >= 1.0
    adapter.close()


def test_retries_run_out_with_a_clear_error(server):
    adapter = get_adapter("binance", config_for(server, max_retries=2))
    adapter.markets()
    server.reset_requests()
    server.script(["503", "503", "503"])
    with pytest.raises(ExchangeError) as err:
        adapter.fetch_ohlcv("ETH-USDT", T0, 1000)
    assert str(err.value) == (
        "binance: fetching ETH-USDT candles from 2020-01-01 00:00 failed after 2 retries "
        "(last: HTTP 503)"
    )
    assert len(server.klines_requests()) == 3
    adapter.close()


def test_client_errors_are_not_retried():
    markets = [FakeMarket("ETH", "USDT", T0, T0 + 1440 * MIN, seed=2)]
    with FakeBinance(markets) as srv:
        adapter = get_adapter("binance", config_for(srv))
        adapter.markets()
        del srv.spot["ETHUSDT"]  # delisted after the markets were loaded: HTTP 400
        with pytest.raises(ExchangeError) as err:
            adapter.fetch_ohlcv("ETH-USDT", T0, 1000)
        assert str(err.value).startswith(
            "binance: fetching ETH-USDT candles from 2020-01-01 00:00 failed: binance "
        )
        assert "Invalid symbol" in str(err.value)
        assert [r.status for r in srv.klines_requests()] == [400]
        adapter.close()


def test_weight_limit_paces_requests_without_429():
    markets = [FakeMarket("ETH", "USDT", T0, T0 + 1440 * MIN, seed=2)]
    # 20 weight per 1 s window: 10 klines requests a second at weight 2.
    with FakeBinance(markets, weight_limit=20, weight_window_s=1.0) as srv:
        adapter = CcxtAdapter(
            "binance", "binance", config=ExchangeConfig(api_url=srv.url, retry_delay=0.01),
            weight_limit=20, weight_header="X-MBX-USED-WEIGHT-1M", klines_weight=lambda n: 2,
            markets_weight=20, supports_until=True, weight_window_s=1.0, listing_from_epoch=True,
        )
        time.sleep(1.0 - time.time() % 1.0)  # begin at a fresh window
        adapter.markets()  # weight 20: the first window is spent on it
        for i in range(12):
            adapter.fetch_ohlcv("ETH-USDT", T0 + i * MIN, 1)
        statuses = [r.status for r in srv.requests]
        assert statuses == [200] * 13
        windows = {int(r.time) for r in srv.klines_requests()}
        assert len(windows) >= 2
        assert adapter.limiter.waited_s > 0
        adapter.close()


def test_unknown_exchange_lists_the_supported_ones():
    with pytest.raises(InputError) as err:
        check_exchange("binanse")
    msg = str(err.value)
    assert msg.startswith("unknown exchange 'binanse'; did you mean binance")
    assert "supported: binance, binance-futures, or any ccxt exchange id" in msg
    assert check_exchange("Kraken") == "kraken"


def test_generic_ccxt_exchange_gets_the_base_url_rewritten():
    config = parse_config({"exchanges": {"kraken": {"api_url": "http://127.0.0.1:9"}}}, env={})
    adapter = get_adapter("kraken", config)
    api = adapter._conn().exchange.urls["api"]
    assert api["public"] == "http://127.0.0.1:9"
    assert adapter.limiter.min_interval_s > 0  # no published weights: the exchange's own pace
    adapter.close()


def test_rewrite_keeps_each_path_and_a_prefix():
    api = {"public": "https://api.binance.com/api/v3", "fapi": {"x": "https://fapi.binance.com/fapi/v1/"},
           "rest": "https://{hostname}/"}
    assert rewrite_api_urls(api, "http://mirror.example/binance/") == {
        "public": "http://mirror.example/binance/api/v3",
        "fapi": {"x": "http://mirror.example/binance/fapi/v1"},
        "rest": "http://mirror.example/binance",
    }
