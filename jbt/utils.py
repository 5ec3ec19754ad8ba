"""Helpers Jesse strategies lean on, with Jesse's names and arguments.

``crossed``, ``size_to_qty``, ``qty_to_size``, ``risk_to_size``, ``risk_to_qty``,
``estimate_risk``, ``limit_stop_loss``, ``anchor_timeframe``, ``floor_with_precision``,
``strictly_increasing``, ``strictly_decreasing``, ``sum_floats``, ``subtract_floats``,
``kelly_criterion``, ``prices_to_returns``, ``z_score``, ``signal_line``, ``streaks``,
``numpy_candles_to_dataframe``, ``combinations_without_repeat``, ``calculate_alpha_beta``,
``are_cointegrated`` (needs statsmodels), ``timeframe_to_one_minutes``, ``dd``,
``filter_candles_by_hours``, ``is_in_trading_hours``.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from jbt.errors import InputError
from jbt.timeframes import normalize

_ANCHORS = {
    "1m": "5m",
    "3m": "15m",
    "5m": "30m",
    "15m": "2h",
    "30m": "3h",
    "45m": "3h",
    "1h": "4h",
    "2h": "6h",
    "3h": "1D",
    "4h": "1D",
    "6h": "1D",
    "8h": "1D",
    "12h": "1D",
}


def anchor_timeframe(timeframe: str) -> str:
    """The larger timeframe conventionally paired with ``timeframe`` for a trend filter
    (``1h`` -> ``4h``, ``4h`` -> ``1D``...). Raises InputError for 1D and above."""
    tf = normalize(timeframe)
    if tf not in _ANCHORS:
        raise InputError(
            f"anchor_timeframe: no anchor timeframe for {tf}; use one of: {', '.join(_ANCHORS)}"
        )
    return _ANCHORS[tf]


def _previous(series, sequential: bool):
    if isinstance(series, np.ndarray) and series.ndim:
        return np.r_[np.nan, series[:-1]] if sequential else series[-2]
    return series


def crossed(series1, series2, direction: str | None = None, sequential: bool = False):
    """Whether ``series1`` crossed ``series2`` (an array of the same length, or a number).

    Crossed above: ``series1`` was ``<=`` and is now ``>``; below: was ``>=`` and is now ``<``.
    ``direction`` is "above", "below" or None (either). Returns a bool for the last value, or
    with ``sequential=True`` a bool array (False at index 0, where nothing came before).
    """
    if direction not in (None, "above", "below"):
        raise InputError(f"crossed: direction must be 'above', 'below' or None (got {direction!r})")
    s1 = np.asarray(series1, dtype=np.float64)
    s2 = np.asarray(series2, dtype=np.float64) if isinstance(series2, (np.ndarray, list, tuple)) \
        else float(series2)
    if not sequential and len(s1) < 2:
        return False
    prev1 = _previous(s1, sequential)
    prev2 = _previous(s2, sequential)
    cur1 = s1 if sequential else s1[-1]
    cur2 = s2[-1] if (not sequential and isinstance(s2, np.ndarray) and s2.ndim) else s2
    with np.errstate(invalid="ignore"):
        above = np.logical_and(prev1 <= prev2, cur1 > cur2)
        below = np.logical_and(prev1 >= prev2, cur1 < cur2)
    if direction == "above":
        result = above
    elif direction == "below":
        result = below
    else:
        result = np.logical_or(above, below)
    return result if sequential else bool(result)


def floor_with_precision(num: float, precision: int = 0) -> float:
    """Round ``num`` down to ``precision`` decimals, tolerant to float noise (2.9999999 ->
    3.0 at precision 3 would otherwise become 2.999)."""
    factor = 10 ** precision
    scaled = num * factor
    nearest = round(scaled)
    if math.isclose(scaled, nearest, rel_tol=1e-12, abs_tol=1e-9):
        return nearest / factor
    return math.floor(scaled) / factor


def _require_numbers(name: str, **values) -> None:
    for arg, value in values.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise TypeError(f"{name}: {arg} must be a number (got {value!r})")


def qty_to_size(qty: float, price: float) -> float:
    """Position size (quote currency) of ``qty`` units at ``price``."""
    _require_numbers("qty_to_size", qty=qty, price=price)
    return qty * price


def size_to_qty(position_size: float, entry_price: float, precision: int = 3,
                fee_rate: float = 0) -> float:
    """Units bought with ``position_size`` at ``entry_price``, floored to ``precision``
    decimals. With a ``fee_rate``, the size is first reduced by ``3 * fee_rate`` (room for the
    entry and exit fees, as Jesse does)."""
    _require_numbers("size_to_qty", position_size=position_size, entry_price=entry_price)
    if entry_price <= 0:
        raise ValueError(f"size_to_qty: entry_price must be > 0 (got {entry_price})")
    if fee_rate:
        position_size *= 1 - fee_rate * 3
    return floor_with_precision(position_size / entry_price, precision)


def estimate_risk(entry_price: float, stop_price: float) -> float:
    """Risk per unit: the distance between the entry and the stop price."""
    _require_numbers("estimate_risk", entry_price=entry_price, stop_price=stop_price)
    return abs(entry_price - stop_price)


def risk_to_size(capital_size: float, risk_percentage: float, risk_per_qty: float,
                 entry_price: float) -> float:
    """Position size such that losing ``risk_per_qty`` per unit costs ``risk_percentage``
    percent of ``capital_size``; capped at ``capital_size`` (no leverage)."""
    if risk_per_qty == 0:
        raise ValueError("risk_to_size: risk per qty cannot be zero (entry price == stop price)")
    size = (risk_percentage / 100 * capital_size) / risk_per_qty * entry_price
    return min(size, capital_size)


def risk_to_qty(capital: float, risk_per_capital: float, entry_price: float,
                stop_loss_price: float, precision: int = 8, fee_rate: float = 0) -> float:
    """Units to buy so that hitting ``stop_loss_price`` loses ``risk_per_capital`` percent of
    ``capital`` (e.g. ``risk_to_qty(10_000, 1, 100, 95)`` -> 20 units: $5 x 20 = $100 = 1%).
    Capped at what ``capital`` can buy; ``fee_rate`` as in :func:`size_to_qty`."""
    _require_numbers("risk_to_qty", entry_price=entry_price, stop_loss_price=stop_loss_price)
    size = risk_to_size(capital, risk_per_capital, abs(entry_price - stop_loss_price),
                        entry_price)
    return size_to_qty(size, entry_price, precision=precision, fee_rate=fee_rate)


def limit_stop_loss(entry_price: float, stop_price: float, trade_type: str,
                    max_allowed_risk_percentage: float) -> float:
    """Move ``stop_price`` closer so the risk is at most ``max_allowed_risk_percentage`` of the
    entry price. ``trade_type`` is "long" or "short"."""
    if trade_type not in ("long", "short"):
        raise ValueError(f"limit_stop_loss: trade_type must be 'long' or 'short' (got {trade_type!r})")
    risk = min(abs(entry_price - stop_price), entry_price * max_allowed_risk_percentage / 100)
    return entry_price - risk if trade_type == "long" else entry_price + risk


def strictly_increasing(series, lookback: int) -> bool:
    """Whether each of the last ``lookback`` values is above the one before it."""
    return bool(np.all(np.diff(np.asarray(series)[-lookback:]) > 0))


def strictly_decreasing(series, lookback: int) -> bool:
    """Whether each of the last ``lookback`` values is below the one before it."""
    return bool(np.all(np.diff(np.asarray(series)[-lookback:]) < 0))


def sum_floats(float1: float, float2: float) -> float:
    """``float1 + float2`` added as decimals, so ``sum_floats(0.1, 0.2) == 0.3``."""
    return float(Decimal(repr(float1)) + Decimal(repr(float2)))


def subtract_floats(float1: float, float2: float) -> float:
    """``float1 - float2`` subtracted as decimals, so ``subtract_floats(0.3, 0.1) == 0.2``."""
    return float(Decimal(repr(float1)) - Decimal(repr(float2)))


def kelly_criterion(win_rate: float, ratio_avg_win_loss: float) -> float:
    """Kelly fraction of capital to risk: ``win_rate - (1 - win_rate) / ratio_avg_win_loss``
    (``win_rate`` a fraction, the ratio average win / |average loss|)."""
    return win_rate - (1 - win_rate) / ratio_avg_win_loss


def prices_to_returns(price_series) -> np.ndarray:
    """Percentage change of each price from the one before it (``5.0`` is +5%); NaN first,
    so the result has the input's length."""
    p = np.asarray(price_series, dtype=np.float64)
    out = np.full(len(p), np.nan)
    out[1:] = (p[1:] / p[:-1] - 1.0) * 100.0
    return out


