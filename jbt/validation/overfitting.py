"""How likely is it that the best of N trials is best by luck?

Two answers from the literature, both on per-period (here: daily) returns:

- the **deflated Sharpe ratio** (DSR): the probability that the selected strategy's true
  Sharpe ratio is above what the best of N unskilled trials would show;
- the **probability of backtest overfitting** (PBO) by combinatorially symmetric
  cross-validation (CSCV): how often the configuration that is best in one half of the
  history ranks in the bottom half of the trials in the other half.

Sources (formulas carried over; the code is jbt's own):

- [PSR] D. H. Bailey, M. López de Prado, "The Sharpe Ratio Efficient Frontier", Journal of
  Risk 15(2), 2012, eq. (7): the probabilistic Sharpe ratio
  ``PSR(SR*) = Φ( (SR - SR*) · sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²) )``
  with SR the observed per-period Sharpe ratio, T the number of returns, γ3 their skewness
  and γ4 their (non-excess) kurtosis.
- [DSR] D. H. Bailey, M. López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014,
  eq. (2) and the expected maximum below it:
  ``SR0 = sqrt(V[SR_n]) · ((1 - γ) · Φ⁻¹(1 - 1/N) + γ · Φ⁻¹(1 - 1/(N·e)))``, ``DSR = PSR(SR0)``,
  γ the Euler–Mascheroni constant, N the number of independent trials and V[SR_n] the
  variance of their Sharpe ratios. Its numerical example (SR 2.5 a year, T = 1,250 days,
  N = 100, V = 1/2 a year, γ3 = -3, γ4 = 10) gives SR0 = 0.1132 a day and DSR = 0.9004; a
  test holds this module to it.
- [PBO] D. H. Bailey, J. M. Borwein, M. López de Prado, Q. J. Zhu, "The Probability of
  Backtest Overfitting", Journal of Computational Finance 20(4), 2017, section 2 (CSCV):
  the T × N matrix of returns is cut into S equal blocks of rows; for each of the
  C(S, S/2) ways to choose S/2 blocks as the in-sample set J (the rest, J̄, out of sample)
  the best in-sample trial n* is found, ω = its relative rank out of sample (rank / (N + 1)),
  λ = ln(ω / (1 - ω)); PBO = the share of combinations with λ ≤ 0.

jbt's choices where the papers leave one: the Sharpe ratio of a column is ``mean / std``
(ddof=1), 0 when the standard deviation is 0 (a trial that never traded); skewness and
kurtosis are the moment estimators (ddof=0: ``m3 / m2^1.5``, ``m4 / m2²``); V[SR_n] is the
sample variance (ddof=1) of the per-period Sharpe ratios; rows that do not fill S equal blocks
are dropped from the start (the oldest); ties in the in-sample ranking go to the first trial,
ties out of sample get the average rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from statistics import NormalDist

import numpy as np

#: the Euler–Mascheroni constant
EULER_GAMMA = 0.5772156649015329

_NORMAL = NormalDist()


def moments(returns: np.ndarray) -> tuple[float, float]:
    """Skewness and (non-excess) kurtosis of a series: ``m3 / m2^1.5`` and ``m4 / m2²``
    (central moments with ddof=0; a normal distribution has 0 and 3)."""
    r = np.asarray(returns, dtype=np.float64)
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 == 0:
        return 0.0, 3.0
    return float(np.mean(d ** 3)) / m2 ** 1.5, float(np.mean(d ** 4)) / m2 ** 2


def per_period_sharpe(returns: np.ndarray) -> float | None:
    """``mean / std`` (ddof=1) of the returns, not annualised; None below two returns or
    with no spread."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return None
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else None


