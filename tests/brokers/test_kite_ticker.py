"""The Kite ticker: our codec against kiteconnect's own parser, and our asyncio client against
the fake Kite server's WebSocket (driven, for orders, by the real kiteconnect REST client).

Two layers. The codec: packets our encoder writes are read by ``KiteTicker._parse_binary`` (the
official client's parser) and by our ``parse_frame`` to the same values, which proves both that
the fake speaks Kite's format and that our parser reads it. The client: a real socket on
127.0.0.1, each test on a fresh asyncio loop of its own, with every wait a condition polled
under a deadline (no sleep that a slow machine could lose) and, after each run, no task left
pending and no error reported to the loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import warnings
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect, KiteTicker

from imperium_exec.brokers.kite.ticker import (
    MAX_TOKENS_PER_CONNECTION,
    DepthLevel,
    KiteTickerClient,
    Tick,
    parse_frame,
    parse_packet,
    parse_text,
    price_divisor,
    ticker_url,
)
from imperium_exec.testing import FakeKiteServer
from imperium_exec.testing.fake_ticker import (
    HEARTBEAT,
    TOO_MANY_TOKENS,
    encode_frame,
    encode_full_packet,
    encode_packet,
)

SYMBOL = "NIFTY26D0125000CE"
TOKEN = 12_501_762  # NFO (segment 2)
OTHER_SYMBOL = "BANKNIFTY26DEC56000CE"
OTHER_TOKEN = 12_610_050
INDEX_TOKEN = 256_265  # NIFTY 50 (segment 9: indices)
CDS_TOKEN = (412_001 << 8) | 3
BCD_TOKEN = (22_001 << 8) | 6
T0 = 1_796_000_000.0  # 2026-11-30 epoch seconds
EMPTY = DepthLevel(0.0, 0, 0)
WAIT_S = 3.0


# ---------------------------------------------------------------------------- codec


def full_tick(token: int = TOKEN, **overrides: Any) -> Tick:
    values: dict[str, Any] = dict(
        instrument_token=token, mode="full", tradable=True, last_price=101.25,
        last_quantity=65, average_price=100.9, volume=1_300_000, buy_quantity=3250,
        sell_quantity=1950, open=99.0, high=105.5, low=98.05, close=100.0,
        last_trade_time=T0, oi=650_000, exchange_timestamp=T0 + 10,
        depth_buy=(DepthLevel(101.2, 650, 10), DepthLevel(101.15, 130, 2), EMPTY, EMPTY, EMPTY),
        depth_sell=(DepthLevel(101.3, 325, 5), EMPTY, EMPTY, EMPTY, EMPTY))
    values.update(overrides)
    return Tick(**values)


def index_tick(mode: str) -> Tick:
    return Tick(INDEX_TOKEN, mode, False, 25_012.35, open=24_950.0, high=25_040.8,
                low=24_901.1, close=24_980.5,
                exchange_timestamp=T0 if mode == "full" else None)


def kite_view(tick: Tick) -> dict[str, Any]:
    """Our tick in the shape kiteconnect's parser produces (``change`` left out)."""
    out: dict[str, Any] = {"tradable": tick.tradable, "mode": tick.mode,
                           "instrument_token": tick.instrument_token,
                           "last_price": tick.last_price}
    if tick.mode == "ltp":
        return out
    out["ohlc"] = {"open": tick.open, "high": tick.high, "low": tick.low, "close": tick.close}
    if not tick.tradable:  # index packet
        if tick.mode == "full":
            assert tick.exchange_timestamp is not None
            out["exchange_timestamp"] = dt.datetime.fromtimestamp(tick.exchange_timestamp)
        return out
    out.update({"last_traded_quantity": tick.last_quantity,
                "average_traded_price": tick.average_price, "volume_traded": tick.volume,
                "total_buy_quantity": tick.buy_quantity,
                "total_sell_quantity": tick.sell_quantity})
    if tick.mode == "full":
        assert tick.last_trade_time is not None and tick.exchange_timestamp is not None
        out.update({
            "last_trade_time": dt.datetime.fromtimestamp(tick.last_trade_time),
            "oi": tick.oi, "oi_day_high": tick.oi, "oi_day_low": tick.oi,
            "exchange_timestamp": dt.datetime.fromtimestamp(tick.exchange_timestamp),
            "depth": {side: [{"quantity": lv.quantity, "price": lv.price, "orders": lv.orders}
                             for lv in levels]
                      for side, levels in (("buy", tick.depth_buy),
                                           ("sell", tick.depth_sell))}})
    return out


