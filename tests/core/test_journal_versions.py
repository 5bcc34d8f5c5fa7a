"""Every reader reads every version of the schema: the engine's own rows written as each
version (1 to 8, compact lines from 8 on) and journals that mix them with the older journals
of tests/data read as the same events, through read_event, read_rows, the v1 desk's reader,
restart recovery's read_today and ``imperium-exec calibrate``. (The dock's feed and tca:
tests/widgets/test_dock_journal_versions.py, tests/tca/test_tca_journal_versions.py.)"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_versions import as_read, as_version, mixed_events, older_lines, write_journals

from imperium_exec.cli import main
from imperium_exec.events import (
    ROW_FIELDS,
    SCHEMA_VERSION,
    Event,
    EventKind,
    compact_row,
    full_row,
    read_event,
)
from imperium_exec.events.compact import REBUILT
from imperium_exec.events.reading import _read_current
from imperium_exec.recovery.journal import read_today, unfinished_today
from imperium_exec.telemetry import FillQualityTracker, read_rows, unfinished_parents
from imperium_exec.timeutil import IST, epoch_to_iso

#: The first version that has each event kind (the rest are in version 1).
_EVENT_SINCE = {EventKind.RECONCILING: 2, EventKind.MARKOUT: 3, EventKind.BASKET_ACCEPTED: 3,
                EventKind.BASKET_FINISHED: 3, EventKind.MODIFIED: 7}


def test_the_engines_rows_read_back_as_the_same_events_written_as_every_version(
        engine_journal_rows: list[dict[str, Any]]) -> None:
    assert SCHEMA_VERSION == 8
    kinds = {r["event"] for r in engine_journal_rows}
    assert {"accepted", "placed", "filled", "finished", "markout"} <= kinds
    for row in engine_journal_rows:
        event = read_event(row)
        for version in range(1, SCHEMA_VERSION + 1):
            if version < _EVENT_SINCE.get(event.event, 1):
                continue
            line = orjson.loads(orjson.dumps(as_version(row, version)))
            assert read_event(line) == as_read(event, version), (version, row)
        compact = orjson.loads(orjson.dumps(compact_row(row)))
        assert _read_current(compact) == event  # the fast path, not the checking reader
        assert list(full_row(compact).items()) == list(row.items())  # whole, in order


def test_a_compact_line_leaves_out_the_nulls_and_what_the_row_rebuilds_and_nothing_else(
        engine_journal_rows: list[dict[str, Any]]) -> None:
    left_out: set[str] = set()
    for row in engine_journal_rows:
        compact = compact_row(row)
        assert all(compact[k] == row[k] for k in compact)
        dropped = {k for k in row if k not in compact}
        assert all(row[k] is None or k in REBUILT for k in dropped)
        left_out |= {k for k in dropped if row[k] is not None}
        assert {"v", "event", "ts", "parent_id", "mode"} <= compact.keys()
    assert left_out == set(REBUILT)  # each rebuilt field was left out somewhere
    whole = sum(len(orjson.dumps(r)) for r in engine_journal_rows)
    compact_bytes = sum(len(orjson.dumps(compact_row(r))) for r in engine_journal_rows)
    assert compact_bytes < whole * 2 / 3


def test_a_field_that_differs_from_what_the_row_rebuilds_is_written_even_when_null() -> None:
    row = Event(event=EventKind.PLACED, ts=1_795_491_900.25, parent_id="P1", child_index=2,
                attempt=1, tag="NOT-THE-USUAL", status=None, child_id=None,
                timestamp="2026-11-18T09:15:00+05:30", quantity=65).to_row()
    compact = compact_row(row)
    assert compact["tag"] == "NOT-THE-USUAL" and compact["timestamp"] == row["timestamp"]
    assert compact["status"] is None and compact["child_id"] is None  # said, not rebuilt
    assert full_row(orjson.loads(orjson.dumps(compact))) == row
    assert read_event(compact) == read_event(row)


def test_the_writer_writes_compact_lines_and_read_rows_gives_the_rows_back_whole(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    with FillQualityTracker("paper", path=path) as tracker:
        for row in engine_journal_rows:
            tracker.append(row)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines == [compact_row(r) for r in engine_journal_rows]
    assert read_rows(path) == engine_journal_rows


def test_read_rows_gives_every_version_of_a_mixed_journal_as_it_was_emitted(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    journals = write_journals(tmp_path, engine_journal_rows)
    whole, mixed = read_rows(journals.whole), read_rows(journals.mixed)
    older = [orjson.loads(line) for line in older_lines()]
    assert whole[:len(older)] == mixed[:len(older)] == older  # older rows as they were
    for row, again, version in zip(engine_journal_rows, mixed[len(older):],
                                   journals.mixed_versions, strict=True):
        assert again == (row if version >= 8 else as_version(row, version))
    assert unfinished_parents(mixed) == unfinished_parents(whole)


def test_the_v1_desks_reader_reads_its_rows_among_rows_of_every_later_version(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """Rows without ``v`` (the v1 desk's: their event from their status, their ts from their
    timestamp) and version 1 rows read the same in front of compact rows as on their own."""
    journals = write_journals(tmp_path, engine_journal_rows)
    mixed = [read_event(r) for r in read_rows(journals.mixed)]
    alone = [read_event(orjson.loads(line)) for line in older_lines()]
    assert mixed[:len(alone)] == alone
    assert [e.v for e in alone[:3]] == [0, 0, 0] and {e.v for e in alone[3:]} == {1}
    assert [e.event for e in alone[:3]] == [EventKind.PLACED, EventKind.ERROR, EventKind.PLACED]
    assert all(e.ts > 0 for e in alone[:3])
    assert mixed == mixed_events(journals)


def test_restart_recovery_reads_the_same_day_from_a_mixed_journal(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """read_today (backwards, in chunks) and unfinished_today on the day's rows: the last
    three parents' finished rows lost in a crash, the rest of the day mixed."""
    finished = [r["parent_id"] for r in engine_journal_rows if r["event"] == "finished"]
    lost = set(finished[-3:])
    rows = [r for r in engine_journal_rows
            if not (r["event"] == "finished" and r["parent_id"] in lost)]
    journals = write_journals(tmp_path, rows)
    now = max(r["ts"] for r in rows)
    whole = unfinished_today(read_today(journals.whole, now), now)
    mixed = unfinished_today(read_today(journals.mixed, now), now)
    assert mixed == whole
    assert {p.parent_id for p in mixed.unfinished} == lost
    assert mixed.bad_lines == 0 and mixed.rows >= len(rows)  # (and the older rows of the day)
    for parent in mixed.unfinished:
        filled = [r["parent_filled_quantity"] for r in rows
                  if r["parent_id"] == parent.parent_id and r["parent_filled_quantity"] is not None]
        assert parent.filled == filled[-1]
        assert parent.request is not None and parent.orders
        assert all(o.tag for o in parent.orders.values())  # rebuilt from the compact lines
    # The day's fills, for the restarted engine's estimates: signed by side, in time order
    # (the engine's, and the older rows' of the day).
    assert Counter((r["parent_id"], (1 if r["side"] == "BUY" else -1) * r["filled_quantity"])
                   for r in rows if r["event"] == "filled") \
        <= Counter((f.parent_id, f.units) for f in mixed.fills)
    assert any(f.units < 0 for f in mixed.fills)
    assert [f.ts for f in mixed.fills] == sorted(f.ts for f in mixed.fills)


