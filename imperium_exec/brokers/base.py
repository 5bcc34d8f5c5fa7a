"""The broker protocol the engine drives, what a broker declares it offers beyond it, and the
value types that cross it.

Broker methods are plain blocking calls (kiteconnect is synchronous ``requests``); the engine runs
them in a bounded thread pool and never on the GUI thread. Implementations must be thread-safe.
Everything a broker offers beyond the protocol (a push stream, batched quotes, margin checks,
its rate limits, its error dialect, ...) it declares once in :class:`BrokerCapabilities`; the
engine reads that declaration and never probes the broker for methods.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from ..events import QuoteSource
from ..instruments import INDEX_QUOTE_KEYS
from ..request import ExecutionRequest, OrderType, Side
from .errors import BrokerErrors

if TYPE_CHECKING:
    from ..clock import Clock
    from ..costs.slippage import SlippageParams
    from ..engine.gateway import BrokerGateway
    from ..engine.rate_budget import AccountRateLimits
    from ..volume_curve import VolumeCurve


class OrderStatus(StrEnum):
    """Kite's order states, folded to what the engine needs to know."""

    PENDING = "PENDING"  # PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING, ...
    OPEN = "OPEN"  # resting at the exchange; may be partly filled
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"  # may carry fills (a partly filled IOC ends here)
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderInstruction:
    """One child order as the broker receives it. Prices are already on the tick grid."""

    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: float | None
    product: str
    validity: str
    tag: str
    market_protection: int | None = None  # set for MARKET orders
    variety: str = "regular"
    tick_size: float | None = None  # the instrument's tick, for brokers that format prices


@dataclass(frozen=True, slots=True)
class ModifyInstruction:
    """A change to a resting order (Kite's modify: the order keeps its id and tag). Prices are
    already on the tick grid.

    ``quantity`` is the order's new *total* (Kite's meaning): what has filled stays filled, so
    a fill that lands before the change is part of it, never on top of it."""

    quantity: int
    order_type: OrderType
    limit_price: float | None  # None for MARKET
    market_protection: int | None = None  # set for MARKET orders
    tick_size: float | None = None  # the instrument's tick, for brokers that format prices


@dataclass(frozen=True, slots=True)
class MarginLeg:
    """One leg of a basket whose margin is asked for before anything is sent."""

    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int  # units
    order_type: OrderType = OrderType.MARKET
    price: float | None = None  # the limit price, or None (the broker prices at the market)
    product: str = "NRML"

    @classmethod
    def of(cls, request: ExecutionRequest) -> MarginLeg:
        """The margin leg of one parent: all of its quantity, at its limit or the market."""
        return cls(request.tradingsymbol, request.exchange, request.side, request.quantity,
                   request.order_type, request.limit_price, request.product)


@dataclass(frozen=True, slots=True)
class MarginCheck:
    """What a basket needs against what the account has, in rupees (Kite's basket margins
    with ``consider_positions``: the account's open positions count towards the hedge)."""

    required: float  # margin the whole basket blocks once all of it has filled
    available: float  # the account's margin available now
    #: Margin the legs would need one by one, without the hedge benefit (for the message).
    required_without_hedge: float | None = None

    @property
    def shortfall(self) -> float:
        return max(0.0, self.required - self.available)


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """One net position as the broker's account holds it (Kite's ``positions()["net"]`` row):
    an instrument in one product, from every order that built it, this session's and any
    before it (a carried NRML position, another app's orders)."""

    tradingsymbol: str
    exchange: str
    product: str  # "NRML", "MIS", ...: an exit must trade the same product to close it
    quantity: int  # net units: + long, - short, 0 flat (traded today and closed)
    average_price: float  # at which the net quantity was acquired; 0.0 when flat
    last_price: float | None = None  # the instrument's last traded price, when known
    pnl: float | None = None  # rupees, realised and unrealised together, when known

    @property
    def key(self) -> str:
        """Kite's ``"EXCHANGE:SYMBOL"``."""
        return f"{self.exchange}:{self.tradingsymbol}"


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """A snapshot of one order from the broker's order book."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int
    filled_quantity: int
    average_price: float  # of the filled quantity; 0.0 when nothing filled
    status: OrderStatus
    status_message: str | None = None
    pending_quantity: int = 0
    exchange_timestamp: float | None = None  # epoch seconds of the last exchange update

    @property
    def filled_value(self) -> float:
        """Rupees traded so far: average price times filled quantity."""
        return self.average_price * self.filled_quantity


class DepthLevel(NamedTuple):
    """One price level of the book (Kite shows five a side)."""

    price: float
    quantity: int
    orders: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and traded volume for one instrument at one moment; the levels behind the
    touch when the source shows them (the paper exchange does), else empty."""

    tradingsymbol: str
    timestamp: float  # epoch seconds
    bid: float | None
    ask: float | None
    ltp: float | None
    volume: int  # cumulative traded volume for the session, in units
    bid_quantity: int = 0
    ask_quantity: int = 0
    depth_buy: tuple[DepthLevel, ...] = ()
    depth_sell: tuple[DepthLevel, ...] = ()

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2.0
        return self.ltp


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of an option chain: the call and the put, quoted."""

    strike: float
    call: Quote
    put: Quote


@dataclass(frozen=True, slots=True)
class OptionChain:
    """An expiry's strikes around the money, as the desk shows and prices them."""

    underlying: str
    expiry: dt.date
    spot: float  # NaN while the index has no price yet
    atm_strike: float
    rows: tuple[ChainRow, ...]
    lot_size: int  # units per lot of these options
    taken_at: float  # epoch seconds the quotes were read (the broker's clock)
    #: Every listed expiry of the underlying, nearest first (the desk offers them).
    expiries: tuple[dt.date, ...] = ()
    #: The underlyings the source lists options of (the desk offers them).
    underlyings: tuple[str, ...] = ()