def kite_parse(frame: bytes) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = KiteTicker("k", "t")._parse_binary(frame)
    for item in parsed:
        item.pop("change", None)
    return parsed


CODEC_CASES = {
    "ltp": Tick(TOKEN, "ltp", True, 101.25),
    "quote": Tick(TOKEN, "quote", True, 101.25, 65, 100.9, 1_300_000, 3250, 1950, 99.0, 105.5,
                  98.05, 100.0),
    "full_with_depth": full_tick(),
    "index_quote": index_tick("quote"),
    "index_full": index_tick("full"),
    "cds_ltp_divisor_1e7": Tick(CDS_TOKEN, "ltp", True, 83.1234567),
    "bcd_quote_divisor_1e4": Tick(BCD_TOKEN, "quote", True, 83.1234, 1, 83.12, 10, 5, 5,
                                  83.0, 83.5, 82.9, 83.05),
    "bfo_full_touch_only": full_tick(284_001_797, depth_buy=(EMPTY,) * 5,
                                     depth_sell=(DepthLevel(410.5, 20, 1),) + (EMPTY,) * 4),
}


@pytest.mark.parametrize("name", sorted(CODEC_CASES))
def test_kiteconnects_parser_and_ours_read_our_packets_to_the_same_values(name: str) -> None:
    tick = CODEC_CASES[name]
    frame = encode_frame([encode_packet(tick)])
    assert kite_parse(frame) == [kite_view(tick)]
    assert parse_frame(frame) == [tick]


def test_packet_sizes_are_kites_for_each_mode() -> None:
    tick = full_tick()
    assert [len(encode_packet(tick, m)) for m in ("ltp", "quote", "full")] == [8, 44, 184]
    index = index_tick("full")
    assert [len(encode_packet(index, m)) for m in ("ltp", "quote", "full")] == [8, 28, 32]
    assert encode_full_packet(tick) == encode_packet(tick, "full")


def test_a_frame_of_several_packets_reads_the_same_in_both_parsers() -> None:
    ticks = list(CODEC_CASES.values())
    frame = encode_frame(encode_packet(t) for t in ticks)
    assert kite_parse(frame) == [kite_view(t) for t in ticks]
    assert parse_frame(frame) == ticks


def test_a_heartbeat_is_one_byte_and_parses_to_no_ticks_in_both_parsers() -> None:
    assert len(HEARTBEAT) == 1
    assert kite_parse(HEARTBEAT) == [] and parse_frame(HEARTBEAT) == []
    assert parse_frame(b"") == []


def test_prices_use_the_segment_divisor_and_are_paise_on_the_wire() -> None:
    assert price_divisor(TOKEN) == 100.0
    assert price_divisor(CDS_TOKEN) == 1e7 and price_divisor(BCD_TOKEN) == 1e4
    assert encode_packet(Tick(TOKEN, "ltp", True, 101.25))[4:] == (10_125).to_bytes(4, "big")


def test_unknown_packet_lengths_are_skipped_and_truncated_frames_keep_what_came_before() -> None:
    good = encode_packet(full_tick())
    frame = encode_frame([b"\x00" * 12, good])
    assert parse_frame(frame) == [full_tick()]
    cut = encode_frame([good, good])[:-10]
    assert parse_frame(cut) == [full_tick()]
    assert parse_packet(b"\x01\x02") is None


def test_zero_timestamps_read_as_none_and_empty_touch_reads_as_no_price() -> None:
    tick = parse_frame(encode_frame([encode_packet(full_tick(
        last_trade_time=None, exchange_timestamp=None, depth_buy=(),
        depth_sell=(DepthLevel(101.3, 0, 0),)))]))[0]
    assert tick.last_trade_time is None and tick.exchange_timestamp is None
    assert tick.depth_buy == (EMPTY,) * 5
    assert (tick.bid, tick.bid_quantity) == (None, 0)
    assert (tick.ask, tick.ask_quantity) == (None, 0)
    full = full_tick()
    assert (full.bid, full.bid_quantity, full.ask, full.ask_quantity) == (101.2, 650, 101.3, 325)
    assert Tick(TOKEN, "ltp", True, 1.0).bid is None


