"""KiteBroker: the :class:`Broker` protocol on a ready ``kiteconnect.KiteConnect`` instance.

What the adapter does, and what it deliberately does not:

- Every client call uses keyword arguments (kiteconnect 5.2.2 put ``algo_id`` before ``tag`` in
  ``place_order``'s positional order). Limit prices go out cleaned onto the tick grid, because
  the client sends ``str(float)`` verbatim; ``market_protection`` goes out for MARKET only.
- Errors keep the class Kite named: kiteconnect's exceptions (class chosen by the JSON
  ``error_type``, ``.code`` = HTTP status) and requests' ``ReadTimeout`` / ``ConnectTimeout`` /
  ``ConnectionError`` pass through unchanged. Where the client cannot name an answer, the
  adapter reads the answer itself (every call goes through :meth:`KiteBroker.call_kite`,
  :func:`~.errors.read_error_answer`): a ``MarginException``, ``HoldingException`` or
  ``UserException`` (no class in kiteconnect 5.2.2) is raised as that type, Kite's envelope
  without an ``error_type`` as a ``GeneralException``, and an answer that is not Kite's JSON
  (a gateway's HTML, plain text, an empty body) as an ``UnreadableAnswer`` with the real HTTP
  status. :class:`imperium_exec.retry.RetryPolicy` classifies them by class name, code and
  text, and the engine reconciles ambiguous ones by tag.
- Kite's order states fold into :class:`OrderStatus` by name (:data:`KITE_STATUSES`): what
  waits at Zerodha before reaching the exchange (``PUT ORDER REQ RECEIVED``, ``VALIDATION
  PENDING``, ``OPEN PENDING``, ``AMO REQ RECEIVED``) is PENDING; what rests at the exchange,
  being modified, triggered or cancelled (``MODIFIED``, ``UPDATE``, ``TRIGGER PENDING``,
  ``CANCEL PENDING``...) is OPEN; a state we do not know is logged once and is PENDING, never
  terminal. A row's fills are read from it whatever its state (an ``UPDATE`` postback is a
  partial fill). Its tag is ``tag``, else the first of ``tags``.
- No pacing here: every request the engine makes goes through its one account-wide rate budget
  (:mod:`imperium_exec.engine.rate_budget`), awaited on the engine's loop by priority, and only then
  runs in a worker thread. ``rate_limits`` tells that budget Kite's limits.
- ``quotes(keys)`` asks for up to 500 instruments in one ``GET /quote``: the market-data
  service coalesces everyone's needs into one call a second.
- ``algo_id`` (SEBI's 2026 retail-algo framework: the exchange's strategy id) goes out on every
  order when set.
- ``basket_margin(legs)`` asks Kite's basket margins with ``consider_positions`` (``POST
  /margins/basket``) and the equity segment's margins (``GET /user/margins/equity``): two
  requests of the read lane, which the engine budgets as one
  :attr:`~imperium_exec.engine.rate_budget.RequestKind.MARGIN_READ`.
- ``modify_order(order_id, change)`` (``PUT /orders/{variety}/{order_id}``, kiteconnect's
  ``modify_order``): the new total quantity and price (or a protected MARKET order type) of a
  resting order, which keeps its id and tag; one write of the rate limits, declared with
  Kite's 25 modifications an order (``max_modifications``). A 200 means Kite took the
  request: the order shows the change (``MODIFY ... PENDING`` -> ``MODIFIED`` -> ``OPEN``) or a
  status message saying why not.
- ``positions()`` reads the account's ``net`` positions (``GET /portfolio/positions``; the
  ``day`` list is the day's activity only, so a carried NRML position is not in it): one
  request of the read lane, which the desk asks at most every few seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from ...clock import RealClock
from ...engine.rate_budget import AccountRateLimits
from ...request import OrderType, Side
from ...timeutil import IST, is_on_tick, round_to_tick
from ...volume_curve import nse_session_seconds
from ..base import (
    BrokerCapabilities,
    BrokerOrder,
    BrokerPosition,
    MarginCheck,
    MarginLeg,
    ModifyInstruction,
    OrderInstruction,
    OrderStatus,
    Quote,
    StreamHandlers,
)
from .errors import KITE_ERRORS, read_error_answer

if TYPE_CHECKING:
    from ...engine.gateway import BrokerGateway
    from .stream import KiteStream

_KITE_TIME = "%Y-%m-%d %H:%M:%S"
#: Kite's most instruments per GET /quote.
QUOTE_BATCH = 500
#: Modifications Kite accepts per order ("A maximum of 25 modification requests can be sent per
#: order", Kite's forum); the next is refused with "Maximum allowed order modifications
#: exceeded.".
MAX_MODIFICATIONS = 25
KITE_API_ROOT = "https://api.kite.trade"
KITE_TICKER_ROOT = "wss://ws.kite.trade"

log = logging.getLogger(__name__)


#: Every order state Kite documents, folded for the engine. Kite's order book and order
#: history (kite.trade/docs/connect/v3/orders), its postbacks and ticker order updates
#: ("COMPLETE, CANCEL, REJECTED, UPDATE": UPDATE is a partial fill or a modification of an
#: open order).
KITE_STATUSES: dict[str, OrderStatus] = {
    # Held at Zerodha, not at the exchange yet.
    "PUT ORDER REQ RECEIVED": OrderStatus.PENDING,
    "VALIDATION PENDING": OrderStatus.PENDING,
    "OPEN PENDING": OrderStatus.PENDING,
    "AMO REQ RECEIVED": OrderStatus.PENDING,  # an after-market order waits for the open
    # At the exchange, working (and able to fill) whatever is being done to it.
    "OPEN": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.OPEN,  # a stop order resting until its trigger
    "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
    "MODIFY PENDING": OrderStatus.OPEN,
    "MODIFIED": OrderStatus.OPEN,
    "NOT MODIFIED": OrderStatus.OPEN,  # a modification refused: the order rests unchanged
    "CANCEL PENDING": OrderStatus.OPEN,  # may still fill until the cancel is confirmed
    "NOT CANCELLED": OrderStatus.OPEN,
    "UPDATE": OrderStatus.OPEN,  # a postback's partial fill or modification
    # A postback's word for an ended cancel, per Kite's postback page; not seen in the book,
    # which says CANCELLED: working until the book says so (never ended on a guess).
    "CANCEL": OrderStatus.PENDING,
    # Ended.
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELLED": OrderStatus.CANCELLED,
    "CANCELLED AMO": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
}
_unknown_statuses: set[str] = set()
_unknown_lock = threading.Lock()


def order_status(kite_status: str | None) -> OrderStatus:
    """Fold one of Kite's order states into the engine's five (:data:`KITE_STATUSES`). A state
    Kite does not document is logged once and is PENDING: still working, never finished."""
    text = " ".join((kite_status or "").split()).upper()
    folded = KITE_STATUSES.get(text)
    if folded is not None:
        return folded
    with _unknown_lock:
        first = text not in _unknown_statuses
        _unknown_statuses.add(text)
    if first:
        log.warning("unknown Kite order status %r: treated as working (not finished)",
                    kite_status)
    return OrderStatus.PENDING


def order_tag(raw: dict[str, Any]) -> str | None:
    """An order's tag: ``tag``, else the first of ``tags`` (Kite's list; an order it sliced
    or protected may carry the tag only there, first, as its mocks show), else None."""
    tag = raw.get("tag")
    if isinstance(tag, str) and tag:
        return tag
    tags = raw.get("tags")
    if isinstance(tags, list):
        for entry in tags:
            if isinstance(entry, str) and entry:
                return entry
    return None


def kite_time_to_epoch(value: Any) -> float | None:
    """Epoch seconds from a Kite timestamp: a naive IST ``datetime`` (the client parses
    19-character fields) or the raw ``YYYY-MM-DD HH:MM:SS`` string; None when absent."""
    moment: dt.datetime
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.strptime(value[:19], _KITE_TIME)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment.timestamp()


class KiteBroker:
    """Places, cancels and tracks orders and reads quotes through Kite Connect.

    ``kite`` is a ready ``kiteconnect.KiteConnect`` (access token set). ``tick_size`` is the
    grid limit prices are cleaned onto (0.05 for index options); a price off that grid is sent
    as given, cleaned of float noise only, and Kite's own tick check answers it.
    ``max_modifications`` is the modifications Kite accepts per order (25), declared to the
    engine, which keeps below it.
    """

    name = "kite"

    def __init__(self, kite: Any, *, tick_size: float = 0.05, algo_id: str | None = None,
                 rate_limits: AccountRateLimits | None = None,
                 ticker_root: str | Literal["auto"] | None = "auto",
                 ticker_silence_s: float = 10.0,
                 max_modifications: int | None = MAX_MODIFICATIONS) -> None:
        self.kite = kite
        if ticker_root == "auto":  # Zerodha's ticker for Zerodha's API; none for anything else
            root = str(getattr(kite, "root", "") or "")
            ticker_root = KITE_TICKER_ROOT if root.rstrip("/") == KITE_API_ROOT else None
        #: Kite's ticker WebSocket (quotes and order updates); None: REST only.
        self.ticker_root = ticker_root
        self.ticker_silence_s = ticker_silence_s
        self.clock = RealClock()
        self.tick_size = tick_size
        if algo_id is not None and not algo_id.strip():
            raise ValueError("algo_id: must not be blank (leave it None when not registered)")
        self.algo_id = algo_id
        #: Kite's request limits, kept by the engine's rate budget.
        self.rate_limits = rate_limits or AccountRateLimits.kite()
        self._varieties: dict[str, str] = {}
        self._varieties_lock = threading.Lock()
        self._dumps: dict[str, list[dict[str, Any]]] = {}
        self._listed: dict[str, frozenset[str]] = {}
        self._dump_lock = threading.Lock()
        self.capabilities = BrokerCapabilities(
            rate_limits=self.rate_limits, errors=KITE_ERRORS, quotes=self.quotes,
            open_stream=self.open_stream, lists=self.lists, instrument_dump=self.instrument_dump,
            basket_margin=self.basket_margin, positions=self.positions,
            modify_order=self.modify_order, max_modifications=max_modifications,
            relogin=self.relogin, clock=self.clock)
        #: The answer to this thread's request in flight (read when the client fails on it).
        self._answers = threading.local()
        hooks = getattr(getattr(kite, "reqsession", None), "hooks", None)
        if isinstance(hooks, dict):  # a real client's requests.Session
            hooks.setdefault("response", []).append(self._saw_answer)

    def _saw_answer(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: remember the answer for :meth:`call_kite`."""
        self._answers.last = response

    def call_kite(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """The client's method ``name`` called with these arguments; where the client fails on
        an answer it cannot name, the exception the answer means is raised instead (from the
        client's; :func:`~.errors.read_error_answer`). Transport errors, and exceptions Kite
        named right, are raised unchanged."""
        self._answers.last = None
        try:
            return getattr(self.kite, name)(*args, **kwargs)
        except OSError:  # requests' transport errors: no answer to read
            raise
        except Exception as exc:
            answer = getattr(self._answers, "last", None)
            if answer is None:  # failed before any answer came
                raise
            read = read_error_answer(exc, int(answer.status_code),
                                     answer.headers.get("content-type"),
                                     bytes(answer.content or b""))
            if read is exc:
                raise
            raise read from exc
        finally:
            self._answers.last = None

    def relogin(self, access_token: str) -> None:
        """Use ``access_token`` from now on (a new login's); the ticker, reopened by the
        engine, connects with it too. Makes no request."""
        self.kite.set_access_token(access_token)

    # ---------------------------------------------------------------- Broker protocol

    def place_order(self, order: OrderInstruction) -> str:
        """POST /orders/{variety}; returns Kite's order id. An error answer raises what it
        means (:meth:`call_kite`)."""
        params: dict[str, Any] = dict(
            variety=order.variety, exchange=order.exchange, tradingsymbol=order.tradingsymbol,
            transaction_type=str(order.side), quantity=int(order.quantity),
            product=order.product, order_type=str(order.order_type), validity=order.validity,
            tag=order.tag)
        if self.algo_id is not None:
            params["algo_id"] = self.algo_id
        if order.order_type is OrderType.MARKET:
            # Omitted (None) is not defaulted: Kite then refuses the order, which is the truth.
            params["market_protection"] = order.market_protection
        else:
            params["price"] = self.format_price(order.limit_price, order.tick_size)
        order_id = str(self.call_kite("place_order", **params))
        with self._varieties_lock:
            self._varieties[order_id] = order.variety
        return order_id

    def cancel_order(self, order_id: str) -> None:
        """DELETE /orders/{variety}/{order_id} (the variety the order was placed with)."""
        with self._varieties_lock:
            variety = self._varieties.get(order_id, "regular")
        self.call_kite("cancel_order", variety=variety, order_id=order_id)

    def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
        """PUT /orders/{variety}/{order_id} (the variety the order was placed with): the new
        total quantity, and the limit price (LIMIT) or market protection (MARKET). An error
        answer raises what it means (:meth:`call_kite`)."""
        with self._varieties_lock:
            variety = self._varieties.get(order_id, "regular")
        params: dict[str, Any] = dict(variety=variety, order_id=order_id,
                                      quantity=int(change.quantity),
                                      order_type=str(change.order_type))
        if change.order_type is OrderType.MARKET:
            params["market_protection"] = change.market_protection
        else:
            params["price"] = self.format_price(change.limit_price, change.tick_size)
        self.call_kite("modify_order", **params)

    def orders(self) -> list[BrokerOrder]:
        """Today's order book (GET /orders), every state folded for the engine."""
        mapped: list[BrokerOrder] = []
        for raw in self.call_kite("orders") or []:
            try:
                mapped.append(self.to_broker_order(raw))
            except (KeyError, TypeError, ValueError):
                # One odd row (a product or side we do not model) must not hide every fill.
                log.warning("skipping an order-book row we cannot read: %r", raw)
        return mapped

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        """Top of book, LTP and volume of one instrument (GET /quote); None when Kite has no
        such instrument. The engine never calls this: it batches through :meth:`quotes`."""
        key = f"{exchange}:{tradingsymbol}"
        return self.quotes([key]).get(key)

    def quotes(self, keys: list[str]) -> dict[str, Quote]:
        """Quotes of up to 500 ``"EXCHANGE:SYMBOL"`` keys in one GET /quote; instruments Kite
        does not know are left out. Failures (a 429 included) raise."""
        if len(keys) > QUOTE_BATCH:
            raise ValueError(f"keys: at most {QUOTE_BATCH} instruments per quote call")
        data = self.call_kite("quote", list(keys)) or {}
        out: dict[str, Quote] = {}
        for key in keys:
            raw = data.get(key)
            if isinstance(raw, dict):
                out[key] = self.to_quote(key.partition(":")[2], raw)
        return out

    def basket_margin(self, legs: list[MarginLeg]) -> MarginCheck:
        """The margin the basket needs with the hedge benefit and the positions held
        (``final.total`` of ``POST /margins/basket?consider_positions=true``) against the equity
        segment's ``net`` (``GET /user/margins/equity``); ``required_without_hedge``: the sum of
        the per-order totals, when Kite sends them. Two requests; errors pass through
        unchanged."""
        orders = [self.margin_order(leg) for leg in legs]
        basket = self.call_kite("basket_order_margins", orders, consider_positions=True)
        equity = self.call_kite("margins", "equity")
        per_order = basket.get("orders") or []
        without_hedge = sum(float(o.get("total") or 0.0) for o in per_order) \
            if per_order else None
        return MarginCheck(required=float(basket["final"]["total"]),
                           available=float(equity["net"]),
                           required_without_hedge=without_hedge)

    def positions(self) -> list[BrokerPosition]:
        """The account's net positions (``GET /portfolio/positions``, its ``net`` list): per
        instrument and product, whoever placed the orders. Errors pass through unchanged; a
        row we cannot read is skipped, never hiding the others."""
        data = self.call_kite("positions") or {}
        mapped: list[BrokerPosition] = []
        for raw in data.get("net") or []:
            try:
                mapped.append(self.to_broker_position(raw))
            except (KeyError, TypeError, ValueError):
                log.warning("skipping a positions row we cannot read: %r", raw)
        return mapped

    def margin_order(self, leg: MarginLeg) -> dict[str, Any]:
        """One basket leg as Kite's margin calculator takes it (price 0 for MARKET)."""
        price = self.format_price(leg.price) if leg.order_type is OrderType.LIMIT else None
        return dict(exchange=leg.exchange, tradingsymbol=leg.tradingsymbol,
                    transaction_type=str(leg.side), variety="regular", product=leg.product,
                    order_type=str(leg.order_type), quantity=int(leg.quantity),
                    price=price or 0, trigger_price=0)

    def lists(self, tradingsymbol: str, exchange: str) -> bool | None:
        """Whether ``exchange``'s instruments dump lists the symbol; None until that dump was
        loaded. Never downloads it nor waits for a download (the caller may be the GUI thread):
        a dump is stored whole, once, so reading it without the lock is safe."""
        listed = self._listed.get(exchange)
        if listed is None:
            dump = self._dumps.get(exchange)
            if not dump:  # not loaded, or an empty answer: cannot tell
                return None
            listed = self._listed[exchange] = frozenset(str(i.get("tradingsymbol"))
                                                        for i in dump)
        return tradingsymbol in listed

    def instrument_dump(self, exchange: str) -> list[dict[str, Any]]:
        """Kite's instruments dump of ``exchange`` (GET /instruments/{exchange}), downloaded
        once a session and shared: the ticker's token map and the desk's chain both read it."""
        with self._dump_lock:
            dump = self._dumps.get(exchange)
            if dump is None:
                dump = self._dumps[exchange] = list(self.call_kite("instruments", exchange) or [])
            return dump

    def open_stream(self, handlers: StreamHandlers, gateway: BrokerGateway) -> KiteStream | None:
        """The ticker WebSocket as the engine's stream (None without a ``ticker_root``)."""
        if self.ticker_root is None:
            return None
        from .stream import KiteStream

        return KiteStream(self, handlers, gateway, url=self.ticker_root, clock=self.clock,
                          silence_s=self.ticker_silence_s)

    def session_seconds(self, epoch: float) -> float:
        """Seconds since 09:15 IST that day (negative before the open); pure arithmetic."""
        return nse_session_seconds(epoch)

    # ---------------------------------------------------------------- mapping

    def format_price(self, price: float | None,
                     tick_size: float | None = None) -> float | None:
        """A limit price as Kite should receive it: on the tick (the order's, else the
        adapter's default), free of float noise (``0.1 + 0.2`` goes out as ``0.3``, not
        ``0.30000000000000004``)."""
        if price is None:
            return None
        tick = tick_size or self.tick_size
        if is_on_tick(price, tick):
            return round_to_tick(price, tick)
        return round(price, 8)

    @staticmethod
    def to_broker_order(raw: dict[str, Any]) -> BrokerOrder:
        """One Kite order dict (from ``orders()``) as the engine's snapshot."""
        status = order_status(raw.get("status"))
        quantity = int(raw.get("quantity") or 0)
        filled = int(raw.get("filled_quantity") or 0)
        # Kite's CANCELLED rows can still show pending_quantity; nothing is pending once ended.
        pending = 0 if status.is_terminal else int(raw.get("pending_quantity")
                                                    or max(0, quantity - filled))
        updated = (kite_time_to_epoch(raw.get("exchange_update_timestamp"))
                   or kite_time_to_epoch(raw.get("exchange_timestamp")))
        return BrokerOrder(
            order_id=str(raw["order_id"]),
            tag=order_tag(raw),
            tradingsymbol=str(raw.get("tradingsymbol") or ""),
            exchange=str(raw.get("exchange") or ""),
            side=Side(str(raw.get("transaction_type") or "").upper()),
            quantity=quantity,
            filled_quantity=filled,
            average_price=float(raw.get("average_price") or 0.0) if filled else 0.0,
            status=status,
            status_message=raw.get("status_message") or None,
            pending_quantity=pending,
            exchange_timestamp=updated,
        )

    @staticmethod
    def to_broker_position(raw: dict[str, Any]) -> BrokerPosition:
        """One row of Kite's ``net`` positions. ``quantity`` is units for index options (Kite
        counts F&O in units; ``multiplier`` is 1 there and only scales the P&L)."""
        quantity = int(raw["quantity"])
        last = raw.get("last_price")
        pnl = raw.get("pnl")
        return BrokerPosition(
            tradingsymbol=str(raw["tradingsymbol"]), exchange=str(raw["exchange"]),
            product=str(raw.get("product") or ""), quantity=quantity,
            average_price=float(raw.get("average_price") or 0.0) if quantity else 0.0,
            last_price=float(last) if last is not None and float(last) > 0 else None,
            pnl=float(pnl) if pnl is not None else None)

    @staticmethod
    def to_quote(tradingsymbol: str, raw: dict[str, Any]) -> Quote:
        """One entry of Kite's quote response; empty depth levels (price 0) become None."""
        depth = raw.get("depth") or {}
        bid, bid_qty = _best(depth.get("buy"))
        ask, ask_qty = _best(depth.get("sell"))
        ltp = float(raw.get("last_price") or 0.0)
        stamp = kite_time_to_epoch(raw.get("timestamp"))
        return Quote(tradingsymbol=tradingsymbol,
                     timestamp=stamp if stamp is not None else time.time(),
                     bid=bid, ask=ask, ltp=ltp if ltp > 0 and math.isfinite(ltp) else None,
                     volume=int(raw.get("volume") or 0),
                     bid_quantity=bid_qty, ask_quantity=ask_qty)


def _best(levels: Any) -> tuple[float | None, int]:
    """Price and quantity of the best depth level, (None, 0) when that side is empty."""
    if not levels:
        return None, 0
    top = levels[0]
    price = float(top.get("price") or 0.0)
    quantity = int(top.get("quantity") or 0)
    if price <= 0 or quantity <= 0:
        return None, 0
    return price, quantity


__all__ = ["KITE_STATUSES", "MAX_MODIFICATIONS", "QUOTE_BATCH", "KiteBroker",
           "kite_time_to_epoch", "order_status", "order_tag"]
