"""ParentBook: which parents are still working, and how far along, from events alone.

Every event of a parent carries its ``parent_quantity``, cumulative ``parent_filled_quantity``,
``children`` and (on parent events) the parent ``status``, so the book needs no access to the
engine: it works the same for this session's stack and for a journal another process writes.
Qt-free; the parents panel renders it.

Beside the progress, the book keeps the children waiting on the order book (a ``reconciling``
row not yet followed by that attempt's next row) in :attr:`ParentBook.reconciling`, so the
panel can say "checking the order book for tag …, 3 s" while the engine looks.

Parents a stack's restart check (or a new login) holds for the trader are neither working nor
interrupted here (:meth:`ParentBook.set_held`): the orphans panel lists them until their
finished row.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..baskets.legging import HELD_PREFIX, WAITS_FOR_HEDGE, WAITS_FOR_OPEN_SELLS
from ..events import HALTED_PREFIX, Event, EventKind, ParentStatus
from ..timeutil import ist_day_start

#: Parent events whose status is the parent's current state.
_PARENT_STATUS_EVENTS = frozenset({EventKind.ACCEPTED, EventKind.PAUSED, EventKind.RESUMED})
#: The rows that end a child's wait on the order book, under the waiting attempt's tag (they
#: say ``ambiguous``): found (reconciled), not found (retry), or given up (error).
_WAIT_ENDS = frozenset({EventKind.RECONCILED, EventKind.RETRY, EventKind.ERROR})
_BASKET_EVENTS = frozenset({EventKind.BASKET_ACCEPTED, EventKind.BASKET_FINISHED})
#: The lot size in an accepted row's request (JSON): read without parsing the whole request.
_LOT_SIZE = re.compile(r'"lot_size"\s*:\s*(\d+)')


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
    basket_id: str | None = None  # a basket's leg: its basket, and its role in it
    leg_role: str | None = None
    #: A basket leg's last "held: ..." warning (a child waiting for its turn), and when; a
    #: placement after it means the child went out.
    held: str | None = None
    held_ts: float = -1.0
    placed_ts: float = -1.0
    #: Units per lot, from the accepted row's request (None: a row without one).
    lot_size: int | None = None

    @property
    def waiting(self) -> str | None:
        """What a basket leg's child waits for now, in a few words (None: not held)."""
        if self.held is None or self.held_ts <= self.placed_ts \
                or self.status not in (ParentStatus.WORKING, ParentStatus.PAUSED):
            return None
        if WAITS_FOR_HEDGE in self.held:
            return "its hedge to fill"
        if WAITS_FOR_OPEN_SELLS in self.held:
            return "open sells to end"
        return "the other legs to catch up"

    @property
    def net_filled(self) -> int:
        """Units filled, negative for a sell (a basket leg's position)."""
        return -self.filled if self.side == "SELL" else self.filled

    @property
    def fraction(self) -> float:
        return min(1.0, self.filled / self.quantity) if self.quantity > 0 else 0.0

    @property
    def paused(self) -> bool:
        return self.status == ParentStatus.PAUSED

    @property
    def halted(self) -> bool:
        """Paused by a lost session, not by the trader: no Resume (a new login, then cancel
        or adopt)."""
        return self.paused and (self.message or "").startswith(HALTED_PREFIX)

    def describe(self) -> str:
        return f"{self.side} {self.quantity:,} {self.tradingsymbol} {self.execution_algo}"


@dataclass
class BasketProgress:
    """A basket: its legs (the very progress objects of the book, in the order first seen),
    and once it ended its status and report (the ``basket_finished`` row)."""

    basket_id: str
    legs: dict[str, ParentProgress]
    status: str = ParentStatus.WORKING
    quantity: int = 0  # units in all (the basket rows'), 0 until one arrives
    final_filled: int | None = None
    message: str | None = None  # accepted: the order the legs go in; finished: the report

    @property
    def filled(self) -> int:
        legs = sum(p.filled for p in self.legs.values())
        return max(legs, self.final_filled or 0)

    @property
    def total(self) -> int:
        return max(self.quantity, sum(p.quantity for p in self.legs.values()))

    @property
    def stopped(self) -> bool:
        """Ended short with fills (``partial``): it may be completed or unwound."""
        return self.status == ParentStatus.PARTIAL

    def describe(self) -> str:
        n = len(self.legs)
        return (f"Basket {self.basket_id}: {n} leg{'s' if n != 1 else ''}, "
                f"filled {self.filled:,} of {self.total:,}")


