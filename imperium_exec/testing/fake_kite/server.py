"""FakeKiteServer: the fake's face. It owns the lock, the clock, the HTTP server and the ticker,
checks each request (route, session, rate limit, scripted fault) and hands it to its route.

Threading: one lock around all state; replies that a fault delays sleep outside it; ticker
pushes made under the lock only hand work to the ticker's loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...brokers.kite.codec import Tick
from ..fake_ticker import FakeTicker
from .errors import BAD_SESSION, KiteError
from .exchange import Exchange
from .faults import Fault
from .http_server import HOST, HTTPServer, Reply, error, fault_reply
from .instruments import DEFAULT_INSTRUMENTS, DEFAULT_SPOTS, FakeInstrument
from .limits import RateCounter, RateLimits
from .market_data import book_tick, instrument_by_token
from .records import Book, RecordedRequest
from .routes import BUCKETS, dispatch, match_route


class FakeKiteServer:
    """A thread-safe fake Kite REST server on 127.0.0.1 with scripted faults.

    Use as a context manager (or :meth:`start` / :meth:`stop`); ``root`` is the URL to give
    ``KiteConnect(root=...)``, ``ticker_root`` the ticker's. Test controls: :meth:`set_quote`,
    :meth:`fill`, :meth:`reject`, :meth:`fail_next`, :meth:`clear_faults`, :meth:`expire_session`,
    :meth:`drop_ticker`, :meth:`silence_ticker`. Inspection: :meth:`recorded_orders`,
    :meth:`order`, :attr:`requests`, :attr:`ticker_connections`, :attr:`ticker_messages`,
    :attr:`ticker_handshakes`.
    """

    def __init__(self, *, instruments: Iterable[FakeInstrument] = DEFAULT_INSTRUMENTS,
                 api_key: str = "k", access_token: str = "t",
                 clock: Callable[[], float] = time.time,
                 rate_limits: RateLimits | None = None, margin: float = 5e7,
                 spots: Mapping[str, float] | None = None, short_margin_fraction: float = 0.12,
                 cancel_pending_s: float = 0.0, modify_pending_s: float = 0.0,
                 max_modifications: int = 25, user_id: str = "AB1234",
                 request_log_size: int = 10_000, ticker_heartbeat_s: float = 1.0) -> None:
        self._exchange = Exchange(instruments, margin=margin,
                                  spots=DEFAULT_SPOTS if spots is None else spots,
                                  short_margin_fraction=short_margin_fraction,
                                  cancel_pending_s=cancel_pending_s, user_id=user_id,
                                  on_order=self._push_order, on_book=self._push_tick)
        self._exchange.modify_pending_s = modify_pending_s
        self._exchange.max_modifications = max_modifications
        self._api_key, self._access_token = api_key, access_token
        self._auth = f"token {api_key}:{access_token}"
        self._clock = clock
        self._rates = RateCounter(rate_limits or RateLimits())
        self._lock = threading.RLock()
        self._faults: dict[str, deque[Fault]] = {}
        self._session_valid = True
        #: Replies sent, by HTTP status.
        self.replies: Counter[int] = Counter()
        #: The latest requests received (oldest dropped beyond ``request_log_size``).
        self.requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self._stopping = threading.Event()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ticker_heartbeat_s = ticker_heartbeat_s
        self._ticker: FakeTicker | None = None
        self._ticker_start_lock = threading.Lock()

    # ---------------------------------------------------------------- the account

    @property
    def margin(self) -> float:
        """The account's funds before premium, blocked funds and short margin."""
        return self._exchange.margin

    @margin.setter
    def margin(self, value: float) -> None:
        self._exchange.margin = value

    @property
    def spots(self) -> dict[str, float]:
        """Underlying -> its price, for the naked short margin (``short_margin_fraction x
        spot``); an underlying missing here is taken at the highest strike of its legs."""
        return self._exchange.spots

    @spots.setter
    def spots(self, value: dict[str, float]) -> None:
        self._exchange.spots = value

    @property
    def short_margin_fraction(self) -> float:
        return self._exchange.short_margin_fraction

    @short_margin_fraction.setter
    def short_margin_fraction(self, value: float) -> None:
        self._exchange.short_margin_fraction = value

    @property
    def cancel_pending_s(self) -> float:
        """How long a cancel of an order at the exchange stays ``CANCEL PENDING`` (0: none)."""
        return self._exchange.cancel_pending_s

    @cancel_pending_s.setter
    def cancel_pending_s(self, value: float) -> None:
        self._exchange.cancel_pending_s = value

    @property
    def modify_pending_s(self) -> float:
        """How long an accepted modification stays ``MODIFY PENDING`` before the exchange
        applies it (0: at once); the order works at its old terms meanwhile."""
        return self._exchange.modify_pending_s

    @modify_pending_s.setter
    def modify_pending_s(self, value: float) -> None:
        self._exchange.modify_pending_s = value

    @property
    def max_modifications(self) -> int:
        """Modifications accepted per order (Kite: 25); the next is refused."""
        return self._exchange.max_modifications

    @max_modifications.setter
    def max_modifications(self, value: int) -> None:
        self._exchange.max_modifications = value

    @property
    def user_id(self) -> str:
        return self._exchange.user_id

    @user_id.setter
    def user_id(self, value: str) -> None:
        self._exchange.user_id = value

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeKiteServer:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = HTTPServer(self.handle, self._stopping)
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.01},
                                            name="fake-kite", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes replies a fault is holding back
        with self._ticker_start_lock:
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> FakeKiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake Kite server is not started")
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        """What to pass as ``KiteConnect(root=...)`` (served at the host root)."""
        return f"http://{HOST}:{self.port}"

    # ---------------------------------------------------------------- the ticker

    @property
    def ticker_root(self) -> str:
        """The ticker's ``ws://127.0.0.1:PORT`` (started on first use; :meth:`stop` ends it).
        Clients append ``?api_key=..&access_token=..`` as Kite's do."""
        return self._ticker_server().url

    def _ticker_server(self) -> FakeTicker:
        with self._ticker_start_lock:
            if self._ticker is None:
                self._ticker = FakeTicker(api_key=self._api_key,
                                          access_token=self._access_token,
                                          session_valid=lambda: self._session_valid,
                                          snapshot=self._ticker_snapshot,
                                          heartbeat_s=self.ticker_heartbeat_s,
                                          on_heartbeat=self._advance_now).start()
            return self._ticker

    def _advance_now(self) -> None:
        with self._lock:
            self._exchange.advance(self._clock())

    def _push_order(self, data: dict[str, Any]) -> None:
        """A visible order changed: hand its postback to the ticker (never blocks)."""
        ticker = self._ticker
        if ticker is not None:
            ticker.push_order(data)

    def _push_tick(self, inst: FakeInstrument, book: Book, now: float) -> None:
        """Hand the book's new state to the ticker (never blocks: call_soon_threadsafe)."""
        ticker = self._ticker
        if ticker is not None:
            ticker.push_tick(book_tick(inst, book, now))

    def _ticker_snapshot(self, instrument_token: int) -> Tick | None:
        """For a new subscription (ticker thread): the current tick, None if not listed."""
        with self._lock:
            inst = instrument_by_token(self._exchange, instrument_token)
            if inst is None:
                return None
            return book_tick(inst, self._exchange.books.get(inst.key, Book()), self._clock())

    def drop_ticker(self) -> int:
        """Abort every ticker connection (no close frame); returns how many were dropped."""
        ticker = self._ticker
        return ticker.drop() if ticker is not None else 0

    def silence_ticker(self, silent: bool = True) -> None:
        """Keep ticker connections open but send nothing at all, heartbeats included (the
        silent socket of pykiteconnect issue #229), until ``silence_ticker(False)``."""
        self._ticker_server().silence(silent)

    @property
    def ticker_connections(self) -> int:
        """Open ticker connections."""
        ticker = self._ticker
        return ticker.connections if ticker is not None else 0

    @property
    def ticker_messages(self) -> list[Any]:
        """Every message ticker clients sent, in order (parsed JSON)."""
        ticker = self._ticker
        return ticker.messages if ticker is not None else []

    @property
    def ticker_handshakes(self) -> int:
        """Ticker handshakes attempted, refused ones (403, 429) included."""
        ticker = self._ticker
        return ticker.handshakes if ticker is not None else 0

    # ---------------------------------------------------------------- test controls

    def add_instrument(self, instrument: FakeInstrument) -> None:
        with self._lock:
            self._exchange.instruments[instrument.key] = instrument

    def set_spot(self, underlying: str, spot: float) -> None:
        """Move an underlying's price (the naked short margin follows it)."""
        with self._lock:
            self._exchange.spots[underlying] = float(spot)

    def set_quote(self, tradingsymbol: str, *, bid: float, ask: float,
                  bid_quantity: int | None = None, ask_quantity: int | None = None,
                  ltp: float | None = None, volume: int | None = None,
                  exchange: str = "NFO") -> None:
        """Set an instrument's touch (quantities default to 50 lots); resting orders that the
        new touch crosses fill against it."""
        with self._lock:
            inst = self._exchange.instrument(exchange, tradingsymbol)
            self._exchange.set_quote(inst, bid=bid, ask=ask, bid_quantity=bid_quantity,
                                     ask_quantity=ask_quantity, ltp=ltp, volume=volume,
                                     now=self._clock())

    def fill(self, order_id: str, quantity: int | None = None,
             price: float | None = None) -> None:
        """Fill a working order (all that is left by default) at ``price`` (its limit by
        default): the market traded through it."""
        with self._lock:
            self._exchange.fill(order_id, quantity, price, self._clock())

    def open_market(self) -> None:
        """The session opens: after-market orders (variety ``amo``) waiting in ``AMO REQ
        RECEIVED`` go to the exchange (``OPEN PENDING`` -> ``OPEN``) and match the book."""
        with self._lock:
            self._exchange.open_market(self._clock())

    def reject(self, order_id: str, message: str | None = None, raw: str | None = None) -> None:
        """Reject an order asynchronously, as Kite's RMS does (margin text by default)."""
        with self._lock:
            self._exchange.reject(order_id, message, raw, self._clock())

    def fail_next(self, route: str, *faults: Fault) -> None:
        """Script faults for the next requests on ``route``: place, modify, cancel, orders,
        order_history, trades, quote, instruments, margins, order_margins, basket_margins,
        positions."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(faults)

    def clear_faults(self) -> list[tuple[str, Fault]]:
        """Drop every scripted fault not used yet; returns them as (route, fault)."""
        with self._lock:
            left = [(route, fault) for route, queue in self._faults.items() for fault in queue]
            self._faults.clear()
            return left

    def expire_session(self) -> None:
        """Every request from now on gets 403 TokenException (until :meth:`restore_session`);
        open ticker connections are closed (code 1000) and new handshakes refused with 403."""
        with self._lock:
            self._session_valid = False
        ticker = self._ticker
        if ticker is not None:
            ticker.close_all(1000, "session expired")

    def restore_session(self) -> None:
        with self._lock:
            self._session_valid = True

    # ---------------------------------------------------------------- inspection

    def recorded_orders(self) -> list[dict[str, Any]]:
        """Every order the server holds, including ones not yet shown in the order book."""
        with self._lock:
            self._exchange.advance(self._clock())
            return [self._exchange.order_dict(o) for o in self._exchange.orders.values()]

    def order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            self._exchange.advance(self._clock())
            return self._exchange.order_dict(self._exchange.orders[order_id])

    def requests_to(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    @property
    def throttled(self) -> int:
        """Requests answered 429 so far (a client that keeps to Kite's limits provokes none)."""
        with self._lock:
            return self.replies[429]

    # ---------------------------------------------------------------- requests

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, str], authorization: str | None, body: Any = None) -> Reply:
        """Answer one request (called by the HTTP handler; any thread). ``body``: a JSON
        request body, parsed."""
        reply = self._answer(method, path, query, form, authorization, body)
        with self._lock:
            self.replies[reply.status] += 1
        return reply

    def _answer(self, method: str, path: str, query: dict[str, list[str]],
                form: dict[str, str], authorization: str | None, body: Any) -> Reply:
        """Log the request, then check its route, session, rate limit and scripted fault, in
        that order, before the route answers it."""
        with self._lock:
            now = self._clock()
            route, args = match_route(method, path)
            self.requests.append(RecordedRequest(now, method, path, route, dict(form),
                                                 {k: list(v) for k, v in query.items()},
                                                 body))
            if route is None:
                return error(404, "GeneralException", "Route not found")
            if not self._session_valid or authorization != self._auth:
                return error(403, "TokenException", BAD_SESSION)
            refusal = self._rates.admit(BUCKETS.get(route, "read"), now)
            if refusal is not None:
                return error(429, "NetworkException", refusal)
            self._exchange.advance(now)
            queue = self._faults.get(route)
            fault = queue.popleft() if queue else None
            if fault is not None and fault.replaces_reply and not fault.record:
                return fault_reply(fault)
            try:
                reply = dispatch(self._exchange, route, args, query, form, now, fault, body)
            except KiteError as exc:
                return error(exc.status, exc.error_type, exc.message)
            if fault is not None:
                if fault.replaces_reply:
                    reply = fault_reply(fault)
                reply.delay_s = fault.delay_s
            return reply
