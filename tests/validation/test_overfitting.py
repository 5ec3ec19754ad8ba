"""The deflated Sharpe ratio and the probability of backtest overfitting against the papers'
worked example and against independent implementations written here (SciPy's normal
distribution and moments; CSCV by brute force over the row subsets)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from jbt.validation.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe,
    probability_of_overfitting,
)


def test_the_dsr_papers_numerical_example():
    # Bailey & López de Prado (2014), section "A numerical example": an annualised Sharpe of
    # 2.5 over 5 years of daily returns (T = 1,250, 250 days a year), the best of N = 100
    # trials whose Sharpe ratios vary by V = 1/2 a year, skewness -3, kurtosis 10:
    # the expected maximum is 0.1132 a day and DSR = 0.9004 (both as printed, 4 decimals).
    sr = 2.5 / math.sqrt(250)
    sr0 = expected_max_sharpe(0.5 / 250, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(sr, sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def _dsr_oracle(returns, trial_srs, n):
    """The formulas again, on SciPy: norm.ppf/cdf, skew and non-excess kurtosis (biased)."""
    r = np.asarray(returns)
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r, bias=True)
    g4 = stats.kurtosis(r, fisher=False, bias=True)
    v = np.var(trial_srs, ddof=1)
    emc = 0.5772156649015329
    sr0 = math.sqrt(v) * ((1 - emc) * stats.norm.ppf(1 - 1 / n)
                          + emc * stats.norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    return sr0, float(stats.norm.cdf(z))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dsr_equals_an_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(5, 400) * 0.01 + 0.001
    trial_srs = rng.normal(0.02, 0.03, 57)
    d = deflated_sharpe(returns, trial_srs)
    sr0, dsr = _dsr_oracle(returns, trial_srs, 57)
    assert d.n_trials == 57 and d.t == 400
    assert d.sr0 == pytest.approx(sr0, abs=1e-12)
    assert d.dsr == pytest.approx(dsr, abs=1e-9)
    g3, g4 = moments(returns)
    assert g3 == pytest.approx(stats.skew(returns), abs=1e-12)
    assert g4 == pytest.approx(stats.kurtosis(returns, fisher=False), abs=1e-12)
    # --effective-trials: another N, the same variance
    d2 = deflated_sharpe(returns, trial_srs, 500)
    assert d2.dsr == pytest.approx(_dsr_oracle(returns, trial_srs, 500)[1], abs=1e-9)
    assert d2.dsr < d.dsr  # more trials, a higher bar


def test_more_trials_or_more_spread_deflate_more():
    r = np.random.default_rng(4).normal(0.002, 0.01, 365)
    base = deflated_sharpe(r, np.linspace(-0.05, 0.05, 10)).dsr
    assert deflated_sharpe(r, np.linspace(-0.05, 0.05, 100)).dsr < base
    assert deflated_sharpe(r, np.linspace(-0.2, 0.2, 10)).dsr < base


def _pbo_oracle(m, s):
    """CSCV as the paper describes it, by brute force: for each choice of S/2 blocks, the
    rows themselves, Sharpe ratios with np.std, SciPy's average ranks."""
    t, n = m.shape
    rows = t // s
    m = m[t - rows * s:]
    parts = np.split(np.arange(rows * s), s)
    logits = []
    for chosen in combinations(range(s), s // 2):
        j = np.concatenate([parts[i] for i in chosen])
        jbar = np.concatenate([parts[i] for i in range(s) if i not in chosen])

        def sharpe(x):
            sd = x.std(axis=0, ddof=1)
            return np.where(sd > 0, x.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)

        r_is, r_oos = sharpe(m[j]), sharpe(m[jbar])
        best = int(np.argmax(r_is))
        omega = stats.rankdata(r_oos)[best] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    logits = np.array(logits)
    return float(np.mean(logits <= 0)), logits


@pytest.mark.parametrize(("t", "n", "s", "seed"), [(240, 12, 8, 5), (203, 7, 6, 6),
                                                   (365, 30, 10, 7)])
def test_pbo_equals_a_brute_force_cscv(t, n, s, seed):
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0005, 0.01, (t, n))
    m[:, 0] += 0.002  # one trial with an edge
    m[:, -1] = 0.0  # one that never traded: Sharpe 0
    got = probability_of_overfitting(m, s, chunk=37)  # chunks that do not divide the count
    pbo, logits = _pbo_oracle(m, s)
    assert got.combinations == math.comb(s, s // 2) == len(logits)
    assert got.rows_per_block == t // s and got.rows_dropped == t % s
    np.testing.assert_allclose(got.logits, logits, rtol=0, atol=1e-9)
    assert got.pbo == pytest.approx(pbo, abs=1e-9)


def test_pbo_tells_noise_from_an_edge():
    rng = np.random.default_rng(8)
    noise = rng.normal(0, 0.01, (480, 40))
    assert 0.3 < probability_of_overfitting(noise, 16).pbo < 0.7
    edge = noise.copy()
    edge[:, 3] += 0.004  # a trial that is better in every stretch of time
    p = probability_of_overfitting(edge, 16)
    assert p.pbo < 0.05
    assert (p.best == 3).mean() > 0.95
    assert p.prob_oos_loss < 0.05


def test_bad_inputs_are_refused():
    m = np.zeros((100, 5))
    with pytest.raises(ValueError, match="even"):
        probability_of_overfitting(m, 7)
    with pytest.raises(ValueError, match="two trials"):
        probability_of_overfitting(m[:, :1], 4)
    with pytest.raises(ValueError, match="too few"):
        probability_of_overfitting(m[:3], 2)
    with pytest.raises(ValueError, match="two trials"):
        expected_max_sharpe(0.1, 1)
