"""How a parent ends: every child's terminal row, the parent's finished row, and its result.

Every child ends in a terminal row: a child never sent is cancelled ("not sent: why"), unless
an attempt of it may have reached the broker (its outcome unknown: the attempt's tag stays
watched); a child still working is unknown (its cancel was not confirmed, or the session was
lost) and its order stays followed. The parent's status is failed, filled, cancelled or
partial, in that order; its finished row says what may still be live at the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..costs.shortfall import Fill, implementation_shortfall
from ..events import ChildStatus, ErrorBucket, EventKind, ParentStatus, Status
from ..events.liquidity import Liquidity, fill_liquidity
from ..request import Side
from ..telemetry import FillQualityTracker
from .event_factory import EventFactory, far_touch, slippage, slippage_bps
from .gateway import BrokerGateway
from .order_tracker import OrderTracker
from .placement import Emit
from .state import ChildResult, ChildState, ExecutionResult, ParentState

log = logging.getLogger(__name__)


class ParentFinisher:
    """Writes a parent's final rows and builds the result its caller's handle resolves to."""

    def __init__(self, *, events: EventFactory, emit: Emit, orders: OrderTracker,
                 gateway: BrokerGateway, tracker: FillQualityTracker | None,
                 cancel_timeout_s: float,
                 end_mid: Callable[[ParentState], float | None] = lambda parent: None,
                 ) -> None:
        self.end_mid = end_mid  # the parent's mid now (for the shortfall's opportunity)
        self.events = events
        self._emit = emit
        self.orders = orders
        self.gateway = gateway
        self.tracker = tracker
        self.cancel_timeout_s = cancel_timeout_s

    def finish(self, parent: ParentState, *, shutting_down: bool) -> ExecutionResult:
        """End ``parent``: its status, every child's terminal row, the finished row (synced to
        the journal), and the result. ``shutting_down``: the engine is stopping, so nothing
        will watch a late order after this."""
        req = parent.request
        if parent.failure is not None:
            parent.status = ParentStatus.FAILED
        elif parent.filled >= req.quantity:
            parent.status = ParentStatus.FILLED
        elif parent.cancel_requested:
            parent.status = ParentStatus.CANCELLED
        else:
            parent.status = ParentStatus.PARTIAL
        for child in parent.children:
            self._finish_child(parent, child, shutting_down=shutting_down)
        unfilled = req.quantity - parent.filled
        message = parent.failure or parent.note
        unknown = [c.order_id or f"tag {c.tag}" for c in parent.children
                   if c.status is ChildStatus.UNKNOWN]
        if unknown:
            message = (f"{message}; " if message else "") + \
                f"may still be live at the broker: {', '.join(unknown)}"
        if unfilled < 0:
            message = f"overfilled by {-unfilled} (late order from a timed-out attempt)"
        self._emit(self.events.parent_event(
            parent, EventKind.FINISHED, quantity=req.quantity, filled_quantity=parent.filled,
            average_price=parent.average_price or None, message=message,
            error_bucket=parent.failure_bucket,
            underlying_price=parent.underlying_price,
            realized_slippage=slippage(parent, parent.average_price),
            realized_slippage_bps=slippage_bps(parent, parent.average_price),
            **self._shortfall(parent)))
        if self.tracker is not None:
            try:
                self.tracker.sync()
            except OSError:
                log.exception("telemetry sync failed")
        return ExecutionResult(
            parent_id=parent.parent_id, status=parent.status, quantity=req.quantity,
            filled_quantity=parent.filled, unfilled_quantity=max(0, unfilled),
            average_price=parent.average_price,
            order_ids=tuple(c.order_id for c in parent.children if c.order_id),
            children=tuple(ChildResult(c.index + 1, c.quantity, c.filled, c.average_price,
                                       str(c.status), c.order_id, c.attempt, c.tag)
                           for c in parent.children),
            message=message)

    def _shortfall(self, parent: ParentState) -> dict[str, float | None]:
        """The finished row's shortfall fields (none without an arrival price)."""
        req = parent.request
        try:
            end = self.end_mid(parent)
        except Exception:  # the end mid is a nicety: never let it stop a finish
            log.exception("no end mid for parent %s", parent.parent_id)
            end = None
        sf = implementation_shortfall(
            side=req.side, ordered=req.quantity, decision_price=req.mid,
            arrival_price=parent.arrival_price, end_price=end,
            fills=[Fill(c.filled, c.average_price, c.mid_at_send, _rested(req.side, c))
                   for c in parent.children if c.filled], fees=parent.fees)
        if sf is None:
            return {"fees": parent.fees or None}
        return {"fees": sf.fees, "decision_price": sf.decision_price, "end_price": end,
                "is_delay": sf.delay, "is_spread": sf.spread, "is_drift": sf.drift,
                "is_opportunity": sf.opportunity}

    def _finish_child(self, parent: ParentState, child: ChildState, *,
                      shutting_down: bool) -> None:
        """Every child ends with one terminal row; nothing unknown is written as "not sent"."""
        if child.status is ChildStatus.SCHEDULED:
            if child.in_flight or self.orders.is_watched(child):
                child.status = ChildStatus.UNKNOWN
                if child.in_flight and child.tag is not None:
                    self.orders.watch_late(parent, child, child.tag)
                watched = (f"not re-sent; tag {child.tag} is watched and any order it placed "
                           "is cancelled or reported") if not shutting_down else (
                    f"not re-sent; the engine is shutting down: look for tag {child.tag} in "
                    "the broker's order book")
                self._emit(self.events.child_event(
                    parent, child, EventKind.ERROR, Status.UNKNOWN,
                    error_bucket=ErrorBucket.TRANSIENT,
                    error=f"outcome unknown: attempt {child.tag} may have reached the broker",
                    message=watched))
                return
            child.status = ChildStatus.CANCELLED
            why = parent.permit.reason or parent.failure or "parent ended"
            self._emit(self.events.child_event(parent, child, EventKind.CANCELLED,
                                               Status.CANCELLED, message=f"not sent: {why}"))
        elif child.status is ChildStatus.WORKING:
            child.status = ChildStatus.UNKNOWN
            if self.gateway.session_lost is not None:
                error = f"session lost while order {child.order_id} was working"
            else:
                error = (f"cancel of order {child.order_id} not confirmed within "
                         f"{self.cancel_timeout_s:g} s")
            self._emit(self.events.child_event(
                parent, child, EventKind.ERROR, Status.UNKNOWN,
                error_bucket=ErrorBucket.TRANSIENT, error=error, filled_quantity=child.filled,
                message="the order may still be live: check the broker's order book"))
            if self.gateway.session_lost is None and child.tag is not None:
                self.orders.follow_after_finish(parent, child)

def _rested(side: Side, child: ChildState) -> bool:
    """Whether the child's fills rested (:func:`imperium_exec.events.liquidity.fill_liquidity`:
    its price short of the far touch when it was sent)."""
    d = child.decision
    if d is None:
        return False
    return fill_liquidity(side, d.limit_price, far_touch(side, d), child.mid_at_send,
                          d.queue_priority) is Liquidity.RESTING

