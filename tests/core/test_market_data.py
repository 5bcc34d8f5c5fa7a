"""MarketDataService: coalesced REST within Kite's quote limit, freshness that never prices from
stale data, reference-counted subscriptions, stream age rules and the local stream.

Every test runs on a VirtualClock loop with a real BrokerGateway over Kite's limits (one quote
call per padded second) and a fake REST function that records the keys of each call.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import pytest

from imperium_exec.brokers.base import Quote
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.gateway import BrokerGateway
from imperium_exec.engine.market_data import (
    LocalQuoteStream,
    MarketDataConfig,
    MarketDataService,
    instrument_key,
)
from imperium_exec.engine.rate_budget import AccountRateLimits, Lane, RateBudget
from imperium_exec.events import QuoteSource

T = TypeVar("T")

#: Kite's quote limit, padded: no two REST calls closer than this.
QUOTE_GAP_S = AccountRateLimits.kite().windows(Lane.QUOTE)[0][0]


def key(n: int) -> str:
    return instrument_key("NFO", f"NIFTY26D01{25_000 + 50 * n}CE")


def make_quote(k: str, at: float, price: float = 100.0) -> Quote:
    return Quote(tradingsymbol=k.partition(":")[2], timestamp=at, bid=price - 0.05,
                 ask=price + 0.05, ltp=price, volume=1_000)


class FakeRest:
    """Kite's ``quote`` call: records (clock time, keys) of every call; knows every key unless
    told otherwise; fails while ``failure`` is set."""

    def __init__(self, clock: VirtualClock, unknown: Iterable[str] = ()) -> None:
        self.clock = clock
        self.unknown = set(unknown)
        self.failure: Exception | None = None
        self.calls: list[tuple[float, list[str]]] = []

    def __call__(self, keys: list[str]) -> Mapping[str, Quote]:
        at = self.clock.elapsed
        self.calls.append((at, list(keys)))
        if self.failure is not None:
            raise self.failure
        return {k: make_quote(k, self.clock.now()) for k in keys if k not in self.unknown}

    @property
    def times(self) -> list[float]:
        return [at for at, _ in self.calls]

    @property
    def keys(self) -> list[list[str]]:
        return [keys for _, keys in self.calls]


class FakeStream:
    """A QuoteStream (Kite's ticker, say) whose connection the test controls."""

    source = QuoteSource.STREAM

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.live_keys: set[str] = set()
        self.events: list[tuple[str, list[str]]] = []
        self.requests: list[list[str]] = []
        self.since: float | None = clock.now()
        self.heard: float | None = clock.now()

    def subscribe(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.events.append(("subscribe", keys))
        self.live_keys.update(keys)

    def unsubscribe(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.events.append(("unsubscribe", keys))
        self.live_keys.difference_update(keys)

    def is_live(self, key: str) -> bool:
        return self.since is not None and key in self.live_keys

    def alive_at(self) -> float | None:
        return self.heard if self.since is not None else None

    def connected_since(self) -> float | None:
        return self.since

    def request(self, keys: Iterable[str]) -> None:
        self.requests.append(list(keys))

    # test controls
    def heartbeat(self) -> None:
        self.heard = self.clock.now()

    def disconnect(self) -> None:
        self.since = self.heard = None

    def reconnect(self) -> None:
        self.since = self.heard = self.clock.now()


def run_service(main: Callable[[MarketDataService, VirtualClock], Awaitable[T]], *,
                rest: Callable[[VirtualClock], Any] | None = None,
                stream: Callable[[VirtualClock], Any] | None = None,
                **config: Any) -> T:
    """Build a service on a VirtualClock loop (real gateway over Kite's limits), run ``main``,
    stop everything and close the loop."""
    clock = VirtualClock()
    loop = clock.new_event_loop()
    gateway = BrokerGateway(RateBudget(AccountRateLimits.kite()))
    service = MarketDataService(
        clock, gateway=gateway, rest_quotes=rest(clock) if rest else None,
        stream=stream(clock) if stream else None, config=MarketDataConfig(**config))

    async def body() -> T:
        try:
            return await main(service, clock)
        finally:
            await service.stop()

    try:
        return loop.run_until_complete(body())
    finally:
        gateway.close()
        loop.close()


def now() -> float:
    return asyncio.get_running_loop().time()


def assert_within_quote_limit(times: list[float]) -> None:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= QUOTE_GAP_S - 1e-9 for gap in gaps), gaps


# ---------------------------------------------------------------------------- coalescing

def test_many_waiters_share_one_rest_call_a_second_of_at_most_rest_batch_keys() -> None:
    wanted = [key(n) for n in range(12)]
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        got = await asyncio.gather(*(service.fresh(k, timeout=10.0) for k in wanted))
        assert all(q is not None and q.source is QuoteSource.REST for q in got)
        assert [q.key for q in got if q is not None] == wanted
        assert service.last_error is None
        assert (service.rest_calls, service.rest_instruments) == (3, 12)

    run_service(main, rest=rest, rest_batch=5)
    calls = fake[0]
    assert [len(keys) for keys in calls.keys] == [5, 5, 2]  # 3 calls, not 12
    asked = [k for keys in calls.keys for k in keys]
    assert sorted(asked) == sorted(wanted)  # each asked once
    assert calls.times == pytest.approx([0.0, 1.05, 2.1])
    assert_within_quote_limit(calls.times)


def test_a_rest_call_asks_for_waiters_then_aging_engine_keys_then_the_desks_chain() -> None:
    waited = [key(0), key(1)]
    engine = [key(10), key(11), key(12)]
    desk = [key(20), key(21), key(22)]
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.subscribe(engine)
        service.subscribe(desk, desk=True)
        waiters = [asyncio.ensure_future(service.fresh(k, timeout=5.0)) for k in waited]
        service.start()
        assert all(q is not None for q in await asyncio.gather(*waiters))
        await asyncio.sleep(2.5)

    # max_age_s=4: engine keys ride along once older than 2 s, the desk's once older than 0.9.
    run_service(main, rest=rest, rest_batch=6, max_age_s=4.0)
    calls = fake[0]
    assert calls.keys[0] == [*waited, *engine, desk[0]]
    # A second later: the engine's keys are 1.1 s old (fresh enough, left out); the desk's
    # chain goes oldest first (never fetched before the one fetched at 0).
    assert calls.keys[1] == [desk[1], desk[2], desk[0]]
    # Another second on, the engine's keys are 2.2 s old: they ride along, ahead of the desk's.
    assert calls.keys[2] == [*engine, *desk]
    assert calls.times == pytest.approx([0.0, 1.05, 2.1])


# ---------------------------------------------------------------------------- failures

def test_fresh_gives_up_at_its_timeout_while_rest_keeps_failing_and_last_error_says_why(
        ) -> None:
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        fake[0].failure = ConnectionError("kite.zerodha.com unreachable")
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        assert await service.fresh(key(0), timeout=3.0) is None
        assert now() == pytest.approx(3.0)
        assert service.last_error == "ConnectionError: kite.zerodha.com unreachable"
        assert service.latest(key(0)) is None

        fake[0].failure = None  # the broker is back: the next ask is answered
        held = await service.fresh(key(0), timeout=3.0)
        assert held is not None and held.source is QuoteSource.REST
        assert service.last_error is None

    run_service(main, rest=rest)
    calls = fake[0]
    assert 3 <= len(calls.calls) <= 5  # retried about once a second, never hammered
    assert_within_quote_limit(calls.times)


def test_fresh_honours_a_max_age_given_per_call_tighter_or_looser_than_the_default() -> None:
    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        held = await service.fresh(key(0), timeout=3.0)
        assert held is not None
        await asyncio.sleep(1.0)  # the quote is a second old; the default limit is 2 s
        assert await service.fresh(key(0), timeout=0.0) is held
        assert await service.fresh(key(0), timeout=0.0, max_age=0.5) is None
        await asyncio.sleep(2.0)  # three seconds old: too old by default, not for 5 s
        assert await service.fresh(key(0), timeout=0.0) is None
        assert await service.fresh(key(0), timeout=0.0, max_age=5.0) is held

    run_service(main, rest=FakeRest, max_age_s=2.0)


def test_fresh_with_a_tighter_max_age_waits_for_a_newer_quote_than_the_one_held() -> None:
    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        held = await service.fresh(key(0), timeout=3.0)
        assert held is not None
        await asyncio.sleep(1.5)
        newer = await service.fresh(key(0), timeout=5.0, max_age=1.0)
        assert newer is not None and newer is not held
        assert newer.received_at > held.received_at

    run_service(main, rest=FakeRest, max_age_s=2.0)


def test_a_key_the_broker_does_not_know_returns_none_at_once() -> None:
    ghost = instrument_key("NFO", "NIFTY99JAN1CE")
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock, unknown=[ghost]))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        missing, known = await asyncio.gather(service.fresh(ghost, timeout=30.0),
                                              service.fresh(key(0), timeout=30.0))
        assert missing is None
        assert known is not None
        assert now() == 0.0  # not after 30 s
        assert service.latest(ghost) is None
        assert service.last_error is None

    run_service(main, rest=rest)
    assert fake[0].keys == [[ghost, key(0)]]


