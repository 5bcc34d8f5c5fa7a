"""RateBudget and BrokerGateway: Kite's limits are never exceeded, the most urgent request goes
first, nothing waits forever, and the brakes stop what must not be sent.

Every test runs on a VirtualClock loop: a virtual second costs nothing, and the same test sees
the same sequence of events on every run.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect.exceptions import InputException
from requests.exceptions import ReadTimeout

from imperium_exec.clock import DEFAULT_VIRTUAL_START, VirtualClock
from imperium_exec.engine.gateway import BrokerGateway, NotSent, SendPermit, SessionLost
from imperium_exec.engine.rate_budget import (
    UNANSWERED_LINGER_S,
    AccountRateLimits,
    Lane,
    OrderLimitReached,
    RateBudget,
    RequestKind,
)
from imperium_exec.events import ErrorBucket
from imperium_exec.retry import RetryPolicy
from imperium_exec.timeutil import IST

T = TypeVar("T")

#: 09:15 IST on a trading day: far from the midnight at which the day's write count resets.
MORNING = DEFAULT_VIRTUAL_START
EPS = 1e-9


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh VirtualClock loop (virtual time starts at 0) and close it."""
    loop = VirtualClock(start=0.0).new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def now() -> float:
    return asyncio.get_running_loop().time()


def assert_windows_respected(grants: Iterable[float],
                             windows: Iterable[tuple[float, int] | tuple[float, int, int]],
                             ) -> None:
    """No half-open window ``[t, t + span)`` holds more than ``limit`` grants."""
    times = sorted(grants)
    for span, limit, *_ in windows:
        for i, start in enumerate(times):
            inside = bisect.bisect_left(times, start + span - EPS) - i
            assert inside <= limit, (
                f"{inside} grants in the {span:g}-s window from t={start:.3f} (limit {limit})")


async def enter_and_leave(budget: RateBudget, kind: RequestKind,
                          log: list[tuple[RequestKind, float]] | None = None) -> float:
    async with budget.slot(kind) as slot:
        if log is not None:
            log.append((kind, slot.granted_at))
        return slot.granted_at


# ---------------------------------------------------------------------------- Kite's limits

def test_a_burst_of_1000_placements_keeps_every_padded_second_and_minute_within_kites_limits(
        ) -> None:
    limits = AccountRateLimits.kite()

    async def main() -> list[float]:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        grants = await asyncio.gather(*(enter_and_leave(budget, RequestKind.PLACE)
                                        for _ in range(1_000)))
        assert budget.granted[RequestKind.PLACE] == 1_000
        assert budget.in_flight == 0 and budget.waiting() == 0
        assert budget.writes_left_today() == 5_000 - 1_000
        return list(grants)

    grants = run_virtual(main)
    assert limits.windows(Lane.WRITE) == ((1.05, 10, 0), (60.05, 400, 40))
    assert_windows_respected(grants, limits.windows(Lane.WRITE))
    # Unpadded, at Kite's own resolution, too (a stricter count would be a weaker check);
    # placements alone never use the minute's last 40 writes, kept for cancels.
    assert_windows_respected(grants, [(1.0, 10), (60.0, 360)])
    # The 400/min cap (360 for placements), not the 10/s one, shapes the burst: 1,000
    # placements need > 2 minutes, where 10/s alone would have done it in under two.
    grants.sort()
    assert grants[0] == 0.0
    assert sum(g < 60.05 - EPS for g in grants) == 360
    assert grants[360] == pytest.approx(60.05)
    assert grants[720] == pytest.approx(120.1)
    assert grants[-1] > 120.0


def test_a_margin_read_counts_as_the_two_read_requests_it_sends() -> None:
    limits = AccountRateLimits.kite()  # 10 reads a second

    async def main() -> list[tuple[RequestKind, float]]:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        log: list[tuple[RequestKind, float]] = []
        async with budget.slot(RequestKind.MARGIN_READ) as refunded:
            refunded.refund()  # never sent: both of its requests are given back
        await asyncio.gather(*(enter_and_leave(budget, kind, log) for kind in
                               [RequestKind.MARGIN_READ] * 5 + [RequestKind.BOOK_READ]))
        return log

    log = run_virtual(main)
    assert RequestKind.MARGIN_READ.lane is Lane.READ and RequestKind.MARGIN_READ.requests == 2
    assert log[:5] == [(RequestKind.MARGIN_READ, 0.0)] * 5  # ten requests: the second is full
    assert log[5] == (RequestKind.BOOK_READ, pytest.approx(1.05))
    assert_windows_respected(sorted(at for kind, at in log for _ in range(kind.requests)),
                             limits.windows(Lane.READ))


# ---------------------------------------------------------------------------- the property

