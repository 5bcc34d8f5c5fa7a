"""A broker wrapper that records the thread of every call it takes, and may make each call slow.

``ThreadRecordingBroker(PaperBroker(...), delay_s=0.1)`` is the wrapped broker to the engine:
every method of the :class:`~imperium_exec.brokers.base.Broker` protocol and every service its
capabilities declare (``lists``, ``quotes``, ``basket_margin``, ...) goes through the wrapper,
which notes the member's name and the calling thread, then sleeps ``delay_s`` (a broker whose
every call is that slow), then calls the wrapped broker. Tests use it to show which threads talk
to the broker (the desk's GUI thread must not); the GUI-call benchmark uses its delay.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..brokers.base import (
    Broker,
    BrokerCapabilities,
    BrokerOrder,
    OrderInstruction,
    Quote,
)

F = TypeVar("F", bound=Callable[..., Any])

#: The capabilities' services (callables) the wrapper records.
SERVICES = ("quotes", "open_stream", "lists", "instrument_dump", "basket_margin", "positions",
            "modify_order", "relogin")


@dataclass(frozen=True, slots=True)
class BrokerCall:
    """One call the broker took: the member called and the thread it ran on."""

    member: str
    thread_id: int
    thread_name: str


class ThreadRecordingBroker:
    """``inner`` behind a wrapper that records every call's thread (thread-safe)."""

    def __init__(self, inner: Broker, *, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.delay_s = delay_s
        self._calls: list[BrokerCall] = []
        self._lock = threading.Lock()
        offers = inner.capabilities
        wrapped = {name: self._recorded(name, getattr(offers, name)) for name in SERVICES
                   if getattr(offers, name) is not None}
        self.capabilities: BrokerCapabilities = dataclasses.replace(offers, **wrapped)

    # ---------------------------------------------------------------- what was called

    def calls(self) -> list[BrokerCall]:
        """Every call so far, in the order they started."""
        with self._lock:
            return list(self._calls)

    def calls_on(self, thread: threading.Thread) -> list[str]:
        """The members called on ``thread`` so far, in order."""
        ident = thread.ident
        return [c.member for c in self.calls() if c.thread_id == ident]

    def forget(self) -> None:
        with self._lock:
            self._calls.clear()

    # ---------------------------------------------------------------- Broker protocol

    def place_order(self, order: OrderInstruction) -> str:
        self._note("place_order")
        return self.inner.place_order(order)

    def cancel_order(self, order_id: str) -> None:
        self._note("cancel_order")
        self.inner.cancel_order(order_id)

    def orders(self) -> list[BrokerOrder]:
        self._note("orders")
        return self.inner.orders()

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        self._note("quote")
        return self.inner.quote(tradingsymbol, exchange)

    def session_seconds(self, epoch: float) -> float:
        self._note("session_seconds")
        return self.inner.session_seconds(epoch)

    # ---------------------------------------------------------------- internals

    def _note(self, member: str) -> None:
        thread = threading.current_thread()
        with self._lock:
            self._calls.append(BrokerCall(member, thread.ident or 0, thread.name))
        if self.delay_s > 0:
            time.sleep(self.delay_s)

    def _recorded(self, member: str, service: F) -> F:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._note(member)
            return service(*args, **kwargs)

        return call  # type: ignore[return-value]
