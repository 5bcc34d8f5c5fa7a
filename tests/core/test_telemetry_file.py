"""FillQualityTracker and TelemetryTail: append-only, 0600, torn lines, truncation, rotation."""

from __future__ import annotations

import itertools
import os
import stat
import threading
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_exec.events import ROW_FIELDS, Event, EventKind, Status, compact_row
from imperium_exec.request import ExecutionAlgo
from imperium_exec.telemetry import (
    FillQualityTracker,
    JournalHistory,
    TelemetryTail,
    history_end,
    read_rows,
    telemetry_path,
)


def row(n: int) -> dict[str, object]:
    return Event(event=EventKind.PLACED, parent_id="P1", tradingsymbol="NIFTY",
                 execution_algo=ExecutionAlgo.TWAP, child_index=n, quantity=65,
                 status=Status.PLACED).to_row()


def test_default_paths_follow_v1_names_and_can_be_moved(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMPERIUM_DESK_HOME", raising=False)
    assert telemetry_path("live") == Path.home() / ".imperium_desk" / "execution_quality_live.jsonl"
    assert telemetry_path("paper", tmp_path) == tmp_path / "execution_quality_paper.jsonl"
    monkeypatch.setenv("IMPERIUM_DESK_HOME", str(tmp_path / "desk"))
    tracker = FillQualityTracker("paper")
    assert tracker.path == tmp_path / "desk" / "execution_quality_paper.jsonl"
    tracker.close()
    with pytest.raises(ValueError, match="mode"):
        telemetry_path("demo")  # type: ignore[arg-type]


def test_file_is_private_and_rows_are_whole_lines_with_every_field(tmp_path: Path) -> None:
    with FillQualityTracker("paper", tmp_path) as tracker:
        tracker.append(row(1))
        tracker.append(row(2))
    assert stat.S_IMODE(os.stat(tracker.path).st_mode) == 0o600
    rows = read_rows(tracker.path)
    assert [r["child_index"] for r in rows] == [1, 2]
    assert all(tuple(r) == ROW_FIELDS for r in rows)


def test_a_journal_an_older_version_left_world_readable_is_made_private(
        tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    with FillQualityTracker("paper", tmp_path) as tracker:
        assert tracker.path == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_journal_syncs_to_disk_and_a_scratch_one_does_not_yet_reads_back_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    kept = FillQualityTracker("paper", path=tmp_path / "kept.jsonl")
    kept.append(row(1))
    kept.sync()
    kept.close()
    assert len(synced) == 2  # the sync and the close
    synced.clear()
    scratch = FillQualityTracker("paper", path=tmp_path / "scratch.jsonl", durable=False)
    scratch.append(row(1))
    scratch.sync()
    assert read_rows(scratch.path) == [row(1)]  # seen before the close
    scratch.append(row(2))
    scratch.close()
    assert synced == []
    assert read_rows(scratch.path) == [row(1), row(2)]


def test_appends_from_many_threads_never_interleave(tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path)

    def writer(offset: int) -> None:
        for i in range(500):
            tracker.append(row(offset + i))

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker.close()
    rows = read_rows(tracker.path)
    assert len(rows) == 2000
    assert sorted(r["child_index"] for r in rows) == sorted(
        k * 1000 + i for k in range(4) for i in range(500))


def test_torn_last_line_is_skipped_then_read_when_completed(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    whole = orjson.dumps(row(1)) + b"\n"
    torn = orjson.dumps(row(2))
    path.write_bytes(whole + torn[:40])
    assert [r["child_index"] for r in read_rows(path)] == [1]

    tail = TelemetryTail(path)
    assert [r["child_index"] for r in tail.read().rows] == [1]
    assert tail.read().rows == []  # the torn half waits for its newline
    with open(path, "ab") as f:
        f.write(torn[40:] + b"\n")
    assert [r["child_index"] for r in tail.read().rows] == [2]


def test_tail_reads_only_new_bytes_and_restarts_on_truncation_and_rotation(
        tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    tracker = FillQualityTracker("paper", path=path)
    tail = TelemetryTail(path)
    tracker.append(row(1))
    assert len(tail.read().rows) == 1
    tracker.append(row(2))
    tracker.append(row(3))
    offset_before = tail.offset
    batch = tail.read()
    assert [r["child_index"] for r in batch.rows] == [2, 3]
    assert tail.offset > offset_before and not batch.restarted
    tracker.close()

    path.write_bytes(orjson.dumps(compact_row(row(9))) + b"\n")  # truncated and rewritten,
    # shorter
    batch = tail.read()
    assert batch.restarted and [r["child_index"] for r in batch.rows] == [9]

    rotated = tmp_path / "new.jsonl"
    rotated.write_bytes(b"".join(orjson.dumps(row(n)) + b"\n" for n in (10, 11, 12, 13)))
    os.replace(rotated, path)  # same name, new file (inode)
    batch = tail.read()
    assert batch.restarted and [r["child_index"] for r in batch.rows] == [10, 11, 12, 13]


def test_tail_reads_a_backlog_in_bounded_chunks_and_counts_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [orjson.dumps(row(n)) for n in range(100)]
    lines.insert(50, b"{not json")
    path.write_bytes(b"\n".join(lines) + b"\n")
    tail = TelemetryTail(path, max_bytes=2048)
    seen: list[int] = []
    bad = 0
    reads = 0
    while tail.pending:
        batch = tail.read()
        seen.extend(int(r["child_index"]) for r in batch.rows)
        bad += batch.bad_lines
        reads += 1
    assert seen == list(range(100)) and bad == 1 and reads > 5



def read_back(path: Path, chunk: int) -> list[list[dict[str, object]]]:
    """Every chunk a JournalHistory of the whole file returns, newest first."""
    end, _ = history_end(path)
    history = JournalHistory(path, end, max_bytes=chunk)
    chunks = []
    while not history.done:
        chunks.append(history.read())
    return chunks


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 400), max_size=40), chunk=st.integers(1, 900),
       torn=st.booleans())
def test_history_read_backwards_rebuilds_the_file_in_order(
        tmp_path_factory: pytest.TempPathFactory, lengths: list[int], chunk: int,
        torn: bool) -> None:
    path = tmp_path_factory.mktemp("history") / "journal.jsonl"
    rows = [{"n": i, "pad": "x" * length} for i, length in enumerate(lengths)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows)
                     + (b'{"n": "torn' if torn else b""))
    chunks = read_back(path, chunk)
    assert [r for c in reversed(chunks) for r in c] == rows  # the torn line is the tail's
    assert all(r["n"] > s["n"] for newer, older in itertools.pairwise(chunks)
               for r in newer for s in older)  # each chunk is older than the one before