# ---------------------------------------------------------------------------- subscriptions

def test_subscriptions_are_reference_counted_and_the_stream_hears_only_first_and_last() -> None:
    clock = VirtualClock()
    stream = FakeStream(clock)
    service = MarketDataService(clock, stream=stream)
    a, b = key(0), key(1)

    service.subscribe([a])
    service.subscribe([a, b])
    assert service.subscribed() == {a, b}
    assert stream.events == [("subscribe", [a]), ("subscribe", [b])]

    service.unsubscribe([a])
    assert service.subscribed() == {a, b}  # one engine reference left
    service.subscribe([a], desk=True)  # the desk's chain shows it too
    service.unsubscribe([a])
    assert service.subscribed() == {a, b}  # the desk's reference holds it
    service.unsubscribe([a])  # one too many from the engine: ignored
    service.unsubscribe([b], desk=True)  # the desk never subscribed b: ignored
    assert service.subscribed() == {a, b}
    assert stream.events == [("subscribe", [a]), ("subscribe", [b])]

    service.unsubscribe([a, b], desk=True)
    assert service.subscribed() == {b}
    service.unsubscribe([b])
    assert service.subscribed() == frozenset()
    assert stream.events == [("subscribe", [a]), ("subscribe", [b]),
                             ("unsubscribe", [a]), ("unsubscribe", [b])]

    service.subscribe([a], desk=True)  # first reference again: subscribed again
    assert stream.events[-1] == ("subscribe", [a])


