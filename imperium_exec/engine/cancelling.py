"""Cancelling a parent's working children, and waiting until the broker confirms.

Cancels go first in the account's write queue. The stream confirms within milliseconds; without
one, or when its update is slow to come, the shared order-book read does. A cancel that fails
is sent again on the next pass; a cancel refused because the order already ended counts as
sent (the next update or read ends the child). A child whose cancel is still unconfirmed after
``cancel_timeout_s`` is not waited on again: its order stays followed after the parent
finishes, and the parent's finished row says it may still be live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from ..brokers.base import Broker
from ..clock import Clock
from ..events import ChildStatus
from .gateway import BrokerGateway, NotSent
from .order_tracker import OrderTracker
from .rate_budget import RequestKind
from .state import ChildState, ParentState

log = logging.getLogger(__name__)


class ChildCanceller:
    """Cancels working children through the gateway and waits for their confirmation."""

    def __init__(self, *, broker: Broker, gateway: BrokerGateway, orders: OrderTracker,
                 clock: Clock, cancel_timeout_s: float, poll_interval_s: float) -> None:
        self.broker = broker
        self.gateway = gateway
        self.orders = orders
        self.clock = clock
        self.cancel_timeout_s = cancel_timeout_s
        self.poll_interval_s = poll_interval_s

    async def cancel_working(self, parent: ParentState,
                             children: Iterable[ChildState] | None = None) -> None:
        """Cancel every working child of ``parent`` (only those of ``children`` when given;
        cancels go first in the write queue) and wait until the stream or the shared order
        book confirms.

        A cancel that fails is sent again on the next pass; a child whose cancel is still
        unconfirmed after ``cancel_timeout_s`` is not waited on again (its order stays
        followed after the parent finishes, and the finished row says it may still be live)."""
        started = self.clock.now()
        deadline = started + self.cancel_timeout_s
        among = parent.children if children is None else list(children)
        while True:
            waiting = [c for c in among
                       if c.status is ChildStatus.WORKING and not c.cancel_abandoned]
            if not waiting:
                return
            if self.gateway.session_lost is not None or self.clock.now() >= deadline:
                for child in waiting:
                    child.cancel_abandoned = True
                return
            sends = [self._cancel(c) for c in waiting if not c.cancel_requested]
            if sends:
                # Bounded: cancels go first in the write queue, but a full window still waits.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*sends),
                                           max(0.0, deadline - self.clock.now()))
                if all(c.status is not ChildStatus.WORKING for c in waiting):
                    return  # confirmed while the cancels were on their way
            # The stream confirms within milliseconds; without one, or when its update is
            # slow to come, the shared book read does.
            if not self.orders.stream_up or self.clock.now() - started >= 1.0:
                self.orders.request_refresh()
            await parent.wait_changed(max(0.0, min(self.poll_interval_s,
                                                   deadline - self.clock.now())))

    async def _cancel(self, child: ChildState) -> None:
        assert child.order_id is not None
        try:
            await self.gateway.call(RequestKind.CANCEL, self.broker.cancel_order,
                                    child.order_id)
            child.cancel_requested = True
        except NotSent:
            return
        except Exception as exc:
            # Refused because the order already ended: the next update or read ends the
            # child. Anything else (a throttle, a 5xx, "being processed. Try later.") is sent
            # again on the next pass.
            log.info("cancel of %s failed: %r", child.order_id, exc)
            if self.gateway.errors.cancel_refused_as_ended(exc):
                child.cancel_requested = True
            self.orders.request_refresh()