def test_history_ends_at_the_last_complete_line_and_the_tail_takes_the_rest(
        tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(orjson.dumps(row(1)) + b"\n" + b'{"event": "pla')
    end, inode = history_end(path)
    assert end == len(orjson.dumps(row(1))) + 1
    tail = TelemetryTail(path, offset=end, inode=inode)
    with open(path, "ab") as f:
        f.write(b'ced"}\n')
    assert tail.read().rows == [{"event": "placed"}]
    # read again from the start, the completed line is the newest row of the history
    assert [r.get("child_index") for c in reversed(read_back(path, 64)) for r in c] == [1, None]


def test_history_keeps_reading_the_file_it_opened_after_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row(n)) + b"\n" for n in range(1, 41)))
    end, _ = history_end(path)
    history = JournalHistory(path, end, max_bytes=256)
    first = history.read()
    os.replace(path, tmp_path / "journal.jsonl.1")
    path.write_bytes(orjson.dumps(row(99)) + b"\n")
    rest = []
    while not history.done:
        rest = history.read() + rest
    assert [r["child_index"] for r in rest + first] == list(range(1, 41))


def test_history_of_a_missing_or_empty_file_is_done_at_once(tmp_path: Path) -> None:
    assert history_end(tmp_path / "none.jsonl") == (0, None)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    end, _ = history_end(tmp_path / "empty.jsonl")
    assert end == 0 and JournalHistory(tmp_path / "empty.jsonl", end).done
