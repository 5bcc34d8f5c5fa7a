"""The row: :class:`Event`, its fields in order, each field's type and meaning, and the schema's
versions (what each added). A row in memory carries every field (``None`` where it does not
apply) in :data:`ROW_FIELDS` order; its journal line, from version 8 on, leaves out the nulls
and what the reader rebuilds (:mod:`.compact`).
"""

from __future__ import annotations

import types
import typing
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from ..request import OrderType, Side, Urgency
from .kinds import (
    ErrorBucket,
    EventKind,
    QueuePriority,
    QuoteSource,
    Status,
)

SCHEMA_VERSION = 8
#: Versions whose rows :func:`read_event` takes as they are: version 2 only added an event
#: kind; version 3 added the basket events and the fields from ``prior_impact`` on, version 4
#: those from ``participation`` on, version 5 ``request``, version 6 ``slippage_fit`` (the last
#: one of a row), None in older rows; version 7 only added an event kind (``modified``);
#: ``touch_at_send`` and ``priced_at`` came within version 8 (its rows are compact: an
#: earlier one just lacks them, as it lacks every null);
#: version 8 rows are compact in the journal (no nulls, no field the reader rebuilds: see
#: :mod:`.compact`), and a markout row no longer repeats its child's estimate and quote. (Rows
#: without ``v``, the v1 desk's, are upgraded: see :func:`_upgrade_seed_row`.)
READABLE_VERSIONS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, SCHEMA_VERSION)
#: Fields that rows of a version before the one named do not have (always the last fields,
#: in version order).
FIELDS_SINCE: dict[str, int] = dict.fromkeys(
    ("prior_impact", "basket_id", "leg_role", "fees", "decision_price", "end_price",
     "is_delay", "is_spread", "is_drift", "is_opportunity", "markout_s", "markout_mid",
     "markout_bps"), 3) | dict.fromkeys(
    ("participation", "horizon_s", "book_walk", "day_volume", "session_s",
     "underlying_price"), 4) | {"request": 5, "slippage_fit": 6, "touch_at_send": 8,
                                "priced_at": 8}


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
    quantity: Annotated[int | None, "The child's quantity in units: its order's total, "
                        "filled units included (from a modified row on, the new total); the "
                        "parent's on the accepted and finished rows"] = None
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
    v: Annotated[int, "Schema version: 8 (7: written before compact journal lines, which "
                 "leave out nulls and what the reader rebuilds; 6: before the modified "
                 "event; 5: before "
                 "slippage_fit; 4: before the "
                 "request on accepted rows; 3: before the estimate's inputs; 2: before "
                 "baskets and prior_impact; 1: before the reconciling event; 0: a row from "
                 "before versions)"
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
    prior_impact: Annotated[float | None, "The part of impact_estimate that is the desk's "
                            "earlier fills on the instrument still moving the price (the "
                            "parent's, and other parents'), per unit: already in the mid the "
                            "child is priced from, so not a cost against that mid"] = None
    # baskets
    basket_id: Annotated[str | None, "The basket a leg parent belongs to (and the basket "
                         "rows' own id)"] = None
    leg_role: Annotated[str | None, "The leg's role in its basket: hedge (a buy that covers "
                        "the group's sells: goes first), covered (a sell out only as far as "
                        "its hedge has filled), outright"] = None
    # charges
    fees: Annotated[float | None, "What this fill cost besides its price, rupees: brokerage "
                    "(with an order's first fill), STT, exchange charges, NSE's IPFT, SEBI "
                    "fee, stamp duty and GST at the dated rates of resources/charges.json "
                    "(finished rows: the parent's in all)"] = None
    # implementation shortfall, on finished rows (rupees, positive = cost; see shortfall.py)
    decision_price: Annotated[float | None, "The ticket's mid when the order was decided "
                              "(the arrival price when the ticket had no book)"] = None
    end_price: Annotated[float | None, "The mid when the parent ended"] = None
    is_delay: Annotated[float | None, "Shortfall from the decision to the arrival, on the "
                        "filled quantity"] = None
    is_spread: Annotated[float | None, "Fills that took liquidity against the mids their "
                         "children were priced from: spread and book walked (a fill that "
                         "rested crossed none)"] = None
    is_drift: Annotated[float | None, "Those mids (a resting fill: its own price) against the "
                        "arrival price: the market and our own earlier fills"] = None
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
    # the underlying's level (option parents' rows), so costs can be broken down by moneyness
    # (imperium_exec.tca) and the market's own move taken out of a child's cost
    # (imperium_exec.calibration.slippage_fit)
    underlying_price: Annotated[float | None, "The option's underlying index's price (its "
                                "last value) from a quote already at hand: when the parent was "
                                "accepted on its accepted and finished rows; when the child "
                                "was priced (the moment of mid_at_send) on a child's rows; "
                                "when the fill was taken in on fill rows (none: no index quote "
                                "young enough then, or not an option; child and fill rows "
                                "written before 2026-12-07 have none)"] = None
    # what a restart needs to take a parent over (imperium_exec.recovery)
    request: Annotated[str | None, "The parent's request as submitted, JSON, on its accepted "
                       "row (a restart adopts the rest of it from here)"] = None
    # the slippage fit the estimates use (accepted rows), so a cost can be traced to the fit
    # that estimated it (imperium_exec.calibration.slippage_fit)
    slippage_fit: Annotated[str | None, "The slippage fit the parent's estimates use, on its "
                            "accepted row: a calibration file's name and the start of its "
                            "SHA-256 (slippage_live_2026-11-20.json@3f2a9c1b), broker (the "
                            "broker's own costs: the paper exchange), defaults (the equity "
                            "defaults) or custom (parameters given in code)"] = None
    # the far touch a child was priced against, so a fill can be told taking or resting from
    # what happened (imperium_exec.events.liquidity); absent from rows written before it
    touch_at_send: Annotated[float | None, "The far touch when the child was priced (the ask "
                             "for a BUY, the bid for a SELL): a limit at or through it takes "
                             "liquidity, one short of it rests (none: no quote, or a row "
                             "written before it was recorded)"] = None
    # when the child's estimate was made, so calibration counts the fills its mid had seen
    # (imperium_exec.calibration.slippage_observations); absent from rows written before it
    priced_at: Annotated[float | None, "When the child was priced (its estimate made from "
                         "mid_at_send), epoch seconds: the fills taken in by then are in its "
                         "estimate (none: a row written before it was recorded)"] = None

    def to_row(self) -> dict[str, Any]:
        """The row (the signal payload, and the journal's line once compacted): every field,
        enums as their plain string values."""
        values: list[Any] = list(self)
        for position in _ENUM_INDEXES:
            value = values[position]
            if value is not None:
                values[position] = value.value
        algo = values[_ALGO_INDEX]
        if algo is not None:  # a built-in's ExecutionAlgo member: its plain name
            values[_ALGO_INDEX] = str(algo)
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


FIELD_SCHEMA = _field_types()
#: Each field's value type (``int`` for ``int | None``).
FIELD_TYPES: dict[str, type] = {name: kind for name, (kind, _, _) in FIELD_SCHEMA.items()}
ENUM_FIELDS = tuple(n for n, t in FIELD_TYPES.items() if issubclass(t, StrEnum))
#: Fields an older writer wrote as "" when they had no value.
NONE_AS_EMPTY = frozenset((*ENUM_FIELDS, "execution_algo"))
_ENUM_INDEXES = tuple(ROW_FIELDS.index(n) for n in ENUM_FIELDS)
_ALGO_INDEX = ROW_FIELDS.index("execution_algo")


def enum_members(kind: type) -> dict[str, StrEnum]:
    """An enum's members by value."""
    return {m.value: m for m in typing.cast(type[StrEnum], kind)}


def schema_table() -> str:
    """The schema as a Markdown table (the README's copy is checked against it)."""
    lines = ["| Field | Type | Meaning |", "|---|---|---|"]
    for name, (kind, optional, doc) in FIELD_SCHEMA.items():
        type_text = (" / ".join(f"`{value}`" for value in enum_members(kind))
                     if issubclass(kind, StrEnum) else kind.__name__)
        if optional:
            type_text += ", or null"
        lines.append(f"| `{name}` | {type_text} | {doc} |")
    return "\n".join(lines)