#: Tight limits so that every window binds within a few virtual seconds.
TIGHT = AccountRateLimits(writes_per_second=3, writes_per_minute=8, writes_per_day=None,
                          quotes_per_second=1, reads_per_second=2, window_padding_s=0.1,
                          throttle_pause_s=0.7)


class _WatchedBudget(RateBudget):
    """A RateBudget that checks, at every pump, that what it granted in a lane was better
    (priority, then place in line) than every waiter of that lane it left waiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pumps = 0
        self.inversions: list[str] = []

    def _pump(self) -> None:
        before = {lane: [(w.priority, w.seq, w.future) for w in state.waiters
                         if not w.future.done()]
                  for lane, state in self._lanes.items()}
        super()._pump()
        self.pumps += 1
        for lane, present in before.items():
            granted = [(p, s) for p, s, f in present
                       if f.done() and not f.cancelled() and f.exception() is None]
            left = [(p, s) for p, s, f in present if not f.done()]
            if granted and left and max(granted) > min(left):
                self.inversions.append(
                    f"{lane}: granted {sorted(granted)} while {sorted(left)} kept waiting")


@dataclass(frozen=True)
class Req:
    kind: RequestKind
    arrival: float
    hold: float
    refund: bool


requests_strategy = st.lists(
    st.builds(Req,
              kind=st.sampled_from(list(RequestKind)),
              arrival=st.integers(0, 60).map(lambda n: n * 0.05),
              hold=st.sampled_from([0.0, 0.0, 0.05, 0.4, 1.5]),
              refund=st.sampled_from([False, False, False, True])),
    min_size=1, max_size=40)
throttles_strategy = st.lists(
    st.tuples(st.integers(0, 60).map(lambda n: n * 0.05), st.sampled_from(list(Lane))),
    max_size=2)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(reqs=requests_strategy, throttles=throttles_strategy,
       max_in_flight=st.integers(1, 4),
       limits=st.sampled_from([TIGHT, AccountRateLimits.kite()]))
def test_random_mixes_respect_every_window_come_out_in_priority_order_and_all_finish(
        reqs: list[Req], throttles: list[tuple[float, Lane]], max_in_flight: int,
        limits: AccountRateLimits) -> None:
    grants: dict[int, float] = {}
    refunded: set[int] = set()
    shut: list[tuple[float, Lane]] = []
    held = 0
    most_held = 0

    async def request(i: int, req: Req, budget: RateBudget) -> None:
        nonlocal held, most_held
        await asyncio.sleep(req.arrival)
        async with budget.slot(req.kind) as slot:
            grants[i] = slot.granted_at
            held += 1
            most_held = max(most_held, held)
            if req.refund:
                slot.refund()
                refunded.add(i)
            await asyncio.sleep(req.hold)
            held -= 1

    async def throttle(at: float, lane: Lane, budget: RateBudget) -> None:
        await asyncio.sleep(at)
        budget.note_throttled(lane)
        shut.append((now(), lane))

    async def main() -> _WatchedBudget:
        budget = _WatchedBudget(limits, max_in_flight=max_in_flight)
        work = [request(i, r, budget) for i, r in enumerate(reqs)]
        work += [throttle(at, lane, budget) for at, lane in throttles]
        # Nothing waits forever: everything is through well within an hour of virtual time.
        await asyncio.wait_for(asyncio.gather(*work), timeout=3_600.0)
        assert budget.in_flight == 0 and budget.waiting() == 0
        return budget

    budget = run_virtual(main)
    assert budget.pumps > 0  # the watch really ran
    assert budget.inversions == []
    assert sorted(grants) == list(range(len(reqs)))
    assert most_held <= max_in_flight
    for lane in Lane:
        sent = [g for i, g in grants.items() if reqs[i].kind.lane is lane and i not in refunded
                for _ in range(reqs[i].kind.requests)]  # a margin read is two requests
        assert_windows_respected(sent, limits.windows(lane))
        every = [g for i, g in grants.items() if reqs[i].kind.lane is lane]
        for at, shut_lane in shut:
            if shut_lane is lane:
                inside = [g for g in every if at + EPS < g < at + limits.throttle_pause_s - EPS]
                assert inside == [], f"{lane} granted {inside} while shut from {at}"
    for kind in RequestKind:
        expected = sum(1 for i, r in enumerate(reqs) if r.kind is kind and i not in refunded)
        assert budget.granted[kind] == expected


# ---------------------------------------------------------------------------- in-flight cap

def test_grants_beyond_max_in_flight_wait_for_a_release_however_much_budget_is_left() -> None:
    async def main() -> None:
        budget = RateBudget(AccountRateLimits.kite(), max_in_flight=2, wall_time=lambda: MORNING)
        release = asyncio.Event()

        async def holder() -> float:
            async with budget.slot(RequestKind.BOOK_READ) as slot:
                await release.wait()
                return slot.granted_at

        holders = [asyncio.ensure_future(holder()) for _ in range(2)]
        third = asyncio.ensure_future(enter_and_leave(budget, RequestKind.CANCEL))
        await asyncio.sleep(5.0)
        assert budget.in_flight == 2 and budget.waiting() == 1 and not third.done()
        release.set()
        assert await asyncio.gather(*holders) == [0.0, 0.0]
        assert await third == 5.0  # the moment a slot came free, not a budget window
        assert budget.in_flight == 0

    run_virtual(main)


def test_a_freed_slot_goes_to_the_most_urgent_waiter_across_lanes() -> None:
    async def main() -> list[RequestKind]:
        budget = RateBudget(AccountRateLimits.unlimited(), max_in_flight=1)
        order: list[tuple[RequestKind, float]] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with budget.slot(RequestKind.DESK_READ):
                await release.wait()

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        queued = [RequestKind.DESK_QUOTE, RequestKind.DESK_READ, RequestKind.QUOTE,
                  RequestKind.BOOK_READ, RequestKind.PLACE, RequestKind.CANCEL]
        tasks = [asyncio.ensure_future(enter_and_leave(budget, k, order)) for k in queued]
        await asyncio.sleep(1.0)
        assert order == [] and budget.waiting() == len(queued)
        release.set()
        await asyncio.gather(first, *tasks)
        return [kind for kind, _ in order]

    order = run_virtual(main)
    assert order[:4] == [RequestKind.CANCEL, RequestKind.PLACE, RequestKind.BOOK_READ,
                         RequestKind.QUOTE]
    assert set(order[4:]) == {RequestKind.DESK_QUOTE, RequestKind.DESK_READ}


def test_a_cancelled_waiter_at_a_lane_head_does_not_give_its_lane_the_freed_slot() -> None:
    async def main() -> list[RequestKind]:
        budget = RateBudget(AccountRateLimits.unlimited(), max_in_flight=1)
        order: list[tuple[RequestKind, float]] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with budget.slot(RequestKind.CANCEL):
                await release.wait()

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)
        book = asyncio.ensure_future(enter_and_leave(budget, RequestKind.BOOK_READ, order))
        desk = asyncio.ensure_future(enter_and_leave(budget, RequestKind.DESK_READ, order))
        quote = asyncio.ensure_future(enter_and_leave(budget, RequestKind.QUOTE, order))
        await asyncio.sleep(0)
        book.cancel()  # the tracker's read is no longer needed
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, desk, quote)
        assert book.cancelled()
        return [kind for kind, _ in order]

    assert run_virtual(main) == [RequestKind.QUOTE, RequestKind.DESK_READ]


# ---------------------------------------------------------------------------- refunds

def test_a_refund_gives_the_window_and_the_day_count_back() -> None:
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None, writes_per_day=2,
                               quotes_per_second=1, reads_per_second=None,
                               cancel_reserve_per_day=0)

    async def main() -> None:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        async with budget.slot(RequestKind.QUOTE) as slot:
            slot.refund()
            slot.refund()  # twice is once
        assert budget.granted[RequestKind.QUOTE] == 0
        assert await enter_and_leave(budget, RequestKind.QUOTE) == 0.0  # not 1.05
        assert await enter_and_leave(budget, RequestKind.QUOTE) == pytest.approx(1.05)

        start = now()
        async with budget.slot(RequestKind.PLACE) as slot:
            assert budget.writes_left_today() == 1
            slot.refund()
        assert budget.writes_left_today() == 2
        assert await enter_and_leave(budget, RequestKind.PLACE) == start
        assert await enter_and_leave(budget, RequestKind.PLACE) == pytest.approx(start + 1.05)
        assert budget.writes_left_today() == 0

    run_virtual(main)


@pytest.mark.parametrize("keep_seq", [True, False])
def test_a_waiter_keeping_its_seq_after_a_refund_goes_before_newer_waiters(
        keep_seq: bool) -> None:
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None,
                               writes_per_day=None)

    async def main() -> list[tuple[str, float]]:
        budget = RateBudget(limits)
        log: list[tuple[str, float]] = []

        async def retrying() -> None:
            seq = budget.next_seq()
            async with budget.slot(RequestKind.PLACE, seq=seq) as slot:
                log.append(("retrying", slot.granted_at))
                await asyncio.sleep(0.5)  # meanwhile two newer placements queue up
                slot.refund()  # stale quote: re-price and try again
            async with budget.slot(RequestKind.PLACE,
                                   seq=seq if keep_seq else None) as slot:
                log.append(("retrying", slot.granted_at))

        async def newer(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            async with budget.slot(RequestKind.PLACE) as slot:
                log.append((name, slot.granted_at))

        await asyncio.gather(retrying(), newer("b", 0.1), newer("c", 0.2))
        return log

    log = run_virtual(main)
    names = [name for name, _ in log]
    times = [at for _, at in log]
    # The refunded second goes to the head of the line at once (b at 0.5), then the next
    # second to the oldest place in line.
    if keep_seq:
        assert names == ["retrying", "b", "retrying", "c"]
    else:
        assert names == ["retrying", "b", "c", "retrying"]
    assert times == pytest.approx([0.0, 0.5, 1.55, 2.6])


# ---------------------------------------------------------------------------- 429 anyway

def test_note_throttled_shuts_only_that_lane_for_throttle_pause_s() -> None:
    limits = AccountRateLimits(throttle_pause_s=2.5)

    async def main() -> None:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        assert await enter_and_leave(budget, RequestKind.BOOK_READ) == 0.0
        await asyncio.sleep(0.3)
        budget.note_throttled(Lane.READ)
        read = asyncio.ensure_future(enter_and_leave(budget, RequestKind.BOOK_READ))
        assert await enter_and_leave(budget, RequestKind.PLACE) == pytest.approx(0.3)
        assert await enter_and_leave(budget, RequestKind.QUOTE) == pytest.approx(0.3)
        assert await read == pytest.approx(2.8)  # 0.3 + 2.5, although 9 reads/s were left
        # A second 429 while shut never shortens the pause.
        budget.note_throttled(Lane.READ)
        await asyncio.sleep(0.1)
        budget.note_throttled(Lane.WRITE)
        assert await enter_and_leave(budget, RequestKind.DESK_READ) == pytest.approx(5.3)

    run_virtual(main)


# ---------------------------------------------------------------------------- the day

def test_the_day_limit_raises_order_limit_reached_at_once_and_resets_at_midnight_ist() -> None:
    limits = AccountRateLimits(writes_per_second=10, writes_per_minute=None, writes_per_day=3,
                               cancel_reserve_per_day=0)
    wall = [MORNING]

    async def main() -> None:
        budget = RateBudget(limits, wall_time=lambda: wall[0])
        for kind in (RequestKind.PLACE, RequestKind.CANCEL, RequestKind.PLACE):
            await enter_and_leave(budget, kind)
        assert budget.writes_left_today() == 0
        start = now()
        for kind in (RequestKind.PLACE, RequestKind.CANCEL):
            with pytest.raises(OrderLimitReached, match="midnight IST"):
                async with budget.slot(kind):
                    pytest.fail("granted past the day's limit")
        assert now() == start  # refused at once, not after a wait
        assert budget.in_flight == 0 and budget.waiting() == 0
        # Reads and quotes have no day limit.
        assert await enter_and_leave(budget, RequestKind.BOOK_READ) == start

        morning = dt.datetime.fromtimestamp(MORNING, IST)
        midnight = dt.datetime.combine(morning.date() + dt.timedelta(days=1), dt.time(0),
                                       tzinfo=IST).timestamp()
        wall[0] = midnight - 1.0
        assert budget.writes_left_today() == 0
        wall[0] = midnight
        assert budget.writes_left_today() == 3
        assert await enter_and_leave(budget, RequestKind.PLACE) == start

    run_virtual(main)


def test_queued_writes_get_order_limit_reached_when_the_day_runs_out_under_them() -> None:
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None, writes_per_day=2,
                               cancel_reserve_per_day=0)

    async def main() -> list[object]:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        results = await asyncio.gather(
            *(enter_and_leave(budget, RequestKind.PLACE) for _ in range(4)),
            return_exceptions=True)
        assert budget.in_flight == 0 and budget.waiting() == 0
        assert budget.granted[RequestKind.PLACE] == 2
        return results

    results = run_virtual(main)
    assert results[:2] == pytest.approx([0.0, 1.05])
    assert all(isinstance(r, OrderLimitReached) for r in results[2:])


def test_the_retry_policy_classifies_order_limit_reached_as_fatal() -> None:
    exc = OrderLimitReached("the day's limit of 5,000 order requests is used up")
    error = RetryPolicy().classify(exc)
    assert error.bucket is ErrorBucket.FATAL
    assert not error.ambiguous
    assert not RetryPolicy().allows_retry(error, 0)


# ---------------------------------------------------------------------------- cancelled waiters

def test_a_waiter_cancelled_while_waiting_takes_nothing_from_the_window() -> None:
    async def main() -> None:
        budget = RateBudget(AccountRateLimits.kite(), wall_time=lambda: MORNING)
        assert await enter_and_leave(budget, RequestKind.QUOTE) == 0.0
        gone = asyncio.ensure_future(enter_and_leave(budget, RequestKind.QUOTE))
        await asyncio.sleep(0.5)
        assert budget.waiting(Lane.QUOTE) == 1
        gone.cancel()
        await asyncio.sleep(0)
        assert budget.waiting(Lane.QUOTE) == 0
        later = asyncio.ensure_future(enter_and_leave(budget, RequestKind.QUOTE))
        assert await later == pytest.approx(1.05)  # the cancelled one did not take 1.05
        assert gone.cancelled()
        assert await enter_and_leave(budget, RequestKind.QUOTE) == pytest.approx(2.1)
        assert budget.granted[RequestKind.QUOTE] == 3
        assert budget.in_flight == 0

    run_virtual(main)


def test_a_waiter_cancelled_in_the_turn_it_was_granted_gives_the_slot_back() -> None:
    limits = AccountRateLimits(quotes_per_second=1)

    async def main() -> None:
        budget = RateBudget(limits, max_in_flight=1, wall_time=lambda: MORNING)
        box: dict[str, asyncio.Future[float]] = {}

        async def read_then_cancel_the_quote() -> None:
            async with budget.slot(RequestKind.BOOK_READ):
                await asyncio.sleep(0.5)
            # Leaving the block granted the queued quote; cancel it before it ever runs.
            assert budget.in_flight == 1
            box["quote"].cancel()

        reader = asyncio.ensure_future(read_then_cancel_the_quote())
        await asyncio.sleep(0)
        box["quote"] = quote = asyncio.ensure_future(
            enter_and_leave(budget, RequestKind.QUOTE))
        await reader
        with pytest.raises(asyncio.CancelledError):
            await quote
        assert budget.in_flight == 0
        assert budget.granted[RequestKind.QUOTE] == 0
        assert await enter_and_leave(budget, RequestKind.QUOTE) == 0.5  # the window is free

    run_virtual(main)


def test_a_waiter_cancelled_as_the_day_runs_out_leaves_the_in_flight_count_intact() -> None:
    limits = AccountRateLimits(writes_per_second=None, writes_per_minute=None, writes_per_day=2,
                               cancel_reserve_per_day=0)

    async def main() -> None:
        budget = RateBudget(limits, max_in_flight=1, wall_time=lambda: MORNING)
        box: dict[str, asyncio.Future[float]] = {}

        async def last_write_then_cancel() -> None:
            async with budget.slot(RequestKind.PLACE):
                pass
            # Leaving the block used up the day under the queued write; its task is
            # cancelled in the same turn (the parent was stopped).
            box["late"].cancel()

        async with budget.slot(RequestKind.PLACE):
            last = asyncio.ensure_future(last_write_then_cancel())
            box["late"] = late = asyncio.ensure_future(enter_and_leave(budget,
                                                                       RequestKind.PLACE))
            await asyncio.sleep(0)
        await last
        outcome = (await asyncio.gather(late, return_exceptions=True))[0]
        assert budget.in_flight == 0
        assert isinstance(outcome, asyncio.CancelledError)

    run_virtual(main)


# ---------------------------------------------------------------------------- unlimited

def test_unlimited_never_waits() -> None:
    limits = AccountRateLimits.unlimited()
    assert all(limits.windows(lane) == () for lane in Lane)

    async def main() -> None:
        budget = RateBudget(limits)
        kinds = list(RequestKind) * 1_000
        grants = await asyncio.gather(*(enter_and_leave(budget, k) for k in kinds))
        assert set(grants) == {0.0}
        assert now() == 0.0
        assert budget.writes_left_today() is None
        assert sum(budget.granted.values()) == len(kinds)

    run_virtual(main)


# ---------------------------------------------------------------------------- BrokerGateway

class TokenException(Exception):
    """Named as kiteconnect's: the gateway classifies by class name."""


