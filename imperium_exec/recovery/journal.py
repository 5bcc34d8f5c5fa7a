"""What the journal says was still working: the day's parents with no ``finished`` row.

For each, what a restart needs: the instrument, side and quantity, what was filled, the request
as submitted (from the accepted row; none in a journal written before schema 5), and every
order attempt it made, by tag, with the units journaled as filled on it. Read backwards from the
journal's end and only as far as the day's first rows, so a long journal costs what the day wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..events import Event, EventKind, SchemaError, Status, read_event
from ..request import ExecutionRequest, Side
from ..telemetry import JournalHistory, history_end
from ..timeutil import ist_day_start


@dataclass
class JournalOrder:
    """One placement attempt of a child, as journaled."""

    tag: str
    child_index: int  # from 1
    attempt: int | None
    order_id: str | None = None
    filled: int = 0  # units journaled as filled on this order
    filled_value: float = 0.0  # rupees
    ended: bool = False  # a row ended it (filled in full, cancelled, rejected, ...)


@dataclass
class JournalParent:
    """A parent the journal saw working and never saw finish."""

    parent_id: str
    tradingsymbol: str
    exchange: str
    side: Side
    quantity: int
    first_ts: float
    last_ts: float
    filled: int = 0
    filled_value: float = 0.0
    request: ExecutionRequest | None = None  # as submitted (schema 5 accepted rows)
    arrival_price: float | None = None
    accepted_ts: float | None = None  # when its schedule started (the accepted row)
    execution_algo: str | None = None
    basket_id: str | None = None
    leg_role: str | None = None
    children: int = 0  # the highest child number used
    orders: dict[str, JournalOrder] = field(default_factory=dict)  # by tag

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def window_end(self) -> float | None:
        """When its schedule was to end (epoch seconds), from its request; None unknown."""
        request = self.request
        if request is None:
            return None
        if request.end_at is not None:
            return request.end_at.timestamp()
        if request.horizon_s is None:
            return None
        return (self.accepted_ts or self.first_ts) + request.horizon_s


@dataclass
class JournalLeg:
    """A basket's leg as journaled: its parent, what it asked and filled, whether it ended."""

    parent_id: str
    tradingsymbol: str
    side: Side
    quantity: int
    filled: int = 0
    finished: bool = False
    #: How a leg the restart held ended, when its line must say more than its fills (an
    #: order that may still be live, the rest adopted as another parent).
    note: str | None = None


@dataclass
class JournalBasket:
    """A basket the journal saw accepted and never saw finish (its ``basket_finished`` row is
    missing: the desk stopped while it worked)."""

    basket_id: str
    quantity: int  # every leg's units
    legs: dict[str, JournalLeg] = field(default_factory=dict)  # by parent id, as journaled

    @property
    def filled(self) -> int:
        return sum(leg.filled for leg in self.legs.values())


@dataclass(frozen=True, slots=True)
class JournalFill:
    """One of the day's fills, as a restarted engine's estimates count it (the desk's fills
    on the contract: :mod:`imperium_exec.engine.desk_fills`)."""

    ts: float  # when it was taken in, epoch seconds
    exchange: str
    tradingsymbol: str
    parent_id: str
    units: int  # signed: + bought, - sold


@dataclass(frozen=True, slots=True)
class JournalDay:
    """What the day's rows say: the unfinished parents, and every parent id the day used."""

    unfinished: tuple[JournalParent, ...]
    parent_ids: frozenset[str]
    rows: int
    bad_lines: int
    #: Premium traded in the day's fills, rupees: bought, and sold (the day's premium limits
    #: start from these after a restart).
    bought: float = 0.0
    sold: float = 0.0
    #: When the day's order writes were answered (epoch seconds; see :func:`write_times`):
    #: a restarted engine's rate budget counts them, or its first minute would go over the
    #: broker's limits with the crashed session's writes still counted there.
    writes: tuple[float, ...] = ()
    #: The day's baskets with no ``basket_finished`` row.
    open_baskets: tuple[JournalBasket, ...] = ()
    #: The day's fills in time order (a restarted engine's estimates count the impact the
    #: crashed session's fills left on each contract, as the calibration does).
    fills: tuple[JournalFill, ...] = ()


def read_today(path: str | os.PathLike[str], now: float,
               end: int | None = None) -> list[dict[str, Any]]:
    """The rows of ``path`` written on ``now``'s IST day, in file order, up to byte ``end``
    (default: its last complete line). The journal is read backwards until rows older than
    the day: a chunk of only older rows ends the read."""
    day_start = ist_day_start(now)
    if end is None:
        end, _ = history_end(path)
    history = JournalHistory(Path(path), end)
    chunks: list[list[dict[str, Any]]] = []
    try:
        while not history.done:
            chunk = history.read()
            today = [r for r in chunk if _ts(r) >= day_start]
            chunks.append(today)
            if chunk and not today:
                break
    finally:
        history.close()
    return [row for chunk in reversed(chunks) for row in chunk]


