"""After a lost session and a new login, the trader decides about the halted parents: nothing
goes out on its own, an adoption is refused rather than risk an overfill, and cancelling the
orphans never touches another desk's orders."""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

import pytest
from kiteconnect import KiteConnect
from test_live_path import Live, resting_twaps, start_live, stop_live

from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from imperium_exec.events import ParentStatus
from imperium_exec.recovery.journal import JournalDay
from imperium_exec.testing.fake_kite.faults import Fault


def expire_and_log_in_again(live: Live, halted: int) -> None:
    live.server.expire_session()
    live.wait_for(lambda: sum(r["event"] == "paused" for r in live.events()) == halted)
    live.server.restore_session()
    live.engine.resume_session("t").result(15)


def fails(future: Future[ExecutionResult], timeout: float = 15.0) -> str:
    with pytest.raises(ValueError) as info:
        future.result(timeout)
    return str(info.value)


@pytest.fixture
def live() -> Any:
    live = start_live(2)
    yield live
    stop_live(live)


def test_a_halted_parent_with_a_rejected_order_waits_for_the_trader(live: Live) -> None:
    _, future = live.submit(live.instruments[0], quantity=130, freeze_quantity=65,
                            execution_algo="TWAP", max_child_orders=1, horizon_s=600,
                            order_type="LIMIT", limit_price=90.0)
    live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) == 2)
    live.server.expire_session()
    live.wait_for(lambda: any(r["event"] == "paused" for r in live.events()))
    first, _ = live.server.recorded_orders()
    live.server.reject(first["order_id"], "RMS: blocked")  # while the desk cannot see
    live.server.restore_session()
    live.engine.resume_session("t").result(15)
    time.sleep(1.0)
    assert live.server.requests_to("cancel") == []
    assert not future.done()


def test_adopting_twice_refuses_the_second_and_leaves_no_handle_hanging(live: Live) -> None:
    (parent_id, _), = resting_twaps(live, 1)
    expire_and_log_in_again(live, 1)
    # The first adoption's cancel of the old order is answered a second late, so it is still
    # under way when the second comes (on a busy machine a prompt one could be over first).
    live.server.fail_next("cancel", Fault.slow(1.0))
    _, first = live.engine.adopt(parent_id, window_s=1.0)  # the rest as one slice
    _, second = live.engine.adopt(parent_id, window_s=1.0)
    assert "already being adopted" in fails(second)
    live.wait_for(lambda: len(live.server.recorded_orders()) == 2)
    live.server.set_quote(live.instruments[0].tradingsymbol, bid=89.5, ask=90.0)
    assert first.result(20).status is ParentStatus.FILLED


def test_after_a_new_login_the_desks_quotes_ride_the_new_stream(live: Live) -> None:
    key = f"NFO:{live.instruments[1].tradingsymbol}"
    live.engine.watch_quotes([key])
    live.wait_for(lambda: live.engine.services.stream is not None
                  and live.engine.services.stream.is_live(key))
    before = live.engine.services.stream
    resting_twaps(live, 1)
    expire_and_log_in_again(live, 1)
    stream = live.engine.services.stream
    assert stream is not None and stream is not before
    live.wait_for(lambda: stream.is_live(key), 5.0)


def test_an_attempt_still_watched_for_a_late_order_keeps_the_parent_from_being_adopted(
        live: Live) -> None:
    """Its order may still turn up and fill: adopting the rest now could overfill."""
    live.server.fail_next("place", Fault.order_timed_out(appear_after_s=30.0))
    parent_id, _ = live.submit(live.instruments[0], quantity=130, execution_algo="TWAP",
                               max_child_orders=2, horizon_s=600, order_type="LIMIT",
                               limit_price=90.0, randomize_slices=False)
    live.wait_for(lambda: any(r["event"] == "reconciling" for r in live.events()))
    expire_and_log_in_again(live, 1)
    assert live.engine.orders.watched_tags()
    _, adopted = live.engine.adopt(parent_id, window_s=2.0)
    assert "may still turn up" in fails(adopted)
    assert not any((o["tag"] or "").startswith(parent_id) and o["status"] == "OPEN"
                   for o in live.server.recorded_orders())


def test_an_adoption_that_cannot_be_sent_ends_the_held_parent_not_adopted(
        live: Live) -> None:
    (parent_id, old), = resting_twaps(live, 1)
    expire_and_log_in_again(live, 1)
    new_id, adopted = live.engine.adopt(parent_id, window_s=0.0)  # no window: no plan
    assert "not adopted" in fails(adopted)
    finished = old.result(10)
    assert finished.message is not None and finished.message.startswith("not adopted: ")
    assert f"adopted as {new_id}" not in finished.message
    assert not any((o["tag"] or "").startswith(new_id)
                   for o in live.server.recorded_orders())


def test_cancel_orphans_right_after_adopt_sends_nothing_new(live: Live) -> None:
    (parent_id, _), = resting_twaps(live, 1)
    expire_and_log_in_again(live, 1)
    new_id, adopted = live.engine.adopt(parent_id, window_s=30.0)
    live.engine.cancel_orphans().result(15)
    assert "cancelled by the trader" in fails(adopted)
    assert not any((o["tag"] or "").startswith(new_id)
                   for o in live.server.recorded_orders())


def test_a_failed_basket_legs_open_orders_are_strays_not_unknown_after_a_new_login(
        live: Live) -> None:
    legs = [dict(tradingsymbol=inst.tradingsymbol, exchange="NFO", side="BUY", quantity=65,
                 lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=100.0, ask=100.5,
                 order_type="LIMIT", limit_price=90.0, execution_algo="TWAP",
                 max_child_orders=1, horizon_s=600) for inst in live.instruments[:2]]
    _, _, future = live.engine.submit_basket(BasketRequest.model_validate({"legs": legs}))
    live.wait_for(lambda: sum(r["event"] == "placed" for r in live.events()) == 2)
    live.server.expire_session()
    future.result(10)  # (a basket's legs end at a lost session)
    live.server.restore_session()
    report = live.engine.resume_session("t").result(15)
    assert report.unknown_orders == () and len(report.stray_orders) == 2
    live.engine.cancel_orphans().result(15)
    assert all(o["status"] == "CANCELLED" for o in live.server.recorded_orders())


def test_cancel_orphans_never_cancels_another_desks_orders(live: Live) -> None:
    resting_twaps(live, 1)  # desk A: working, healthy
    kite = KiteConnect(api_key="k", access_token="t", root=live.server.root, timeout=2)
    other = ExecutionEngine(KiteBroker(kite, ticker_root=None), mode="live",
                            clock=RealClock(), config=EngineConfig())
    try:
        report = other.recover(JournalDay((), frozenset(), 0, 0), None).result(15)
        assert len(report.unknown_orders) == 1  # listed for the trader to look at
        other.cancel_orphans().result(15)
    finally:
        other.shutdown(5.0)
    assert [o["status"] for o in live.server.recorded_orders()] == ["OPEN"]
