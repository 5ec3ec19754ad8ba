"""One symbol normaliser for routes, the command line, the API and the importers (issue 16,
finding 4), and the warnings summary of the report (finding 2)."""

from __future__ import annotations

import pytest

from jbt.errors import InputError
from jbt.notices import kind_of, summarize
from jbt.symbols import normalize_symbol


@pytest.mark.parametrize("text", ["BTC-USDT", "btc-usdt", " btc/usdt ", "BTC_USDT",
                                  "BTC/USDT:USDT", "btc - usdt"])
def test_every_spelling_of_a_pair_is_ours(text):
    assert normalize_symbol(text) == "BTC-USDT"


@pytest.mark.parametrize(("text", "known", "hint"), [
    ("BTCUSDT", [], "; did you mean BTC-USDT?"),
    ("btcusd", [], "; did you mean BTC-USD?"),
    ("BTCUSDT", ["BTC-USD", "ETH-USD"], "; did you mean BTC-USD (stored)?"),
    ("ETHBTC", ["ETH-BTC"], "; did you mean ETH-BTC (stored)?"),
    ("XYZ", [], ""),
    ("ＢＴＣ-ＵＳＤＴ", [], ""),  # full-width letters are not the pair
    ("BTC--USDT", [], "; did you mean BTC-USDT?"),
])
def test_a_pair_without_its_separator_is_refused_with_a_guess(text, known, hint):
    with pytest.raises(InputError) as err:
        normalize_symbol(text, known=known, label=" (stored)")
    assert str(err.value) == f"symbol '{text}' must be written BASE-QUOTE, like BTC-USDT{hint}"


def test_the_file_importer_and_the_api_use_the_same_normaliser():
    from jbt.api.schemas import RouteIn
    from jbt.importers.files import check_symbol

    assert check_symbol("eth/usdt") == "ETH-USDT"
    route = RouteIn(exchange="Binance", symbol="eth_usdt", timeframe="1h", strategy="X")
    assert (route.exchange, route.symbol) == ("binance", "ETH-USDT")


def test_warnings_are_shown_three_of_a_kind_then_counted():
    refused = [f"order #{i} (x:BTC-USD:1h:F buy 1000 @ 3691.86) rejected at 2019-01-01 00:00 "
               f"UTC: cost 3695551.9 exceeds the available balance 10000" for i in range(1, 11)]
    other = ["route a: 3 warm-up bars stored before the start, 20 configured",
             "something odd 1", "something odd 2", "something odd 3", "something odd 4"]
    lines = summarize(refused[:4] + other + refused[4:])
    assert lines == [*refused[:3], *other[:4],
                     "7 more orders rejected for insufficient balance; 1 more warnings like: "
                     "something odd # (all of them are in the saved session and --json)"]
    assert summarize(refused[:3]) == refused[:3]
    assert kind_of(refused[0]) == kind_of(refused[9])