# ---------------------------------------------------------------------------- stream age

def test_a_stream_tick_stays_fresh_while_its_connection_speaks_and_goes_stale_without_it(
        ) -> None:
    k = key(0)

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        stream = service.stream
        assert isinstance(stream, FakeStream)
        service.subscribe([k])
        service.on_quote(k, make_quote(k, clock.now()), QuoteSource.STREAM)
        await asyncio.sleep(9.5)
        stream.heartbeat()
        await asyncio.sleep(0.5)  # the tick is 10 s old, the connection spoke 0.5 s ago

        held = await service.fresh(k, timeout=0.0)
        assert held is not None and held.source is QuoteSource.STREAM
        assert service.age(held) == pytest.approx(0.5)

        await asyncio.sleep(2.0)  # the socket went silent: no heartbeat for 2.5 s
        assert await service.fresh(k, timeout=0.0) is None
        stream.heartbeat()
        assert await service.fresh(k, timeout=0.0) is not None

        stream.disconnect()
        service.on_stream_state(False)
        assert service.age(held) == pytest.approx(12.0)
        assert await service.fresh(k, timeout=0.0) is None

        stream.reconnect()  # up again, but the tick predates this connection
        assert await service.fresh(k, timeout=0.0) is None
        service.on_quote(k, make_quote(k, clock.now()), QuoteSource.STREAM)
        assert await service.fresh(k, timeout=0.0) is not None
        assert stream.requests == []  # a fresh quote in hand asks for nothing

    run_service(main, stream=FakeStream)


