"""Jesse's ``jesse.helpers`` functions that strategies and custom indicators use.

Custom indicators written for Jesse start ``from jesse.helpers import get_candle_source,
slice_candles``; with ``jbt`` in place of ``jesse`` they run unchanged. The functions keep
Jesse's names, arguments and results; times are UTC epoch milliseconds and are formatted
without the ``arrow`` package (``timestamp_to_time(0)`` is ``'1970-01-01T00:00:00+00:00'``,
as Jesse prints it). Jesse's internals (configuration, live trading, its database) have no
counterpart: importing one gives a line that says so.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Any

import numpy as np

from jbt.indicators._source import get_candle_source as _get_candle_source
from jbt.timeframes import TIMEFRAMES
from jbt.timeframes import normalize as _timeframe

#: How many of the newest candles ``slice_candles`` keeps when ``sequential`` is False: the
#: default of Jesse's ``warmup_candles_num``, so a custom indicator's last value is computed on
#: the same candles as in Jesse (and in O(1) per bar however long the run).
SLICE_CANDLES = 240


# ------------------------------------------------------------------ candles and arrays


def get_candle_source(candles: np.ndarray, source_type: str = "close") -> np.ndarray:
    """The price series of ``candles``: open, close, high, low, volume, hl2, hlc3 or ohlc4."""
    return _get_candle_source(candles, source_type, name="get_candle_source")


def slice_candles(candles: np.ndarray, sequential: bool) -> np.ndarray:
    """The candles an indicator needs: all of them with ``sequential``, else the newest
    :data:`SLICE_CANDLES` (240), as Jesse slices them."""
    candles = np.asarray(candles)
    if not sequential and candles.shape[0] > SLICE_CANDLES:
        return candles[-SLICE_CANDLES:]
    return candles


def np_shift(arr: np.ndarray, num: int, fill_value: Any = 0) -> np.ndarray:
    """``arr`` moved ``num`` places later (earlier when negative), the gap filled with
    ``fill_value``; same length."""
    arr = np.asarray(arr)
    result = np.empty_like(arr)
    if num > 0:
        result[:num] = fill_value
        result[num:] = arr[:-num]
    elif num < 0:
        result[num:] = fill_value
        result[:num] = arr[-num:]
    else:
        result[:] = arr
    return result


def np_ffill(arr: np.ndarray, axis: int = 0) -> np.ndarray:
    """NaN replaced by the last value before it along ``axis`` (leading NaN stay)."""
    arr = np.asarray(arr)
    moved = np.moveaxis(arr, axis, 0)
    n = moved.shape[0]
    valid = ~np.isnan(moved)
    shape = (n,) + (1,) * (moved.ndim - 1)
    idx = np.where(valid, np.arange(n).reshape(shape), 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(moved, idx, axis=0)
    return np.moveaxis(filled, 0, axis)


def same_length(bigger: np.ndarray, shorter: np.ndarray) -> np.ndarray:
    """``shorter`` padded in front with NaN to the length of ``bigger``."""
    return np.concatenate((np.full(bigger.shape[0] - shorter.shape[0], np.nan), shorter))


# ------------------------------------------------------------------ symbols and sides


def base_asset(symbol: str) -> str:
    return symbol.split("-")[0]


def quote_asset(symbol: str) -> str:
    parts = symbol.split("-")
    if len(parts) < 2:
        raise ValueError(f"symbol {symbol!r} has no quote asset; write it like 'BTC-USDT'")
    return parts[1]


get_base_asset = base_asset
get_quote_asset = quote_asset


def dashless_symbol(symbol: str) -> str:
    return symbol.replace("-", "")


def dashy_symbol(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC-USDT``: a known quote suffix, else USD/USDT/USDC, else after 3
    letters."""
    if "-" in symbol:
        return symbol
    for suffix in ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "EUR", "GBP", "JPY", "TRY", "BTC",
                   "ETH"):
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            return f"{symbol[:-len(suffix)]}-{suffix}"
    if "USD" in symbol[-4:]:
        i = symbol.rfind("USD")
        return f"{symbol[:i]}-{symbol[i:]}"
    return f"{symbol[:3]}-{symbol[3:]}"


def underline_to_dashy_symbol(symbol: str) -> str:
    return symbol.replace("_", "-")


def dashy_to_underline(symbol: str) -> str:
    return symbol.replace("-", "_")


def key(exchange: str, symbol: str, timeframe: str | None = None) -> str:
    return f"{exchange}-{symbol}" if timeframe is None else f"{exchange}-{symbol}-{timeframe}"


def opposite_side(s: str) -> str:
    if s == "buy":
        return "sell"
    if s == "sell":
        return "buy"
    raise ValueError(f"{s} is not a valid input for side")


def opposite_type(t: str) -> str:
    if t == "long":
        return "short"
    if t == "short":
        return "long"
    raise ValueError("unsupported type")


def side_to_type(s: str) -> str:
    s = s.lower()
    if s == "buy":
        return "long"
    if s == "sell":
        return "short"
    raise ValueError(f"{s} is not a valid side")


