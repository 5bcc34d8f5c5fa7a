"""EventFactory: the one place where engine state becomes an :class:`~.events.Event`.

The engine, the order tracker and the placement code all describe what happened through these,
so every event of a parent carries the same context fields, filled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..brokers.errors import ErrorClass
from ..clock import Clock
from ..events import ErrorBucket, Event, EventKind, Status
from ..request import Side
from ..router import RouteDecision
from ..timeutil import epoch_to_iso
from .state import ChildState, ParentState


@dataclass(frozen=True)
class EventFactory:
    clock: Clock
    mode: str
    route: str

    def parent_event(self, parent: ParentState, event: EventKind, **extra: Any) -> Event:
        """A parent event; ``extra`` sets further fields (a misspelt field raises
        ``TypeError``)."""
        now = self.clock.now()
        req = parent.request
        fields: dict[str, Any] = dict(
            timestamp=epoch_to_iso(now), ts=now, event=event, mode=self.mode,
            parent_id=parent.parent_id, tradingsymbol=req.tradingsymbol, exchange=req.exchange,
            side=req.side, order_type=req.order_type, execution_algo=req.execution_algo,
            execution_urgency=req.execution_urgency, children=parent.child_numbers,
            arrival_price=parent.arrival_price, parent_quantity=req.quantity,
            parent_filled_quantity=parent.filled, status=Status(parent.status),
            route=self.route,
        )
        if parent.basket is not None:
            fields.update(basket_id=parent.basket.gate.basket_id, leg_role=parent.basket.role)
        fields.update(extra)
        return Event(**fields)

    def basket_event(self, basket_id: str, event: EventKind, status: Status, *,
                     quantity: int, filled: int, message: str, **extra: Any) -> Event:
        """A basket's own row: its units in all and filled, and what happened in words."""
        now = self.clock.now()
        return Event(timestamp=epoch_to_iso(now), ts=now, event=event, mode=self.mode,
                     route=self.route, basket_id=basket_id, status=status,
                     parent_quantity=quantity, parent_filled_quantity=filled,
                     message=message, **extra)

    def child_event(self, parent: ParentState, child: ChildState, event: EventKind,
                  status: Status, **extra: Any) -> Event:
        """A child event: the parent's context, the child's order and estimates."""
        decision = child.decision
        fields: dict[str, Any] = dict(
            child_id=f"{parent.parent_id}-{child.index + 1}", child_index=child.index + 1,
            quantity=child.quantity, tag=child.tag, order_id=child.order_id,
            attempt=child.attempt, send_at=child.send_at, mid_at_send=child.mid_at_send,
            limit_price=decision.limit_price if decision else None,
            queue_priority=decision.queue_priority if decision else None,
            route=decision.route if decision else self.route,
            expected_slippage=child.expected_slippage, impact_estimate=child.impact_estimate,
            prior_impact=child.prior_impact, participation=child.participation,
            horizon_s=child.horizon_s, book_walk=child.book_walk,
            day_volume=child.day_volume, session_s=child.session_s,
            underlying_price=child.underlying_at_send,
            expected_cost_bps=child.expected_cost_bps, latency_ms=child.latency_ms,
            quote_source=child.quote_source, quote_age_ms=child.quote_age_ms,
            touch_at_send=far_touch(parent.request.side, decision),
            priced_at=child.priced_at, status=status,
        )
        fields.update(extra)
        return self.parent_event(parent, event, **fields)

    def markout_event(self, parent: ParentState, child: ChildState, *, units: int,
                      price: float, horizon: float, mid: float | None, bps: float | None,
                      message: str | None) -> Event:
        """A fill's markout: the fill (its units and price), the mid ``horizon`` seconds
        later, and whose fill it was (parent, child i of n and its quantity, order,
        instrument, side, queue) and the price it was sent at against the far touch then (so
        the fill is told taking or resting from its own row), not the parent's order and the
        child's estimate and quote again: the fill's own row has them (since version 8)."""
        now = self.clock.now()
        decision = child.decision
        basket = parent.basket
        return Event(
            timestamp=epoch_to_iso(now), ts=now, event=EventKind.MARKOUT, mode=self.mode,
            parent_id=parent.parent_id, tradingsymbol=parent.request.tradingsymbol,
            side=parent.request.side, route=decision.route if decision else self.route,
            basket_id=basket.gate.basket_id if basket is not None else None,
            leg_role=basket.role if basket is not None else None,
            child_id=f"{parent.parent_id}-{child.index + 1}", child_index=child.index + 1,
            children=parent.child_numbers, quantity=child.quantity,
            tag=child.tag, order_id=child.order_id, attempt=child.attempt,
            queue_priority=decision.queue_priority if decision else None, status=Status.FILLED,
            limit_price=decision.limit_price if decision else None,
            touch_at_send=far_touch(parent.request.side, decision), filled_quantity=units,
            fill_price=price, markout_s=horizon, markout_mid=mid, markout_bps=bps,
            message=message)

    def error_event(self, parent: ParentState, child: ChildState, event: EventKind,
                  status: Status, error: ErrorClass, exc: BaseException,
                  message: str | None) -> Event:
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        return self.child_event(parent, child, event, status, error_bucket=error.bucket,
                              error=f"{type(exc).__name__}: {text}", ambiguous=error.ambiguous,
                              message=message or error.reason)

    def session_event(self, message: str, order_ids: list[str]) -> Event:
        """The account-level "re-login needed" event (no parent)."""
        now = self.clock.now()
        return Event(timestamp=epoch_to_iso(now), ts=now, event=EventKind.SESSION,
                     mode=self.mode, route=self.route, status=Status.RELOGIN_NEEDED,
                     error_bucket=ErrorBucket.FATAL, error=message,
                     order_id=",".join(order_ids) or None,
                     message=("Orders that may still be live: " + ", ".join(order_ids))
                     if order_ids else "No order was working.")


def slippage(parent: ParentState, price: float) -> float | None:
    """Signed cost per unit against the arrival price (positive is a cost)."""
    if parent.arrival_price is None or not price:
        return None
    return parent.request.side.sign * (price - parent.arrival_price)


def slippage_bps(parent: ParentState, price: float) -> float | None:
    slip = slippage(parent, price)
    if slip is None or not parent.arrival_price:
        return None
    return slip / parent.arrival_price * 1e4


def far_touch(side: Side, decision: RouteDecision | None) -> float | None:
    """The touch a child's price is measured against: the ask for a BUY, the bid for a SELL."""
    if decision is None:
        return None
    return decision.ask if side == Side.BUY else decision.bid


__all__ = ["EventFactory", "far_touch", "slippage", "slippage_bps"]

