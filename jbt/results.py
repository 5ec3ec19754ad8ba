"""Plain result objects a backtest returns. Printing, JSON and HTTP are someone else's job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Why a trade was closed (the exit-reason table groups by these).
CLOSED_BY = ("signal", "stop-loss", "take-profit", "liquidation", "end-of-run")


@dataclass(frozen=True)
class RouteSpec:
    """One route: a strategy trading one symbol on one exchange at one timeframe."""

    exchange: str
    symbol: str
    timeframe: str
    strategy: str

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}:{self.strategy}"


@dataclass(frozen=True)
class OrderRecord:
    """An order as it ended: filled, cancelled, or still open at the end of the run."""

    id: int
    route: str  # RouteSpec.key
    exchange: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # "market" | "limit" | "stop"
    role: str  # "entry" | "exit" | "stop-loss" | "take-profit" | "liquidation" | "end-of-run"
    qty: float
    price: float | None  # requested price (None for market)
    status: str  # "filled" | "cancelled" | "open" | "rejected" (spot overspend, no margin)
    created_at: int  # epoch ms
    filled_at: int | None = None
    fill_price: float | None = None
    fee: float = 0.0
    reduce_only: bool = False


@dataclass(frozen=True)
class FillRecord:
    """One fill: (a part of) an order executed at one price and time."""

    order_id: int
    route: str  # RouteSpec.key
    side: str  # "buy" | "sell"
    qty: float
    price: float
    fee: float
    time: int  # epoch ms


@dataclass
class FundingRecord:
    """One funding event settled on one open position (futures). Read it, do not change it
    (not frozen: a year has thousands, and a frozen dataclass costs five times as much to
    make)."""

    time: int  # epoch ms: the funding time (rounded down to the minute)
    route: str  # RouteSpec.key
    rate: float  # the event's rate: a long pays qty x price x rate when it is positive
    price: float  # the mark price the notional was valued at
    qty: float  # the position, signed (negative: short)
    amount: float  # received by the position (negative: paid)


@dataclass(frozen=True)
class ClosedTrade:
    """A position from open to flat. ``pnl`` is net of all fees and funding; ``fee`` is the
    fees paid; ``funding`` the funding received (negative when paid; futures only)."""

    id: int
    route: str
    exchange: str
    symbol: str
    timeframe: str
    strategy: str
    side: str  # "long" | "short"
    qty: float  # the largest size the position reached
    entry_time: int  # epoch ms of the first entry fill
    entry_price: float  # average entry price
    exit_time: int  # epoch ms of the last exit fill
    exit_price: float  # average exit price
    pnl: float
    fee: float
    closed_by: str  # one of CLOSED_BY
    leverage: float = 1.0
    funding: float = 0.0  # funding received over the trade (negative: paid)

    @property
    def holding_ms(self) -> int:
        return self.exit_time - self.entry_time

    @property
    def is_long(self) -> bool:
        return self.side == "long"


@dataclass
class BacktestResult:
    """Everything a run produced. ``equity`` is one (time ms, equity) per bar of the shortest
    route timeframe, marked to market at the bar's close."""

    config: dict[str, Any]
    routes: list[RouteSpec]
    start: int
    end: int
    starting_balance: float
    finishing_balance: float
    trades: list[ClosedTrade] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    equity_time: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    session_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: funding settled on open positions, in time order (futures)
    funding: list[FundingRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in the README (what ``--json`` writes and the API returns)."""
        return {
            "session_id": self.session_id,
            "config": self.config,
            "routes": [asdict(r) for r in self.routes],
            "period": {"start": self.start, "end": self.end},
            "starting_balance": self.starting_balance,
            "finishing_balance": self.finishing_balance,
            "metrics": self.metrics,
            # flat records of numbers and strings: a copy of the fields, without asdict's deep
            # copy (which took seconds for the orders of a 1m year)
            "trades": [dict(vars(t)) for t in self.trades],
            "orders": [dict(vars(o)) for o in self.orders],
            "equity": [{"time": t, "equity": e} for t, e in zip(self.equity_time, self.equity, strict=True)],
            "funding": [dict(vars(f)) for f in self.funding],
            "duration_s": self.duration_s,
            # every warning of the run (the report shows the first few and counts the rest)
            "warnings": list(self.extra.get("warnings", [])),
            # why the run was not saved, when saving failed (a full disk, a read-only database)
            "save_error": self.extra.get("save_error"),
            # what strategies logged (self.log) and drew (chart helpers), when they did
            **{k: self.extra[k] for k in ("logs", "charts") if self.extra.get(k)},
        }


def maker(cls: type) -> Callable[..., Any]:
    """A constructor of the frozen record ``cls`` from all its fields in order, for the engine,
    which makes thousands a run: the same object as ``cls(*values)`` (fields, equality, hash),
    made without the frozen ``__init__``'s ``object.__setattr__`` per field (2.5x faster)."""
    names = tuple(f.name for f in fields(cls))
    new = object.__new__

    def make(*values: Any) -> Any:
        obj = new(cls)
        obj.__dict__.update(zip(names, values, strict=True))
        return obj

    make.__name__ = make.__qualname__ = f"make_{cls.__name__}"
    return make


make_trade = maker(ClosedTrade)
make_order = maker(OrderRecord)
make_fill = maker(FillRecord)