class NetworkException(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Spy:
    """A broker call: records its arguments and the thread it ran on."""

    def __init__(self, result: object = "ok") -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()
        self.result = result

    def __call__(self, *args: Any) -> object:
        self.calls.append(args)
        self.threads.add(threading.current_thread().name)
        return self.result


def run_gateway(main: Callable[[BrokerGateway], Awaitable[T]],
                limits: AccountRateLimits, **kwargs: Any) -> T:
    budget = RateBudget(limits, max_in_flight=4, wall_time=lambda: MORNING)
    gateway = BrokerGateway(budget, **kwargs)
    try:
        return run_virtual(lambda: main(gateway))
    finally:
        gateway.close()


def test_a_permit_revoked_while_a_placement_waits_stops_it_in_the_worker_and_refunds() -> None:
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None,
                               writes_per_day=None)
    place = Spy("order-1")

    async def main(gateway: BrokerGateway) -> None:
        permit = SendPermit()
        assert await gateway.call(RequestKind.PLACE, place, "first", permit=permit) == "order-1"
        # Past the loop-side check, queued for the next second.
        queued = asyncio.ensure_future(
            gateway.call(RequestKind.PLACE, place, "second", permit=permit))
        await asyncio.sleep(0.5)
        assert not queued.done()
        permit.revoke("parent cancelled")
        permit.revoke("too late to matter")  # the first reason stays
        with pytest.raises(NotSent, match="parent cancelled"):
            await queued
        assert now() == pytest.approx(1.05)  # it was granted, then stopped in the worker
        assert gateway.budget.granted[RequestKind.PLACE] == 1  # refunded
        assert await gateway.call(RequestKind.PLACE, place, "third") == "order-1"
        assert now() == pytest.approx(1.05)  # the refunded second was still there
        assert gateway.budget.in_flight == 0

        # Revoked after the slot is granted: the worker's check is the one that stops it.
        async with gateway.budget.slot(RequestKind.PLACE) as slot:
            with pytest.raises(NotSent):
                await gateway.run(slot, place, "fourth", permit=permit)
            assert slot.refunded

    run_gateway(main, limits)
    assert [args[0] for args in place.calls] == ["first", "third"]
    assert all(name.startswith("imperium-broker") for name in place.threads)


