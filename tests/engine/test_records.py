"""The engine makes its result records with ``jbt.results.maker``: the same objects as the
frozen dataclasses' own constructors make (fields in order, equality, hash, frozen)."""

from __future__ import annotations

import dataclasses

import pytest

from jbt.results import ClosedTrade, FillRecord, OrderRecord, make_fill, make_order, make_trade

CASES = [
    (ClosedTrade, make_trade, (7, "sim:BTC-USDT:1h:S", "sim", "BTC-USDT", "1h", "S", "short",
                               0.5, 1_000, 101.25, 2_000, 99.5, 0.8, 0.1, "stop-loss", 3.0,
                               -0.02)),
    (OrderRecord, make_order, (3, "sim:BTC-USDT:1h:S", "sim", "BTC-USDT", "buy", "limit",
                               "entry", 1.5, 99.0, "filled", 1_000, 2_000, 98.5, 0.14, False)),
    (FillRecord, make_fill, (3, "sim:BTC-USDT:1h:S", "buy", 1.5, 98.5, 0.14, 2_000)),
]


@pytest.mark.parametrize(("cls", "make", "values"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_a_made_record_is_the_dataclass_made_the_usual_way(cls, make, values):
    made, usual = make(*values), cls(*values)
    assert type(made) is cls
    assert made == usual and hash(made) == hash(usual)
    assert list(vars(made).items()) == list(vars(usual).items())  # JSON keys in field order
    assert dataclasses.asdict(made) == dataclasses.asdict(usual)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(cls)[0].name, 99)
    with pytest.raises(ValueError):
        make(*values[:-1])