def probabilistic_sharpe(sr: float, sr_benchmark: float, t: int, skew: float,
                         kurtosis: float) -> float:
    """[PSR] eq. (7): the probability that the true Sharpe ratio exceeds ``sr_benchmark``,
    given the observed per-period ``sr`` over ``t`` returns with this skewness and kurtosis."""
    if t < 2:
        raise ValueError("the probabilistic Sharpe ratio needs at least two returns")
    denom = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if denom <= 0:
        raise ValueError("skewness and kurtosis leave no variance for the Sharpe ratio")
    z = (sr - sr_benchmark) * math.sqrt(t - 1) / math.sqrt(denom)
    return _NORMAL.cdf(z)


def expected_max_sharpe(variance: float, n_trials: int) -> float:
    """[DSR]: the Sharpe ratio the best of ``n_trials`` unskilled trials is expected to show,
    ``sqrt(V) · ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`` (per period, as V)."""
    if n_trials < 2:
        raise ValueError("the deflated Sharpe ratio needs at least two trials")
    if variance < 0:
        raise ValueError("a variance cannot be negative")
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


@dataclass
class DeflatedSharpe:
    """The deflated Sharpe ratio of a selected trial, with everything it was computed from
    (Sharpe ratios per period, as the formulas take them; ``*_annual`` × sqrt(365))."""

    sharpe: float  # the selected trial's per-period Sharpe ratio
    n_trials: int
    variance: float  # of the trials' per-period Sharpe ratios
    t: int  # returns of the selected trial
    skew: float
    kurtosis: float
    sr0: float  # the expected maximum of n_trials unskilled Sharpe ratios
    dsr: float
    periods_per_year: int = 365

    @property
    def sharpe_annual(self) -> float:
        return self.sharpe * math.sqrt(self.periods_per_year)

    @property
    def sr0_annual(self) -> float:
        return self.sr0 * math.sqrt(self.periods_per_year)

    def to_dict(self) -> dict[str, float | int]:
        return {"sharpe": self.sharpe, "sharpe_annual": self.sharpe_annual,
                "n_trials": self.n_trials, "variance": self.variance, "t": self.t,
                "skew": self.skew, "kurtosis": self.kurtosis, "sr0": self.sr0,
                "sr0_annual": self.sr0_annual, "dsr": self.dsr}


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray,
                    n_trials: int | None = None) -> DeflatedSharpe:
    """[DSR] of the selected trial's ``returns`` (per period) among trials whose per-period
    Sharpe ratios are ``trial_sharpes`` (``n_trials``: how many independent trials; default
    their number)."""
    r = np.asarray(returns, dtype=np.float64)
    srs = np.asarray(trial_sharpes, dtype=np.float64)
    n = len(srs) if n_trials is None else int(n_trials)
    if len(srs) < 2:
        raise ValueError("the deflated Sharpe ratio needs the Sharpe ratios of at least two "
                         "trials")
    sr = per_period_sharpe(r)
    if sr is None:
        raise ValueError("the selected trial's returns have no spread: no Sharpe ratio")
    skew, kurt = moments(r)
    variance = float(srs.var(ddof=1))
    sr0 = expected_max_sharpe(variance, n)
    return DeflatedSharpe(sr, n, variance, len(r), skew, kurt, sr0,
                          probabilistic_sharpe(sr, sr0, len(r), skew, kurt))


# ------------------------------------------------------------------------------------- PBO


@dataclass
class Overfitting:
    """CSCV's result: ``pbo`` and, per combination (in ``itertools.combinations`` order of the
    in-sample blocks), the logit λ, the best in-sample trial and its out-of-sample Sharpe."""

    pbo: float
    blocks: int
    rows_per_block: int
    rows_dropped: int
    n_trials: int
    logits: np.ndarray = field(repr=False)
    best: np.ndarray = field(repr=False)  # column of n* per combination
    is_sharpe: np.ndarray = field(repr=False)  # in-sample Sharpe of n*
    oos_sharpe: np.ndarray = field(repr=False)  # its out-of-sample Sharpe

    @property
    def combinations(self) -> int:
        return len(self.logits)

    @property
    def prob_oos_loss(self) -> float:
        """The share of combinations where the in-sample best loses out of sample."""
        return float(np.mean(self.oos_sharpe < 0))

    @property
    def degradation(self) -> float | None:
        """The slope of the least-squares line of out-of-sample on in-sample Sharpe of n*
        (negative: the better it looked in sample, the worse out of sample)."""
        x, y = self.is_sharpe, self.oos_sharpe
        sx = float(np.var(x))
        if len(x) < 2 or sx == 0:
            return None
        return float(np.mean((x - x.mean()) * (y - y.mean()))) / sx

    def to_dict(self) -> dict[str, object]:
        return {"pbo": self.pbo, "blocks": self.blocks, "rows_per_block": self.rows_per_block,
                "rows_dropped": self.rows_dropped, "n_trials": self.n_trials,
                "combinations": self.combinations, "prob_oos_loss": self.prob_oos_loss,
                "degradation": self.degradation,
                "median_logit": float(np.median(self.logits)),
                "logits": self.logits.tolist()}