def test_halt_placements_stops_placements_but_not_cancels_or_reads() -> None:
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None,
                               writes_per_day=None)
    place, other = Spy("order-1"), Spy()

    async def main(gateway: BrokerGateway) -> None:
        await gateway.call(RequestKind.PLACE, place, "before")
        queued = asyncio.ensure_future(gateway.call(RequestKind.PLACE, place, "queued"))
        await asyncio.sleep(0.5)
        gateway.halt_placements("shutting down")
        gateway.halt_placements("second reason")
        with pytest.raises(NotSent, match="shutting down"):
            await queued
        with pytest.raises(NotSent, match="shutting down"):
            await gateway.call(RequestKind.PLACE, place, "after")
        halted_at = now()
        assert await gateway.call(RequestKind.CANCEL, other, "CANCEL") == "ok"
        assert now() == pytest.approx(halted_at)  # on the write second the halt refunded
        for kind in (RequestKind.BOOK_READ, RequestKind.QUOTE, RequestKind.DESK_READ,
                     RequestKind.DESK_QUOTE):
            assert await gateway.call(kind, other, kind.name) == "ok"
        assert gateway.session_lost is None

    run_gateway(main, limits)
    assert place.calls == [("before",)]
    assert [args[0] for args in other.calls] == ["CANCEL", "BOOK_READ", "QUOTE", "DESK_READ",
                                                 "DESK_QUOTE"]