paise = st.integers(min_value=0, max_value=2**31 - 1).map(lambda p: p / 100.0)
counts = st.integers(min_value=0, max_value=2**32 - 1)
levels = st.tuples(*[st.builds(DepthLevel, paise, counts, st.integers(0, 65_535))] * 5)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(token=st.integers(0, 2**24 - 1).map(lambda n: n << 8 | 2), ltp=paise, ltq=counts, atp=paise,
       volume=counts, buy=counts, sell=counts, ohlc=st.tuples(paise, paise, paise, paise),
       stamps=st.tuples(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1)), oi=counts,
       bids=levels, asks=levels)
def test_any_full_tick_survives_encode_then_parse(
        token: int, ltp: float, ltq: int, atp: float, volume: int, buy: int, sell: int,
        ohlc: tuple[float, float, float, float], stamps: tuple[int, int], oi: int,
        bids: tuple[DepthLevel, ...], asks: tuple[DepthLevel, ...]) -> None:
    tick = Tick(token, "full", True, ltp, ltq, atp, volume, buy, sell, *ohlc,
                float(stamps[0]), oi, float(stamps[1]), bids, asks)
    assert parse_frame(encode_frame([encode_full_packet(tick)])) == [tick]


def test_text_frames_parse_to_type_and_data() -> None:
    assert parse_text('{"type": "order", "data": {"order_id": "1"}}') == ("order",
                                                                          {"order_id": "1"})
    assert parse_text('{"type": "error", "data": "bad"}') == ("error", "bad")
    assert parse_text('{"type": "message", "data": "hi"}') == ("message", "hi")
    assert parse_text("not json") == ("invalid", "not json")
    assert parse_text("[1]") == ("unknown", [1])


def test_the_url_carries_api_key_and_access_token_as_kites_does() -> None:
    assert ticker_url("ws://127.0.0.1:9", "k", "t") == "ws://127.0.0.1:9?api_key=k&access_token=t"
    assert ticker_url("wss://ws.kite.trade?x=1", "k", "a/b") == \
        "wss://ws.kite.trade?x=1&api_key=k&access_token=a%2Fb"


# ---------------------------------------------------------------------------- harness


def run(scenario: Callable[[], Coroutine[Any, Any, None]], timeout_s: float = 15.0) -> None:
    """Run ``scenario`` on a fresh loop; afterwards nothing may be pending and nothing may
    have been reported to the loop's exception handler or as a warning."""
    loop = asyncio.new_event_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loop.run_until_complete(asyncio.wait_for(scenario(), timeout_s))
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            assert pending == [], f"tasks left pending: {pending}"
        finally:
            # A failed scenario may leave tasks behind: end them here, not in a later test.
            leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            # Whatever the scenario left in a cycle (an unclosed socket) is finalized here,
            # inside the recording of warnings. With the collector off (tests/conftest.py)
            # nothing made since the last test's pass has left the young generations: those
            # are enough, and a full pass costs a tenth of a second in a worker's process.
            gc.collect(2 if gc.isenabled() else 1)
    assert reported == []
    assert [str(w.message) for w in caught] == []


async def until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail (naming ``what``) after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@dataclass
class Feed:
    """Everything a client's callbacks reported, in order."""

    ticks: list[Tick] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def client(self, server: FakeKiteServer, **overrides: Any) -> KiteTickerClient:
        options: dict[str, Any] = dict(
            on_ticks=self.ticks.extend, on_order_update=self.orders.append,
            on_connect=lambda: self.events.append("connect"),
            on_disconnect=lambda reason: self.events.append(f"disconnect: {reason}"),
            on_token_error=self.token_errors.append, on_error=self.errors.append,
            silence_s=2.0, backoff_initial_s=0.02, backoff_max_s=0.2, connect_timeout_s=2.0)
        options.update(overrides)
        api_key = options.pop("api_key", "k")
        access_token = options.pop("access_token", "t")
        return KiteTickerClient(server.ticker_root, api_key, access_token, **options)

    def full_ticks(self, token: int) -> list[Tick]:
        return [t for t in self.ticks if t.instrument_token == token and t.mode == "full"]


