"""A restart's ``basket_finished`` row says what the basket's legs did: the status by leg (one
leg's overfill never hides another's shortfall), and what a second restart learns from the
rows the first restart wrote for its legs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from imperium_exec.clock import RealClock
from imperium_exec.engine.event_factory import EventFactory
from imperium_exec.engine.recovering import OrphanKeeper
from imperium_exec.events import Event
from imperium_exec.recovery.journal import JournalBasket, JournalLeg
from imperium_exec.request import Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.telemetry import telemetry_path

from .desks import Desks
from .test_restart_recovery import Crash, crashed_call_spread, wait_for


def keeper(rows: list[Event]) -> OrphanKeeper:
    none: Any = None
    return OrphanKeeper(broker=none, gateway=none, orders=none, canceller=none,
                        events=EventFactory(RealClock(), "live", "kite"), emit=rows.append,
                        clock=RealClock(), parents={}, finish=lambda p: None,
                        submit=none, ours=lambda p: False, closed=lambda: None,
                        retry_policy=RetryPolicy())


def basket_row(basket: JournalBasket) -> Event:
    """The one basket_finished row a restart writes for ``basket`` once no leg is held."""
    rows: list[Event] = []
    k = keeper(rows)
    k._open_baskets[basket.basket_id] = basket
    k._end_basket_once_no_leg_is_held(basket.basket_id)
    (row,) = rows
    return row


def test_one_legs_overfill_does_not_make_a_short_leg_filled() -> None:
    """Two legs of 130 each, journaled before the crash: one overfilled to 195 (a late order of
    a timed-out attempt), the other ended at 65. The sum is the basket's 260, but a leg is
    short: the basket did not fill (the normal path says partial)."""
    row = basket_row(JournalBasket("B1", 260, {
        "P1": JournalLeg("P1", "NIFTYCE1", Side.BUY, 130, filled=195, finished=True),
        "P2": JournalLeg("P2", "NIFTYCE2", Side.SELL, 130, filled=65, finished=True)}))
    assert row.status.value == "partial", row.message


def test_a_basket_with_a_leg_never_journaled_is_not_filled() -> None:
    """A leg of 130 overfilled to 260 and the other leg never wrote a row: not filled."""
    row = basket_row(JournalBasket("B1", 260, {
        "P1": JournalLeg("P1", "NIFTYCE1", Side.BUY, 130, filled=260, finished=True)}))
    assert row.status.value == "partial", row.message


def test_a_second_restart_counts_what_a_leg_filled_and_ended_with_in_the_first(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """A call spread killed while its hedge rests (the short waits). While the desk is down the
    hedge fills in full: the first restart writes its fills and its finished row; the short
    stays held. The desk dies again (the journal as it was). The second restart's basket row,
    once the short is cancelled, counts the hedge's 130."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    with crashed_call_spread(desks, first_dir) as spread:
        crash, server, basket_id = spread.crash, spread.server, spread.basket_id
        short, hedge = spread.short, spread.hedge
        (hedge_order,) = server.recorded_orders()
        server.fill(hedge_order["order_id"])  # all 130
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            hedge_id = next(o.parent_id for o in report.orphans
                            if o.tradingsymbol == hedge.tradingsymbol)
            wait_for(lambda: any(r["event"] == "finished" and r["parent_id"] == hedge_id
                                 for r in crash.rows()))
            assert not any(r["event"] == "basket_finished" for r in crash.rows())
            # The second crash: the journal as it is now.
            shutil.copy(crash.journal, telemetry_path("live", second_dir))
        finally:
            stack.shutdown()
        again = Crash(server, crash.instruments, second_dir, [])
        stack = again.new_stack()
        try:
            report = stack.recovery().result(20)
            assert [o.tradingsymbol for o in report.orphans] == [short.tradingsymbol]
            stack.cancel_orphans().result(20)
        finally:
            stack.shutdown()
    (ended,) = [r for r in again.rows() if r["event"] == "basket_finished"]
    assert ended["basket_id"] == basket_id
    assert f"BUY {hedge.tradingsymbol}: filled 130 of 130" in ended["message"], \
        ended["message"]
    assert (ended["status"], ended["parent_filled_quantity"]) == ("partial", 130)


def test_a_restart_then_a_lost_session_does_not_say_the_legs_were_cancelled(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """A call spread killed while its hedge rests; the restart holds both legs; then the
    session is lost and the desk shuts down: the hedge's order is still open at the broker.
    The basket row must not say its legs were cancelled: it names the order that may still be
    live, as a basket's row on the normal path does."""
    with crashed_call_spread(desks, tmp_path) as spread:
        crash, server, hedge = spread.crash, spread.server, spread.hedge
        stack = crash.new_stack()
        try:
            stack.recovery().result(20)
            server.expire_session()
            wait_for(lambda: stack.engine.session_lost is not None)
        finally:
            stack.shutdown()
        (hedge_order,) = server.recorded_orders()
        assert server.order(hedge_order["order_id"])["status"] == "OPEN"
    rows = crash.rows()
    (ended,) = [r for r in rows if r["event"] == "basket_finished"]
    hedge_end = next(r for r in rows if r["event"] == "finished"
                     and r["tradingsymbol"] == hedge.tradingsymbol)
    assert hedge_end["status"] == "failed"
    assert "cancelled or adopted" not in ended["message"], ended["message"]
    assert "may still be live" in ended["message"], ended["message"]


def test_an_adopted_legs_line_names_the_parent_its_rest_continues_as(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """The hedge is adopted (its rest goes on as a new parent, outside the basket), the short
    cancelled: the basket row's hedge line says where its units left went, not only left."""
    with crashed_call_spread(desks, tmp_path) as spread:
        crash, short, hedge = spread.crash, spread.short, spread.hedge
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            hedge_id, short_id = (next(o.parent_id for o in report.orphans
                                       if o.tradingsymbol == s.tradingsymbol)
                                  for s in (hedge, short))
            handle = stack.adopt(hedge_id)
            wait_for(lambda: any(r["event"] == "finished" and r["parent_id"] == hedge_id
                                 for r in crash.rows()))
            stack.cancel(short_id)
            wait_for(lambda: any(r["event"] == "basket_finished" for r in crash.rows()))
        finally:
            stack.shutdown()
    (ended,) = [r for r in crash.rows() if r["event"] == "basket_finished"]
    assert f"adopted as {handle.parent_id}" in ended["message"], ended["message"]
