"""A desk killed with orders resting, against a fake Kite server that outlives it: the next
stack finds every order still open by its tag, writes what filled while the desk was down exactly
once, sends nothing on its own, and then cancels or adopts as the trader says."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect

from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.engine.config import EngineConfig
from imperium_exec.engine.desk_fills import DeskFill
from imperium_exec.events import ParentStatus
from imperium_exec.recovery.report import Orphan, RecoveryReport
from imperium_exec.request import ExecutionRequest
from imperium_exec.risk import RiskLimits, RiskRefusal
from imperium_exec.stack import ExecutionStack
from imperium_exec.telemetry import read_rows, telemetry_path
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip
from imperium_exec.testing.fake_kite.faults import Fault

from .desks import Desks

BID, ASK = 100.0, 100.5

#: Each test has a desk process send its parents and SIGKILLs it before it runs.
pytestmark = pytest.mark.slow(seconds=1)


@dataclass
class Crash:
    server: FakeKiteServer
    instruments: tuple[FakeInstrument, ...]
    journal_dir: Path
    parent_ids: list[str]  # A, B, C, D in the order sent

    @property
    def journal(self) -> Path:
        return telemetry_path("live", self.journal_dir)

    def rows(self) -> list[dict[str, Any]]:
        return read_rows(self.journal)

    def orders_of(self, parent_id: str) -> list[dict[str, Any]]:
        return [o for o in self.server.recorded_orders()
                if (o.get("tag") or "").startswith(parent_id)]

    def new_stack(self, limits: RiskLimits | None = None) -> ExecutionStack:
        kite = KiteConnect(api_key="k", access_token="t", root=self.server.root, timeout=2)
        return ExecutionStack(KiteBroker(kite, ticker_root=None), "live",
                              telemetry_dir=self.journal_dir,
                              config=EngineConfig(id_seed=7, poll_interval_s=0.2,
                                                  risk_limits=limits or RiskLimits()))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def wait_for_book_reads(server: FakeKiteServer, reads: int) -> None:
    """Until the stack has read the order book ``reads`` more times (each read's rows are
    written before the next read goes out: the last one may still be under way)."""
    before = len(server.requests_to("orders"))
    wait_for(lambda: len(server.requests_to("orders")) >= before + reads + 1)


@dataclass
class SpreadCrash:
    """A call spread whose desk was killed while its hedge rested (the short waiting for it)."""

    crash: Crash
    basket_id: str
    short: FakeInstrument  # the lower-strike call, sold
    hedge: FakeInstrument  # the higher-strike call, bought first

    @property
    def server(self) -> FakeKiteServer:
        return self.crash.server


@contextmanager
def crashed_call_spread(desks: Desks, journal_dir: Path) -> Iterator[SpreadCrash]:
    """Send a 2-lot call spread (passive TWAPs of one slice) from a desk process, kill it once
    the hedge rests; the fake server stops on leaving."""
    instruments = nifty_strip(4)
    server = FakeKiteServer(instruments=instruments).start()
    try:
        for inst in instruments:
            server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK)
        short, hedge = instruments[0], instruments[2]
        basket = {"legs": [passive(hedge, "BUY", 2, 1), passive(short, "SELL", 2, 1)]}
        with desks.running(server, journal_dir, [basket]) as (basket_id,):
            pass
        yield SpreadCrash(Crash(server, instruments, journal_dir, []), basket_id, short, hedge)
    finally:
        server.stop()


def passive(inst: FakeInstrument, side: str, lots: int, slices: int, **kw: Any) -> dict[str, Any]:
    """A TWAP whose children rest (a buy below the bid, a sell above the ask)."""
    return dict(tradingsymbol=inst.tradingsymbol, exchange="NFO", side=side,
                quantity=lots * 65, lot_size=65, tick_size=0.05, freeze_quantity=1800,
                bid=BID, ask=ASK, order_type="LIMIT",
                limit_price=99.0 if side == "BUY" else 101.5, execution_algo="TWAP",
                max_child_orders=slices, horizon_s=600, **kw)


@pytest.fixture
def crash(desks: Desks, tmp_path: Path) -> Iterator[Crash]:
    """A, B: two resting 2-lot TWAP buys; C: a resting 2-lot sell; D: a 4-lot TWAP of two
    slices whose first child is half filled. The desk is SIGKILLed; while it is down A's order
    fills, B's half fills and D's first child completes."""
    instruments = nifty_strip(4)
    server = FakeKiteServer(instruments=instruments).start()
    try:
        for inst in instruments:
            server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK)
        a, b, c, d = instruments
        requests = [passive(a, "BUY", 2, 1), passive(b, "BUY", 2, 1), passive(c, "SELL", 2, 1),
                    passive(d, "BUY", 4, 2)]
        with desks.running(server, tmp_path, requests) as ids:
            crash = Crash(server, instruments, tmp_path, ids)
            (d_order,) = crash.orders_of(ids[3])
            server.fill(d_order["order_id"], 65)
            wait_for(lambda: any(r["event"] == "filled" and r["parent_id"] == ids[3]
                                 for r in crash.rows()))
        (a_order,) = crash.orders_of(ids[0])
        (b_order,) = crash.orders_of(ids[1])
        server.fill(a_order["order_id"])
        server.fill(b_order["order_id"], 65)
        server.fill(d_order["order_id"], 65)
        yield crash
    finally:
        server.stop()


def by_id(report: RecoveryReport) -> dict[str, Orphan]:
    return {o.parent_id: o for o in report.orphans}


def journaled_fills(rows: list[dict[str, Any]]) -> Counter[str]:
    fills: Counter[str] = Counter()
    for row in rows:
        if row["event"] in ("filled", "ghost") and row["filled_quantity"] and row["order_id"]:
            fills[row["order_id"]] += row["filled_quantity"]
    return fills


def test_a_restart_lists_every_open_order_and_journals_the_fills_made_while_down_once(
        crash: Crash, qapp: Any) -> None:
    places = len(crash.server.requests_to("place"))
    stack = crash.new_stack()
    try:
        report = stack.recovery().result(20)
        a, b, c, d = crash.parent_ids
        orphans = by_id(report)
        assert report.error is None and set(orphans) == {a, b, c, d}
        assert (orphans[a].filled, orphans[a].filled_while_down, orphans[a].open_orders) \
            == (130, 130, ())
        assert (orphans[b].filled, orphans[b].filled_while_down, orphans[b].pending) \
            == (65, 65, 65)
        assert (orphans[c].filled, orphans[c].pending) == (0, 130)
        assert (orphans[d].filled, orphans[d].filled_while_down, orphans[d].remaining) \
            == (130, 65, 130)
        open_at_broker = {o["tag"] for o in crash.server.recorded_orders()
                          if o["status"] == "OPEN"}
        assert {o.tag for o in report.open_orders} == open_at_broker and len(open_at_broker) == 2
        wait_for_book_reads(crash.server, 2)  # the book read again: nothing written twice
        fills = journaled_fills(crash.rows())
        for order in crash.server.recorded_orders():
            assert fills[order["order_id"]] == order["filled_quantity"], order["tag"]
        # A filled completely while the desk was down: it is finished, nothing is left
        finished = {r["parent_id"]: r for r in crash.rows() if r["event"] == "finished"}
        assert finished[a]["status"] == "filled" and finished[a]["filled_quantity"] == 130
        assert b not in finished and c not in finished and d not in finished
        assert crash.server.requests_to("cancel") == []  # held: nothing sent on its own
    finally:
        stack.shutdown()
    assert len(crash.server.requests_to("place")) == places


def test_the_restarts_estimates_count_the_crashed_sessions_fills_and_the_held_parents(
        crash: Crash, qapp: Any) -> None:
    """The fills of the day before the crash (D's first 65), and those the restart takes in
    for the parents it holds (A's 130, B's 65, D's next 65, filled while it was down), are the
    desk's fills on their contracts, each when its row says (``engine.desk_fills``, which the
    next parent's estimate counts, as the calibration does from the journal)."""
    stack = crash.new_stack()
    try:
        stack.recovery().result(20)
        wait_for_book_reads(crash.server, 1)
        a, b, c, d = crash.parent_ids
        keys = [f"NFO:{inst.tradingsymbol}" for inst in crash.instruments]
        seen = concurrent.futures.Future[list[DeskFill]]()
        stack.engine.loop.call_soon_threadsafe(lambda: seen.set_result(
            [f for key in keys for f in stack.engine.desk_fills.others_since(key, "", 0.0)]))
        desk = sorted((f.parent_id, f.units, f.at) for f in seen.result(5))
        rows = sorted((r["parent_id"], r["filled_quantity"], r["ts"]) for r in crash.rows()
                      if r["event"] == "filled")
        assert [(p, units) for p, units, _ in desk] == [(p, units) for p, units, _ in rows]
        assert {p for p, _, _ in desk} == {a, b, d}  # C's sell rests, unfilled
        # Each when its row was written (a held parent's: taken in a moment after its row).
        assert [at for _, _, at in desk] == pytest.approx([ts for _, _, ts in rows], abs=0.5)
        before_crash = next(r for r in crash.rows() if r["event"] == "filled")
        assert (before_crash["parent_id"], before_crash["ts"]) in {(p, at) for p, _, at in desk}
        assert c not in {r["parent_id"] for r in crash.rows() if r["event"] == "filled"}
    finally:
        stack.shutdown()


def test_a_gateway_blip_on_the_restarts_book_read_is_read_again_and_the_orphans_held(
        crash: Crash, qapp: Any) -> None:
    """The first two reads of the order book at the restart get a gateway's 502 page and a
    503: the restart reads it again rather than leave the orphans unheld."""
    crash.server.fail_next("orders", Fault.gateway_html(502), Fault.oms_down(503))
    stack = crash.new_stack()
    try:
        report = stack.recovery().result(30)
    finally:
        stack.shutdown()
    assert report.error is None and set(by_id(report)) == set(crash.parent_ids)
    assert len(report.open_orders) == 2
    assert crash.server.clear_faults() == []  # both blips were met


def test_a_restart_whose_book_cannot_be_read_says_so_and_holds_nothing(
        crash: Crash, qapp: Any) -> None:
    """The token is gone (not a blip): the restart says the book could not be read, and
    why."""
    crash.server.expire_session()
    stack = crash.new_stack()
    try:
        report = stack.recovery().result(30)
    finally:
        stack.shutdown()
    assert report.orphans == () and report.error is not None
    assert "order book could not be read (TokenException" in report.error


def test_cancel_orphans_leaves_nothing_open_and_writes_every_final_row(
        crash: Crash, qapp: Any) -> None:
    stack = crash.new_stack()
    try:
        stack.recovery().result(20)
        places = len(crash.server.requests_to("place"))
        results = {r.parent_id: r for r in stack.cancel_orphans().result(20)}
        assert len(crash.server.requests_to("place")) == places  # nothing new was sent
    finally:
        stack.shutdown()
    a, b, c, d = crash.parent_ids
    assert set(results) == {b, c, d}  # (A had filled: it finished at the restart)
    assert all(o["status"] != "OPEN" for o in crash.server.recorded_orders())
    cancels = [r.path for r in crash.server.requests_to("cancel")]
    assert len(cancels) == 2
    sell_order = crash.orders_of(c)[0]["order_id"]
    assert sell_order in cancels[0]  # the sell is cancelled before the buy
    assert (results[b].filled_quantity, results[c].filled_quantity,
            results[d].filled_quantity) == (65, 0, 130)
    finished = [r for r in crash.rows() if r["event"] == "finished"]
    assert Counter(r["parent_id"] for r in finished) == Counter({a: 1, b: 1, c: 1, d: 1})


@pytest.mark.slow(seconds=3)
def test_adopt_completes_the_remaining_quantity_with_new_tags_and_no_overfill(
        crash: Crash, qapp: Any) -> None:
    stack = crash.new_stack()
    try:
        stack.recovery().result(20)
        d = crash.parent_ids[3]
        handle = stack.adopt(d, window_s=2.0)
        assert handle.parent_id not in crash.parent_ids
        wait_for(lambda: len(crash.orders_of(handle.parent_id)) >= 1)
        d_symbol = crash.instruments[3].tradingsymbol
        crash.server.set_quote(d_symbol, bid=98.5, ask=99.0)  # the market comes to the bids
        result = handle.result(30)
        stack.cancel_orphans().result(20)
    finally:
        stack.shutdown()
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 130
    old = [r for r in crash.rows() if r["event"] == "finished" and r["parent_id"] == d]
    assert len(old) == 1 and old[0]["filled_quantity"] == 130
    assert f"adopted as {handle.parent_id}" in old[0]["message"]
    filled = sum(o["filled_quantity"] for o in crash.server.recorded_orders()
                 if o["tradingsymbol"] == d_symbol)
    assert filled == 4 * 65  # what was asked, no more
    tags = [o["tag"] for o in crash.server.recorded_orders()]
    assert len(tags) == len(set(tags))  # the restarted stack (same id seed) repeats no tag


def test_recovered_fill_rows_carry_the_childs_number(crash: Crash, qapp: Any) -> None:
    """A fill found at the restart joins its send: same child number and child id."""
    stack = crash.new_stack()
    try:
        stack.recovery().result(20)
    finally:
        stack.shutdown()
    b = crash.parent_ids[1]
    rows = [r for r in crash.rows() if r["parent_id"] == b and r["tag"]]
    (placed,) = [r for r in rows if r["event"] == "placed"]
    filled = [r for r in rows if r["event"] == "filled"]
    assert filled and {(r["child_index"], r["child_id"]) for r in filled} == {
        (placed["child_index"], placed["child_id"])}


def test_an_orphan_with_a_rejected_order_sends_nothing_before_the_trader_chooses(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """One slice of two orders; one is rejected while the desk is down: the orphan is held
    (the rejection is a note), and its other order is not cancelled on its own."""
    instruments = nifty_strip(1)
    server = FakeKiteServer(instruments=instruments).start()
    try:
        server.set_quote(instruments[0].tradingsymbol, bid=BID, ask=ASK)
        request = passive(instruments[0], "BUY", 2, 1) | {"freeze_quantity": 65}
        with desks.running(server, tmp_path, [request]) as ids:
            crash = Crash(server, instruments, tmp_path, ids)
            # (the desk is ready once one rests: the kill waits for the slice's second)
            wait_for(lambda: len(server.recorded_orders()) == 2)
        first, _ = server.recorded_orders()
        server.reject(first["order_id"], "RMS: blocked")
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            assert [o.parent_id for o in report.orphans] == crash.parent_ids
            assert len(report.open_orders) == 1
            wait_for_book_reads(server, 2)  # (the book read again meanwhile)
            assert server.requests_to("cancel") == []
            assert not any(r["event"] == "finished" for r in crash.rows())
        finally:
            stack.shutdown()
    finally:
        server.stop()


def test_the_days_premium_limit_counts_what_the_crashed_session_bought(
        crash: Crash, qapp: Any) -> None:
    """Before the kill, D's child filled 65 at 99 (₹6,435): with a ₹10,000 day limit, one
    more lot at the ask (₹6,532) is refused by the restarted stack."""
    stack = crash.new_stack(RiskLimits(max_premium_bought_per_day=10_000.0))
    try:
        stack.recovery().result(20)
        one_lot = ExecutionRequest.model_validate(
            passive(crash.instruments[0], "BUY", 1, 1) | {"order_type": "MARKET",
                                                          "limit_price": None})
        with pytest.raises(RiskRefusal, match="premium bought today"):
            stack.execute(one_lot)
    finally:
        stack.shutdown()


def test_a_basket_the_crash_left_working_gets_one_finished_row_once_its_legs_end(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """A call spread killed while its hedge rests (the short waits for it): the hedge half
    fills while the desk is down; cancelling the orphans ends the hedge and writes the
    basket's one ``basket_finished`` row: partial, with what the legs filled."""
    with crashed_call_spread(desks, tmp_path) as spread:
        crash, server, basket_id = spread.crash, spread.server, spread.basket_id
        short, hedge = spread.short, spread.hedge
        assert hedge.tradingsymbol.endswith("CE") and short.tradingsymbol.endswith("CE")
        (hedge_order,) = server.recorded_orders()  # the short never started
        assert hedge_order["tradingsymbol"] == hedge.tradingsymbol
        server.fill(hedge_order["order_id"], 65)
        assert not any(r["event"] == "basket_finished" for r in crash.rows())
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            assert [o.basket_id for o in report.orphans] == [basket_id, basket_id]
            assert not any(r["event"] == "basket_finished" for r in crash.rows())  # held
            stack.cancel_orphans().result(20)
        finally:
            stack.shutdown()
    rows = crash.rows()
    (ended,) = [r for r in rows if r["event"] == "basket_finished"]
    assert ended["basket_id"] == basket_id and ended["status"] == "partial"
    assert (ended["parent_filled_quantity"], ended["parent_quantity"]) == (65, 260)
    assert "ended after a restart" in ended["message"]
    assert f"BUY {hedge.tradingsymbol}: filled 65 of 130" in ended["message"]
    assert f"SELL {short.tradingsymbol}: filled 0 of 130" in ended["message"]
    legs_finished = {r["parent_id"]: r["filled_quantity"] for r in rows
                     if r["event"] == "finished"}
    assert legs_finished == {o.parent_id: o.filled for o in report.orphans}
    assert sorted(legs_finished.values()) == [0, 65]
    assert rows.index(ended) > max(i for i, r in enumerate(rows)  # after the legs' ends
                                   if r["event"] == "finished")


def test_an_attempt_of_unknown_outcome_gets_one_terminal_row_at_the_restart_and_its_tag_watched(
        desks: Desks, tmp_path: Path, qapp: Any) -> None:
    """The desk's only placement is answered by a gateway's 504 (nothing placed) and the desk
    is killed while it looks for the tag: the restart writes the attempt's one terminal row
    (outcome unknown), sends nothing, and cancelling the orphan ends the parent."""
    instruments = nifty_strip(1)
    server = FakeKiteServer(instruments=instruments).start()
    try:
        server.set_quote(instruments[0].tradingsymbol, bid=BID, ask=ASK)
        server.fail_next("place", Fault.gateway_html(504))
        request = passive(instruments[0], "BUY", 1, 1)
        with desks.running(server, tmp_path, [request]) as (parent_id,):
            pass
        crash = Crash(server, instruments, tmp_path, [parent_id])
        assert server.recorded_orders() == []
        (reconciling,) = [r for r in crash.rows() if r["event"] == "reconciling"]
        tag = reconciling["tag"]
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            assert [o.parent_id for o in report.orphans] == [parent_id]
            assert report.orphans[0].open_orders == ()
            (unknown,) = [r for r in crash.rows() if r["tag"] == tag and r["event"] == "error"]
            assert unknown["status"] == "unknown" and unknown["error_bucket"] == "transient"
            assert f"attempt {tag} may have reached the broker" in unknown["error"]
            (result,) = stack.cancel_orphans().result(20)
        finally:
            stack.shutdown()
        assert len(server.requests_to("place")) == 1  # the 504'd one: nothing re-sent
    finally:
        server.stop()
    assert result.filled_quantity == 0 and result.status is ParentStatus.CANCELLED
    rows = crash.rows()
    child_ends = [r for r in rows if r["tag"] == tag and r["event"] in ("error", "cancelled",
                                                                         "filled", "rejected")]
    assert len(child_ends) == 1  # the restart's row, once
    assert [r["parent_id"] for r in rows if r["event"] == "finished"] == [parent_id]
