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
- Routes (:mod:`.routes`): orders (place, modify, cancel, the order book, history, trades),
  quotes (+ ltp, ohlc; an index key such as ``NSE:NIFTY 50`` that is not listed as an
  instrument is quoted at its underlying's spot, as Kite quotes an index), instruments, user
  margins, order margins (``POST /margins/orders``: each order alone), basket margins and the
  account's positions (``GET /portfolio/positions``: net and day, per instrument and product,
  with the average price of what is held).
- Validation as 400 ``InputException`` (:mod:`.orders`): lot multiple, freeze quantity, tick,
  market protection, tag of at most 20 characters.
- Modify (``PUT /orders/{variety}/{id}``, kiteconnect's ``modify_order``; :mod:`.orders`): price,
  quantity (the order's new total, above what filled), order type, validity and market
  protection of an ``OPEN`` order, which keeps its id and tag; anything else is refused with
  Kite's "Order cannot be modified as it is being processed. Try later."; at most
  ``max_modifications`` (25, Kite's number) per order, then Kite's ``NetworkException``
  "Maximum allowed order modifications exceeded.".
- Rate limits per calendar second of the server's clock (:mod:`.limits`): 10 order writes
  (place, modify, cancel; also 400/min, and 5,000/day of placements and cancels: a modify is not
  an order of the day), 1 quote, 10 other requests; refused with 429 ``NetworkException`` "Too
  many requests". Refused-by-validation requests count, as at Kite.
- Order states as Kite's order history shows them (``GET /orders/{id}``): ``PUT ORDER REQ
  RECEIVED`` -> ``VALIDATION PENDING`` -> ``OPEN PENDING`` -> ``OPEN`` -> ``UPDATE`` on each
  partial fill (history and postback; the order book shows ``OPEN`` with the fills) ->
  ``COMPLETE``, or ``CANCELLED`` (after ``CANCEL PENDING`` for ``cancel_pending_s`` when set)
  or ``REJECTED``; a modification ``MODIFY VALIDATION PENDING`` -> ``MODIFY PENDING`` (for
  ``modify_pending_s`` when set: the order still fills at its old terms) -> ``MODIFIED`` ->
  ``OPEN`` at the new terms, ``modified`` true; margin shortfalls turn into an asynchronous
  ``REJECTED`` with Kite's RMS strings. An after-market order (variety ``amo``) waits in ``AMO
  REQ RECEIVED`` until :meth:`~FakeKiteServer.open_market`; cancelled before, it ends
  ``CANCELLED AMO``.

Simplified: one price level per side (:mod:`.exchange`); resting orders fill when the test calls
:meth:`~FakeKiteServer.fill` or moves the quote through them with
:meth:`~FakeKiteServer.set_quote`; regular and amo varieties, MARKET, LIMIT and the stop
orders SL and SL-M (``TRIGGER PENDING`` until the last price reaches the trigger, with Kite's
checks on its side of the last price and of the limit; not modifiable while pending), DAY and
IOC only; no autoslice; a limit outside the quote's circuit limits is refused as Kite refuses it
(LPP). Fault injection is scripted per
route with :class:`Fault`. Margin is the paper exchange's SPAN-like rule (:mod:`.margins`).

Ticker (``ticker_root``, :mod:`imperium_exec.testing.fake_ticker`): Kite's WebSocket on
127.0.0.1, an ephemeral port, in its own thread and asyncio loop, started on first use and ended
by :meth:`~FakeKiteServer.stop`. It does: the handshake auth by query ``api_key`` /
``access_token`` (403 when wrong or once :meth:`~FakeKiteServer.expire_session` ran, which also
closes open connections); ``subscribe`` / ``unsubscribe`` / ``mode`` messages (a subscription
starts in ``quote`` mode, as at Kite); the current state of each newly subscribed or re-moded
instrument at once, then one tick per book change (``set_quote``, fills) in each connection's
mode, full packets carrying one depth level per side and zeros elsewhere (like the REST depth);
a 1-byte heartbeat every ``ticker_heartbeat_s``; order updates as text frames ``{"type":
"order", "data": <the GET /orders dict>}`` on every status change and fill of a visible order
(a partial fill's with status ``UPDATE``, as Kite's postbacks);
at most 3,000 tokens per connection (an error text frame beyond) and 3 connections per api_key
(HTTP 429 beyond; ours). Controls: ``drop_ticker``, ``silence_ticker``; inspection:
``ticker_connections``, ``ticker_messages``, ``ticker_handshakes``. It does not: send ticks on
a timer or for instruments nobody changed, model 20-level depth, OI or index ticks from the
book, announce an order hidden by ``appear_after_s`` before a request or control carries the
server's clock past it (time only moves when the server is asked something), or use Kite's
exact error texts (not documented).

Binds 127.0.0.1 only, on ephemeral ports. Deterministic: ids are counters, times come from
``clock``.

Where things live:

- :mod:`.server`: :class:`FakeKiteServer` (lock, clock, lifecycle, test controls, auth, the
  request checks); :mod:`.http_server`: HTTP plumbing and the reply envelope;
  :mod:`.routes`: the route table and dispatch.
- :mod:`.orders`, :mod:`.market_data`, :mod:`.margins`, :mod:`.portfolio`: the routes, by
  family.
- :mod:`.exchange`: the books, orders, matching, fills and funds; :mod:`.records`: the
  records it keeps and an order in Kite's shape.
- :mod:`.instruments`: the instruments; :mod:`.faults`: scripted faults; :mod:`.limits`: rate
  limits; :mod:`.errors`: Kite's error texts.
"""

from __future__ import annotations

from .errors import (
    BAD_SESSION,
    DAILY_ORDER_CAP,
    MARKET_PROTECTION_REQUIRED,
    MODIFICATIONS_EXCEEDED,
    MODIFY_BEING_PROCESSED,
    OMS_DOWN,
    ORDER_TIMED_OUT,
    TOO_MANY_REQUESTS,
    UNKNOWN_INSTRUMENT,
    UNKNOWN_ORDER,
    margin_message,
    margin_raw,
)
from .faults import BodyShape, Fault
from .http_server import HOST
from .instruments import DEFAULT_INSTRUMENTS, DEFAULT_SPOTS, FakeInstrument, nifty_strip
from .limits import RateLimits
from .records import RecordedRequest, ist
from .server import FakeKiteServer

__all__ = [
    "BAD_SESSION",
    "DAILY_ORDER_CAP",
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_SPOTS",
    "HOST",
    "MARKET_PROTECTION_REQUIRED",
    "MODIFICATIONS_EXCEEDED",
    "MODIFY_BEING_PROCESSED",
    "OMS_DOWN",
    "ORDER_TIMED_OUT",
    "TOO_MANY_REQUESTS",
    "UNKNOWN_INSTRUMENT",
    "UNKNOWN_ORDER",
    "BodyShape",
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
