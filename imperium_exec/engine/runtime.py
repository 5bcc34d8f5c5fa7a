"""The engine's thread, its asyncio loop, and the services that run on it beside the parents.

:class:`EngineThread` owns the loop and the thread running it: other threads hand it work with
``call_soon`` and, at shutdown, :meth:`EngineThread.wind_down` runs the shutdown's steps on the
loop, each within its time, before stopping the loop. :class:`EngineServices` are the
long-running services: the broker's push stream (when it has one), the market data service and
the order tracker, started once the loop runs and stopped (idempotently) when the session is
lost or the engine shuts down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ..brokers.base import Broker, BrokerStream, Quote, StreamHandlers
from ..clock import Clock
from ..events import QuoteSource
from .gateway import BrokerGateway
from .market_data import MarketDataService
from .order_tracker import OrderTracker

log = logging.getLogger(__name__)

Step = Callable[[], Coroutine[Any, Any, None]]


class EngineThread:
    """A daemon thread running the engine's event loop until :meth:`wind_down`."""

    def __init__(self, clock: Clock) -> None:
        self.loop = clock.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="imperium-exec-engine",
                                        daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def wind_down(self, *, drain: Step, force_finish: Step, stop_services: Step,
                  timeout: float) -> None:
        """From another thread: ``drain`` (up to ``timeout``); when it runs out of time,
        ``force_finish`` (up to 10 s more); then ``stop_services`` (up to 5 s); then stop the
        loop and join the thread."""
        drained = asyncio.run_coroutine_threadsafe(drain(), self.loop)
        try:
            drained.result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("engine shutdown: parents still working after %.1f s", timeout)
            drained.cancel()
            forced = asyncio.run_coroutine_threadsafe(force_finish(), self.loop)
            try:
                forced.result(10.0)
            except (concurrent.futures.TimeoutError, RuntimeError):
                log.error("engine shutdown: could not end every parent")
        stopped = asyncio.run_coroutine_threadsafe(stop_services(), self.loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            stopped.result(5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


class EngineServices:
    """The broker's stream, the market data service and the order tracker, on the loop."""

    def __init__(self, *, broker: Broker, gateway: BrokerGateway,
                 market_data: MarketDataService, orders: OrderTracker) -> None:
        self.broker = broker
        self.gateway = gateway
        self.market_data = market_data
        self.orders = orders
        self.stream: BrokerStream | None = None

    def start(self) -> None:
        """On the loop: open the broker's stream (quotes and order updates) when it has one,
        then start the market data service and the order tracker."""
        opener = self.broker.capabilities.open_stream
        if opener is not None:
            handlers = StreamHandlers(on_quote=self._on_stream_quote,
                                      on_order=self.orders.on_update,
                                      on_state=self._on_stream_state,
                                      on_session_lost=self.gateway.lose_session)
            self.stream = opener(handlers, self.gateway)
            if self.stream is not None:
                self.market_data.stream = self.stream
                self.stream.start()
                # (again after a new login: what was subscribed rides the new stream too)
                wanted = self.market_data.subscribed()
                if wanted:
                    self.stream.subscribe(sorted(wanted))
        self.market_data.start()
        self.orders.start()

    async def stop(self) -> None:
        """Idempotent: a lost session stops them early, shutdown again."""
        if self.stream is not None:
            await self.stream.stop()
        await self.market_data.stop()
        await self.orders.stop()

    def _on_stream_quote(self, key: str, quote: Quote) -> None:
        self.market_data.on_quote(key, quote, QuoteSource.STREAM)

    def _on_stream_state(self, connected: bool) -> None:
        self.market_data.on_stream_state(connected)
        self.orders.on_stream_state(connected)
