"""The broker session from the engine's side: what happens when it is lost, and when the trader
logs in again.

Kite's access token expires (at 6 AM, or when the account logs in elsewhere); the first token
error the gateway sees (:class:`~.gateway.BrokerGateway`, which tells once) ends the session:
nothing more goes out, the desk is told (a ``session`` row naming every order that may still be
live), every parent is halted with its orders as they were (a basket's legs end: their rows say
which orders may still be live), and the stream and the order tracker stop. A halted parent
waits for :meth:`SessionKeeper.resume` and then the trader's cancel or adopt; an engine shut
down before that ends it failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..events import HALTED_PREFIX, Event, EventKind, ParentStatus
from ..recovery.report import RecoveryReport
from .event_factory import EventFactory
from .gateway import BrokerGateway
from .order_tracker import OrderTracker
from .recovering import OrphanKeeper
from .runtime import EngineServices
from .state import ParentState


class SessionKeeper:
    """Loses and resumes the broker session for the engine's parents. Loop thread."""

    def __init__(self, *, gateway: BrokerGateway, services: EngineServices,
                 orders: OrderTracker, orphans: OrphanKeeper, events: EventFactory,
                 emit: Callable[[Event], None], parents: dict[str, ParentState],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.gateway = gateway
        self.services = services
        self.orders = orders
        self.orphans = orphans
        self.events = events
        self._emit = emit
        self._parents = parents
        self._loop = loop
        self._services_stopping: asyncio.Task[None] | None = None

    def lost(self, reason: str) -> None:
        """The first token error: nothing more goes out; tell the desk; halt every parent."""
        live = self.orders.working_order_ids()
        live += [f"tag {c.tag}" for p in self._parents.values() for c in p.children
                 if c.in_flight and c.tag is not None]
        live += [f"tag {tag}" for tag in self.orders.watched_tags()]
        self._emit(self.events.session_event(reason, live))
        for parent in self._parents.values():
            parent.permit.revoke(reason)
            if parent.basket is not None:
                parent.failure = parent.failure or reason
            elif not (parent.recovered or parent.stopping):
                parent.halted = reason
                parent.status = ParentStatus.PAUSED
                self._emit(self.events.parent_event(
                    parent, EventKind.PAUSED,
                    message=f"{HALTED_PREFIX}{reason}; nothing is sent: log in again, then "
                            "cancel or adopt it"))
            parent.notify()
        self._services_stopping = self._loop.create_task(self.services.stop())

    async def resume(self, relogin: Callable[[str], None],
                     access_token: str) -> RecoveryReport:
        """Log in with ``access_token`` (in a worker thread), start the stream and the order
        tracker again and reconcile the halted parents by tag (what filled meanwhile is written
        once): the report of what is held. Nothing is sent until the trader cancels or adopts
        them."""
        await asyncio.get_running_loop().run_in_executor(None, relogin, access_token)
        if self._services_stopping is not None:
            await self._services_stopping
            self._services_stopping = None
        if self.gateway.session_lost is not None:
            self.gateway.restore_session()
            self.services.start()
        return await self.orphans.reconcile()


__all__ = ["SessionKeeper"]