def test_a_waiter_on_a_live_stream_asks_the_stream_not_rest() -> None:
    k = key(0)
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        stream = service.stream
        assert isinstance(stream, FakeStream)
        service.start()
        service.subscribe([k])
        waiter = asyncio.ensure_future(service.fresh(k, timeout=5.0))
        await asyncio.sleep(0.3)
        assert stream.requests == [[k]]
        service.on_quote(k, make_quote(k, clock.now()), QuoteSource.STREAM)
        held = await waiter
        assert held is not None and held.source is QuoteSource.STREAM

    run_service(main, rest=rest, stream=FakeStream)
    assert fake[0].calls == []


# ---------------------------------------------------------------------------- local stream

def test_the_local_stream_pushes_the_book_when_asked() -> None:
    asked: list[tuple[str, str]] = []
    k = key(0)

    def local_quote(symbol: str, exchange: str) -> Quote | None:
        asked.append((symbol, exchange))
        return None if symbol == "GHOST" else make_quote(f"{exchange}:{symbol}", 0.0)

    def stream(clock: VirtualClock) -> LocalQuoteStream:
        return LocalQuoteStream(local_quote, clock)

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        held = await service.fresh(k, timeout=5.0)
        assert held is not None and held.source is QuoteSource.PAPER
        assert now() == 0.0
        assert asked == [("NIFTY26D0125000CE", "NFO")]

        # The in-process book is free to read: every child is priced from it as it is now.
        now_again = await service.fresh(k, timeout=5.0)
        assert now_again is not None and now_again is not held and len(asked) == 2
        await asyncio.sleep(3.0)
        again = await service.fresh(k, timeout=5.0)
        assert again is not None and again.received_at == held.received_at + 3.0
        assert len(asked) == 3

        assert await service.fresh("NFO:GHOST", timeout=5.0) is None  # no data: at once
        assert now() == pytest.approx(3.0)

    run_service(main, stream=stream)


def test_a_failing_local_quote_leaves_the_waiter_waiting_rather_than_saying_no_data() -> None:
    asked: list[float] = []
    k = key(0)
    failures = [RuntimeError("book locked")] * 2

    def stream(clock: VirtualClock) -> LocalQuoteStream:
        def local_quote(symbol: str, exchange: str) -> Quote | None:
            asked.append(clock.elapsed)
            if failures:
                raise failures.pop()
            return make_quote(f"{exchange}:{symbol}", clock.now())

        return LocalQuoteStream(local_quote, clock)

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        held = await service.fresh(k, timeout=5.0)
        assert held is not None
        # Read up front and asked at once (both failed), asked again a second later: answered.
        assert now() == pytest.approx(1.0)

        failures.extend([RuntimeError("book locked")] * 10)
        await asyncio.sleep(5.0)
        assert await service.fresh(k, timeout=3.0) is None  # timed out, not "no data"
        assert now() == pytest.approx(9.0)

    run_service(main, stream=stream)
    assert asked[:3] == pytest.approx([0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------- the desk's chain

def test_the_desks_chain_is_refreshed_every_continuous_refresh_s_without_a_stream() -> None:
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        service.start()
        service.subscribe([key(0), key(1)], desk=True)
        await asyncio.sleep(10.5)
        service.unsubscribe([key(0), key(1)], desk=True)
        await asyncio.sleep(10.0)

    run_service(main, rest=rest, continuous_refresh_s=2.0)
    assert fake[0].times == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert all(keys == [key(0), key(1)] for keys in fake[0].keys)


def test_the_desks_chain_is_not_polled_while_the_stream_carries_it_and_is_when_it_drops(
        ) -> None:
    fake: list[FakeRest] = []

    def rest(clock: VirtualClock) -> FakeRest:
        fake.append(FakeRest(clock))
        return fake[0]

    async def main(service: MarketDataService, clock: VirtualClock) -> None:
        stream = service.stream
        assert isinstance(stream, FakeStream)
        service.start()
        service.subscribe([key(0)], desk=True)
        assert stream.events == [("subscribe", [key(0)])]
        await asyncio.sleep(10.0)
        assert fake[0].calls == []

        stream.disconnect()
        service.on_stream_state(False)
        await asyncio.sleep(4.5)

    run_service(main, rest=rest, stream=FakeStream, continuous_refresh_s=2.0)
    assert fake[0].times == pytest.approx([10.0, 12.0, 14.0])
