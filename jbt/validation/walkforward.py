"""The parts of a walk-forward analysis that are plain arithmetic: stitching the windows'
out-of-sample backtests into one, walk-forward efficiency, parameter stability.

**Each window's out-of-sample backtest** is ``jbt backtest TEST_START TEST_END --hp ...`` with
the parameters chosen on its training part: the strategy gets its warm-up bars from before
TEST_START (candles of the training part, already known when the parameters were chosen),
starts flat with the configured starting balance, and closes what is open at TEST_END at the
last close (as every backtest ends).

**Stitching compounds the windows.** Window ``k`` is scaled by ``F_k``, the stitched balance
at its start over the starting balance (``F_0 = 1``, ``F_(k+1) = F_k · finishing_k /
starting``): its equity points are ``F_k ×`` those of its own run, its trades and orders keep
their times, sides and prices with ``qty``, ``pnl``, ``fee`` and ``funding`` ``× F_k``. A
point at each window's start carries the stitched balance over a gap between windows (when
``--step`` is longer than ``--test``); a window without a feasible trial stays flat (no
trade). The stitched metrics are the report's metrics of that curve and those trades over
``[first TEST_START, last TEST_END)``, buy-and-hold included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from jbt.metrics import compute_metrics
from jbt.results import BacktestResult, RouteSpec


@dataclass
class WindowRun:
    """One window: its periods, the trial chosen and the two periods' metrics."""

    index: int
    train: tuple[int, int]
    test: tuple[int, int]
    seed: int
    status: str  # "ok" | "no-feasible-trial"
    params: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    hp_args: list[str] = field(default_factory=list)
    trial: int | None = None  # the number of the trial chosen
    in_sample: dict[str, Any] | None = None
    out_of_sample: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    session_id: int | None = None
    result: BacktestResult | None = None  # the out-of-sample backtest (not stored here)

    @property
    def efficiency(self) -> float | None:
        return efficiency((self.out_of_sample or {}).get("annual_return"),
                          (self.in_sample or {}).get("annual_return"))

    def to_dict(self, *, trials: bool = True) -> dict[str, Any]:
        d = {"index": self.index, "train": list(self.train), "test": list(self.test),
             "seed": self.seed, "status": self.status, "params": self.params,
             "hyperparameters": self.hyperparameters, "hp_args": self.hp_args,
             "trial": self.trial, "in_sample": self.in_sample,
             "out_of_sample": self.out_of_sample, "efficiency": self.efficiency,
             "counts": self.counts, "session_id": self.session_id}
        if trials:
            d["trials"] = self.trials
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowRun:
        return cls(index=int(d["index"]), train=tuple(d["train"]), test=tuple(d["test"]),
                   seed=int(d["seed"]), status=d["status"], params=dict(d.get("params") or {}),
                   hyperparameters=dict(d.get("hyperparameters") or {}),
                   hp_args=list(d.get("hp_args") or []), trial=d.get("trial"),
                   in_sample=d.get("in_sample"), out_of_sample=d.get("out_of_sample"),
                   counts=dict(d.get("counts") or {}), trials=list(d.get("trials") or []),
                   session_id=d.get("session_id"))


def efficiency(oos_annual: float | None, is_annual: float | None) -> float | None:
    """Walk-forward efficiency: annualised out-of-sample return over annualised in-sample
    return; None when the in-sample one is not positive (the ratio then says nothing)."""
    if oos_annual is None or is_annual is None or is_annual <= 0:
        return None
    v = oos_annual / is_annual
    return v if math.isfinite(v) else None


def overall_efficiency(stitched_annual: float | None,
                       windows: Sequence[WindowRun]) -> float | None:
    """The stitched out-of-sample CAGR over the mean of the windows' in-sample CAGRs."""
    ins = [w.in_sample["annual_return"] for w in windows
           if w.in_sample and w.in_sample.get("annual_return") is not None]
    if not ins:
        return None
    return efficiency(stitched_annual, float(np.mean(ins)))


def stitch(windows: Sequence[WindowRun], routes: Sequence[RouteSpec], starting_balance: float,
           config: dict[str, Any], benchmark_candles: np.ndarray | None) -> BacktestResult:
    """One result of the windows' out-of-sample backtests, compounded (module docstring)."""
    times: list[int] = []
    values: list[float] = []
    trades, orders = [], []
    factor = 1.0
    scales = []
    for w in windows:
        start, end = w.test
        if not times or times[-1] < start:
            times.append(start)
            values.append(factor * starting_balance)
        res = w.result
        scales.append(factor)
        if res is None:
            times.append(end)
            values.append(factor * starting_balance)
            continue
        f = factor
        times.extend(res.equity_time)
        values.extend(f * e for e in res.equity)
        for t in res.trades:
            trades.append(replace(t, id=len(trades) + 1, qty=t.qty * f, pnl=t.pnl * f,
                                  fee=t.fee * f, funding=t.funding * f))
        for o in res.orders:
            orders.append(replace(o, id=len(orders) + 1, qty=o.qty * f, fee=o.fee * f))
        factor = f * res.finishing_balance / starting_balance
    start, end = windows[0].test[0], windows[-1].test[1]
    finishing = factor * starting_balance
    out = BacktestResult(
        config=config, routes=list(routes), start=start, end=end,
        starting_balance=starting_balance, finishing_balance=finishing, trades=trades,
        orders=orders, equity_time=times, equity=values,
    )
    out.metrics = compute_metrics(times, values, trades, starting_balance, start, end,
                                  benchmark_candles=benchmark_candles)
    out.extra["scales"] = scales
    out.extra["warnings"] = []
    return out


def stability(windows: Sequence[WindowRun], space: Any) -> list[dict[str, Any]]:
    """How each searched parameter moved across the windows that chose one: its values, and
    for a number the mean, the standard deviation (ddof=1), the coefficient of variation
    (std / |mean|) and the standard deviation as a share of the searched range; for any
    parameter the most common value, its share, and how often it changed from one window to
    the next."""
    chosen = [w for w in windows if w.status == "ok"]
    out = []
    for p in space.params:
        vals = [w.params.get(p.key) for w in chosen]
        row: dict[str, Any] = {"key": p.key, "kind": p.kind, "values": vals}
        changes = sum(1 for a, b in zip(vals, vals[1:], strict=False) if a != b)
        row["changes"] = changes
        if vals:
            counts: dict[Any, int] = {}
            for v in vals:
                counts[v] = counts.get(v, 0) + 1
            mode = max(counts, key=lambda v: (counts[v], -vals.index(v)))
            row["mode"] = mode
            row["mode_share"] = counts[mode] / len(vals)
        else:
            row["mode"] = None
            row["mode_share"] = None
        if p.kind in ("int", "float") and vals:
            x = np.array(vals, dtype=np.float64)
            mean = float(x.mean())
            std = float(x.std(ddof=1)) if len(x) > 1 else 0.0
            span = float(p.high) - float(p.low)
            row.update(mean=mean, std=std,
                       cv=std / abs(mean) if mean != 0 else None,
                       range_share=std / span if span > 0 else None,
                       low=float(min(x)), high=float(max(x)))
        out.append(row)
    return out
