"""Re-pricing a resting child in place (the broker's modify) at a scheduled slice's boundary, in
virtual time on the in-memory broker: one write per re-price instead of a cancel and a
placement, the same order and tag, a ``modified`` row each; the fallback to cancel and place
when the modify is refused, unfit or the order's modification allowance is nearly used up; fills
that race a modify counted once; the day's order budget and the admission's reservations.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from engine_support import Rig, assert_books_balance, make_request, make_rig

from imperium_exec.brokers.base import ModifyInstruction, OrderStatus
from imperium_exec.brokers.errors import BrokerTimeout, InputException, NetworkException
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.engine.rate_budget import AccountRateLimits, RequestKind
from imperium_exec.events import EventKind, ParentStatus, read_event

#: A wide book (10 ticks): a normal-urgency TWAP joins the bid and rests; its last slice takes.
TWAP = dict(execution_algo="TWAP", horizon_s=300, randomize_slices=False)


def run_twap(rig: Rig, slices: int, **kw: object) -> tuple[str, list[dict[str, object]]]:
    parent_id, future = rig.engine.submit(make_request(
        quantity=65 * slices, max_child_orders=slices, **(TWAP | kw)))
    result = future.result(30)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 65 * slices
    return parent_id, rig.snapshot(parent_id)


def child_rows(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["event"], r["child_index"], r["quantity"], r["limit_price"]) for r in rows
            if r["event"] in ("placed", "modified", "cancelled")]


def test_a_passive_twap_re_prices_its_resting_child_by_one_modify_per_slice(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modify=True,
                   config=EngineConfig(id_seed=7, rate_limits=AccountRateLimits.kite()))
    try:
        before = rig.engine.budget.writes_left_today()
        _, rows = run_twap(rig, 4)
        after = rig.engine.budget.writes_left_today()
        granted = dict(rig.engine.budget.granted)
    finally:
        rig.close()
    broker = rig.broker
    assert (broker.place_calls, broker.modify_calls, broker.cancel_calls) == (1, 3, 0)
    assert child_rows(rows) == [
        ("placed", 1, 65, 100.0), ("modified", 1, 130, 100.0), ("modified", 1, 195, 100.0),
        ("modified", 1, 260, None)]  # the final slice takes: a protected MARKET order
    sends = [r for r in rows if r["event"] in ("placed", "modified")]
    assert {(r["tag"], r["order_id"], r["attempt"]) for r in sends} == {
        (sends[0]["tag"], sends[0]["order_id"], 1)}  # one order, its tag kept
    assert [read_event(r).event for r in sends[1:]] == [EventKind.MODIFIED] * 3
    assert str(sends[-1]["message"]).endswith("quantity 195 -> 260 (modification 3 of 25)")
    # One write per re-price, and a modify is not an order of the day.
    assert (granted[RequestKind.PLACE], granted[RequestKind.MODIFY],
            granted[RequestKind.CANCEL]) == (1, 3, 0)
    assert before is not None and after == before - 1
    assert_books_balance(rows, 260)


def test_a_limit_parents_re_price_never_passes_its_limit(tmp_path: Path) -> None:
    """The final slice takes, but a LIMIT parent's modify stops at its limit (as a new order
    would): the resting child grows by the slice at the same price."""
    rig = make_rig(tmp_path, modify=True)
    try:
        parent_id, future = rig.engine.submit(make_request(
            quantity=65 * 2, max_child_orders=2, order_type="LIMIT", limit_price=100.0,
            **TWAP))
        result = future.result(30)
        rows = rig.snapshot(parent_id)
    finally:
        rig.close()
    assert result.status is ParentStatus.PARTIAL  # the ask never came down to 100
    assert child_rows(rows) == [("placed", 1, 65, 100.0), ("modified", 1, 130, 100.0),
                                ("cancelled", 1, 130, 100.0)]  # at the window's end
    assert rig.broker.modify_calls == 1


def test_the_admission_lets_go_of_the_placements_a_re_price_left_unsent(
        tmp_path: Path) -> None:
    """Four placements are reserved from the day's budget; the first is spent, and each later
    slice that goes out as a modify lets its reservation go (a modify is no placement)."""
    rig = make_rig(tmp_path, modify=True,
                   config=EngineConfig(id_seed=7, rate_limits=AccountRateLimits.kite()))
    admission = rig.engine.admission
    held: list[int | None] = []

    def at_each_modify(row: dict[str, object]) -> None:  # on the engine's thread
        if row["event"] == "modified":
            held.append(admission._unsent.get(str(row["parent_id"])))

    rig.engine.add_listener(at_each_modify)
    try:
        parent_id, _ = run_twap(rig, 4)
    finally:
        rig.close()
    assert held == [3, 2, 1]
    assert admission._unsent.get(parent_id) is None  # ended: nothing held


class RefusingBroker(InMemoryBroker):
    """Refuses the Nth modify as Kite does past an order's allowance (by text and class)."""

    refuse_at = 2

    def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
        if self.modify_calls + 1 == self.refuse_at:
            self.fail_next_modify(NetworkException(
                "Maximum allowed order modifications exceeded.", 400))
        super().modify_order(order_id, change)


