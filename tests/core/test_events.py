"""The event schema: rows read back into typed events, old journals included, bad rows named."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_exec.events import (
    FIELDS_SINCE,
    ROW_FIELDS,
    SCHEMA_VERSION,
    ChildStatus,
    ErrorBucket,
    Event,
    EventKind,
    ParentStatus,
    SchemaError,
    Status,
    read_event,
    schema_table,
)
from imperium_exec.events.reading import _read_current, _read_older
from imperium_exec.request import ExecutionAlgo, ExecutionRequest, Side

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def journal(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (DATA / name).read_bytes().splitlines() if line]


def test_every_row_written_before_the_typed_schema_reads_back_as_it_was() -> None:
    rows = journal("journal_before_typed_schema.jsonl")
    assert {r["v"] for r in rows} == {1}
    # Every kind of version 1 is there (version 2 added only ``reconciling``, version 3 the
    # basket events and markouts).
    assert {r["event"] for r in rows} == {e.value for e in EventKind} - {
        "reconciling", "basket_accepted", "basket_finished", "markout", "modified"}
    for row in rows:
        event = read_event(row)
        assert event.v == 1  # read as the version it was written in, by the fast reader
        assert _read_older(row) == event or event.event is EventKind.SESSION
        again = event.to_row()
        if event.event is EventKind.SESSION:
            # The one change: a session row's execution_algo was "" and is now null.
            assert row["execution_algo"] == "" and again["execution_algo"] is None
            again["execution_algo"] = ""
        for added in FIELDS_SINCE:  # version 3's fields: None in older rows
            assert again.pop(added) is None
        assert again == row


def test_a_v3_row_carries_prior_impact_and_reads_back_by_the_fast_reader() -> None:
    """Version 3 added ``prior_impact`` at the end; v2 rows read it as None."""
    rows = journal("journal_before_typed_schema.jsonl")
    placed = next(r for r in rows if r["event"] == "placed")
    row = placed | dict.fromkeys(FIELDS_SINCE) | {"v": 3, "prior_impact": 0.0125}
    event = read_event(row)
    assert (event.v, event.prior_impact) == (3, 0.0125)
    assert _read_current(row) == event
    assert event.to_row() == row
    older = read_event(placed | {"v": 2})
    assert older.prior_impact is None and older.v == 2
    with pytest.raises(SchemaError, match="prior_impact"):
        read_event(row | {"prior_impact": "a lot"})


def test_a_v2_reconciling_row_reads_back_as_written_by_the_fast_reader() -> None:
    """Version 2 added the ``reconciling`` event: a child waiting on the order book."""
    assert SCHEMA_VERSION == 8
    rows = journal("journal_before_typed_schema.jsonl")
    retried = next(r for r in rows if r["event"] == "retry" and r["ambiguous"])
    row = retried | {"v": 2, "event": "reconciling", "status": "reconciling",
                     "message": f"checking the order book for tag {retried['tag']} (up to "
                                "10 s) before re-sending"}
    event = read_event(row)
    assert (event.v, event.event, event.status) == (2, EventKind.RECONCILING,
                                                     Status.RECONCILING)
    assert event.is_child_event and not event.event.ends_child
    assert not event.counts_as_placement and not event.completes_child
    assert _read_older(row) == event  # the fast path takes v2 rows as it takes v1 rows
    assert event.to_row() == row | dict.fromkeys(FIELDS_SINCE)
    assert read_event(orjson.loads(orjson.dumps(event.to_row()))) == event


def test_a_v6_row_reads_as_written_and_a_v7_modified_row_is_a_child_row_of_its_own(
        ) -> None:
    """Version 7 added only the ``modified`` event (a resting child re-priced in place)."""
    rows = journal("journal_before_typed_schema.jsonl")
    placed = next(r for r in rows if r["event"] == "placed") | dict.fromkeys(FIELDS_SINCE)
    older = read_event(placed | {"v": 6})
    assert older.v == 6 and older.event is EventKind.PLACED
    assert _read_older(placed | {"v": 6}) == older  # the fast path takes v6 rows as they are
    row = placed | {"v": 7, "event": "modified", "quantity": 130, "limit_price": 101.5,
                    "message": "order 1 modified in place: limit 101.45 -> 101.50, quantity "
                               "65 -> 130 (modification 1 of 25)"}
    event = read_event(row)
    assert (event.v, event.event, event.status) == (7, EventKind.MODIFIED, Status.PLACED)
    assert event.is_child_event and not event.event.ends_child
    assert not event.counts_as_placement and not event.completes_child
    assert _read_older(row) == event  # a whole v7 row, by the fast path
    assert read_event(orjson.loads(orjson.dumps(event.to_row()))) == event
    with pytest.raises(SchemaError, match="event"):
        read_event(row | {"v": 6, "event": "modifed"})


def test_a_v4_row_reads_with_no_request_and_an_accepted_v5_row_carries_it_back() -> None:
    """Version 5 added ``request`` (the accepted row's request as JSON) at the end."""
    rows = journal("journal_before_typed_schema.jsonl")
    placed = next(r for r in rows if r["event"] == "placed")
    v4 = placed | {k: None for k, since in FIELDS_SINCE.items() if since <= 4} | {"v": 4}
    older = read_event(v4)
    assert older.v == 4 and older.request is None
    assert _read_older(v4) == older
    sent = ExecutionRequest(tradingsymbol="NIFTY26D0825800PE", exchange="NFO", side="BUY",
                            quantity=130, execution_algo="TWAP", horizon_s=300)
    accepted = older._replace(v=SCHEMA_VERSION, event=EventKind.ACCEPTED,
                              request=sent.model_dump_json())
    again = read_event(orjson.loads(orjson.dumps(accepted.to_row())))
    assert again.request is not None
    assert ExecutionRequest.model_validate_json(again.request) == sent


def test_rows_of_the_v1_desk_read_with_their_event_taken_from_their_status() -> None:
    placed, error, retried = (read_event(r) for r in journal("journal_seed_v1.jsonl"))
    assert (placed.v, placed.event, placed.status) == (0, EventKind.PLACED, Status.PLACED)
    assert placed.execution_algo is ExecutionAlgo.TWAP and placed.child_index == 1
    assert placed.ts == pytest.approx(1795149902.114)  # from the IST timestamp
    assert (error.event, error.error_bucket, error.attempt) == (
        EventKind.ERROR, ErrorBucket.THROTTLE, 1)
    assert retried.attempt == 2 and retried.ts > error.ts
    assert placed.parent_id == "" and placed.side is None  # fields v1 did not write


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"status": "done"}, "status", "'done' is not one of working, paused"),
    ({"quantity": "65"}, "quantity", "'65' is not a whole number"),
    ({"quantity": 65.5}, "quantity", "65.5 is not a whole number"),
    ({"latency_ms": [1, 2]}, "latency_ms", "[1, 2] is not a number"),
    ({"side": "buy"}, "side", "'buy' is not one of BUY, SELL"),
    ({"ambiguous": 1}, "ambiguous", "1 is not true or false"),
    ({"event": None}, "event", "missing"),
])
def test_a_row_that_does_not_fit_is_refused_naming_the_field_and_the_reason(
        change: dict[str, Any], field: str, reason: str) -> None:
    row = Event(event=EventKind.PLACED, status=Status.PLACED, quantity=65,
                side=Side.BUY).to_row() | change
    with pytest.raises(SchemaError) as caught:
        read_event(row)
    assert caught.value.field == field and caught.value.reason.startswith(reason)


