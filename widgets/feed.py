"""TelemetryFeed: telemetry rows for the dock, from a stack's signals and/or a file tail.

Two sources, one coalesced stream:

- **a file** (``execution_quality_{live,paper}.jsonl``, possibly written by another process):
  read incrementally with :class:`~imperium_exec.telemetry.TelemetryTail` in bounded chunks
  (never re-read; a torn last line waits for its newline; truncation or rotation emits
  :attr:`TelemetryFeed.restarted` and reading starts over). A backlog (a big journal) is read a
  few chunks per event-loop turn within a time budget, so the window stays responsive while a
  million rows load.
- **a stack** (:class:`~imperium_exec.stack.ExecutionStack`): events arrive as
  ``telemetry_event`` signals (read from their rows once, by the stack). When the file is the
  stack's own journal, only the part written before the feed attached is read from it (the
  backlog); newer events come from the signals, so nothing is shown twice. An event written just
  before attaching whose queued signal arrives just after is recognised by its identity and
  kept once.

Rows are read into typed :class:`~imperium_exec.events.Event` values here, once (a row that
does not fit the schema is counted, logged and skipped), and delivered in batches by
:attr:`TelemetryFeed.events_ready` at most every ``interval_ms`` (75 ms by default), so a burst
of thousands of rows a second costs a dozen repaints a second.
Everything runs on the GUI thread; no call here waits on anything but a bounded file read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance

from ..events import Event, SchemaError, read_event
from ..telemetry import FillQualityTracker, TelemetryTail

log = logging.getLogger(__name__)


class StackRows(Protocol):
    """What the feed and the dock need from an :class:`~imperium_exec.stack.ExecutionStack`
    (tests drive a small double)."""

    @property
    def telemetry_event(self) -> SignalInstance:
        """Every event, read from its row once, on the GUI thread."""
        ...

    @property
    def tracker(self) -> FillQualityTracker:
        """The stack's journal writer."""
        ...

    @property
    def mode(self) -> str: ...

    def now(self) -> float:
        """The engine's clock (virtual in tests and benchmarks)."""
        ...

    def pause(self, parent_id: str) -> None: ...

    def resume(self, parent_id: str) -> None: ...

    def cancel(self, parent_id: str) -> None: ...

    def cancel_all(self) -> None: ...