def z_score(series) -> np.ndarray:
    """``(x - mean) / std`` of the whole series (population std). For a rolling z-score of a
    candle source use :func:`jbt.indicators.zscore`."""
    x = np.asarray(series, dtype=np.float64)
    return (x - x.mean()) / x.std()


def signal_line(series, period: int = 10, matype: int = 0) -> np.ndarray:
    """A moving average of ``series`` (``matype`` as in ``ta.ma``): the signal line of an
    oscillator series."""
    from jbt.indicators import ma

    return ma(np.asarray(series, dtype=np.float64), period=period, matype=matype,
              sequential=True)


def streaks(series, use_diff: bool = True) -> np.ndarray:
    """Length of the current run of rises (positive) or falls (negative) at each point; with
    ``use_diff`` the run of the series' changes (one value fewer than the series, as Jesse)."""
    x = np.diff(np.asarray(series, dtype=np.float64)) if use_diff else np.asarray(
        series, dtype=np.float64)
    out = np.empty(len(x))
    run = 0.0
    for i, v in enumerate(x.tolist()):
        if v > 0:
            run = run + 1 if run > 0 else 1
        elif v < 0:
            run = run - 1 if run < 0 else -1
        else:
            run = 0.0
        out[i] = run
    return out


def numpy_candles_to_dataframe(candles, name_date: str = "date", name_open: str = "open",
                               name_high: str = "high", name_low: str = "low",
                               name_close: str = "close", name_volume: str = "volume"):
    """The candles as a pandas DataFrame indexed by their UTC open time (needs pandas:
    ``pip install 'jbt[stats]'``)."""
    try:
        import pandas as pd
    except ImportError:
        raise InputError("utils.numpy_candles_to_dataframe needs pandas: pip install pandas") \
            from None

    c = np.asarray(candles)
    df = pd.DataFrame(c, columns=[name_date, name_open, name_close, name_high, name_low,
                                  name_volume], index=pd.to_datetime(c[:, 0], unit="ms"))
    df[name_date] = df.index
    return df


