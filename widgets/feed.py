"""TelemetryFeed: telemetry rows for the dock, from a stack's signals and/or a file tail.

Two sources, one coalesced stream:

- **a file** (``execution_quality_{live,paper}.jsonl``, possibly written by another process),
  split at its last complete line when the feed attaches. Above it, the *live tail*: rows
  appended from now on, read forwards with :class:`~imperium_exec.telemetry.TelemetryTail`
  (never re-read; a torn last line waits for its newline; truncation or rotation emits
  :attr:`TelemetryFeed.restarted` and reading starts over). Below it, the *history*, read
  backwards with :class:`~imperium_exec.telemetry.JournalHistory`, newest chunk first, a few
  chunks per event-loop turn within a time budget and only after the live rows of that turn:
  whatever the journal's size, its newest rows and every new row show at once, and the past
  fills in behind.
- **a stack** (:class:`~imperium_exec.stack.ExecutionStack`): events arrive as
  ``telemetry_event`` signals (read from their rows once, by the stack). When the file is the
  stack's own journal, only its history is read from it; newer events come from the signals,
  so nothing is shown twice. An event written just before attaching whose queued signal
  arrives just after is recognised by its identity and kept once.

Rows are read into typed :class:`~imperium_exec.events.Event` values here, once (a row that
does not fit the schema is counted, logged and skipped), and delivered in batches by
:attr:`TelemetryFeed.events_ready` (live, newer than anything delivered) at most every
``interval_ms`` (75 ms by default), so a burst of thousands of rows a second costs a dozen
repaints a second, or :attr:`TelemetryFeed.history_ready` (older than anything delivered).
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

from ..events import Event
from ..events.quality import JournalQuality, row_problem
from ..telemetry import FillQualityTracker, JournalHistory, TelemetryTail, history_end

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

    @property
    def started_ts(self) -> float:
        """When the stack started, by its clock: rows of its journal from before are an
        earlier session's."""
        ...

    def now(self) -> float:
        """The engine's clock (virtual in tests and benchmarks)."""
        ...

    def pause(self, parent_id: str) -> None: ...

    def resume(self, parent_id: str) -> None: ...

    def cancel(self, parent_id: str) -> None: ...

    def cancel_all(self) -> None: ...

    def cancel_basket(self, basket_id: str) -> None: ...


