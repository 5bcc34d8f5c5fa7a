"""Markout rows: the mid 1 and 5 seconds after each fill, against the fill, written when due."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import make_request, make_rig

from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.events import EventKind, read_event


def test_each_fill_gets_a_markout_row_per_horizon_with_the_mid_then(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, config=EngineConfig(id_seed=7, markout_horizons_s=(1.0, 5.0)))
    try:
        _, future = rig.engine.submit(make_request(quantity=130))
        future.result(5)
        deadline = time.monotonic() + 10
        while sum(r["event"] == "markout" for r in rig.snapshot()) < 2:
            assert time.monotonic() < deadline, "markouts not written"
            time.sleep(0.01)
    finally:
        rig.close()
    rows: list[dict[str, Any]] = rig.file_rows()
    fill = next(r for r in rows if r["event"] == "filled")
    markouts = [r for r in rows if r["event"] == "markout"]
    assert [m["markout_s"] for m in markouts] == [1.0, 5.0]
    for m in markouts:
        assert (m["child_id"], m["fill_price"], m["filled_quantity"]) == (
            fill["child_id"], fill["fill_price"], fill["filled_quantity"])
        assert m["markout_bps"] == pytest.approx(
            (m["fill_price"] - m["markout_mid"]) / m["fill_price"] * 1e4)
        assert m["ts"] >= fill["ts"] + m["markout_s"]
        assert not read_event(m).is_child_event  # not an order event: not in the blotter
    # Bought at the ask (100.5) with the book still 100.0 / 100.5: the half-spread is a cost.
    assert markouts[-1]["markout_mid"] == 100.25
    assert markouts[-1]["markout_bps"] == pytest.approx(0.25 / 100.5 * 1e4)
    assert EventKind.MARKOUT.value == "markout"
    assert rig.engine.markouts.pending == 0


def test_a_markout_never_reads_a_quote_from_before_its_horizon(tmp_path: Path) -> None:
    """The book moves the moment the child fills: the +1 s markout must see the new mid, not
    the quote the child was priced from (younger than the service's usual 2 s age limit)."""
    rig = make_rig(tmp_path, config=EngineConfig(id_seed=7, markout_horizons_s=(1.0,)))

    def move_the_book(row: dict[str, Any]) -> None:
        if row["event"] == "filled":
            rig.broker.set_book(row["tradingsymbol"], 101.0, 101.5)

    rig.engine.add_listener(move_the_book)
    try:
        _, future = rig.engine.submit(make_request(quantity=130))
        future.result(5)
        deadline = time.monotonic() + 10
        while not any(r["event"] == "markout" for r in rig.snapshot()):
            assert time.monotonic() < deadline, "markout not written"
            time.sleep(0.01)
    finally:
        rig.close()
    (markout,) = [r for r in rig.file_rows() if r["event"] == "markout"]
    assert markout["markout_mid"] == 101.25


def test_closing_drops_markouts_not_yet_due_and_cancels_those_being_written() -> None:
    """At shutdown the engine closes the tracker: no markout is written after it, none is
    left pending, and no coroutine is left unawaited (a task cut off by the loop's stop)."""
    import asyncio
    import gc
    import warnings
    from types import SimpleNamespace

    from imperium_exec.clock import RealClock
    from imperium_exec.engine.markouts import MarkoutTracker

    emitted: list[object] = []
    slow_read = asyncio.Event()

    class MarketData:
        def subscribe(self, keys: list[str]) -> None:
            pass

        def unsubscribe(self, keys: list[str]) -> None:
            pass

        async def fresh(self, key: str, *, timeout: float, max_age: float) -> None:
            await slow_read.wait()  # a quote that never comes before the close

        config = SimpleNamespace(max_age_s=2.0)

    request = SimpleNamespace(exchange="NFO", tradingsymbol="NIFTY26D0126000CE",
                              side=SimpleNamespace(sign=1))
    parent = SimpleNamespace(request=request)

    async def scenario() -> MarkoutTracker:
        tracker = MarkoutTracker(clock=RealClock(), market_data=MarketData(),  # type: ignore[arg-type]
                                 events=None, emit=emitted.append,  # type: ignore[arg-type]
                                 horizons_s=(0.01, 60.0))
        tracker.on_fill(parent, SimpleNamespace(), 65, 100.0)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # the 0.01 s markout is being written, the 60 s one is not due
        assert tracker.pending == 2
        await tracker.close()
        tracker.on_fill(parent, SimpleNamespace(), 65, 100.0)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        return tracker

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = asyncio.run(scenario())
        gc.collect()
    assert tracker.pending == 0 and emitted == []
    assert not [w for w in caught if "never awaited" in str(w.message)]
