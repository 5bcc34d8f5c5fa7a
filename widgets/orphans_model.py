"""OrphanBook: the parents a restart check (or a new login) holds for the trader, and what the
trader chose for each. Qt-free; the orphans panel (:mod:`.orphans_view`) renders it.

A stack's :class:`~imperium_exec.recovery.report.RecoveryReport` lists the parents an earlier
session left working (or a lost session halted), each held by the engine: nothing is sent for
them until the trader chooses. The book keeps one line per held parent until its finished row
arrives, with what is in progress for it ("cancelling…", "adopting as …") and what failed; the
trader's choices go to the stack through :class:`RecoveryControl`, whose futures the book
:meth:`~OrphanBook.poll`\\ s (the panel's timer calls it: nothing here waits). Open orders with
the desk's tag that no held parent owns (an unknown parent's, or a finished one's) are listed
apart: *Cancel all* cancels them with the held parents.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from ..events import Event, EventKind
from ..recovery.report import Orphan, OrphanOrder, RecoveryReport

if TYPE_CHECKING:
    from ..engine.state import ExecutionResult

#: Where an adopted parent's rest goes when what is left of its window is shorter (the
#: engine's ``MIN_ADOPT_WINDOW_S``; said in the Adopt button's tooltip).
MIN_ADOPT_WINDOW_TEXT = "at least 60 s"
#: Keys of a focused orphan row (said in the tooltips).
ADOPT_KEY = "Enter"
CANCEL_KEY = "Delete"
#: How many outcomes ("adopted as …", "cancelled", errors) the panel keeps showing.
OUTCOMES_KEPT = 4


class AdoptionHandle(Protocol):
    """The new parent an adoption sends (``ExecutionStack.adopt``'s handle)."""

    parent_id: str

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> ExecutionResult: ...


class RecoveryControl(Protocol):
    """What the orphans panel asks of an :class:`~imperium_exec.stack.ExecutionStack`: none
    of it waits on the broker."""

    def cancel_orphans(self) -> concurrent.futures.Future[list[ExecutionResult]]: ...

    def cancel(self, parent_id: str) -> None: ...

    def adopt(self, parent_id: str, *, window_s: float | None = None) -> AdoptionHandle: ...


@dataclass
class HeldParent:
    """One held parent as the panel shows it."""

    orphan: Orphan
    filled: int  # units filled, the report's and any fill row since
    #: What is under way for it ("cancelling…", "adopting as X…"), or None.
    action: str | None = None
    error: str | None = None  # the last choice that failed, and why
    adopted_as: str | None = None  # the new parent's id, once Adopt was pressed

    @property
    def parent_id(self) -> str:
        return self.orphan.parent_id

    @property
    def remaining(self) -> int:
        return max(0, self.orphan.quantity - self.filled)

    @property
    def busy(self) -> bool:
        return self.action is not None

    @property
    def can_adopt(self) -> bool:
        return not self.busy and self.orphan.not_adoptable is None and self.remaining > 0

    @property
    def can_cancel(self) -> bool:
        """Not while a choice is under way (an adoption cancels its orders itself)."""
        return not self.busy


@dataclass(frozen=True, slots=True)
class OrphanLine:
    """What one row of the panel says (the view only lays it out)."""

    parent_id: str
    title: str  # "BUY 4 lots (260) NIFTY… · TWAP"
    detail: str  # "<id> · filled 65 of 260 · 65 while the desk was down"
    orders: str  # "open at the broker: <order id> (65 pending)", or "nothing open …"
    orders_tip: str  # every open order: id, tag, status, pending units
    state: str | None  # "cancelling…", "not adoptable: …", an error
    state_is_error: bool
    can_adopt: bool
    adopt_tip: str
    can_cancel: bool
    cancel_tip: str


@dataclass
class _Pending:
    """A stack future the book waits on (polled, never waited for)."""

    kind: str  # "adopt" or "cancel_all"
    parent_id: str | None
    handle: AdoptionHandle | None = None
    future: concurrent.futures.Future[list[ExecutionResult]] | None = None

    def done(self) -> bool:
        if self.handle is not None:
            return self.handle.done()
        return self.future is not None and self.future.done()


class OrphanBook:
    """The held parents of the newest report, and the trader's choices on them."""

    def __init__(self) -> None:
        self.report: RecoveryReport | None = None
        self.held: dict[str, HeldParent] = {}
        #: Open desk-tagged orders no held parent owns (cancelled with Cancel all).
        self.loose: tuple[OrphanOrder, ...] = ()
        self.loose_action: str | None = None
        self.outcomes: deque[str] = deque(maxlen=OUTCOMES_KEPT)
        self.dismissed = False
        self.version = 0
        self._pending: list[_Pending] = []
        self._cancel_all_running = False

    # ------------------------------------------------------------------ reports and rows
    def show_report(self, report: RecoveryReport,
                    finished: Callable[[str], bool] = lambda _: False) -> bool:
        """Take a new report (it lists every parent still held). ``finished``: whether a
        parent's finished row was read already (it may come before the report). What is under
        way for a parent still held carries over. Returns whether the panel should show."""
        if report is self.report:
            return self.visible
        kept = self.held
        self.report = report
        self.held = {}
        for orphan in report.orphans:
            if finished(orphan.parent_id):
                continue
            before = kept.get(orphan.parent_id)
            line = HeldParent(orphan, max(orphan.filled, before.filled if before else 0))
            if before is not None:
                line.action, line.error, line.adopted_as = (before.action, before.error,
                                                            before.adopted_as)
            self.held[orphan.parent_id] = line
        self.loose = report.unknown_orders + report.stray_orders
        self.loose_action = None
        self.dismissed = False
        self.version += 1
        return self.visible

    def add(self, events: Iterable[Event]) -> bool:
        """Follow the held parents' rows: fills, and the finished row that ends a line."""
        if not self.held:
            return False
        changed = False
        for e in events:
            line = self.held.get(e.parent_id)
            if line is None:
                continue
            if e.event is EventKind.FINISHED:
                del self.held[e.parent_id]
                self._say(_finished_outcome(line, e))
                changed = True
            elif e.parent_filled_quantity is not None and e.parent_filled_quantity > line.filled:
                line.filled = e.parent_filled_quantity
                changed = True
        if changed:
            self.version += 1
        return changed

    def dismiss(self) -> None:
        """Hide the panel until the next report (offered once nothing is held)."""
        self.dismissed = True
        self.version += 1

    @property
    def visible(self) -> bool:
        """A report came with something left working (or could not be read), and the trader
        has not dismissed what is left of it."""
        report = self.report
        if report is None or self.dismissed:
            return False
        return bool(self.held or self.loose or self.outcomes or report.error is not None
                    or self._cancel_all_running)

    @property
    def resolved(self) -> bool:
        """Nothing is held, open or being cancelled any more (the panel offers Dismiss). An
        adopted parent's new parent may still work: it is the parents panel's now."""
        return not self.held and not self.loose and not self._cancel_all_running

    @property
    def header(self) -> str:
        return self.report.summary() if self.report is not None else ""

    def status(self) -> str:
        """The line under the header: how many are still held, or that all are resolved."""
        if self.report is None:
            return ""
        n = len(self.held)
        if n:
            busy = sum(1 for line in self.held.values() if line.busy)
            return (f"{n} held parent{'s' if n != 1 else ''} waiting for your choice"
                    + (f" ({busy} under way)" if busy else "")
                    + f": Adopt ({ADOPT_KEY}) sends the rest, Cancel ({CANCEL_KEY}) ends it")
        if self.loose:
            return "No parent is held; open orders with the desk's tag remain: Cancel all"
        if self._cancel_all_running:
            return "Waiting for the stack…"
        if self.report.error is not None:
            return "Check the broker's order book by hand: the desk could not."
        return "Every parent the check held is resolved."

    def lines(self, lot_size: Callable[[str], int | None] = lambda _: None
              ) -> list[OrphanLine]:
        """One line per held parent, in the report's order. ``lot_size``: units per lot of a
        parent when known (the journal's accepted row), for "4 lots (260)"."""
        return [_line(held, lot_size(held.parent_id)) for held in self.held.values()]

    def loose_text(self) -> tuple[str, str]:
        """The line for open orders no held parent owns, and its tooltip ("" when none)."""
        if not self.loose:
            return "", ""
        n = len(self.loose)
        pending = sum(o.pending_quantity for o in self.loose)
        text = (f"{n} open order{'s' if n != 1 else ''} with the desk's tag and no held "
                f"parent ({pending:,} units pending): Cancel all cancels "
                f"{'them' if n != 1 else 'it'}")
        if self.loose_action:
            text += f" · {self.loose_action}"
        return text, "\n".join(_order_text(o) for o in self.loose)

    # ------------------------------------------------------------------ the trader's choices
    def adopt_question(self, parent_id: str) -> str:
        """What the confirmation asks before Adopt sends anything."""
        held = self.held[parent_id]
        o = held.orphan
        orders = len(o.open_orders)
        first = (f"cancel its {orders} open order{'s' if orders != 1 else ''}, then "
                 if orders else "")
        return (f"Adopt {o.parent_id}: {first}send the remaining {held.remaining:,} units of "
                f"{o.side} {o.tradingsymbol} as a new {o.execution_algo or ''} parent over what "
                f"is left of its window ({MIN_ADOPT_WINDOW_TEXT})?").replace("  ", " ")

    def can_adopt(self, parent_id: str) -> bool:
        held = self.held.get(parent_id)
        return held is not None and held.can_adopt

    def can_cancel(self, parent_id: str) -> bool:
        held = self.held.get(parent_id)
        return held is not None and held.can_cancel

    def adopt(self, parent_id: str, control: RecoveryControl) -> str | None:
        """Adopt a held parent (the stack cancels its open orders and sends the rest as a
        new parent): the new parent's id, or None when refused (the line says why)."""
        held = self.held.get(parent_id)
        if held is None or not self.can_adopt(parent_id):
            return None
        try:
            handle = control.adopt(parent_id)
        except (ValueError, RuntimeError) as exc:
            held.error = f"not adopted: {exc}"
            self.version += 1
            return None
        held.action, held.error, held.adopted_as = (f"adopting as {handle.parent_id}…", None,
                                                    handle.parent_id)
        self._pending.append(_Pending("adopt", parent_id, handle=handle))
        self.version += 1
        return handle.parent_id

    def cancel(self, parent_id: str, control: RecoveryControl) -> bool:
        """Cancel a held parent (its open orders, then its finished row)."""
        held = self.held.get(parent_id)
        if held is None or not self.can_cancel(parent_id):
            return False
        try:
            control.cancel(parent_id)
        except RuntimeError as exc:  # the engine is shut down
            held.error = f"not cancelled: {exc}"
            self.version += 1
            return False
        held.action, held.error = "cancelling…", None
        self.version += 1
        return True

    def cancel_all(self, control: RecoveryControl) -> bool:
        """Cancel every held parent and every open order no parent owns (sells first)."""
        if self._cancel_all_running or not (self.held or self.loose):
            return False
        try:
            future = control.cancel_orphans()
        except RuntimeError as exc:
            self._say(f"Cancel all failed: {exc}")
            self.version += 1
            return False
        self._cancel_all_running = True
        for line in self.held.values():
            if not line.busy:
                line.action, line.error = "cancelling…", None
        if self.loose:
            self.loose_action = "cancelling…"
        self._pending.append(_Pending("cancel_all", None, future=future))
        self.version += 1
        return True

    @property
    def cancelling_all(self) -> bool:
        return self._cancel_all_running

    @property
    def waiting(self) -> bool:
        """A choice's future is still running (the panel polls while so)."""
        return bool(self._pending)

    def poll(self) -> bool:
        """Take the outcome of every choice whose future is done; True when one was."""
        done = [p for p in self._pending if p.done()]
        if not done:
            return False
        self._pending = [p for p in self._pending if not p.done()]
        for pending in done:
            if pending.kind == "adopt":
                self._adopted(pending)
            else:
                self._cancelled_all(pending)
        self.version += 1
        return True

    def _adopted(self, pending: _Pending) -> None:
        assert pending.handle is not None and pending.parent_id is not None
        try:
            result = pending.handle.result(0)
        except Exception as exc:  # said: the row (if still held) and the outcomes
            reason = str(exc) or type(exc).__name__
            held = self.held.get(pending.parent_id)
            if held is not None:
                held.action = None
                held.error = reason if "not adopted" in reason else f"not adopted: {reason}"
            self._say(f"{pending.parent_id}: adoption as {pending.handle.parent_id} failed: "
                      f"{reason}")
            return
        self._say(f"{result.parent_id} (adopted from {pending.parent_id}) ended "
                  f"{result.status}: {result.filled_quantity:,} of {result.quantity:,} filled")

    def _cancelled_all(self, pending: _Pending) -> None:
        assert pending.future is not None
        self._cancel_all_running = False
        loose = len(self.loose)
        try:
            results = pending.future.result(0)
        except Exception as exc:
            for line in self.held.values():
                if line.action == "cancelling…":
                    line.action, line.error = None, f"not cancelled: {exc}"
            self.loose_action = None
            self._say(f"Cancel all failed: {exc or type(exc).__name__}")
            return
        self.loose, self.loose_action = (), None
        parts = [f"{len(results)} held parent{'s' if len(results) != 1 else ''} ended"]
        if loose:
            parts.append(f"{loose} open order{'s' if loose != 1 else ''} without a parent "
                         "cancelled")
        self._say("Cancel all: " + ", ".join(parts))

    def _say(self, outcome: str) -> None:
        self.outcomes.append(outcome)


def _finished_outcome(line: HeldParent, e: Event) -> str:
    """What a held parent's finished row says, in one line."""
    message = e.message or ""
    filled = max(line.filled, e.parent_filled_quantity or 0)
    if message.startswith("adopted as"):
        return f"{line.parent_id} {message.split(':', 1)[0]} (it had filled {filled:,})"
    return (f"{line.parent_id} ended {e.status or 'finished'}: filled {filled:,} of "
            f"{line.orphan.quantity:,}" + (f" ({message})" if message else ""))


def _quantity(units: int, lot_size: int | None) -> str:
    if lot_size and lot_size > 1 and units % lot_size == 0:
        lots = units // lot_size
        return f"{lots:,} lot{'s' if lots != 1 else ''} ({units:,})"
    return f"{units:,} units"


def _order_text(o: OrphanOrder) -> str:
    return (f"order {o.order_id} · tag {o.tag or '–'} · {o.side} {o.tradingsymbol} · {o.status}"
            f" · {o.pending_quantity:,} of {o.quantity:,} pending")


def _line(held: HeldParent, lot_size: int | None) -> OrphanLine:
    o = held.orphan
    algo = f" · {o.execution_algo}" if o.execution_algo else ""
    leg = (f" · {o.leg_role or 'leg'} of basket {o.basket_id}" if o.basket_id else "")
    title = f"{o.side} {_quantity(o.quantity, lot_size)} {o.tradingsymbol}{algo}{leg}"
    detail = f"{o.parent_id} · filled {held.filled:,} of {o.quantity:,}"
    if o.filled_while_down:
        detail += f" · {o.filled_while_down:,} while the desk was down"
    if o.open_orders:
        orders = "open at the broker: " + ", ".join(
            f"{x.order_id} ({x.pending_quantity:,} pending)" for x in o.open_orders)
        orders_tip = "\n".join(_order_text(x) for x in o.open_orders)
    else:
        orders = "nothing open at the broker"
        orders_tip = "None of its orders is open at the broker: nothing of it is working"
    if held.action is not None:
        state, is_error = held.action, False
    elif held.error is not None:
        state, is_error = held.error, True
    elif o.not_adoptable is not None:
        state, is_error = f"not adoptable: {o.not_adoptable}", True
    else:
        state, is_error = None, False
    if o.not_adoptable is not None:
        adopt_tip = f"Cannot adopt {o.parent_id}: {o.not_adoptable}"
    elif held.remaining <= 0:
        adopt_tip = f"Cannot adopt {o.parent_id}: nothing is left to send"
    else:
        adopt_tip = (f"Adopt {o.parent_id} ({ADOPT_KEY}): cancel its open orders, then send "
                     f"the remaining {held.remaining:,} units as a new parent under "
                     f"{o.execution_algo or 'its algorithm'} over what is left of its window "
                     f"({MIN_ADOPT_WINDOW_TEXT}); asks first")
    cancel_tip = (f"Cancel {o.parent_id} ({CANCEL_KEY}): cancel its open orders and end it "
                  "(nothing new is sent)")
    return OrphanLine(o.parent_id, title, detail, orders, orders_tip, state, is_error,
                      held.can_adopt, adopt_tip, held.can_cancel, cancel_tip)


def recovery_control(stack: object) -> RecoveryControl | None:
    """The stack as the orphans panel uses it (None: a viewer, or a stack without restart
    recovery: the panel never shows)."""
    if stack is None or not all(hasattr(stack, name)
                                for name in ("cancel_orphans", "adopt", "cancel")):
        return None
    return cast(RecoveryControl, stack)


__all__ = [
    "ADOPT_KEY",
    "CANCEL_KEY",
    "AdoptionHandle",
    "HeldParent",
    "OrphanBook",
    "OrphanLine",
    "RecoveryControl",
    "recovery_control",
]
