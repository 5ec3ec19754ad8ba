"""UTC date parsing shared by import-candles, backtest and the API."""

from __future__ import annotations

import pytest

from jbt.dates import format_ms, parse_date
from jbt.errors import InputError

T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2020-01-01", T0),
        (" 2020-01-01 ", T0),
        ("2020-01-01T12:30", T0 + 750 * 60_000),
        ("2020-01-01 12:30:00", T0 + 750 * 60_000),
        ("2020-01-01T12:30:15Z", T0 + 750 * 60_000 + 15_000),
        ("2020-01-01t12:30:15.250z", T0 + 750 * 60_000 + 15_250),
        ("2020-01-01T00:00+00:00", T0),
        ("2020-01-01T00:00-0000", T0),
        ("2020-02-29", T0 + 59 * 86_400_000),
    ],
)
def test_parse_date(text, ms):
    assert parse_date(text, name="START") == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2019-02-29", "END '2019-02-29' is not a date (day is out of range for month); use "
                       "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020/01/01", "END '2020/01/01' is not a date; use YYYY-MM-DD or "
                       "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("1577836800000", "END '1577836800000' is not a date; use YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-01-01T12", "END '2020-01-01T12' is not a date; use YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-01-01T12:00+01:00", "END '2020-01-01T12:00+01:00' is not a date (only UTC offsets "
                                   "are accepted); use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        # other scripts' digits are digits to Python, not to a date (issue 16, finding 20)
        ("２０２０-０１-０１", "END '２０２０-０１-０１' is not a date; use YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
        ("2020-01-0١", "END '2020-01-0١' is not a date; use YYYY-MM-DD or "
                       "YYYY-MM-DDTHH:MM[:SS] (UTC)"),
    ],
)
def test_parse_date_rejects(text, message):
    with pytest.raises(InputError) as err:
        parse_date(text, name="END")
    assert str(err.value) == message


def test_format_ms():
    assert format_ms(T0) == "2020-01-01 00:00"
    assert format_ms(T0 + 750 * 60_000 + 15_000) == "2020-01-01 12:30:15"
