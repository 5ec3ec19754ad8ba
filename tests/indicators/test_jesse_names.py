"""Ported Jesse strategies run unchanged: every indicator the issue names exists under Jesse's
name with Jesse's argument names, order and defaults, and multi-output indicators return
named tuples with Jesse's field names. ``jbt.utils`` likewise.

The table is written from Jesse's own signatures (``jesse/indicators/*.py``,
``jesse/utils.py``); jbt may add arguments only after Jesse's (e.g. ``sequential`` on
``ichimoku_cloud``).
"""

from __future__ import annotations

import inspect

import pytest
from indicator_data import random_walk_candles

import jbt.indicators as ta
from jbt import utils

SRC = {"source_type": "close", "sequential": False}
SEQ = {"sequential": False}

#: Jesse's name -> (arguments after ``candles`` with their defaults, in order; tuple fields).
JESSE = {
    "sma": ({"period": 5, **SRC}, None),
    "ema": ({"period": 5, **SRC}, None),
    "wma": ({"period": 30, **SRC}, None),
    "hma": ({"period": 5, **SRC}, None),
    "dema": ({"period": 30, **SRC}, None),
    "tema": ({"period": 9, **SRC}, None),
    "trima": ({"period": 30, **SRC}, None),
    "kama": ({"period": 14, "fast_length": 2, "slow_length": 30, **SRC}, None),
    "vwma": ({"period": 20, **SRC}, None),
    "smma": ({"period": 5, **SRC}, None),
    "rma": ({"length": 14, **SRC}, None),
    "ma": ({"period": 30, "matype": 0, **SRC}, None),
    "rsi": ({"period": 14, **SRC}, None),
    "macd": ({"fast_period": 12, "slow_period": 26, "signal_period": 9, **SRC},
             ("macd", "signal", "hist")),
    "stoch": ({"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3,
               "slowd_matype": 0, **SEQ}, ("k", "d")),
    "srsi": ({"period": 14, "period_stoch": 14, "k": 3, "d": 3, **SRC}, ("k", "d")),
    "cci": ({"period": 14, **SEQ}, None),
    "mfi": ({"period": 14, **SEQ}, None),
    "roc": ({"period": 10, **SRC}, None),
    "mom": ({"period": 10, **SRC}, None),
    "willr": ({"period": 14, **SEQ}, None),
    "cmo": ({"period": 14, **SRC}, None),
    "trix": ({"period": 18, **SRC}, None),
    "ultosc": ({"timeperiod1": 7, "timeperiod2": 14, "timeperiod3": 28, **SEQ}, None),
    "ao": ({**SEQ}, ("osc", "change")),
    "ppo": ({"fast_period": 12, "slow_period": 26, "matype": 0, **SRC}, None),
    "adx": ({"period": 14, **SEQ}, None),
    "di": ({"period": 14, **SEQ}, ("plus", "minus")),
    "aroon": ({"period": 14, **SEQ}, ("down", "up")),
    "sar": ({"acceleration": 0.02, "maximum": 0.2, **SEQ}, None),
    "supertrend": ({"period": 10, "factor": 3, **SEQ}, ("trend", "changed")),
    "ichimoku_cloud": ({"conversion_line_period": 9, "base_line_period": 26,
                        "lagging_line_period": 52, "displacement": 26},
                       ("conversion_line", "base_line", "span_a", "span_b")),
    "linearreg": ({"period": 14, **SRC}, None),
    "linearreg_slope": ({"period": 14, **SRC}, None),
    "atr": ({"period": 14, **SEQ}, None),
    "natr": ({"period": 14, **SEQ}, None),
    "trange": ({**SEQ}, None),
    "bollinger_bands": ({"period": 20, "devup": 2, "devdn": 2, "matype": 0, "devtype": 0, **SRC},
                        ("upperband", "middleband", "lowerband")),
    "keltner": ({"period": 20, "multiplier": 2, "matype": 1, **SRC},
                ("upperband", "middleband", "lowerband")),
    "donchian": ({"period": 20, **SEQ}, ("upperband", "middleband", "lowerband")),
    "stddev": ({"period": 5, "nbdev": 1, **SRC}, None),
    "obv": ({**SEQ}, None),
    "ad": ({**SEQ}, None),
    "adosc": ({"fast_period": 3, "slow_period": 10, **SEQ}, None),
    "vwap": ({"source_type": "hlc3", "anchor": "D", "sequential": False}, None),
    "zscore": ({"period": 14, "matype": 0, "nbdev": 1, "devtype": 0, **SRC}, None),
    "heikin_ashi_candles": ({**SEQ}, ("open", "close", "high", "low")),
}

#: jbt's names from the issue that Jesse spells differently, and the Jesse name they alias.
ALIASES = {"psar": "sar", "ichimoku": "ichimoku_cloud", "heikin_ashi": "heikin_ashi_candles",
           "stochrsi": "srsi", "smma": "rma"}

CANDLES = random_walk_candles(400, seed=4)


def _arguments(f) -> list[tuple[str, object]]:
    params = list(inspect.signature(f).parameters.values())
    assert params[0].name == "candles"
    return [(p.name, p.default) for p in params[1:]]


