"""A child waiting on the order book is visible: a ``reconciling`` row is written when the wait
starts, before the row that ends it (reconciled, or retry), on the paper exchange in virtual
time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import assert_books_balance

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import SCHEMA_VERSION, ErrorBucket, EventKind, Status, read_event
from imperium_exec.events.ids import child_tag
from imperium_exec.request import ExecutionRequest
from imperium_exec.retry import RetryPolicy
from imperium_exec.sim.config import FaultConfig, FaultKind
from imperium_exec.telemetry import FillQualityTracker, read_rows

SYMBOL = "NIFTY26D0126000CE"
LOT = 65
WINDOW_S = 10.0  # the default reconcile window


def run_twap(tmp_path: Path, *faults: FaultKind) -> tuple[list[dict[str, Any]], PaperBroker]:
    """A three-child TWAP on the paper exchange whose placements meet ``faults`` in turn; the
    journal's rows once the engine has stopped (late-order watches closed)."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=7, faults=FaultConfig(script=faults))
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    request = ExecutionRequest.model_validate(dict(
        tradingsymbol=SYMBOL, exchange="NFO", side="BUY", quantity=3 * LOT, lot_size=LOT,
        tick_size=0.05, freeze_quantity=1800, bid=quote.bid, ask=quote.ask, ltp=quote.ltp,
        execution_algo="TWAP", horizon_s=90.0, max_child_orders=3))
    tracker = FillQualityTracker("paper", tmp_path)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker,
                             retry_policy=RetryPolicy(reconcile_window_s=WINDOW_S),
                             config=EngineConfig(id_seed=1))
    try:
        _, future = engine.submit(request)
        assert future.result(30).filled_quantity == 3 * LOT
    finally:
        engine.shutdown(10.0)
        tracker.close()
    return read_rows(tracker.path), broker


def next_row_of_child(rows: list[dict[str, Any]], i: int) -> dict[str, Any]:
    return next(r for r in rows[i + 1:] if r["child_id"] == rows[i]["child_id"])


@pytest.mark.parametrize(("fault", "ends_with"), [
    (FaultKind.GHOST, EventKind.RECONCILED),  # the order was there: adopted by its tag
    (FaultKind.SERVER_ERROR, EventKind.RETRY),  # it was not: sent again under a new tag
])
def test_a_reconciling_row_starts_the_wait_and_the_childs_next_row_ends_it(
        tmp_path: Path, fault: FaultKind, ends_with: EventKind) -> None:
    rows, broker = run_twap(tmp_path, FaultKind.NONE, fault)
    events = [read_event(r) for r in rows]  # the journal round-trips through the schema
    assert all(e.to_row() == r for e, r in zip(events, rows, strict=True))
    [i] = [n for n, e in enumerate(events) if e.event is EventKind.RECONCILING]
    waiting, ended = events[i], read_event(next_row_of_child(rows, i))
    assert (waiting.v, waiting.status, waiting.child_index) == (SCHEMA_VERSION, Status.RECONCILING,
                                                                2)
    assert waiting.tag == child_tag(waiting.parent_id, 1, 1)  # the second child, attempt 1
    assert waiting.message == (f"checking the order book for tag {waiting.tag} (up to 10 s) "
                               "before re-sending")
    assert (waiting.error_bucket, waiting.ambiguous) == (ErrorBucket.TRANSIENT, True)
    assert waiting.error and waiting.error == ended.error  # what made the attempt ambiguous
    assert waiting.is_child_event and not waiting.counts_as_placement
    assert not waiting.event.ends_child
    # Written when the wait starts: the row that ends it is the child's next, same attempt.
    assert ended.event is ends_with
    assert (ended.tag, ended.attempt) == (waiting.tag, waiting.attempt)
    if ends_with is EventKind.RETRY:  # nothing turned up: the whole window went by first
        assert ended.ts - waiting.ts >= WINDOW_S
        assert [o.tag for o in broker.orders()].count(waiting.tag) == 0
    else:
        assert ended.ts - waiting.ts < WINDOW_S
        assert next_row_of_child(rows, i + 1)["event"] == "placed"
    assert sum(1 for e in events if e.event is EventKind.RECONCILING) == 1
    assert_books_balance(rows, 3 * LOT)  # quantities add up; every row fits the schema
    assert len(broker.orders()) == 3  # never placed twice


