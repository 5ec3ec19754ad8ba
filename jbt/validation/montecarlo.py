"""Trade-sequence Monte Carlo: the same closed trades in another order (shuffle) or drawn
again with replacement (bootstrap), and what that does to the final return, the deepest
drawdown and the longest losing streak.

Each trade is taken as a return on the balance it was closed against: in exit order,
``r_i = pnl_i / B_(i-1)`` with ``B_0`` the starting balance and ``B_i = B_(i-1) + pnl_i``.
A scenario compounds the ``r`` in its order, ``B_0 · Π (1 + r)``, so the original order gives
back the session's closed-trade balances exactly, and a shuffle ends at the same final
balance (only the path between changes); a bootstrap draws ``m`` trades from the ``m`` with
replacement, so its final balance varies too. The drawdown is measured on the balance after
each closed trade, the running peak starting at the starting balance (as the report's max
drawdown, but trade by trade instead of day by day); a losing streak is a run of trades with
``pnl < 0`` (a zero ends it, as in the report).

Every draw comes from NumPy's PCG64 seeded by ``SeedSequence(seed, spawn_key=(1, k))``, one
stream per method (``k`` = 0 shuffle, 1 bootstrap), so a seed gives the same scenarios on any
machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from jbt.errors import InputError
from jbt.results import ClosedTrade

PERCENTILES = (5, 50, 95)
FAN = (5, 25, 50, 75, 95)
METHODS = ("shuffle", "bootstrap")


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The generator of one analysis: PCG64 from ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def trade_returns(trades: Sequence[ClosedTrade], starting_balance: float) -> np.ndarray:
    """Each closed trade's return on the closed-trade balance before it, in exit order."""
    ordered = sorted(trades, key=lambda t: (t.exit_time, t.entry_time, t.id))
    pnl = np.array([t.pnl for t in ordered], dtype=np.float64)
    before = starting_balance + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    if len(before) and before.min() <= 0:
        raise InputError("the balance reached zero during the session: its trades cannot be "
                         "taken as returns on the balance")
    return pnl / before


def equity_paths(r: np.ndarray, starting_balance: float) -> np.ndarray:
    """Closed-trade balances of each row of returns, the starting balance first:
    ``(scenarios, m + 1)``."""
    r = np.atleast_2d(r)
    out = np.empty((r.shape[0], r.shape[1] + 1))
    out[:, 0] = starting_balance
    np.cumprod(1.0 + r, axis=1, out=out[:, 1:])
    out[:, 1:] *= starting_balance
    return out


def max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """The deepest drawdown of each row (a negative fraction, 0 when it never fell)."""
    peak = np.maximum.accumulate(paths, axis=1)
    return np.minimum((paths / peak - 1.0).min(axis=1), 0.0)


def longest_runs(mask: np.ndarray) -> np.ndarray:
    """The longest run of True in each row of a boolean matrix."""
    mask = np.atleast_2d(mask)
    if mask.shape[1] == 0:
        return np.zeros(mask.shape[0], dtype=np.int64)
    c = np.cumsum(mask, axis=1, dtype=np.int64)
    reset = np.maximum.accumulate(np.where(mask, 0, c), axis=1)
    return (c - reset).max(axis=1)


@dataclass
class Distribution:
    """One statistic over the scenarios: its value in the session's own order, and the
    scenarios' values (for percentiles and histograms)."""

    original: float
    values: np.ndarray = field(repr=False)

    def percentiles(self, qs: Sequence[float] = PERCENTILES) -> list[float]:
        return [float(x) for x in np.percentile(self.values, qs)]

    def to_dict(self) -> dict[str, object]:
        p = self.percentiles()
        return {"original": self.original, "p5": p[0], "p50": p[1], "p95": p[2],
                "mean": float(self.values.mean()), "values": self.values.tolist()}


@dataclass
class MethodResult:
    method: str  # shuffle | bootstrap
    final_return: Distribution
    max_drawdown: Distribution
    losing_streak: Distribution
    #: per drawdown level (a positive fraction): the share of scenarios that fell that far
    drawdown_probability: dict[float, float]
    #: per FAN percentile: the closed-trade balance after each trade (m + 1 points)
    fan: dict[int, np.ndarray] = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "final_return": self.final_return.to_dict(),
            "max_drawdown": self.max_drawdown.to_dict(),
            "longest_losing_streak": self.losing_streak.to_dict(),
            "drawdown_probability": [{"drawdown": k, "probability": v}
                                     for k, v in self.drawdown_probability.items()],
            "fan": {f"p{q}": v.tolist() for q, v in self.fan.items()},
        }


@dataclass
class TradeMonteCarlo:
    scenarios: int
    trades: int
    seed: int
    starting_balance: float
    original: np.ndarray = field(repr=False)  # the session's closed-trade balances
    methods: dict[str, MethodResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"scenarios": self.scenarios, "trades": self.trades, "seed": self.seed,
                "starting_balance": self.starting_balance,
                "original": self.original.tolist(),
                **{name: m.to_dict() for name, m in self.methods.items()}}


def trade_monte_carlo(trades: Sequence[ClosedTrade], starting_balance: float, *,
                      scenarios: int = 1000, seed: int = 0,
                      drawdowns: Sequence[float] = (0.1, 0.2, 0.3)) -> TradeMonteCarlo:
    """Shuffle and bootstrap ``scenarios`` times each (see the module docstring)."""
    if scenarios < 1:
        raise InputError("--scenarios must be at least 1")
    r = trade_returns(trades, starting_balance)
    m = len(r)
    if m < 2:
        raise InputError(f"the trade Monte Carlo needs at least two closed trades; the session "
                         f"has {m}")
    original = equity_paths(r, starting_balance)[0]
    out = TradeMonteCarlo(scenarios, m, seed, float(starting_balance), original)
    orig_final = float(original[-1] / starting_balance - 1.0)
    orig_dd = float(max_drawdowns(original[None, :])[0])
    orig_streak = float(longest_runs((r < 0)[None, :])[0])
    for k, method in enumerate(METHODS):
        rng = rng_for(seed, 1, k)
        if method == "shuffle":
            draws = rng.permuted(np.broadcast_to(r, (scenarios, m)), axis=1)
        else:
            draws = r[rng.integers(0, m, size=(scenarios, m))]
        paths = equity_paths(draws, starting_balance)
        final = paths[:, -1] / starting_balance - 1.0
        dd = max_drawdowns(paths)
        streak = longest_runs(draws < 0).astype(np.float64)
        out.methods[method] = MethodResult(
            method,
            Distribution(orig_final, final),
            Distribution(orig_dd, dd),
            Distribution(orig_streak, streak),
            {float(level): float(np.mean(dd <= -level)) for level in drawdowns},
            {q: v for q, v in zip(FAN, np.percentile(paths, FAN, axis=0), strict=True)},
        )
    return out