@pytest.fixture
def server() -> Iterator[FakeKiteServer]:
    with FakeKiteServer(ticker_heartbeat_s=0.05) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5, ltp=100.25)
        srv.set_quote(OTHER_SYMBOL, bid=300.0, ask=301.0)
        yield srv


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """websockets and asyncio log handler crashes instead of raising them: fail on those."""
    with caplog.at_level(logging.WARNING):
        yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR
           and r.name.split(".")[0] in ("websockets", "asyncio")]
    assert bad == []


def kite(server: FakeKiteServer) -> KiteConnect:
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)


async def until_heartbeat(ws: Any) -> None:
    while await ws.recv() != HEARTBEAT:
        pass


# ---------------------------------------------------------------------------- end to end


def test_the_fake_ticker_binds_loopback_on_an_ephemeral_port(server: FakeKiteServer) -> None:
    assert server.ticker_root.startswith("ws://127.0.0.1:")
    assert int(server.ticker_root.rsplit(":", 1)[1]) > 0


def test_subscribing_sends_kites_messages_and_the_snapshot_arrives_with_the_touch(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.start()
        await until(lambda: client.connected, "connect")
        client.subscribe([TOKEN])
        await until(lambda: feed.full_ticks(TOKEN), "the full-mode snapshot")
        tick = feed.full_ticks(TOKEN)[-1]
        assert (tick.bid, tick.ask, tick.last_price) == (100.0, 100.5, 100.25)
        assert (tick.bid_quantity, tick.ask_quantity) == (50 * 65, 50 * 65)
        assert tick.depth_buy[1:] == (EMPTY,) * 4 and tick.tradable
        await client.stop()

    run(scenario)
    assert server.ticker_messages == [{"a": "subscribe", "v": [TOKEN]},
                                      {"a": "mode", "v": ["full", [TOKEN]]}]
    assert feed.events[0] == "connect" and feed.events[-1] == "disconnect: stopped"


def test_a_book_change_produces_a_tick_with_the_new_touch(server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.subscribe([TOKEN])  # before connecting: sent once connected
        client.start()
        await until(lambda: feed.full_ticks(TOKEN), "the snapshot")
        server.set_quote(SYMBOL, bid=101.0, ask=101.5, bid_quantity=130, ask_quantity=195)
        await until(lambda: feed.full_ticks(TOKEN)[-1].bid == 101.0, "the new touch")
        tick = feed.full_ticks(TOKEN)[-1]
        assert (tick.ask, tick.bid_quantity, tick.ask_quantity) == (101.5, 130, 195)
        assert tick.depth_buy[0].orders == 2  # 130 / lot 65
        await client.stop()

    run(scenario)


def test_orders_placed_through_kiteconnect_stream_updates_ending_complete_and_cancelled(
        server: FakeKiteServer) -> None:
    feed = Feed()
    rest = kite(server)

    def place(price: float, tag: str) -> str:
        return str(rest.place_order(variety="regular", exchange="NFO", tradingsymbol=SYMBOL,
                                    transaction_type="BUY", quantity=65, product="NRML",
                                    order_type="LIMIT", price=price, validity="DAY", tag=tag))

    def statuses(order_id: str) -> list[str]:
        return [o["status"] for o in feed.orders if o["order_id"] == order_id]

    async def scenario() -> None:
        client = feed.client(server)
        client.subscribe([TOKEN])
        client.start()
        await until(lambda: feed.full_ticks(TOKEN), "the snapshot")
        filled = await asyncio.to_thread(place, 100.5, "FILLS")
        await until(lambda: statuses(filled)[-1:] == ["COMPLETE"], "COMPLETE")
        resting = await asyncio.to_thread(place, 99.0, "RESTS")
        await until(lambda: statuses(resting)[-1:] == ["OPEN"], "OPEN")
        await asyncio.to_thread(rest.cancel_order, variety="regular", order_id=resting)
        await until(lambda: statuses(resting)[-1:] == ["CANCELLED"], "CANCELLED")
        # The fill took 65 off the ask and traded at 100.5: a tick says so.
        await until(lambda: feed.full_ticks(TOKEN)[-1].ask_quantity == 50 * 65 - 65,
                    "the tick after the fill")
        tick = feed.full_ticks(TOKEN)[-1]
        assert (tick.last_price, tick.last_quantity, tick.volume) == (100.5, 65, 65)
        assert tick.last_trade_time is not None
        # The same dicts as GET /orders (raw JSON: kiteconnect would parse the timestamps).
        reply = await asyncio.to_thread(
            rest.reqsession.get, f"{server.root}/orders", timeout=2,
            headers={"Authorization": "token k:t", "X-Kite-Version": "3"})
        book = {o["order_id"]: o for o in reply.json()["data"]}
        last = {o["order_id"]: o for o in feed.orders}
        assert {k: last[k] for k in (filled, resting)} == {k: book[k] for k in (filled, resting)}
        assert last[filled]["tag"] == "FILLS" and last[filled]["filled_quantity"] == 65
        # Every status change streamed, in order, from the first one the book shows.
        assert statuses(filled) == ["VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]
        assert statuses(resting) == ["VALIDATION PENDING", "OPEN PENDING", "OPEN",
                                     "CANCELLED"]
        await client.stop()

    try:
        run(scenario)
    finally:
        rest.reqsession.close()


def test_a_dropped_connection_reconnects_resubscribes_and_ticks_resume(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.subscribe([TOKEN, OTHER_TOKEN])
        client.start()
        await until(lambda: feed.full_ticks(OTHER_TOKEN), "the snapshot")
        assert await asyncio.to_thread(server.drop_ticker) == 1
        await until(lambda: client.connects == 2 and client.connected, "the reconnect")
        assert client.disconnects == 1
        await until(lambda: server.ticker_messages.count(
            {"a": "subscribe", "v": [TOKEN, OTHER_TOKEN]}) == 2, "the resubscription")
        seen = len(feed.ticks)
        server.set_quote(SYMBOL, bid=102.0, ask=102.5)
        await until(lambda: any(t.bid == 102.0 for t in feed.ticks[seen:]), "ticks resuming")
        await client.stop()

    run(scenario)
    assert feed.events[:3] == ["connect", "disconnect: connection lost (no close frame)",
                               "connect"]
    assert feed.token_errors == []


def test_a_silent_socket_is_dropped_by_the_watchdog_after_silence_s_then_reconnected(
        server: FakeKiteServer) -> None:
    feed = Feed()
    silence_s = 0.3

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        silences: list[float] = []  # at each disconnect: time since the latest frame

        def on_disconnect(reason: str) -> None:
            feed.events.append(f"disconnect: {reason}")
            silences.append(loop.time() - (client.last_frame_at or 0.0))

        client = feed.client(server, silence_s=silence_s, on_disconnect=on_disconnect)
        client.subscribe([TOKEN])
        client.start()
        await until(lambda: feed.full_ticks(TOKEN), "the snapshot")
        # Heartbeats alone (every 0.05 s) keep a quiet connection alive.
        idle_from = loop.time()
        await until(lambda: loop.time() - idle_from > 2 * silence_s, "two silence periods")
        assert client.disconnects == 0
        server.silence_ticker(True)
        await until(lambda: client.disconnects == 1, "the watchdog")
        assert silences[0] >= silence_s and "silent" in feed.events[1]
        # While silent the client keeps reconnecting (each new socket is silent too, its
        # snapshot lost); once the fake speaks again, a connection that sent its
        # subscription and hears heartbeats stays up and gets ticks.
        server.silence_ticker(False)
        spoke_at = loop.time()

        def settled() -> bool:
            subscribes = [m for m in server.ticker_messages if m.get("a") == "subscribe"]
            return client.connected and len(subscribes) == client.connects \
                and (client.last_frame_at or 0.0) > spoke_at

        await until(settled, "a resubscribed connection that hears heartbeats")
        assert client.connects >= 2
        server.set_quote(SYMBOL, bid=105.0, ask=105.5)
        await until(lambda: any(t.bid == 105.0 for t in feed.ticks), "ticks resuming")
        await client.stop()

    run(scenario)


def test_an_expired_session_calls_on_token_error_once_and_stops_reconnecting(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.subscribe([TOKEN])
        client.start()
        await until(lambda: feed.full_ticks(TOKEN), "the snapshot")
        server.expire_session()
        await until(lambda: feed.token_errors != [], "on_token_error")
        assert not client.connected and client.token_refused
        # Twenty backoff periods later nothing has tried again.
        later = asyncio.get_running_loop().time() + 20 * 0.02
        await until(lambda: asyncio.get_running_loop().time() > later, "twenty backoffs")
        assert server.ticker_handshakes == 2 and client.attempts == 2
        await client.stop()

    run(scenario)
    assert len(feed.token_errors) == 1 and "403" in feed.token_errors[0]
    assert feed.events == ["connect", "disconnect: closed with code 1000: session expired"]


def test_a_wrong_token_is_refused_at_the_first_handshake_without_retrying(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server, access_token="wrong")
        client.start()
        await until(lambda: client.token_refused, "the refusal")
        await client.stop()

    run(scenario)
    assert len(feed.token_errors) == 1 and server.ticker_handshakes == 1
    assert feed.events == [] and feed.errors == []


def test_unsubscribing_stops_ticks_for_that_token_only(server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.subscribe([TOKEN, OTHER_TOKEN])
        client.start()
        await until(lambda: feed.full_ticks(TOKEN) and feed.full_ticks(OTHER_TOKEN),
                    "both snapshots")
        client.unsubscribe([OTHER_TOKEN])
        assert client.subscribed == frozenset({TOKEN})
        await until(lambda: {"a": "unsubscribe", "v": [OTHER_TOKEN]} in server.ticker_messages,
                    "the unsubscribe to arrive")
        seen = len(feed.ticks)
        # Pushes leave the fake in order: once TOKEN's tick is here, OTHER's would be too.
        server.set_quote(OTHER_SYMBOL, bid=310.0, ask=311.0)
        server.set_quote(SYMBOL, bid=103.0, ask=103.5)
        await until(lambda: any(t.bid == 103.0 for t in feed.ticks[seen:]), "TOKEN's tick")
        assert [t for t in feed.ticks[seen:] if t.instrument_token == OTHER_TOKEN] == []
        await client.stop()

    run(scenario)


def test_stop_is_clean_idempotent_and_closes_the_servers_connection(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        never_started = feed.client(server)
        await never_started.stop()
        client = feed.client(server)
        client.start()
        client.start()  # idempotent
        await until(lambda: client.connected and server.ticker_connections == 1,
                    "both ends to see the connection")
        await client.stop()
        await client.stop()
        assert not client.connected and client.disconnects == 1
        with pytest.raises(RuntimeError):
            client.start()
        await until(lambda: server.ticker_connections == 0, "the server to see it go")

    run(scenario)
    assert feed.events == ["connect", "disconnect: stopped"]


def test_stop_during_backoff_ends_the_client_at_once(server: FakeKiteServer) -> None:
    feed = Feed()
    port = server.ticker_root.rsplit(":", 1)[1]
    server.stop()  # nothing listens any more: every attempt fails and backs off

    async def scenario() -> None:
        client = KiteTickerClient(f"ws://127.0.0.1:{port}", "k", "t", on_ticks=feed.ticks.extend,
                                  on_order_update=feed.orders.append,
                                  on_error=feed.errors.append, backoff_initial_s=5.0)
        client.start()
        await until(lambda: feed.errors != [], "the first failed attempt")
        await client.stop()
        assert client.attempts == 1 and client.connects == 0

    run(scenario)
    assert feed.errors[0].startswith("connect failed")


def test_a_raising_callback_is_logged_and_the_feed_goes_on(
        server: FakeKiteServer, caplog: pytest.LogCaptureFixture) -> None:
    received: list[Tick] = []

    def on_ticks(ticks: list[Tick]) -> None:
        received.extend(ticks)
        raise ValueError("consumer bug")

    async def scenario() -> None:
        client = Feed().client(server, on_ticks=on_ticks)
        client.subscribe([TOKEN])
        client.start()
        await until(lambda: received != [], "the snapshot")
        server.set_quote(SYMBOL, bid=104.0, ask=104.5)
        await until(lambda: any(t.bid == 104.0 for t in received), "the next tick")
        assert client.connects == 1 and client.disconnects == 0
        await client.stop()

    run(scenario)
    assert any("consumer bug" in (r.exc_text or "") or r.exc_info for r in caplog.records
               if r.name == "imperium_exec.brokers.kite.ticker")


def test_more_than_3000_tokens_on_a_connection_are_refused_with_an_error_frame(
        server: FakeKiteServer) -> None:
    feed = Feed()

    async def scenario() -> None:
        client = feed.client(server)
        client.start()
        await until(lambda: client.connected, "connect")
        client.subscribe(range(1, MAX_TOKENS_PER_CONNECTION + 2))
        await until(lambda: feed.errors != [], "the error frame")
        client.unsubscribe(range(1, MAX_TOKENS_PER_CONNECTION + 2))
        client.subscribe([TOKEN])  # the connection is still usable
        await until(lambda: feed.full_ticks(TOKEN), "the snapshot")
        await client.stop()

    run(scenario)
    assert feed.errors == [TOO_MANY_TOKENS]


def test_a_fourth_connection_per_api_key_is_refused_and_retried(server: FakeKiteServer) -> None:
    feeds = [Feed() for _ in range(4)]

    async def scenario() -> None:
        clients = [f.client(server, backoff_initial_s=0.05) for f in feeds]
        for c in clients[:3]:
            c.start()
        await until(lambda: server.ticker_connections == 3, "three connections")
        clients[3].start()
        await until(lambda: len(feeds[3].errors) >= 2, "two refusals")
        assert feeds[3].errors[0] == "handshake refused with HTTP 429"
        await clients[0].stop()
        await until(lambda: clients[3].connected, "the fourth once a slot is free")
        for c in clients[1:]:
            await c.stop()

    run(scenario)
    assert all(f.token_errors == [] for f in feeds)


def test_order_updates_and_ticks_arrive_as_kite_frames_on_a_raw_socket(
        server: FakeKiteServer) -> None:
    """Without our client: the fake's frames as any Kite client would see them."""
    from websockets.asyncio.client import connect

    async def scenario() -> None:
        url = ticker_url(server.ticker_root, "k", "t")
        async with connect(url, ping_interval=None, proxy=None) as ws:

            async def next_frame() -> str | bytes:
                """The next frame that is not a heartbeat (those come every 0.05 s)."""
                while (frame := await ws.recv()) == HEARTBEAT:
                    pass
                return frame

            await until_heartbeat(ws)
            await ws.send(json.dumps({"a": "subscribe", "v": [TOKEN]}))
            snapshot = await next_frame()
            assert isinstance(snapshot, bytes)
            assert kite_parse(snapshot)[0]["mode"] == "quote"  # Kite's default mode
            await ws.send(json.dumps({"a": "mode", "v": ["ltp", [TOKEN]]}))
            again = await next_frame()
            assert isinstance(again, bytes) and len(again) == 2 + 2 + 8
            rest = kite(server)
            await asyncio.to_thread(rest.place_order, variety="regular", exchange="NFO",
                                    tradingsymbol=SYMBOL, transaction_type="SELL", quantity=65,
                                    product="NRML", order_type="LIMIT", price=100.0, tag="RAW")
            rest.reqsession.close()
            kinds: list[str] = []
            while "COMPLETE" not in kinds:
                frame = await next_frame()
                if isinstance(frame, str):
                    kind, data = parse_text(frame)
                    assert kind == "order" and data["tag"] == "RAW"
                    kinds.append(data["status"])
                else:  # the fill's tick, in this connection's mode (ltp)
                    assert kite_parse(frame)[0] == {"tradable": True, "mode": "ltp",
                                                    "instrument_token": TOKEN,
                                                    "last_price": 100.0}
            await ws.send("nonsense")
            error = await next_frame()
            assert isinstance(error, str) and parse_text(error)[0] == "error"

    run(scenario)