@pytest.mark.parametrize("name", sorted(JESSE))
def test_jesse_name_arguments_and_defaults(name: str) -> None:
    expected, _ = JESSE[name]
    got = _arguments(getattr(ta, name))
    assert got[:len(expected)] == list(expected.items())
    assert name in ta.INDICATORS


@pytest.mark.parametrize("name", sorted(n for n, (_, fields) in JESSE.items() if fields))
def test_named_tuple_fields_are_jesses(name: str) -> None:
    _, fields = JESSE[name]
    value = getattr(ta, name)(CANDLES)
    assert value._fields == fields
    series = getattr(ta, name)(CANDLES, sequential=True) if name != "ichimoku_cloud" else None
    if series is not None:
        assert series._fields == fields and all(len(s) == len(CANDLES) for s in series)


@pytest.mark.parametrize(("ours", "jesse"), sorted(ALIASES.items()))
def test_aliases_give_the_same_values(ours: str, jesse: str) -> None:
    # smma's default period (5, Jesse's smma) differs from rma's default length (14)
    ours_kw, jesse_kw = ({"period": 14}, {"length": 14}) if ours == "smma" else ({}, {})
    a = getattr(ta, ours)(CANDLES, sequential=True, **ours_kw)
    b = getattr(ta, jesse)(CANDLES, sequential=True, **jesse_kw)
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,),
                    strict=True):
        assert x.tobytes() == y.tobytes()


def test_every_indicator_the_issue_names_exists() -> None:
    named = """sma ema wma hma dema tema kama vwma smma rsi macd stoch stochrsi cci mfi roc mom
    willr cmo trix ultosc ao ppo adx di aroon psar supertrend ichimoku linearreg atr natr
    bollinger_bands keltner donchian stddev obv vwap adosc cmf crossed highest lowest zscore
    heikin_ashi""".split()
    missing = [n for n in named if not callable(getattr(ta, n, None))]
    assert missing == []
    assert len(set(named) - {"crossed"}) >= 40


UTILS = {
    "crossed": [("series1", inspect.Parameter.empty), ("series2", inspect.Parameter.empty),
                ("direction", None), ("sequential", False)],
    "size_to_qty": [("position_size", inspect.Parameter.empty),
                    ("entry_price", inspect.Parameter.empty), ("precision", 3), ("fee_rate", 0)],
    "qty_to_size": [("qty", inspect.Parameter.empty), ("price", inspect.Parameter.empty)],
    "risk_to_qty": [("capital", inspect.Parameter.empty),
                    ("risk_per_capital", inspect.Parameter.empty),
                    ("entry_price", inspect.Parameter.empty),
                    ("stop_loss_price", inspect.Parameter.empty), ("precision", 8),
                    ("fee_rate", 0)],
    "risk_to_size": [("capital_size", inspect.Parameter.empty),
                     ("risk_percentage", inspect.Parameter.empty),
                     ("risk_per_qty", inspect.Parameter.empty),
                     ("entry_price", inspect.Parameter.empty)],
    "estimate_risk": [("entry_price", inspect.Parameter.empty),
                      ("stop_price", inspect.Parameter.empty)],
    "limit_stop_loss": [("entry_price", inspect.Parameter.empty),
                        ("stop_price", inspect.Parameter.empty),
                        ("trade_type", inspect.Parameter.empty),
                        ("max_allowed_risk_percentage", inspect.Parameter.empty)],
    "anchor_timeframe": [("timeframe", inspect.Parameter.empty)],
    "strictly_increasing": [("series", inspect.Parameter.empty),
                            ("lookback", inspect.Parameter.empty)],
    "strictly_decreasing": [("series", inspect.Parameter.empty),
                            ("lookback", inspect.Parameter.empty)],
    "sum_floats": [("float1", inspect.Parameter.empty), ("float2", inspect.Parameter.empty)],
    "subtract_floats": [("float1", inspect.Parameter.empty),
                        ("float2", inspect.Parameter.empty)],
    "kelly_criterion": [("win_rate", inspect.Parameter.empty),
                        ("ratio_avg_win_loss", inspect.Parameter.empty)],
    "prices_to_returns": [("price_series", inspect.Parameter.empty)],
    "z_score": [("series", inspect.Parameter.empty)],
    "signal_line": [("series", inspect.Parameter.empty), ("period", 10), ("matype", 0)],
}


@pytest.mark.parametrize("name", sorted(UTILS))
def test_utils_have_jesses_arguments(name: str) -> None:
    params = inspect.signature(getattr(utils, name)).parameters.values()
    assert [(p.name, p.default) for p in params] == UTILS[name]


def test_utils_accept_jesses_keyword_calls() -> None:
    """Calls as written in Jesse strategies, by keyword."""
    assert utils.risk_to_qty(capital=10_000, risk_per_capital=2, entry_price=50,
                             stop_loss_price=45, precision=2, fee_rate=0) == 40.0
    assert utils.size_to_qty(position_size=1_000, entry_price=40, precision=1) == 25.0
    assert utils.qty_to_size(qty=3, price=7) == 21
    assert utils.estimate_risk(entry_price=10, stop_price=12.5) == 2.5
    assert utils.crossed(series1=CANDLES[:, 2], series2=1e9, direction="above") is False
