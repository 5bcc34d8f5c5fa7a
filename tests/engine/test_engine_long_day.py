"""One engine runs the desk's whole day, and the suite and the what-if replays build many engines
in one process: what finished parents leave behind must not make the next ones dearer."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

from engine_support import assert_books_balance, make_request, make_rig

from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.events import ParentStatus

NO_MARKOUTS = EngineConfig(id_seed=7, markout_horizons_s=())


def test_a_book_read_passes_over_the_orders_an_earlier_read_found_settled(
        tmp_path: Path) -> None:
    # The order book holds every order of the day: applying each of them again on every read
    # made a read's work grow with the day's orders, parent after parent.
    rig = make_rig(tmp_path, config=NO_MARKOUTS)
    try:
        earlier = [rig.engine.submit(make_request(quantity=65))[1] for _ in range(20)]
        for future in earlier:
            assert future.result(30).status is ParentStatus.FILLED
        tracker = rig.engine.orders
        reads, applied = tracker.book_reads, tracker.book_orders_applied
        assert len(rig.broker.orders()) == 20

        parent_id, future = rig.engine.submit(make_request(
            quantity=195, execution_algo="TWAP", max_child_orders=3, horizon_s=60))
        result = future.result(30)

        new_reads = tracker.book_reads - reads
        assert result.status is ParentStatus.FILLED and result.filled_quantity == 195
        assert new_reads >= 1  # its fills were learned from the book
        # Each read applied at most the new parent's 3 orders, none of the 20 settled ones.
        assert tracker.book_orders_applied - applied <= 3 * new_reads
        assert_books_balance(rig.snapshot(parent_id), 195)
    finally:
        rig.close()


def test_after_its_parents_finish_the_engine_holds_nothing_of_them_but_the_days_record(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path, config=NO_MARKOUTS)
    try:
        futures = [rig.engine.submit(make_request(
            quantity=130, execution_algo="TWAP", max_child_orders=2, horizon_s=60,
            tradingsymbol=f"NIFTY26D01{25000 + 50 * i}CE"))[1] for i in range(10)]
        for future in futures:
            assert future.result(30).status is ParentStatus.FILLED
        engine = rig.engine
        # Kept by design: the ids issued today and the desk's fills (a day, for impact).
        assert engine.orders.working_order_ids() == [] and engine.orders.watched_tags() == []
        assert engine.admission.permits() == []
        assert engine.market_data.subscribed() == frozenset()

        async def parents_held() -> int:
            return len(engine.runner.parents)

        assert asyncio.run_coroutine_threadsafe(parents_held(), engine.loop).result(5) == 0
    finally:
        rig.close()


def test_a_shut_down_engine_ends_its_thread_and_can_be_collected(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    rig = make_rig(tmp_path)
    engine_threads = [t for t in threading.enumerate()
                      if t not in before and t.name == "imperium-exec-engine"]
    future = rig.engine.submit(make_request(quantity=130, execution_algo="TWAP",
                                            max_child_orders=2, horizon_s=60))[1]
    assert future.result(30).status is ParentStatus.FILLED
    rig.close()
    gone = weakref.ref(rig.engine)
    del rig, future

    assert len(engine_threads) == 1 and not engine_threads[0].is_alive()
    gc.collect()
    assert gone() is None