class _BookUnreadableAfterSecondPlacement:
    """The paper broker, whose order book cannot be read for ``for_s`` virtual seconds from
    the second placement on: a busy or failing book during that placement's reconcile
    window."""

    def __init__(self, inner: PaperBroker, clock: VirtualClock, for_s: float) -> None:
        self._inner, self._clock, self._for_s = inner, clock, for_s
        self._placements = 0
        self._until = float("-inf")

    def place_order(self, order: Any) -> Any:
        self._placements += 1
        if self._placements == 2:
            self._until = self._clock.now() + self._for_s
        return self._inner.place_order(order)

    def orders(self) -> Any:
        if self._clock.now() < self._until:
            raise ConnectionError("the order book did not answer")
        return self._inner.orders()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_twap_with_the_book_unreadable(tmp_path: Path, fault: FaultKind, unreadable_s: float,
                                      horizon_s: float) -> tuple[list[dict[str, Any]],
                                                                 PaperBroker, int]:
    """A three-child TWAP whose second placement meets ``fault`` and after which the order
    book cannot be read for ``unreadable_s``: the journal's rows, the paper broker and the
    units the parent filled."""
    clock = VirtualClock()
    paper = PaperBroker(clock=clock, seed=7, faults=FaultConfig(script=(FaultKind.NONE, fault)))
    broker = _BookUnreadableAfterSecondPlacement(paper, clock, for_s=unreadable_s)
    quote = paper.quote(SYMBOL)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    request = ExecutionRequest.model_validate(dict(
        tradingsymbol=SYMBOL, exchange="NFO", side="BUY", quantity=3 * LOT, lot_size=LOT,
        tick_size=0.05, freeze_quantity=1800, bid=quote.bid, ask=quote.ask, ltp=quote.ltp,
        execution_algo="TWAP", horizon_s=horizon_s, max_child_orders=3,
        randomize_slices=False))
    tracker = FillQualityTracker("paper", tmp_path)
    engine = ExecutionEngine(broker, mode="paper", clock=clock,  # type: ignore[arg-type]
                             tracker=tracker,
                             retry_policy=RetryPolicy(reconcile_window_s=WINDOW_S),
                             config=EngineConfig(id_seed=1))
    try:
        _, future = engine.submit(request)
        filled = future.result(30).filled_quantity
    finally:
        engine.shutdown(10.0)
        tracker.close()
    return read_rows(tracker.path), paper, filled


def test_an_ambiguous_placement_is_not_sent_again_before_a_book_read_after_its_window(
        tmp_path: Path) -> None:
    """The second child's placement is recorded but its reply lost (a ghost), and the order
    book cannot be read for two reconcile windows after it: the engine keeps looking past
    the window until a read asked for after it answers, finds the order by its tag, and sends
    nothing again (the old rule, a window of time, re-sent it: one order too many)."""
    rows, paper, filled = run_twap_with_the_book_unreadable(
        tmp_path, FaultKind.GHOST, unreadable_s=2 * WINDOW_S, horizon_s=90.0)
    events = [r["event"] for r in rows if r["child_index"] == 2]
    assert "reconciled" in events and "retry" not in events, events
    (reconciling,) = [r for r in rows if r["event"] == "reconciling"]
    (reconciled,) = [r for r in rows if r["event"] == "reconciled"]
    assert reconciled["ts"] - reconciling["ts"] > WINDOW_S  # it looked past the window
    assert len(paper.orders()) == 3  # one order a child: none sent twice
    assert filled == 3 * LOT


def test_with_the_book_unreadable_for_long_the_attempt_is_sent_again_after_four_windows(
        tmp_path: Path) -> None:
    """No read answers for five windows after the second child's placement failed with
    nothing recorded: the engine gives up looking after four windows (never before the
    first), re-sends under a new tag, and the parent still fills exactly."""
    rows, paper, filled = run_twap_with_the_book_unreadable(
        tmp_path, FaultKind.SERVER_ERROR, unreadable_s=5 * WINDOW_S, horizon_s=300.0)
    (reconciling,) = [r for r in rows if r["event"] == "reconciling"]
    (retry,) = [r for r in rows if r["event"] == "retry"]
    waited = retry["ts"] - reconciling["ts"]
    assert 4 * WINDOW_S <= waited < 5 * WINDOW_S
    assert len(paper.orders()) == 3 and filled == 3 * LOT
