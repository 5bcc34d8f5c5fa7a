"""The orphans panel's book, without Qt: what a restart check holds, what the trader chose for
each, and what became of it (the stack's futures polled, never waited for)."""

from __future__ import annotations

from typing import Any

from dock_support import T0, events, parent_story, row
from orphans_support import SYMBOL, Control, order, orphan, report, result

from imperium_exec.events import HALTED_PREFIX
from imperium_exec.request import Side
from imperium_exec.widgets.orphans_model import OrphanBook
from imperium_exec.widgets.parents_model import ParentBook


def finished(parent_id: str, message: str | None = None, filled: int = 0) -> Any:
    return events([row("finished", parent_id=parent_id, status="cancelled",
                       parent_filled_quantity=filled, filled_quantity=filled,
                       message=message)])


def test_a_report_with_orphans_lists_each_with_its_orders_and_a_clean_one_stays_hidden(
        ) -> None:
    book = OrphanBook()
    assert not book.show_report(report())
    assert not book.visible and book.lines() == []
    shown = book.show_report(report(
        orphan("AAAAAAAAAA", quantity=260, filled=65, down=65,
               orders=(order("9001", "AAAAAAAAAA00101", 65),)),
        orphan("BBBBBBBBBB", side=Side.SELL, quantity=130)))
    assert shown and book.visible
    assert book.header.startswith("2 parents left working by the last session")
    a, b = book.lines(lambda pid: 65 if pid == "AAAAAAAAAA" else None)
    assert a.title == f"BUY 4 lots (260) {SYMBOL} · TWAP"
    assert a.detail == ("AAAAAAAAAA · filled 65 of 260 · 65 while the desk was down")
    assert a.orders == "open at the broker: 9001 (65 pending)"
    assert "tag AAAAAAAAAA00101" in a.orders_tip and "65 of 65 pending" in a.orders_tip
    assert a.can_adopt and a.can_cancel and a.state is None
    assert "remaining 195 units" in a.adopt_tip and "Enter" in a.adopt_tip
    assert "Delete" in a.cancel_tip
    assert b.title == f"SELL 130 units {SYMBOL} · TWAP"
    assert b.orders == "nothing open at the broker"
    assert book.status().startswith("2 held parents waiting for your choice")


def test_a_report_of_open_orders_without_a_parent_shows_them_for_cancel_all() -> None:
    book = OrphanBook()
    assert book.show_report(report(unknown=(order("77", "ZZZZZZZZZZ00101", 65),)))
    text, tip = book.loose_text()
    assert text.startswith("1 open order with the desk's tag and no held parent (65 units")
    assert "order 77 · tag ZZZZZZZZZZ00101" in tip


def test_a_report_that_could_not_read_the_book_shows_why() -> None:
    book = OrphanBook()
    assert book.show_report(report(error="the broker's order book could not be read (x)"))
    assert book.header.startswith("Restart check incomplete")
    assert book.resolved  # nothing to act on: Dismiss


def test_an_orphan_that_cannot_be_adopted_says_why_and_adopt_does_nothing() -> None:
    book = OrphanBook()
    control = Control()
    why = "its request is not in the journal (written before schema 5): cancel it"
    book.show_report(report(orphan("OLDSCHEMA0", not_adoptable=why)))
    (line,) = book.lines()
    assert not line.can_adopt and line.can_cancel
    assert line.adopt_tip == f"Cannot adopt OLDSCHEMA0: {why}"
    assert line.state == f"not adoptable: {why}" and line.state_is_error
    assert book.adopt("OLDSCHEMA0", control) is None and control.calls == []


def test_a_row_goes_when_its_finished_row_arrives_and_says_what_became_of_it() -> None:
    book = OrphanBook()
    control = Control()
    book.show_report(report(orphan("AAAAAAAAAA", filled=65), orphan("BBBBBBBBBB")))
    assert book.adopt("AAAAAAAAAA", control) == "NEWAAAAAAAAAA"
    (a, _b) = book.lines()
    assert a.state == "adopting as NEWAAAAAAAAAA…" and not a.can_adopt and not a.can_cancel
    assert book.cancel("BBBBBBBBBB", control)
    assert control.calls == [("adopt", "AAAAAAAAAA"), ("cancel", "BBBBBBBBBB")]
    assert book.lines()[1].state == "cancelling…"
    # fills of a held parent move its line
    book.add(events([row("filled", parent_id="BBBBBBBBBB", parent_filled_quantity=65,
                         filled_quantity=65)]))
    assert book.lines()[1].detail.startswith("BBBBBBBBBB · filled 65 of 260")
    book.add(finished("AAAAAAAAAA", "adopted as NEWAAAAAAAAAA: its remaining 195 units "
                                    "continue there", filled=65))
    book.add(finished("BBBBBBBBBB", filled=65))
    assert book.lines() == [] and book.resolved and book.visible  # the outcomes stay
    assert list(book.outcomes) == ["AAAAAAAAAA adopted as NEWAAAAAAAAAA (it had filled 65)",
                                   "BBBBBBBBBB ended cancelled: filled 65 of 260"]
    assert book.status() == "Every parent the check held is resolved."
    book.dismiss()
    assert not book.visible