@runtime_checkable
class OptionChainSource(Protocol):
    """What the desk's option chain needs: the paper broker provides it, and over Kite the
    desk's :class:`~imperium_exec.widgets.desk.live.KiteChain` does (from the engine's market
    data). Blocking: call it off the GUI thread."""

    def option_chain(self, underlying: str, *, strikes_each_side: int,
                     expiry: dt.date | None = None) -> OptionChain:
        """``expiry`` (the nearest when None), ``strikes_each_side`` strikes either side of
        the money."""
        ...


@dataclass(frozen=True, slots=True)
class StreamHandlers:
    """Where a broker's push stream delivers, on the engine's loop thread.

    ``on_quote(key, quote)`` with Kite's ``"EXCHANGE:SYMBOL"`` key; ``on_order`` for every
    order update; ``on_state(connected)`` when the connection comes up or drops (updates sent
    while it was down are lost); ``on_session_lost(reason)`` when the broker refuses the token.
    """

    on_quote: Callable[[str, Quote], None]
    on_order: Callable[[BrokerOrder], None]
    on_state: Callable[[bool], None]
    on_session_lost: Callable[[str], None]


class QuoteStream(Protocol):
    """A push feed of quotes (the engine's ``LocalQuoteStream`` over an in-process book, Kite's
    ticker)."""

    source: QuoteSource

    def subscribe(self, keys: Iterable[str]) -> None: ...

    def unsubscribe(self, keys: Iterable[str]) -> None: ...

    def is_live(self, key: str) -> bool:
        """Whether ticks for ``key`` are flowing now (connected and subscribed)."""
        ...

    def alive_at(self) -> float | None:
        """Clock time of the last frame on a connection that has stayed up since; None when
        disconnected."""
        ...

    def connected_since(self) -> float | None: ...

    def request(self, keys: Iterable[str]) -> None:
        """Someone needs the current book of ``keys`` now (a local feed pushes it at once)."""
        ...


