"""BrokerGateway: the one door between the engine and the broker.

Every broker request goes through :meth:`BrokerGateway.call`: it waits on the engine's loop for
a slot of the account's :class:`~.rate_budget.RateBudget` (by priority), then runs
the blocking client call in a worker thread that is free by construction (the pool is as large
as the budget's ``max_in_flight``). So waiting for budget never holds a thread, and a request is
counted against the limits when it is really sent.

Two brakes act right before a placement's (or a modification's) HTTP call, in the worker thread
itself:

- the parent's :class:`SendPermit`, revoked synchronously by ``cancel``/``cancel_all`` on the
  caller's thread, so no order leaves after the kill switch returns (beyond one already on
  the wire);
- the gateway's halt: shutdown stops placements; a lost session (the first ``TokenException``)
  stops everything, and tells the engine once.

A placement stopped by a brake raises :class:`NotSent` and gets its budget slot back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from ..brokers.errors import BrokerErrors, ErrorClass
from ..retry import DEFAULT_BROKER_ERRORS
from .rate_budget import Lane, RateBudget, RequestKind, Slot

T = TypeVar("T")


class NotSent(Exception):
    """The request was stopped before it left this machine (nothing reached the broker)."""


class SessionLost(NotSent):
    """The broker session is gone (token expired or revoked): re-login needed."""


class SendPermit:
    """Whether one parent may still place orders. Revoked from any thread, read in the worker
    thread right before the HTTP call (a plain attribute: reads and writes are atomic)."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None

    def revoke(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    @property
    def revoked(self) -> bool:
        return self.reason is not None


class BrokerGateway:
    """Budgeted, brake-checked broker calls for one account. Use on the engine's loop."""

    def __init__(self, budget: RateBudget, *,
                 on_session_lost: Callable[[str], None] | None = None,
                 errors: BrokerErrors = DEFAULT_BROKER_ERRORS) -> None:
        self.budget = budget
        #: The broker's dialect: which failures are a throttle, which a lost session.
        self.errors = errors
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=budget.max_in_flight, thread_name_prefix="imperium-broker")
        self._on_session_lost = on_session_lost
        self._placements_halted: str | None = None  # shutdown
        self.session_lost: str | None = None  # token error: nothing goes out any more
        #: Requests that reached the broker and came back 429 anyway, per lane.
        self.throttled: dict[Lane, int] = dict.fromkeys(Lane, 0)

    # ------------------------------------------------------------------ brakes (any thread)

    def halt_placements(self, reason: str) -> None:
        """No new order from now on (cancels and reads still go): shutdown."""
        self._placements_halted = self._placements_halted or reason

    def _check(self, kind: RequestKind, permit: SendPermit | None) -> None:
        if self.session_lost is not None:
            raise SessionLost(f"not sent: {self.session_lost}")
        if kind in (RequestKind.PLACE, RequestKind.MODIFY):  # a re-price is a new price too
            if self._placements_halted is not None:
                raise NotSent(f"not sent: {self._placements_halted}")
            if permit is not None and permit.reason is not None:
                raise NotSent(f"not sent: {permit.reason}")

    # ------------------------------------------------------------------ calls (loop thread)

    async def call(self, kind: RequestKind, func: Callable[..., T], *args: Any,
                   permit: SendPermit | None = None, seq: int | None = None) -> T:
        """Wait for a slot of ``kind``, then run ``func(*args)`` in a worker thread."""
        self._check(kind, permit)
        async with self.budget.slot(kind, seq=seq) as slot:
            return await self.run(slot, func, *args, permit=permit)

    async def run(self, slot: Slot, func: Callable[..., T], *args: Any,
                  permit: SendPermit | None = None) -> T:
        """Run ``func(*args)`` in a worker thread under a slot already granted."""
        loop = asyncio.get_running_loop()
        request = loop.run_in_executor(self._pool, self._guarded, slot.kind, permit, func, args)
        try:
            return await asyncio.shield(request)
        except asyncio.CancelledError:
            slot.held_by = request  # it still runs: the slot is freed when it really ends
            raise
        except NotSent:
            slot.refund()
            raise
        except Exception as exc:
            if self.errors.is_throttle(exc):
                self.throttled[slot.kind.lane] += 1
                self.budget.note_throttled(slot.kind.lane)
            elif self.errors.is_session_expired(exc):
                self.lose_session(f"re-login needed: {exc}")
            elif _may_arrive_late(slot, self.errors.classify(exc), exc):
                slot.unanswered()
            raise

    def _guarded(self, kind: RequestKind, permit: SendPermit | None,
                 func: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._check(kind, permit)  # the last moment before the request goes out
        return func(*args)

    def lose_session(self, reason: str) -> None:
        """Stop every request from now on and tell the engine, once."""
        if self.session_lost is not None:  # always called on the loop: no race
            return
        self.session_lost = reason
        if self._on_session_lost is not None:
            self._on_session_lost(reason)

    def restore_session(self) -> None:
        """The trader logged in again: requests go out again (loop thread)."""
        self.session_lost = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["BrokerGateway", "NotSent", "SendPermit", "SessionLost"]


def _may_arrive_late(slot: Slot, error: ErrorClass | None, exc: BaseException) -> bool:
    """Whether a request that failed may still reach the broker after this machine gave up on
    it: an order write whose outcome is unknown, or a read that timed out (a read that could
    not connect is retried at its lane's pace, as before)."""
    if error is None or not error.ambiguous:
        return False
    if slot.kind.lane is Lane.WRITE:
        return True
    return any("Timeout" in cls.__name__ for cls in type(exc).__mro__)
