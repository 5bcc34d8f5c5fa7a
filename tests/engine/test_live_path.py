"""The live path under Kite's real limits: the real kiteconnect client, the fake Kite server with
its ticker WebSocket, the engine on a real clock, many parents on many instruments at once.

What these guard: N parents on N strikes place their last first order within 1.5x the write
floor (N/10 s); concurrent TWAPs stay on schedule; quote calls stay at one a second; nothing
provokes a 429; the kill switch stops what is queued and cancels what rests within 3 s; a lost
session halts everything once; shutdown settles state before results.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
from kiteconnect import KiteConnect

from imperium_exec.brokers import KiteBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.engine.execution_engine import (
    EngineConfig,
    ExecutionEngine,
    ExecutionResult,
    SessionExpired,
)
from imperium_exec.events import ParentStatus, QuoteSource
from imperium_exec.request import ExecutionRequest
from imperium_exec.testing import FakeInstrument, FakeKiteServer, nifty_strip

BID, ASK = 100.0, 100.5


@dataclass
class Live:
    server: FakeKiteServer
    engine: ExecutionEngine
    instruments: tuple[FakeInstrument, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, inst: FakeInstrument, **kw: Any) -> tuple[str, Future[ExecutionResult]]:
        fields: dict[str, Any] = dict(tradingsymbol=inst.tradingsymbol, exchange="NFO",
                                      side="BUY", quantity=65, lot_size=65, tick_size=0.05,
                                      freeze_quantity=1800, bid=BID, ask=ASK)
        fields.update(kw)
        return self.engine.submit(ExecutionRequest.model_validate(fields))

    def events(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.rows if parent_id is None or r["parent_id"] == parent_id]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.01)


def start_live(count: int, *, stream: bool = True, config: EngineConfig | None = None,
               broker_kw: dict[str, Any] | None = None, clock: VirtualClock | None = None,
               **server_kw: Any) -> Live:
    """The desk on ``count`` strikes against the fake Kite, on the real clock by default.

    With a ``clock``, the engine and the fake Kite share that virtual clock (Kite's limits
    are counted in its calendar seconds) and there is no ticker: the ticker's heartbeats and
    its silence watchdog run on real time, so fills are read from the order book instead."""
    instruments = nifty_strip(count)
    server_kw.setdefault("ticker_heartbeat_s", 0.25)
    if clock is not None:
        stream = False
        server_kw["clock"] = clock.now
    server = FakeKiteServer(instruments=instruments, **server_kw).start()
    for inst in instruments:
        server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK)
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
    broker = KiteBroker(kite, ticker_root=server.ticker_root if stream else None,
                        ticker_silence_s=1.0, **(broker_kw or {}))
    engine = ExecutionEngine(broker, mode="live", clock=clock or RealClock(),
                             config=config or EngineConfig(id_seed=None))
    live = Live(server, engine, instruments)

    def collect(row: dict[str, Any]) -> None:
        with live.lock:
            live.rows.append(row)

    engine.add_listener(collect)
    if stream:
        live.wait_for(lambda: server.ticker_connections == 1, 5.0)
    return live


def stop_live(live: Live) -> None:
    live.engine.shutdown(10.0)
    live.server.stop()


@pytest.fixture
def live40() -> Iterator[Live]:
    live = start_live(60)
    yield live
    stop_live(live)


def max_per_calendar_second(stamps: list[float]) -> int:
    counts: dict[int, int] = {}
    for at in stamps:
        counts[math.floor(at)] = counts.get(math.floor(at), 0) + 1
    return max(counts.values(), default=0)


# ------------------------------------------------------------------ many parents at once


# 40 parents on 40 instruments (more than the engine's 16 broker threads) keep the write lane
# at Kite's 10 a second for four calendar seconds; a quote call per parent (the bug this guards:
# 100 quote calls at 1 a second) would take 40 s against a 6 s bound. N = 10 and 40 run on the
# real clock (a place call queueing behind a quote call, lateness under load); N = 100 (ten
# seconds of write floor by construction) runs on a virtual clock the engine and the fake Kite
# share, where Kite's limits are counted in its calendar seconds and a broker call takes no
# time: the budget's own schedule. bench/bench_live.py measures N = 10, 40 and 100 in real time.
@pytest.mark.parametrize("count,virtual", [
    (10, False), pytest.param(40, False, marks=pytest.mark.slow(seconds=4)), (100, True)])
def test_n_parents_on_n_strikes_place_their_last_first_order_within_1_5x_the_write_floor(
        count: int, virtual: bool) -> None:
    clock = VirtualClock(auto_advance=False) if virtual else None  # still until all are in
    live = start_live(count, clock=clock)
    try:
        started = time.monotonic()
        submitted = [live.submit(inst) for inst in live.instruments]
        if clock is not None:
            clock.run_freely()
        results = [future.result(60) for _, future in submitted]
        elapsed = time.monotonic() - started
    finally:
        stop_live(live)
    placed = {}
    for row in live.events():
        if row["event"] == "placed":
            placed.setdefault(row["parent_id"], row["ts"])
    first_orders = sorted(placed.values())
    t0 = min(r["ts"] for r in live.events() if r["event"] == "accepted") - 0.05
    floor = count / 10.0
    assert len(first_orders) == count and all(r.status is ParentStatus.FILLED for r in results)
    assert first_orders[-1] - t0 <= 1.5 * floor, (first_orders[-1] - t0, elapsed)
    writes = [r.at for r in live.server.requests if r.route in ("place", "cancel")]
    quotes = [r.at for r in live.server.requests if r.route == "quote"]
    assert max_per_calendar_second(writes) <= 10
    assert max_per_calendar_second(quotes) <= 1
    assert live.server.throttled == 0


@pytest.mark.slow(seconds=6)
def test_ten_concurrent_twaps_finish_within_a_second_of_their_horizon(live40: Live) -> None:
    live = live40
    # A slice every 3 s: ten writes at each boundary take one second of Kite's budget, so
    # the next boundary finds it free even on a loaded machine (at a slice every 2 s, load 11,
    # one fell due while the last boundary's writes still waited and merged). Two boundaries
    # (three slices) are the same race as four; bench/bench_live.py runs 5 slices over 15 s.
    slices, horizon = 3, 9.0
    submitted = [(time.time(), *live.submit(inst, quantity=65 * slices, execution_algo="TWAP",
                                            max_child_orders=slices, horizon_s=horizon,
                                            randomize_slices=False))
                 for inst in live.instruments[:10]]
    for submitted_at, parent_id, future in submitted:
        result = future.result(40)
        assert result.status is ParentStatus.FILLED and result.filled_quantity == 65 * slices
        finished = next(r for r in live.events(parent_id) if r["event"] == "finished")
        assert finished["ts"] - submitted_at <= horizon + 1.0
        sent = [r for r in live.events(parent_id) if r["event"] in ("placed", "modified")]
        accepted = next(r for r in live.events(parent_id) if r["event"] == "accepted")
        # Every slice on its (start-shifted) schedule, none merged. At each boundary the ten
        # parents re-price their resting child in place (Kite's modify: its quantity grows by
        # the slice, the last one takes at the market): ten writes, one second's worth of
        # Kite's budget (a cancel and a placement each were twenty), so a slice trails its
        # time by well under a padded second (the bound leaves room for a loaded 2-CPU
        # machine).
        assert [r["event"] for r in sent] == ["placed"] + ["modified"] * (slices - 1)
        assert len({r["order_id"] for r in sent}) == 1 and len({r["tag"] for r in sent}) == 1
        shift = accepted["ts"] - sent[0]["send_at"]
        late = [r["ts"] - (sent[0]["send_at"] + k * horizon / slices + shift)
                for k, r in enumerate(sent)]
        assert max(late) <= 2.5, late
    quotes = [r.at for r in live.server.requests if r.route == "quote"]
    assert max_per_calendar_second(quotes) <= 1 and live.server.throttled == 0


@pytest.mark.timing
def test_children_are_priced_from_the_stream_with_the_quote_age_recorded(live40: Live) -> None:
    """Once the stream carries the instrument (the desk's chain watches it), a child is priced
    from the stream's quote, not a REST read, and says how old that quote was."""
    live = live40
    inst = live.instruments[0]
    key = f"NFO:{inst.tradingsymbol}"
    live.engine.watch_quotes([key])

    def streamed() -> bool:
        held = live.engine.quotes([key]).get(key)
        return held is not None and held.source is QuoteSource.STREAM \
            and held.quote.bid == 120.0
    # The fake ticks only when the book changes, and a quiet instrument is read by REST
    # meanwhile: the last trade moves a tick each try, so the stream has news to carry.
    for n in range(40):
        live.server.set_quote(inst.tradingsymbol, bid=120.0, ask=120.5, ltp=120.0 + 0.05 * n)
        with contextlib.suppress(AssertionError):
            live.wait_for(streamed, timeout=0.5)
            break
    assert streamed(), "the stream never carried the instrument's quote"
    # A live instrument keeps trading: its stream stays fresh while the parent gets going (the
    # listing and margin checks come before the child's price; on a loaded machine they took
    # longer than a quote may age, and a REST read then priced it).
    trading = threading.Event()

    def trade_on() -> None:
        for n in itertools.count(40):
            if trading.wait(0.2):
                return
            live.server.set_quote(inst.tradingsymbol, bid=120.0, ask=120.5,
                                  ltp=120.0 + 0.05 * (n % 10))

    ticker = threading.Thread(target=trade_on, daemon=True)
    ticker.start()
    try:
        _, future = live.submit(inst, order_type="LIMIT", limit_price=125.0)
        assert future.result(10).status is ParentStatus.FILLED
    finally:
        trading.set()
        ticker.join(5)
    (placed,) = [r for r in live.events() if r["event"] == "placed"]
    assert placed["quote_source"] == "stream" and placed["quote_age_ms"] < 2000
    assert placed["mid_at_send"] == 120.25  # the live book, not the ticket's 100/100.5


# ------------------------------------------------------------------ the kill switch


@pytest.mark.slow(seconds=3)
def test_kill_switch_stops_everything_queued_and_cancels_every_resting_child(
        live40: Live) -> None:
    live = live40
    # 10 children resting and 20 parents queued behind the write budget (bench/bench_live.py's
    # kill scenario runs 20 and 30): the kill lands while placements flow, a second of budget
    # or more still queued, and the cancels then queue behind what is already past its permit.
    rest, queue = 10, 20
    resting = [live.submit(inst, order_type="LIMIT", limit_price=90.0)
               for inst in live.instruments[:rest]]
    live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) == rest)
    queued = [live.submit(inst, order_type="MARKET")
              for inst in live.instruments[rest:rest + queue]]
    live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) >= rest + 2)
    live.engine.cancel_all()
    returned = time.time()
    results = [future.result(15) for _, future in resting + queued]
    posts_after = [r.at - returned for r in live.server.requests
                   if r.route == "place" and r.at > returned]
    # Beyond requests already on the wire (past their permit check before the kill: at most
    # one second of write budget, landing milliseconds later): none.
    assert len(posts_after) <= 10 and all(delay < 0.5 for delay in posts_after), posts_after
    resting_ids = [res.order_ids[0] for res in results[:rest]]
    cancel_times = {r.path.rsplit("/", 1)[-1]: r.at for r in live.server.requests
                    if r.route == "cancel"}
    assert all(live.server.order(i)["status"] == "CANCELLED" for i in resting_ids)
    # The cancels share the write budget (10 a second) with the placements already past their
    # permit (at most 10, above): at worst rest + 10 writes, plus the wire. (With 20 resting,
    # usually the last cancel landed 2.1 s after the kill; 3.14 s was seen, with and without
    # markouts.)
    assert max(cancel_times[i] for i in resting_ids) - returned <= (rest + 10) / 10 + 0.5
    sent = sum(1 for res in results[rest:] if res.order_ids)
    assert sent < queue and all(r.status is ParentStatus.CANCELLED
                                for r in results if not r.filled_quantity)
    assert live.server.throttled == 0