def test_a_v1_desk_timestamp_without_an_offset_is_read_as_ist() -> None:
    event = read_event({"timestamp": "2026-11-20T10:15:02", "status": "placed"})
    assert event.ts == dt.datetime(2026, 11, 20, 4, 45, 2, tzinfo=dt.UTC).timestamp()


def test_a_number_too_large_for_its_field_is_refused_not_raised_through() -> None:
    row = Event(event=EventKind.PLACED).to_row() | {"quantity": float("inf")}
    with pytest.raises(SchemaError, match="quantity: inf is not a whole number"):
        read_event(row)


def test_a_v1_desk_row_whose_status_says_nothing_is_refused() -> None:
    with pytest.raises(SchemaError, match="status: 'working' in a row with neither event nor v"):
        read_event({"timestamp": "2026-11-20T10:15:02+05:30", "status": "working"})


@pytest.mark.parametrize("field", ["ts", "event", "parent_id", "mode", "v"])
def test_a_required_field_written_as_null_reads_as_its_default_or_is_refused(field: str) -> None:
    row = Event(event=EventKind.PLACED, ts=5.0, parent_id="P1").to_row() | {field: None}
    if field in ("event", "v"):
        with pytest.raises(SchemaError):  # without them a row cannot be read at all
            read_event(row | ({"v": SCHEMA_VERSION} if field == "event" else {}))
        return
    event = read_event(row)
    assert getattr(event, field) == getattr(Event(), field) and getattr(event, field) is not None


