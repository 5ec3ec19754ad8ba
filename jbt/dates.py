"""Dates on the command line and in the API: UTC, parsed to epoch milliseconds."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from jbt.errors import InputError

_FORMATS = "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"

_PATTERN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"(Z|[+-]00:?00)?",
    re.IGNORECASE | re.ASCII,  # ASCII digits only: "２０２０" is not a year
)


def parse_date(text: str, *, name: str = "date") -> int:
    """``2020-01-01``, ``2020-01-01T12:30``, ``2020-01-01 12:30:00`` (optionally ``Z``/``+00:00``)
    as UTC epoch milliseconds. ``name`` (START, END...) is used in the error message."""
    raw = str(text).strip()
    m = _PATTERN.fullmatch(raw)
    if m is None:
        hint = ""
        if re.fullmatch(r".*[+-]\d{2}:?\d{2}", raw, re.ASCII):
            hint = " (only UTC offsets are accepted)"
        raise InputError(f"{name} '{text}' is not a date{hint}; {_FORMATS}")
    year, month, day, hour, minute, second, frac, _tz = m.groups()
    try:
        dt = datetime(
            int(year), int(month), int(day),
            int(hour or 0), int(minute or 0), int(second or 0),
            int((frac or "0").ljust(6, "0")),
            tzinfo=timezone.utc,
        )
    except ValueError as exc:
        raise InputError(f"{name} '{text}' is not a date ({exc}); {_FORMATS}") from None
    return int(dt.timestamp() * 1000)


def format_ms(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM`` UTC (seconds shown only when not zero)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if dt.second else "%Y-%m-%d %H:%M")


def now_ms() -> int:
    """The current time as UTC epoch milliseconds."""
    return int(time.time() * 1000)
