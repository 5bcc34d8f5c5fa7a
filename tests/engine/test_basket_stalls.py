"""Baskets at scale: the two stalls of issue 21 (part 4), held at a small, fast scale.

At forty iron condors at once on the live path with faults, 23 of 40 baskets stopped "held for
30 s" although nothing in the market held them:

- a hedge's last slice had been let go by the basket and was queued for the account's write
  budget (400 order writes a minute, less those kept for cancels): it waited 36 s, 20 s of them
  with the minute's writes used up, while the stall clock saw "nothing moving" and stopped the
  basket (the slice was neither pulled forward nor sent only in that it had not reached Kite);
- a short's attempt of unknown outcome (a 503, its tag not found by the reconcile) counted
  against its cover for the late-order watch's 900 s, so its re-send waited longer than the
  30 s stall timeout.

Here the same, deterministic, on the in-memory broker in virtual time: a minute's write limit
small enough that a few condors queue longer than the stall timeout, and a short's attempt that
answers 503 with nothing placed (or with an order that turns up later). A stall that is the
market's (a hedge's limit nobody fills) still stops the basket, and says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import Rig, make_request, make_rig

from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.brokers.errors import BrokerError
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.engine.rate_budget import AccountRateLimits
from imperium_exec.events import ParentStatus
from imperium_exec.request import Side

STALL_S = 30.0  # the policy's default stall timeout


def condor(strike: int, **leg: Any) -> BasketRequest:
    """An iron condor of one-lot TWAP legs (``leg`` overrides): the put and call wings bought
    100 away, the 100-wide shorts sold."""
    plan = [(strike - 100, "PE", "BUY"), (strike, "PE", "SELL"), (strike + 100, "CE", "SELL"),
            (strike + 200, "CE", "BUY")]
    return BasketRequest(legs=tuple(
        make_request(tradingsymbol=f"NIFTY26D01{k}{kind}", side=side,
                     **({"quantity": 65 * 4, "order_type": "MARKET", "execution_algo": "TWAP",
                         "max_child_orders": 4, "horizon_s": 20.0, "randomize_slices": False}
                        | leg))
        for k, kind, side in plan))


def spread(**policy: Any) -> BasketRequest:
    """A bull call spread, one lot each, IMMEDIATE: BUY the 25000 CE, SELL the 25100 CE."""
    return BasketRequest(legs=(
        make_request(tradingsymbol="NIFTY26D0125000CE", side="BUY", quantity=65,
                     order_type="MARKET"),
        make_request(tradingsymbol="NIFTY26D0125100CE", side="SELL", quantity=65,
                     order_type="MARKET"),
    ), policy=policy or {})


def worst_uncovered(broker: InMemoryBroker, basket_of: dict[str, str]) -> int:
    """Per basket and option type, the most units sold beyond units bought at any fill of the
    broker (its orders in the order they were placed: marketable, they filled then)."""
    worst = 0
    position: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for order in sorted(broker.orders(), key=lambda o: int(o.order_id)):
        key = (basket_of[(order.tag or "")[:10]], order.tradingsymbol[-2:])
        position[key][0 if order.side is Side.BUY else 1] += order.filled_quantity
        worst = max(worst, position[key][1] - position[key][0])
    return worst


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def test_condors_queued_behind_the_minute_write_limit_all_fill(
        tmp_path: Path, rigs: list[Rig]) -> None:
    """Three condors (12 legs, 48 slices) under 10 writes a second but only 12 placements a
    minute (16, four kept for cancels): slices wait in the account's write queue for far longer
    than the stall timeout. That is the engine's queue, not a stall: every basket fills, and
    no short is ever sold beyond what its group has bought."""
    limits = AccountRateLimits(writes_per_second=10, writes_per_minute=16,
                               cancel_reserve_per_minute=4, writes_per_day=None)
    rig = make_rig(tmp_path, bid=100.0, ask=100.05,
                   config=EngineConfig(id_seed=7, rate_limits=limits, markout_horizons_s=()))
    rigs.append(rig)
    started = rig.clock.now()
    handles = [rig.engine.submit_basket(condor(24000 + 1000 * i)) for i in range(3)]
    results = [future.result(60) for _, _, future in handles]
    rows = rig.snapshot()
    basket_of = {parent_id: basket_id for basket_id, parent_ids, _ in handles
                 for parent_id in parent_ids}
    placed = defaultdict(list)
    for r in rows:
        if r["event"] == "placed":
            placed[r["basket_id"]].append(r["ts"])
    longest_gap = max(b - a for times in placed.values()
                      for a, b in zip(sorted(times), sorted(times)[1:], strict=False))
    assert [r.status for r in results] == [ParentStatus.FILLED] * 3, \
        [r.message.splitlines()[0] for r in results]
    assert longest_gap > STALL_S, "the write queue never held a basket past the stall timeout"
    assert rig.clock.now() - started > 3 * 60.0  # 48 placements at 12 a minute
    assert worst_uncovered(rig.broker, basket_of) == 0
    # Nothing sent twice: every order at the broker is one the engine placed, once a child
    # (slices that fell due while the queue held them went out together).
    placed_ids = [r["order_id"] for r in rows if r["event"] == "placed"]
    children = [r["child_id"] for r in rows if r["event"] == "placed"]
    assert sorted(placed_ids) == sorted(o.order_id for o in rig.broker.orders())
    assert len(set(children)) == len(children)


class ShortAnswers503Once(InMemoryBroker):
    """The short's first placement answers 503 ("Request failed (kitetrade-oms)"): ambiguous,
    it may have placed the order. ``record`` places it anyway, shown ``late_by_s`` later (and
    filled, being marketable); else nothing was placed."""

    record = False
    late_by_s = 0.0

    def place_order(self, order: OrderInstruction) -> str:
        if order.side is Side.SELL and not getattr(self, "_failed", False):
            self._failed = True
            self.fail_next(BrokerError("Request failed (kitetrade-oms)", 503),
                           record=self.record, late_by_s=self.late_by_s)
        return super().place_order(order)


def test_a_shorts_attempt_of_unknown_outcome_is_sent_again_after_the_unknown_wait(
        tmp_path: Path, rigs: list[Rig]) -> None:
    """The short's only attempt answers 503 and placed nothing; the reconcile (3 s) does not
    find its tag; the late-order watch keeps it for 900 s. Its units count against the cover
    until the order book, read ``unknown_wait_s`` (60 s, twice the stall timeout) after the
    watch began, still does not show the tag: then the short goes again, and fills. Before,
    the basket stopped at 30 s, held for the watch."""
    rig = make_rig(tmp_path, broker_type=ShortAnswers503Once)
    rigs.append(rig)
    basket_id, (hedge_id, short_id), future = rig.engine.submit_basket(spread())
    result = future.result(60)
    assert result.status is ParentStatus.FILLED, result.message
    rows = rig.snapshot(short_id)
    retry = next(r for r in rows if r["event"] == "retry")
    placed = next(r for r in rows if r["event"] == "placed")
    assert placed["attempt"] == 2
    waited = placed["ts"] - retry["ts"]
    assert 60.0 <= waited < 60.0 + 10.0, waited  # the unknown wait, then one book read
    held = [r["message"] for r in rows if r["event"] == "warning"]
    assert held and "waits for open sells to end" in held[-1]
    sold = sum(o.filled_quantity for o in rig.broker.orders() if o.side is Side.SELL)
    assert sold == 65 and len(rig.broker.orders()) == 2
    assert worst_uncovered(rig.broker, {hedge_id: basket_id, short_id: basket_id}) == 0


class ShortsOrderTurnsUpLate(ShortAnswers503Once):
    record = True
    late_by_s = 45.0  # after the stall timeout, within the unknown wait


def test_a_shorts_order_that_turns_up_late_is_counted_and_never_sent_twice(
        tmp_path: Path, rigs: list[Rig]) -> None:
    """The same 503, but the order was placed: it turns up in the book 45 s later, filled.
    The basket neither stops at the stall timeout nor re-sends the short: its late fill is the
    short's, the basket fills with one order a leg."""
    rig = make_rig(tmp_path, broker_type=ShortsOrderTurnsUpLate)
    rigs.append(rig)
    basket_id, (hedge_id, short_id), future = rig.engine.submit_basket(spread())
    result = future.result(60)
    assert result.status is ParentStatus.FILLED, result.message
    assert result.filled == (65, 65)
    assert len(rig.broker.orders()) == 2  # the short was never sent a second time
    assert any(r["event"] == "ghost" and "turned up" in (r["message"] or "")
               for r in rig.snapshot(short_id))
    assert worst_uncovered(rig.broker, {hedge_id: basket_id, short_id: basket_id}) == 0


