"""Engine: parents go accepted -> placed -> filled/cancelled -> finished, and the books balance."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import SYMBOL, Rig, assert_books_balance, make_request, make_rig

from imperium_exec.brokers.base import BrokerCapabilities
from imperium_exec.brokers.errors import NetworkException
from imperium_exec.brokers.kite.errors import KITE_ERRORS
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ParentStatus
from imperium_exec.request import OrderType, RequestError

V1_FIELDS = ("timestamp", "tradingsymbol", "execution_algo", "child_index", "children",
             "quantity", "arrival_price", "limit_price", "expected_slippage", "impact_estimate",
             "route", "queue_priority", "latency_ms", "status", "error_bucket", "error",
             "attempt")


def test_immediate_market_order_fills_at_the_touch_and_writes_every_v1_field(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        parent_id, future = rig.engine.submit(make_request())
        result = future.result(5)
        # Shutdown drops markouts not yet due: wait for the three (the idle virtual clock
        # jumps to each; a loaded machine may take a moment to get there).
        _wait(lambda: sum(r["event"] == "markout" for r in rig.snapshot()) == 3, 10.0)
    finally:
        rig.close()
    assert result.status is ParentStatus.FILLED
    assert (result.filled_quantity, result.average_price) == (130, 100.5)
    rows = rig.file_rows()
    # The fill's markouts come after the parent's end, one row per horizon as each falls due.
    assert [r["event"] for r in rows] == ["accepted", "placed", "filled", "finished",
                                          "markout", "markout", "markout"]
    markouts = rows[4:]
    assert [r["markout_s"] for r in markouts] == [1.0, 5.0, 60.0]
    for markout in markouts:  # the book never moved: the mid is the arrival mid
        assert markout["markout_mid"] == 100.25 and markout["fill_price"] == 100.5
        assert markout["markout_bps"] == pytest.approx((100.5 - 100.25) / 100.5 * 1e4)
        assert markout["ts"] - rows[2]["ts"] >= markout["markout_s"]
    placed = rows[1]
    for name in V1_FIELDS:
        assert name in placed
    assert placed["tradingsymbol"] == SYMBOL and placed["execution_algo"] == "IMMEDIATE"
    assert (placed["child_index"], placed["children"], placed["quantity"]) == (1, 1, 130)
    assert placed["arrival_price"] == 100.25 and placed["queue_priority"] == "take"
    assert placed["route"] == "memory" and placed["status"] == "placed"
    assert placed["expected_slippage"] == pytest.approx(0.25) and placed["latency_ms"] >= 0
    assert rig.broker.placed[0].order_type is OrderType.MARKET
    assert rig.broker.placed[0].market_protection == -1
    assert len(rig.broker.placed[0].tag) <= 20 and rig.broker.placed[0].tag.isalnum()
    filled = rows[2]
    assert filled["fill_price"] == 100.5 and filled["realized_slippage"] == pytest.approx(0.25)
    assert filled["realized_slippage_bps"] == pytest.approx(0.25 / 100.25 * 1e4)
    assert rows == rig.snapshot(parent_id)  # the file and the signal payloads are the same rows
    assert_books_balance(rows, 130)


def test_a_sell_filled_below_its_arrival_price_reports_a_positive_cost(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        _, future = rig.engine.submit(make_request(side="SELL"))
        result = future.result(5)
    finally:
        rig.close()
    assert (result.filled_quantity, result.average_price) == (130, 100.0)  # sold at the bid
    rows = rig.file_rows()
    filled = next(r for r in rows if r["event"] == "filled")
    finished = next(r for r in rows if r["event"] == "finished")
    for row in (filled, finished):  # 0.25 below the 100.25 mid is a cost for a seller
        assert row["realized_slippage"] == pytest.approx(0.25)
        assert row["realized_slippage_bps"] == pytest.approx(0.25 / 100.25 * 1e4)


def test_a_sell_filled_above_its_arrival_price_reports_a_gain(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        parent_id, future = rig.engine.submit(
            make_request(side="SELL", order_type="LIMIT", limit_price=101.0))
        _wait(lambda: "placed" in rig.events(parent_id))
        rig.broker.fill(str(rig.broker.orders()[0].order_id))  # at its 101.0 limit
        future.result(5)
    finally:
        rig.close()
    filled = next(r for r in rig.file_rows() if r["event"] == "filled")
    assert filled["fill_price"] == 101.0
    assert filled["realized_slippage"] == pytest.approx(-0.75)


def test_immediate_order_above_the_freeze_quantity_goes_out_as_several_children(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        _, future = rig.engine.submit(make_request(quantity=65 * 60))  # 3900 > 1755 per order
        result = future.result(5)
    finally:
        rig.close()
    sizes = [o.quantity for o in rig.broker.placed]
    assert sum(sizes) == 3900 and max(sizes) <= 1755
    assert all(q % 65 == 0 for q in sizes) and len(sizes) == 3
    assert result.status is ParentStatus.FILLED and len(result.order_ids) == 3
    assert_books_balance(rig.file_rows(), 3900)


def test_resting_limit_is_cancelled_on_request_and_returns_its_quantity(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        parent_id, future = rig.engine.submit(
            make_request(order_type="LIMIT", limit_price=99.0, quantity=195))
        _wait(lambda: "placed" in rig.events(parent_id))
        order_id = rig.broker.placed and rig.broker.orders()[0].order_id
        rig.broker.fill(str(order_id), quantity=65, price=99.0)  # one lot trades first
        _wait(lambda: "filled" in rig.events(parent_id))
        rig.engine.cancel(parent_id)
        result = future.result(5)
    finally:
        rig.close()
    assert result.status is ParentStatus.CANCELLED
    assert (result.filled_quantity, result.unfilled_quantity) == (65, 130)
    rows = rig.file_rows()
    cancelled = [r for r in rows if r["event"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["filled_quantity"] == 65
    assert_books_balance(rows, 195)


def test_each_partial_fill_is_reported_at_its_own_price_not_the_orders_average(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        parent_id, future = rig.engine.submit(
            make_request(order_type="LIMIT", limit_price=99.0, quantity=195))
        _wait(lambda: "placed" in rig.events(parent_id))
        order_id = str(rig.broker.orders()[0].order_id)
        rig.broker.fill(order_id, quantity=65, price=99.0)
        _wait(lambda: rig.events(parent_id).count("filled") == 1)
        rig.broker.fill(order_id, quantity=130, price=97.0)  # the order averages 97.67
        result = future.result(5)
    finally:
        rig.close()
    rows = rig.file_rows()
    fills = [(r["filled_quantity"], r["fill_price"]) for r in rows if r["event"] == "filled"]
    assert fills == [(65, 99.0), (130, pytest.approx(97.0))]
    assert result.average_price == pytest.approx((65 * 99.0 + 130 * 97.0) / 195)
    assert_books_balance(rows, 195)


def test_twap_over_thirty_virtual_minutes_spaces_its_children(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, bid=100.0, ask=100.05)  # one tick: the router takes
    try:
        start = rig.clock.now()
        _, future = rig.engine.submit(make_request(
            quantity=65 * 10, execution_algo="TWAP", max_child_orders=10, horizon_s=1800,
            randomize_slices=False))
        result = future.result(10)
    finally:
        rig.close()
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 650
    placed = [r for r in rig.file_rows() if r["event"] == "placed"]
    offsets = [round(r["ts"] - start) for r in placed]
    assert offsets == [180 * k for k in range(10)]
    assert rig.clock.now() - start >= 1620  # the last slice went out 27 minutes in
    assert_books_balance(rig.file_rows(), 650)


def test_unfilled_passive_slice_rolls_into_the_next_and_the_final_slice_takes(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)  # 10-tick spread: a normal-urgency TWAP joins the bid and rests
    try:
        _, future = rig.engine.submit(make_request(
            quantity=65 * 3, execution_algo="TWAP", max_child_orders=3, horizon_s=300,
            randomize_slices=False))
        result = future.result(10)
    finally:
        rig.close()
    sizes = [o.quantity for o in rig.broker.placed]
    assert sizes == [65, 130, 195]  # each slice re-sends what the previous one left
    assert [o.limit_price for o in rig.broker.placed[:2]] == [100.0, 100.0]  # joined the bid
    final = rig.broker.placed[2]  # the final slice takes, so the TWAP completes in its window
    assert final.order_type is OrderType.MARKET
    assert result.status is ParentStatus.FILLED
    assert (result.filled_quantity, result.average_price) == (195, 100.5)
    assert_books_balance(rig.file_rows(), 195)


def _wait(condition: object, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def test_pov_without_a_volume_history_warns_before_it_starts(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, bid=100.0, ask=100.05)
    try:
        _, future = rig.engine.submit(make_request(
            quantity=65 * 4, execution_algo="POV", participation_rate=0.2, horizon_s=120))
        result = future.result(10)
    finally:
        rig.close()
    rows = rig.file_rows()
    warnings = [r for r in rows if r["event"] == "warning"]
    assert warnings and "volume" in warnings[0]["message"]
    assert rows[0]["event"] == "accepted" and rows[1]["event"] == "warning"
    assert result.filled_quantity + result.unfilled_quantity == 260
    assert_books_balance(rows, 260)


def stall_quotes(rig: Rig, calls: range, on_stall: Callable[[], None] | None = None) -> None:
    """The broker's quotes of the traded instrument fail (throttled) for the calls numbered in
    ``calls`` (from 1); the index's quote (read once as the parent is accepted, for its
    ``underlying_price``) is not counted."""
    real_quote = rig.broker.quote
    count = {"n": 0}

    def stalling_quote(symbol: str, exchange: str):  # type: ignore[no-untyped-def]
        if exchange in ("NSE", "BSE"):
            return real_quote(symbol, exchange)
        count["n"] += 1
        if count["n"] in calls:
            if on_stall is not None:
                on_stall()
            raise NetworkException("Too many requests", code=429)
        return real_quote(symbol, exchange)

    rig.broker.quote = stalling_quote  # type: ignore[method-assign]


def test_a_child_is_never_priced_from_a_quote_older_than_the_limit(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, bid=100.0, ask=100.05)
    # Throttled for a while, then the market data comes back; the market moves meanwhile.
    stall_quotes(rig, range(2, 9), lambda: rig.broker.set_book(SYMBOL, 91.0, 91.05))
    rig.broker.set_book(SYMBOL, 90.0, 90.05)  # the live book differs from the request's
    try:
        _, future = rig.engine.submit(make_request(
            quantity=195, execution_algo="TWAP", max_child_orders=3, horizon_s=9,
            randomize_slices=False))
        result = future.result(5)
    finally:
        rig.close()
    placed = [r for r in rig.file_rows() if r["event"] == "placed"]
    # The first slice from a fresh quote; the second waited (its last quote was 3 s old, over
    # the 2 s limit) until quotes came back, and went out at the new book, never at 90.025.
    assert [r["mid_at_send"] for r in placed[:2]] == [90.025, 91.025]
    assert all(r["quote_source"] == "paper" and r["quote_age_ms"] <= 2000 for r in placed)
    assert placed[1]["ts"] - placed[0]["ts"] > 3.0
    assert result.filled_quantity == 195


def test_slices_that_fell_overdue_go_out_merged_not_back_to_back(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, bid=100.0, ask=100.05)
    # Market data stalls from 0.5 s to 5.5 s (after the first slices): every read fails.
    real_quote = rig.broker.quote

    def stalling_quote(symbol: str, exchange: str):  # type: ignore[no-untyped-def]
        if 0.5 <= rig.clock.elapsed < 5.5:
            raise NetworkException("Too many requests", code=429)
        return real_quote(symbol, exchange)

    rig.broker.quote = stalling_quote  # type: ignore[method-assign]
    try:
        _, future = rig.engine.submit(make_request(
            quantity=65 * 6, execution_algo="TWAP", max_child_orders=6, horizon_s=6,
            randomize_slices=False))
        result = future.result(5)
    finally:
        rig.close()
    placed = [r for r in rig.file_rows() if r["event"] == "placed"]
    assert result.filled_quantity == 390
    assert [r["quantity"] for r in placed][:2] == [65, 65]
    # A slice waited for a fresh quote for seconds; the slices that fell due meanwhile went
    # out with it as one child instead of several orders back to back.
    assert len(placed) < 6 and max(r["quantity"] for r in placed) >= 195
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(placed)]
    assert min(gaps) > 0.5, gaps


class ProtocolOnlyBroker:
    """A broker with nothing but the Broker protocol (no batched quotes, no stream)."""

    name = "minimal"
    capabilities = BrokerCapabilities(errors=KITE_ERRORS)  # nothing beyond the protocol

    def __init__(self, inner: InMemoryBroker) -> None:
        self._inner = inner
        self.clock = inner.clock

    def place_order(self, order):  # type: ignore[no-untyped-def]
        return self._inner.place_order(order)

    def cancel_order(self, order_id: str) -> None:
        self._inner.cancel_order(order_id)

    def orders(self):  # type: ignore[no-untyped-def]
        return self._inner.orders()

    def quote(self, tradingsymbol: str, exchange: str):  # type: ignore[no-untyped-def]
        return self._inner.quote(tradingsymbol, exchange)

    def session_seconds(self, epoch: float) -> float:
        return self._inner.session_seconds(epoch)


def test_a_broker_with_only_the_protocols_quote_is_priced_through_rest(tmp_path: Path) -> None:
    clock = VirtualClock()
    broker = ProtocolOnlyBroker(InMemoryBroker(clock=clock, bid=90.0, ask=90.05))
    engine = ExecutionEngine(broker, clock=clock, config=EngineConfig(id_seed=3))
    rows: list[dict[str, object]] = []
    engine.add_listener(rows.append)
    _, future = engine.submit(make_request(order_type="LIMIT", limit_price=95.0))
    result = future.result(5)
    engine.shutdown(5)
    (placed,) = [r for r in rows if r["event"] == "placed"]
    assert result.status is ParentStatus.FILLED
    assert placed["quote_source"] == "rest" and placed["mid_at_send"] == 90.025


def test_a_symbol_the_paper_exchange_does_not_list_fails_on_the_loop_then_is_refused_at_once(
        tmp_path: Path) -> None:
    """The caller's thread never asks the broker: the first parent of a symbol not known yet
    is checked on the loop (it fails there, naming ``tradingsymbol``, nothing sent); once
    known, the next is refused at submit."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock)
    engine = ExecutionEngine(broker, clock=clock)
    rows: list[dict[str, object]] = []
    engine.add_listener(rows.append)
    try:
        _, first = engine.submit(make_request(tradingsymbol="NIFTY99Z9999999CE"))
        result = first.result(10)
        reason = "NIFTY99Z9999999CE is not listed on NFO (paper)"
        assert result.status is ParentStatus.FAILED
        assert result.message == f"tradingsymbol: {reason}; nothing was sent"
        assert [(r["event"], r["status"], r["error_bucket"]) for r in rows] == [
            ("cancelled", "cancelled", None),  # its one child, never sent
            ("finished", "failed", "fatal")]
        with pytest.raises(RequestError) as info:
            engine.submit(make_request(tradingsymbol="NIFTY99Z9999999CE"))
        assert info.value.problems == [("tradingsymbol", reason)]
        assert broker.orders() == []
        listed = next(i.tradingsymbol for i in broker.instruments("NIFTY") if i.is_option)
        _, future = engine.submit(make_request(tradingsymbol=listed))  # a listed one goes
        assert future.result(10).status is ParentStatus.FILLED
    finally:
        engine.shutdown(5.0)
    assert {o.tradingsymbol for o in broker.orders()} == {listed}
