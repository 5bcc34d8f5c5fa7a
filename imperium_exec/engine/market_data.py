"""MarketDataService: the one source of quotes for the engine, the planner and the desk's chain.

Quotes come from a stream when there is one (Kite's ticker WebSocket; the paper exchange, which
pushes its book on request), and otherwise from REST: one ``quote`` call a second at most for
every instrument anyone is waiting for (at most ``rest_batch`` per call), never one call per
instrument. Each quote is kept with its source and the time it arrived, so every child's row can
say where its price came from and how old it was.

Freshness: :meth:`MarketDataService.fresh` returns a quote no older than ``max_age_s`` or waits
for one until its deadline, and then returns ``None``: a caller never prices a child from stale
data. A quiet instrument on a live stream is not stale: Kite sends a tick only when something
changes, so while the socket is up and has spoken within ``max_age_s`` (heartbeats count), the
last tick is still the book.

Subscriptions are reference counted: the engine holds one per working parent's instrument, the
desk one per instrument on its chain (``continuous``: kept refreshed by REST when no stream
carries it). Everything here runs on the engine's loop, except :meth:`snapshot` and the
``*_threadsafe`` methods, which the GUI thread may call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..brokers.base import Broker, Quote, QuoteStream
from ..clock import Clock
from ..events import QuoteSource
from .gateway import BrokerGateway, NotSent
from .rate_budget import RequestKind

log = logging.getLogger(__name__)


def instrument_key(exchange: str, tradingsymbol: str) -> str:
    """Kite's instrument key, ``"NFO:NIFTY26D0125000CE"``."""
    return f"{exchange}:{tradingsymbol}"


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """A quote as the service holds it: where it came from and when it arrived."""

    key: str
    quote: Quote
    source: QuoteSource
    received_at: float  # clock time (epoch seconds)
    #: The service's count of quotes received when this one arrived: orders acknowledged
    #: before it (a lower ``MarketDataService.seq``) may already show in it.
    seq: int = 0


@dataclass(frozen=True, slots=True)
class MarketDataConfig:
    #: The oldest quote a child may be priced from.
    max_age_s: float = 2.0
    #: Instruments per REST quote call (Kite: 500 for /quote).
    rest_batch: int = 500
    #: How often the desk's continuous subscriptions are refreshed by REST without a stream.
    continuous_refresh_s: float = 1.0
    #: Pause after a failed REST quote call before the next one.
    rest_retry_s: float = 1.0
    #: A stream tick older than this is not vouched for by the connection's heartbeats any
    #: more (an instrument's feed can stop while the socket lives): it ages for real.
    stream_tick_trust_s: float = 30.0


class LocalQuoteStream:
    """The book of an in-process exchange (the paper exchange, the in-memory test broker),
    pushed through the same interface as Kite's stream, whenever the service asks."""

    def __init__(self, quote: Callable[[str, str], Quote | None], clock: Clock,
                 source: QuoteSource = QuoteSource.PAPER) -> None:
        self._quote = quote
        self._clock = clock
        self.source = source
        self.sink: Callable[[str, Quote | None], None] | None = None

    def subscribe(self, keys: Iterable[str]) -> None:
        pass

    def unsubscribe(self, keys: Iterable[str]) -> None:
        pass

    def is_live(self, key: str) -> bool:
        return True

    def alive_at(self) -> float | None:
        return self._clock.now()

    def connected_since(self) -> float | None:
        return None

    def request(self, keys: Iterable[str]) -> None:
        if self.sink is None:
            return
        for key in keys:
            exchange, _, symbol = key.partition(":")
            try:
                quote = self._quote(symbol, exchange)
            except Exception as exc:  # not "no data": whoever waits keeps waiting
                log.warning("local quote for %s failed: %r", key, exc)
                continue
            self.sink(key, quote)


def quotes_one_by_one(
    quote: Callable[[str, str], Quote | None],
) -> Callable[[list[str]], dict[str, Quote]]:
    """REST quotes for a broker that has only the protocol's ``quote(symbol, exchange)``: one
    instrument a call, all inside one budget slot. Correct, though not Kite's batched call."""
    def quotes(keys: list[str]) -> dict[str, Quote]:
        out = {}
        for key in keys:
            exchange, _, symbol = key.partition(":")
            held = quote(symbol, exchange)
            if held is not None:
                out[key] = held
        return out

    return quotes


