"""Order tickets and the chain snapshot they are priced from: plain data, no Qt.

The desk's two order flows both end here: a single-strike :class:`OrderTicket` or a basket of
:class:`BasketLeg` (each with its own side) and one :class:`ExecutionPolicy` become the desk's
Kite-style order payloads (plus the optional ``execution_*`` keys), which
``ExecutionRequest.from_payload`` validates. This is the same payload ImperiumMainWindow builds
in ``_execute_single_strike_order`` and ``_execute_orders``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from ...algos.names import ExecutionAlgo, runs_a_schedule
from ...brokers.base import OptionChain, OptionChainSource, Quote

OptionType = Literal["CE", "PE"]
Side = Literal["BUY", "SELL"]


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How to execute: the v1 ``execution_*`` keys, with the desk's defaults."""

    algo: str = ExecutionAlgo.IMMEDIATE.value
    urgency: str = "normal"
    slices: int = 1  # max_child_orders
    horizon_s: float = 300.0  # scheduled algorithms only
    participation: float = 0.15  # POV target (and the impact hint for every algorithm)
    randomize: bool = True

    @property
    def scheduled(self) -> bool:
        return runs_a_schedule(self.algo)

    def payload_keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = {
            "execution_algo": self.algo,
            "execution_urgency": self.urgency,
            "max_child_orders": self.slices if self.scheduled else 1,
            "participation_rate": self.participation,
            "randomize_slices": self.randomize,
        }
        if self.scheduled:
            keys["execution_horizon_s"] = self.horizon_s
        return keys


@dataclass(frozen=True, slots=True)
class BasketLeg:
    strike: float
    option_type: OptionType
    lots: int
    side: Side = "BUY"  # the basket leg's own side (a single-strike ticket has its own)

    def reversed(self) -> BasketLeg:
        """The leg traded back: its side flipped (the Exit button)."""
        return BasketLeg(self.strike, self.option_type, self.lots,
                         "SELL" if self.side == "BUY" else "BUY")


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """The single-strike quick order."""

    leg: BasketLeg
    side: Side
    policy: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    limit_price: float | None = None  # None: MARKET


@dataclass(frozen=True)
class ChainSnapshot:
    """One moment of the option chain, as the desk prices tickets from it."""

    view: OptionChain
    exchange: str = "NFO"

    @property
    def lot_size(self) -> int:
        return self.view.lot_size

    @property
    def taken_at(self) -> float:
        return self.view.taken_at

    @property
    def strikes(self) -> list[float]:
        return [row.strike for row in self.view.rows]

    def quote(self, strike: float, option_type: OptionType) -> Quote:
        for row in self.view.rows:
            if abs(row.strike - strike) < 1e-6:
                quote: Quote = row.call if option_type == "CE" else row.put
                return quote
        raise ValueError(f"strike: {strike:g} is not in the {self.view.underlying} chain "
                         f"shown ({self.strikes[0]:g}–{self.strikes[-1]:g})")

    def quote_of(self, tradingsymbol: str) -> Quote | None:
        """The chain's quote of ``tradingsymbol``; None when it is not in the chain shown."""
        for row in self.view.rows:
            for quote in (row.call, row.put):
                if quote.tradingsymbol == tradingsymbol:
                    return quote
        return None

    def payload(self, leg: BasketLeg, side: Side, policy: ExecutionPolicy) -> dict[str, Any]:
        """The Kite-style order payload for one leg (MARKET, NRML) with the policy keys."""
        if leg.lots < 1:
            raise ValueError(f"lots: must be at least 1, not {leg.lots}")
        quote = self.quote(leg.strike, leg.option_type)
        payload: dict[str, Any] = {
            "tradingsymbol": quote.tradingsymbol,
            "exchange": self.exchange,
            "transaction_type": side,
            "quantity": leg.lots * self.lot_size,
            "order_type": "MARKET",
            "product": "NRML",
            "variety": "regular",
        }
        payload.update(quote_fields(quote))
        payload.update(policy.payload_keys())
        return payload

    def ticket_payload(self, ticket: OrderTicket) -> dict[str, Any]:
        payload = self.payload(ticket.leg, ticket.side, ticket.policy)
        if ticket.limit_price is not None:
            payload.update(order_type="LIMIT", price=ticket.limit_price)
        return payload

    def basket_payloads(self, legs: list[BasketLeg], policy: ExecutionPolicy, *,
                        reverse: bool = False) -> list[dict[str, Any]]:
        """One payload per leg, each with its own side (flipped with ``reverse``: the Exit
        button); the Buy/Exit panel executes them as one basket with one policy."""
        if not legs:
            raise ValueError("legs: the basket is empty")
        sent = [leg.reversed() for leg in legs] if reverse else legs
        return [self.payload(leg, leg.side, policy) for leg in sent]


def fetch_snapshot(source: OptionChainSource, underlying: str, strikes_each_side: int,
                   expiry: dt.date | None = None) -> ChainSnapshot:
    """Ask the broker for the chain (blocking: call it off the GUI thread)."""
    return ChainSnapshot(source.option_chain(underlying, strikes_each_side=strikes_each_side,
                                             expiry=expiry))


def quote_fields(quote: Quote) -> dict[str, float]:
    """A payload's book context from a quote: its bid, ask and last price, where it has them."""
    return {key: value for key, value in (("bid", quote.bid), ("ask", quote.ask),
                                          ("last_price", quote.ltp))
            if value is not None and value > 0}
