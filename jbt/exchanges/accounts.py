"""The money side of the simulated exchange: what a fill costs and what a position is worth.

The sandbox sequences fills (which order, at what price, in what order on the price path); an
:class:`Account` decides what each fill does to the balance. One account per run, built by
:func:`make_account` from ``backtest.type``:

:class:`SpotAccount`
    The balance is free quote currency. A buy pays ``qty·price + fee`` and is refused when that
    is more than the balance (a shortfall of at most 1e-9 of the cost, the float rounding of
    "buy with all the balance", is taken off the fee instead, so the balance lands on exactly
    0); a sell receives ``qty·price − fee``. Long only. A position is worth ``qty·price``.

:class:`FuturesAccount` (isolated margin, as Binance's USDⓈ-M futures run it)
    The balance is the wallet: realized PnL, fees and funding. Each open position holds its
    own margin (its isolated wallet): an entry adds ``qty·price/leverage`` to it, an exit
    releases the part it closes, funding is settled in it. An entry is refused when its margin
    plus fee exceeds the wallet minus the margin already held.

    Liquidation price, Binance's formula for one isolated position ("How to Calculate
    Liquidation Price of USDⓈ-M Contracts", Binance FAQ; one-way mode, no other position in
    the isolated wallet, so TMM1 = UPNL1 = 0)::

        LP = (WB + cum − side·Q·EP) / (Q·MMR − side·Q)
        long:  LP = (Q·EP − WB − cum) / (Q·(1 − MMR))
        short: LP = (Q·EP + WB + cum) / (Q·(1 + MMR))

    with ``WB`` the position's margin, ``Q`` its size, ``EP`` its entry price, ``side`` +1 for
    a long and −1 for a short, ``MMR`` the maintenance margin rate and ``cum`` the maintenance
    amount of the notional bracket ``Q·EP`` falls in (Binance publishes both per bracket in
    ``GET /fapi/v1/leverageBracket``: ``maintMarginRatio`` and ``cum``). jbt uses one flat
    rate, ``backtest.maintenance_margin`` (the first bracket's rate: 0.4% for BTCUSDT, 0.5% and
    more for most other contracts), for which ``cum`` is 0. With a rate of 0 the liquidation
    price is the bankruptcy price.

    Bankruptcy price, where the margin plus the unrealized PnL is 0::

        long:  BP = EP − WB/Q        short: BP = EP + WB/Q

    A liquidation closes the position at ``BP`` (as the exchange's liquidation engine takes it
    over; Jesse fills liquidations at the same price), so it realizes exactly the position's
    margin as the loss, and pays the liquidation clearance fee ``backtest.liquidation_fee`` ×
    the notional at ``BP`` instead of a trading fee (Binance publishes the rate per contract as
    ``liquidationFee`` in ``GET /fapi/v1/exchangeInfo``: 0.0125 = 1.25% for BTCUSDT).

    No exit fill loses more than the margin it releases: a stop, market, gapped or end-of-run
    fill at a price beyond ``BP`` fills at ``BP`` (the insurance fund takes the rest on an
    exchange). The wallet never goes below 0: a fee (trading or liquidation) is taken only as
    far as the wallet can pay it without touching the other positions' margins.

    Funding: ``qty·price·rate`` is paid by a long and received by a short (the reverse when
    the rate is negative), settled in the position's margin (so paid funding moves the
    liquidation price closer, as in Binance's isolated mode); a payment never takes more than
    the margin (the position is then liquidated at once, at its entry price).

    A position is worth its unrealized PnL ``qty·(price − entry)``, never less than −margin.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

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
                 maintenance_margin: float = 0.0, liquidation_fee: float = 0.0) -> None:
        self.starting_balance = starting_balance
        self.balance = starting_balance
        self.leverage = leverage
        self.maintenance_margin = maintenance_margin
        #: the fee rate of a liquidation (instead of the taker fee)
        self.liquidation_fee = liquidation_fee

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

    def exit_price(self, position: Position, price: float) -> float:
        """The price an exit fill of ``position`` gets when the path says ``price``."""
        return price

    @abstractmethod
    def exit(self, position: Position, qty: float, price: float, fee: float
             ) -> tuple[float, float]:
        """An exit fill reducing ``position`` (before the change) by ``qty`` at ``price``:
        ``(fee charged, balance change)``."""

    def position_changed(self, position: Position, qty: float, price: float,
                         increasing: bool, size_before: float) -> None:
        """After a fill of ``qty`` at ``price`` changed ``position`` (of size ``size_before``
        before it); spot keeps no margin and has no liquidation price."""
        return None

    def position_closed(self, open_routes: Iterable[RouteState]) -> None:
        """After a position went flat; ``open_routes`` are the routes still open."""
        return None

    def funding(self, position: Position, price: float, rate: float) -> float:
        """Settle one funding event on an open position: the amount it receives (negative
        when it pays). Spot pays no funding."""
        return 0.0

    @abstractmethod
    def value(self, qty: float, entry_price: float, mark, margin: float = 0.0):
        """What a position adds to the equity at price ``mark`` (a number or an array)."""

    def liquidation_price(self, qty: float, entry_price: float, margin: float) -> float | None:
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

    def exit(self, position: Position, qty: float, price: float, fee: float
             ) -> tuple[float, float]:
        return fee, qty * price - fee

    def value(self, qty: float, entry_price: float, mark, margin: float = 0.0):
        return qty * mark


class FuturesAccount(Account):
    kind = "futures"
    can_short = True
    liquidates = True
    needs = "margin and fee"

    def __init__(self, starting_balance: float, leverage: float = 1.0,
                 maintenance_margin: float = 0.0, liquidation_fee: float = 0.0) -> None:
        super().__init__(starting_balance, leverage, maintenance_margin, liquidation_fee)
        #: margin held by the open positions (the sum of their isolated margins)
        self.margin_used = 0.0

    @property
    def available(self) -> float:
        return self.balance - self.margin_used

    def entry(self, qty: float, price: float, fee: float) -> tuple[float, float] | None:
        need = qty * price / self.leverage + fee
        free = self.balance - self.margin_used
        if need > free * (1.0 + OVERSPEND_TOLERANCE) + 1e-12:
            return None
        if need > free:  # "all the available margin" off by float rounding: the fee absorbs it
            fee = max(free - qty * price / self.leverage, 0.0)
        return fee, -fee

    def requirement(self, qty: float, price: float, fee: float) -> tuple[float, float]:
        return qty * price / self.leverage + fee, self.balance - self.margin_used

    def exit_price(self, position: Position, price: float) -> float:
        bp = position.bankruptcy_price
        if bp is None:
            return price
        if position.qty > 0:
            return bp if price < bp else price
        return bp if price > bp else price

    def exit(self, position: Position, qty: float, price: float, fee: float
             ) -> tuple[float, float]:
        size = abs(position.qty)
        direction = 1.0 if position.qty > 0 else -1.0
        pnl = direction * qty * (price - position.entry_price)
        released = position.margin if qty >= size else position.margin * (qty / size)
        # the wallet pays the fee from what is free once this fill is settled, never from the
        # other positions' margins: it cannot go below 0
        payable = self.balance - self.margin_used + released + pnl
        if fee > payable:
            fee = payable if payable > 0.0 else 0.0
        delta = pnl - fee
        if self.balance + delta < 0.0:  # float rounding of the above: the wallet lands on 0
            delta = -self.balance
            fee = max(pnl - delta, 0.0)
        return fee, delta

    def position_changed(self, position: Position, qty: float, price: float,
                         increasing: bool, size_before: float) -> None:
        if increasing:
            added = qty * price / self.leverage
        elif position.qty == 0.0:
            added = -position.margin
        else:
            added = -position.margin * (qty / size_before)
        position.margin += added
        self.margin_used += added
        self._levels(position)

    def position_closed(self, open_routes: Iterable[RouteState]) -> None:
        # summed again from the open positions, so rounding never accumulates
        self.margin_used = sum(r.position.margin for r in open_routes)

    def funding(self, position: Position, price: float, rate: float) -> float:
        qty = position.qty
        paid = qty * price * rate
        margin = position.margin
        if paid > margin:
            paid = margin
        balance = self.balance
        if paid > balance:  # float rounding: the margin is part of the wallet
            paid = balance
        margin -= paid
        position.margin = margin
        self.margin_used -= paid
        self.balance = balance - paid
        # the liquidation and bankruptcy prices move with the margin (as in _levels)
        entry = position.entry_price
        size = qty if qty > 0 else -qty
        mmr, cum = self.maintenance_margin, 0.0  # self.maintenance(): one flat rate
        if qty > 0:
            liq = (size * entry - margin - cum) / (size * (1.0 - mmr))
            bp = entry - margin / size
        else:
            liq = (size * entry + margin + cum) / (size * (1.0 + mmr))
            bp = entry + margin / size
        position.liquidation_price = liq if liq > 0.0 else None
        position.bankruptcy_price = bp if bp > 0.0 else None
        return -paid

    def _levels(self, position: Position) -> None:
        """The liquidation and bankruptcy prices of ``position`` after a change."""
        qty = position.qty
        if qty == 0.0:
            position.margin = 0.0
            position.liquidation_price = position.bankruptcy_price = None
            return
        position.liquidation_price = self.liquidation_price(qty, position.entry_price,
                                                            position.margin)
        per_unit = position.margin / abs(qty)
        bp = position.entry_price - per_unit if qty > 0 else position.entry_price + per_unit
        position.bankruptcy_price = bp if bp > 0.0 else None

    def value(self, qty: float, entry_price: float, mark, margin: float = 0.0):
        pnl = qty * (mark - entry_price)
        if isinstance(pnl, np.ndarray):
            return np.maximum(pnl, -margin)
        return pnl if pnl > -margin else -margin

    def maintenance(self, notional: float) -> tuple[float, float]:
        """(maintenance margin rate, maintenance amount) of a position of this notional: one
        flat rate (Binance's brackets each have their own rate and ``cum`` amount)."""
        return self.maintenance_margin, 0.0

    def liquidation_price(self, qty: float, entry_price: float, margin: float) -> float | None:
        """Binance's isolated liquidation price (the module docstring); None when it is not
        above 0 (a long whose margin covers its whole notional cannot be liquidated)."""
        size = abs(qty)
        mmr, cum = self.maintenance(size * entry_price)
        if qty > 0:
            p = (size * entry_price - margin - cum) / (size * (1.0 - mmr))
        else:
            p = (size * entry_price + margin + cum) / (size * (1.0 + mmr))
        return p if p > 0.0 else None


def make_account(kind: str, starting_balance: float, leverage: float = 1.0,
                 maintenance_margin: float = 0.0, liquidation_fee: float = 0.0) -> Account:
    """The account for ``backtest.type`` ("spot" or "futures"); spot ignores the leverage."""
    if kind == "futures":
        return FuturesAccount(starting_balance, leverage, maintenance_margin, liquidation_fee)
    return SpotAccount(starting_balance, 1.0, maintenance_margin)


__all__ = ["Account", "FuturesAccount", "SpotAccount", "make_account"]
