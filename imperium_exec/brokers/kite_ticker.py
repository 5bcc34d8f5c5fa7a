"""Kite's WebSocket ticker on the engine's asyncio loop: frame codec and a reconnecting client.

Why our own client: ``kiteconnect.KiteTicker`` runs on Twisted's reactor, which cannot share a
thread with the engine's asyncio loop (or a Qt host) and cannot be restarted in one process. Its
reconnect logic also trusts the socket to report its own death, and Kite's socket can go silent
without a close (pykiteconnect issue #229). This client runs on the caller's running loop with
``websockets`` and does its own timing through ``loop.time()`` (so a virtual-time loop stays
deterministic):

- **Codec.** :func:`parse_frame` reads Kite's binary frames (reference ``kite-connect.md`` §9):
  a big-endian uint16 packet count, then per packet a uint16 length and the packet. Packets of
  8 (ltp), 28/32 (index quote/full), 44 (quote) and 184 bytes (full, 5+5 depth levels) become
  :class:`Tick`; other lengths are skipped. The layouts below are the single definition of the
  format: the fake server's encoder (``imperium_exec.testing.fake_ticker``) packs with them.
  Timestamps stay epoch seconds (kiteconnect turns them into naive host-local datetimes).
  Prices are read as signed int32 and quantities as unsigned (kiteconnect reads everything
  unsigned; the two agree on every non-negative price).
- **Client.** :class:`KiteTickerClient` remembers subscriptions and re-sends them after every
  reconnect; reconnects with exponential backoff and seeded jitter; treats ``silence_s`` without
  any frame (heartbeats count) as a dead socket; stops for good, after one ``on_token_error``,
  when the handshake is refused with HTTP 403 (expired or wrong access token), because
  retrying a dead token only hammers Kite. The library's own pings are off, so that the
  watchdog is the only liveness rule and it is ours.

All callbacks run on the loop thread. An exception raised by a callback is logged and
swallowed: a bug in a consumer must not take market data down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.uri import parse_uri

log = logging.getLogger(__name__)

#: Streaming modes, least to most data.
MODES: Final = ("ltp", "quote", "full")
#: Kite's limits (reference §9): instruments per connection, connections per API key.
MAX_TOKENS_PER_CONNECTION: Final = 3_000
MAX_CONNECTIONS_PER_API_KEY: Final = 3

# Segment codes in the low byte of an instrument token (kiteconnect's EXCHANGE_MAP).
SEGMENT_CDS: Final = 3
SEGMENT_BCD: Final = 6
SEGMENT_INDICES: Final = 9
SEGMENT_NCO: Final = 12

# ---------------------------------------------------------------------------- binary layouts
# Shared with the fake server's encoder: one definition of the wire format.

#: Frame header and per-packet length prefix.
FRAME_COUNT: Final = struct.Struct(">H")
#: ltp (8): token, last_price.
LTP_LAYOUT: Final = struct.Struct(">Ii")
#: Index quote (28): token, last_price, high, low, open, close, change (price units; unused).
INDEX_QUOTE_LAYOUT: Final = struct.Struct(">Iiiiiii")
#: Index full (32): the index quote, then exchange_timestamp.
INDEX_FULL_LAYOUT: Final = struct.Struct(">IiiiiiiI")
#: quote (44): token, last_price, last_quantity, average_price, volume, buy_quantity,
#: sell_quantity, open, high, low, close.
QUOTE_LAYOUT: Final = struct.Struct(">IiIiIIIiiii")
#: Head of a full packet (64): the quote, then last_trade_time, oi, oi_day_high, oi_day_low,
#: exchange_timestamp.
FULL_HEAD_LAYOUT: Final = struct.Struct(">IiIiIIIiiiiIIIII")
#: One depth level (12): quantity, price, orders, 2 padding bytes. Five buy, then five sell.
DEPTH_LEVEL_LAYOUT: Final = struct.Struct(">IiH2x")
DEPTH_LEVELS: Final = 5
FULL_PACKET_SIZE: Final = FULL_HEAD_LAYOUT.size + 2 * DEPTH_LEVELS * DEPTH_LEVEL_LAYOUT.size

assert LTP_LAYOUT.size == 8 and INDEX_QUOTE_LAYOUT.size == 28 and INDEX_FULL_LAYOUT.size == 32
assert QUOTE_LAYOUT.size == 44 and FULL_HEAD_LAYOUT.size == 64 and FULL_PACKET_SIZE == 184


def segment_of(instrument_token: int) -> int:
    """The exchange segment code Kite keeps in a token's low byte."""
    return instrument_token & 0xFF


