"""Equity metrics against quantstats (periods=365) and the empyrical formulas.

quantstats 0.0.86 computes, for a returns series r of length N with rf = 0:
sharpe = mean/std(ddof=1)*sqrt(365), sortino = mean/sqrt(sum(min(r,0)^2)/N)*sqrt(365),
cagr = prod(1+r) ** (365/N) - 1, max_drawdown with a phantom 1.0 baseline before the first
return (the peak starts at the starting balance), calmar = cagr/|mdd|, omega = gains/losses.
These are empyrical's formulas with annualization=365. Where the two libraries differ is only
in undefined cases (quantstats gives inf/NaN, empyrical inf/NaN, jbt None); those are tested
separately against the empyrical definition written out below.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

qs = pytest.importorskip("quantstats")

from jbt.constants import DAY_MS, HOUR_MS  # noqa: E402
from jbt.metrics import compute_metrics, daily_equity  # noqa: E402

REL = 1e-9
START = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _close(a: float | None, b: float) -> bool:
    assert a is not None
    return math.isclose(a, float(b), rel_tol=REL, abs_tol=1e-12)


def _random_daily_curve(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    rets = rng.normal(rng.uniform(-0.002, 0.004), rng.uniform(0.005, 0.05), n)
    rets = np.clip(rets, -0.5, 0.5)
    values = 10_000.0 * np.cumprod(1 + rets)
    times = START + DAY_MS * np.arange(1, n + 1, dtype=np.int64)  # marked at each day close
    return times, values


def _qs_returns(values: np.ndarray, start_balance: float) -> pd.Series:
    full = np.r_[start_balance, values]
    rets = full[1:] / full[:-1] - 1
    idx = pd.date_range("2024-01-02", periods=len(rets), freq="D")
    return pd.Series(rets, index=idx)


@pytest.mark.parametrize("seed", range(40))
def test_ratios_match_quantstats_on_random_daily_curves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 900))
    times, values = _random_daily_curve(rng, n)
    m = compute_metrics(times, values, [], 10_000.0, START, START + n * DAY_MS)
    r = _qs_returns(values, 10_000.0)
    assert m["days"] == n
    assert _close(m["sharpe"], qs.stats.sharpe(r, periods=365))
    assert _close(m["sortino"], qs.stats.sortino(r, periods=365))
    assert _close(m["annual_return"], qs.stats.cagr(r, periods=365))
    assert _close(m["max_drawdown"], qs.stats.max_drawdown(r))
    assert _close(m["calmar"], qs.stats.calmar(r, periods=365))
    assert _close(m["omega"], qs.stats.omega(r, periods=365))
    assert _close(m["total_return"], values[-1] / 10_000.0 - 1)


@pytest.mark.parametrize("seed", range(15))
def test_hourly_curve_is_sampled_at_each_utc_day_close(seed: int) -> None:
    """A per-bar (1h) curve: jbt's own sampling against pandas' daily resample of it."""
    rng = np.random.default_rng(1000 + seed)
    hours = int(rng.integers(24 * 3, 24 * 120))
    offset = int(rng.integers(0, 24)) * HOUR_MS  # the run may start mid-day
    start = START + offset
    rets = np.clip(rng.normal(0.0001, 0.006, hours), -0.3, 0.3)
    values = 10_000.0 * np.cumprod(1 + rets)
    marks = start + HOUR_MS * np.arange(1, hours + 1, dtype=np.int64)  # each bar's close
    end = int(marks[-1])
    m = compute_metrics(marks, values, [], 10_000.0, start, end)

    # Independent sampling: the last mark in each (midnight, midnight] bucket, labelled by
    # its closing midnight; the last bucket is cut at the end of the run.
    s = pd.Series(np.r_[10_000.0, values], index=pd.to_datetime(np.r_[start, marks], unit="ms"))
    daily = s.resample("1D", label="right", closed="right").last().ffill()
    daily = daily[daily.index > pd.Timestamp(start, unit="ms")]  # the start is v_0, not a close
    if daily.index[-1] > pd.Timestamp(end, unit="ms"):
        daily.index = daily.index[:-1].append(pd.DatetimeIndex([pd.Timestamp(end, unit="ms")]))
    full = np.r_[10_000.0, daily.to_numpy()]
    r = pd.Series(full[1:] / full[:-1] - 1, index=pd.date_range("2024-01-02", periods=len(daily)))

    times, sampled = daily_equity(marks, values, 10_000.0, start, end)
    np.testing.assert_allclose(sampled, full, rtol=0, atol=0)
    assert times[0] == start and times[-1] == end
    assert _close(m["sharpe"], qs.stats.sharpe(r, periods=365))
    assert _close(m["sortino"], qs.stats.sortino(r, periods=365))
    assert _close(m["annual_return"], qs.stats.cagr(r, periods=365))
    assert _close(m["max_drawdown"], qs.stats.max_drawdown(r))
    assert _close(m["calmar"], qs.stats.calmar(r, periods=365))


def test_first_day_loss_counts_in_drawdown() -> None:
    # 10,000 -> 9,000 -> 9,500: the peak is the starting balance, so max drawdown is -10%.
    times = START + DAY_MS * np.arange(1, 3)
    m = compute_metrics(times, [9_000.0, 9_500.0], [], 10_000.0, START, START + 2 * DAY_MS)
    assert m["max_drawdown"] == pytest.approx(-0.10, rel=REL)
    r = _qs_returns(np.array([9_000.0, 9_500.0]), 10_000.0)
    assert _close(m["max_drawdown"], qs.stats.max_drawdown(r))


def test_undefined_ratios_are_none_where_empyrical_gives_inf_or_nan() -> None:
    """Empyrical: sortino = mean*365 / downside_risk -> +inf without a losing day;
    calmar = cagr/|mdd| only when mdd < 0, else NaN; sharpe NaN for a zero spread;
    omega NaN when the losses sum to zero. jbt reports None in each case."""
    times = START + DAY_MS * np.arange(1, 4)
    rising = compute_metrics(times, [10_100.0, 10_300.0, 10_400.0], [], 10_000.0, START,
                             START + 3 * DAY_MS)
    assert rising["sortino"] is None
    assert rising["calmar"] is None
    assert rising["omega"] is None
    assert rising["max_drawdown"] == 0.0
    assert rising["sharpe"] is not None and rising["sharpe"] > 0

    flat = compute_metrics(times, [10_000.0] * 3, [], 10_000.0, START, START + 3 * DAY_MS)
    assert flat["sharpe"] is None and flat["sortino"] is None and flat["omega"] is None
    assert flat["annual_return"] == 0.0 and flat["max_drawdown"] == 0.0

    one_day = compute_metrics([START + DAY_MS], [10_500.0], [], 10_000.0, START, START + DAY_MS)
    assert one_day["sharpe"] is None  # fewer than two daily returns
    assert one_day["annual_return"] == pytest.approx(1.05**365 - 1, rel=REL)