# ------------------------------------------------------------------ the session


def resting_twaps(live: Live, count: int) -> list[tuple[str, Future[ExecutionResult]]]:
    """``count`` 3-lot TWAPs whose first children rest (a buy at 90 under a 100 bid)."""
    submitted = [live.submit(inst, quantity=65 * 3, execution_algo="TWAP",
                             max_child_orders=3, horizon_s=30, order_type="LIMIT",
                             limit_price=90.0, randomize_slices=False)
                 for inst in live.instruments[:count]]
    live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) == count)
    return submitted


def test_a_token_expiry_halts_every_request_tells_once_and_holds_every_parent() -> None:
    """Halted, not ended: the parents wait for a new login; shut down without one, they end
    failed, naming what may still be live."""
    live = start_live(10)
    try:
        submitted = resting_twaps(live, 3)
        expired_at = time.time()
        live.server.expire_session()
        live.wait_for(lambda: sum(r["event"] == "paused" for r in live.events()) == 3)
        halted = time.time() - expired_at
        after = [r for r in live.server.requests if r.at > expired_at]
        assert not any(future.done() for _, future in submitted)
        with pytest.raises(SessionExpired, match="re-login"):
            live.submit(live.instruments[0])
    finally:
        stop_live(live)
    results = [future.result(0) for _, future in submitted]
    sessions = [r for r in live.events() if r["event"] == "session"]
    assert len(sessions) == 1 and sessions[0]["status"] == "relogin_needed"
    open_ids = [i for res in results for i in res.order_ids]
    assert all(i in sessions[0]["message"] for i in open_ids)  # what may still be live
    assert all(r.status is ParentStatus.FAILED and "re-login" in (r.message or "")
               for r in results)
    assert halted < 5.0 and len(after) <= 3, [(r.route, r.path) for r in after]