def test_a_stall_in_the_market_still_stops_the_basket_and_names_the_order(
        tmp_path: Path, rigs: list[Rig]) -> None:
    """A hedge bid below the market that nobody fills: the short waits on the market, and
    after the stall timeout the basket stops, its first line naming the order that worked
    without a fill, its price and the touch it was sent against."""
    rig = make_rig(tmp_path)
    rigs.append(rig)
    hedge = make_request(tradingsymbol="NIFTY26D0125000CE", side="BUY", quantity=65,
                         order_type="LIMIT", limit_price=99.0)
    basket = BasketRequest(legs=(hedge, spread().legs[1]), policy={"stall_timeout_s": 5.0})
    _, _, future = rig.engine.submit_basket(basket)
    result = future.result(60)
    assert result.status is ParentStatus.CANCELLED
    first = result.message.splitlines()[0]
    assert first.startswith("stopped: NIFTY26D0125100CE held for 5 s (waits for its hedge")
    assert first.endswith("; no fill for 5 s on the orders working: BUY 65 NIFTY26D0125000CE "
                          "at 99 (bid 100, ask 100.5 when sent)"), first
    assert "short uncovered: none" in result.message


class BookUnreadableAfterThe503(ShortAnswers503Once):
    """The short's first placement answers 503 (nothing placed); from then on every order-book
    read answers 503 too (an outage of the read route)."""

    def orders(self) -> list[Any]:
        if getattr(self, "_failed", False):
            raise BrokerError("Request failed (kitetrade-oms)", 503)
        return super().orders()


def test_a_basket_whose_order_book_cannot_be_read_still_ends_by_a_deadline(
        tmp_path: Path) -> None:
    """The unknown attempt stays looked for without end (no read completes): the stall clock
    runs again after unknown_wait_s plus the stall timeout, and the stop says why."""
    rig = make_rig(tmp_path, broker_type=BookUnreadableAfterThe503)
    try:
        _, _, future = rig.engine.submit_basket(spread())
        result = future.result(30)
    finally:
        rig.close()
    assert result.message is not None and "the engine's side did not clear" in result.message
