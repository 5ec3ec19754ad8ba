"""Input checks shared by every indicator, and the candle-source selector.

Every check raises :class:`IndicatorError` with a message that names the indicator and the
argument, e.g. ``ta.rsi: period must be >= 1 (got 0)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from jbt.constants import CLOSE, HIGH, LOW, OPEN, VOLUME
from jbt.errors import InputError

#: The values ``source_type`` accepts.
SOURCE_TYPES = ("open", "close", "high", "low", "volume", "hl2", "hlc3", "ohlc4")


class IndicatorError(InputError, ValueError):
    """An indicator was called with arguments it cannot use (bad candles, period, source...)."""


def as_candles(name: str, candles, *, allow_1d: bool = False) -> np.ndarray:
    """Return ``candles`` as a float64 array of shape (n, 6), or 1-D when ``allow_1d``.

    Raises IndicatorError when the array is empty or has the wrong shape.
    """
    if not isinstance(candles, np.ndarray) or candles.dtype != np.float64:
        try:
            candles = np.asarray(candles, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise IndicatorError(f"ta.{name}: candles must be a numeric array ({exc})") from None
    if candles.ndim == 1 and allow_1d:
        if candles.shape[0] == 0:
            raise IndicatorError(f"ta.{name}: candles is empty; need at least 1 value")
        return candles
    if candles.ndim != 2 or candles.shape[1] != 6:
        shapes = "(n, 6) candles or a 1-D series" if allow_1d else "(n, 6) candles"
        raise IndicatorError(
            f"ta.{name}: candles must be an array of {shapes} "
            f"[timestamp, open, close, high, low, volume]; got shape {candles.shape}"
        )
    if candles.shape[0] == 0:
        raise IndicatorError(f"ta.{name}: candles is empty; need at least 1 candle")
    return candles


def get_candle_source(candles: np.ndarray, source_type: str = "close", *,
                      name: str = "get_candle_source") -> np.ndarray:
    """The price series an indicator runs on: a column of ``candles`` or hl2 / hlc3 / ohlc4."""
    if source_type == "close":
        return candles[:, CLOSE]
    if source_type == "open":
        return candles[:, OPEN]
    if source_type == "high":
        return candles[:, HIGH]
    if source_type == "low":
        return candles[:, LOW]
    if source_type == "volume":
        return candles[:, VOLUME]
    if source_type == "hl2":
        return (candles[:, HIGH] + candles[:, LOW]) / 2
    if source_type == "hlc3":
        return (candles[:, HIGH] + candles[:, LOW] + candles[:, CLOSE]) / 3
    if source_type == "ohlc4":
        return (candles[:, OPEN] + candles[:, HIGH] + candles[:, LOW] + candles[:, CLOSE]) / 4
    raise IndicatorError(
        f"ta.{name}: unknown source_type {source_type!r}; use one of: {', '.join(SOURCE_TYPES)}"
    )


def source(name: str, candles, source_type: str) -> np.ndarray:
    """Validate ``candles`` and return the selected series (a 1-D input is used as is)."""
    candles = as_candles(name, candles, allow_1d=True)
    if candles.ndim == 1:
        if source_type not in SOURCE_TYPES:
            get_candle_source(candles[None, :6], source_type, name=name)
        return candles
    return get_candle_source(candles, source_type, name=name)


def check_int(name: str, arg: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; an IndicatorError naming ``arg`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise IndicatorError(f"ta.{name}: {arg} must be an integer (got {value!r})")
    if value < minimum:
        raise IndicatorError(f"ta.{name}: {arg} must be >= {minimum} (got {value})")
    return int(value)


def check_float(name: str, arg: str, value, minimum: float | None = None,
                strict: bool = False) -> float:
    """``value`` as a finite float (>= or > ``minimum``); an IndicatorError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise IndicatorError(f"ta.{name}: {arg} must be a number (got {value!r})")
    value = float(value)
    if not np.isfinite(value):
        raise IndicatorError(f"ta.{name}: {arg} must be finite (got {value})")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        op = ">" if strict else ">="
        raise IndicatorError(f"ta.{name}: {arg} must be {op} {minimum:g} (got {value:g})")
    return value


def check_choice(name: str, arg: str, value, choices) -> None:
    """Raise an IndicatorError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise IndicatorError(
            f"ta.{name}: unknown {arg} {value!r}; use one of: {', '.join(map(str, choices))}"
        )
