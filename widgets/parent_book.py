"""ParentBook: which parents are still working, and how far along, from events alone.

Every event of a parent carries its ``parent_quantity``, cumulative ``parent_filled_quantity``,
``children`` and (on parent events) the parent ``status``, so the book needs no access to the
engine: it works the same for this session's stack and for a journal another process writes.
Qt-free; the parents panel renders it.

Beside the progress, the book keeps the children waiting on the order book (a ``reconciling``
row not yet followed by that attempt's next row) in :attr:`ParentBook.reconciling`, so the
panel can say "checking the order book for tag …, 3 s" while the engine looks.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..events import Event, EventKind, ParentStatus
from ..timeutil import IST

#: Parent events whose status is the parent's current state.
_PARENT_STATUS_EVENTS = frozenset({EventKind.ACCEPTED, EventKind.PAUSED, EventKind.RESUMED})
#: The rows that end a child's wait on the order book, under the waiting attempt's tag (they
#: say ``ambiguous``): found (reconciled), not found (retry), or given up (error).
_WAIT_ENDS = frozenset({EventKind.RECONCILED, EventKind.RETRY, EventKind.ERROR})


@dataclass(frozen=True, slots=True)
class ReconcileWait:
    """A child whose ambiguous attempt the engine is looking up in the order book by its tag."""

    child_id: str
    tag: str
    since_ts: float  # when the wait started (the reconciling row's ts)

    def describe(self, now: float) -> str:
        """What the panel says, ``now`` by the clock of the rows (the stack's, or the newest
        row's when there is no stack)."""
        return (f"checking the order book for tag {self.tag}, "
                f"{max(0.0, now - self.since_ts):.0f} s")


@dataclass
class ParentProgress:
    parent_id: str
    tradingsymbol: str
    side: str
    execution_algo: str
    mode: str
    quantity: int
    filled: int = 0
    children: int = 0  # planned so far
    placed: int = 0  # children placed
    status: str = ParentStatus.WORKING
    started_ts: float = 0.0
    last_ts: float = 0.0
    message: str | None = None  # the last warning or finish message

    @property
    def fraction(self) -> float:
        return min(1.0, self.filled / self.quantity) if self.quantity > 0 else 0.0

    @property
    def paused(self) -> bool:
        return self.status == ParentStatus.PAUSED

    def describe(self) -> str:
        return f"{self.side} {self.quantity:,} {self.tradingsymbol} {self.execution_algo}"


class ParentBook:
    """Active parents (working or paused) and a short history of finished ones.

    Events may arrive out of order (a journal backlog read while the stack's signals already
    bring newer ones), so the book never goes backwards: fills only grow, a parent's status
    follows its latest status event by time, and events of a finished parent are ignored.
    """

    def __init__(self, keep_finished: int = 50) -> None:
        self._keep_finished = keep_finished
        self.reset()

    def reset(self) -> None:
        self._active: dict[str, ParentProgress] = {}
        self._finished_ids: set[str] = set()
        self._status_ts: dict[str, float] = {}
        self.finished: deque[ParentProgress] = deque(maxlen=self._keep_finished)
        self.finished_by_status: Counter[str] = Counter()
        self.newest_ts = 0.0  # the newest event seen: the journal's "today"
        self.version = 0
        #: parent id -> tag -> its child waiting on the order book (see :meth:`_reconcile`).
        self.reconciling: dict[str, dict[str, ReconcileWait]] = {}
        #: parent id -> tags whose wait ended before its reconciling row arrived (a backlog
        #: read while the stack's signals bring newer rows): that row then starts nothing.
        self._ended_early: dict[str, set[str]] = {}

    def add(self, events: Iterable[Event]) -> bool:
        """Apply events; returns True when an active parent changed."""
        changed = False
        active, finished_ids, status_ts = self._active, self._finished_ids, self._status_ts
        for e in events:
            parent_id = e.parent_id
            if not parent_id or parent_id in finished_ids:
                continue
            kind = e.event
            if kind is EventKind.FINISHED:
                self._finish(e)
                changed = True
                continue
            progress = active.get(parent_id)
            if progress is None:
                progress = active[parent_id] = ParentProgress(
                    parent_id=parent_id, tradingsymbol=e.tradingsymbol, side=e.side or "",
                    execution_algo=e.execution_algo or "", mode=e.mode,
                    quantity=e.parent_quantity or 0, started_ts=e.ts)
            if e.parent_filled_quantity is not None \
                    and e.parent_filled_quantity > progress.filled:
                progress.filled = e.parent_filled_quantity
            if e.children is not None and e.children > progress.children:
                progress.children = e.children
            if e.ts > progress.last_ts:
                progress.last_ts = e.ts
            if e.ts > self.newest_ts:
                self.newest_ts = e.ts
            if kind in _PARENT_STATUS_EVENTS:
                if e.ts >= status_ts.get(parent_id, -1.0):
                    status_ts[parent_id] = e.ts
                    progress.status = e.status or progress.status
                if kind is EventKind.ACCEPTED and e.ts < progress.started_ts:
                    progress.started_ts = e.ts
            elif e.counts_as_placement:
                progress.placed += 1
            elif kind is EventKind.WARNING:
                progress.message = e.message
            if kind is EventKind.RECONCILING or e.ambiguous or parent_id in self.reconciling:
                self._reconcile(e)
            changed = True
        if changed:
            self.version += 1
        return changed

    def _reconcile(self, e: Event) -> None:
        """Start or end a child's wait on the order book. A wait is keyed by its attempt's tag
        (unique per attempt), and every other row under that tag comes after the reconciling
        row, so any of them ends it; if one arrives first, the reconciling row starts nothing."""
        parent_id, tag = e.parent_id, e.tag
        if tag is None or e.child_id is None:
            return
        if e.event is EventKind.RECONCILING:
            early = self._ended_early.get(parent_id)
            if early is not None and tag in early:
                early.discard(tag)
                if not early:
                    del self._ended_early[parent_id]
                return
            self.reconciling.setdefault(parent_id, {})[tag] = ReconcileWait(e.child_id, tag, e.ts)
            return
        waits = self.reconciling.get(parent_id)
        if waits is not None and waits.pop(tag, None) is not None:
            if not waits:
                del self.reconciling[parent_id]
        elif e.ambiguous and e.event in _WAIT_ENDS:
            self._ended_early.setdefault(parent_id, set()).add(tag)

    def reconcile_waits(self) -> dict[str, ReconcileWait]:
        """Each parent with a child waiting on the order book: its longest-waiting child."""
        return {parent_id: min(waits.values(), key=operator.attrgetter("since_ts"))
                for parent_id, waits in self.reconciling.items()}

    def _finish(self, e: Event) -> None:
        self._finished_ids.add(e.parent_id)
        self._status_ts.pop(e.parent_id, None)
        self.reconciling.pop(e.parent_id, None)
        self._ended_early.pop(e.parent_id, None)
        status = e.status or ""
        self.finished_by_status[status] += 1
        done = self._active.pop(e.parent_id, None)
        if done is not None:
            done.status = status
            done.filled = max(done.filled, e.parent_filled_quantity or 0)
            done.message = e.message
            self.finished.append(done)

    def split(self) -> tuple[list[ParentProgress], list[ParentProgress]]:
        """(working, interrupted), each oldest first, in one pass. Working: parents without a
        final row whose last event is of the journal's newest trading day (paused included).
        Interrupted: the rest, whose last event is of an earlier day: their orders were DAY
        orders, so they cannot still be working; the writer stopped (a crash, a kill) before
        it could finish them."""
        today = _ist_date_start(self.newest_ts)
        working: list[ParentProgress] = []
        interrupted: list[ParentProgress] = []
        for p in self._active.values():
            (working if p.last_ts >= today else interrupted).append(p)
        order = operator.attrgetter("started_ts", "parent_id")
        return sorted(working, key=order), sorted(interrupted, key=order)

    def active(self) -> list[ParentProgress]:
        """Working and paused parents, oldest first (see :meth:`split`)."""
        return self.split()[0]

    def interrupted(self) -> list[ParentProgress]:
        """Parents left open on an earlier day, oldest first (see :meth:`split`)."""
        return self.split()[1]

    def get(self, parent_id: str) -> ParentProgress | None:
        return self._active.get(parent_id)

    def __len__(self) -> int:
        return len(self._active)


def _ist_date_start(ts: float) -> float:
    """Epoch seconds of 00:00 IST on the day of ``ts``."""
    day = dt.datetime.fromtimestamp(ts, IST).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()
