"""FakeTicker: Kite's WebSocket ticker for :class:`~imperium_exec.testing.FakeKiteServer`, and
the binary encoder that speaks Kite's tick format.

Why: the ticker client (:mod:`imperium_exec.brokers.kite.ticker`) must be tested on a real
socket against Kite's protocol (auth in the query string, JSON subscribe / unsubscribe / mode
messages, binary tick frames, 1-byte heartbeats, order updates as text frames), including the
failures that matter: abrupt drops, a socket that goes silent without closing, an expired
token refused at the handshake.

The encoder packs with the layouts defined in ``kite_ticker`` (one codec; the tests check that
``kiteconnect``'s own parser reads what it writes). The server runs ``websockets``' asyncio
server in its own thread and loop on 127.0.0.1, on an ephemeral port. Everything that other
threads call (:meth:`FakeTicker.push_tick`, :meth:`FakeTicker.push_order`,
:meth:`FakeTicker.close_all`) only hands work to that loop with ``call_soon_threadsafe``, so
the REST server may call them while holding its lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..brokers.kite.codec import (
    DEPTH_LEVEL_LAYOUT,
    DEPTH_LEVELS,
    FRAME_COUNT,
    FULL_HEAD_LAYOUT,
    INDEX_FULL_LAYOUT,
    INDEX_QUOTE_LAYOUT,
    LTP_LAYOUT,
    MAX_CONNECTIONS_PER_API_KEY,
    MAX_TOKENS_PER_CONNECTION,
    MODES,
    QUOTE_LAYOUT,
    SEGMENT_INDICES,
    DepthLevel,
    Tick,
    price_divisor,
    segment_of,
)

log = logging.getLogger(__name__)

#: The only address the fake ticker binds.
HOST = "127.0.0.1"
#: Kite's heartbeat: a 1-byte binary frame.
HEARTBEAT = b"\x00"
# Ours, in Kite's register (Kite's exact texts are not documented).
TOKEN_REFUSED = "Invalid `api_key` or `access_token`."
TOO_MANY_CONNECTIONS = (f"Maximum of {MAX_CONNECTIONS_PER_API_KEY} WebSocket connections "
                        "allowed per api_key.")
TOO_MANY_TOKENS = (f"Maximum of {MAX_TOKENS_PER_CONNECTION} instruments can be subscribed per "
                   "connection.")
INVALID_MESSAGE = "Invalid message."
SESSION_EXPIRED = "Session expired."
_EMPTY_LEVEL = DepthLevel(0.0, 0, 0)


# ---------------------------------------------------------------------------- encoder


def _price(value: float | None, divisor: float) -> int:
    return round((value or 0.0) * divisor)


def _count(value: int | None) -> int:
    return value or 0


def _stamp(value: float | None) -> int:
    return int(value) if value else 0


def _levels(levels: Sequence[DepthLevel]) -> list[DepthLevel]:
    if len(levels) > DEPTH_LEVELS:
        raise ValueError(f"at most {DEPTH_LEVELS} depth levels per side, got {len(levels)}")
    return [*levels, *([_EMPTY_LEVEL] * (DEPTH_LEVELS - len(levels)))]


def encode_packet(tick: Tick, mode: str | None = None) -> bytes:
    """One packet for ``tick`` in ``mode`` (default ``tick.mode``): 8 / 44 / 184 bytes, or
    8 / 28 / 32 for an index token (segment 9). Missing fields go out as zeros; depth is
    padded to five levels per side."""
    mode = mode or tick.mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    token = tick.instrument_token
    div = price_divisor(token)
    ltp = _price(tick.last_price, div)
    if mode == "ltp":
        return LTP_LAYOUT.pack(token, ltp)
    open_, high = _price(tick.open, div), _price(tick.high, div)
    low, close = _price(tick.low, div), _price(tick.close, div)
    if segment_of(token) == SEGMENT_INDICES:
        change = ltp - close if close else 0
        if mode == "quote":
            return INDEX_QUOTE_LAYOUT.pack(token, ltp, high, low, open_, close, change)
        return INDEX_FULL_LAYOUT.pack(token, ltp, high, low, open_, close, change,
                                      _stamp(tick.exchange_timestamp))
    quote = (token, ltp, _count(tick.last_quantity), _price(tick.average_price, div),
             _count(tick.volume), _count(tick.buy_quantity), _count(tick.sell_quantity),
             open_, high, low, close)
    if mode == "quote":
        return QUOTE_LAYOUT.pack(*quote)
    oi = _count(tick.oi)
    parts = [FULL_HEAD_LAYOUT.pack(*quote, _stamp(tick.last_trade_time), oi, oi, oi,
                                   _stamp(tick.exchange_timestamp))]
    for level in (*_levels(tick.depth_buy), *_levels(tick.depth_sell)):
        parts.append(DEPTH_LEVEL_LAYOUT.pack(level.quantity, _price(level.price, div),
                                             level.orders))
    return b"".join(parts)


def encode_full_packet(tick: Tick) -> bytes:
    """The 184-byte full packet (32 bytes for an index)."""
    return encode_packet(tick, "full")


def encode_frame(packets: Iterable[bytes]) -> bytes:
    """Packets to one binary frame: uint16 count, then uint16 length + packet each."""
    items = list(packets)
    parts = [FRAME_COUNT.pack(len(items))]
    for packet in items:
        parts.append(FRAME_COUNT.pack(len(packet)))
        parts.append(packet)
    return b"".join(parts)


# ---------------------------------------------------------------------------- server


@dataclass(eq=False)
class _Client:
    conn: ServerConnection
    api_key: str
    modes: dict[int, str] = field(default_factory=dict)  # token -> mode


class FakeTicker:
    """Kite's ticker WebSocket on 127.0.0.1 (own thread and loop).

    ``snapshot(token)`` returns the instrument's current full tick (None: unknown token);
    ``session_valid()`` says whether the REST session is alive. Pushes from other threads never
    block. Test controls: :meth:`drop`, :meth:`silence`, :meth:`close_all`; inspection:
    :attr:`connections`, :attr:`messages`, :attr:`handshakes`, :attr:`refused_handshakes`.
    """

    def __init__(self, *, api_key: str, access_token: str,
                 session_valid: Callable[[], bool], snapshot: Callable[[int], Tick | None],
                 heartbeat_s: float = 1.0,
                 on_heartbeat: Callable[[], None] | None = None) -> None:
        self._api_key = api_key
        #: Called every heartbeat (the ticker's thread): lets the server carry out what is due
        #: by the clock (a pending cancel), so its order update is pushed as Kite would.
        self._on_heartbeat = on_heartbeat
        self._access_token = access_token
        self._session_valid = session_valid
        self._snapshot = snapshot
        self._heartbeat_s = heartbeat_s
        self._clients: set[_Client] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._silent = False
        self._record_lock = threading.Lock()
        self._messages: list[Any] = []
        self._handshakes = 0
        self._refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._port = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeTicker:
        if self._thread is None:
            self._ready.clear()
            self._thread = threading.Thread(target=self._serve_thread, name="fake-kite-ticker",
                                            daemon=True)
            self._thread.start()
            if not self._ready.wait(5.0) or self._failure is not None:
                raise RuntimeError("the fake Kite ticker did not start") from self._failure
        return self

    def stop(self) -> None:
        """Close every connection (code 1001), stop the server and join its thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(5.0)
        self._thread = self._loop = self._stop = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self._port}"

    def _serve_thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread just ends
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server: Server = await serve(self._handle, HOST, 0,
                                     process_request=self._process_request,
                                     ping_interval=None, compression=None, close_timeout=0.5)
        self._port = int(server.sockets[0].getsockname()[1])
        heartbeat = asyncio.create_task(self._heartbeats(), name="fake-ticker-heartbeat")
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            heartbeat.cancel()
            server.close()
            await server.wait_closed()
            await asyncio.wait([heartbeat, *self._closing])

    # ---------------------------------------------------------------- pushes (any thread)

    def push_tick(self, tick: Tick) -> None:
        """Send ``tick`` to every connection subscribed to its token, in that connection's
        mode. Never blocks."""
        self._call_soon(self._broadcast_tick, tick)

    def push_order(self, order: dict[str, Any]) -> None:
        """Send ``{"type": "order", "data": order}`` to every connection. Never blocks."""
        self._call_soon(self._broadcast_text, {"type": "order", "data": order})

    def close_all(self, code: int = 1000, reason: str = "") -> None:
        """Close every connection with a close frame (as for an expired session)."""
        self._call_soon(self._close_all, code, reason)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # stopping: the loop is closed
            loop.call_soon_threadsafe(callback, *args)

    # ---------------------------------------------------------------- test controls

    def drop(self) -> int:
        """Abort every connection (no close frame: the TCP connection just dies). Waits until
        done; returns how many were dropped."""
        loop = self._loop
        if loop is None:
            return 0
        future: concurrent.futures.Future[int] = concurrent.futures.Future()

        def abort_all() -> None:
            clients = list(self._clients)
            for client in clients:
                client.conn.transport.abort()
                self._clients.discard(client)
            future.set_result(len(clients))

        loop.call_soon_threadsafe(abort_all)
        return future.result(5.0)

    def silence(self, silent: bool = True) -> None:
        """While silent, connections stay open but get nothing at all: no ticks, no order
        updates, no heartbeats (what a dead route looks like from the client)."""
        self._silent = silent

    @property
    def connections(self) -> int:
        return len(self._clients)

    @property
    def messages(self) -> list[Any]:
        """Client messages received, in order (parsed JSON; the raw text when not JSON)."""
        with self._record_lock:
            return list(self._messages)

    @property
    def handshakes(self) -> int:
        """Opening handshakes attempted, refused ones included."""
        with self._record_lock:
            return self._handshakes

    @property
    def refused_handshakes(self) -> int:
        with self._record_lock:
            return self._refused

    # ---------------------------------------------------------------- loop side

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Kite's handshake checks: credentials in the query (403 otherwise, and once the
        session has expired), at most 3 connections per api_key (429, ours)."""
        query = parse_qs(urlsplit(request.path).query)
        api_key = (query.get("api_key") or [""])[-1]
        token = (query.get("access_token") or [""])[-1]
        with self._record_lock:
            self._handshakes += 1
        response: Response | None = None
        if api_key != self._api_key or token != self._access_token or \
                not self._session_valid():
            response = conn.respond(403, TOKEN_REFUSED)
        elif sum(c.api_key == api_key for c in self._clients) >= MAX_CONNECTIONS_PER_API_KEY:
            response = conn.respond(429, TOO_MANY_CONNECTIONS)
        if response is not None:
            with self._record_lock:
                self._refused += 1
        return response

    async def _handle(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path if conn.request else "").query)
        client = _Client(conn, (query.get("api_key") or [""])[-1])
        self._clients.add(client)
        try:
            async for message in conn:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            if self._on_heartbeat is not None:
                self._on_heartbeat()
            if not self._silent:
                broadcast([c.conn for c in self._clients], HEARTBEAT)

    def _on_message(self, client: _Client, raw: str | bytes) -> None:
        try:
            message: Any = json.loads(raw)
        except ValueError:
            message = raw
        with self._record_lock:
            self._messages.append(message)
        action = message.get("a") if isinstance(message, dict) else None
        value = message.get("v") if isinstance(message, dict) else None
        if action in ("subscribe", "unsubscribe") and _is_token_list(value):
            tokens = list(value)
            if action == "unsubscribe":
                for token in tokens:
                    client.modes.pop(token, None)
                return
            new = list(dict.fromkeys(t for t in tokens if t not in client.modes))
            if len(client.modes) + len(new) > MAX_TOKENS_PER_CONNECTION:
                self._send_text(client, {"type": "error", "data": TOO_MANY_TOKENS})
                return
            for token in new:
                client.modes[token] = "quote"  # Kite's default mode for a subscription
            self._send_snapshots(client, new)
        elif action == "mode" and isinstance(value, list) and len(value) == 2 \
                and value[0] in MODES and _is_token_list(value[1]):
            mode = str(value[0])
            changed = [t for t in value[1] if t in client.modes and client.modes[t] != mode]
            for token in changed:
                client.modes[token] = mode
            self._send_snapshots(client, changed)
        else:
            self._send_text(client, {"type": "error", "data": INVALID_MESSAGE})

    def _send_snapshots(self, client: _Client, tokens: list[int]) -> None:
        """The current state of each (known) token, in the client's mode for it, one frame."""
        packets = []
        for token in tokens:
            tick = self._snapshot(token)
            if tick is not None:
                packets.append(encode_packet(tick, client.modes[token]))
        if packets and not self._silent:
            broadcast([client.conn], encode_frame(packets))

    def _send_text(self, client: _Client, payload: dict[str, Any]) -> None:
        if not self._silent:
            broadcast([client.conn], json.dumps(payload))

    def _broadcast_tick(self, tick: Tick) -> None:
        if self._silent:
            return
        by_mode: dict[str, list[ServerConnection]] = {}
        for client in self._clients:
            mode = client.modes.get(tick.instrument_token)
            if mode is not None:
                by_mode.setdefault(mode, []).append(client.conn)
        for mode, conns in by_mode.items():
            broadcast(conns, encode_frame([encode_packet(tick, mode)]))

    def _broadcast_text(self, payload: dict[str, Any]) -> None:
        if not self._silent:
            broadcast([c.conn for c in self._clients], json.dumps(payload))

    def _close_all(self, code: int, reason: str) -> None:
        for client in list(self._clients):
            task = asyncio.create_task(client.conn.close(code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


def _is_token_list(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value)


__all__ = [
    "HEARTBEAT",
    "HOST",
    "FakeTicker",
    "encode_frame",
    "encode_full_packet",
    "encode_packet",
]
