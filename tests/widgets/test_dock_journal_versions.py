"""The dock's feed reads every version: a journal that mixes the v1 desk's rows, version 1
rows and the engine's rows as compact version 8 lines and whole version 6, 7 and 8 lines
reads as the same events through its history (read backwards, in chunks) and its live tail
(rows appended after the dock attached)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from journal_versions import mixed_events, write_journals
from pytestqt.qtbot import QtBot

from imperium_exec.events import Event
from imperium_exec.widgets.feed import TelemetryFeed


def test_the_feeds_history_and_tail_read_a_mixed_journal_as_its_events(
        qtbot: QtBot, engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    journals = write_journals(tmp_path, engine_journal_rows)
    lines = journals.mixed.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    path = tmp_path / "dock" / "execution_quality_paper.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(lines[:half]))
    feed = TelemetryFeed(path, interval_ms=10_000, chunk_bytes=4 << 10, budget_ms=60_000)
    history: list[list[Event]] = []  # newest chunk first
    live: list[Event] = []
    feed.history_ready.connect(history.append)
    feed.events_ready.connect(live.extend)
    while feed.loading:
        feed.poll_now()
    assert len(history) > 1  # read in several chunks
    with open(path, "ab") as f:
        f.write(b"".join(lines[half:]))
    feed.poll_now()
    feed.stop()
    assert feed.rows_rejected == 0
    read = [e for chunk in reversed(history) for e in chunk] + live
    expected = mixed_events(journals)
    assert read == expected
    assert live == expected[half:]