def _sharpe(mean: np.ndarray, m2: np.ndarray, n: int) -> np.ndarray:
    var = np.maximum(m2, 0.0) / (n - 1)
    sd = np.sqrt(var)
    out = np.zeros_like(mean)
    np.divide(mean, sd, out=out, where=sd > 0)
    return out


def probability_of_overfitting(returns: np.ndarray, blocks: int = 16,
                               chunk: int = 2048) -> Overfitting:
    """[PBO] by CSCV on a ``T × N`` matrix of per-period returns (one column per trial).

    Per block the mean and the sum of squared deviations are kept; a union of blocks of equal
    size combines them exactly (``M2 = Σ M2_b + n_b · Σ (mean_b - mean)²``), so each of the
    C(S, S/2) combinations costs O(S · N), not O(T · N)."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError("returns must be a T x N matrix")
    t, n_trials = m.shape
    s = int(blocks)
    if s < 2 or s % 2:
        raise ValueError(f"the number of blocks must be even and at least 2 (got {blocks})")
    if n_trials < 2:
        raise ValueError("the probability of overfitting needs at least two trials")
    rows = t // s
    if rows * (s // 2) < 2:
        raise ValueError(f"{t} returns are too few for {s} blocks: each half needs two or more")
    if not np.all(np.isfinite(m)):
        raise ValueError("the returns must be finite")
    dropped = t - rows * s
    b = m[dropped:].reshape(s, rows, n_trials)
    bmean = b.mean(axis=1)  # S x N
    bm2 = ((b - bmean[:, None, :]) ** 2).sum(axis=1)  # S x N
    half = s // 2
    n = rows * half
    combos = np.array(list(combinations(range(s), half)), dtype=np.int64)
    mask = np.zeros((len(combos), s), dtype=np.float64)
    np.put_along_axis(mask, combos, 1.0, axis=1)
    logits = np.empty(len(combos))
    best = np.empty(len(combos), dtype=np.int64)
    is_best = np.empty(len(combos))
    oos_best = np.empty(len(combos))
    for lo in range(0, len(combos), chunk):
        part = mask[lo:lo + chunk]
        srs = []
        for w in (part, 1.0 - part):
            mean = (w @ bmean) / half
            m2 = w @ bm2 + rows * (w @ (bmean * bmean) - half * mean * mean)
            srs.append(_sharpe(mean, m2, n))
        sr_is, sr_oos = srs
        star = np.argmax(sr_is, axis=1)
        k = np.arange(len(part))
        perf = sr_oos[k, star]
        below = (sr_oos < perf[:, None]).sum(axis=1)
        equal = (sr_oos == perf[:, None]).sum(axis=1)
        omega = (below + (equal + 1) / 2.0) / (n_trials + 1)
        logits[lo:lo + chunk] = np.log(omega / (1.0 - omega))
        best[lo:lo + chunk] = star
        is_best[lo:lo + chunk] = sr_is[k, star]
        oos_best[lo:lo + chunk] = perf
    return Overfitting(float(np.mean(logits <= 0)), s, rows, dropped, n_trials, logits, best,
                       is_best, oos_best)