def combinations_without_repeat(a, n: int = 2) -> np.ndarray:
    """Every ordered choice of ``n`` different items of ``a``."""
    from itertools import permutations

    if n <= 1:
        raise InputError("combinations_without_repeat: n must be >= 2")
    return np.array(list(permutations(a, n)))


def calculate_alpha_beta(returns1, returns2) -> tuple[float, float]:
    """Least-squares ``returns1 = alpha + beta * returns2``: (alpha, beta)."""
    y = np.asarray(returns1, dtype=np.float64)
    x = np.asarray(returns2, dtype=np.float64)
    design = np.column_stack([np.ones(len(x)), x])
    (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(alpha), float(beta)


def are_cointegrated(price_returns_1, price_returns_2, cutoff: float = 0.05) -> bool:
    """Engle-Granger cointegration test (statsmodels' ``coint``): p-value below ``cutoff``.
    statsmodels is not a jbt dependency: ``pip install 'jbt[stats]'`` to use this."""
    try:
        from statsmodels.tsa.stattools import coint
    except ImportError:
        raise InputError("utils.are_cointegrated needs statsmodels: pip install statsmodels") \
            from None
    return bool(coint(price_returns_1, price_returns_2)[1] < cutoff)


def timeframe_to_one_minutes(timeframe: str) -> int:
    """How many minutes a timeframe lasts (``'4h'`` -> 240)."""
    from jbt.timeframes import to_ms

    return to_ms(normalize(timeframe)) // 60_000


def dd(msg) -> None:
    """Jesse's "dump and die": print ``msg`` and stop the run (a one-line error naming this
    call's file and line, as any strategy error)."""
    from jbt.errors import StrategyError

    print(msg)
    raise StrategyError("stopped by utils.dd()")


def filter_candles_by_hours(candles, hours: dict | None) -> np.ndarray:
    """The candles whose open time is inside the trading-hours schedule ``hours`` (see
    :mod:`jbt.trading_hours`); all of them for None."""
    from jbt.trading_hours import schedule

    s = schedule(hours)
    if s is None:
        return candles
    c = np.asarray(candles)
    return c[s.mask(c[:, 0])] if len(c) else c


def is_in_trading_hours(timestamp: int, hours: dict | None) -> bool:
    """Whether ``timestamp`` (UTC ms) is inside the schedule ``hours``; True for None."""
    from jbt.trading_hours import schedule

    s = schedule(hours)
    return True if s is None else s.contains(timestamp)