def test_after_a_new_login_the_halted_parents_complete_with_no_duplicate() -> None:
    live = start_live(10)
    try:
        submitted = resting_twaps(live, 3)
        first = {o["tradingsymbol"]: o for o in live.server.recorded_orders()}
        live.server.expire_session()
        live.wait_for(lambda: sum(r["event"] == "paused" for r in live.events()) == 3)
        filled_meanwhile = first[live.instruments[0].tradingsymbol]["order_id"]
        live.server.fill(filled_meanwhile)  # while the desk cannot see
        live.server.restore_session()
        report = live.engine.resume_session("t").result(15)
        assert {o.parent_id for o in report.orphans} == {p for p, _ in submitted}
        assert sum(o.filled_while_down for o in report.orphans) == 65
        assert len(report.open_orders) == 2  # the other two first children still rest
        adopted = [live.engine.adopt(p, window_s=2.0) for p, _ in submitted]
        live.wait_for(lambda: all(  # the old orders are cancelled before the new ones go
            any((o["tag"] or "").startswith(p) for o in live.server.recorded_orders())
            for p, _ in adopted))
        for inst in live.instruments[:3]:
            live.server.set_quote(inst.tradingsymbol, bid=89.5, ask=90.0)  # through the bids
        results = [future.result(20) for _, future in adopted]
        old = [future.result(10) for _, future in submitted]
    finally:
        stop_live(live)
    assert all(r.status is ParentStatus.FILLED for r in results)
    assert [r.filled_quantity for r in old] == [65, 0, 0]
    assert [r.filled_quantity for r in results] == [130, 195, 195]
    orders = live.server.recorded_orders()
    tags = [o["tag"] for o in orders]
    assert len(tags) == len(set(tags))
    for inst in live.instruments[:3]:  # exactly what was asked, each fill journaled once
        units = sum(o["filled_quantity"] for o in orders
                    if o["tradingsymbol"] == inst.tradingsymbol)
        journaled = sum(r["filled_quantity"] for r in live.events()
                        if r["event"] == "filled" and r["tradingsymbol"] == inst.tradingsymbol)
        assert units == journaled == 195