def unfinished_today(rows: Iterable[Mapping[str, Any]], now: float) -> JournalDay:
    """The parents of ``now``'s IST day with rows but no ``finished`` row (rows that do not
    read as events are counted and skipped)."""
    day_start = ist_day_start(now)
    parents: dict[str, JournalParent] = {}
    finished: set[str] = set()
    count = bad = 0
    traded = {Side.BUY: 0.0, Side.SELL: 0.0}
    writes: list[float] = []
    fills: list[JournalFill] = []
    baskets: dict[str, JournalBasket] = {}
    baskets_finished: set[str] = set()
    #: A leg's basket by its parent id: a restart's rows of a leg carry no ``basket_id`` (the
    #: re-made parent is no basket's), and a second restart must still count them.
    leg_of: dict[str, str] = {}
    for row in rows:
        count += 1
        try:
            event = read_event(row)
        except SchemaError:
            bad += 1
            continue
        if event.ts < day_start:
            continue
        basket_id = event.basket_id or leg_of.get(event.parent_id or "")
        if basket_id is not None:
            _apply_to_basket(baskets, baskets_finished, event, basket_id, leg_of)
        if not event.parent_id:
            continue
        if _is_write(event):
            writes.append(event.ts)
        if event.event in (EventKind.FILLED, EventKind.GHOST) and event.side is not None \
                and event.filled_quantity and event.fill_price is not None:
            traded[event.side] += event.filled_quantity * event.fill_price
            if event.tradingsymbol:  # (a late order's fills too: the desk's on the market)
                fills.append(JournalFill(event.ts, event.exchange or "NFO", event.tradingsymbol,
                                         event.parent_id,
                                         event.side.sign * event.filled_quantity))
        if event.event is EventKind.FINISHED:
            finished.add(event.parent_id)
            continue
        parent = parents.get(event.parent_id)
        if parent is None:
            if event.side is None or event.parent_quantity is None or not event.tradingsymbol:
                continue  # not a parent's row (a basket's own rows carry no instrument)
            parent = parents[event.parent_id] = JournalParent(
                event.parent_id, event.tradingsymbol, event.exchange or "NFO", event.side,
                event.parent_quantity, first_ts=event.ts, last_ts=event.ts)
        _apply(parent, event)
    unfinished = tuple(p for p in parents.values() if p.parent_id not in finished)
    open_baskets = tuple(b for b in baskets.values() if b.basket_id not in baskets_finished)
    return JournalDay(unfinished, frozenset(parents) | frozenset(finished), count, bad,
                      traded[Side.BUY], traded[Side.SELL], tuple(writes), open_baskets,
                      tuple(sorted(fills, key=lambda f: f.ts)))


def _apply_to_basket(baskets: dict[str, JournalBasket], finished: set[str], event: Event,
                     basket_id: str, leg_of: dict[str, str]) -> None:
    """A basket's own row (accepted, finished), or a row of one of its legs (``basket_id``:
    the row's, or, for a restart's row of a leg, its basket's as journaled before)."""
    if event.event is EventKind.BASKET_FINISHED:
        finished.add(basket_id)
        return
    if event.event is EventKind.BASKET_ACCEPTED:
        baskets[basket_id] = JournalBasket(basket_id, event.parent_quantity or 0)
        return
    basket = baskets.get(basket_id)
    if basket is None or not event.parent_id or event.side is None \
            or event.parent_quantity is None or not event.tradingsymbol:
        return
    leg = basket.legs.get(event.parent_id)
    if leg is None:
        leg = basket.legs[event.parent_id] = JournalLeg(
            event.parent_id, event.tradingsymbol, event.side, event.parent_quantity)
        leg_of[event.parent_id] = basket_id
    if event.parent_filled_quantity is not None:
        leg.filled = event.parent_filled_quantity
    if event.event is EventKind.FINISHED:
        leg.finished = True


#: Rows that answer an order write of the child's: a placement (placed, or an attempt that
#: failed, was retried or is being reconciled), a cancel of a placed order, a modification.
_WRITE_EVENTS = frozenset({EventKind.PLACED, EventKind.RETRY, EventKind.RECONCILING,
                           EventKind.ERROR, EventKind.REJECTED, EventKind.MODIFIED})


def _is_write(event: Event) -> bool:
    """Whether ``event`` answers one order write (an estimate on the safe side: a rejection
    may have come after its placement's own row; a cancel not confirmed is not counted)."""
    if event.event is EventKind.CANCELLED:
        return event.order_id is not None
    return event.event in _WRITE_EVENTS and event.tag is not None


def _apply(parent: JournalParent, event: Event) -> None:
    parent.last_ts = max(parent.last_ts, event.ts)
    if event.parent_filled_quantity is not None:
        parent.filled = event.parent_filled_quantity
    if event.children is not None:
        parent.children = max(parent.children, event.children)
    parent.basket_id = event.basket_id or parent.basket_id
    parent.leg_role = event.leg_role or parent.leg_role
    if event.execution_algo is not None:
        parent.execution_algo = str(event.execution_algo)
    if event.event is EventKind.ACCEPTED:
        parent.arrival_price, parent.accepted_ts = event.arrival_price, event.ts
        if event.request is not None:
            try:
                parent.request = ExecutionRequest.model_validate_json(event.request)
            except ValidationError:
                parent.request = None  # (an algorithm no longer registered, say)
    if event.tag is None or event.child_index is None:
        return
    order = parent.orders.get(event.tag)
    if order is None:
        order = parent.orders[event.tag] = JournalOrder(event.tag, event.child_index,
                                                        event.attempt)
    order.order_id = event.order_id or order.order_id
    increment = event.filled_quantity
    if event.event in (EventKind.FILLED, EventKind.GHOST) and increment \
            and event.fill_price is not None:
        order.filled += increment
        order.filled_value += increment * event.fill_price
        parent.filled_value += increment * event.fill_price
    if event.event.ends_child or event.completes_child or (
            event.event is EventKind.GHOST and event.status in _GHOST_ENDED):
        order.ended = True


#: A ghost row's status once the late order is over.
_GHOST_ENDED = frozenset({Status.COMPLETE, Status.CANCELLED, Status.REJECTED,
                          Status.NOT_PLACED})


def _ts(row: Mapping[str, Any]) -> float:
    value = row.get("ts")
    return float(value) if isinstance(value, int | float) else 0.0