def price_divisor(instrument_token: int) -> float:
    """What a packet's integer prices are divided by: paise (100) except currency segments
    (CDS 1e7; BCD and NCO 1e4), as kiteconnect does."""
    segment = segment_of(instrument_token)
    if segment == SEGMENT_CDS:
        return 10_000_000.0
    if segment in (SEGMENT_BCD, SEGMENT_NCO):
        return 10_000.0
    return 100.0


# ---------------------------------------------------------------------------- ticks


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One market-depth level; an empty level is all zeros, as Kite sends it."""

    price: float
    quantity: int
    orders: int


@dataclass(frozen=True, slots=True)
class Tick:
    """One instrument's packet. Fields a mode does not carry are None (depth: empty).

    ``last_trade_time`` and ``exchange_timestamp`` are epoch seconds (None when the packet
    carries 0, i.e. no trade yet). ``buy_quantity`` / ``sell_quantity`` are the total pending
    quantities on each side.
    """

    instrument_token: int
    mode: str
    tradable: bool
    last_price: float
    last_quantity: int | None = None
    average_price: float | None = None
    volume: int | None = None
    buy_quantity: int | None = None
    sell_quantity: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    last_trade_time: float | None = None
    oi: int | None = None
    exchange_timestamp: float | None = None
    depth_buy: tuple[DepthLevel, ...] = ()
    depth_sell: tuple[DepthLevel, ...] = ()

    @property
    def bid(self) -> float | None:
        """Best bid price (full mode), None when the level is empty."""
        return _touch_price(self.depth_buy)

    @property
    def ask(self) -> float | None:
        """Best ask price (full mode), None when the level is empty."""
        return _touch_price(self.depth_sell)

    @property
    def bid_quantity(self) -> int:
        """Quantity at the best bid, 0 when the level is empty."""
        return _touch_quantity(self.depth_buy)

    @property
    def ask_quantity(self) -> int:
        """Quantity at the best ask, 0 when the level is empty."""
        return _touch_quantity(self.depth_sell)


def _touch_price(levels: tuple[DepthLevel, ...]) -> float | None:
    if not levels or levels[0].price == 0 or levels[0].quantity == 0:
        return None
    return levels[0].price


def _touch_quantity(levels: tuple[DepthLevel, ...]) -> int:
    if not levels or levels[0].price == 0 or levels[0].quantity == 0:
        return 0
    return levels[0].quantity


def _epoch(seconds: int) -> float | None:
    return float(seconds) if seconds > 0 else None


def parse_packet(packet: bytes) -> Tick | None:
    """One packet to a :class:`Tick`; None for a length Kite's format does not define."""
    size = len(packet)
    if size < LTP_LAYOUT.size:
        return None
    token = int.from_bytes(packet[:4], "big")
    div = price_divisor(token)
    tradable = segment_of(token) != SEGMENT_INDICES
    if size == LTP_LAYOUT.size:
        _, ltp = LTP_LAYOUT.unpack(packet)
        return Tick(token, "ltp", tradable, ltp / div)
    if size in (INDEX_QUOTE_LAYOUT.size, INDEX_FULL_LAYOUT.size):
        _, ltp, high, low, open_, close, _change = INDEX_QUOTE_LAYOUT.unpack_from(packet)
        stamp = None
        if size == INDEX_FULL_LAYOUT.size:
            stamp = _epoch(INDEX_FULL_LAYOUT.unpack(packet)[-1])
        mode = "full" if size == INDEX_FULL_LAYOUT.size else "quote"
        return Tick(token, mode, tradable, ltp / div, open=open_ / div, high=high / div,
                    low=low / div, close=close / div, exchange_timestamp=stamp)
    if size in (QUOTE_LAYOUT.size, FULL_PACKET_SIZE):
        full = size == FULL_PACKET_SIZE
        fields = (FULL_HEAD_LAYOUT if full else QUOTE_LAYOUT).unpack_from(packet)
        _, ltp, ltq, atp, volume, buy_qty, sell_qty, open_, high, low, close = fields[:11]
        levels = tuple(
            DepthLevel(price / div, quantity, orders)
            for quantity, price, orders in DEPTH_LEVEL_LAYOUT.iter_unpack(
                packet[FULL_HEAD_LAYOUT.size:])) if full else ()
        return Tick(token, "full" if full else "quote", tradable, ltp / div,
                    last_quantity=ltq, average_price=atp / div, volume=volume,
                    buy_quantity=buy_qty, sell_quantity=sell_qty, open=open_ / div,
                    high=high / div, low=low / div, close=close / div,
                    last_trade_time=_epoch(fields[11]) if full else None,
                    oi=fields[12] if full else None,
                    exchange_timestamp=_epoch(fields[15]) if full else None,
                    depth_buy=levels[:DEPTH_LEVELS], depth_sell=levels[DEPTH_LEVELS:])
    return None