def test_a_token_exception_loses_the_session_once_and_nothing_runs_after_it() -> None:
    lost: list[str] = []
    barrier = threading.Barrier(2, timeout=5.0)
    later = Spy()

    def expired() -> None:
        barrier.wait()  # two requests are on the wire when the token dies
        raise TokenException("Incorrect `api_key` or `access_token`.")

    async def main(gateway: BrokerGateway) -> None:
        outcomes = await asyncio.gather(gateway.call(RequestKind.BOOK_READ, expired),
                                        gateway.call(RequestKind.QUOTE, expired),
                                        return_exceptions=True)
        assert all(isinstance(o, TokenException) for o in outcomes)
        assert gateway.session_lost is not None and "access_token" in gateway.session_lost
        granted = dict(gateway.budget.granted)
        for kind in RequestKind:
            with pytest.raises(SessionLost, match="re-login"):
                await gateway.call(kind, later)
        assert gateway.budget.granted == granted  # refused before asking for budget
        gateway.lose_session("again")

    run_gateway(main, AccountRateLimits.kite(), on_session_lost=lost.append)
    assert len(lost) == 1 and lost[0].startswith("re-login needed")
    assert later.calls == []


def test_a_429_notes_the_throttle_on_its_lane_but_the_day_cap_message_does_not() -> None:
    limits = AccountRateLimits(throttle_pause_s=3.0)
    ok = Spy()

    def too_many() -> None:
        raise NetworkException("Too many requests", 429)

    def day_cap() -> None:
        raise NetworkException("Maximum allowed order requests exceeded", 429)

    async def main(gateway: BrokerGateway) -> None:
        with pytest.raises(NetworkException):
            await gateway.call(RequestKind.QUOTE, too_many)
        assert gateway.throttled == {Lane.QUOTE: 1, Lane.WRITE: 0, Lane.READ: 0}
        assert await gateway.call(RequestKind.BOOK_READ, ok) == "ok"
        assert now() == 0.0  # other lanes are open
        assert await gateway.call(RequestKind.QUOTE, ok) == "ok"
        assert now() == pytest.approx(3.0)  # the quote lane was shut for 3 s, not 1.1

        with pytest.raises(NetworkException):
            await gateway.call(RequestKind.PLACE, day_cap)
        assert gateway.throttled[Lane.WRITE] == 0
        assert await gateway.call(RequestKind.PLACE, ok) == "ok"
        assert now() == pytest.approx(3.0)
        assert gateway.session_lost is None

    run_gateway(main, limits)


