"""Other histories the strategy could have met: candle paths made from the real candles, and
the worker jobs that run the strategy on them (and recompute trials' return series).

**Block bootstrap.** Each base candle is written relative to the close before it:
``open/prev_close``, ``high/prev_close``, ``low/prev_close``, ``close/prev_close`` and its
volume. A path keeps the first candle and the open times, and chains the relatives of
candles drawn in blocks of ``block`` consecutive candles (a circular block bootstrap, Politis
& Romano 1992: block starts uniform over the series, wrapping at its end) from the first
close. Every synthetic candle is a real candle's shape at another price level, so highs stay
above and lows below the open and the close, and the volatility within a block is the real
one; trends longer than a block are not kept. Symbols whose candles share the same open times
draw the same blocks (their co-movement is kept); others draw their own.

**Noise.** Every open, high, low and close is multiplied by ``1 + σ·z`` (``z`` standard
normal, drawn for each price), then the high is raised to the largest and the low lowered to
the smallest of the four; volumes are kept.

Both cover the candles the backtest loaded, warm-up included. Path ``i`` of a kind draws from
PCG64 seeded by ``SeedSequence(seed, spawn_key=(2, kind, i, symbol))`` (kind 0 bootstrap, 1 noise), so its candles depend on
the seed and its number only, never on the worker that makes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN, TIMESTAMP, VOLUME

KINDS = ("bootstrap", "noise")


def _rng(seed: int, kind: int, index: int, symbol: int) -> np.random.Generator:
    ss = np.random.SeedSequence(seed, spawn_key=(2, kind, index, symbol))
    return np.random.Generator(np.random.PCG64(ss))


def block_indices(n: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into ``range(n)`` from a circular block bootstrap with blocks of
    ``block``."""
    block = max(1, min(int(block), n))
    starts = rng.integers(0, n, size=-(-n // block))
    idx = (starts[:, None] + np.arange(block)[None, :]) % n
    return idx.ravel()[:n]


def bootstrap_candles(candles: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Candles rebuilt from the relatives of the candles at ``idx`` (``len(candles) - 1``
    indices into the relatives of candles ``1..n-1``), chained from the first candle."""
    c = np.asarray(candles, dtype=np.float64)
    out = np.empty_like(c)
    out[:, TIMESTAMP] = c[:, TIMESTAMP]
    out[0] = c[0]
    if len(c) < 2:
        return out
    prev = c[:-1, CLOSE]
    rel = c[1:, [OPEN, HIGH, LOW, CLOSE]] / prev[:, None]
    picked = rel[idx]
    closes = c[0, CLOSE] * np.cumprod(picked[:, 3])
    before = np.concatenate(([c[0, CLOSE]], closes[:-1]))
    out[1:, OPEN] = before * picked[:, 0]
    out[1:, HIGH] = before * picked[:, 1]
    out[1:, LOW] = before * picked[:, 2]
    out[1:, CLOSE] = closes
    out[1:, VOLUME] = c[1:, VOLUME][idx]
    return out


def noisy_candles(candles: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The candles with each price multiplied by ``1 + sigma·z`` (kept consistent)."""
    c = np.asarray(candles, dtype=np.float64)
    out = c.copy()
    cols = [OPEN, HIGH, LOW, CLOSE]
    prices = c[:, cols] * (1.0 + sigma * rng.standard_normal((len(c), 4)))
    prices = np.maximum(prices, np.finfo(np.float64).tiny)
    out[:, cols] = prices
    out[:, HIGH] = prices.max(axis=1)
    out[:, LOW] = prices.min(axis=1)
    return out


def scenario_candles(candles: Mapping[tuple[str, str], np.ndarray], kind: str, index: int,
                     seed: int, blocks: Mapping[tuple[str, str], int], sigma: float
                     ) -> dict[tuple[str, str], np.ndarray]:
    """Path ``index`` of ``kind`` (bootstrap | noise) for every symbol's base candles
    (``blocks``: candles a block, per symbol)."""
    k = KINDS.index(kind)
    out: dict[tuple[str, str], np.ndarray] = {}
    shared: dict[bytes, np.ndarray] = {}
    for j, (key, arr) in enumerate(candles.items()):
        arr = np.asarray(arr, dtype=np.float64)
        if kind == "noise":
            out[key] = noisy_candles(arr, sigma, _rng(seed, k, index, j))
            continue
        if len(arr) < 2:
            out[key] = arr.copy()
            continue
        times = arr[:, TIMESTAMP].tobytes()
        if times not in shared:  # the first symbol with these open times draws the blocks
            shared[times] = block_indices(len(arr) - 1, blocks[key], _rng(seed, k, index, j))
        out[key] = bootstrap_candles(arr, shared[times])
    return out


# ----------------------------------------------------------------------------- worker jobs


def _outcome(number: int, began: float):
    from jbt.optimize.worker import TrialOutcome

    return TrialOutcome(number, "ok", [], [], None, None, duration_s=0.0), began


def _failed(out: Any, exc: Exception) -> None:
    from jbt.errors import JbtError

    out.status = "failed"
    what = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
    out.error = what.splitlines()[0] if what else type(exc).__name__


def daily_values(result: Any) -> np.ndarray:
    """The run's equity sampled at each UTC day close, as the metrics sample it."""
    from jbt.metrics import daily_equity

    return daily_equity(result.equity_time, result.equity, result.starting_balance,
                        result.start, result.end)[1]


@dataclass(frozen=True)
class PathJob:
    """Run the strategy on candle paths: task ``(number, {"kind": K, "index": i})`` makes path
    ``i`` of kind ``K`` from the period's candles, plans it and runs it with
    ``hyperparameters``. The outcome's ``train`` holds the run's metrics and ``data`` its
    daily equity (``{"equity": [...]}``)."""

    seed: int
    block_ms: int  # the length of a block (in each symbol's base candles: at least one)
    sigma: float
    hyperparameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    period: str = "base"

    def run(self, runner: Any, number: int, params: Mapping[str, Any]) -> Any:
        from jbt.modes.backtest_mode import run_planned
        from jbt.plan import plan_run

        out, began = _outcome(number, time.perf_counter())
        spec = runner.spec
        period = next(p for p in spec.periods if p.name == self.period)
        try:
            from jbt.timeframes import to_ms

            blocks = {key: max(1, self.block_ms // to_ms(tf))
                      for key, tf in period.base_tf.items()}
            candles = scenario_candles(runner.candles[self.period], params["kind"],
                                       int(params["index"]), self.seed, blocks, self.sigma)
            plan = plan_run(spec.config, list(spec.routes), candles, period.base_tf,
                            period.start, period.end, list(spec.extra))
            result = run_planned(plan, runner.strategies, hyperparameters=self.hyperparameters,
                                 fast_path=spec.fast_path)
            out.train = dict(result.metrics)
            out.data = {"equity": daily_values(result).tolist()}
        except Exception as exc:  # noqa: BLE001 - a failing path is recorded, the rest go on
            _failed(out, exc)
        out.duration_s = time.perf_counter() - began
        return out


@dataclass(frozen=True)
class ReturnsJob:
    """Recompute a trial's daily returns: task ``(number, params)`` runs the study's trial
    ``params`` on ``period``; ``data`` is ``{"returns": [...]}`` (the daily returns the
    metrics' Sharpe ratio is computed from) and ``train`` the metrics."""

    period: str = "train"

    def run(self, runner: Any, number: int, params: Mapping[str, Any]) -> Any:
        from jbt.metrics import daily_returns

        out, began = _outcome(number, time.perf_counter())
        try:
            result = runner.run_period(self.period, runner.spec.space.overrides(params))
            out.train = dict(result.metrics)
            rets = daily_returns(daily_values(result))
            out.data = {"returns": [float(x) if math.isfinite(x) else 0.0 for x in rets]}
        except Exception as exc:  # noqa: BLE001
            _failed(out, exc)
        out.duration_s = time.perf_counter() - began
        return out
