"""The money side of the simulated exchange: what a fill costs and what a position is worth.

The sandbox sequences fills (which order, at what price, in what order on the price path); an
:class:`Account` decides what each fill does to the balance. One account per run, built by
:func:`make_account` from ``backtest.type``:

:class:`SpotAccount`
    The balance is free quote currency. A buy pays ``qty·price + fee`` and is refused when that
    is more than the balance (a shortfall of at most 1e-9 of the cost, the float rounding of
    "buy with all the balance", is taken off the fee instead, so the balance lands on exactly
    0); a sell receives ``qty·price − fee``. Long only. A position is worth ``qty·price``.

:class:`FuturesAccount` (isolated margin)
    The balance is the wallet: realized PnL and fees only. An open position holds
    ``|qty|·entry/leverage`` of margin; an entry is refused when its margin plus fee exceeds
    the wallet minus the margin already held. An exit realizes ``qty·(price − entry)`` (signed
    by the side) minus the fee. A position is liquidated at

        long:  P_liq = entry · (1 − 1/leverage) / (1 − mm)
        short: P_liq = entry · (1 + 1/leverage) / (1 + mm)

    and is worth its unrealized PnL ``qty·(price − entry)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jbt.store import Position, RouteState

#: The largest shortfall (relative to the amount needed) taken as float rounding.
OVERSPEND_TOLERANCE = 1e-9


class Account(ABC):
    """The interface the sandbox fills through; one instance per run."""

    #: "spot" or "futures" (``self.exchange_type``)
    kind = ""
    #: whether positions may be short
    can_short = False
    #: whether positions have a liquidation price (the sandbox then watches it)
    liquidates = False
    #: what an entry needs, in the rejection message ("cost", "margin and fee")
    needs = ""

    def __init__(self, starting_balance: float, leverage: float = 1.0,
                 maintenance_margin: float = 0.0) -> None:
        self.starting_balance = starting_balance
        self.balance = starting_balance
        self.leverage = leverage
        self.maintenance_margin = maintenance_margin

    @property
    def available(self) -> float:
        """What new entries can use."""
        return self.balance

    @abstractmethod
    def entry(self, qty: float, price: float, fee: float) -> tuple[float, float] | None:
        """An entry fill of ``qty`` at ``price`` paying ``fee``: ``(fee charged, balance
        change)``, or None when the balance cannot pay for it."""

    @abstractmethod
    def requirement(self, qty: float, price: float, fee: float) -> tuple[float, float]:
        """(what the entry needs, what is available), for the rejection message."""

    @abstractmethod
    def exit(self, position: Position, qty: float, price: float, fee: float) -> float:
        """The balance change of an exit fill reducing ``position`` (before the change)."""

    def margin(self, position: Position) -> float:
        """Margin held by ``position`` (0 on spot)."""
        return 0.0

    def position_changed(self, position: Position, old_margin: float) -> None:
        """After a fill changed ``position`` (which held ``old_margin`` before it); spot keeps
        no margin and has no liquidation price."""
        return None

    def position_closed(self, open_routes: Iterable[RouteState]) -> None:
        """After a position went flat; ``open_routes`` are the routes still open."""
        return None

    @abstractmethod
    def value(self, qty: float, entry_price: float, mark: float) -> float:
        """What a position adds to the equity at price ``mark``."""

    def liquidation_price(self, qty: float, entry_price: float) -> float | None:
        return None


class SpotAccount(Account):
    kind = "spot"
    needs = "cost"

    def entry(self, qty: float, price: float, fee: float) -> tuple[float, float] | None:
        cost = qty * price + fee
        balance = self.balance
        if cost <= balance:
            return fee, -cost
        if cost - balance > cost * OVERSPEND_TOLERANCE:
            return None
        # "buy with all the balance" off by float rounding: the fee absorbs it
        return balance - qty * price, -balance

    def requirement(self, qty: float, price: float, fee: float) -> tuple[float, float]:
        return qty * price + fee, self.balance

    def exit(self, position: Position, qty: float, price: float, fee: float) -> float:
        return qty * price - fee

    def value(self, qty: float, entry_price: float, mark: float) -> float:
        return qty * mark


class FuturesAccount(Account):
    kind = "futures"
    can_short = True
    liquidates = True
    needs = "margin and fee"

    def __init__(self, starting_balance: float, leverage: float = 1.0,
                 maintenance_margin: float = 0.0) -> None:
        super().__init__(starting_balance, leverage, maintenance_margin)
        #: margin held by open positions (sum of |qty| x entry / leverage)
        self.margin_used = 0.0

    @property
    def available(self) -> float:
        return self.balance - self.margin_used

    def entry(self, qty: float, price: float, fee: float) -> tuple[float, float] | None:
        need = qty * price / self.leverage + fee
        free = self.balance - self.margin_used
        if need > free * (1.0 + OVERSPEND_TOLERANCE) + 1e-12:
            return None
        return fee, -fee

    def requirement(self, qty: float, price: float, fee: float) -> tuple[float, float]:
        return qty * price / self.leverage + fee, self.balance - self.margin_used

    def exit(self, position: Position, qty: float, price: float, fee: float) -> float:
        direction = 1.0 if position.qty > 0 else -1.0
        return direction * qty * (price - position.entry_price) - fee

    def margin(self, position: Position) -> float:
        return abs(position.qty) * position.entry_price / self.leverage

    def position_changed(self, position: Position, old_margin: float) -> None:
        self.margin_used += abs(position.qty) * position.entry_price / self.leverage - old_margin
        position.liquidation_price = (
            None if position.qty == 0.0
            else self.liquidation_price(position.qty, position.entry_price)
        )

    def position_closed(self, open_routes: Iterable[RouteState]) -> None:
        # summed again from the open positions, so rounding never accumulates
        self.margin_used = sum(
            abs(r.position.qty) * r.position.entry_price / self.leverage for r in open_routes
        )

    def value(self, qty: float, entry_price: float, mark: float) -> float:
        return qty * (mark - entry_price)

    def liquidation_price(self, qty: float, entry_price: float) -> float | None:
        lev, mm = self.leverage, self.maintenance_margin
        if qty > 0:
            if lev <= 1.0:
                return None
            return entry_price * (1.0 - 1.0 / lev) / (1.0 - mm)
        return entry_price * (1.0 + 1.0 / lev) / (1.0 + mm)


def make_account(kind: str, starting_balance: float, leverage: float = 1.0,
                 maintenance_margin: float = 0.0) -> Account:
    """The account for ``backtest.type`` ("spot" or "futures"); spot ignores the leverage."""
    if kind == "futures":
        return FuturesAccount(starting_balance, leverage, maintenance_margin)
    return SpotAccount(starting_balance, 1.0, maintenance_margin)


__all__ = ["Account", "FuturesAccount", "SpotAccount", "make_account"]