def test_the_last_writes_of_the_day_are_kept_for_cancels() -> None:
    limits = AccountRateLimits(writes_per_second=None, writes_per_minute=None, writes_per_day=3,
                               cancel_reserve_per_day=1)

    async def main() -> list[str]:
        budget = RateBudget(limits)
        outcome = []
        for kind in (RequestKind.PLACE, RequestKind.PLACE, RequestKind.PLACE,
                     RequestKind.CANCEL, RequestKind.CANCEL):
            try:
                async with budget.slot(kind):
                    outcome.append(f"{kind.name} sent")
            except OrderLimitReached as exc:
                outcome.append(f"{kind.name} refused: {exc}")
        return outcome

    outcome = run_virtual(main)
    assert outcome[:2] == ["PLACE sent", "PLACE sent"]
    assert outcome[2].startswith("PLACE refused") and "kept for cancels" in outcome[2]
    assert outcome[3] == "CANCEL sent"  # the kill switch still works
    assert outcome[4].startswith("CANCEL refused")


def test_cancels_get_out_at_once_after_placements_filled_the_minute() -> None:
    limits = AccountRateLimits.kite()

    async def main() -> tuple[float, float]:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        placed = await asyncio.gather(*(enter_and_leave(budget, RequestKind.PLACE)
                                        for _ in range(360)))
        cancel_at = await enter_and_leave(budget, RequestKind.CANCEL)
        return max(placed), cancel_at

    last_placement, cancel_at = run_virtual(main)
    # 360 placements fill the minute's share for placements; the kill switch's cancel still
    # goes within the per-second window, not a minute later.
    assert cancel_at - last_placement <= 1.2