# ------------------------------------------------------------------ stream faults


def test_fills_missed_while_the_ticker_was_down_come_from_the_book_after_reconnect(
        live40: Live) -> None:
    live = live40
    inst = live.instruments[0]
    parent_id, future = live.submit(inst, order_type="LIMIT", limit_price=99.0)
    live.wait_for(lambda: any(r["event"] == "placed" for r in live.events(parent_id)))
    order_id = next(r["order_id"] for r in live.events(parent_id) if r["event"] == "placed")
    live.server.drop_ticker()
    live.server.fill(order_id)  # its update is lost: nobody is connected
    result = future.result(10)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 65
    live.wait_for(lambda: live.server.ticker_connections == 1)


def test_a_partial_fills_update_postback_is_counted_before_any_book_read() -> None:
    """Kite says UPDATE for a partial fill (the order stays open): the engine writes the fill
    from the postback (the safety-net book read is a minute away here)."""
    live = start_live(4, config=EngineConfig(id_seed=None, stream_poll_interval_s=60.0))
    try:
        partial_fill_from_the_postback(live)
    finally:
        stop_live(live)


def partial_fill_from_the_postback(live: Live) -> None:
    parent_id, future = live.submit(live.instruments[2], quantity=130, order_type="LIMIT",
                                    limit_price=99.0)
    live.wait_for(lambda: any(r["event"] == "placed" for r in live.events(parent_id)))
    order_id = next(r["order_id"] for r in live.events(parent_id) if r["event"] == "placed")
    time.sleep(0.5)  # (the read a new order wakes is over by now)
    reads = live.engine.orders.book_reads
    live.server.fill(order_id, 65)
    live.wait_for(lambda: any(r["event"] == "filled" for r in live.events(parent_id)), 3.0)
    (fill,) = [r for r in live.events(parent_id) if r["event"] == "filled"]
    assert (fill["filled_quantity"], fill["status"]) == (65, "partially_filled")
    assert live.engine.orders.book_reads == reads  # (it came on the stream, as UPDATE)
    live.engine.cancel(parent_id)
    assert future.result(10).filled_quantity == 65