def test_an_adoption_the_stack_refuses_is_said_on_its_row_once_polled() -> None:
    book = OrphanBook()
    control = Control()
    book.show_report(report(orphan("AAAAAAAAAA")))
    book.adopt("AAAAAAAAAA", control)
    assert book.waiting and not book.poll()  # not done yet: nothing changes
    control.handles["AAAAAAAAAA"].future.set_exception(
        ValueError("AAAAAAAAAA not adopted: the cancel of 9001 was not confirmed"))
    assert book.poll() and not book.waiting
    (line,) = book.lines()
    assert line.state == "AAAAAAAAAA not adopted: the cancel of 9001 was not confirmed"
    assert line.state_is_error and line.can_adopt  # it may be tried again
    assert "adoption as NEWAAAAAAAAAA failed" in book.outcomes[-1]


def test_cancel_all_marks_every_row_and_says_the_outcome_when_its_future_is_done() -> None:
    book = OrphanBook()
    control = Control()
    book.show_report(report(orphan("AAAAAAAAAA"), orphan("BBBBBBBBBB", side=Side.SELL),
                            unknown=(order("77", "ZZZZZZZZZZ00101", 65),)))
    assert book.cancel_all(control)
    assert not book.cancel_all(control)  # once at a time
    assert control.calls == [("cancel_orphans", None)]
    assert [line.state for line in book.lines()] == ["cancelling…", "cancelling…"]
    assert book.loose_text()[0].endswith("· cancelling…")
    book.add(finished("BBBBBBBBBB") + finished("AAAAAAAAAA"))
    assert book.lines() == [] and not book.resolved  # the future is still running
    control.cancel_all_future.set_result([result("BBBBBBBBBB"), result("AAAAAAAAAA")])
    assert book.poll()
    assert book.outcomes[-1] == ("Cancel all: 2 held parents ended, 1 open order without a "
                                 "parent cancelled")
    assert book.resolved and book.loose == ()


def test_an_orphan_whose_finished_row_came_before_the_report_is_not_listed() -> None:
    parents = ParentBook()
    parents.add(events(parent_story("FILLEDDOWN", children=1, filled=1)))
    book = OrphanBook()
    assert book.show_report(report(orphan("FILLEDDOWN", quantity=65, filled=65),
                                   orphan("AAAAAAAAAA")), parents.is_finished)
    assert [line.parent_id for line in book.lines()] == ["AAAAAAAAAA"]


def test_held_parents_are_neither_working_nor_interrupted_and_their_lot_size_is_read() -> None:
    parents = ParentBook()
    parents.set_session_start(T0 + 100_000.0)  # every parent below is an earlier session's
    accepted = row("accepted", parent_id="HELD000001",
                   request='{"tradingsymbol": "X", "lot_size": 75, "quantity": 150}')
    parents.add(events([accepted, *parent_story("LEFT000001", finished=False)]))
    view = parents.panel_view(40)
    assert (view.working, view.interrupted, view.checked) == (0, 2, False)
    parents.set_held(["HELD000001"])
    view = parents.panel_view(40)
    assert (view.working, view.interrupted, view.checked) == (0, 1, True)
    assert view.interrupted_sample == ["LEFT000001"]
    held = parents.get("HELD000001")
    assert held is not None and held.lot_size == 75
    # a held parent's new rows (fills while the desk was down) do not make it working
    parents.add(events([row("filled", parent_id="HELD000001", ts=T0 + 200_000.0,
                            parent_filled_quantity=65, filled_quantity=65)]))
    view = parents.panel_view(40)
    assert (view.working, view.interrupted) == (0, 1)
    parents.add(events([row("finished", parent_id="HELD000001", ts=T0 + 200_001.0)]))
    assert parents.is_finished("HELD000001") and len(parents) == 1


def test_a_parent_halted_by_a_lost_session_is_not_one_the_trader_can_resume() -> None:
    parents = ParentBook()
    parents.add(events([row("accepted", parent_id="HALTED0001"),
                        row("paused", parent_id="HALTED0001", status="paused",
                            message=f"{HALTED_PREFIX}re-login needed: TokenException; nothing "
                                    "is sent"),
                        row("accepted", parent_id="PAUSED0001"),
                        row("paused", parent_id="PAUSED0001", status="paused")]))
    halted, paused = parents.get("HALTED0001"), parents.get("PAUSED0001")
    assert halted is not None and halted.paused and halted.halted
    assert paused is not None and paused.paused and not paused.halted