class MarketDataService:
    """Latest quotes by instrument, their source and age; subscriptions; coalesced REST."""

    @classmethod
    def for_broker(cls, broker: Broker, clock: Clock, *, gateway: BrokerGateway,
                   config: MarketDataConfig) -> MarketDataService:
        """How ``broker``'s quotes are read, from what it declares: its own in-process book
        as a pushed stream (the paper exchange), else batched quote calls (Kite: up to 500
        keys a call), else one quote call per instrument. A broker's push stream (Kite's
        ticker) is attached later, once the loop runs (``runtime.EngineServices``)."""
        offers = broker.capabilities
        if offers.local_market_data:
            return cls(clock, gateway=gateway, config=config, stream=LocalQuoteStream(
                lambda symbol, exchange: broker.quote(symbol, exchange), clock))
        return cls(clock, gateway=gateway, config=config,
                   rest_quotes=offers.quotes or quotes_one_by_one(broker.quote))

    def __init__(self, clock: Clock, *, gateway: BrokerGateway | None = None,
                 rest_quotes: Callable[[list[str]], Mapping[str, Quote]] | None = None,
                 stream: QuoteStream | None = None,
                 config: MarketDataConfig | None = None) -> None:
        self.clock = clock
        self.config = config or MarketDataConfig()
        self._gateway = gateway
        self._rest_quotes = rest_quotes
        self.stream = stream
        self._quotes: dict[str, MarketQuote] = {}
        self._missing: dict[str, float] = {}  # key -> when the broker said it has no data
        self._updated: dict[str, asyncio.Event] = {}
        self._engine_refs: Counter[str] = Counter()
        self._desk_refs: Counter[str] = Counter()
        self._waiting: Counter[str] = Counter()
        #: Keys live on the stream whose waiter heard nothing for ``max_age_s``: REST too.
        self._quiet_on_stream: set[str] = set()
        self._rest_wanted = asyncio.Event()
        self._rest_task: asyncio.Task[None] | None = None
        self._rest_timer: asyncio.TimerHandle | None = None
        self.last_error: str | None = None
        #: Quotes received so far (see ``MarketQuote.seq``).
        self.seq = 0
        #: REST quote calls made and instruments asked for, for tests and benchmarks.
        self.rest_calls = 0
        self.rest_instruments = 0
        if isinstance(stream, LocalQuoteStream):
            stream.sink = self._on_local_quote

    # ------------------------------------------------------------------ lifecycle (loop)

    def start(self) -> None:
        if self._rest_quotes is not None and self._gateway is not None \
                and self._rest_task is None:
            self._rest_task = asyncio.get_running_loop().create_task(
                self._rest_loop(), name="market-data-rest")

    async def stop(self) -> None:
        if self._rest_timer is not None:
            self._rest_timer.cancel()
        if self._rest_task is not None:
            self._rest_task.cancel()
            await asyncio.gather(self._rest_task, return_exceptions=True)
            self._rest_task = None

    # ------------------------------------------------------------------ subscriptions (loop)

    def subscribe(self, keys: Iterable[str], *, desk: bool = False) -> None:
        refs = self._desk_refs if desk else self._engine_refs
        new = []
        for key in keys:
            if self._engine_refs[key] + self._desk_refs[key] == 0:
                new.append(key)
            refs[key] += 1
        if new and self.stream is not None:
            self.stream.subscribe(new)
        if desk and new:
            self._wake_rest()

    def unsubscribe(self, keys: Iterable[str], *, desk: bool = False) -> None:
        refs = self._desk_refs if desk else self._engine_refs
        gone = []
        for key in keys:
            if refs[key] <= 0:
                continue
            refs[key] -= 1
            if refs[key] == 0:
                del refs[key]
            if self._engine_refs[key] + self._desk_refs[key] == 0:
                gone.append(key)
        if gone and self.stream is not None:
            self.stream.unsubscribe(gone)

    def subscribed(self) -> frozenset[str]:
        return frozenset(k for k in (*self._engine_refs, *self._desk_refs)
                         if self._engine_refs[k] + self._desk_refs[k] > 0)

    # ------------------------------------------------------------------ reading

    def latest(self, key: str) -> MarketQuote | None:
        """The newest quote held for ``key``, whatever its age (any thread)."""
        return self._quotes.get(key)

    def snapshot(self, keys: Iterable[str]) -> dict[str, MarketQuote]:
        """The newest quotes held for ``keys`` (any thread: plain dictionary reads)."""
        out = {}
        for key in keys:
            held = self._quotes.get(key)
            if held is not None:
                out[key] = held
        return out

    def age(self, held: MarketQuote) -> float:
        """How old ``held`` is as a picture of the book, in seconds.

        A stream tick stays current while its connection has stayed up and keeps speaking:
        its age is then the time since the stream's last frame (for ``stream_tick_trust_s``
        at most; after that its own age counts, and REST is asked)."""
        now = self.clock.now()
        stream = self.stream
        if held.source is QuoteSource.STREAM and stream is not None \
                and now - held.received_at <= self.config.stream_tick_trust_s:
            since, alive = stream.connected_since(), stream.alive_at()
            if since is not None and alive is not None and since <= held.received_at \
                    and stream.is_live(held.key):
                return max(0.0, now - max(alive, held.received_at))
        return max(0.0, now - held.received_at)

    def price_at_hand(self, key: str) -> float | None:
        """The last traded price of ``key`` from a quote already held and no older than
        ``config.max_age_s``, never waiting and never asking REST (an index that rides along
        with the quote calls of its options' subscriptions, say); None when there is none.
        An in-process book (the paper exchange) is read now: that costs nothing."""
        if isinstance(self.stream, LocalQuoteStream):
            self.stream.request([key])
        held = self._quotes.get(key)
        if held is None or self.age(held) > self.config.max_age_s:
            return None
        return held.quote.ltp

    async def fresh(self, key: str, *, timeout: float,
                    max_age: float | None = None) -> MarketQuote | None:
        """A quote of ``key`` no older than ``max_age`` (default ``config.max_age_s``), waiting
        up to ``timeout`` seconds for one; ``None`` when none came (or the broker has no
        market data for ``key``)."""
        limit = self.config.max_age_s if max_age is None else max_age
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        asked_at = self.clock.now()
        started = loop.time()
        if isinstance(self.stream, LocalQuoteStream):
            # An in-process book (the paper exchange) costs nothing to read: price from the
            # book as it is now, not as it was at the last refresh (up to half of max_age_s
            # ago: a taking child then filled against a book that had moved since). A read
            # that fails leaves the quote held, if young enough.
            self.stream.request([key])
        while True:
            held = self._quotes.get(key)
            if held is not None and self.age(held) <= limit:
                return held
            missing = self._missing.get(key)
            if missing is not None and missing >= asked_at:
                return None
            left = deadline - loop.time()
            if left <= 0:
                return None
            event = self._updated.setdefault(key, asyncio.Event())
            self._waiting[key] += 1
            if loop.time() - started >= limit and key not in self._quiet_on_stream:
                self._quiet_on_stream.add(key)  # the stream has said nothing: ask REST too
                self._wake_rest()
            try:
                self._ask(key)  # again every second: a failed fetch is not the last word
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, self.config.rest_retry_s))
            finally:
                self._waiting[key] -= 1
                if self._waiting[key] <= 0:
                    del self._waiting[key]

    # ------------------------------------------------------------------ feeds push here

    def on_quote(self, key: str, quote: Quote, source: QuoteSource) -> None:
        """A new quote arrived (loop thread)."""
        self.seq += 1
        self._quotes[key] = MarketQuote(key, quote, source, self.clock.now(), self.seq)
        self._missing.pop(key, None)
        self._quiet_on_stream.discard(key)
        self._notify(key)

    def _on_local_quote(self, key: str, quote: Quote | None) -> None:
        if quote is None:
            self._no_data(key)
        else:
            self.on_quote(key, quote, self.stream.source if self.stream else QuoteSource.PAPER)

    def on_stream_state(self, connected: bool) -> None:
        """The stream connected or dropped: REST covers what the stream no longer carries."""
        if not connected:
            self._wake_rest()

    def _no_data(self, key: str) -> None:
        self._missing[key] = self.clock.now()
        self._notify(key)

    def _notify(self, key: str) -> None:
        event = self._updated.pop(key, None)
        if event is not None:
            event.set()

    # ------------------------------------------------------------------ REST, coalesced

    def _ask(self, key: str) -> None:
        stream = self.stream
        live = stream is not None and stream.is_live(key)
        if stream is not None and live:
            stream.request([key])
        if not live or key in self._quiet_on_stream:
            self._wake_rest()

    def _wake_rest(self) -> None:
        if self._rest_task is not None:
            self._rest_wanted.set()

    def _rest_keys(self) -> list[str]:
        """What the next REST call asks for, most urgent first, at most ``rest_batch``:
        instruments a child is waiting for, then the engine's other subscriptions that are
        getting old (they ride along for free), then the desk's continuous ones."""
        stream = self.stream
        limit = self.config.max_age_s

        def needs_rest(key: str) -> bool:
            return stream is None or not stream.is_live(key) or key in self._quiet_on_stream

        def age(key: str) -> float:
            held = self._quotes.get(key)
            return float("inf") if held is None else self.age(held)

        waited = [k for k in self._waiting if needs_rest(k)]
        engine = [k for k in self._engine_refs
                  if k not in self._waiting and needs_rest(k) and age(k) > limit / 2]
        desk = [k for k in self._desk_refs
                if k not in self._waiting and k not in self._engine_refs and needs_rest(k)
                and age(k) >= self.config.continuous_refresh_s * 0.9]
        engine.sort(key=age, reverse=True)
        desk.sort(key=age, reverse=True)
        return (waited + engine + desk)[: self.config.rest_batch]

    async def _rest_loop(self) -> None:
        assert self._gateway is not None and self._rest_quotes is not None
        fetch = self._rest_quotes
        loop = asyncio.get_running_loop()
        while True:
            await self._rest_wanted.wait()
            self._rest_wanted.clear()
            if not self._rest_keys():
                self._schedule_continuous(loop)
                continue
            kind = RequestKind.QUOTE if (self._waiting or self._engine_refs) \
                else RequestKind.DESK_QUOTE
            failed = False
            keys: list[str] = []
            try:
                async with self._gateway.budget.slot(kind) as slot:
                    keys = self._rest_keys()  # what is wanted now that the slot is ours
                    if not keys:
                        slot.refund()
                        continue
                    self.rest_calls += 1
                    self.rest_instruments += len(keys)
                    quotes = await self._gateway.run(slot, fetch, keys)
            except NotSent as exc:  # the session is gone: nothing more to fetch
                self.last_error = str(exc)
                return
            except Exception as exc:
                log.warning("quote call for %d instruments failed: %r", len(keys), exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                failed = True
            if not failed:
                self.last_error = None
                for key in keys:
                    quote = quotes.get(key)
                    if quote is None:
                        self._no_data(key)
                    else:
                        self.on_quote(key, quote, QuoteSource.REST)
            else:
                await asyncio.sleep(self.config.rest_retry_s)
            if self._waiting:
                self._rest_wanted.set()
            self._schedule_continuous(loop)

    def _schedule_continuous(self, loop: asyncio.AbstractEventLoop) -> None:
        """The desk's chain without a stream: wake again when its quotes come due."""
        if self._rest_timer is not None:
            self._rest_timer.cancel()
            self._rest_timer = None
        stream = self.stream
        if any(stream is None or not stream.is_live(k) for k in self._desk_refs):
            self._rest_timer = loop.call_later(self.config.continuous_refresh_s,
                                               self._rest_wanted.set)

    # ------------------------------------------------------------------ other threads

    def subscribe_threadsafe(self, loop: asyncio.AbstractEventLoop, keys: Iterable[str]) -> None:
        """The desk's chain wants ``keys`` kept fresh (GUI thread)."""
        loop.call_soon_threadsafe(functools.partial(self.subscribe, list(keys), desk=True))

    def unsubscribe_threadsafe(self, loop: asyncio.AbstractEventLoop,
                               keys: Iterable[str]) -> None:
        loop.call_soon_threadsafe(functools.partial(self.unsubscribe, list(keys), desk=True))


__all__ = ["LocalQuoteStream", "MarketDataConfig", "MarketDataService", "MarketQuote",
           "QuoteStream", "instrument_key", "quotes_one_by_one"]