def type_to_side(t: str) -> str:
    if t == "long":
        return "buy"
    if t == "short":
        return "sell"
    raise ValueError(f'unsupported type: "{t}". Only "long" and "short" are supported.')


def closing_side(position_type: str) -> str:
    if position_type.lower() == "long":
        return "sell"
    if position_type.lower() == "short":
        return "buy"
    raise ValueError(f"Value entered for position_type ({position_type}) is not valid")


def prepare_qty(qty: float, side: str) -> float:
    """Signed quantity: negative for sell/short, positive for buy/long, 0 for close."""
    s = side.lower()
    if s in ("sell", "short"):
        return -abs(qty)
    if s in ("buy", "long"):
        return abs(qty)
    if s == "close":
        return 0.0
    raise ValueError(f"{side} is not a valid input")


# ------------------------------------------------------------------ numbers


def estimate_average_price(order_qty: float, order_price: float, current_qty: float,
                           current_entry_price: float) -> float:
    """The entry price after adding ``order_qty`` at ``order_price`` to a position."""
    return (abs(order_qty) * order_price + abs(current_qty) * current_entry_price) / (
        abs(order_qty) + abs(current_qty))


def estimate_PNL(qty: float, entry_price: float, exit_price: float, trade_type: str,  # noqa: N802
                 trading_fee: float = 0) -> float:
    """Profit of a trade after a fee rate charged on both the entry and the exit value."""
    qty = abs(qty)
    profit = qty * (exit_price - entry_price)
    if trade_type == "short":
        profit = -profit
    return profit - trading_fee * qty * (entry_price + exit_price)


def estimate_PNL_percentage(qty: float, entry_price: float, exit_price: float,  # noqa: N802
                            trade_type: str) -> float:
    qty = abs(qty)
    profit = qty * (exit_price - entry_price)
    if trade_type == "short":
        profit = -profit
    return profit / (qty * entry_price) * 100


def floor_with_precision(num: float, precision: int = 0) -> float:
    temp = 10 ** precision
    return math.floor(num * temp) / temp


def round_decimals_down(number: Any, decimals: int = 2) -> Any:
    """Round toward minus infinity at ``decimals`` places (negative: tens, hundreds, ...)."""
    if not isinstance(decimals, int):
        raise TypeError("decimal places must be an integer")
    if decimals == 0:
        return np.floor(number)
    if decimals > 0:
        factor = 10 ** decimals
        return np.floor(number * factor) / factor
    factor = 10 ** (-decimals)
    return np.floor(number / factor) * factor


def round_or_none(x: float | None, digits: int = 0) -> float | None:
    return None if x is None else round(x, digits)


def is_almost_equal(a: float | None, b: float | None, tolerance: float = 1e-8) -> bool:
    """Equal within ``tolerance`` (absolute near 0, relative elsewhere); None equals None."""
    if a is None and b is None:
        return True
    if a is None or b is None:
        return False
    if a == b:
        return True
    if abs(a) < tolerance and abs(b) < tolerance:
        return abs(a - b) <= tolerance
    return abs((a - b) / max(abs(a), abs(b))) <= tolerance


def is_price_near(order_price: float, price_to_compare: float,
                  percentage_threshold: float = 0.00015) -> bool:
    """Within ``percentage_threshold`` (a fraction) of ``price_to_compare``."""
    return abs(1 - (order_price / price_to_compare)) <= percentage_threshold


def normalize(x: float, x_min: float, x_max: float) -> float:
    """``x`` rescaled so that ``x_min`` is 0 and ``x_max`` is 1."""
    return (x - x_min) / (x_max - x_min)


def convert_number(old_max: float, old_min: float, new_max: float, new_min: float,
                   old_value: float) -> float:
    """``old_value`` moved from the range old_min..old_max to new_min..new_max."""
    if old_value > old_max or old_value < old_min:
        raise ValueError(f"old_value:{old_value} must be within the range. {old_min}-{old_max}")
    return (old_value - old_min) * (new_max - new_min) / (old_max - old_min) + new_min


def float_or_none(item: Any) -> float | None:
    if item is None or item == "":
        return None
    return float(item)


def format_currency(num: float) -> str:
    return f"{num:,}"


# ------------------------------------------------------------------ lists and strings


def unique_list(arr) -> list:
    """The items in order, duplicates dropped."""
    seen: set = set()
    return [x for x in arr if not (x in seen or seen.add(x))]


def insert_list(index: int, item: Any, arr: list) -> list:
    """A copy of ``arr`` with ``item`` at ``index`` (-1: at the end)."""
    if index == -1:
        return [*arr, item]
    return arr[:index] + [item] + arr[index:]


def binary_search(arr: list, item: Any) -> int:
    """Index of ``item`` in the sorted ``arr``, -1 when absent."""
    from bisect import bisect_left

    i = bisect_left(arr, item)
    return i if i != len(arr) and arr[i] == item else -1