def test_calibrate_prints_the_same_figures_from_a_mixed_journal_as_from_the_whole_one(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    journals = write_journals(tmp_path, engine_journal_rows)
    printed = []
    for path in (journals.whole, journals.mixed):
        main(["calibrate", str(path), "--mode", "paper", "--dry-run"])
        out, err = capsys.readouterr()
        printed.append((out, err))
    assert printed[0] == printed[1]
    out = printed[0][0]
    children = {r["child_id"] for r in engine_journal_rows if r["event"] == "filled"}
    assert f"{len(children)} filled children" in out and "before" in out and "after" in out
    assert "volume:" in out and " 0 observations" not in out


def test_every_field_of_a_row_is_one_the_schema_knows(
        engine_journal_rows: list[dict[str, Any]]) -> None:
    assert all(list(r) == list(ROW_FIELDS) for r in engine_journal_rows)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.0, max_value=4.1e9, allow_nan=False)
       | st.builds(lambda s, f: s + f, st.integers(1_700_000_000, 1_900_000_000),
                   st.sampled_from([0.0, 0.0005, 0.0015, 0.4999995, 0.9995, 0.9999995,
                                    0.99999949, 0.99999951, 0.999999999])))
def test_the_timestamp_rebuilt_from_ts_is_datetimes_text_rounding_included(ts: float) -> None:
    """A compact row's timestamp is rebuilt from its ts: it must be the text the writer
    had, which datetime made (microseconds rounded half to even, milliseconds truncated)."""
    expected = dt.datetime.fromtimestamp(ts, IST).isoformat(timespec="milliseconds")
    assert epoch_to_iso(ts) == expected
