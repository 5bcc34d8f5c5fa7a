"""A desk killed with orders resting, against a fake Kite server that outlives it: the next
stack finds every order still open by its tag, writes what filled while the desk was down exactly
once, sends nothing on its own, and then cancels or adopts as the trader says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kiteconnect import KiteConnect

from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.engine.config import EngineConfig
from imperium_exec.events import ParentStatus
from imperium_exec.recovery.report import Orphan, RecoveryReport
from imperium_exec.request import ExecutionRequest
from imperium_exec.risk import RiskLimits, RiskRefusal
from imperium_exec.stack import ExecutionStack
from imperium_exec.telemetry import read_rows, telemetry_path
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip

BID, ASK = 100.0, 100.5
HERE = Path(__file__).parent

#: Each test starts a desk process and SIGKILLs it (about 2 s) before it runs.
pytestmark = pytest.mark.slow(seconds=3)


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
        time.sleep(0.05)


def passive(inst: FakeInstrument, side: str, lots: int, slices: int, **kw: Any) -> dict[str, Any]:
    """A TWAP whose children rest (a buy below the bid, a sell above the ask)."""
    return dict(tradingsymbol=inst.tradingsymbol, exchange="NFO", side=side,
                quantity=lots * 65, lot_size=65, tick_size=0.05, freeze_quantity=1800,
                bid=BID, ask=ASK, order_type="LIMIT",
                limit_price=99.0 if side == "BUY" else 101.5, execution_algo="TWAP",
                max_child_orders=slices, horizon_s=600, **kw)


@pytest.fixture
def crash(tmp_path: Path) -> Iterator[Crash]:
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
        env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))
        desk = subprocess.Popen(
            [sys.executable, str(HERE / "desk_process.py"), server.root, str(tmp_path),
             orjson.dumps(requests).decode()], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert desk.stdout is not None
            ids = [desk.stdout.readline().strip() for _ in requests]
            assert desk.stdout.readline().strip() == "ready"
            crash = Crash(server, instruments, tmp_path, ids)
            (d_order,) = crash.orders_of(ids[3])
            server.fill(d_order["order_id"], 65)
            wait_for(lambda: any(r["event"] == "filled" and r["parent_id"] == ids[3]
                                 for r in crash.rows()))
        finally:
            desk.send_signal(signal.SIGKILL)
            desk.wait(10)
            if desk.stdout is not None:
                desk.stdout.close()
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
        time.sleep(1.0)  # the order book is read again meanwhile: nothing is written twice
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
        tmp_path: Path, qapp: Any) -> None:
    """One slice of two orders; one is rejected while the desk is down: the orphan is held
    (the rejection is a note), and its other order is not cancelled on its own."""
    instruments = nifty_strip(1)
    server = FakeKiteServer(instruments=instruments).start()
    try:
        server.set_quote(instruments[0].tradingsymbol, bid=BID, ask=ASK)
        request = passive(instruments[0], "BUY", 2, 1) | {"freeze_quantity": 65}
        env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))
        desk = subprocess.Popen([sys.executable, str(HERE / "desk_process.py"), server.root,
                                 str(tmp_path), orjson.dumps([request]).decode()],
                                stdout=subprocess.PIPE, text=True, env=env)
        crash = Crash(server, instruments, tmp_path, [])
        try:
            assert desk.stdout is not None
            crash.parent_ids.append(desk.stdout.readline().strip())
            assert desk.stdout.readline().strip() == "ready"
        finally:
            desk.send_signal(signal.SIGKILL)
            desk.wait(10)
            if desk.stdout is not None:
                desk.stdout.close()
        first, _ = server.recorded_orders()
        server.reject(first["order_id"], "RMS: blocked")
        stack = crash.new_stack()
        try:
            report = stack.recovery().result(20)
            assert [o.parent_id for o in report.orphans] == crash.parent_ids
            assert len(report.open_orders) == 1
            time.sleep(1.0)  # (the book is read again meanwhile)
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
