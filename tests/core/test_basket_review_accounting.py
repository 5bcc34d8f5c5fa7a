"""Review of issue 10 (option baskets): the basket's own accounting, without an engine."""

from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace

from imperium_exec.baskets.request import BasketRequest
from imperium_exec.baskets.runner import BasketRun
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.event_factory import EventFactory
from imperium_exec.engine.state import ExecutionResult
from imperium_exec.events import Event, ParentStatus
from imperium_exec.request import ExecutionRequest


def request(symbol: str, side: str, quantity: int) -> ExecutionRequest:
    return ExecutionRequest.model_validate(dict(
        tradingsymbol=symbol, exchange="NFO", side=side, quantity=quantity, lot_size=65,
        tick_size=0.05, freeze_quantity=1800, bid=100.0, ask=100.5))


def result(parent_id: str, status: ParentStatus, quantity: int, filled: int,
           message: str | None = None) -> ExecutionResult:
    return ExecutionResult(parent_id=parent_id, status=status, quantity=quantity,
                           filled_quantity=filled, unfilled_quantity=max(0, quantity - filled),
                           average_price=100.0, order_ids=(), children=(), message=message)


def test_a_basket_with_a_leg_short_is_not_reported_filled() -> None:
    """``BasketRun._finish`` calls the basket filled ("every leg filled") when the *sum* of the
    legs' fills equals the sum of their quantities. A leg overfilled by a late order from a
    timed-out attempt (the finisher's "overfilled by N") then hides another leg that ended
    short: here the hedge got 65 extra from its ghost and the covered leg was rejected half
    way. The basket was stopped, yet it says filled, and the desk offers no Complete."""
    basket = BasketRequest(legs=(request("NIFTY26D0125000CE", "BUY", 65),
                                 request("NIFTY26D0125100CE", "SELL", 130)))
    rows: list[Event] = []

    async def run() -> concurrent.futures.Future:
        clock = VirtualClock()
        future: concurrent.futures.Future = concurrent.futures.Future()
        events = EventFactory(clock, "paper", "memory")
        run = BasketRun("B1", basket, basket.legging_rules(), future, clock, events,
                        rows.append)
        results = [result("P1", ParentStatus.FILLED, 65, 130,
                          "overfilled by 65 (late order from a timed-out attempt)"),
                   result("P2", ParentStatus.FAILED, 130, 65, "child 2 rejected: margin")]
        legs = []
        for leg, res in zip(basket.legs, results, strict=True):
            done: concurrent.futures.Future = concurrent.futures.Future()
            done.set_result(res)
            legs.append(SimpleNamespace(request=leg, future=done, task=None, stopping=True,
                                        basket=None))
        run.legs = legs  # type: ignore[assignment]
        run.leg_finished(legs[1], results[1])  # type: ignore[arg-type]
        await asyncio.sleep(0)
        return future

    basket_result = asyncio.run(run()).result(0)
    assert basket_result.status is not ParentStatus.FILLED, basket_result.message
    assert basket_result.completion() is not None  # the covered leg has 65 left