class TelemetryFeed(QObject):
    """Coalesced telemetry rows from a file (live tail and history) and/or a stack."""

    # --- Signals
    # A list of events, oldest first, newer than everything delivered before. ``object``, not
    # ``list``: PySide converts a ``list`` payload to a QVariant container and back, which
    # costs ~35 us a row.
    events_ready = Signal(object)
    # One chunk of the journal's history: events in file order, all older than everything
    # delivered before (live or history). Consumers put it *before* what they hold.
    history_ready = Signal(object)
    restarted = Signal()  # the file was truncated or replaced: drop what was shown, then rows
    backlog_progress = Signal(int, int)  # bytes of history read, bytes of history (loading)
    backlog_loaded = Signal(int)  # rows in the history, once it is read
    read_failed = Signal(str)  # the file could not be read (the feed keeps trying)

    #: How many of the history's newest events are remembered, for stack signals still
    #: queued when the feed attached (the engine's queue at that moment: a few hundred rows).
    EARLY_ROWS = 5_000

    def __init__(self, path: str | os.PathLike[str] | None = None,
                 stack: StackRows | None = None, *,
                 interval_ms: int = 75, chunk_bytes: int = 32 << 10, budget_ms: float = 2.0,
                 clock: Callable[[], float] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path) if path is not None else None
        self.interval_ms = interval_ms
        self.budget_s = budget_ms / 1000.0
        #: A tick hands over at most this many live rows at once (a bounded ingest between
        #: checks of the time budget); a live burst of a tick's worth usually fits in one batch.
        self.max_batch_rows = 600
        self._chunk_bytes = chunk_bytes
        self._pending: list[Event] = []
        self._history_rows = 0
        #: Rows skipped because they do not fit the event schema (and the last reason).
        self.rows_rejected = 0
        self.last_rejection: str | None = None
        #: Those rows by reason, and their parents (:class:`JournalQuality`).
        self.quality = JournalQuality()
        #: Parents the attached stack runs (seen in its signals): the ones a dock may control.
        self.stack_parents: set[str] = set()
        self.rows_delivered = 0
        self.batches_delivered = 0
        self.stack = stack
        own_journal = (stack is not None and self.path is not None
                       and _same_file(stack.tracker.path, self.path))

        # The file splits at its last complete line: below it, the history (read backwards,
        # newest first, a few chunks per event-loop turn); above it, the live tail (read
        # forwards). The stack's own journal has no tail: its new events come as signals.
        self._history: JournalHistory | None = None
        self._tail: TelemetryTail | None = None
        self._history_end = 0
        self._announce_history = False
        if self.path is not None:
            end, inode = history_end(self.path)
            self._history_end = end
            if end > 0:
                self._history = JournalHistory(self.path, end, max_bytes=chunk_bytes)
            if not own_journal:
                self._tail = TelemetryTail(self.path, max_bytes=chunk_bytes, offset=end,
                                           inode=inode)
        # Events written just before the feed attached whose stack signals come after: the
        # history may hold them too. Each is kept once (an event is its own identity),
        # whichever of the two brings it first.
        self._attach_ts = float("-inf")
        self._session_start: float | None = None
        self._early_signals: set[Event] = set()
        self._recent_history: set[Event] = set()
        self._history_remembered = 0
        if stack is not None:
            stack.telemetry_event.connect(self._on_stack_event)
            if own_journal:
                self._attach_ts = (clock or stack.now)()
                self._session_start = stack.started_ts

        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.setInterval(0 if self.loading else interval_ms)
        if self._tail is not None or self._history is not None:
            self._timer.start()

    # ------------------------------------------------------------------ public
    @property
    def loading(self) -> bool:
        """True while the journal's history is still being read."""
        return self._history is not None

    @property
    def session_start(self) -> float | None:
        """When the stack whose own journal this is started (by its clock): parents of the
        journal not heard of since belong to a writer that is gone. None otherwise."""
        return self._session_start

    @property
    def backlog_bytes(self) -> int:
        """Bytes of history: the journal as it was when the feed attached."""
        return self._history_end

    def poll_now(self) -> None:
        """Read and deliver whatever is available now (tests; the timer does this normally)."""
        self._tick()

    def stop(self) -> None:
        self._timer.stop()
        if self._history is not None:
            self._history.close()
        if self.stack is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # gone with the stack
                self.stack.telemetry_event.disconnect(self._on_stack_event)
            self.stack = None

    # ------------------------------------------------------------------ internals
    def _read(self, rows: list[dict[str, Any]]) -> list[Event]:
        """The rows as typed events, through the check ``tca`` and ``calibrate`` apply
        (:func:`imperium_exec.events.quality.row_problem`); a row that does not fit is
        skipped and counted by reason in :attr:`quality`."""
        events = []
        for row in rows:
            event = row_problem(row)
            if isinstance(event, Event):
                events.append(event)
                continue
            self.rows_rejected += 1
            parent = row.get("parent_id")
            self.quality.add(event, str(self.path or "signals"), None,
                             parent if isinstance(parent, str) else None)
            if self.last_rejection is None:
                log.warning("journal rows that do not fit the event schema are skipped: "
                            "%s", event)
            self.last_rejection = event
        return events

    def _on_stack_event(self, event: Event) -> None:
        self.stack_parents.add(event.parent_id)
        if self._recent_history and event.ts > self._attach_ts:
            self._recent_history.clear()  # signals come in order: no early one is left
        if event.ts <= self._attach_ts and self._history_end > 0:
            if event in self._recent_history:
                self._recent_history.discard(event)
                return  # the history brought it already
            if self._history is not None:
                self._early_signals.add(event)
        self._pending.append(event)
        if not self._timer.isActive():
            self._timer.setInterval(self.interval_ms)
            self._timer.start()

    def _tick(self) -> None:
        """Deliver what is there: live rows first (tail and signals), then history chunks,
        newest first, within the time budget.

        Each delivery is ingested synchronously by the consumers, so the budget covers
        reading, parsing and ingesting; the view repaints once after the tick.
        """
        started = time.perf_counter()
        delivered = self.rows_delivered
        caught_up = self._read_live(started)
        history = self._history if caught_up else None  # live rows first, always
        # History in what is left of the budget (at least one chunk when no live row came).
        chunk_anyway = self.rows_delivered == delivered
        while history is not None and (chunk_anyway
                                       or time.perf_counter() - started < self.budget_s):
            chunk_anyway = False
            self._read_history_chunk(history)
            history = self._history
        if self._announce_history:
            self._announce_history = False
            self.backlog_loaded.emit(self._history_rows)
        if self._tail is None and self._history is None:
            self._timer.stop()  # nothing to poll: the timer only flushes signal rows
        else:
            # Back at the next event-loop turn while there is more to read: behind the
            # writer, or a history loading.
            self._timer.setInterval(0 if self.loading or not caught_up else self.interval_ms)

    def _read_live(self, started: float) -> bool:
        """Deliver the tail's new rows and the stack's, within the budget; returns True when
        nothing more is waiting in the file."""
        collected: list[Event] = []
        caught_up = True
        tail = self._tail
        while tail is not None:
            try:
                batch = tail.read()
            except OSError as exc:
                self.read_failed.emit(f"{self.path}: {exc.strerror or exc}")
                break
            if batch.restarted:
                # Rows gathered from the old file would land after the reset the consumers
                # are about to do: drop them (the new file's rows start over).
                collected = []
                self._restart()
            collected.extend(self._read(batch.rows))
            if len(collected) >= self.max_batch_rows:
                self._deliver(collected)
                collected = []
            if not tail.pending:
                break
            if time.perf_counter() - started > self.budget_s:
                caught_up = False
                break
        if self._pending:
            collected.extend(self._pending)
            self._pending = []
        if collected:
            self._deliver(collected)
        return caught_up

    def _read_history_chunk(self, history: JournalHistory) -> None:
        try:
            rows = history.read()
        except OSError as exc:
            self.read_failed.emit(f"{self.path}: {exc.strerror or exc}")
            history.close()
            rows = []
        events = self._read(rows)
        if self._attach_ts > float("-inf") and events:
            events = self._dedupe_early(events)
        self._history_rows += len(events)
        self.backlog_progress.emit(history.bytes_read, history.end)
        if events:
            self.rows_delivered += len(events)
            self.batches_delivered += 1
            self.history_ready.emit(events)
        if history.done:
            self._history = None
            self._early_signals.clear()
            self._announce_history = True

    def _dedupe_early(self, events: list[Event]) -> list[Event]:
        """History events, minus those the stack's signals brought already; the first
        :attr:`EARLY_ROWS` (the newest of the journal) are remembered for signals still to
        come. Bounded by count, not by time: on a virtual clock, queued rows can be minutes
        of clock time old."""
        early = self._early_signals
        recent = self._recent_history
        kept = []
        for e in events:
            if e in early:
                early.discard(e)
                continue
            if self._history_remembered < self.EARLY_ROWS:
                self._history_remembered += 1
                recent.add(e)
            kept.append(e)
        return kept

    def _deliver(self, events: list[Event]) -> None:
        self.rows_delivered += len(events)
        self.batches_delivered += 1
        self.events_ready.emit(events)

    def _restart(self) -> None:
        """The file was truncated or replaced: consumers reset; its new rows are all live
        (the old history is no longer the file's)."""
        loading = self._history is not None
        if self._history is not None:
            self._history.close()
            self._history = None
            self._announce_history = False
        self._early_signals.clear()
        self._recent_history.clear()
        self._history_end = 0
        self.restarted.emit()
        if loading:
            self.backlog_loaded.emit(self._history_rows)

def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def journal_path(source: FillQualityTracker | str | os.PathLike[str] | None,
                 stack: StackRows | None) -> Path:
    """The journal the dock shows: the tracker's, the path given, or the stack's."""
    if isinstance(source, FillQualityTracker):
        return source.path
    if source is not None:
        return Path(source)
    if stack is None:
        raise ValueError("tracker_or_path: give a FillQualityTracker, a journal path, "
                         "or a stack")
    return stack.tracker.path


def journal_mode(source: FillQualityTracker | str | os.PathLike[str] | None,
                 stack: StackRows | None, path: Path | None) -> str | None:
    """``live`` or ``paper`` as the stack, the tracker or the journal's name says; None."""
    modes = (stack.mode if stack is not None else None,
             source.mode if isinstance(source, FillQualityTracker) else None)
    for candidate in modes:
        if candidate in ("live", "paper"):
            return candidate
    if path is not None:
        for mode in ("live", "paper"):
            if path.name == f"execution_quality_{mode}.jsonl":
                return mode
    return None