@dataclass(frozen=True, slots=True)
class PanelView:
    """What the working-parents panel shows: a bounded list and the counts behind it."""

    shown: list[ParentProgress]  # oldest first, at most the panel's limit
    working: int  # working and paused parents in all
    paused: int
    interrupted: int
    interrupted_sample: list[str]  # ids of the newest interrupted parents (up to 10)
    #: basket id -> the basket of shown legs (legs of one basket show under one line)
    baskets: dict[str, BasketProgress] = field(default_factory=dict)
    #: baskets that stopped short (partial), newest last: their report, Complete / Unwind
    stopped: list[BasketProgress] = field(default_factory=list)
    #: A restart check read the broker's order book for this journal's parents of the day:
    #: those still interrupted are of an earlier day (the check holds the day's).
    checked: bool = False


_Key = tuple[float, str]  # (started_ts, parent_id): the panel's order


class _SortedKeys:
    """Parent keys kept in order as they come and go (bisect over a list: a few thousand
    entries move in microseconds)."""

    def __init__(self) -> None:
        self.keys: list[_Key] = []

    def add(self, key: _Key) -> None:
        bisect.insort(self.keys, key)

    def remove(self, key: _Key) -> None:
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]

    def __len__(self) -> int:
        return len(self.keys)


class ParentBook:
    """Active parents (working or paused) and a short history of finished ones.

    Events may arrive out of order (a journal's history is read newest first while the
    stack's signals bring newer ones), so the book never goes backwards: fills only grow, a
    parent's status follows its latest status event by time, and events of a finished parent
    are ignored.

    Active parents are kept in two ordered sets, updated only for the parents a batch touches:
    *working* (the last event is of the journal's newest trading day, and not from before the
    session start when one is set) and *interrupted* (the rest: their writer stopped before
    it could finish them). A refresh of the panel costs what it shows, not the book's size.
    """

    def __init__(self, keep_finished: int = 50) -> None:
        self._keep_finished = keep_finished
        self.reset()

    def reset(self) -> None:
        self._active: dict[str, ParentProgress] = {}
        # Every finished parent of the journal: a dict of strings, not a set, so the garbage
        # collector's passes skip it (containers of atomic values only are not tracked).
        self._finished_ids: dict[str, None] = {}
        self._status_ts: dict[str, float] = {}
        self.finished: deque[ParentProgress] = deque(maxlen=self._keep_finished)
        self.finished_by_status: Counter[str] = Counter()
        self.newest_ts = 0.0  # the newest event seen: the journal's "today"
        self.version = 0
        self._session_start = float("-inf")
        self._since = float("-inf")  # working: last event at or after this
        # parent_id -> (its key, whether it is counted as working)
        self._placed_in: dict[str, tuple[_Key, bool]] = {}
        self._working = _SortedKeys()
        self._interrupted = _SortedKeys()
        self._paused = 0
        self._paused_of: dict[str, bool] = {}
        #: Parents a restart check or a new login holds for the trader (see :meth:`set_held`).
        self._held: frozenset[str] = frozenset()
        self.checked = False
        #: parent id -> tag -> its child waiting on the order book (see :meth:`_reconcile`).
        self.reconciling: dict[str, dict[str, ReconcileWait]] = {}
        #: parent id -> tags whose wait ended before its reconciling row arrived (a backlog
        #: read while the stack's signals bring newer rows): that row then starts nothing.
        self._ended_early: dict[str, set[str]] = {}
        #: Baskets with a leg still active, and the last few that stopped short (partial).
        self.baskets: dict[str, BasketProgress] = {}
        self.stopped_baskets: deque[BasketProgress] = deque(maxlen=5)
        self._finished_baskets: dict[str, None] = {}

    def set_session_start(self, ts: float) -> None:
        """Parents of this journal not heard of since ``ts`` (when this process's stack
        attached to its own journal) belong to a writer that is gone: interrupted, even on
        the same day."""
        self._session_start = ts
        self._rebucket()

    def set_held(self, parent_ids: Iterable[str], *, checked: bool = True) -> None:
        """The parents a stack holds for the trader (a restart's orphans, or parents halted by
        a lost session and reported after the new login): the orphans panel lists them, so
        they count neither as working nor as interrupted until their finished row. Replaces
        the set held before (each report lists every parent still held). ``checked``: the
        report read the broker's order book (see :attr:`PanelView.checked`)."""
        self._held = frozenset(parent_ids)
        self.checked = checked
        self._rebucket()

    def is_finished(self, parent_id: str) -> bool:
        """True once the parent's finished row was read."""
        return parent_id in self._finished_ids

    def add(self, events: Iterable[Event]) -> bool:
        """Apply events; returns True when an active parent changed."""
        changed = False
        active, finished_ids, status_ts = self._active, self._finished_ids, self._status_ts
        touched: set[str] = set()
        newest_ts = self.newest_ts
        for e in events:
            if e.ts > newest_ts:
                newest_ts = e.ts  # any row: the journal's "today" is its newest event's day
            parent_id = e.parent_id
            kind = e.event
            if kind in _BASKET_EVENTS:
                changed = self._basket_row(e) or changed
                continue
            if not parent_id or parent_id in finished_ids or kind is EventKind.MARKOUT:
                continue  # a markout is about a fill already counted, often after the end
            if kind is EventKind.FINISHED:
                self._finish(e)
                touched.discard(parent_id)
                changed = True
                continue
            progress = active.get(parent_id)
            if progress is None:
                progress = active[parent_id] = ParentProgress(
                    parent_id=parent_id, tradingsymbol=e.tradingsymbol, side=e.side or "",
                    execution_algo=e.execution_algo or "", mode=e.mode,
                    quantity=e.parent_quantity or 0, started_ts=e.ts)
            if e.basket_id and progress.basket_id is None:
                progress.basket_id, progress.leg_role = e.basket_id, e.leg_role
                self._basket_leg(progress)
            touched.add(parent_id)
            if e.parent_filled_quantity is not None \
                    and e.parent_filled_quantity > progress.filled:
                progress.filled = e.parent_filled_quantity
            if e.children is not None and e.children > progress.children:
                progress.children = e.children
            if e.ts > progress.last_ts:
                progress.last_ts = e.ts
            if e.ts < progress.started_ts:
                progress.started_ts = e.ts
            if kind in _PARENT_STATUS_EVENTS:
                if kind is EventKind.ACCEPTED and e.request is not None:
                    lot = _LOT_SIZE.search(e.request)
                    if lot is not None:
                        progress.lot_size = int(lot.group(1))
                if e.ts >= status_ts.get(parent_id, -1.0):
                    status_ts[parent_id] = e.ts
                    progress.status = e.status or progress.status
                    if kind is EventKind.PAUSED and e.message:
                        progress.message = e.message
            elif e.counts_as_placement:
                progress.placed += 1
                progress.placed_ts = max(progress.placed_ts, e.ts)
            elif kind is EventKind.WARNING:
                progress.message = e.message
                if e.message and e.message.startswith(HELD_PREFIX) \
                        and e.ts >= progress.held_ts:
                    progress.held, progress.held_ts = e.message, e.ts
            if kind is EventKind.RECONCILING or e.ambiguous or parent_id in self.reconciling:
                self._reconcile(e)
            changed = True
        if newest_ts > self.newest_ts:
            self.newest_ts = newest_ts
            changed = changed or self._working_since() != self._since
        if changed:
            self.version += 1
            if self._working_since() != self._since:
                self._rebucket()  # a new trading day: yesterday's open parents are interrupted
            else:
                for parent_id in touched:
                    self._place(active[parent_id])
        return changed

    def _basket_leg(self, p: ParentProgress) -> None:
        basket_id = p.basket_id
        if basket_id is None or basket_id in self._finished_baskets:
            return
        basket = self.baskets.get(basket_id)
        if basket is None:
            basket = self.baskets[basket_id] = BasketProgress(basket_id, {})
        basket.legs[p.parent_id] = p

    def _basket_row(self, e: Event) -> bool:
        basket_id = e.basket_id
        if not basket_id or basket_id in self._finished_baskets:
            return False
        basket = self.baskets.get(basket_id)
        if e.event is EventKind.BASKET_FINISHED:
            self._finished_baskets[basket_id] = None
            self.baskets.pop(basket_id, None)
            if basket is None:  # a journal's basket whose legs were not read: no line
                return False
            basket.status = e.status or ParentStatus.PARTIAL
            basket.final_filled = e.parent_filled_quantity
            basket.message = e.message
            if basket.stopped:
                self.stopped_baskets.append(basket)
            self.version += 1
            return True
        if basket is None:
            basket = self.baskets[basket_id] = BasketProgress(basket_id, {})
        basket.quantity = e.parent_quantity or basket.quantity
        basket.message = e.message
        return True

    def dismiss_basket(self, basket_id: str) -> None:
        """Drop a stopped basket's line (it was completed or unwound)."""
        kept = [b for b in self.stopped_baskets if b.basket_id != basket_id]
        if len(kept) != len(self.stopped_baskets):
            self.stopped_baskets = deque(kept, maxlen=self.stopped_baskets.maxlen)
            self.version += 1

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
        self._finished_ids[e.parent_id] = None
        self._status_ts.pop(e.parent_id, None)
        self.reconciling.pop(e.parent_id, None)
        self._ended_early.pop(e.parent_id, None)
        status = e.status or ""
        self.finished_by_status[status] += 1
        done = self._active.pop(e.parent_id, None)
        if done is not None:
            self._unplace(done.parent_id)
            done.status = status
            done.filled = max(done.filled, e.parent_filled_quantity or 0)
            done.message = e.message
            self.finished.append(done)

    # ---- the two ordered sets
    def _place(self, p: ParentProgress) -> None:
        if p.parent_id in self._held:  # listed by the orphans panel
            self._unplace(p.parent_id)
            return
        key = (p.started_ts, p.parent_id)
        working = p.last_ts >= self._since
        placed = self._placed_in.get(p.parent_id)
        if placed is not None:
            old_key, was_working = placed
            if old_key == key and was_working == working:
                self._count_paused(placed, p)
                return
            self._unplace(p.parent_id)
        (self._working if working else self._interrupted).add(key)
        self._placed_in[p.parent_id] = (key, working)
        self._paused_of[p.parent_id] = working and p.paused
        self._paused += working and p.paused

    def _count_paused(self, placed: tuple[_Key, bool], p: ParentProgress) -> None:
        now = placed[1] and p.paused
        if self._paused_of.get(p.parent_id, False) != now:
            self._paused += 1 if now else -1
            self._paused_of[p.parent_id] = now

    def _unplace(self, parent_id: str) -> None:
        placed = self._placed_in.pop(parent_id, None)
        if placed is None:
            return
        key, working = placed
        (self._working if working else self._interrupted).remove(key)
        self._paused -= self._paused_of.pop(parent_id, False)

    def _working_since(self) -> float:
        return max(ist_day_start(self.newest_ts), self._session_start)

    def _rebucket(self) -> None:
        self._since = self._working_since()
        self._placed_in.clear()
        self._paused_of = {}
        self._working = _SortedKeys()
        self._interrupted = _SortedKeys()
        self._paused = 0
        for p in self._active.values():
            self._place(p)
        self.version += 1

    # ---- reading
    def panel_view(self, limit: int, controllable: Callable[[str], bool] | None = None
                   ) -> PanelView:
        """Up to ``limit`` working parents for the panel, oldest first: every parent that
        ``controllable`` accepts (this session's: they can be paused and cancelled; the
        working set is scanned for them, so pass it only when a stack is attached), then the
        newest of the others."""
        keys = self._working.keys
        active = self._active
        mine: list[_Key] = []
        if controllable is not None:
            mine = [k for k in keys if controllable(k[1])]
        room = max(0, limit - len(mine))
        if len(keys) <= limit:
            chosen = keys
        else:
            chosen_mine = set(mine)
            others: list[_Key] = []
            for k in reversed(keys):
                if len(others) >= room:
                    break
                if k not in chosen_mine:
                    others.append(k)
            chosen = sorted(mine + others)
        newest_interrupted = self._interrupted.keys[-10:]
        shown = [active[k[1]] for k in chosen]
        baskets = {p.basket_id: self.baskets[p.basket_id] for p in shown
                   if p.basket_id is not None and p.basket_id in self.baskets}
        return PanelView(shown=shown, working=len(keys),
                         paused=self._paused, interrupted=len(self._interrupted),
                         interrupted_sample=[k[1] for k in newest_interrupted],
                         baskets=baskets, stopped=list(self.stopped_baskets),
                         checked=self.checked)

    def split(self) -> tuple[list[ParentProgress], list[ParentProgress]]:
        """(working, interrupted), each oldest first (every one: see :meth:`panel_view` for
        the bounded read). Working: parents without a final row whose last event is of the
        journal's newest trading day (paused included). Interrupted: the rest, whose last
        event is of an earlier day: their orders were DAY orders, so they cannot still be
        working; the writer stopped (a crash, a kill) before it could finish them."""
        return ([self._active[k[1]] for k in self._working.keys],
                [self._active[k[1]] for k in self._interrupted.keys])

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