def parse_frame(data: bytes) -> list[Tick]:
    """A binary frame to its ticks. A 1-byte frame is Kite's heartbeat: ``[]``.

    Unknown packet lengths are skipped; a frame cut short yields the packets before the cut
    (logged), never an exception: one bad frame must not stop the feed.
    """
    if len(data) < FRAME_COUNT.size:
        return []
    (count,) = FRAME_COUNT.unpack_from(data)
    ticks: list[Tick] = []
    offset = FRAME_COUNT.size
    for _ in range(count):
        if offset + FRAME_COUNT.size > len(data):
            log.warning("ticker frame truncated: %d of %d packets read", len(ticks), count)
            break
        (length,) = FRAME_COUNT.unpack_from(data, offset)
        offset += FRAME_COUNT.size
        packet = data[offset:offset + length]
        offset += length
        if len(packet) < length:
            log.warning("ticker frame truncated inside a %d-byte packet", length)
            break
        tick = parse_packet(packet)
        if tick is None:
            log.debug("skipped a ticker packet of unknown length %d", length)
        else:
            ticks.append(tick)
    return ticks


def parse_text(message: str) -> tuple[str, Any]:
    """A text frame to ``(type, data)``: ``("order", {order dict as in GET /orders})``,
    ``("error", "...")``, ``("message", ...)``. Not JSON: ``("invalid", message)``; JSON
    without a type: ``("unknown", payload)``."""
    try:
        payload = json.loads(message)
    except ValueError:
        return "invalid", message
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "unknown", payload
    return payload["type"], payload.get("data")


def ticker_url(root: str, api_key: str, access_token: str) -> str:
    """Kite's socket URL: the root with ``api_key`` and ``access_token`` in the query."""
    separator = "&" if "?" in root else "?"
    return root + separator + urlencode({"api_key": api_key, "access_token": access_token})


# ---------------------------------------------------------------------------- the client


