"""The event schema: every state change is one :class:`Event`, and its row is the only record.

The engine builds an :class:`Event` for each thing that happens; :meth:`Event.to_row` turns it
into the row that is appended to the JSONL journal and emitted as the Qt signal payload, so the
journal, the signal and the caller's handle tell one story. :func:`read_event` turns a row back
into a typed event: the dock, the desk and restart recovery read rows through it, never by
re-spelling field names and status strings.

Every row carries every field (``None`` where it does not apply) in :data:`ROW_FIELDS` order.
The v1 field names are kept as they were; rows written before ``v`` existed (the v1 desk's
telemetry) still read: their event is inferred from their status.

Versions: 2 added the ``reconciling`` event (and its status); its rows have the same fields as
version 1, so a v1 row is a v2 row that never says ``reconciling``, and both read alike. 3 added
the basket and markout events and the fields from ``prior_impact`` to ``markout_bps``; 4 the
estimate's inputs (``participation``, ``horizon_s``, ``book_walk``), so the slippage model can
be refitted from the journal (:mod:`~.calibration.slippage_fit`), and the market's traded volume
in the child's quote (``day_volume``, ``session_s``), so the volume curve can be
(:mod:`~.calibration.volume_fit`), and the underlying index's price when a parent was accepted
(``underlying_price``), for the moneyness breakdown of :mod:`imperium_exec.tca`.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Callable, Mapping
from enum import StrEnum
from operator import itemgetter
from typing import Annotated, Any, NamedTuple

from .algos.names import ExecutionAlgo
from .request import OrderType, Side, Urgency
from .timeutil import IST

SCHEMA_VERSION = 4
#: Versions whose rows :func:`read_event` takes as they are: version 2 only added an event
#: kind; version 3 added the basket events and the fields from ``prior_impact`` on, version 4
#: those from ``participation`` on (the last ones of a row), None in older rows. (Rows without
#: ``v``, the v1 desk's, are upgraded: see :func:`_upgrade_seed_row`.)
READABLE_VERSIONS: tuple[int, ...] = (1, 2, 3, SCHEMA_VERSION)
#: Fields that rows of a version before the one named do not have (always the last fields,
#: in version order).
FIELDS_SINCE: dict[str, int] = dict.fromkeys(
    ("prior_impact", "basket_id", "leg_role", "fees", "decision_price", "end_price",
     "is_delay", "is_spread", "is_drift", "is_opportunity", "markout_s", "markout_mid",
     "markout_bps"), 3) | dict.fromkeys(
    ("participation", "horizon_s", "book_walk", "day_volume", "session_s",
     "underlying_price"), 4)


class EventKind(StrEnum):
    """What happened (the ``event`` field)."""

    # parent events
    ACCEPTED = "accepted"  # plan made, nothing sent yet
    WARNING = "warning"  # pre-trade warning (e.g. POV horizon too short for the order)
    PAUSED = "paused"
    RESUMED = "resumed"
    FINISHED = "finished"  # terminal: status is filled / partial / cancelled / failed
    # child events
    PLACED = "placed"  # broker accepted the order (status placed)
    RETRY = "retry"  # an attempt failed and another will follow after backoff
    #: An ambiguous attempt (it may have reached the broker): the engine looks its tag up in the
    #: order book before anything is re-sent. Not terminal; the child's next row (reconciled,
    #: retry or error, same tag) ends the wait. Since schema version 2.
    RECONCILING = "reconciling"
    RECONCILED = "reconciled"  # an ambiguous outcome was resolved against the order book
    ERROR = "error"  # terminal: the child could not be placed (or its outcome is unknown)
    FILLED = "filled"  # a fill increment (status partially_filled or filled)
    CANCELLED = "cancelled"  # terminal: unfilled quantity returned to the parent
    REJECTED = "rejected"  # terminal: the exchange/RMS rejected a placed order
    GHOST = "ghost"  # a late order from an earlier attempt's tag turned up and was handled
    #: The mid some seconds after a fill (markout_s), against the fill: adverse selection.
    #: One row per fill and horizon, written when due; the fill's row is never rewritten.
    #: Since schema version 3.
    MARKOUT = "markout"
    # basket events (parent_id is "", basket_id names the basket; its legs are parents whose
    # rows carry the same basket_id). Since schema version 3.
    BASKET_ACCEPTED = "basket_accepted"  # the legs, their roles and the order they go in
    BASKET_FINISHED = "basket_finished"  # terminal: filled / partial (stopped) / cancelled / failed
    # account events (no parent: parent_id is "")
    SESSION = "session"  # the broker session is gone: re-login needed, nothing more is sent

    @property
    def is_child_event(self) -> bool:
        """Events about one child order (the blotter's rows); the rest are about a parent or
        the account."""
        return self in _CHILD_EVENTS

    @property
    def ends_child(self) -> bool:
        """The child's terminal row (a complete fill is the other way a child ends)."""
        return self in (EventKind.ERROR, EventKind.CANCELLED, EventKind.REJECTED)


_CHILD_EVENTS = frozenset({
    EventKind.PLACED, EventKind.RETRY, EventKind.RECONCILING, EventKind.RECONCILED,
    EventKind.ERROR, EventKind.FILLED, EventKind.CANCELLED, EventKind.REJECTED, EventKind.GHOST,
})


class ParentStatus(StrEnum):
    """A parent's state (the ``status`` of its parent rows, and of its result)."""

    WORKING = "working"
    PAUSED = "paused"
    FILLED = "filled"  # all quantity filled
    PARTIAL = "partial"  # ended with some quantity unfilled (window over, POV could not fit)
    CANCELLED = "cancelled"  # the trader cancelled it
    FAILED = "failed"  # a child hit a risk or fatal error (or exhausted its retries)


class ChildStatus(StrEnum):
    """A child's state in the engine (and in the result's children)."""

    SCHEDULED = "scheduled"
    WORKING = "working"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ERROR = "error"
    UNKNOWN = "unknown"  # the engine stopped before learning whether an attempt was placed

    @property
    def is_terminal(self) -> bool:
        return self not in (ChildStatus.SCHEDULED, ChildStatus.WORKING)


class Status(StrEnum):
    """The ``status`` field: the parent's state on parent rows, the child's on child rows."""

    # parent rows (the values of ParentStatus)
    WORKING = "working"
    PAUSED = "paused"
    PARTIAL = "partial"
    FAILED = "failed"
    # child rows (filled and cancelled also end parents)
    PLACED = "placed"  # resting at the broker (also on a reconciled row: the order was found)
    RETRY = "retry"  # waiting out a backoff before the next attempt
    RECONCILING = "reconciling"  # its order may exist: looking its tag up in the order book
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ERROR = "error"  # never placed
    UNKNOWN = "unknown"  # the engine ended before learning an attempt's outcome
    # ghost rows: the late order's state at the broker, or that it never turned up
    PENDING = "pending"
    OPEN = "open"
    COMPLETE = "complete"
    NOT_PLACED = "not_placed"
    # session rows
    RELOGIN_NEEDED = "relogin_needed"


class ErrorBucket(StrEnum):
    """How an error is retried (the ``error_bucket`` field)."""

    TRANSIENT = "transient"  # network, 5xx, timeouts: reconcile if ambiguous, then retry
    THROTTLE = "throttle"  # 429 / rate limit: back off about a second, retry
    RISK = "risk"  # margin, price band, RMS: never retried, the parent fails
    FATAL = "fatal"  # token, permission, bad input: never retried


class QueuePriority(StrEnum):
    """Where a child sits in the book (the ``queue_priority`` field)."""

    TAKE = "take"  # cross the spread
    JOIN = "join"  # rest at our side's touch
    NEUTRAL = "neutral"  # at the mid, rounded to the tick


class QuoteSource(StrEnum):
    """Where the quote a child was priced from came from (the ``quote_source`` field)."""

    STREAM = "stream"  # Kite's ticker WebSocket
    REST = "rest"  # Kite's GET /quote
    PAPER = "paper"  # the in-process exchange's own book
    TICKET = "ticket"  # the bid/ask the desk sent with the order (never used to price a child)


class Event(NamedTuple):
    """One state change, typed and immutable. Field order is the row's column order; each
    field's ``Annotated`` text is its meaning (the README's schema table is made from them)."""

    # v1 fields
    timestamp: Annotated[str, "When it happened, ISO 8601 in IST"] = ""
    tradingsymbol: Annotated[str, "The instrument (empty on session rows)"] = ""
    execution_algo: Annotated[str | None, "The parent's algorithm: IMMEDIATE, IS, TWAP, VWAP, "
                              "POV, or the name of one registered from outside"] = None
    child_index: Annotated[int | None, "Child number within the parent, from 1"] = None
    children: Annotated[int | None, "The parent's count of child orders: the plan's, raised "
                        "only when a re-cut slice (quantity rolled in from a cancelled child) "
                        "needs more orders than it replaced (a re-cut child takes the number "
                        "of the one it replaces); never goes down, never below a child_index"
                        ] = None
    quantity: Annotated[int | None, "The child's quantity in units (the parent's on the "
                        "accepted and finished rows)"] = None
    arrival_price: Annotated[float | None, "The parent's mid when it first had a price"] = None
    limit_price: Annotated[float | None, "The child's limit price (none: a MARKET child)"] = None
    expected_slippage: Annotated[float | None, "Expected cost per unit against the arrival "
                                 "price, before sending (positive = cost)"] = None
    impact_estimate: Annotated[float | None, "The market-impact part of that, per unit"] = None
    route: Annotated[str | None, "The broker the child went to (paper, kite, memory)"] = None
    queue_priority: Annotated[QueuePriority | None, "Where the child sat in the book"] = None
    latency_ms: Annotated[float | None, "The placement's broker round trip, milliseconds"] = None
    status: Annotated[Status | None, "The parent's state on parent rows, the child's on "
                      "child rows"] = None
    error_bucket: Annotated[ErrorBucket | None, "How the error was handled"] = None
    error: Annotated[str | None, "The broker's error text"] = None
    attempt: Annotated[int | None, "Placement attempt of the child, from 1"] = None
    # identity and schema
    v: Annotated[int, "Schema version: 4 (3: written before the estimate's inputs; 2: before "
                 "baskets and prior_impact; 1: "
                 "before the reconciling event; 0: a row from before versions)"
                 ] = SCHEMA_VERSION
    event: Annotated[EventKind, "What happened"] = EventKind.WARNING
    ts: Annotated[float, "When it happened, seconds since the epoch"] = 0.0
    mode: Annotated[str, "live or paper"] = "paper"
    parent_id: Annotated[str, "The parent order's id (empty on session rows)"] = ""
    child_id: Annotated[str | None, "parent_id-child_index"] = None
    tag: Annotated[str | None, "The attempt's Kite order tag (unique per attempt)"] = None
    order_id: Annotated[str | None, "The broker's order id"] = None
    # order and parent context
    exchange: Annotated[str | None, "NFO or BFO"] = None
    side: Annotated[Side | None, "BUY or SELL"] = None
    order_type: Annotated[OrderType | None, "The parent's order type"] = None
    execution_urgency: Annotated[Urgency | None, "The parent's urgency"] = None
    parent_quantity: Annotated[int | None, "The parent's quantity in units"] = None
    parent_filled_quantity: Annotated[int | None, "The parent's filled quantity after this "
                                      "event"] = None
    send_at: Annotated[float | None, "When the child's slice was due, epoch seconds"] = None
    mid_at_send: Annotated[float | None, "The mid the child was priced from"] = None
    expected_cost_bps: Annotated[float | None, "Expected cost in basis points of the arrival "
                                 "price"] = None
    ambiguous: Annotated[bool | None, "The error left the order's existence unknown, so it "
                         "was reconciled by tag"] = None
    # fills
    filled_quantity: Annotated[int | None, "Units filled by this event (fill rows); units "
                               "filled in all (terminal rows)"] = None
    fill_price: Annotated[float | None, "Price of this fill increment"] = None
    realized_slippage: Annotated[float | None, "Cost per unit of the fill against the "
                                 "arrival price (positive = cost)"] = None
    realized_slippage_bps: Annotated[float | None, "The same, in basis points of the arrival "
                                     "price"] = None
    average_price: Annotated[float | None, "Average fill price so far (child), or final "
                             "(parent)"] = None
    message: Annotated[str | None, "What happened, for the trader"] = None
    # the quote the child was priced from
    quote_source: Annotated[QuoteSource | None, "Where that quote came from (ticket: a MARKET "
                            "child that did not wait for one)"] = None
    quote_age_ms: Annotated[float | None, "How old it was when the child was priced, "
                            "milliseconds"] = None
    prior_impact: Annotated[float | None, "The part of impact_estimate that is the parent's "
                            "earlier fills still moving the price, per unit: already in the "
                            "mid the child is priced from, so not a cost against that mid"
                            ] = None
    # baskets
    basket_id: Annotated[str | None, "The basket a leg parent belongs to (and the basket "
                         "rows' own id)"] = None
    leg_role: Annotated[str | None, "The leg's role in its basket: hedge (a buy that covers "
                        "the group's sells: goes first), covered (a sell out only as far as "
                        "its hedge has filled), outright"] = None
    # charges
    fees: Annotated[float | None, "What this fill cost besides its price, rupees: brokerage "
                    "(with an order's first fill), STT, exchange charges, SEBI fee, stamp "
                    "duty and GST at the dated rates of resources/charges.json (finished "
                    "rows: the parent's in all)"] = None
    # implementation shortfall, on finished rows (rupees, positive = cost; see shortfall.py)
    decision_price: Annotated[float | None, "The ticket's mid when the order was decided "
                              "(the arrival price when the ticket had no book)"] = None
    end_price: Annotated[float | None, "The mid when the parent ended"] = None
    is_delay: Annotated[float | None, "Shortfall from the decision to the arrival, on the "
                        "filled quantity"] = None
    is_spread: Annotated[float | None, "Fills against the mids their children were priced "
                         "from: spread and book walked"] = None
    is_drift: Annotated[float | None, "Those mids against the arrival price: the market and "
                        "our own earlier fills"] = None
    is_opportunity: Annotated[float | None, "The unfilled quantity against the mid at the "
                              "end"] = None
    # markouts (markout rows: fill_price and filled_quantity are the fill's)
    markout_s: Annotated[float | None, "Seconds after the fill (1, 5, 60)"] = None
    markout_mid: Annotated[float | None, "The mid then"] = None
    markout_bps: Annotated[float | None, "The fill against that mid, bps of the fill price "
                           "(positive = cost: the market moved against the fill)"] = None
    # the estimate's inputs (child rows), so the slippage model can be refitted from the journal
    participation: Annotated[float | None, "The participation rate the estimate's power law "
                             "used for the child"] = None
    horizon_s: Annotated[float | None, "The child's horizon the estimate used, seconds (none: "
                         "the model's nominal horizon)"] = None
    book_walk: Annotated[float | None, "The part of impact_estimate that is walking the "
                         "displayed book beyond the touch, per unit"] = None
    # the market's traded volume as the child's quote showed it (child rows), so the intraday
    # volume curve can be fitted from the journal (imperium_exec.calibration.volume_fit)
    day_volume: Annotated[int | None, "The instrument's cumulative traded volume of the "
                          "session, units, in the quote the child was priced from (none: no "
                          "quote)"] = None
    session_s: Annotated[float | None, "When that quote was taken, seconds since the broker's "
                         "session open (the volume curve's time)"] = None
    # the underlying's level (accepted and finished rows of option parents), so costs can be
    # broken down by moneyness (imperium_exec.tca)
    underlying_price: Annotated[float | None, "The option's underlying index's price (its "
                                "last value) when the parent was accepted, from a quote "
                                "already at hand, on the accepted and finished rows (none: "
                                "no index quote young enough then, or not an option)"] = None

    def to_row(self) -> dict[str, Any]:
        """The JSONL row: every field, enums as their plain string values."""
        values: list[Any] = list(self)
        for position in _ENUM_INDEXES:
            value = values[position]
            if value is not None:
                values[position] = value.value
        return dict(zip(ROW_FIELDS, values, strict=True))

    @property
    def is_child_event(self) -> bool:
        return self.event.is_child_event

    @property
    def counts_as_placement(self) -> bool:
        """True on the one row per placed order that counts it: an order found by
        reconciling is followed by its own placed row, so the reconciled row does not count."""
        return self.event is EventKind.PLACED

    @property
    def completes_child(self) -> bool:
        """The fill that completed the child (one of the child's two ways to end)."""
        return self.event is EventKind.FILLED and self.status is Status.FILLED


#: Field order of every row: v1 fields first, then the ones v1 left as future work.
ROW_FIELDS: tuple[str, ...] = Event._fields


def _field_types() -> dict[str, tuple[type, bool, str]]:
    """Each field's value type, whether it may be None, and its meaning."""
    hints = typing.get_type_hints(Event, include_extras=True)
    out: dict[str, tuple[type, bool, str]] = {}
    for name in ROW_FIELDS:
        kind, doc = typing.get_args(hints[name])
        optional = isinstance(kind, types.UnionType)
        if optional:
            (kind,) = [a for a in typing.get_args(kind) if a is not type(None)]
        out[name] = (kind, optional, doc)
    return out


_SCHEMA = _field_types()
#: Each field's value type (``int`` for ``int | None``).
FIELD_TYPES: dict[str, type] = {name: kind for name, (kind, _, _) in _SCHEMA.items()}
_ENUM_FIELDS = tuple(n for n, t in FIELD_TYPES.items() if issubclass(t, StrEnum))
#: Fields an older writer wrote as "" when they had no value.
_NONE_AS_EMPTY = frozenset((*_ENUM_FIELDS, "execution_algo"))
_ENUM_INDEXES = tuple(ROW_FIELDS.index(n) for n in _ENUM_FIELDS)


# ---------------------------------------------------------------------------- reading

class SchemaError(ValueError):
    """A row that does not fit the schema: names the field and the reason."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def _read_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value != int(value):
        raise TypeError("not a whole number")
    return int(value)


def _read_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


def _read_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _read_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value


def _members(kind: type) -> dict[str, StrEnum]:
    """An enum's members by value."""
    return {m.value: m for m in typing.cast(type[StrEnum], kind)}


def _enum_reader(kind: type) -> Callable[[Any], Any]:
    members = _members(kind)

    def read(value: Any) -> StrEnum:
        try:
            return members[value]
        except (KeyError, TypeError):
            raise TypeError(f"not one of {', '.join(members)}") from None
    return read


_PLAIN_READERS: dict[type, Callable[[Any], Any]] = {
    int: _read_int, float: _read_float, str: _read_str, bool: _read_bool,
}
_READERS = {name: _enum_reader(kind) if issubclass(kind, StrEnum) else _PLAIN_READERS[kind]
            for name, kind in FIELD_TYPES.items()}
#: A row written before ``v`` existed says what happened only through its status.
_SEED_EVENTS = {"placed": EventKind.PLACED, "error": EventKind.ERROR}

# The fast path's tables: what types each field may hold, and enum members by value.
_ALL_FIELDS = itemgetter(*ROW_FIELDS)
#: Per older readable version: the fields its rows have, and Nones for those added since.
_OLDER: dict[int, tuple[itemgetter[Any], tuple[None, ...]]] = {
    version: (itemgetter(*(n for n in ROW_FIELDS if FIELDS_SINCE.get(n, 0) <= version)),
              (None,) * sum(since > version for since in FIELDS_SINCE.values()))
    for version in READABLE_VERSIONS if version != SCHEMA_VERSION}
assert ROW_FIELDS[len(ROW_FIELDS) - len(FIELDS_SINCE):] == tuple(FIELDS_SINCE), \
    "fields added in a later version go at the end"
assert list(FIELDS_SINCE.values()) == sorted(FIELDS_SINCE.values()), "in version order"
_ENUM_POSITIONS = tuple((ROW_FIELDS.index(n), _members(FIELD_TYPES[n])) for n in _ENUM_FIELDS)
#: ``execution_algo`` is text (an algorithm registered from outside has a name of its own); a
#: built-in's name reads as its :class:`ExecutionAlgo` member.
_ALGO_POSITION = ROW_FIELDS.index("execution_algo")
_BUILT_IN_ALGOS: dict[str, ExecutionAlgo] = {m.value: m for m in ExecutionAlgo}


def _allowed_types(kind: type, optional: bool) -> frozenset[type]:
    """The value types the fast path takes as they are (an int in a float field, say, goes to
    the checking reader, which makes it a float)."""
    allowed: set[type] = {str} if issubclass(kind, StrEnum) else {kind}
    if optional:
        allowed.add(type(None))
    return frozenset(allowed)


_ALLOWED_TYPES = tuple(_allowed_types(kind, optional) for kind, optional, _ in _SCHEMA.values())
#: Type signatures (the type of each field's value) already found to fit. Rows of one kind of
#: event share a handful of signatures, so checking a row's types costs one set lookup.
_FITTING_SIGNATURES: set[tuple[type, ...]] = set()


def _fits(signature: tuple[type, ...]) -> bool:
    if signature in _FITTING_SIGNATURES:
        return True
    if not all(t in allowed for t, allowed in zip(signature, _ALLOWED_TYPES, strict=True)):
        return False
    if len(_FITTING_SIGNATURES) < 10_000:
        _FITTING_SIGNATURES.add(signature)
    return True


def read_event(row: Mapping[str, Any]) -> Event:
    """The typed event of a journal row (or a signal payload).

    Fields the row lacks take their defaults; fields the schema does not know are ignored (a
    newer writer's). A value of the wrong type or an unknown enum value raises
    :class:`SchemaError` naming the field and the reason. Rows from before ``v`` existed get
    their ``event`` from their status, their ``ts`` from their ``timestamp``, and ``v`` 0.
    """
    version = row.get("v")
    if version in READABLE_VERSIONS:
        event = _read_current(row) if version == SCHEMA_VERSION else _read_older(row)
        if event is not None:
            return event
    return _read_checked(row)


def _read_current(row: Mapping[str, Any]) -> Event | None:
    """A whole row of this version, as the engine writes it (the dock reads a million of
    these); None sends anything unusual to the checking reader, which says what is wrong."""
    try:
        values = _ALL_FIELDS(row)
    except KeyError:
        return None
    return _typed(values)


def _read_older(row: Mapping[str, Any]) -> Event | None:
    """A whole row of an earlier readable version: the fields added since are None."""
    older = _OLDER.get(row.get("v"))  # type: ignore[arg-type]
    if older is None:
        return None
    present, newer_none = older
    try:
        values = present(row) + newer_none
    except KeyError:
        return None
    return _typed(values)


def _typed(values: tuple[Any, ...]) -> Event | None:
    if not _fits(tuple(map(type, values))):
        return None
    fields = list(values)
    for position, members in _ENUM_POSITIONS:
        value = fields[position]
        if value is not None:
            member = members.get(value)
            if member is None:
                return None
            fields[position] = member
    algo = fields[_ALGO_POSITION]
    if algo is not None:
        if algo == "":
            return None  # an old writer's "" for none: the checking reader reads it
        fields[_ALGO_POSITION] = _BUILT_IN_ALGOS.get(algo, algo)
    return Event._make(fields)


def _read_checked(row: Mapping[str, Any]) -> Event:
    values: dict[str, Any] = {}
    for name, read in _READERS.items():
        value = row.get(name)
        if value is None or (value == "" and name in _NONE_AS_EMPTY):  # "" was written for none
            continue
        try:
            values[name] = read(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(name, f"{value!r} is {exc}") from None
    if "execution_algo" in values:
        values["execution_algo"] = _BUILT_IN_ALGOS.get(values["execution_algo"],
                                                       values["execution_algo"])
    if "v" not in row:
        _upgrade_seed_row(row, values)
    elif row["v"] is None:
        raise SchemaError("v", "null: a row of a versioned writer must say its version")
    elif "event" not in values:
        raise SchemaError("event", "missing")
    return Event(**values)


def _upgrade_seed_row(row: Mapping[str, Any], values: dict[str, Any]) -> None:
    """A row of the v1 desk (no ``v``, ``event`` or ``ts``): its status says what happened."""
    values["v"] = 0
    status = row.get("status")
    if "event" not in values:
        if status not in _SEED_EVENTS:
            raise SchemaError("status", f"{status!r} in a row with neither event nor v")
        values["event"] = _SEED_EVENTS[status]
    if "ts" not in values and values.get("timestamp"):
        try:
            stamp = dt.datetime.fromisoformat(values["timestamp"])
            values["ts"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=IST)).timestamp()
        except ValueError:
            raise SchemaError("timestamp", f"{values['timestamp']!r} is not ISO 8601") from None


def schema_table() -> str:
    """The schema as a Markdown table (the README's copy is checked against it)."""
    lines = ["| Field | Type | Meaning |", "|---|---|---|"]
    for name, (kind, optional, doc) in _SCHEMA.items():
        type_text = (" / ".join(f"`{value}`" for value in _members(kind))
                     if issubclass(kind, StrEnum) else kind.__name__)
        if optional:
            type_text += ", or null"
        lines.append(f"| `{name}` | {type_text} | {doc} |")
    return "\n".join(lines)


__all__ = [
    "FIELD_TYPES", "READABLE_VERSIONS", "ROW_FIELDS", "SCHEMA_VERSION", "ChildStatus",
    "ErrorBucket",
    "Event",
    "EventKind", "ParentStatus", "QueuePriority", "QuoteSource", "SchemaError", "Status",
    "read_event", "schema_table",
]
