"""The numeric kernels against their step-by-step definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jbt.indicators import _core


@pytest.mark.parametrize("b", [0.0, 0.5, 0.9, 1 - 1 / 14, 1 - 2 / 501])
def test_linear_recursion_equals_the_loop(b):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 100, 5000)  # mixed signs: the hard case for the closed form
    y, expected = 3.0, []
    for v in x:
        y = b * y + 0.25 * v
        expected.append(y)
    got = _core.linear_recursion(x, b, 0.25, 3.0)
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(got - expected)) / scale < 1e-12


def test_linear_recursion_propagates_nan():
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0] * 50)
    y = _core.linear_recursion(x, 0.8, 0.2, 0.0)
    assert not np.isnan(y[:2]).any() and np.isnan(y[2:]).all()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), period=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_doubling_windows_equal_direct_windows(n, period, seed):
    x = np.random.default_rng(seed).normal(50, 10, n)
    sums, highs, lows = (_core.rolling_sum(x, period), _core.rolling_max(x, period),
                         _core.rolling_min(x, period))
    assert np.isnan(sums[:period - 1]).all()
    for i in range(period - 1, n):
        window = x[i - period + 1:i + 1]
        assert sums[i] == pytest.approx(window.sum(), rel=1e-13)
        assert highs[i] == window.max() and lows[i] == window.min()
    # prefix-exact: the first k outputs do not depend on what follows
    k = max(1, n // 2)
    np.testing.assert_array_equal(_core.rolling_sum(x[:k], period), sums[:k])
