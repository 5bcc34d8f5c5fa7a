"""TelemetryFeed: incremental tail, torn lines, truncation and rotation, backlog in chunks,
coalesced stack signals, and no row shown twice when the journal is the stack's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dock_support import StackDouble, parent_story, row, write_rows
from pytestqt.qtbot import QtBot

from imperium_exec.events import Event, read_event
from imperium_exec.telemetry import FillQualityTracker
from imperium_exec.widgets.feed import TelemetryFeed


class Collected:
    """What a consumer holds: history chunks go before everything held, live rows after."""

    def __init__(self, feed: TelemetryFeed) -> None:
        self.batches: list[list[dict[str, Any]]] = []  # in delivery order
        self.history: list[list[dict[str, Any]]] = []  # newest chunk first
        self.live: list[dict[str, Any]] = []
        self.events: list[str] = []
        feed.events_ready.connect(self._rows)
        feed.history_ready.connect(self._history)
        feed.restarted.connect(self._restarted)

    def _rows(self, events: list[Event]) -> None:
        rows = [e.to_row() for e in events]
        self.batches.append(rows)
        self.live.extend(rows)
        self.events.append(f"rows:{len(events)}")

    def _history(self, events: list[Event]) -> None:
        rows = [e.to_row() for e in events]
        self.batches.append(rows)
        self.history.append(rows)
        self.events.append(f"history:{len(events)}")

    def _restarted(self) -> None:
        self.history, self.live = [], []
        self.events.append("restarted")

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Everything held, in the journal's order."""
        return [r for chunk in reversed(self.history) for r in chunk] + self.live


def journal(tmp_path: Path) -> Path:
    return tmp_path / "execution_quality_paper.jsonl"


