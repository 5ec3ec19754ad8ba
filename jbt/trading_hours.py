"""Trading-hours schedules (Jesse's ``trading_hours()`` / ``utils.filter_candles_by_hours``).

A schedule is a plain dict, as in Jesse::

    {"timezone": "America/New_York",            # an IANA name, required
     "hours": {"Mon-Fri": "09:30-16:00"},       # days -> a window or a list of windows
     "closed": ["2026-11-26"],                  # optional: local dates that are closed
     "overrides": {"2026-11-27": "09:30-13:00"}}  # optional: other windows on a date

Days are ``Mon-Fri``, ``Mon,Wed,Fri`` or ``Sun`` (a range may wrap: ``Fri-Mon``); a day not
listed is closed. Windows are ``HH:MM-HH:MM`` in the local time, half-open (open <= t < close);
one whose close is not after its open runs past midnight and belongs to the day it opens.
Timestamps are UTC milliseconds; daylight saving follows the time zone. A bad schedule is a
``ValueError`` naming the part that is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_KEYS = {"timezone", "hours", "closed", "overrides"}
_DAY = dt.timedelta(days=1)


def _minutes(text: str, where: str) -> int:
    hh, sep, mm = text.strip().partition(":")
    if not (sep and hh.isdigit() and mm.isdigit()):
        raise ValueError(f"{where}: time {text!r} must look like 'HH:MM'")
    h, m = int(hh), int(mm)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"{where}: time {text!r} is out of range (00:00 to 24:00)")
    return h * 60 + m


def _windows(value, where: str) -> list[tuple[int, int]]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"{where}: expected 'HH:MM-HH:MM' or a non-empty list of them")
    out = []
    for item in items:
        if not isinstance(item, str) or item.count("-") != 1:
            raise ValueError(f"{where}: window {item!r} must look like 'HH:MM-HH:MM'")
        a, b = (_minutes(t, where) for t in item.split("-"))
        if a == 24 * 60 or a == b:
            raise ValueError(f"{where}: window {item!r} cannot open at 24:00 or close when it "
                             "opens")
        out.append((a, b))
    return out


def _days(text: str) -> list[int]:
    days = []
    for part in str(text).split(","):
        part = part.strip()
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"'hours' key {text!r}: use days like 'Mon-Fri', 'Mon,Wed,Fri' or "
                             "'Sun'")
        a = _DAYS.index(first)
        b = _DAYS.index(last) if last else a
        days.extend((a + k) % 7 for k in range((b - a) % 7 + 1))
    return days


def _date(value, where: str) -> dt.date:
    try:
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


class TradingHours:
    """A checked schedule."""

    def __init__(self, spec: dict) -> None:
        if not isinstance(spec, dict):
            raise ValueError("trading hours must be a dict or None")
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise ValueError(f"trading hours: unknown key(s) {unknown}; use {sorted(_KEYS)}")
        try:
            self.zone = ZoneInfo(str(spec.get("timezone") or ""))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"trading hours: 'timezone' must be an IANA name such as "
                             f"'America/New_York', got {spec.get('timezone')!r}") from None
        hours = spec.get("hours")
        if not isinstance(hours, dict) or not hours:
            raise ValueError("trading hours: 'hours' must be a non-empty dict of days -> windows")
        self.weekly: dict[int, list[tuple[int, int]]] = {}
        for days, value in hours.items():
            for day in _days(days):
                if day in self.weekly:
                    raise ValueError(f"trading hours: {_DAYS[day]} is listed twice in 'hours'")
                self.weekly[day] = _windows(value, f"'hours' entry {days!r}")
        self.closed = {_date(d, "'closed'") for d in spec.get("closed") or []}
        self.overrides = {_date(d, "'overrides'"): _windows(v, f"'overrides' entry {d!r}")
                          for d, v in (spec.get("overrides") or {}).items()}

    def _intervals(self, day: dt.date) -> list[tuple[int, int]]:
        """UTC [start, end) of the windows opening on local date ``day``."""
        if day in self.closed:
            return []
        out = []
        for a, b in self.overrides.get(day, self.weekly.get(day.weekday(), [])):
            end_day = day if b > a else day + _DAY
            out.append((self._ms(day, a), self._ms(end_day, b)))
        return out

    def _ms(self, day: dt.date, minutes: int) -> int:
        extra, minutes = divmod(minutes, 24 * 60)
        d = day + dt.timedelta(days=extra)
        local = dt.datetime(d.year, d.month, d.day, minutes // 60, minutes % 60, tzinfo=self.zone)
        return int(local.timestamp() * 1000)

    def contains(self, timestamp: int) -> bool:
        t = int(timestamp)
        day = dt.datetime.fromtimestamp(t / 1000, self.zone).date()
        return any(a <= t < b for d in (day - _DAY, day) for a, b in self._intervals(d))

    def mask(self, timestamps) -> np.ndarray:
        ts = np.asarray(timestamps, dtype=np.int64)
        if len(ts) == 0:
            return np.zeros(0, dtype=bool)
        first = dt.datetime.fromtimestamp(int(ts.min()) / 1000, self.zone).date() - _DAY
        last = dt.datetime.fromtimestamp(int(ts.max()) / 1000, self.zone).date()
        intervals = []
        day = first
        while day <= last:
            intervals.extend(self._intervals(day))
            day += _DAY
        if not intervals:
            return np.zeros(len(ts), dtype=bool)
        intervals.sort()
        starts = np.array([a for a, _ in intervals], dtype=np.int64)
        ends = np.maximum.accumulate(np.array([b for _, b in intervals], dtype=np.int64))
        i = np.searchsorted(starts, ts, side="right") - 1
        return (i >= 0) & (ts < ends[np.maximum(i, 0)])


@lru_cache(maxsize=64)
def _schedule(key: str) -> TradingHours:
    return TradingHours(json.loads(key))


def schedule(spec: dict | None) -> TradingHours | None:
    """The checked schedule of ``spec`` (cached by value), None for None."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError("trading hours must be a dict or None")
    return _schedule(json.dumps(spec, sort_keys=True, default=str))


__all__ = ["TradingHours", "schedule"]