def test_a_refused_modify_falls_back_to_cancel_and_place_with_no_duplicate_and_no_lost_fill(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, broker_type=RefusingBroker, modify=True)
    try:
        parent_id, future = rig.engine.submit(make_request(quantity=65 * 4,
                                                           max_child_orders=4, **TWAP))
        result = future.result(30)
        rows = rig.snapshot(parent_id)
    finally:
        rig.close()
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 260
    assert child_rows(rows) == [
        ("placed", 1, 65, 100.0), ("modified", 1, 130, 100.0),
        ("cancelled", 1, 130, 100.0),  # the refused re-price: cancelled, then a new order
        ("placed", 3, 195, 100.0), ("modified", 3, 260, None)]
    cancelled = next(r for r in rows if r["event"] == "cancelled")
    assert "modify refused (NetworkException: Maximum allowed order modifications " \
           "exceeded.)" in cancelled["message"]
    orders = rig.broker.orders()
    assert [o.status for o in orders] == [OrderStatus.CANCELLED, OrderStatus.COMPLETE]
    assert sum(o.filled_quantity for o in orders) == 260  # what the broker holds, no more
    assert_books_balance(rows, 260)


class RacingBroker(InMemoryBroker):
    """The exchange fills part of the resting order just before each modify lands; the
    ``ambiguous`` one's reply is lost after it was applied (a read timeout)."""

    ambiguous_at: int | None = None

    def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
        order = next(o for o in self.orders() if o.order_id == order_id)
        if order.quantity - order.filled_quantity > 65:
            self.fill(order_id, 65)  # traded through the old limit meanwhile
        if self.modify_calls + 1 == self.ambiguous_at:
            self.fail_next_modify(BrokerTimeout("Read timed out.", sent=True), apply=True)
        super().modify_order(order_id, change)


@pytest.mark.parametrize("ambiguous_at", [None, 2])
def test_fills_racing_a_modify_are_counted_once_and_never_overfill(
        tmp_path: Path, ambiguous_at: int | None) -> None:
    RacingBroker.ambiguous_at = ambiguous_at
    rig = make_rig(tmp_path, broker_type=RacingBroker, modify=True)
    try:
        parent_id, future = rig.engine.submit(make_request(quantity=65 * 6,
                                                           max_child_orders=6, **TWAP))
        result = future.result(30)
        rows = rig.snapshot(parent_id)
    finally:
        rig.close()
    orders = rig.broker.orders()
    held = sum(o.filled_quantity for o in orders)
    fills = sum(int(r["filled_quantity"]) for r in rows if r["event"] == "filled")
    assert result.status is ParentStatus.FILLED
    assert result.filled_quantity == held == fills == 390  # once each, never beyond
    assert all(o.filled_quantity <= o.quantity for o in orders)
    if ambiguous_at is not None:  # its outcome unknown: cancelled, the rest sent again
        assert any("Read timed out" in str(r["message"]) for r in rows
                   if r["event"] == "cancelled")
        assert len(orders) == 2
    else:
        assert len(orders) == 1
    assert_books_balance(rows, 390)


def test_an_order_is_never_modified_past_its_allowance_less_the_headroom(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, modify=True, max_modifications=3)
    try:
        _, rows = run_twap(rig, 8)
    finally:
        rig.close()
    per_order = [rig.broker.modifications(o.order_id) for o in rig.broker.orders()]
    assert max(per_order) == 2  # 3 allowed, 1 kept: never refused
    assert rig.broker.modify_calls == sum(per_order)
    events = [e for e, *_ in child_rows(rows)]
    assert events == ["placed", "modified", "modified", "cancelled", "placed", "modified",
                      "modified", "cancelled", "placed", "modified"]
    cancelled = [r for r in rows if r["event"] == "cancelled"]
    assert [str(r["message"]).split("(")[1] for r in cancelled] == [
        "re-priced by a new order: its order was modified 2 times, the most kept below the "
        "broker's 3)"] * 2
    assert_books_balance(rows, 520)