def test_tail_delivers_only_new_complete_rows(qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    write_rows(path, parent_story("P1", children=1), torn=b'{"event": "pla')
    feed = TelemetryFeed(path, interval_ms=10_000)  # polled by hand
    got = Collected(feed)
    feed.poll_now()
    assert [r["event"] for r in got.rows] == ["accepted", "placed", "filled", "finished"]
    feed.poll_now()
    assert len(got.batches) == 1  # nothing new: nothing delivered, nothing re-read
    with open(path, "ab") as f:  # the torn line completes, another row follows
        f.write(b'ced", "parent_id": "P2"}\n')
    write_rows(path, [row("placed", parent_id="P3")])
    feed.poll_now()
    assert [(r["event"], r["parent_id"]) for r in got.batches[-1]] == [
        ("placed", "P2"), ("placed", "P3")]


def test_truncation_restarts_the_feed(qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    write_rows(path, parent_story("P1"))
    feed = TelemetryFeed(path, interval_ms=10_000)
    got = Collected(feed)
    feed.poll_now()
    with open(path, "wb"):
        pass  # truncated (a writer started the file over)
    write_rows(path, [row("placed", parent_id="P9")])
    feed.poll_now()
    assert got.events[-2:] == ["restarted", "rows:1"]
    assert got.rows[-1]["parent_id"] == "P9"


def test_rotation_restarts_the_feed_on_the_new_file(qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    write_rows(path, parent_story("P1", children=8))
    feed = TelemetryFeed(path, interval_ms=10_000)
    got = Collected(feed)
    feed.poll_now()
    os.rename(path, tmp_path / "execution_quality_paper.jsonl.1")
    write_rows(path, parent_story("P2", children=1))
    feed.poll_now()
    assert got.events[-2:] == ["restarted", "rows:4"]
    assert {r["parent_id"] for r in got.batches[-1]} == {"P2"}


def test_a_backlog_loads_in_bounded_chunks_with_progress(qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    rows = [r for i in range(300) for r in parent_story(f"P{i}", children=4)]  # 3,000 rows
    write_rows(path, rows)
    progress: list[tuple[int, int]] = []
    feed = TelemetryFeed(path, chunk_bytes=32 << 10, budget_ms=1.0)
    feed.backlog_progress.connect(lambda done, total: progress.append((done, total)))
    got = Collected(feed)
    assert feed.loading
    with qtbot.waitSignal(feed.backlog_loaded, timeout=10_000) as loaded:
        pass
    assert loaded.args == [len(rows)] and not feed.loading
    assert len(got.rows) == len(rows) and got.rows[-1] == rows[-1]
    assert len(got.batches) > 5  # chunks, each a bounded read, between event-loop turns
    assert progress[-1][0] == progress[-1][1] == path.stat().st_size
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_a_burst_of_stack_rows_arrives_in_one_batch(qtbot: QtBot, tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path)
    stack = StackDouble(tracker)
    feed = TelemetryFeed(tracker.path, stack, interval_ms=50)
    got = Collected(feed)
    burst = [row("placed", parent_id=f"B{i}") for i in range(2000)]
    stack.send(*burst)  # all within one event-loop turn
    qtbot.waitUntil(lambda: len(got.rows) == len(burst), timeout=5000)
    assert len(got.batches) == 1
    assert got.rows == burst  # from the signals, not read back from the file
    tracker.close()


def test_backlog_then_live_rows_are_each_shown_once(qtbot: QtBot, tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path)
    stack = StackDouble(tracker)
    earlier = parent_story("OLD", children=2)
    for r in earlier:
        tracker.append(r)  # journal from an earlier session
    in_flight = row("placed", parent_id="NOW", ts=1.0)
    tracker.append(in_flight)  # written just before the dock attached...
    feed = TelemetryFeed(tracker.path, stack, interval_ms=20,
                         clock=lambda: 2.0)  # ...so its ts is before the attach time
    got = Collected(feed)
    stack.telemetry_event.emit(read_event(in_flight))  # ...and its signal arrives just after
    live = parent_story("NEW", children=2)
    stack.send(*live)
    qtbot.waitUntil(lambda: len(got.rows) == len(earlier) + 1 + len(live), timeout=5000)
    qtbot.wait(100)  # and nothing more arrives (no second copy from the file)
    ids = [r["parent_id"] for r in got.rows]
    assert len(got.rows) == len(earlier) + 1 + len(live)
    assert ids.count("NOW") == 1 and ids.count("NEW") == len(live)
    assert ids[:len(earlier)] == ["OLD"] * len(earlier)
    tracker.close()


def test_a_file_of_another_mode_is_tailed_next_to_the_stack(qtbot: QtBot,
                                                           tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path / "own")
    stack = StackDouble(tracker)
    other = tmp_path / "execution_quality_live.jsonl"
    write_rows(other, parent_story("L1", children=1, mode="live"))
    feed = TelemetryFeed(other, stack, interval_ms=20)
    got = Collected(feed)
    stack.send(row("placed", parent_id="S1"))
    write_rows(other, [row("placed", parent_id="L2", mode="live")])
    qtbot.waitUntil(lambda: {"L1", "L2", "S1"} <= {r["parent_id"] for r in got.rows},
                    timeout=5000)
    tracker.close()


def test_stop_disconnects_from_the_stack(qtbot: QtBot, tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path)
    stack = StackDouble(tracker)
    feed = TelemetryFeed(None, stack, interval_ms=10)
    got = Collected(feed)
    feed.stop()
    stack.send(row("placed"))
    qtbot.wait(50)
    assert got.rows == []
    tracker.close()


def test_rotation_between_two_reads_of_one_tick_drops_the_old_rows(
        qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    write_rows(path, [])
    feed = TelemetryFeed(path, interval_ms=10_000, chunk_bytes=8 << 10, budget_ms=60_000)
    got = Collected(feed)
    write_rows(path, [r for i in range(20) for r in parent_story(f"OLD{i}")])  # live rows
    tail = feed._tail
    assert tail is not None
    read, reads = tail.read, [0]

    def rotate_on_second_read() -> Any:
        reads[0] += 1
        if reads[0] == 2:  # logrotate between two bounded reads of the same tick
            os.replace(path, tmp_path / "old.jsonl")
            write_rows(path, parent_story("NEW", children=2))
        return read()

    tail.read = rotate_on_second_read  # type: ignore[method-assign]
    feed.poll_now()
    assert reads[0] >= 2 and "restarted" in got.events
    after = got.events.index("restarted")
    delivered_after = [r for batch in got.batches[len(got.events[:after]):] for r in batch]
    assert delivered_after and {r["parent_id"] for r in delivered_after} == {"NEW"}


def test_history_comes_newest_first_and_new_rows_never_wait_behind_it(
        qtbot: QtBot, tmp_path: Path) -> None:
    path = journal(tmp_path)
    history = [r for i in range(200) for r in parent_story(f"H{i}", children=4)]  # 2,000 rows
    write_rows(path, history)
    feed = TelemetryFeed(path, interval_ms=10_000, chunk_bytes=16 << 10, budget_ms=0.0)
    got = Collected(feed)
    feed.poll_now()  # one chunk of history: the newest rows of the journal
    assert got.history and got.history[0][-1] == history[-1]
    write_rows(path, [row("placed", parent_id="LIVE")])
    feed.poll_now()
    assert feed.loading and got.live[-1]["parent_id"] == "LIVE"  # before the history is done
    while feed.loading:
        feed.poll_now()
    assert got.rows == history + got.live
    assert got.events.index("rows:1") < len(got.events) - 1  # more history came after it


def test_an_event_both_in_the_history_and_signalled_late_is_kept_once(
        qtbot: QtBot, tmp_path: Path) -> None:
    tracker = FillQualityTracker("paper", tmp_path)
    stack = StackDouble(tracker)
    in_flight = row("placed", parent_id="NOW", ts=1.0)
    tracker.append(in_flight)
    feed = TelemetryFeed(tracker.path, stack, interval_ms=10_000, clock=lambda: 2.0)
    got = Collected(feed)
    feed.poll_now()  # the history brings it first...
    stack.telemetry_event.emit(read_event(in_flight))  # ...then its queued signal arrives
    feed.poll_now()
    assert [r["parent_id"] for r in got.rows] == ["NOW"]
    tracker.close()


def test_a_tail_behind_the_writer_is_read_again_at_the_next_turn(
        qtbot: QtBot, tmp_path: Path) -> None:
    """More than a tick's budget waiting: the feed comes back at once, not a poll interval
    later, so a fast writer is never left seconds ahead of the screen."""
    path = journal(tmp_path)
    write_rows(path, [])
    feed = TelemetryFeed(path, interval_ms=10_000, chunk_bytes=4 << 10, budget_ms=0.0)
    got = Collected(feed)
    write_rows(path, [r for i in range(100) for r in parent_story(f"L{i}")])  # ~120 KB
    feed.poll_now()
    assert 0 < len(got.live) < 1000 and feed._timer.interval() == 0
    qtbot.waitUntil(lambda: len(got.live) == 1000, timeout=5000)  # not 10 s a poll
    assert feed._timer.interval() == 10_000


def test_a_queued_signal_minutes_of_virtual_clock_old_is_still_kept_once(
        qtbot: QtBot, tmp_path: Path) -> None:
    """On a virtual clock a row queued at attach can be long before the attach time by that
    clock: the history remembers its newest rows by count, not by time."""
    tracker = FillQualityTracker("paper", tmp_path)
    stack = StackDouble(tracker)
    fill = row("filled", parent_id="NOW", ts=1.0, filled_quantity=65, fill_price=100.0)
    tracker.append(fill)
    feed = TelemetryFeed(tracker.path, stack, interval_ms=10_000, clock=lambda: 600.0)
    got = Collected(feed)
    feed.poll_now()  # the history brings it...
    stack.telemetry_event.emit(read_event(fill))  # ...and then its queued signal, 10 min on
    feed.poll_now()
    assert [r["event"] for r in got.rows] == ["filled"]
    tracker.close()