def test_a_request_counts_until_it_ends_so_a_slow_send_never_crowds_a_second() -> None:
    limits = AccountRateLimits(writes_per_second=2, writes_per_minute=None, writes_per_day=None)

    async def main() -> list[float]:
        budget = RateBudget(limits)
        grants: list[float] = []

        async def slow() -> None:  # granted at 0, but its request takes 3 s to complete
            async with budget.slot(RequestKind.PLACE) as slot:
                grants.append(slot.granted_at)
                await asyncio.sleep(3.0)

        async def quick() -> None:
            async with budget.slot(RequestKind.PLACE) as slot:
                grants.append(slot.granted_at)

        first = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        await quick()  # the second of the first second
        await quick()  # must wait: the slow one may arrive at Kite any time until it ends
        await first
        return grants

    grants = run_virtual(main)
    # The third request waits a padded second after the quick one ended (not after the slow
    # one's grant): while the slow one is in flight it still counts.
    assert grants[:2] == [0.0, 0.0]
    assert grants[2] == pytest.approx(1.05)
    # ...and the slow one, ending at 3 s, still counts until 4.05 s for the next requests.


READS_ONLY = AccountRateLimits(writes_per_second=None, writes_per_minute=None,
                               writes_per_day=None, quotes_per_second=None, reads_per_second=10)


