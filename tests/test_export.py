"""JSON and CSV exports round-trip to the same result."""

from __future__ import annotations

import csv
import json
from dataclasses import fields

import pytest
from report_fixtures import T0, make_result

from jbt.report import (
    EQUITY_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    read_json,
    result_dict,
    write_csv,
    write_json,
)
from jbt.results import BacktestResult, ClosedTrade, OrderRecord


def test_json_round_trip(tmp_path) -> None:
    result, _ = make_result()
    path = write_json(result, tmp_path / "out" / "run.json")
    data = json.loads(path.read_text())
    for key in ("config", "routes", "period", "metrics", "trades", "orders", "equity"):
        assert key in data
    assert data["period"] == {"start": result.start, "end": result.end}
    assert data["equity"][0] == {"time": result.equity_time[0], "equity": result.equity[0]}
    assert len(data["trades"]) == 5 and data["trades"][0]["closed_by"] == "take-profit"
    assert set(data["trades"][0]) >= {"exchange", "symbol", "side", "qty", "entry_time",
                                      "entry_price", "exit_time", "exit_price", "pnl", "fee",
                                      "closed_by"}
    assert data == result_dict(result)
    assert read_json(path) == result  # every trade, order, equity point and metric


@pytest.mark.parametrize("with_trades", [True, False])
def test_json_is_written_as_json_dumps_writes_it(tmp_path, with_trades) -> None:
    """The file is streamed (a 1m year's equity is never one string), byte for byte what
    ``json.dumps(..., indent=2)`` gives; metrics computed when the result has none."""
    result, _ = make_result(with_trades=with_trades)
    result.extra["warnings"] = ["a \"quoted\"\nwarning", "é"]
    result.extra["logs"] = [{"time": T0, "route": "r", "message": "line\nbreak"}]
    given = dict(result.metrics)
    for metrics in ({}, given):
        result.metrics = metrics
        text = write_json(result, tmp_path / "run.json").read_text(encoding="utf-8")
        expected = json.dumps(result_dict(result), indent=2, allow_nan=False,
                              ensure_ascii=False) + "\n"
        assert text == expected
    bare = BacktestResult(config={}, routes=[], start=T0, end=T0 + 86_400_000,
                          starting_balance=100.0, finishing_balance=100.0)
    assert write_json(bare, tmp_path / "bare.json").read_text() == json.dumps(
        result_dict(bare), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    result.equity[1] = float("nan")
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(result, tmp_path / "nan.json")


def test_json_has_no_nan_and_fills_missing_metrics(tmp_path) -> None:
    result, _ = make_result(with_trades=False)
    text = write_json(result, tmp_path / "flat.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["metrics"]["win_rate"] is None
    bare = BacktestResult(config={}, routes=[], start=T0, end=T0 + 86_400_000,
                          starting_balance=100.0, finishing_balance=100.0)
    data = json.loads(write_json(bare, tmp_path / "bare.json").read_text())
    assert data["metrics"]["total_trades"] == 0
    assert data["metrics"]["net_profit"] == 0.0


def _typed(cls, row: dict[str, str]):
    out = {}
    for f in fields(cls):
        raw = row[f.name]
        kind = str(f.type)
        if raw == "":
            out[f.name] = None
        elif kind.startswith("bool"):
            out[f.name] = raw == "true"
        elif kind.startswith("int"):
            out[f.name] = int(raw)
        elif kind.startswith("float"):
            out[f.name] = float(raw)
        else:
            out[f.name] = raw
    return cls(**out)


def test_csv_round_trip(tmp_path) -> None:
    result, _ = make_result()
    paths = write_csv(result, tmp_path / "csv")
    assert sorted(p.name for p in paths) == ["equity.csv", "orders.csv", "trades.csv"]
    with (tmp_path / "csv" / "trades.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == TRADE_COLUMNS
    assert [_typed(ClosedTrade, r) for r in rows] == sorted(result.trades,
                                                            key=lambda t: t.exit_time)
    assert rows[0]["entry_time_utc"] == "2024-01-01T02:00:00Z"
    with (tmp_path / "csv" / "orders.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ORDER_COLUMNS
    assert [_typed(OrderRecord, r) for r in rows] == result.orders
    assert rows[2]["filled_at"] == "" and rows[2]["filled_at_utc"] == ""
    with (tmp_path / "csv" / "equity.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == EQUITY_COLUMNS
    assert [int(r["time"]) for r in rows] == result.equity_time
    assert [float(r["equity"]) for r in rows] == result.equity


def test_equity_csv_drawdown_by_hand(tmp_path) -> None:
    # 10,000 start; 11,000 (new peak), 9,900 (-10% from 11,000), 12,100 (new peak).
    result = BacktestResult(config={}, routes=[], start=T0, end=T0 + 3 * 3_600_000,
                            starting_balance=10_000.0, finishing_balance=12_100.0,
                            equity_time=[T0 + k * 3_600_000 for k in (1, 2, 3)],
                            equity=[11_000.0, 9_900.0, 12_100.0])
    write_csv(result, tmp_path)
    with (tmp_path / "equity.csv").open(newline="") as f:
        dd = [float(r["drawdown"]) for r in csv.DictReader(f)]
    assert dd == pytest.approx([0.0, -0.1, 0.0])
