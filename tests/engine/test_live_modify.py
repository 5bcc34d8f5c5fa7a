"""Re-pricing resting children by Kite's modify on the live path: the real kiteconnect client
and the fake Kite server. The engine and the fake Kite share a virtual clock (Kite's write
limits are counted in its calendar seconds, the quotes move on the engine's loop, fills are read
from the order book); the fill that races a pending modification runs on the real clock with the
ticker, whose order update carries it.

What these guard: a passive TWAP spends one write per re-price (two by cancel and place); many
at once keep to Kite's 10 writes a calendar second and never pass an order's modification
allowance; a modify Kite refuses falls back to cancel and place with no duplicate order and no
lost fill; a fill while Kite holds a modification pending is counted once.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from test_live_path import Live, max_per_calendar_second, start_live, stop_live

from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.events import ParentStatus
from imperium_exec.testing import FakeInstrument, Fault
from imperium_exec.testing.fake_kite import MODIFICATIONS_EXCEEDED

WRITES = ("place", "modify", "cancel")


def move_quotes(live: Live, instruments: tuple[FakeInstrument, ...], for_s: float,
                every_s: float = 0.45) -> None:
    """Each bid steps 100.00 -> 100.05 -> 100.10 and back every ``every_s`` for ``for_s``
    seconds of the desk's virtual clock, the ask 10 ticks above: a joined buy is re-priced at
    every slice, and never crossed (it fills at the final slice). The steps are timers on the
    engine's loop, so they fall between the slices in the same order on every run."""
    loop = live.engine.loop
    steps = int(for_s / every_s)

    def move(step: int) -> None:
        bid = 100.0 + 0.05 * (step % 3)
        for inst in instruments:
            live.server.set_quote(inst.tradingsymbol, bid=bid, ask=bid + 0.5)
        if step < steps:
            loop.call_later(every_s, move, step + 1)

    loop.call_soon_threadsafe(loop.call_later, every_s, move, 1)


def writes(live: Live) -> Counter[str]:
    return Counter(r.route for r in live.server.requests if r.route in WRITES)


def twap(live: Live, inst: FakeInstrument, slices: int, horizon_s: float,
         **kw: Any) -> tuple[str, Any]:
    return live.submit(inst, quantity=65 * slices, execution_algo="TWAP",
                       max_child_orders=slices, horizon_s=horizon_s, randomize_slices=False,
                       **kw)


def test_a_passive_twap_spends_one_write_per_re_price_where_cancel_and_place_spent_two(
        ) -> None:
    spent: dict[bool, Counter[str]] = {}
    re_prices: dict[bool, int] = {}
    for modify in (False, True):
        clock = VirtualClock(auto_advance=False)  # still until the parent is in
        live = start_live(1, config=EngineConfig(id_seed=None, modify_resting=modify),
                          clock=clock)
        try:
            move_quotes(live, live.instruments, for_s=6.0)
            parent_id, future = twap(live, live.instruments[0], 6, 6.0)
            clock.run_freely()
            result = future.result(30)
            assert result.status is ParentStatus.FILLED and result.filled_quantity == 390
            spent[modify] = writes(live)
            rows = live.events(parent_id)
        finally:
            stop_live(live)
        fills = sum(r["filled_quantity"] for r in rows if r["event"] == "filled")
        assert fills == sum(o["filled_quantity"] for o in live.server.recorded_orders()) == 390
        # Every slice after the first re-prices (5; fewer if a late slice merged).
        re_prices[modify] = sum(r["event"] in ("placed", "modified") for r in rows) - 1
        assert 3 <= re_prices[modify] <= 5
    assert spent[False] == Counter(place=1 + re_prices[False], cancel=re_prices[False])
    assert spent[True] == Counter(place=1, modify=re_prices[True])  # one write a re-price
    assert (sum(spent[False].values()) - 1) / re_prices[False] == 2.0
    assert (sum(spent[True].values()) - 1) / re_prices[True] == 1.0


