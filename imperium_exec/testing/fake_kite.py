"""FakeKiteServer: a local Kite Connect v3 REST server that the real ``kiteconnect`` client drives.

Why: the Kite adapter and the engine's duplicate-order protection must be tested against the
client library's own behaviour (exceptions chosen from the JSON ``error_type``, transport errors
raised by ``requests``, CSV instruments, naive IST timestamps), not against a hand-made mock of
it. Point ``KiteConnect(api_key="k", access_token="t", root=server.root, timeout=0.5)`` here.

Faithful to Kite Connect v3 as documented at kite.trade/docs/connect/v3 (orders, order book,
quotes, instruments, the ticker) and as measured on the live path:

- The envelope ``{"status": "success", "data": ...}`` / ``{"status": "error", "message",
  "error_type", "data": null}`` with the HTTP status; ``Content-Type: application/json``, and
  ``text/csv`` for instruments. IDs are strings, timestamps naive IST ``YYYY-MM-DD HH:MM:SS``.
- Routes: ``POST /orders/{variety}``, ``DELETE /orders/{variety}/{id}``, ``GET /orders``,
  ``GET /orders/{id}`` (history), ``GET /orders/{id}/trades``, ``GET /trades``, ``GET /quote``
  (+ ``/ltp``, ``/ohlc``; an index key such as ``NSE:NIFTY 50`` that is not listed as an
  instrument is quoted at its underlying's spot, as Kite quotes an index: a last price, no
  depth), ``GET /instruments[/{exchange}]``, ``GET /user/margins[/{segment}]``,
  ``POST /margins/basket`` (JSON body). The extra form fields the client sends (``variety``,
  ``order_id``) are ignored.
- Validation as 400 ``InputException``: lot multiple, freeze quantity, tick, market protection
  (required for MARKET, 0 refused), tag of at most 20 characters. The freeze and tick texts are
  Kite's; the others are ours (Kite's exact wording is not documented).
- Rate limits per calendar second of the server's clock: 10 order writes (also 400/min and
  5,000/day), 1 quote, 10 other requests; refused with 429 ``NetworkException`` "Too many
  requests". Refused-by-validation requests count, as at Kite.
- Order states ``PUT ORDER REQ RECEIVED`` -> ``VALIDATION PENDING`` -> ``OPEN PENDING`` ->
  ``OPEN`` / ``COMPLETE`` / ``CANCELLED`` / ``REJECTED`` (history via ``GET /orders/{id}``);
  margin shortfalls turn into an asynchronous ``REJECTED`` with Kite's RMS strings.

Simplified: one price level per side (marketable orders fill at the touch, up to the touch
quantity, which they use up; the rest rests at its limit, a MARKET order at its protection price;
IOC remainders are cancelled); resting orders fill when the test calls :meth:`fill` or moves the
quote through them with :meth:`set_quote`; regular variety, MARKET and LIMIT, DAY and IOC only;
no modify, no autoslice, no LPP band. Fault injection is scripted per route with :class:`Fault`.

Margin: the paper exchange's SPAN-like rule (:mod:`imperium_exec.costs.margin`): buys need their
premium, shorts the naked ``short_margin_fraction x spot`` unless longs of the same underlying,
expiry and type cover them (then the spread's maximum loss); the spots are set per underlying
(``spots``, :meth:`set_spot`). ``GET /user/margins`` reports it: ``net`` is the margin less the
premium paid net of premium received, less the funds open buys hold, less the short margin of
the positions (``utilised.span``). ``POST /margins/basket`` answers in Kite's shape: ``orders``
each leg alone, ``initial`` their sum, ``final`` what the basket adds once all of it filled,
with the hedge benefit and, with ``consider_positions=true``, on top of the positions held.
Simplified: at the exchange, a buy is refused when its premium exceeds ``net``, but a sell is
not margin-checked; ``mode=compact`` is answered in full; charges are zeros.

Ticker (``ticker_root``, :mod:`.fake_ticker`): Kite's WebSocket on 127.0.0.1, an ephemeral port,
in its own thread and asyncio loop, started on first use and ended by :meth:`stop`. It does:
the handshake auth by query ``api_key`` / ``access_token`` (403 when wrong or once
:meth:`expire_session` ran, which also closes open connections); ``subscribe`` /
``unsubscribe`` / ``mode`` messages (a subscription starts in ``quote`` mode, as at Kite); the
current state of each newly subscribed or re-moded instrument at once, then one tick per book
change (:meth:`set_quote`, fills) in each connection's mode, full packets carrying one depth level
per side and zeros elsewhere (like the REST depth); a 1-byte heartbeat every
``ticker_heartbeat_s``; order updates as text frames ``{"type": "order", "data": <the GET
/orders dict>}`` on every status change and fill of a visible order; at most 3,000 tokens per
connection (an error text frame beyond) and 3 connections per api_key (HTTP 429 beyond; ours).
Controls: :meth:`drop_ticker`, :meth:`silence_ticker`; inspection: :attr:`ticker_connections`,
:attr:`ticker_messages`, :attr:`ticker_handshakes`. It does not: send ticks on a timer or for
instruments nobody changed, model 20-level depth, OI or index ticks from the book, announce an
order hidden by ``appear_after_s`` before a request or control carries the server's clock past it
(time only moves when the server is asked something), or use Kite's exact error texts (not
documented).

Threading: one lock around all state; replies that a fault delays sleep outside it; ticker
pushes made under the lock only hand work to the ticker's loop (``call_soon_threadsafe``). Binds
127.0.0.1 only, on ephemeral ports. Deterministic: ids are counters, times come from ``clock``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import math
import re
import socket
import socketserver
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..brokers.kite.codec import SEGMENT_INDICES, DepthLevel, Tick, segment_of
from ..costs.margin import BookMargin, OptionLeg, basket_margin, short_margin
from ..instruments import INDEX_QUOTE_KEYS
from ..sim.chain import INDEX_SYMBOLS
from ..sim.config import RulesConfig
from ..sim.rules import auto_protection_pct
from ..timeutil import IST, is_on_tick, round_to_tick
from .fake_ticker import FakeTicker

#: The only address the fake ever binds.
HOST = "127.0.0.1"

# Kite's texts (reference §3, §5).
ORDER_TIMED_OUT = ("Order request timed out. Please check the order book and confirm before "
                   "placing again.")
TOO_MANY_REQUESTS = "Too many requests"
DAILY_ORDER_CAP = "Maximum allowed order requests exceeded."
OMS_DOWN = "Request failed (kitetrade-oms)"
BAD_SESSION = "Incorrect `api_key` or `access_token`."
# Ours, in Kite's register (the exact wording is not documented).
UNKNOWN_INSTRUMENT = ("The instrument you are placing an order for has either expired or does "
                      "not exist.")
UNKNOWN_ORDER = "Couldn't find that `order_id`."
MARKET_PROTECTION_REQUIRED = ("Market orders need market protection: set `market_protection` to "
                              "-1 (automatic) or a percentage from 1 to 100.")

_ORDER_FIELDS = ("exchange", "tradingsymbol", "transaction_type", "quantity", "product",
                 "order_type")
_TERMINAL = ("COMPLETE", "CANCELLED", "REJECTED")
_RULES = RulesConfig()
_IST_OFFSET_S = 19_800.0
#: Where the default instruments' underlyings stand (their strikes are at the money).
DEFAULT_SPOTS: dict[str, float] = {"NIFTY": 25_000.0, "BANKNIFTY": 56_000.0, "SENSEX": 85_000.0}
#: An index's quote key -> its underlying and Kite's instrument token (0: not known here):
#: the fake quotes an index at the underlying's spot.
_INDEX_UNDERLYINGS: dict[str, tuple[str, int]] = {
    key: (name, INDEX_SYMBOLS[name][2] if name in INDEX_SYMBOLS else 0)
    for name, key in INDEX_QUOTE_KEYS.items()}
#: The fields of a basket-margin order the fake reads (the client sends these and more).
_MARGIN_FIELDS = ("exchange", "tradingsymbol", "transaction_type", "quantity")


def ist(epoch: float | None) -> str | None:
    """Kite's timestamp format: naive IST ``YYYY-MM-DD HH:MM:SS``."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, IST).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class FakeInstrument:
    """One row of the instruments dump, plus the freeze quantity Kite has no API for."""

    tradingsymbol: str
    exchange: str
    name: str
    instrument_token: int
    lot_size: int
    freeze_quantity: int
    tick_size: float = 0.05
    strike: float = 0.0
    expiry: str = ""  # YYYY-MM-DD
    instrument_type: str = "CE"

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def segment(self) -> str:
        kind = "OPT" if self.instrument_type in ("CE", "PE") else "FUT"
        return f"{self.exchange}-{kind}"

    @property
    def max_order_quantity(self) -> int:
        """Largest lot multiple not above the freeze quantity (NIFTY 1800 -> 1755)."""
        return max(self.lot_size, self.freeze_quantity // self.lot_size * self.lot_size)


#: A small Dec-2026 chain: NIFTY weekly, BANKNIFTY monthly, SENSEX weekly (BFO).
DEFAULT_INSTRUMENTS: tuple[FakeInstrument, ...] = (
    FakeInstrument("NIFTY26D0125000CE", "NFO", "NIFTY", 12_501_762, 65, 1800, 0.05, 25000.0,
                   "2026-12-01", "CE"),
    FakeInstrument("NIFTY26D0125000PE", "NFO", "NIFTY", 12_502_018, 65, 1800, 0.05, 25000.0,
                   "2026-12-01", "PE"),
    FakeInstrument("BANKNIFTY26DEC56000CE", "NFO", "BANKNIFTY", 12_610_050, 30, 600, 0.05,
                   56000.0, "2026-12-29", "CE"),
    FakeInstrument("SENSEX26D0385000CE", "BFO", "SENSEX", 284_001_797, 20, 1000, 0.05, 85000.0,
                   "2026-12-03", "CE"),
)


def nifty_strip(count: int, *, first_strike: int = 24_000, step: int = 50,
                expiry: str = "2026-12-01") -> tuple[FakeInstrument, ...]:
    """``count`` NIFTY weekly options (calls, then puts once the calls run out of room): many
    distinct instruments, for load tests against Kite's limits. Tokens end in NFO's segment."""
    out = []
    for i in range(count):
        kind = "CE" if i % 2 == 0 else "PE"
        strike = first_strike + step * (i // 2)
        code = expiry[2:4] + "D" + expiry[8:10]  # 2026-12-01 -> 26D01 (weekly form)
        out.append(FakeInstrument(f"NIFTY{code}{strike}{kind}", "NFO", "NIFTY",
                                  (200_000 + i) * 256 + 2, 65, 1800, 0.05, float(strike),
                                  expiry, kind))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Kite's request limits, counted per calendar second (minute, IST day) of server time."""

    order_writes_per_second: int = 10
    order_writes_per_minute: int = 400
    order_writes_per_day: int = 5_000
    quotes_per_second: int = 1
    reads_per_second: int = 10


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to the next request on a route, instead of or on top of normal handling.

    ``status`` other than 200 replaces the reply with a Kite JSON error (``error_type``,
    ``message``) or, with ``html``, a gateway HTML page. ``record`` still carries the request out
    (the order is placed, the cancel applied) before the reply is replaced or delayed.
    ``delay_s`` holds the reply back: longer than the client timeout, the client raises
    ``ReadTimeout``. For orders: ``appear_after_s`` hides the recorded order from the book for
    that long, ``pending_status`` / ``pending_s`` hold it in a transient state before it reaches
    the exchange, and ``reject_with`` (message, raw) makes it end REJECTED.
    """

    status: int = 200
    error_type: str | None = None
    message: str = ""
    html: bool = False
    record: bool = False
    delay_s: float = 0.0
    appear_after_s: float = 0.0
    pending_status: str | None = None
    pending_s: float = 0.0
    reject_with: tuple[str, str] | None = None

    @classmethod
    def ghost(cls, delay_s: float = 2.0) -> Fault:
        """The order is placed at once, but the reply comes ``delay_s`` later (ReadTimeout)."""
        return cls(record=True, delay_s=delay_s)

    @classmethod
    def order_timed_out(cls, appear_after_s: float = 8.0, *,
                        error_type: str = "InputException") -> Fault:
        """Kite's 400 "Order request timed out..."; the order shows up ``appear_after_s`` later.

        The error_type of the real reply is not documented; the text is what matters.
        """
        return cls(status=400, error_type=error_type, message=ORDER_TIMED_OUT, record=True,
                   appear_after_s=appear_after_s)

    @classmethod
    def error(cls, status: int, error_type: str, message: str, *,
              record: bool = False) -> Fault:
        """Any Kite JSON error (nothing is recorded unless ``record``)."""
        return cls(status=status, error_type=error_type, message=message, record=record)

    @classmethod
    def throttled(cls) -> Fault:
        return cls.error(429, "NetworkException", TOO_MANY_REQUESTS)

    @classmethod
    def oms_down(cls, status: int = 503) -> Fault:
        return cls.error(status, "NetworkException", OMS_DOWN)

    @classmethod
    def session_expired(cls) -> Fault:
        return cls.error(403, "TokenException", BAD_SESSION)

    @classmethod
    def gateway_html(cls, status: int = 502, *, record: bool = False) -> Fault:
        """An HTML gateway page (the client raises DataException 502 whatever the status)."""
        return cls(status=status, html=True, record=record,
                   message=f"<html><body><h1>{status} Bad Gateway</h1></body></html>")

    @classmethod
    def margin_shortfall(cls, required: float = 95417.84, available: float = 74251.80) -> Fault:
        """Synchronous MarginException (the client has no such class: GeneralException 400)."""
        return cls.error(400, "MarginException", margin_message(required, available))

    @classmethod
    def rejected(cls, message: str | None = None, raw: str | None = None, *,
                 after_s: float = 0.0) -> Fault:
        """Accepted (order id returned), then REJECTED asynchronously; RMS margin text default."""
        if message is None:
            message = margin_message(95417.84, 74251.80)
            raw = raw or margin_raw(95417.84, 74251.80)
        return cls(reject_with=(message, raw or message), pending_status="VALIDATION PENDING",
                   pending_s=after_s)

    @classmethod
    def stuck(cls, status: str = "OPEN PENDING", for_s: float = 5.0) -> Fault:
        """Accepted, but held in a transient state for ``for_s`` before reaching the exchange."""
        return cls(pending_status=status, pending_s=for_s)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Carried out normally, answered ``delay_s`` late."""
        return cls(record=True, delay_s=delay_s)


def margin_message(required: float, available: float) -> str:
    """Kite's RMS margin rejection text (status_message)."""
    return (f"Insufficient funds. Required margin is {required:.2f} but available margin is "
            f"{max(0.0, available):.2f}. Check the orderbook for open orders.")


def margin_raw(required: float, available: float) -> str:
    """Kite's RMS margin rejection text (status_message_raw)."""
    return (f"RMS:Margin Exceeds,Required:{required:.2f}, Available:{max(0.0, available):.2f} "
            "for entity account-XXXXX across exchange across segment across product ")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received, for tests to assert on what the client sent."""

    at: float
    method: str
    path: str
    route: str | None
    form: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None  # a JSON body, parsed (margins)


# ---------------------------------------------------------------------------- state


@dataclass
class _Book:
    bid: float = 0.0
    bid_quantity: int = 0
    ask: float = 0.0
    ask_quantity: int = 0
    ltp: float = 0.0
    last_quantity: int = 0
    last_trade_at: float | None = None
    volume: int = 0
    close: float = 0.0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0


@dataclass(eq=False)
class _Order:
    order_id: str
    inst: FakeInstrument
    variety: str
    side: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: float  # as sent; 0 for MARKET
    market_protection: int
    tag: str | None
    placed_at: float
    visible_at: float
    arrive_at: float
    pre_status: str = "OPEN PENDING"
    reject_with: tuple[str, str] | None = None
    status: str = "PUT ORDER REQ RECEIVED"
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_order_id: str | None = None
    exchange_at: float | None = None
    updated_at: float | None = None
    arrived: bool = False
    limit: float = 0.0  # working price at the exchange: the limit, or the protection price
    filled: int = 0
    filled_value: float = 0.0
    cancelled: int = 0
    cancel_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled - self.cancelled

    @property
    def terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def working(self) -> bool:
        """At the exchange and able to fill."""
        return self.arrived and self.status in ("OPEN", "CANCEL PENDING") and self.leaves > 0


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    delay_s: float = 0.0


class _KiteError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _input_error(message: str) -> _KiteError:
    return _KiteError(400, "InputException", message)


class _RateCounter:
    """Request counts per bucket in the current second / minute / IST day."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._windows: dict[tuple[str, float], tuple[int, int]] = {}

    def _checks(self, bucket: str) -> list[tuple[float, int, str]]:
        lim = self._limits
        if bucket == "write":
            return [(1.0, lim.order_writes_per_second, TOO_MANY_REQUESTS),
                    (60.0, lim.order_writes_per_minute, TOO_MANY_REQUESTS),
                    (86_400.0, lim.order_writes_per_day, DAILY_ORDER_CAP)]
        if bucket == "quote":
            return [(1.0, lim.quotes_per_second, TOO_MANY_REQUESTS)]
        return [(1.0, lim.reads_per_second, TOO_MANY_REQUESTS)]

    def admit(self, bucket: str, now: float) -> str | None:
        """Count one request, or return the refusal text when a limit is reached."""
        checks = self._checks(bucket)
        counts: list[tuple[tuple[str, float], int, int]] = []
        for span, limit, message in checks:
            window = math.floor((now + _IST_OFFSET_S) / span)
            idx, count = self._windows.get((bucket, span), (window, 0))
            count = count if idx == window else 0
            if count >= limit:
                return message
            counts.append(((bucket, span), window, count))
        for key, window, count in counts:
            self._windows[key] = (window, count + 1)
        return None


_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/orders/(?P<variety>[a-z]+)$"), "place"),
    ("DELETE", re.compile(r"^/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)$"), "cancel"),
    ("PUT", re.compile(r"^/orders/(?P<variety>[a-z]+)/(?P<order_id>\d+)$"), "modify"),
    ("GET", re.compile(r"^/orders$"), "orders"),
    ("GET", re.compile(r"^/orders/(?P<order_id>\d+)$"), "order_history"),
    ("GET", re.compile(r"^/orders/(?P<order_id>\d+)/trades$"), "order_trades"),
    ("GET", re.compile(r"^/trades$"), "trades"),
    ("GET", re.compile(r"^/quote(?:/(?P<mode>ltp|ohlc))?$"), "quote"),
    ("GET", re.compile(r"^/instruments(?:/(?P<exchange>[A-Z]+))?$"), "instruments"),
    ("GET", re.compile(r"^/user/margins(?:/(?P<segment>[a-z]+))?$"), "margins"),
    ("POST", re.compile(r"^/margins/basket$"), "basket_margins"),
)
_BUCKETS = {"place": "write", "cancel": "write", "modify": "write", "quote": "quote"}


# ---------------------------------------------------------------------------- the server


class FakeKiteServer:
    """A thread-safe fake Kite REST server on 127.0.0.1 with scripted faults.

    Use as a context manager (or :meth:`start` / :meth:`stop`); ``root`` is the URL to give
    ``KiteConnect(root=...)``, ``ticker_root`` the ticker's. Test controls: :meth:`set_quote`,
    :meth:`fill`, :meth:`reject`, :meth:`fail_next`, :meth:`expire_session`,
    :meth:`drop_ticker`, :meth:`silence_ticker`. Inspection: :meth:`recorded_orders`,
    :meth:`order`, :attr:`requests`, :attr:`ticker_connections`, :attr:`ticker_messages`,
    :attr:`ticker_handshakes`.
    """

    def __init__(self, *, instruments: Iterable[FakeInstrument] = DEFAULT_INSTRUMENTS,
                 api_key: str = "k", access_token: str = "t",
                 clock: Callable[[], float] = time.time,
                 rate_limits: RateLimits | None = None, margin: float = 5e7,
                 spots: Mapping[str, float] | None = None, short_margin_fraction: float = 0.12,
                 cancel_pending_s: float = 0.0, user_id: str = "AB1234",
                 request_log_size: int = 10_000, ticker_heartbeat_s: float = 1.0) -> None:
        self._instruments = {i.key: i for i in instruments}
        self._api_key, self._access_token = api_key, access_token
        self._auth = f"token {api_key}:{access_token}"
        self._clock = clock
        self._rates = _RateCounter(rate_limits or RateLimits())
        self.margin = margin
        #: Underlying -> its price, for the naked short margin (``short_margin_fraction x
        #: spot``); an underlying missing here is taken at the highest strike of its legs.
        self.spots: dict[str, float] = dict(DEFAULT_SPOTS if spots is None else spots)
        self.short_margin_fraction = short_margin_fraction
        self.cancel_pending_s = cancel_pending_s
        self.user_id = user_id
        self._lock = threading.RLock()
        self._books: dict[str, _Book] = {}
        self._orders: dict[str, _Order] = {}
        self._trades: list[dict[str, Any]] = []
        self._cash = 0.0  # premium received minus premium paid
        self._positions: dict[str, int] = {}  # instrument key -> signed units filled
        self._faults: dict[str, deque[Fault]] = {}
        self._session_valid = True
        self._order_ids = itertools.count(261_124_000_000_001)
        self._exchange_ids = itertools.count(1_600_000_000_000_001)
        self._trade_ids = itertools.count(50_000_001)
        #: Replies sent, by HTTP status.
        self.replies: Counter[int] = Counter()
        #: The latest requests received (oldest dropped beyond ``request_log_size``).
        self.requests: deque[RecordedRequest] = deque(maxlen=request_log_size)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ticker_heartbeat_s = ticker_heartbeat_s
        self._ticker: FakeTicker | None = None
        self._ticker_start_lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeKiteServer:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer(self)
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
            self._advance(self._clock())

    # ---------------------------------------------------------------- test controls

    def add_instrument(self, instrument: FakeInstrument) -> None:
        with self._lock:
            self._instruments[instrument.key] = instrument

    def set_spot(self, underlying: str, spot: float) -> None:
        """Move an underlying's price (the naked short margin follows it)."""
        with self._lock:
            self.spots[underlying] = float(spot)

    def set_quote(self, tradingsymbol: str, *, bid: float, ask: float,
                  bid_quantity: int | None = None, ask_quantity: int | None = None,
                  ltp: float | None = None, volume: int | None = None,
                  exchange: str = "NFO") -> None:
        """Set an instrument's touch (quantities default to 50 lots); resting orders that the
        new touch crosses fill against it."""
        with self._lock:
            inst = self._instrument(exchange, tradingsymbol)
            book = self._books.setdefault(inst.key, _Book())
            now = self._clock()
            self._advance(now)
            book.bid, book.ask = float(bid), float(ask)
            book.bid_quantity = bid_quantity if bid_quantity is not None else 50 * inst.lot_size
            book.ask_quantity = ask_quantity if ask_quantity is not None else 50 * inst.lot_size
            if ltp is not None or book.ltp <= 0:
                book.ltp = float(ltp) if ltp is not None else (book.bid + book.ask) / 2.0
            if volume is not None:
                book.volume = int(volume)
            if book.close <= 0:
                book.open = book.high = book.low = book.close = book.ltp
            for order in list(self._orders.values()):
                if order.inst.key == inst.key and order.working:
                    self._match(order, now)
            self._push_tick(inst, book, now)

    def fill(self, order_id: str, quantity: int | None = None,
             price: float | None = None) -> None:
        """Fill a working order (all that is left by default) at ``price`` (its limit by
        default): the market traded through it."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            order = self._orders[order_id]
            if not order.working:
                raise ValueError(f"order {order_id} is {order.status}, not working")
            qty = order.leaves if quantity is None else quantity
            if not 0 < qty <= order.leaves:
                raise ValueError(f"cannot fill {qty} of {order.leaves} left")
            fill_price = price if price is not None else (order.price or order.limit)
            self._execute(order, qty, fill_price, now)

    def reject(self, order_id: str, message: str | None = None, raw: str | None = None) -> None:
        """Reject an order asynchronously, as Kite's RMS does (margin text by default)."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            order = self._orders[order_id]
            if order.terminal:
                raise ValueError(f"order {order_id} is already {order.status}")
            if message is None:
                message, raw = margin_message(95417.84, 74251.80), margin_raw(95417.84, 74251.80)
            order.arrived = True
            self._set_status(order, "REJECTED", now, message, raw or message)

    def fail_next(self, route: str, *faults: Fault) -> None:
        """Script faults for the next requests on ``route``: place, cancel, orders,
        order_history, trades, quote, instruments, margins, basket_margins."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(faults)

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

    # ---------------------------------------------------------------- inspection

    def recorded_orders(self) -> list[dict[str, Any]]:
        """Every order the server holds, including ones not yet shown in the order book."""
        with self._lock:
            self._advance(self._clock())
            return [self._order_dict(o) for o in self._orders.values()]

    def order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance(self._clock())
            return self._order_dict(self._orders[order_id])

    def requests_to(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    # ---------------------------------------------------------------- dispatch

    @property
    def throttled(self) -> int:
        """Requests answered 429 so far (a client that keeps to Kite's limits provokes none)."""
        with self._lock:
            return self.replies[429]

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, str], authorization: str | None, body: Any = None) -> _Reply:
        """Answer one request (called by the HTTP handler; any thread). ``body``: a JSON
        request body, parsed."""
        reply = self._answer(method, path, query, form, authorization, body)
        with self._lock:
            self.replies[reply.status] += 1
        return reply

    def _answer(self, method: str, path: str, query: dict[str, list[str]],
                form: dict[str, str], authorization: str | None, body: Any) -> _Reply:
        with self._lock:
            now = self._clock()
            route, args = _match_route(method, path)
            self.requests.append(RecordedRequest(now, method, path, route, dict(form),
                                                 {k: list(v) for k, v in query.items()},
                                                 body))
            if route is None:
                return _error(404, "GeneralException", "Route not found")
            if not self._session_valid or authorization != self._auth:
                return _error(403, "TokenException", BAD_SESSION)
            refusal = self._rates.admit(_BUCKETS.get(route, "read"), now)
            if refusal is not None:
                return _error(429, "NetworkException", refusal)
            self._advance(now)
            queue = self._faults.get(route)
            fault = queue.popleft() if queue else None
            if fault is not None and fault.status != 200 and not fault.record:
                return _fault_reply(fault)
            try:
                reply = self._dispatch(route, args, query, form, now, fault, body)
            except _KiteError as exc:
                return _error(exc.status, exc.error_type, exc.message)
            if fault is not None:
                if fault.status != 200:
                    reply = _fault_reply(fault)
                reply.delay_s = fault.delay_s
            return reply

    def _dispatch(self, route: str, args: dict[str, str], query: dict[str, list[str]],
                  form: dict[str, str], now: float, fault: Fault | None,
                  body: Any = None) -> _Reply:
        if route == "place":
            return _ok(self._place(args["variety"], form, now, fault))
        if route == "cancel":
            return _ok(self._cancel(args["order_id"], now))
        if route == "modify":
            raise _input_error("Order modification is not supported by the fake Kite server.")
        if route == "orders":
            return _ok([self._order_dict(o) for o in self._visible(now)])
        if route == "order_history":
            return _ok(list(self._visible_order(args["order_id"], now).history))
        if route == "order_trades":
            order = self._visible_order(args["order_id"], now)
            return _ok([t for t in self._trades if t["order_id"] == order.order_id])
        if route == "trades":
            return _ok(list(self._trades))
        if route == "quote":
            return _ok(self._quotes(query.get("i", []), args.get("mode"), now))
        if route == "instruments":
            return _Reply(200, self._instruments_csv(args.get("exchange")).encode(), "text/csv")
        if route == "margins":
            return _ok(self._margins(args.get("segment")))
        if route == "basket_margins":
            considered = (query.get("consider_positions") or ["false"])[-1].lower() == "true"
            return _ok(self._basket_margins(body, consider_positions=considered))
        raise _KiteError(404, "GeneralException", "Route not found")

    # ---------------------------------------------------------------- orders

    def _instrument(self, exchange: str, tradingsymbol: str) -> FakeInstrument:
        inst = self._instruments.get(f"{exchange}:{tradingsymbol}")
        if inst is None:
            raise KeyError(f"{exchange}:{tradingsymbol} is not listed on the fake server")
        return inst

    def _place(self, variety: str, form: dict[str, str], now: float,
               fault: Fault | None) -> dict[str, str]:
        order = self._validate(variety, form, now)
        if fault is not None:
            order.visible_at = now + fault.appear_after_s
            order.arrive_at = order.visible_at + fault.pending_s
            order.pre_status = fault.pending_status or order.pre_status
            order.reject_with = fault.reject_with
        self._orders[order.order_id] = order
        self._snapshot(order)  # PUT ORDER REQ RECEIVED
        self._set_status(order, "VALIDATION PENDING", now)
        if order.pre_status != "VALIDATION PENDING":
            self._set_status(order, order.pre_status, now)
        self._advance(now)
        return {"order_id": order.order_id}

    def _validate(self, variety: str, form: dict[str, str], now: float) -> _Order:
        """Kite's pre-trade checks; every refusal is a 400 InputException."""
        if variety != "regular":
            raise _input_error(f"Invalid `variety` {variety!r}: the fake Kite server takes "
                               "regular orders only.")
        for name in _ORDER_FIELDS:
            if not form.get(name):
                raise _input_error(f"Missing `{name}`.")
        inst = self._instruments.get(f"{form['exchange']}:{form['tradingsymbol']}")
        if inst is None:
            raise _input_error(UNKNOWN_INSTRUMENT)
        side = form["transaction_type"]
        if side not in ("BUY", "SELL"):
            raise _input_error("Invalid `transaction_type`.")
        order_type = form["order_type"]
        if order_type not in ("MARKET", "LIMIT"):
            raise _input_error(f"Invalid `order_type` {order_type!r}: the fake Kite server "
                               "takes MARKET and LIMIT.")
        if form["product"] not in ("NRML", "MIS"):
            raise _input_error("Invalid `product`.")
        validity = form.get("validity") or "DAY"
        if validity not in ("DAY", "IOC"):
            raise _input_error("Invalid `validity`.")
        if form.get("autoslice"):
            raise _input_error("Autoslice is not supported by the fake Kite server.")
        try:
            quantity = int(form["quantity"])
        except ValueError:
            raise _input_error("Invalid `quantity`.") from None
        if quantity <= 0:
            raise _input_error("Invalid `quantity`.")
        lot = inst.lot_size
        if quantity % lot:
            raise _input_error(f"Order quantity {quantity} is not a multiple of the lot size "
                               f"{lot}.")
        max_qty = inst.max_order_quantity
        if quantity > max_qty:
            raise _input_error(
                f"The order quantity {quantity} ({quantity // lot} lots) is higher than the "
                f"maximum quantity of {max_qty} ({max_qty // lot} lots) allowed by the "
                "exchanges. Please reduce the order quantity or use iceberg orders.")
        tag = form.get("tag") or None
        if tag is not None and len(tag) > _RULES.max_tag_length:
            raise _input_error(f"Tag length cannot be more than {_RULES.max_tag_length} "
                               "characters.")
        price = 0.0
        protection = 0
        if order_type == "LIMIT":
            try:
                price = float(form.get("price") or 0)
            except ValueError:
                raise _input_error("Invalid `price`.") from None
            if price <= 0 or not math.isfinite(price):
                raise _input_error("Invalid `price`.")
            if not is_on_tick(price, inst.tick_size):
                raise _input_error(f"Tick size for this script is {inst.tick_size:g}. Kindly "
                                   "enter price in the multiple of tick size for this script")
        else:
            try:
                protection = int(form.get("market_protection") or 0)
            except ValueError:
                raise _input_error(MARKET_PROTECTION_REQUIRED) from None
            if protection != -1 and not 1 <= protection <= 100:
                raise _input_error(MARKET_PROTECTION_REQUIRED)
        return _Order(order_id=str(next(self._order_ids)), inst=inst, variety=variety,
                      side=side, order_type=order_type, product=form["product"],
                      validity=validity, quantity=quantity, price=price,
                      market_protection=protection, tag=tag, placed_at=now, visible_at=now,
                      arrive_at=now)

    def _cancel(self, order_id: str, now: float) -> dict[str, str]:
        order = self._visible_order(order_id, now)
        if order.terminal:
            raise _KiteError(400, "OrderException", f"Order cannot be cancelled as it is "
                                                    f"{order.status.lower()}.")
        if order.status == "CANCEL PENDING":
            return {"order_id": order_id}
        if self.cancel_pending_s > 0 and order.arrived:
            order.cancel_at = now + self.cancel_pending_s
            self._set_status(order, "CANCEL PENDING", now)
        else:
            self._finish_cancel(order, now)
        return {"order_id": order_id}

    def _finish_cancel(self, order: _Order, now: float) -> None:
        order.arrived = True  # a cancelled pending order never reaches the exchange
        order.cancelled = order.leaves
        order.cancel_at = None
        self._set_status(order, "CANCELLED", now)

    def _visible(self, now: float) -> list[_Order]:
        return [o for o in self._orders.values() if o.visible_at <= now]

    def _visible_order(self, order_id: str, now: float) -> _Order:
        order = self._orders.get(order_id)
        if order is None or order.visible_at > now:
            raise _input_error(UNKNOWN_ORDER)
        return order

    def _advance(self, now: float) -> None:
        """Carry out everything due by ``now``: arrivals at the exchange, pending cancels."""
        for order in self._orders.values():
            if not order.arrived and not order.terminal and order.arrive_at <= now \
                    and order.visible_at <= now:
                self._arrive(order, now)
            if order.cancel_at is not None and order.cancel_at <= now and not order.terminal:
                self._finish_cancel(order, now)

    def _arrive(self, order: _Order, now: float) -> None:
        order.arrived = True
        if order.reject_with is not None:
            message, raw = order.reject_with
            self._set_status(order, "REJECTED", now, message, raw)
            return
        book = self._books.get(order.inst.key, _Book())
        order.limit = order.price if order.order_type == "LIMIT" else \
            self._protection_price(order, book)
        if order.side == "BUY":
            reference = order.limit if math.isfinite(order.limit) else book.ask
            required = order.quantity * reference
            available = self._available()
            if required > available + 1e-6:
                self._set_status(order, "REJECTED", now, margin_message(required, available),
                                 margin_raw(required, available))
                return
        order.exchange_order_id = str(next(self._exchange_ids))
        order.exchange_at = now
        self._set_status(order, "OPEN", now)
        self._match(order, now)

    def _protection_price(self, order: _Order, book: _Book) -> float:
        """Where a MARKET order stops: the touch moved by its market protection percent."""
        buy = order.side == "BUY"
        reference = (book.ask if buy else book.bid) or book.ltp
        if reference <= 0:
            return math.inf if buy else 0.0
        pct = order.market_protection if order.market_protection > 0 else \
            auto_protection_pct(book.ltp or reference, _RULES)
        tick = order.inst.tick_size
        if buy:
            return round_to_tick(reference * (1.0 + pct / 100.0), tick, "down")
        return max(tick, round_to_tick(reference * (1.0 - pct / 100.0), tick, "up"))

    def _match(self, order: _Order, now: float) -> None:
        """Fill against the opposite touch as far as price and its quantity allow."""
        book = self._books.get(order.inst.key)
        if book is not None and order.working:
            if order.side == "BUY":
                price, available = book.ask, book.ask_quantity
                crosses = price > 0 and price <= order.limit + 1e-9
            else:
                price, available = book.bid, book.bid_quantity
                crosses = price > 0 and price >= order.limit - 1e-9
            if crosses and available > 0:
                qty = min(order.leaves, available)
                if order.side == "BUY":
                    book.ask_quantity -= qty
                else:
                    book.bid_quantity -= qty
                self._execute(order, qty, price, now)
        if order.validity == "IOC" and order.working:
            self._finish_cancel(order, now)

    def _execute(self, order: _Order, quantity: int, price: float, now: float) -> None:
        order.filled += quantity
        order.filled_value += quantity * price
        sign = 1 if order.side == "BUY" else -1
        self._cash -= sign * quantity * price
        key = order.inst.key
        self._positions[key] = self._positions.get(key, 0) + sign * quantity
        book = self._books.setdefault(order.inst.key, _Book())
        book.ltp, book.last_quantity, book.last_trade_at = price, quantity, now
        book.volume += quantity
        book.high = max(book.high, price)
        book.low = min(book.low, price) if book.low > 0 else price
        self._push_tick(order.inst, book, now)
        self._trades.append({
            "trade_id": str(next(self._trade_ids)), "order_id": order.order_id,
            "exchange": order.inst.exchange, "tradingsymbol": order.inst.tradingsymbol,
            "instrument_token": order.inst.instrument_token, "product": order.product,
            "average_price": price, "quantity": quantity,
            "exchange_order_id": order.exchange_order_id,
            "transaction_type": order.side, "fill_timestamp": ist(now),
            "order_timestamp": dt.datetime.fromtimestamp(now, IST).strftime("%H:%M:%S"),
            "exchange_timestamp": ist(now),
        })
        self._set_status(order, "COMPLETE" if order.leaves == 0 else order.status, now)

    def _blocked(self) -> float:
        """Funds the open buys hold: their premium at their working price."""
        return sum(o.leaves * o.limit for o in self._orders.values()
                   if o.side == "BUY" and o.working and math.isfinite(o.limit))

    def _available(self) -> float:
        return self.margin + self._cash - self._blocked() - self._short_margin()

    # ---------------------------------------------------------------- margin

    def _held_legs(self) -> list[OptionLeg]:
        """The positions filled so far, as margin legs."""
        legs = []
        for key, units in self._positions.items():
            leg = _option_leg(self._instruments.get(key), units)
            if leg is not None:
                legs.append(leg)
        return legs

    def _spots_for(self, legs: list[OptionLeg]) -> dict[str, float]:
        spots = {}
        for leg in legs:
            if leg.underlying in self.spots:
                spots[leg.underlying] = self.spots[leg.underlying]
            else:
                spots[leg.underlying] = max(spots.get(leg.underlying, 0.0), leg.strike)
        return spots

    def _short_margin(self) -> float:
        legs = self._held_legs()
        return short_margin(legs, self._spots_for(legs), self.short_margin_fraction)

    def _basket_margins(self, body: Any, *, consider_positions: bool) -> dict[str, Any]:
        """``POST /margins/basket``: Kite's initial / final / orders answer."""
        if not isinstance(body, list) or not body:
            raise _input_error("Invalid or empty list of orders.")
        legs: list[OptionLeg] = []
        keys: list[FakeInstrument] = []
        for raw in body:
            inst, leg = self._margin_leg(raw)
            keys.append(inst)
            legs.append(leg)
        held = self._held_legs() if consider_positions else []
        margin = basket_margin(legs, self._spots_for([*held, *legs]), self.short_margin_fraction,
                               held=held)
        orders = [_margin_dict(alone, inst, leverage=1)
                  for alone, inst in zip(margin.legs_alone, keys, strict=True)]
        final = BookMargin(premium=margin.premium, span=margin.required - margin.premium)
        return {"initial": _margin_dict(BookMargin(
                    premium=sum(m.premium for m in margin.legs_alone),
                    span=sum(m.span for m in margin.legs_alone))),
                "final": _margin_dict(final),
                "orders": orders,
                "charges": _charges()}

    def _margin_leg(self, raw: Any) -> tuple[FakeInstrument, OptionLeg]:
        """One order of a basket-margin request as a margin leg, priced at its limit, else
        at the touch it would take."""
        if not isinstance(raw, dict) or any(raw.get(name) in (None, "") for name in
                                            _MARGIN_FIELDS):
            raise _input_error("Invalid order: exchange, tradingsymbol, transaction_type and "
                               "quantity are required.")
        inst = self._instruments.get(f"{raw['exchange']}:{raw['tradingsymbol']}")
        if inst is None:
            raise _input_error(UNKNOWN_INSTRUMENT)
        side = str(raw["transaction_type"]).upper()
        if side not in ("BUY", "SELL"):
            raise _input_error("Invalid `transaction_type`.")
        try:
            quantity = int(raw["quantity"])
            price = float(raw.get("price") or 0.0)
        except (TypeError, ValueError):
            raise _input_error("Invalid `quantity` or `price`.") from None
        if quantity <= 0:
            raise _input_error("Invalid `quantity`.")
        if price <= 0 or str(raw.get("order_type") or "MARKET").upper() != "LIMIT":
            book = self._books.get(inst.key, _Book())
            price = (book.ask if side == "BUY" else book.bid) or book.ltp
        leg = _option_leg(inst, quantity if side == "BUY" else -quantity,
                          price if side == "BUY" else 0.0)
        if leg is None:
            raise _input_error(f"{inst.key} is not an option: the fake Kite server margins "
                               "options only.")
        return inst, leg

    def _set_status(self, order: _Order, status: str, now: float, message: str | None = None,
                    raw: str | None = None) -> None:
        order.status = status
        if message is not None:
            order.status_message, order.status_message_raw = message, raw
        if order.arrived and order.exchange_order_id is not None:
            order.updated_at = now
        self._snapshot(order)
        ticker = self._ticker
        if ticker is not None and order.visible_at <= now:
            ticker.push_order(self._order_dict(order))

    def _snapshot(self, order: _Order) -> None:
        order.history.append(self._order_dict(order))

    def _order_dict(self, o: _Order) -> dict[str, Any]:
        """One order in Kite's shape (2025 mock fields)."""
        # Kite's CANCELLED rows keep their pending_quantity (see the official mock).
        pending = o.leaves if not o.terminal else o.cancelled if o.status == "CANCELLED" else 0
        average = o.filled_value / o.filled if o.filled else 0.0
        return {
            "account_id": self.user_id, "placed_by": self.user_id,
            "order_id": o.order_id, "exchange_order_id": o.exchange_order_id,
            "parent_order_id": None,
            "status": o.status,
            "status_message": o.status_message, "status_message_raw": o.status_message_raw,
            "order_timestamp": ist(o.placed_at),
            "exchange_update_timestamp": ist(o.updated_at),
            "exchange_timestamp": ist(o.exchange_at),
            "variety": o.variety, "modified": False, "exchange": o.inst.exchange,
            "tradingsymbol": o.inst.tradingsymbol, "instrument_token": o.inst.instrument_token,
            "order_type": o.order_type, "transaction_type": o.side, "validity": o.validity,
            "validity_ttl": 0, "product": o.product, "quantity": o.quantity,
            "disclosed_quantity": 0, "price": o.price, "trigger_price": 0,
            "average_price": round(average, 4), "filled_quantity": o.filled,
            "pending_quantity": pending, "cancelled_quantity": o.cancelled,
            "market_protection": o.market_protection, "meta": {}, "tag": o.tag,
            "tags": [o.tag] if o.tag else [], "guid": f"fake-{o.order_id}",
        }

    # ---------------------------------------------------------------- market data

    def _book_tick(self, inst: FakeInstrument, book: _Book, now: float) -> Tick:
        """The instrument's full-mode tick: the REST quote's numbers, one depth level."""
        def side(price: float, quantity: int) -> tuple[DepthLevel, ...]:
            top = DepthLevel(price, quantity, max(1, quantity // inst.lot_size)) \
                if price > 0 and quantity > 0 else DepthLevel(0.0, 0, 0)
            return (top, *([DepthLevel(0.0, 0, 0)] * 4))

        return Tick(inst.instrument_token, "full",
                    segment_of(inst.instrument_token) != SEGMENT_INDICES, book.ltp,
                    last_quantity=book.last_quantity, average_price=book.ltp,
                    volume=book.volume, buy_quantity=book.bid_quantity,
                    sell_quantity=book.ask_quantity, open=book.open, high=book.high,
                    low=book.low, close=book.close, last_trade_time=book.last_trade_at, oi=0,
                    exchange_timestamp=now, depth_buy=side(book.bid, book.bid_quantity),
                    depth_sell=side(book.ask, book.ask_quantity))

    def _push_tick(self, inst: FakeInstrument, book: _Book, now: float) -> None:
        """Hand the book's new state to the ticker (never blocks: call_soon_threadsafe)."""
        ticker = self._ticker
        if ticker is not None:
            ticker.push_tick(self._book_tick(inst, book, now))

    def _ticker_snapshot(self, instrument_token: int) -> Tick | None:
        """For a new subscription (ticker thread): the current tick, None if not listed."""
        with self._lock:
            for inst in self._instruments.values():
                if inst.instrument_token == instrument_token:
                    return self._book_tick(inst, self._books.get(inst.key, _Book()),
                                           self._clock())
            return None

    def _quotes(self, keys: list[str], mode: str | None, now: float) -> dict[str, Any]:
        if not keys:
            raise _input_error("No instruments specified.")
        out: dict[str, Any] = {}
        for key in keys:
            inst = self._instruments.get(key)
            if inst is None:
                index = self._index_quote(key, mode, now)
                if index is not None:
                    out[key] = index
                continue  # Kite leaves unknown instruments out of the response
            book = self._books.get(key, _Book())
            ohlc = {"open": book.open, "high": book.high, "low": book.low, "close": book.close}
            if mode == "ltp":
                out[key] = {"instrument_token": inst.instrument_token, "last_price": book.ltp}
                continue
            if mode == "ohlc":
                out[key] = {"instrument_token": inst.instrument_token, "last_price": book.ltp,
                            "ohlc": ohlc}
                continue
            reference = max(book.ltp, book.ask, book.close)
            out[key] = {
                "instrument_token": inst.instrument_token, "timestamp": ist(now),
                "last_trade_time": ist(book.last_trade_at), "last_price": book.ltp,
                "last_quantity": book.last_quantity, "buy_quantity": book.bid_quantity,
                "sell_quantity": book.ask_quantity, "volume": book.volume,
                "average_price": book.ltp, "oi": 0, "oi_day_high": 0, "oi_day_low": 0,
                "net_change": round(book.ltp - book.close, 2) if book.close else 0.0,
                "lower_circuit_limit": inst.tick_size if reference else 0.0,
                "upper_circuit_limit": round_to_tick(reference * 3.0, inst.tick_size)
                if reference else 0.0,
                "ohlc": ohlc,
                "depth": {"buy": _depth(book.bid, book.bid_quantity, inst.lot_size),
                          "sell": _depth(book.ask, book.ask_quantity, inst.lot_size)},
            }
        return out

    def _index_quote(self, key: str, mode: str | None, now: float) -> dict[str, Any] | None:
        """An index not listed as an instrument, quoted at its underlying's spot (``spots``,
        :meth:`set_spot`) as Kite quotes an index: a last price, no depth, no volume."""
        underlying, token = _INDEX_UNDERLYINGS.get(key, ("", 0))
        spot = self.spots.get(underlying)
        if spot is None:
            return None
        ohlc = {"open": spot, "high": spot, "low": spot, "close": spot}
        if mode == "ltp":
            return {"instrument_token": token, "last_price": spot}
        out: dict[str, Any] = {"instrument_token": token, "last_price": spot, "ohlc": ohlc}
        if mode != "ohlc":
            out.update(timestamp=ist(now), net_change=0.0)
        return out

    def _instruments_csv(self, exchange: str | None) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["instrument_token", "exchange_token", "tradingsymbol", "name",
                         "last_price", "expiry", "strike", "tick_size", "lot_size",
                         "instrument_type", "segment", "exchange"])
        for inst in self._instruments.values():
            if exchange is not None and inst.exchange != exchange:
                continue
            writer.writerow([inst.instrument_token, inst.instrument_token >> 8,
                             inst.tradingsymbol, inst.name, 0, inst.expiry, inst.strike,
                             inst.tick_size, inst.lot_size, inst.instrument_type, inst.segment,
                             inst.exchange])
        return buffer.getvalue()

    def _margins(self, segment: str | None) -> dict[str, Any]:
        span, blocked = self._short_margin(), self._blocked()
        net = self.margin + self._cash - blocked - span
        available = {"adhoc_margin": 0.0, "cash": self.margin, "opening_balance": self.margin,
                     "live_balance": round(net, 2), "collateral": 0.0, "intraday_payin": 0.0}
        utilised = {"debits": round(max(0.0, -self._cash) + blocked + span, 2), "exposure": 0.0,
                    "m2m_realised": 0.0, "m2m_unrealised": 0.0,
                    "option_premium": round(-self._cash, 2), "payout": 0.0,
                    "span": round(span, 2),
                    "holding_sales": 0.0, "turnover": 0.0, "liquid_collateral": 0.0,
                    "stock_collateral": 0.0, "delivery": 0.0}
        equity = {"enabled": True, "net": round(net, 2), "available": available,
                  "utilised": utilised}
        commodity = {"enabled": True, "net": 0.0,
                     "available": dict.fromkeys(available, 0.0),
                     "utilised": dict.fromkeys(utilised, 0.0)}
        if segment is None:
            return {"equity": equity, "commodity": commodity}
        if segment == "equity":
            return equity
        if segment == "commodity":
            return commodity
        raise _input_error(f"Invalid segment `{segment}`.")


# ---------------------------------------------------------------------------- replies


def _ok(data: Any) -> _Reply:
    return _Reply(200, json.dumps({"status": "success", "data": data}).encode())


def _error(status: int, error_type: str, message: str) -> _Reply:
    body = {"status": "error", "message": message, "error_type": error_type, "data": None}
    return _Reply(status, json.dumps(body).encode())


def _fault_reply(fault: Fault) -> _Reply:
    if fault.html:
        return _Reply(fault.status, fault.message.encode(), "text/html")
    return _error(fault.status, fault.error_type or "GeneralException", fault.message)


def _depth(price: float, quantity: int, lot: int) -> list[dict[str, Any]]:
    """Five levels; only the touch is populated, empty levels are zeros as at Kite."""
    levels: list[dict[str, Any]] = [{"price": 0, "quantity": 0, "orders": 0} for _ in range(5)]
    if price > 0 and quantity > 0:
        levels[0] = {"price": price, "quantity": quantity, "orders": max(1, quantity // lot)}
    return levels


def _option_leg(inst: FakeInstrument | None, units: int,
                premium: float = 0.0) -> OptionLeg | None:
    """An option as a margin leg of ``units`` signed units; None for anything else."""
    if inst is None or inst.instrument_type not in ("CE", "PE") or not inst.expiry or not units:
        return None
    return OptionLeg(underlying=inst.name, expiry=dt.date.fromisoformat(inst.expiry),
                     kind=inst.instrument_type, strike=inst.strike, quantity=units,
                     premium=premium)


def _charges() -> dict[str, Any]:
    """Kite's charges block; the fake charges nothing."""
    return {"transaction_tax": 0.0, "transaction_tax_type": "", "exchange_turnover_charge": 0.0,
            "sebi_turnover_charge": 0.0, "brokerage": 0.0, "stamp_duty": 0.0,
            "gst": {"igst": 0.0, "cgst": 0.0, "sgst": 0.0, "total": 0.0}, "total": 0.0}


def _margin_dict(margin: BookMargin, inst: FakeInstrument | None = None, *,
                 leverage: int = 0) -> dict[str, Any]:
    """One margin block in Kite's shape: a basket total (no instrument) or one order's."""
    return {"type": "equity" if inst is not None else "",
            "tradingsymbol": inst.tradingsymbol if inst is not None else "",
            "exchange": inst.exchange if inst is not None else "",
            "span": round(margin.span, 2), "exposure": 0.0,
            "option_premium": round(margin.premium, 2), "additional": 0.0, "bo": 0.0,
            "cash": 0.0, "var": 0.0, "pnl": {"realised": 0.0, "unrealised": 0.0},
            "leverage": leverage, "charges": _charges(), "total": round(margin.total, 2)}


def _match_route(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    for verb, pattern, route in _ROUTES:
        if verb == method:
            found = pattern.match(path)
            if found is not None:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None, {}


# ---------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeKiteServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def close_connections(self) -> None:
        """Drop kept-alive client connections, so a stopped server is really gone."""
        with self.connections_lock:
            open_ = list(self.connections)
        for conn in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); a fake needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per reply and no Nagle: otherwise header and body go out as two
    # segments and delayed ACKs add ~40 ms to every request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        form: dict[str, str] = {}
        body: Any = None
        if raw and "json" in (self.headers.get("Content-Type") or ""):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None  # answered as an invalid request by the route
        elif raw:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            form = {key: values[-1] for key, values in parsed.items()}
        query = parse_qs(split.query, keep_blank_values=True)
        fake = self.server.fake
        reply = fake.handle(method, split.path, query, form, self.headers.get("Authorization"),
                            body)
        if reply.delay_s > 0 and fake._stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) and closed the connection
            self.close_connection = True
            self.wfile = io.BytesIO()  # drop what could not be sent; nothing left to flush

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on :attr:`FakeKiteServer.requests` instead."""


__all__ = [
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_SPOTS",
    "HOST",
    "ORDER_TIMED_OUT",
    "FakeInstrument",
    "FakeKiteServer",
    "Fault",
    "RateLimits",
    "RecordedRequest",
    "ist",
    "margin_message",
    "margin_raw",
    "nifty_strip",
]