class BrokerStream(QuoteStream, Protocol):
    """A broker's push stream of quotes and order updates, run on the engine's loop."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


#: Opens a broker's stream on the engine's loop: updates go to the handlers; requests the
#: stream makes (an instruments load) go through the account's gateway. None: no stream now.
StreamOpener = Callable[[StreamHandlers, "BrokerGateway"], BrokerStream | None]


@dataclass(frozen=True, slots=True)
class TagFormat:
    """The order tag a broker accepts: at most ``length`` characters of ``alphabet``."""

    length: int = 20  # Kite: 20 alphanumerics
    alphabet: str = "A-Za-z0-9"

    def accepts(self, tag: str) -> bool:
        return len(tag) <= self.length and re.fullmatch(f"[{self.alphabet}]*", tag) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerCapabilities:
    """What a broker offers beyond :class:`Broker`, declared once when it is built.

    Each optional service is the broker's own callable, or None when it has none; the engine
    reads this declaration and nothing else. Checked when made (a service must be callable).
    """

    # the account
    #: Its request limits (the engine's one budget keeps to them); None: no limits (in-process).
    rate_limits: AccountRateLimits | None = None
    #: How its failures read (transient / throttle / risk / fatal, may the order exist):
    #: every broker names its dialect (Kite's is ``brokers.kite.errors.KITE_ERRORS``).
    errors: BrokerErrors
    tags: TagFormat = field(default_factory=TagFormat)
    # market data
    #: Quotes are its own in-process book, free and instant (the paper exchange): the engine
    #: reads them as a pushed stream, never over REST.
    local_market_data: bool = False
    #: Many instruments in one request (Kite: up to 500 keys), by ``"EXCHANGE:SYMBOL"``.
    quotes: Callable[[list[str]], Mapping[str, Quote]] | None = None
    #: A push stream of quotes and order updates (Kite's ticker WebSocket).
    open_stream: StreamOpener | None = None
    #: The quote key of each underlying's index (the option's underlying price).
    index_quote_keys: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(dict(INDEX_QUOTE_KEYS)))
    # instruments
    #: Whether its instrument list has ``(tradingsymbol, exchange)`` without a request (None:
    #: cannot tell yet): a parent for a symbol not listed is refused before anything is sent.
    lists: Callable[[str, str], bool | None] | None = None
    #: Its instruments dump of an exchange (Kite's CSV as rows). Blocks.
    instrument_dump: Callable[[str], list[dict[str, Any]]] | None = None
    # margin
    #: The margin a basket needs with the hedge benefit and the account's positions, and what
    #: is available (Kite's basket margins and user margins). None: baskets go unchecked.
    basket_margin: Callable[[list[MarginLeg]], MarginCheck] | None = None
    # the account's holdings
    #: The account's net positions, per instrument and product, whoever traded them (Kite's
    #: ``GET /portfolio/positions``, its ``net`` list). Blocks. None: the broker has none.
    positions: Callable[[], list[BrokerPosition]] | None = None
    # orders
    #: Change a resting order's price, quantity or type in one request (Kite's modify: a
    #: write of the rate limits, not an order of the day). Blocks; errors pass through as
    #: the broker raises them. None: a resting order is re-priced by cancel and a new order.
    modify_order: Callable[[str, ModifyInstruction], None] | None = None
    #: Modifications one order accepts (Kite: 25, then it refuses); None: no limit.
    max_modifications: int | None = None
    #: How late, at most, an order it was sent can turn up in its order book (the paper
    #: exchange knows its own delays); None: no bound is known (Kite), and the engine watches
    #: an attempt of unknown outcome for ``EngineConfig.late_order_watch_s``.
    late_order_window_s: float | None = None
    # the session
    #: Take a new access token after the session was lost (Kite: the token from a fresh
    #: login); the engine then reconciles what it halted. None: its session never expires.
    relogin: Callable[[str], None] | None = None
    # a simulated market's own truth
    #: The clock its market runs on (the paper exchange's, virtual in tests).
    clock: Clock | None = None
    #: The intraday volume curve its market trades (the engine plans with it).
    volume_curve: VolumeCurve | None = None
    #: Its market's true cost parameters (the engine's slippage model uses them).
    slippage_params: SlippageParams | None = None

    def __post_init__(self) -> None:
        for name in ("quotes", "open_stream", "lists", "instrument_dump", "basket_margin",
                     "positions", "modify_order", "relogin"):
            service = getattr(self, name)
            if service is not None and not callable(service):
                raise TypeError(f"capabilities.{name}: {service!r} is not callable")
        if self.max_modifications is not None and self.max_modifications < 1:
            raise ValueError("capabilities.max_modifications: at least 1, or None")
        if self.local_market_data and self.open_stream is not None:
            raise ValueError("capabilities: a broker whose quotes are its own in-process book "
                             "(local_market_data) has no stream to open")


@runtime_checkable
class Broker(Protocol):
    """What the engine needs from a broker. All calls but ``session_seconds`` may block; all
    must be thread-safe."""

    #: Route name written to telemetry ("paper", "kite", ...).
    name: str
    #: What it offers beyond this protocol.
    capabilities: BrokerCapabilities

    def place_order(self, order: OrderInstruction) -> str:
        """Send one order; return the broker's order id. Raise a broker error on refusal."""
        ...

    def cancel_order(self, order_id: str) -> None:
        ...

    def orders(self) -> list[BrokerOrder]:
        """Today's order book: the source of fills and of reconciliation by tag."""
        ...

    def quote(self, tradingsymbol: str, exchange: str) -> Quote | None:
        """Current book, or None when the broker has no market data for the instrument."""
        ...

    def session_seconds(self, epoch: float) -> float:
        """Seconds since the trading session opened at ``epoch`` (for intraday volume curves).

        Pure arithmetic, no I/O and no lock: the planner calls it on the caller's (GUI) thread.
        """
        ...


def checked_capabilities(broker: Broker, *, tag_length: int = 0) -> BrokerCapabilities:
    """``broker``'s declared capabilities, or a TypeError saying what it must declare; a
    ValueError when its tags cannot carry ``tag_length`` letters and digits."""
    try:
        offers = broker.capabilities
    except AttributeError:
        raise TypeError(f"{type(broker).__name__} declares no capabilities: give it a "
                        "`capabilities = BrokerCapabilities(...)` (empty when it offers "
                        "nothing beyond the Broker protocol)") from None
    if not isinstance(offers, BrokerCapabilities):
        raise TypeError(f"{type(broker).__name__}.capabilities: {offers!r} is not a "
                        "BrokerCapabilities")
    if not offers.tags.accepts("Z9" * (tag_length // 2) + "Z" * (tag_length % 2)):
        raise ValueError(f"{broker.name}: its order tags ({offers.tags}) cannot carry the "
                         f"engine's tags ({tag_length} letters and digits)")
    return offers