class TelemetryFeed(QObject):
    """Coalesced telemetry rows from a file tail and/or a stack."""

    # --- Signals
    # A list of events, oldest first. ``object``, not ``list``: PySide converts a ``list``
    # payload to a QVariant container and back, which costs ~35 us a row.
    events_ready = Signal(object)
    restarted = Signal()  # the file was truncated or replaced: drop what was shown, then rows
    backlog_progress = Signal(int, int)  # bytes read, bytes of backlog (while loading)
    backlog_loaded = Signal(int)  # rows in the backlog, once it is read
    read_failed = Signal(str)  # the file could not be read (the feed keeps trying)

    def __init__(self, path: str | os.PathLike[str] | None = None,
                 stack: StackRows | None = None, *,
                 interval_ms: int = 75, chunk_bytes: int = 256 << 10, budget_ms: float = 15.0,
                 clock: Callable[[], float] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path) if path is not None else None
        self.interval_ms = interval_ms
        self.budget_s = budget_ms / 1000.0
        #: A tick hands over at most this many rows at once (a bounded ingest between checks
        #: of the time budget); a live burst of a tick's worth usually fits in one batch.
        self.max_batch_rows = 600
        self._tail = TelemetryTail(self.path, max_bytes=chunk_bytes) \
            if self.path is not None else None
        self._chunk_bytes = chunk_bytes
        self._pending: list[Event] = []
        self._backlog_rows = 0
        #: Rows skipped because they do not fit the event schema (and the last reason).
        self.rows_rejected = 0
        self.last_rejection: str | None = None
        #: Parents the attached stack runs (seen in its signals): the ones a dock may control.
        self.stack_parents: set[str] = set()
        self.rows_delivered = 0
        self.batches_delivered = 0

        # Where the backlog ends: the file size now. For the stack's own journal, reading
        # stops there (later rows come as signals); otherwise it is only a progress mark.
        self._backlog_end = self._size()
        self._backlog_done = self._backlog_end == 0
        self._announce_backlog = False
        self._restarted_now = False  # set by _restart during a read of the current tick
        self._stop_at_backlog = False
        # Events written just before the feed attached whose signals came after: the file
        # backlog skips them (an event is its own identity).
        self._early: set[Event] = set()
        self._attach_ts = float("inf")
        self.stack = stack
        if stack is not None:
            stack.telemetry_event.connect(self._on_stack_event)
            if self.path is not None and _same_file(stack.tracker.path, self.path):
                self._stop_at_backlog = True
                self._attach_ts = (clock or stack.now)()

        self._timer = QTimer(self)
        self._timer.setInterval(0 if not self._backlog_done else interval_ms)
        self._timer.timeout.connect(self._tick)
        if self._tail is not None:
            self._timer.start()

    # ------------------------------------------------------------------ public
    @property
    def loading(self) -> bool:
        """True while a backlog is still being read."""
        return not self._backlog_done

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_end

    def poll_now(self) -> None:
        """Read and deliver whatever is available now (tests; the timer does this normally)."""
        self._tick()

    def stop(self) -> None:
        self._timer.stop()
        if self.stack is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # gone with the stack
                self.stack.telemetry_event.disconnect(self._on_stack_event)
            self.stack = None

    # ------------------------------------------------------------------ internals
    def _read(self, rows: list[dict[str, Any]]) -> list[Event]:
        events = []
        for row in rows:
            try:
                events.append(read_event(row))
            except SchemaError as exc:
                self.rows_rejected += 1
                if self.last_rejection is None:
                    log.warning("journal rows that do not fit the event schema are skipped: "
                                "%s", exc)
                self.last_rejection = str(exc)
        return events

    def _on_stack_event(self, event: Event) -> None:
        self.stack_parents.add(event.parent_id)
        if not self._backlog_done and self._stop_at_backlog and event.ts <= self._attach_ts:
            self._early.add(event)
        self._pending.append(event)
        if not self._timer.isActive():
            self._timer.setInterval(self.interval_ms)
            self._timer.start()

    def _tick(self) -> None:
        """Deliver what is there: file chunks within the time budget, then signal rows.

        Each chunk is delivered on its own (consumers ingest it synchronously), so the budget
        covers reading, parsing and ingesting; the view repaints once after the tick.
        """
        started = time.perf_counter()
        collected: list[Event] = []
        if self._tail is not None and not (self._backlog_done and self._stop_at_backlog):
            while True:
                self._restarted_now = False
                rows, more = self._read_chunk()
                if self._restarted_now:
                    # Rows gathered from the old file this tick would land after the reset
                    # the consumers just did: drop them (the new file's rows start over).
                    collected = []
                collected.extend(rows)
                if len(collected) >= self.max_batch_rows:
                    self._deliver(collected)
                    collected = []
                if not more or time.perf_counter() - started > self.budget_s:
                    break
        if self._pending:
            collected.extend(self._pending)
            self._pending = []
        if collected:
            self._deliver(collected)
        if self._announce_backlog:
            self._announce_backlog = False
            self.backlog_loaded.emit(self._backlog_rows)
        if self._tail is None or (self._backlog_done and self._stop_at_backlog):
            self._timer.stop()  # nothing to poll: the timer only flushes signal rows
        else:
            self._timer.setInterval(0 if not self._backlog_done else self.interval_ms)

    def _deliver(self, events: list[Event]) -> None:
        self.rows_delivered += len(events)
        self.batches_delivered += 1
        self.events_ready.emit(events)

    def _read_chunk(self) -> tuple[list[Event], bool]:
        """One bounded read of the file: (rows, whether more is waiting)."""
        tail = self._tail
        assert tail is not None
        if self._stop_at_backlog:
            tail.max_bytes = max(0, min(self._chunk_bytes, self._backlog_end - tail.offset))
            if tail.max_bytes == 0:
                self._finish_backlog()
                return [], False
        try:
            batch = tail.read()
        except OSError as exc:
            self.read_failed.emit(f"{self.path}: {exc.strerror or exc}")
            return [], False
        if batch.restarted:
            self._restart()
        rows = self._read(batch.rows)
        if self._early and rows:
            early = self._early
            rows = [e for e in rows if e not in early]
        if not self._backlog_done:
            self._backlog_rows += len(rows)
            self.backlog_progress.emit(min(tail.offset, self._backlog_end), self._backlog_end)
            if tail.offset >= self._backlog_end:
                self._finish_backlog()
                return rows, False
        return rows, tail.pending and not (self._backlog_done and self._stop_at_backlog)

    def _finish_backlog(self) -> None:
        """The backlog is read; announced at the end of the tick, after its last rows."""
        if not self._backlog_done:
            self._backlog_done = True
            self._early.clear()
            self._announce_backlog = True

    def _restart(self) -> None:
        """The file was truncated or replaced: consumers reset, reading starts at 0."""
        self._restarted_now = True
        self._early.clear()
        self.restarted.emit()
        if self._stop_at_backlog:
            # Our own journal was rotated under us: what the stack sends is all there is.
            self._backlog_end = 0
        else:
            self._backlog_end = self._size()
        self._backlog_done = self._backlog_end == 0
        self._backlog_rows = 0
        if self._backlog_done:
            self.backlog_loaded.emit(0)

    def _size(self) -> int:
        if self.path is None:
            return 0
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
