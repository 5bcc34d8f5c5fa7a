"""Kite's WebSocket ticker on the engine's asyncio loop: a reconnecting client.

Why our own client: ``kiteconnect.KiteTicker`` runs on Twisted's reactor, which cannot share a
thread with the engine's asyncio loop (or a Qt host) and cannot be restarted in one process. Its
reconnect logic also trusts the socket to report its own death, and Kite's socket can go silent
without a close (pykiteconnect issue #229). This client runs on the caller's running loop with
``websockets`` and does its own timing through ``loop.time()`` (so a virtual-time loop stays
deterministic):

- **Codec.** :mod:`~imperium_exec.brokers.kite.codec` reads Kite's binary frames and text
  messages into :class:`Tick` and ``(type, data)``; its names are re-exported here.
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
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.uri import parse_uri

from .codec import (
    MAX_CONNECTIONS_PER_API_KEY,
    MAX_TOKENS_PER_CONNECTION,
    MODES,
    DepthLevel,
    Tick,
    parse_frame,
    parse_packet,
    parse_text,
    price_divisor,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- the URL


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
    ``on_order_update(order_dict)`` for ``{"type": "order"}`` text frames whose data has an
    ``order_id`` (others are logged and dropped), ``on_connect()`` after each handshake,
    ``on_disconnect(reason)`` after each connection ends,
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
        if kind == "order":
            if isinstance(data, dict) and data.get("order_id"):
                self._fire(self._on_order_update, data)
            else:  # e.g. {"type": "order", "data": {}}: nothing to apply
                log.info("Kite ticker order message without an order_id ignored: %r", data)
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