def test_many_twaps_re_priced_in_place_keep_kites_write_rate_and_modification_allowance(
        ) -> None:
    """Eight passive TWAPs of 9 slices at once, on an account whose orders take 5
    modifications (Kite's 25, cut so a test sees it run out): each order is modified at most
    4 times (one is kept), then a re-price cancels it and places a new one; never a refusal,
    never more than 10 writes in a calendar second, no 429."""
    clock = VirtualClock(auto_advance=False)  # still until every parent is in
    live = start_live(8, max_modifications=5, broker_kw={"max_modifications": 5}, clock=clock)
    try:
        move_quotes(live, live.instruments, for_s=9.0, every_s=0.2)
        submitted = [twap(live, inst, 9, 9.0) for inst in live.instruments]
        clock.run_freely()
        results = [future.result(60) for _, future in submitted]
        rows = live.events()
    finally:
        stop_live(live)
    assert all(r.status is ParentStatus.FILLED and r.filled_quantity == 585 for r in results)
    stamps = [r.at for r in live.server.requests if r.route in WRITES]
    assert max_per_calendar_second(stamps) <= 10 and live.server.throttled == 0
    per_order = Counter(r.path.rsplit("/", 1)[-1] for r in live.server.requests
                        if r.route == "modify")
    # A parent's first order: 4 modifies (slices 2-5), then slice 6 cancels it and places a
    # new one, which the last slices modify (a slice that fell due while a crowd of writes
    # waited goes out merged with the next: fewer re-prices, never more modifications).
    replaced = {o["order_id"] for o in live.server.recorded_orders()
                if o["status"] == "CANCELLED"}
    assert len(replaced) >= 4 and all(per_order[o] == 4 for o in replaced)
    assert max(per_order.values()) == 4  # never past the allowance less the one kept
    assert live.server.replies[400] == 0  # no modify was refused
    cancelled = [r for r in rows if r["event"] == "cancelled"]
    assert len(cancelled) == len(replaced) and all(
        "its order was modified 4 times, the most kept below the broker's 5" in r["message"]
        for r in cancelled)
    # 8 re-prices a parent (fewer when slices merge): 4 modifies, a cancel and a placement,
    # then modifies: at most 9 writes a parent where cancel and place spent 16.
    spent = writes(live)
    assert (spent["place"], spent["cancel"]) == (8 + len(replaced), len(replaced))
    assert spent["modify"] <= 56
    modified = [r for r in rows if r["event"] == "modified"]
    assert len(modified) == spent["modify"]
    assert all(r["status"] == "placed" for r in modified)
    assert {r["message"].split("(modification ")[1] for r in modified} == {
        f"{n} of 5)" for n in range(1, 5)}


def test_a_modify_kite_refuses_falls_back_to_cancel_and_place_with_no_duplicate() -> None:
    clock = VirtualClock(auto_advance=False)  # still until the parent is in
    live = start_live(1, clock=clock)
    try:
        live.server.fail_next("modify", Fault.error(400, "NetworkException",
                                                    MODIFICATIONS_EXCEEDED))
        move_quotes(live, live.instruments, for_s=3.0)
        parent_id, future = twap(live, live.instruments[0], 3, 3.0)
        clock.run_freely()
        result = future.result(30)
        rows = live.events(parent_id)
    finally:
        stop_live(live)
    orders = live.server.recorded_orders()
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 195
    assert [o["status"] for o in orders] == ["CANCELLED", "COMPLETE"]
    assert set(result.order_ids) == {o["order_id"] for o in orders}  # none unknown
    assert sum(o["filled_quantity"] for o in orders) == 195
    cancelled = next(r for r in rows if r["event"] == "cancelled")
    assert "modify refused (NetworkException: Maximum allowed order modifications " \
           "exceeded.)" in cancelled["message"]
    assert [r["event"] for r in rows if r["event"] in ("placed", "modified", "cancelled")] \
        == ["placed", "cancelled", "placed", "modified"]
    assert writes(live) == Counter(place=2, modify=2, cancel=1)


def test_a_modify_answered_500_after_kite_applied_it_is_cancelled_and_counted_once() -> None:
    """Ambiguous: the modification may or may not have been applied. The engine cancels the
    order (whichever terms it has) before the rest goes out again."""
    clock = VirtualClock(auto_advance=False)  # still until the parent is in
    live = start_live(1, clock=clock)
    try:
        live.server.fail_next("modify", Fault.error(500, "GeneralException",
                                                    "Internal server error", record=True))
        move_quotes(live, live.instruments, for_s=3.0)
        parent_id, future = twap(live, live.instruments[0], 3, 3.0)
        clock.run_freely()
        result = future.result(30)
        rows = live.events(parent_id)
    finally:
        stop_live(live)
    orders = live.server.recorded_orders()
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 195
    assert [o["status"] for o in orders] == ["CANCELLED", "COMPLETE"]
    assert orders[0]["modified"] is True  # Kite had applied it
    assert sum(o["filled_quantity"] for o in orders) == 195
    assert "modify's outcome unknown" in next(
        r["message"] for r in rows if r["event"] == "cancelled")


@pytest.mark.slow(seconds=3)
def test_a_fill_while_kite_holds_the_modification_pending_is_counted_once() -> None:
    live = start_live(1, modify_pending_s=0.4)
    inst = live.instruments[0]
    filled_during: list[str] = []
    stop = threading.Event()

    def fill_when_pending() -> None:  # the market trades through the old limit meanwhile
        while not stop.wait(0.02):
            for order in live.server.recorded_orders():
                if order["status"] == "MODIFY PENDING" and not filled_during:
                    live.server.fill(order["order_id"], 65)
                    filled_during.append(order["order_id"])

    filler = threading.Thread(target=fill_when_pending, daemon=True)
    filler.start()
    try:
        parent_id, future = twap(live, inst, 4, 4.0)  # a slice a second, each 0.4 s pending
        result = future.result(30)
        rows = live.events(parent_id)
    finally:
        stop.set()
        filler.join(5.0)
        stop_live(live)
    orders = live.server.recorded_orders()
    held = sum(o["filled_quantity"] for o in orders)
    fills = sum(r["filled_quantity"] for r in rows if r["event"] == "filled")
    assert filled_during, "the modification was never seen pending"
    assert result.status is ParentStatus.FILLED
    assert result.filled_quantity == held == fills == 260
    assert all(o["filled_quantity"] <= o["quantity"] for o in orders)
    first = next(r for r in rows if r["event"] == "filled")
    assert (first["filled_quantity"], first["order_id"]) == (65, filled_during[0])
