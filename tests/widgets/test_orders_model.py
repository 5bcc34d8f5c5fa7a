"""OrderBook: one row per child order from its events, whatever order they arrive in."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from dock_support import T0, events, parent_story, row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imperium_exec.events import Event, EventKind, read_event
from imperium_exec.widgets.orders_model import ORDER_COLUMNS, OrderBook


def child(event: str, ts: float, *, parent_id: str = "P1", child_index: int = 1,
          attempt: int = 1, **fields: Any) -> Event:
    """A child event of a BUY at arrival 100.0, at ``T0 + ts``."""
    return read_event(row(event, parent_id=parent_id, child_index=child_index, attempt=attempt,
                          ts=T0 + ts, quantity=fields.pop("quantity", 130), **fields))


def fill(ts: float, increment: int, price: float, *, complete: bool = False,
         **fields: Any) -> Event:
    bps = (price - 100.0) / 100.0 * 1e4
    return child("filled", ts, status="filled" if complete else "partially_filled",
                 filled_quantity=increment, fill_price=price, realized_slippage=price - 100.0,
                 realized_slippage_bps=bps, **fields)


def only_order(book: OrderBook) -> dict[str, Any]:
    assert len(book) == 1
    return book.row(0)


def test_placed_then_partially_filled_then_filled_is_one_row() -> None:
    book = OrderBook()
    book.apply([child("placed", 0.0)])
    assert only_order(book)["status"] == "placed" and only_order(book)["filled"] == 0
    book.apply([fill(1.0, 65, 100.10)])
    order = only_order(book)
    assert order["status"] == "partially_filled" and order["filled"] == 65
    assert book.is_open(0)
    book.apply([fill(2.0, 65, 100.30, complete=True)])
    order = only_order(book)
    assert order["status"] == "filled" and order["filled"] == 130
    assert order["updated"] == T0 + 2.0 and not book.is_open(0)
    text = {c.key: book.text(c, 0) for c in ORDER_COLUMNS}
    assert text["filled"] == "130/130" and text["status"] == "filled"


def test_fill_figures_are_quantity_weighted_over_the_fills() -> None:
    book = OrderBook()
    book.apply([child("placed", 0.0, quantity=260), fill(1.0, 65, 100.10),
                fill(2.0, 195, 100.50, complete=True)])
    order = only_order(book)
    assert order["average_price"] == pytest.approx((65 * 100.10 + 195 * 100.50) / 260)
    assert order["slippage_bps"] == pytest.approx((65 * 10.0 + 195 * 50.0) / 260)


@pytest.mark.parametrize(("event", "status", "extra"), [
    ("cancelled", "cancelled", {}),
    ("rejected", "rejected", dict(error_bucket="risk", error="RMS: margin exceeds")),
    ("error", "error", dict(error_bucket="fatal", error="TokenException")),
    ("error", "unknown", dict(error_bucket="transient", error="outcome unknown")),
])
def test_cancel_reject_and_error_end_the_order_and_keep_its_fills(
        event: str, status: str, extra: dict[str, Any]) -> None:
    book = OrderBook()
    book.apply([child("placed", 0.0), fill(1.0, 65, 100.10),
                # a terminal row's filled_quantity is the child's total: not a fill of its own
                child(event, 2.0, status=status, filled_quantity=65, **extra)])
    order = only_order(book)
    assert order["status"] == status and order["filled"] == 65
    assert order["error"] == extra.get("error") and not book.is_open(0)
    assert order["average_price"] == pytest.approx(100.10)


def test_a_retried_reconciled_child_keeps_one_row_and_counts_its_attempts() -> None:
    book = OrderBook()
    book.apply([
        child("retry", 0.0, status="retry", error_bucket="transient", error="503"),
        child("reconciled", 1.0, attempt=2, status="placed", error_bucket="transient",
              error="timed out", limit_price=100.10),
        child("placed", 1.0, attempt=2, limit_price=100.10),
        fill(2.0, 130, 100.10, complete=True, attempt=2, limit_price=100.10),
        # attempt 1's late order turned up and filled: the child's position, counted once
        child("ghost", 3.0, attempt=1, status="complete", filled_quantity=65,
              fill_price=100.20),
    ])
    order = only_order(book)
    assert order["status"] == "filled" and order["attempts"] == 2
    assert order["filled"] == 195 and order["late_filled"] == 65
    assert order["limit_price"] == 100.10 and order["error"] is None
    assert book.fill_events == 2


def test_a_terminal_state_wins_over_a_fill_at_the_same_timestamp() -> None:
    cancel = child("cancelled", 5.0, status="cancelled", filled_quantity=65)
    partial = fill(5.0, 65, 100.10)
    for batch in ([cancel, partial], [partial, cancel]):
        book = OrderBook()
        book.apply([child("placed", 0.0), *batch])
        assert only_order(book)["status"] == "cancelled"
        assert only_order(book)["filled"] == 65


def test_a_later_state_arriving_first_is_not_overwritten_by_earlier_ones() -> None:
    book = OrderBook()
    book.apply([fill(2.0, 130, 100.10, complete=True)])
    changes = book.apply([child("placed", 0.0), child("retry", -1.0, status="retry")])
    order = only_order(book)
    assert order["status"] == "filled" and order["updated"] == T0 + 2.0
    assert list(changes.changed) == [0] and not len(changes.added)


def test_parent_and_account_events_make_no_orders() -> None:
    book = OrderBook()
    changes = book.apply(events(parent_story("P9", children=2, filled=1)))
    assert len(book) == 2 and len(changes.added) == 2
    assert [book.row(r)["status"] for r in range(2)] == ["filled", "placed"]


# ---------------------------------------------------------------------------- out of order

def _story(rng: random.Random, parent_id: str, index: int, start: float) -> list[Event]:
    """One child's events as the engine writes them: retries, maybe a reconcile, placed,
    fills, an end (or none: still working), maybe a late ghost fill. Timestamps often tie
    (a virtual clock)."""
    ts = start
    quantity = 65 * rng.randint(1, 4)
    out: list[Event] = []
    common: dict[str, Any] = dict(parent_id=parent_id, child_index=index, quantity=quantity,
                                  children=4, send_at=T0 + start)

    def tick() -> float:
        nonlocal ts
        ts += rng.choice((0.0, 0.0, 0.25, 1.0))
        return ts

    attempt = 1
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        out.append(child("retry", tick(), attempt=attempt, status="retry",
                         error_bucket="transient", error="503", **common))
        attempt += 1
    ending = rng.choice(("working", "filled", "cancelled", "rejected", "error", "unknown"))
    if ending == "error":
        out.append(child("error", tick(), attempt=attempt, status="error",
                         error_bucket="fatal", error="bad token", **common))
        return out
    if rng.random() < 0.2:
        out.append(child("reconciled", tick(), attempt=attempt, status="placed",
                         error_bucket="transient", error="timed out", **common))
    out.append(child("placed", tick(), attempt=attempt, limit_price=100.05, **common))
    filled, lots = 0, quantity // 65
    fills = lots if ending == "filled" else rng.randint(0, lots - 1)
    for i in range(fills):
        filled += 65  # each fill row differs: the parent's filled quantity grows
        out.append(fill(tick(), 65, rng.choice((99.95, 100.05, 100.10)),
                        complete=ending == "filled" and i == fills - 1, attempt=attempt,
                        parent_filled_quantity=filled, **common))
    if ending in ("cancelled", "rejected", "unknown"):
        status = {"unknown": "unknown"}.get(ending, ending)
        out.append(child("error" if ending == "unknown" else ending, tick(), attempt=attempt,
                         status=status, filled_quantity=filled, **common))
    if attempt > 1 and rng.random() < 0.5:
        out.append(child("ghost", tick(), attempt=attempt - 1, status="complete",
                         filled_quantity=65, fill_price=100.20, **common))
    return out


def realistic_events(seed: int, parents: int = 3) -> list[Event]:
    rng = random.Random(seed)
    out: list[Event] = []
    for p in range(parents):
        for i in range(1, 5):
            out += _story(rng, f"P{p}", i, start=10.0 * p + 2.0 * i)
    return out


def final_rows(book: OrderBook) -> dict[tuple[str, int], dict[str, Any]]:
    rows = {}
    for r in range(len(book)):
        shown = book.row(r)
        for name in ("average_price", "slippage_bps", "fill_value", "slippage_value"):
            if shown[name] is not None:
                shown[name] = round(shown[name], 6)  # sums in another order: last-bit noise
        rows[(shown["parent_id"], int(shown["child_index"]))] = shown
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False),
       cuts=st.lists(st.integers(0, 200), max_size=6))
def test_out_of_order_arrival_gives_the_rows_of_in_order_arrival(
        seed: int, shuffle: random.Random, cuts: list[int]) -> None:
    in_order = realistic_events(seed)
    expected = OrderBook()
    expected.apply(in_order)

    arriving = list(in_order)
    shuffle.shuffle(arriving)
    book = OrderBook()
    bounds = sorted({0, len(arriving), *(c % (len(arriving) + 1) for c in cuts)})
    for start, stop in itertools.pairwise(bounds):  # in batches, as the feed does
        book.apply(arriving[start:stop])

    assert final_rows(book) == final_rows(expected)
    fills = [e for e in in_order if e.filled_quantity and e.event in (EventKind.FILLED,
                                                                       EventKind.GHOST)]
    assert sum(book.row(r)["filled"] for r in range(len(book))) == \
        sum(e.filled_quantity or 0 for e in fills)
    assert book.fill_events == len(fills)


def test_in_order_the_row_is_the_stories_last_state() -> None:
    for seed in range(30):
        stories = realistic_events(seed)
        book = OrderBook()
        book.apply(stories)
        last: dict[tuple[str, int], Event] = {}
        for e in stories:
            if e.event is not EventKind.GHOST:
                last[(e.parent_id, e.child_index or 0)] = e
        for key, e in last.items():
            row = book.row_of(*key)
            assert row is not None
            order = book.row(row)
            assert order["status"] == e.status, (seed, key)
            assert order["attempts"] >= (e.attempt or 0)
            if order["filled"]:
                assert not math.isnan(order["average_price"] or math.nan)


@pytest.mark.parametrize("reserved", [0, 20_000])
def test_orders_past_a_growth_or_a_reservation_start_from_blank_figures(
        reserved: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns grow (or are reserved) without being filled up front: each block of new rows
    gets its starting values as it is reached, so an order far down is as blank as the first."""
    monkeypatch.setattr(OrderBook, "INITIAL_ROWS", 5_000)
    book = OrderBook()
    book.reserve(reserved)
    n = 9_000  # past two 4,096-row blocks and a doubling
    book.apply([child("placed", i * 0.01, parent_id=f"P{i}") for i in range(n)])
    book.apply([fill(n * 0.01 + 1.0, 65, 100.2, parent_id=f"P{n - 1}")])
    assert len(book) == n
    first, far, last = book.row(0), book.row(n - 2), book.row(n - 1)
    assert first["filled"] == far["filled"] == 0 and last["filled"] == 65
    assert first["status"] == far["status"] == "placed"
    assert far["average_price"] is None and last["average_price"] == pytest.approx(100.2)


