"""jbt.utils: Jesse's strategy helpers, with hand-derived expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jbt.indicators as ta
from jbt import utils
from jbt.errors import InputError


def test_crossed_last_value():
    fast = np.array([1.0, 2.0, 3.0])
    slow = np.array([2.0, 2.5, 2.9])
    assert utils.crossed(fast, slow) is True
    assert utils.crossed(fast, slow, "above") is True
    assert utils.crossed(fast, slow, "below") is False
    assert utils.crossed(slow, fast, "below") is True
    # Touching then moving away counts (<= then >), staying equal does not.
    assert utils.crossed(np.array([2.0, 2.0]), 2.0) is False
    assert utils.crossed(np.array([2.0, 2.1]), 2.0, "above") is True
    assert utils.crossed(np.array([5.0]), 2.0) is False  # nothing before it


def test_crossed_sequential_against_a_constant_and_a_series():
    s = np.array([1.0, 3.0, 3.0, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(utils.crossed(s, 2.0, sequential=True),
                                  [False, True, False, True, False, True])
    np.testing.assert_array_equal(utils.crossed(s, 2.0, "above", sequential=True),
                                  [False, True, False, False, False, True])
    np.testing.assert_array_equal(utils.crossed(s, 2.0, "below", sequential=True),
                                  [False, False, False, True, False, False])
    other = np.array([0.0, 0.0, 4.0, 4.0, 4.0, 3.0])
    np.testing.assert_array_equal(utils.crossed(s, other, sequential=True),
                                  [False, False, True, False, False, True])
    assert ta.crossed is utils.crossed
    with pytest.raises(InputError, match="direction"):
        utils.crossed(s, 2.0, direction="up")


def test_crossed_with_indicator_series(btc):
    fast = ta.ema(btc[:2000], 9, sequential=True)
    slow = ta.ema(btc[:2000], 21, sequential=True)
    flags = utils.crossed(fast, slow, sequential=True)
    diff = fast - slow
    manual = np.r_[False, (np.sign(diff[1:]) != np.sign(diff[:-1])) & ~np.isnan(diff[:-1])]
    np.testing.assert_array_equal(flags, manual)
    assert utils.crossed(fast[:1500], slow[:1500]) == bool(flags[1499])


def test_size_and_qty():
    assert utils.size_to_qty(100, 50) == 2.0
    assert utils.size_to_qty(1000, 3, precision=3) == 333.333  # floored, not rounded
    assert utils.size_to_qty(1000, 3, precision=0) == 333.0
    # 0.3 / 0.1 is 2.9999999999999996 in floats: still 3 units.
    assert utils.size_to_qty(0.3, 0.1, precision=2) == 3.0
    # fee_rate reserves 3 x fee: 1000 * (1 - 0.003) / 10 = 99.7
    assert utils.size_to_qty(1000, 10, precision=3, fee_rate=0.001) == 99.7
    assert utils.qty_to_size(2, 50) == 100
    with pytest.raises(TypeError, match="price"):
        utils.qty_to_size(1, math.nan)
    with pytest.raises(TypeError, match="entry_price"):
        utils.size_to_qty(100, None)


def test_risk_helpers():
    assert utils.estimate_risk(100, 95) == 5
    assert utils.estimate_risk(95, 100) == 5
    # 1% of 10,000 = $100 at risk; $5 per unit -> 20 units = $2,000 position.
    assert utils.risk_to_size(10_000, 1, 5, 100) == 2000
    assert utils.risk_to_qty(10_000, 1, 100, 95) == 20
    assert utils.risk_to_qty(10_000, 1, 100, 105) == 20  # shorts: the distance counts
    # Capped at the capital: 5% risk with a $1 stop would want $50,000.
    assert utils.risk_to_qty(10_000, 5, 100, 99) == 100
    # Jesse's documented example.
    assert round(utils.risk_to_size(10_000, 1, 0.7, 8.6)) == 1229
    with pytest.raises(ValueError, match="zero"):
        utils.risk_to_qty(10_000, 1, 100, 100)
    assert utils.limit_stop_loss(100, 80, "long", 10) == 90
    assert utils.limit_stop_loss(100, 105, "short", 10) == 105


def test_anchor_timeframe_uses_jesses_mapping():
    assert utils.anchor_timeframe("1m") == "5m"
    assert utils.anchor_timeframe("15m") == "2h"
    assert utils.anchor_timeframe("1h") == "4h"
    assert utils.anchor_timeframe("4h") == "1D"
    with pytest.raises(InputError, match="no anchor timeframe for 1D"):
        utils.anchor_timeframe("1D")
    with pytest.raises(InputError, match="unknown timeframe"):
        utils.anchor_timeframe("7m")


def test_strictly_increasing_and_decreasing():
    s = np.array([5.0, 1.0, 2.0, 3.0])
    assert utils.strictly_increasing(s, 3)
    assert not utils.strictly_increasing(s, 4)
    assert utils.strictly_decreasing(np.array([1.0, 9.0, 4.0, 2.0]), 3)
    assert not utils.strictly_decreasing(np.array([1.0, 9.0, 4.0, 2.0]), 4)


def test_decimal_float_arithmetic():
    assert 0.1 + 0.2 != 0.3
    assert utils.sum_floats(0.1, 0.2) == 0.3
    assert utils.subtract_floats(0.3, 0.1) == 0.2
    assert utils.sum_floats(-1.5, 2.25) == 0.75


def test_kelly_returns_and_z_score():
    # 60% winners, wins twice the size of losses: 0.6 - 0.4 / 2 = 0.4
    assert utils.kelly_criterion(0.6, 2.0) == pytest.approx(0.4, rel=1e-15)
    r = utils.prices_to_returns(np.array([100.0, 110.0, 99.0]))
    assert np.isnan(r[0])
    np.testing.assert_allclose(r[1:], [10.0, -10.0], rtol=1e-12)
    # mean 2, population std sqrt(2/3)
    z = utils.z_score([1.0, 2.0, 3.0])
    np.testing.assert_allclose(z, [-1 / math.sqrt(2 / 3), 0.0, 1 / math.sqrt(2 / 3)], rtol=1e-12)


def test_signal_line_is_a_moving_average_of_the_series():
    s = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    np.testing.assert_allclose(utils.signal_line(s, period=2), [np.nan, 1.5, 3.0, 6.0, 12.0])
    # EMA(2): alpha 2/3, seeded with the mean of the first two values
    e1 = 1.5
    e2 = e1 + 2 / 3 * (4.0 - e1)
    e3 = e2 + 2 / 3 * (8.0 - e2)
    e4 = e3 + 2 / 3 * (16.0 - e3)
    np.testing.assert_allclose(utils.signal_line(s, period=2, matype=1),
                               [np.nan, e1, e2, e3, e4], rtol=1e-12)


_VALUES = st.sampled_from([1.0, 2.0, 2.5, float("nan"), -1.0])


@settings(max_examples=300, deadline=None)
@given(a=st.lists(_VALUES, min_size=2, max_size=4), b=st.lists(_VALUES, min_size=4, max_size=4),
       direction=st.sampled_from([None, "above", "below"]), scalar=st.booleans())
def test_crossed_scalar_fast_path_equals_the_array_form(a, b, direction, scalar):
    """The last-two-values shortcut gives the array computation's answer (NaN and ties too)."""
    from jbt.indicators.helpers import _crossed

    s1 = np.array(a)
    s2 = b[0] if scalar else np.array(b[: len(a)])
    got = utils.crossed(s1, s2, direction)
    assert type(got) is bool
    assert got == _crossed(s1, s2, direction, False)
    # lists and 0-d inputs take the array form and agree too
    assert utils.crossed(list(a), s2 if scalar else list(b[: len(a)]), direction) == got