def test_a_slow_request_still_counts_after_the_quick_ones_of_its_second_have_aged_out() -> None:
    async def main() -> list[float]:
        budget = RateBudget(READS_ONLY)

        async def slow() -> None:  # granted at 0, its reply comes at 0.9 s
            async with budget.slot(RequestKind.BOOK_READ):
                await asyncio.sleep(0.9)

        first = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        for _ in range(9):  # the rest of the first second, done at once
            await enter_and_leave(budget, RequestKind.BOOK_READ)
        await first
        await asyncio.sleep(1.2 - now())  # the quick ones aged out at 1.05 s
        return [await enter_and_leave(budget, RequestKind.BOOK_READ) for _ in range(10)]

    later = run_virtual(main)
    # the slow one counts until 0.9 + 1.05 s: nine may go at 1.2 s, the tenth waits for it
    assert later[:9] == [pytest.approx(1.2)] * 9
    assert later[9] == pytest.approx(1.95)


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 2.0)), min_size=1, max_size=40))
def test_no_grant_while_the_limit_of_requests_still_count_from_their_end(
        requests: list[tuple[float, float]]) -> None:
    """Each request counts from its grant until a padded second after it ended: no grant is
    made while ``limit`` others granted before it still count, whatever their durations."""
    span, limit, _ = READS_ONLY.windows(Lane.READ)[0]

    async def main() -> list[tuple[float, float]]:
        budget = RateBudget(READS_ONLY)
        spans: list[tuple[float, float]] = []

        async def one(delay: float, duration: float) -> None:
            await asyncio.sleep(delay)
            async with budget.slot(RequestKind.BOOK_READ) as slot:
                await asyncio.sleep(duration)
                spans.append((slot.granted_at, now()))

        await asyncio.gather(*(one(d, t) for d, t in requests))
        return spans

    spans = run_virtual(main)
    assert len(spans) == len(requests)
    for i, (granted, _) in enumerate(spans):
        counting = [j for j, (g, e) in enumerate(spans)
                    if j != i and g <= granted and e > granted - span + EPS]
        assert len(counting) < limit, (granted, len(counting))



# ---------------------------------------------------------------------------- after a restart

def test_a_restarted_budget_counts_the_crashed_sessions_writes_in_its_minute_and_day() -> None:
    """400 writes answered in the 30 s before the restart (a crashed desk's, from its
    journal): the next placement waits until the minute after the oldest of the last 360
    (the minute's last 40 stay for cancels), and the day's count holds all 1,000 of the day."""
    limits = AccountRateLimits.kite()

    async def main() -> None:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        earlier = [MORNING - 30.0 + i * 30.0 / 400 for i in range(400)]
        older = [MORNING - 3_600.0] * 600  # an hour ago: the day's count only
        budget.count_earlier_writes(older + earlier)
        assert budget.writes_left_today() == 5_000 - 1_000
        granted = await enter_and_leave(budget, RequestKind.PLACE)
        # the minute's 360 placements end when the 41st of the 400 ages out
        assert granted == pytest.approx(-30.0 + 40 * 30.0 / 400 + 60.05, abs=1e-6)
        assert await enter_and_leave(budget, RequestKind.CANCEL) == pytest.approx(granted + 0.0,
                                                                                  abs=1e-6)

    run_virtual(main)


def test_cancels_use_the_days_cancel_reserve_before_the_placements_share() -> None:
    """A day of 10 writes, 3 kept for cancels: 3 cancels take nothing from the 7
    placements a parent may have planned; a 4th cancel does."""
    limits = AccountRateLimits(writes_per_second=None, writes_per_minute=None,
                               writes_per_day=10, cancel_reserve_per_day=3)

    async def main() -> None:
        budget = RateBudget(limits, wall_time=lambda: MORNING)
        assert budget.placements_left_today() == 7
        for _ in range(3):
            await enter_and_leave(budget, RequestKind.CANCEL)
        assert budget.placements_left_today() == 7 and budget.writes_left_today() == 7
        await enter_and_leave(budget, RequestKind.CANCEL)
        assert budget.placements_left_today() == 6
        for _ in range(6):
            await enter_and_leave(budget, RequestKind.PLACE)
        assert budget.placements_left_today() == 0
        with pytest.raises(OrderLimitReached):
            await enter_and_leave(budget, RequestKind.PLACE)

    run_virtual(main)


def test_a_request_that_got_no_answer_counts_two_seconds_past_its_end() -> None:
    """One write a second. A placement whose client timed out (it may still reach Kite, late,
    from a busy server's queue) keeps its second for UNANSWERED_LINGER_S more; one answered
    with an error (a 400: it arrived) does not."""
    limits = AccountRateLimits(writes_per_second=1, writes_per_minute=None,
                               writes_per_day=None, window_padding_s=0.0)
    ok = Spy()

    def timed_out() -> None:
        raise ReadTimeout("HTTPConnectionPool: Read timed out. (read timeout=2.0)")

    def refused() -> None:
        raise InputException("Invalid `price`.", 400)

    async def main(gateway: BrokerGateway) -> None:
        with pytest.raises(ReadTimeout):
            await gateway.call(RequestKind.PLACE, timed_out)
        assert await gateway.call(RequestKind.PLACE, ok) == "ok"
        assert now() == pytest.approx(1.0 + UNANSWERED_LINGER_S)
        with pytest.raises(InputException):
            await gateway.call(RequestKind.PLACE, refused)
        started = now()
        assert await gateway.call(RequestKind.PLACE, ok) == "ok"
        assert now() == pytest.approx(started + 1.0)

    run_gateway(main, limits)
