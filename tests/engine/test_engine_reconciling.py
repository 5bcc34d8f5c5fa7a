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