def test_a_silent_ticker_is_replaced_and_rest_covers_the_gap(live40: Live) -> None:
    live = live40
    stream = live.engine.market_data.stream
    assert stream is not None
    live.server.silence_ticker(True)
    # The ticker's watchdog (1 s without a frame) closes the silent socket; the client then
    # waits out its backoff (0.5 s, less a quarter at most) before it connects again.
    live.wait_for(lambda: live.server.ticker_connections == 0
                  or live.server.ticker_handshakes >= 2)
    live.server.silence_ticker(False)
    _, future = live.submit(live.instruments[1], order_type="LIMIT", limit_price=101.0)
    assert future.result(10).status is ParentStatus.FILLED
    live.wait_for(lambda: live.server.ticker_handshakes >= 2)


# ------------------------------------------------------------------ shutdown


@pytest.mark.slow(seconds=2)
def test_shutdown_settles_fills_before_results_and_never_underreports() -> None:
    live = start_live(20, cancel_pending_s=0.3)
    try:
        submitted = [live.submit(inst, order_type="LIMIT", limit_price=99.0)
                     for inst in live.instruments[:12]]
        live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) == 12)
        ids = {pid: next(r["order_id"] for r in live.events(pid) if r["event"] == "placed")
               for pid, _ in submitted}
        for order_id in itertools.islice(ids.values(), 0, 12, 2):
            live.server.fill(order_id)  # half of them fill as the desk closes
        live.engine.shutdown(15.0)
        results = {pid: future.result(1) for pid, future in submitted}
    finally:
        live.server.stop()
    for pid, result in results.items():
        broker_filled = live.server.order(ids[pid])["filled_quantity"]
        assert result.filled_quantity == broker_filled
    rows = live.events()
    unknown = [(r["event"], r["error"], r["message"]) for r in rows if r["status"] == "unknown"]
    assert not unknown  # every cancel was confirmed
    assert {r["parent_id"] for r in rows if r["event"] == "finished"} == set(results)


# ------------------------------------------------------------------ MARKET children that rest


def test_a_market_child_resting_at_the_protection_price_is_cancelled_and_reported() -> None:
    rest_s = 0.5
    live = start_live(4, config=EngineConfig(market_rest_s=rest_s))
    try:
        inst = live.instruments[0]
        # Thinner than the order: one lot at the touch, nothing behind it within the band.
        live.server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK, ask_quantity=65)
        started = time.monotonic()
        _, future = live.submit(inst, quantity=130, order_type="MARKET")
        result = future.result(10)
        took = time.monotonic() - started
    finally:
        stop_live(live)
    assert result.status is ParentStatus.PARTIAL and result.filled_quantity == 65
    assert "protection" in (result.message or "") and "65 unfilled" in (result.message or "")
    (order_id,) = result.order_ids
    assert live.server.order(order_id)["status"] == "CANCELLED"
    assert rest_s <= took < 5.0  # bounded: a parent never waits forever