class KiteTickerClient:
    """A reconnecting Kite ticker client on the running asyncio loop.

    Create it anywhere, then :meth:`start` it on the loop thread; :meth:`subscribe` /
    :meth:`unsubscribe` at any time on that thread (remembered, sent at once when connected,
    re-sent after every reconnect). ``await stop()`` closes the socket and ends every task it
    started. Callbacks: ``on_ticks(list[Tick])`` for non-empty binary frames,
    ``on_order_update(order_dict)`` for ``{"type": "order"}`` text frames, ``on_connect()``
    after each handshake, ``on_disconnect(reason)`` after each connection ends,
    ``on_token_error(reason)`` once when Kite refuses the access token (the client then stops),
    ``on_error(reason)`` for failed attempts and Kite's ``{"type": "error"}`` frames.

    ``rng`` draws the reconnect jitter (seeded ``random.Random(0)`` by default, so a run is
    reproducible); ``proxy`` is an explicit proxy URL for ``websockets`` (None: connect
    directly, environment proxies ignored, as kiteconnect does).
    """

    def __init__(self, url: str, api_key: str, access_token: str, *,
                 on_ticks: Callable[[list[Tick]], None],
                 on_order_update: Callable[[dict[str, Any]], None],
                 on_connect: Callable[[], None] | None = None,
                 on_disconnect: Callable[[str], None] | None = None,
                 on_token_error: Callable[[str], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 silence_s: float = 10.0, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0, connect_timeout_s: float = 5.0,
                 mode: str = "full", rng: random.Random | None = None,
                 proxy: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if silence_s <= 0 or connect_timeout_s <= 0:
            raise ValueError("silence_s and connect_timeout_s must be positive")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        self._url = ticker_url(url, api_key, access_token)
        parse_uri(self._url)  # a malformed URL fails here, not in a reconnect loop
        self._on_ticks = on_ticks
        self._on_order_update = on_order_update
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_token_error = on_token_error
        self._on_error = on_error
        self._silence_s = silence_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._connect_timeout_s = connect_timeout_s
        self._mode = mode
        self._rng = rng if rng is not None else random.Random(0)
        self._proxy = proxy
        self._tokens: set[int] = set()
        self._ws: ClientConnection | None = None
        self._outbox: deque[str] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_session = False
        self._stopping = False
        #: Handshakes that succeeded / connections that ended / handshakes tried.
        self.connects = 0
        self.disconnects = 0
        self.attempts = 0
        #: True once Kite refused the access token (the client has stopped for good).
        self.token_refused = False
        #: ``loop.time()`` of the latest frame (heartbeats included), None before any.
        self.last_frame_at: float | None = None

    # ---------------------------------------------------------------- public API

    @property
    def connected(self) -> bool:
        """A socket is open (handshake done, not yet closed)."""
        return self._ws is not None

    @property
    def subscribed(self) -> frozenset[int]:
        """The tokens this client wants, whether or not it is connected now."""
        return frozenset(self._tokens)

    @property
    def mode(self) -> str:
        return self._mode

    def start(self) -> None:
        """Start connecting on the running loop (call on the loop thread). Idempotent."""
        if self._stopping:
            raise RuntimeError("a stopped KiteTickerClient cannot be restarted")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="kite-ticker")

    async def stop(self) -> None:
        """Close the socket (close frame, then wait briefly for Kite's) and end every task.
        Idempotent; safe before :meth:`start`."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        if self._in_session:
            # Let the session end by itself (its bookkeeping and on_disconnect run); the run
            # loop sees _stopping and returns instead of reconnecting.
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()
        else:
            task.cancel()  # connecting or waiting out a backoff: nothing to tidy up
        await asyncio.wait([task])

    def subscribe(self, tokens: Iterable[int]) -> None:
        """Add tokens in this client's mode; new ones go out at once when connected."""
        new = sorted({int(t) for t in tokens} - self._tokens)
        if not new:
            return
        self._tokens.update(new)
        if len(self._tokens) > MAX_TOKENS_PER_CONNECTION:
            log.warning("%d tokens subscribed: Kite allows %d per connection",
                        len(self._tokens), MAX_TOKENS_PER_CONNECTION)
        self._send({"a": "subscribe", "v": new})
        self._send({"a": "mode", "v": [self._mode, new]})

    def unsubscribe(self, tokens: Iterable[int]) -> None:
        """Drop tokens; sent at once when connected, and not re-subscribed on reconnect."""
        gone = sorted({int(t) for t in tokens} & self._tokens)
        if not gone:
            return
        self._tokens.difference_update(gone)
        self._send({"a": "unsubscribe", "v": gone})

    # ---------------------------------------------------------------- internals

    def _send(self, message: dict[str, Any]) -> None:
        """Queue a message for the live connection; while disconnected, drop it (the
        reconnect re-sends the whole subscription)."""
        if self._wake is None:
            return
        self._outbox.append(json.dumps(message, separators=(",", ":")))
        self._wake.set()

    async def _writer(self, ws: ClientConnection, wake: asyncio.Event) -> None:
        """The only sender on a connection, so messages leave in the order they were queued."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await wake.wait()
                wake.clear()
                while self._outbox:
                    await ws.send(self._outbox.popleft())

    def _fire(self, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("KiteTickerClient callback %s raised",
                          getattr(callback, "__qualname__", callback))

    def _backoff(self, failures: int) -> float:
        """Exponential delay for the n-th consecutive failure, shortened by up to a quarter
        at random so that clients restarted together do not reconnect in step."""
        base = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** min(failures, 32))
        return base * (1.0 - 0.25 * self._rng.random())

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self.attempts += 1
            try:
                ws = await connect(
                    self._url, open_timeout=self._connect_timeout_s, ping_interval=None,
                    ping_timeout=None, close_timeout=min(1.0, self._connect_timeout_s),
                    compression=None, proxy=self._proxy, max_size=2**23,
                    user_agent_header="imperium-exec KiteTickerClient")
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status == 403:
                    self.token_refused = True
                    self._stopping = True
                    log.error("Kite ticker refused the access token (HTTP 403); stopping")
                    self._fire(self._on_token_error,
                               "handshake refused with HTTP 403: access token invalid or "
                               "expired")
                    return
                self._fire(self._on_error, f"handshake refused with HTTP {status}")
            except Exception as exc:  # any failed attempt means: back off and retry
                self._fire(self._on_error, f"connect failed: {exc!r}")
            else:
                if await self._session(ws):
                    failures = 0
            if self._stopping:
                return
            await asyncio.sleep(self._backoff(failures))
            failures += 1

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection until it closes, goes silent or the client stops. Returns
        whether any frame arrived (a connection that never delivers counts as a failure for
        the backoff, so a server that accepts and hangs up is not hammered)."""
        loop = asyncio.get_running_loop()
        self._in_session = True
        self._ws = ws
        self._outbox.clear()
        wake = self._wake = asyncio.Event()
        self.connects += 1
        if self._tokens:
            tokens = sorted(self._tokens)
            self._send({"a": "subscribe", "v": tokens})
            self._send({"a": "mode", "v": [self._mode, tokens]})
        writer = loop.create_task(self._writer(ws, wake), name="kite-ticker-writer")
        self._fire(self._on_connect)
        received = False
        reason = "stopped"
        try:
            while True:
                try:
                    async with asyncio.timeout(self._silence_s):
                        message = await ws.recv()
                except TimeoutError:
                    reason = f"no frame for {self._silence_s:g} s: dropping the silent socket"
                    log.warning("Kite ticker %s", reason)
                    break
                received = True
                self.last_frame_at = loop.time()
                self._dispatch(message)
        except ConnectionClosed as exc:
            reason = _close_reason(exc) if not self._stopping else "stopped"
        finally:
            self._ws = None
            self._wake = None
            self._outbox.clear()
            writer.cancel()
            await asyncio.wait([writer])
            if ws.state is not State.CLOSED:
                ws.transport.abort()  # silent or cancelled: no point in a closing handshake
                await ws.wait_closed()
            self.disconnects += 1
            self._in_session = False
            self._fire(self._on_disconnect, reason)
        return received

    def _dispatch(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            if len(message) <= 1:
                return  # heartbeat: it only feeds the watchdog
            ticks = parse_frame(message)
            if ticks:
                self._fire(self._on_ticks, ticks)
            return
        kind, data = parse_text(message)
        if kind == "order" and isinstance(data, dict):
            self._fire(self._on_order_update, data)
        elif kind == "error":
            log.warning("Kite ticker error: %s", data)
            self._fire(self._on_error, str(data))
        else:
            log.info("Kite ticker %s message: %r", kind, data)


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost (no close frame)"
    return f"closed with code {frame.code}" + (f": {frame.reason}" if frame.reason else "")


__all__ = [
    "MAX_CONNECTIONS_PER_API_KEY",
    "MAX_TOKENS_PER_CONNECTION",
    "MODES",
    "DepthLevel",
    "KiteTickerClient",
    "Tick",
    "parse_frame",
    "parse_packet",
    "parse_text",
    "price_divisor",
    "ticker_url",
]