def test_numbers_read_as_their_field_type_whichever_reader_takes_the_row() -> None:
    current = Event(event=EventKind.PLACED, quantity=65).to_row() | {"ts": 5, "latency_ms": 12}
    event = read_event(current)
    assert type(event.ts) is float and type(event.latency_ms) is float and event.ts == 5.0
    assert type(event.quantity) is int


def test_fields_a_row_lacks_take_defaults_and_fields_the_schema_lacks_are_ignored() -> None:
    event = read_event({"v": SCHEMA_VERSION, "event": "placed", "parent_id": "P1",
                        "venue_hint": "from a newer writer"})
    assert event.parent_id == "P1" and event.quantity is None and event.ts == 0.0
    assert tuple(event.to_row()) == ROW_FIELDS


def test_a_row_round_trips_through_json_with_plain_strings() -> None:
    event = Event(event=EventKind.FILLED, status=Status.PARTIALLY_FILLED, filled_quantity=65,
                  fill_price=101.25, ts=1795491900.5, side=Side.SELL, parent_id="P1")
    row = orjson.loads(orjson.dumps(event.to_row()))
    assert type(row["status"]) is str and row["status"] == "partially_filled"
    assert read_event(row) == event


def test_every_parent_and_child_state_is_a_status_a_row_can_carry() -> None:
    statuses = {s.value for s in Status}
    assert {s.value for s in ParentStatus} <= statuses
    row_states = {ChildStatus.FILLED, ChildStatus.CANCELLED, ChildStatus.REJECTED,
                  ChildStatus.ERROR, ChildStatus.UNKNOWN}
    assert {s.value for s in row_states} <= statuses


def test_the_readme_schema_table_is_the_schema() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| Field | Type | Meaning |")
    end = readme.index("<!-- schema:end -->")
    assert readme[start:end].strip() == schema_table()


def _string_comparisons(path: Path, values: set[str]) -> list[str]:
    """String constants from ``values`` compared with ==, != or in (a tuple/set/list of them)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            items = operand.elts if isinstance(operand, ast.Tuple | ast.Set | ast.List) \
                else [operand]
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {item.value!r}" for item in items
                      if isinstance(item, ast.Constant) and item.value in values]
    return found


def test_no_module_compares_an_event_status_or_bucket_to_a_string() -> None:
    """Readers compare with the schema's enums, so a renamed value cannot be missed."""
    values = {m.value for enum in (EventKind, Status, ErrorBucket, ParentStatus, ChildStatus)
              for m in enum}
    # brokers/, sim/ and testing/ speak the broker's wire vocabulary, not the schema's.
    files = [p for p in sorted((ROOT / "imperium_exec").rglob("*.py"))
             if p.name != "events.py" and not {"brokers", "sim", "testing"} & set(p.parts)]
    files += sorted((ROOT / "widgets").rglob("*.py"))
    assert len(files) > 30
    found = [hit for path in files for hit in _string_comparisons(path, values)]
    assert found == []
