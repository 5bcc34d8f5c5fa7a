"""KiteStream: Kite's ticker WebSocket as the engine's stream of quotes and order updates.

It wraps :class:`~imperium_exec.brokers.kite.ticker.KiteTickerClient` (our asyncio client: no
Twisted reactor in a Qt host) on the engine's loop, and speaks the engine's language:

- instruments by Kite key (``"NFO:NIFTY26D0125000CE"``), mapped to instrument tokens through
  the instruments dump, loaded once per exchange, as a budgeted read;
- full-mode ticks become :class:`~imperium_exec.brokers.base.Quote` (touch from the first depth
  level, session volume), pushed to ``handlers.on_quote``;
- order postbacks (``{"type": "order"}`` text frames) become
  :class:`~imperium_exec.brokers.base.BrokerOrder`, pushed to ``handlers.on_order``;
- connection state goes to ``handlers.on_state`` (the engine reads the order book after each
  reconnect, since Kite does not replay updates), and a refused token to
  ``handlers.on_session_lost``.

The client detects a silent socket (no frame, not even a heartbeat, for ``silence_s``),
reconnects with backoff and subscribes again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from ...clock import Clock
from ...engine.gateway import BrokerGateway
from ...engine.rate_budget import RequestKind
from ...events import QuoteSource
from ..base import BrokerOrder, Quote, StreamHandlers
from .codec import Tick
from .ticker import KiteTickerClient


class KiteSession(Protocol):
    """What the stream needs of the Kite adapter (:class:`~.broker.KiteBroker`): the client's
    credentials, the instrument dump and the order parser."""

    @property
    def kite(self) -> Any:
        """The ``kiteconnect.KiteConnect`` client (its ``api_key`` and ``access_token``)."""
        ...

    def instrument_dump(self, exchange: str) -> list[dict[str, Any]]: ...

    def to_broker_order(self, raw: dict[str, Any]) -> BrokerOrder: ...

log = logging.getLogger(__name__)


class KiteStream:
    """Quotes and order updates from Kite's ticker, on the engine's loop."""

    source = QuoteSource.STREAM

    def __init__(self, broker: KiteSession, handlers: StreamHandlers, gateway: BrokerGateway,
                 *, url: str, clock: Clock, silence_s: float = 10.0,
                 preload: tuple[str, ...] = ("NFO", "BFO")) -> None:
        self._broker = broker
        self._handlers = handlers
        self._gateway = gateway
        self._clock = clock
        kite = broker.kite
        self.client = KiteTickerClient(
            url, str(getattr(kite, "api_key", "")), str(getattr(kite, "access_token", "")),
            on_ticks=self._on_ticks, on_order_update=self._on_order,
            on_connect=self._on_connect, on_disconnect=self._on_disconnect,
            on_token_error=self._on_token_error, silence_s=silence_s)
        self._tokens: dict[str, int] = {}  # key -> instrument token
        self._keys: dict[int, str] = {}  # token -> key
        self._loaded: dict[str, asyncio.Task[None]] = {}  # exchange -> instruments load
        self._wanted: set[str] = set()
        self._last: dict[str, Quote] = {}  # the last full-mode quote per key
        self._preload = preload
        self._connected_since: float | None = None
        #: Ticks and order updates received, for tests and benchmarks.
        self.ticks = 0
        self.order_updates = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.client.start()
        for exchange in self._preload:  # so the first parent's first quote is a tick
            self._load(exchange)

    async def stop(self) -> None:
        for task in self._loaded.values():
            task.cancel()
        await self.client.stop()

    # ------------------------------------------------------------------ QuoteStream

    def subscribe(self, keys: Iterable[str]) -> None:
        tokens = []
        for key in keys:
            self._wanted.add(key)
            token = self._tokens.get(key)
            if token is not None:
                tokens.append(token)
            else:
                self._load(key.partition(":")[0])
        if tokens:
            self.client.subscribe(tokens)

    def unsubscribe(self, keys: Iterable[str]) -> None:
        tokens = []
        for key in keys:
            self._wanted.discard(key)
            token = self._tokens.get(key)
            if token is not None:
                tokens.append(token)
        if tokens:
            self.client.unsubscribe(tokens)

    def is_live(self, key: str) -> bool:
        token = self._tokens.get(key)
        return self.client.connected and token is not None and token in self.client.subscribed

    def alive_at(self) -> float | None:
        """Clock time of the last frame while connected (heartbeats count)."""
        last = self.client.last_frame_at
        if not self.client.connected or last is None:
            return None
        loop_now = asyncio.get_running_loop().time()
        return self._clock.now() - max(0.0, loop_now - last)

    def connected_since(self) -> float | None:
        return self._connected_since

    def request(self, keys: Iterable[str]) -> None:
        """Ticks arrive when the book changes; there is nothing to ask for."""

    # ------------------------------------------------------------------ instruments

    def _load(self, exchange: str) -> None:
        if exchange in self._loaded:
            return
        self._loaded[exchange] = asyncio.get_running_loop().create_task(
            self._load_exchange(exchange), name=f"kite-instruments-{exchange}")

    async def _load_exchange(self, exchange: str) -> None:
        try:
            rows: list[dict[str, Any]] = await self._gateway.call(
                RequestKind.DESK_READ, self._broker.instrument_dump, exchange)
        except Exception as exc:  # REST covers these instruments; try again on next subscribe
            log.warning("instruments of %s could not be loaded: %r", exchange, exc)
            del self._loaded[exchange]
            return
        for row in rows:
            key = f"{exchange}:{row.get('tradingsymbol')}"
            token = int(row.get("instrument_token") or 0)
            if token:
                self._tokens[key] = token
                self._keys[token] = key
        tokens = [self._tokens[k] for k in self._wanted if k in self._tokens
                  and k.startswith(f"{exchange}:")]
        if tokens:
            self.client.subscribe(tokens)

    # ------------------------------------------------------------------ client callbacks

    def _on_ticks(self, ticks: list[Tick]) -> None:
        now = self._clock.now()
        for tick in ticks:
            key = self._keys.get(tick.instrument_token)
            if key is None:
                continue
            self.ticks += 1
            ltp = tick.last_price if tick.last_price > 0 else None
            stamp = tick.exchange_timestamp or now
            if tick.mode == "full":
                quote = Quote(tradingsymbol=key.partition(":")[2], timestamp=stamp,
                              bid=tick.bid, ask=tick.ask, ltp=ltp, volume=tick.volume or 0,
                              bid_quantity=tick.bid_quantity, ask_quantity=tick.ask_quantity)
            else:
                # An ltp/quote-mode tick (Kite sends one on subscribe, before the mode switch)
                # has no depth: it refreshes the last full quote's trade fields, never makes a
                # one-sided book out of nothing.
                last = self._last.get(key)
                if last is None:
                    continue
                quote = dataclasses.replace(last, timestamp=stamp, ltp=ltp or last.ltp,
                                            volume=tick.volume or last.volume)
            self._last[key] = quote
            self._handlers.on_quote(key, quote)

    def _on_order(self, raw: dict[str, Any]) -> None:
        try:
            order = self._broker.to_broker_order(raw)
        except (KeyError, TypeError, ValueError):
            log.warning("skipping an order update we cannot read: %r", raw)
            return
        self.order_updates += 1
        self._handlers.on_order(order)

    def _on_connect(self) -> None:
        self._connected_since = self._clock.now()
        self._handlers.on_state(True)

    def _on_disconnect(self, reason: str) -> None:
        self._connected_since = None
        log.info("Kite ticker disconnected: %s", reason)
        self._handlers.on_state(False)

    def _on_token_error(self, reason: str) -> None:
        self._handlers.on_session_lost(f"re-login needed: the ticker refused the access token "
                                       f"({reason})")


__all__ = ["KiteStream"]
