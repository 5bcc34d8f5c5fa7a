"""FillQualityTracker and TelemetryTail: append-only, 0600, torn lines, truncation, rotation."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import orjson
import pytest

from imperium_exec.events import ROW_FIELDS, Event, EventKind, Status
from imperium_exec.request import ExecutionAlgo
from imperium_exec.telemetry import (
    FillQualityTracker,
    TelemetryTail,
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

    path.write_bytes(orjson.dumps(row(9)) + b"\n")  # truncated and rewritten, shorter
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