def test_an_order_being_looked_up_by_its_tag_says_so() -> None:
    book = OrderBook()
    book.apply([child("reconciling", 0.5, status="reconciling", error_bucket="transient",
                      error="read timed out")])
    order = only_order(book)
    assert order["status"] == "reconciling" and book.is_open(0)
    assert {c.key: book.text(c, 0) for c in ORDER_COLUMNS}["status"] == "reconciling"
    book.apply([child("reconciled", 1.0, status="placed"), child("placed", 1.0)])
    assert only_order(book)["status"] == "placed"


def test_a_slice_never_sent_shows_when_it_was_given_up_not_its_scheduled_time() -> None:
    book = OrderBook()
    # A TWAP's last slice was due at +120 s; the parent was cancelled at +30 s.
    book.apply([child("cancelled", 30.0, status="cancelled", send_at=T0 + 120.0,
                      message="not sent: parent cancelled")])
    assert only_order(book)["sent"] == T0 + 30.0
    # A slice that was sent keeps its slice time.
    book.apply([child("placed", 10.0, child_index=2, send_at=T0 + 10.0)])
    assert book.row(1)["sent"] == T0 + 10.0


def test_an_unknown_attempt_whose_tag_never_turned_up_is_shown_not_placed() -> None:
    """The engine stopped learning an attempt's outcome (unknown), then the watch of its tag
    ended without an order (a ghost row, not_placed): nothing is at the broker, and the row
    says so. A ghost row about an earlier attempt changes nothing."""
    book = OrderBook()
    book.apply([child("error", 1.0, status="unknown", error_bucket="transient")])
    assert only_order(book)["status"] == "unknown" and not book.is_open(0)
    book.apply([child("ghost", 9.0, status="not_placed", attempt=1)])
    assert only_order(book)["status"] == "not_placed" and not book.is_open(0)

    other = OrderBook()
    other.apply([child("placed", 1.0, attempt=2, order_id="1")])
    other.apply([child("ghost", 9.0, status="not_placed", attempt=1)])  # the earlier attempt's
    assert only_order(other)["status"] == "placed" and other.is_open(0)
