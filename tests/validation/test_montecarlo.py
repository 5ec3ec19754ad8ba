"""Trade-sequence Monte Carlo: the session's own order gives its balances back, shuffles keep
the final balance, every statistic equals a plain loop over the same draws, and a seed gives
the same scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from jbt.errors import InputError
from jbt.results import ClosedTrade
from jbt.validation.montecarlo import (
    equity_paths,
    longest_runs,
    max_drawdowns,
    rng_for,
    trade_monte_carlo,
    trade_returns,
)


def trades_of(pnls, start=0):
    # exit order differs from the list order: returns must follow exit times
    out = []
    for i, p in enumerate(pnls):
        out.append(ClosedTrade(id=i + 1, route="r", exchange="e", symbol="s", timeframe="1h",
                               strategy="S", side="long", qty=1.0, entry_time=start + 10 * i,
                               entry_price=100.0, exit_time=start + 10 * i + 5,
                               exit_price=100.0 + p, pnl=float(p), fee=0.0, closed_by="signal"))
    return out[::-1]


def test_the_sessions_order_gives_its_closed_trade_balances_back():
    pnls = [120.0, -80.0, 0.0, 55.5, -300.25, 10.0]
    r = trade_returns(trades_of(pnls), 1000.0)
    balances = 1000.0 + np.concatenate(([0.0], np.cumsum(pnls)))
    np.testing.assert_allclose(equity_paths(r, 1000.0)[0], balances, rtol=1e-14)
    assert r[0] == 120.0 / 1000.0 and r[1] == -80.0 / 1120.0


def _loop_stats(row, start):
    bal, peak, dd, run, longest = start, start, 0.0, 0, 0
    for x in row:
        bal *= 1 + x
        peak = max(peak, bal)
        dd = min(dd, bal / peak - 1)
        run = run + 1 if x < 0 else 0
        longest = max(longest, run)
    return bal / start - 1, dd, longest


def test_statistics_equal_a_plain_loop_over_the_same_draws():
    rng = np.random.default_rng(3)
    pnls = rng.normal(4, 60, 40)
    mc = trade_monte_carlo(trades_of(pnls), 5000.0, scenarios=200, seed=9,
                           drawdowns=(0.05, 0.1))
    r = trade_returns(trades_of(pnls), 5000.0)
    # redraw the scenarios as the module documents them: PCG64(SeedSequence(seed, (1, k)))
    shuffle = rng_for(9, 1, 0).permuted(np.tile(r, (200, 1)), axis=1)
    boot = r[rng_for(9, 1, 1).integers(0, len(r), size=(200, len(r)))]
    for method, draws in (("shuffle", shuffle), ("bootstrap", boot)):
        m = mc.methods[method]
        loops = np.array([_loop_stats(row, 5000.0) for row in draws])
        np.testing.assert_allclose(m.final_return.values, loops[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(m.max_drawdown.values, loops[:, 1], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(m.losing_streak.values, loops[:, 2])
        assert m.drawdown_probability == {0.05: float(np.mean(loops[:, 1] <= -0.05)),
                                          0.1: float(np.mean(loops[:, 1] <= -0.1))}
        np.testing.assert_allclose(m.final_return.percentiles(),
                                   np.percentile(loops[:, 0], [5, 50, 95]), rtol=1e-12)
    # a shuffle only reorders: every scenario ends at the session's final balance
    final = mc.methods["shuffle"].final_return
    np.testing.assert_allclose(final.values, final.original, rtol=1e-12)
    assert final.original == pytest.approx(pnls.sum() / 5000.0, rel=1e-12)


def test_a_seed_gives_the_same_scenarios_and_another_seed_others():
    t = trades_of(np.random.default_rng(1).normal(0, 50, 30))
    a = trade_monte_carlo(t, 1000.0, scenarios=100, seed=5).to_dict()
    b = trade_monte_carlo(t, 1000.0, scenarios=100, seed=5).to_dict()
    c = trade_monte_carlo(t, 1000.0, scenarios=100, seed=6).to_dict()
    assert a == b
    assert a["bootstrap"]["final_return"]["values"] != c["bootstrap"]["final_return"]["values"]


def test_helpers_on_small_cases():
    assert longest_runs(np.array([[1, 1, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0]], bool)
                        ).tolist() == [3, 0]
    paths = np.array([[100.0, 110.0, 88.0, 120.0, 90.0]])
    assert max_drawdowns(paths)[0] == pytest.approx(90.0 / 120.0 - 1)
    assert max_drawdowns(np.array([[100.0, 101.0, 102.0]]))[0] == 0.0


def test_too_few_trades_or_a_blown_account_is_one_clear_error():
    with pytest.raises(InputError, match="at least two closed trades"):
        trade_monte_carlo(trades_of([5.0]), 1000.0)
    with pytest.raises(InputError, match="balance reached zero"):
        trade_returns(trades_of([-1000.0, 5.0]), 1000.0)