def string_after_character(s: str, character: str) -> str | None:
    parts = s.split(character, 1)
    return parts[1] if len(parts) > 1 else None


def merge_dicts(d1: dict, d2: dict) -> dict:
    """``d1`` updated with ``d2``, nested dicts merged key by key."""
    out = dict(d1)
    for k, v in d2.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


def generate_unique_id() -> str:
    return str(uuid.uuid4())


def readable_duration(seconds: int, granularity: int = 2) -> str:
    """``readable_duration(90061)`` -> ``'1 day, 1 hour'``."""
    parts = []
    for name, count in (("weeks", 604800), ("days", 86400), ("hours", 3600), ("minutes", 60),
                        ("seconds", 1)):
        value = int(seconds // count)
        if value:
            seconds -= value * count
            parts.append(f"{value} {name.rstrip('s') if value == 1 else name}")
    return ", ".join(parts[:granularity])


# ------------------------------------------------------------------ time


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp / 1000, tz=timezone.utc)


def timestamp_to_time(timestamp: int) -> str:
    """``1609804800000`` -> ``'2021-01-05T00:00:00+00:00'``."""
    return _dt(timestamp).isoformat()


def timestamp_to_date(timestamp: int) -> str:
    """``1609804800000`` -> ``'2021-01-05'``."""
    return _dt(timestamp).strftime("%Y-%m-%d")


def timestamp_to_iso8601(timestamp: int) -> str:
    return _dt(timestamp).isoformat()


def timestamp_to_datetime(timestamp: int) -> datetime:
    """The UTC ``datetime`` of an epoch-ms time (jbt's stand-in for ``timestamp_to_arrow``)."""
    return _dt(timestamp)


def date_to_timestamp(date: str) -> int:
    """``'2015-08-01'`` -> ``1438387200000`` (UTC midnight)."""
    d = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(d.timestamp()) * 1000


def iso8601_to_timestamp(iso8601: str) -> int:
    """``'2021-01-05T00:00:00.000Z'`` -> ``1609804800000`` (whole seconds, as Jesse)."""
    text = iso8601.replace("Z", "+00:00")
    d = datetime.fromisoformat(text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(d.timestamp()) * 1000


def timeframe_to_one_minutes(timeframe: str) -> int:
    """How many minutes a timeframe lasts (``'4h'`` -> 240)."""
    return TIMEFRAMES[_timeframe(timeframe)] // 60_000


def max_timeframe(timeframes_list: list) -> str:
    """The longest of the timeframes (up to 1D, as Jesse); ``'1m'`` for none."""
    known = [_timeframe(tf) for tf in timeframes_list]
    known = [tf for tf in known if TIMEFRAMES[tf] <= TIMEFRAMES["1D"]]
    return max(known, key=TIMEFRAMES.__getitem__) if known else "1m"


def next_candle_timestamp(candle: np.ndarray, timeframe: str) -> int:
    """Open time of the candle after ``candle``."""
    return int(candle[0]) + timeframe_to_one_minutes(timeframe) * 60_000


# ------------------------------------------------------------------ mode


def is_backtesting() -> bool:
    return True


def is_live() -> bool:
    return False


def is_livetrading() -> bool:
    return False


def is_paper_trading() -> bool:
    return False


def is_optimizing() -> bool:
    return False


def is_importing_candles() -> bool:
    return False


def is_debugging() -> bool:
    return False


# ------------------------------------------------------------------ Jesse's internals

_NO_COUNTERPART = {
    **dict.fromkeys(
        ("get_config", "get_store", "app_mode", "app_currency", "get_strategy_class",
         "is_debuggable", "should_execute_silently", "is_unit_testing", "terminate_app",
         "get_session_id", "get_pid", "is_jesse_project", "validate_cwd", "dna_to_hp",
         "has_live_trade_plugin", "clear_config_caches", "is_significance_testing",
         "computer_name", "is_notebook", "is_docker", "get_os", "cpu_cores_count"),
        "nothing: it belongs to Jesse's configuration and runtime (jbt's config.toml is read "
        "by the engine, not by strategies)"),
    **dict.fromkeys(("now", "now_to_timestamp"), "self.time (the current bar's time, ms)"),
    **dict.fromkeys(("get_arrow", "timestamp_to_arrow", "arrow_to_timestamp"),
                    "timestamp_to_datetime (a UTC datetime) or timestamp_to_time"),
    **dict.fromkeys(("dd", "dump", "debug", "terminal_debug", "error"),
                    "print() or self.log()"),
    **dict.fromkeys(("round_price_for_live_mode", "round_qty_for_live_mode"),
                    "round_decimals_down (jbt backtests do not round to exchange precision)"),
}


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(f"module 'jbt.helpers' has no attribute {name!r}")
    from jbt.strategies._jesse_compat import JesseImportError

    hint = _NO_COUNTERPART.get(name)
    if hint is not None:
        raise JesseImportError(f"jesse.helpers.{name} is a Jesse name jbt does not have; use {hint}")
    raise AttributeError(f"module 'jbt.helpers' has no attribute {name!r}")
