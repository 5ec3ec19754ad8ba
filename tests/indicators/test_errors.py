"""Bad input raises IndicatorError naming the indicator and the argument; warm-up is NaN."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from indicator_data import STANDARD, random_walk_candles

import jbt.indicators as ta
from jbt.errors import InputError

CANDLES = random_walk_candles(300, seed=11)

PERIOD_ARGS = sorted(
    (name, param)
    for name, f in STANDARD.items()
    for param in inspect.signature(f).parameters
    if "period" in param or param == "length"
)


def test_every_indicator_with_a_period_is_covered():
    assert len(PERIOD_ARGS) >= 45
    assert {name for name, _ in PERIOD_ARGS} >= {"sma", "rsi", "macd", "stoch", "ichimoku",
                                                 "ultosc", "adosc", "vwma"}


@pytest.mark.parametrize(("name", "param"), PERIOD_ARGS)
def test_period_below_one_is_rejected_with_names(name, param):
    with pytest.raises(ta.IndicatorError) as info:
        STANDARD[name](CANDLES, **{param: 0})
    assert str(info.value).startswith(f"ta.{name}: {param} must be >= ")
    assert "(got 0)" in str(info.value)


@pytest.mark.parametrize(("name", "param"), PERIOD_ARGS)
def test_non_integer_period_is_rejected(name, param):
    with pytest.raises(ta.IndicatorError, match=rf"^ta\.{name}: {param} must be an integer"):
        STANDARD[name](CANDLES, **{param: 2.5})


def test_error_types_and_exact_messages():
    with pytest.raises(ta.IndicatorError) as info:
        ta.rsi(CANDLES, period=0)
    assert str(info.value) == "ta.rsi: period must be >= 1 (got 0)"
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)
    with pytest.raises(ta.IndicatorError) as info:
        ta.hma(CANDLES, period=1)
    assert str(info.value) == "ta.hma: period must be >= 2 (got 1)"


SOURCE_INDICATORS = sorted(name for name, f in STANDARD.items()
                           if "source_type" in inspect.signature(f).parameters)


@pytest.mark.parametrize("name", SOURCE_INDICATORS)
def test_unknown_source_type(name):
    with pytest.raises(ta.IndicatorError) as info:
        STANDARD[name](CANDLES, source_type="clos")
    assert str(info.value) == (
        f"ta.{name}: unknown source_type 'clos'; use one of: "
        "open, close, high, low, volume, hl2, hlc3, ohlc4"
    )


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_empty_candles_are_rejected(name):
    with pytest.raises(ta.IndicatorError, match=rf"^ta\.{name}: candles is empty"):
        STANDARD[name](np.empty((0, 6)))


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_wrong_shape_is_rejected(name):
    with pytest.raises(ta.IndicatorError, match=rf"^ta\.{name}: candles must be"):
        STANDARD[name](np.ones((10, 5)))


@pytest.mark.parametrize("name", sorted(STANDARD))
def test_one_candle_gives_a_value_or_a_too_few_candles_error(name):
    """Too few candles for a value is a clear error naming the indicator; the series form
    still answers (NaN during the warm-up)."""
    try:
        result = STANDARD[name](CANDLES[:1])
    except ta.IndicatorError as exc:
        assert str(exc).startswith("ta.") and "too few candles (1)" in str(exc)
    else:
        for v in result if isinstance(result, tuple) else (result,):
            assert isinstance(v, float) and v == v
    series = STANDARD[name](CANDLES[:1], sequential=True)
    for s in series if isinstance(series, tuple) else (series,):
        assert s.shape == (1,)


def test_warm_up_is_nan_in_series_and_an_error_for_the_last_value():
    sma = ta.sma(CANDLES[:10], period=5, sequential=True)
    assert np.isnan(sma[:4]).all() and not np.isnan(sma[4:]).any()
    with pytest.raises(ta.IndicatorError, match=r"^ta\.rsi: too few candles \(14\).*\(14, 'close'\)"):
        ta.rsi(CANDLES[:14], 14)
    assert not np.isnan(ta.rsi(CANDLES[:15], 14))
    with pytest.raises(ta.IndicatorError, match=r"^ta\.sma: too few candles \(4\)"):
        ta.sma(CANDLES[:4], period=5)


def test_too_few_candles_is_an_error_inside_a_run_too():
    full = CANDLES[:40].copy()
    full.flags.writeable = False
    with ta.run_cache(full):
        with pytest.raises(ta.IndicatorError, match=r"^ta\.ema: too few candles \(19\)"):
            ta.ema(full[:19], period=20)
        assert ta.ema(full[:20], period=20) == pytest.approx(float(np.mean(full[:20, 2])), rel=1e-12)


def test_bad_choices_name_the_argument():
    with pytest.raises(ta.IndicatorError, match=r"^ta\.bollinger_bands: unknown matype 40"):
        ta.bollinger_bands(CANDLES, matype=40)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.zscore: unknown devtype 5"):
        ta.zscore(CANDLES, devtype=5)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.vwap: unknown anchor 'X'"):
        ta.vwap(CANDLES, anchor="X")
    with pytest.raises(ta.IndicatorError, match=r"^ta\.sar: acceleration must be > 0"):
        ta.sar(CANDLES, acceleration=0)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.supertrend: factor must be a number"):
        ta.supertrend(CANDLES, factor="3")
    with pytest.raises(ta.IndicatorError, match=r"^ta\.ppo: fast_period and slow_period"):
        ta.ppo(CANDLES, fast_period=10, slow_period=10)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.ichimoku_cloud: displacement must be >= 0"):
        ta.ichimoku_cloud(CANDLES, displacement=-1)


def test_one_dimensional_series_are_accepted_where_only_a_price_is_needed():
    close = CANDLES[:, 2].copy()
    assert ta.ema(close, 10) == ta.ema(CANDLES, 10)
    np.testing.assert_array_equal(ta.rsi(close, sequential=True), ta.rsi(CANDLES, sequential=True))
    with pytest.raises(ta.IndicatorError, match=r"^ta\.atr: candles must be an array of \(n, 6\)"):
        ta.atr(close)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.ema: unknown source_type 'x'"):
        ta.ema(close, source_type="x")


def test_lists_are_accepted_and_garbage_is_not():
    assert ta.sma(CANDLES.tolist(), 5) == ta.sma(CANDLES, 5)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.sma: candles must be a numeric array"):
        ta.sma([["a"] * 6], 5)


def test_unhashable_arguments_inside_a_run_get_the_same_clear_error():
    candles = CANDLES.copy()
    candles.flags.writeable = False
    with ta.run_cache(candles):
        with pytest.raises(ta.IndicatorError, match=r"^ta\.rsi: period must be an integer"):
            ta.rsi(candles[:100], period=[14])
        with pytest.raises(ta.IndicatorError, match=r"^ta\.rsi: period must be >= 1 \(got 0\)"):
            ta.rsi(candles[:100], period=0)