def test_without_modify_or_with_it_turned_off_a_re_price_is_a_cancel_and_a_placement(
        tmp_path: Path) -> None:
    for broker_args, config in (({}, EngineConfig(id_seed=7)),
                                ({"modify": True},
                                 EngineConfig(id_seed=7, modify_resting=False))):
        rig = make_rig(tmp_path, config=config, **broker_args)
        try:
            _, rows = run_twap(rig, 3)
        finally:
            rig.close()
        assert (rig.broker.place_calls, rig.broker.cancel_calls, rig.broker.modify_calls) == \
            (3, 2, 0)
        assert [e for e, *_ in child_rows(rows)] == [
            "placed", "cancelled", "placed", "cancelled", "placed"]


def test_a_modify_unfit_for_the_freeze_quantity_cancels_and_places(tmp_path: Path) -> None:
    """A resting child whose order would pass the freeze quantity is not grown by modify."""
    rig = make_rig(tmp_path, modify=True)
    try:
        _, rows = run_twap(rig, 3, freeze_quantity=130)
    finally:
        rig.close()
    # Slice 2 wants 130: the resting 65 becomes 130 (within the freeze). Slice 3 wants 195,
    # split 130 + 65: the child takes 130, a new child the 65.
    assert [(e, q) for e, _, q, _ in child_rows(rows)] == [
        ("placed", 65), ("modified", 130), ("modified", 130), ("placed", 65)]
    assert_books_balance(rows, 195)


def test_a_modify_refused_because_the_order_just_ended_counts_its_fills_once(
        tmp_path: Path) -> None:
    """Kite's "being processed" for an order that filled while the re-price was on its way."""

    class FilledFirst(InMemoryBroker):
        def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
            order = next(o for o in self.orders() if o.order_id == order_id)
            if not order.status.is_terminal:
                self.fill(order_id)
            raise InputException("Order cannot be modified as it is being processed. "
                                 "Try later.")

    rig = make_rig(tmp_path, broker_type=FilledFirst, modify=True)
    try:
        _, rows = run_twap(rig, 3)
    finally:
        rig.close()
    assert sum(int(r["filled_quantity"]) for r in rows if r["event"] == "filled") == 195
    assert sum(o.filled_quantity for o in rig.broker.orders()) == 195
    assert_books_balance(rows, 195)


class FillsDuringAnyModify(InMemoryBroker):
    """Every modify: the order trades at its old terms meanwhile (130 units, or what is left)
    and the engine hears of it before the reply; modifies that shrink an order are noted."""

    shrinks: ClassVar[list[tuple[int, int]]] = []

    def modify_order(self, order_id: str, change: ModifyInstruction) -> None:
        order = next(o for o in self.orders() if o.order_id == order_id)
        if change.quantity is not None and change.quantity < order.quantity:
            self.shrinks.append((order.quantity, change.quantity))
        left = order.quantity - order.filled_quantity
        if left > 0:
            self.fill(order_id, min(130, left))
        super().modify_order(order_id, change)


def test_a_re_price_that_shrinks_an_order_cancels_and_places_rather_than_modify(
        tmp_path: Path) -> None:
    """A smaller total could be overtaken by fills at the old terms while the modify is on its
    way (the review found an order left live and unfollowed): never modified down."""
    FillsDuringAnyModify.shrinks = []
    rig = make_rig(tmp_path, broker_type=FillsDuringAnyModify, modify=True,
                   volume_per_second=1.0)
    try:
        parent_id, future = rig.engine.submit(make_request(
            quantity=65 * 10, execution_algo="POV", participation_rate=0.5, horizon_s=300,
            max_child_orders=4, randomize_slices=False))
        result = future.result(30)
        rows = rig.snapshot(parent_id)
    finally:
        rig.close()
    orders = rig.broker.orders()
    assert FillsDuringAnyModify.shrinks == []
    assert [o for o in orders if not o.status.is_terminal] == []
    assert result.filled_quantity == sum(o.filled_quantity for o in orders)
    assert all(int(r["filled_quantity"] or 0) <= int(r["quantity"])
               for r in rows if r["event"] == "filled")
