"""An account's net positions as a broker reports them: per instrument and product, the net
units, the average price they were acquired at, and what was bought and sold.

The average is the average cost of what is held: a fill that adds to the position (or opens
it) moves the average to the units-weighted mean; one that reduces it leaves the average as it
was (flat: 0); one that goes through flat opens the other side at its own price. So a position
of +130 bought at 10 and 12 and then sold down to +65 still averages 11. P&L is Kite's: what
was sold less what was bought, plus the net units at the last price.

Not thread-safe: the paper exchange and the fake Kite server call it under their own lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..brokers.base import BrokerPosition


@dataclass
class NetPosition:
    """One instrument in one product."""

    tradingsymbol: str
    exchange: str
    product: str
    quantity: int = 0  # net units: + long, - short
    average_price: float = 0.0  # of the net units held; 0.0 when flat
    bought: int = 0
    sold: int = 0
    buy_value: float = 0.0
    sell_value: float = 0.0

    def fill(self, sign: int, quantity: int, price: float) -> None:
        """``quantity`` units bought (``sign`` +1) or sold (-1) at ``price``."""
        if quantity <= 0:
            raise ValueError(f"a fill of {quantity} units")
        if sign > 0:
            self.bought += quantity
            self.buy_value += quantity * price
        else:
            self.sold += quantity
            self.sell_value += quantity * price
        held = abs(self.quantity)
        after = self.quantity + sign * quantity
        if self.quantity == 0 or (self.quantity > 0) == (sign > 0):  # opens or adds
            self.average_price = (held * self.average_price + quantity * price) / abs(after)
        elif after == 0:
            self.average_price = 0.0
        elif (after > 0) != (self.quantity > 0):  # through flat: the rest opens at this price
            self.average_price = price
        self.quantity = after

    def pnl(self, last_price: float | None) -> float | None:
        """Sold less bought plus the net units at ``last_price`` (None without a price while
        something is held)."""
        if self.quantity and last_price is None:
            return None
        return self.sell_value - self.buy_value + self.quantity * (last_price or 0.0)


class PositionLedger:
    """Every position an account traded, by ``(exchange, tradingsymbol, product)``."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str, str], NetPosition] = {}

    def fill(self, tradingsymbol: str, exchange: str, product: str, sign: int, quantity: int,
             price: float) -> None:
        key = (exchange, tradingsymbol, product)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = NetPosition(tradingsymbol, exchange, product)
        position.fill(sign, quantity, price)

    def held(self) -> list[NetPosition]:
        """Every position traded, flat ones included, in the order first traded."""
        return list(self._positions.values())

    def report(self, last_price: Callable[[NetPosition], float | None],
               ) -> list[BrokerPosition]:
        """The positions as a broker reports them, each with ``last_price(position)``."""
        out = []
        for p in self._positions.values():
            last = last_price(p)
            pnl = p.pnl(last)
            out.append(BrokerPosition(
                tradingsymbol=p.tradingsymbol, exchange=p.exchange, product=p.product,
                quantity=p.quantity, average_price=round(p.average_price, 4),
                last_price=last, pnl=round(pnl, 2) if pnl is not None else None))
        return out
