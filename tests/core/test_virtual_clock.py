"""VirtualClock: timers jump, broker calls in flight hold time still, manual mode waits."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

from imperium_exec.clock import VirtualClock


def test_an_hour_of_timers_runs_in_milliseconds_and_broker_calls_freeze_time() -> None:
    clock = VirtualClock(start=1_000.0)
    loop = clock.new_event_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    seen: list[float] = []

    def slow_call() -> float:
        time.sleep(0.02)  # real time passes in the worker...
        return clock.now()

    async def run() -> None:
        for _ in range(3600):
            await asyncio.sleep(1.0)
        before = clock.now()
        during = await loop.run_in_executor(pool, slow_call)
        seen.extend([before, during, clock.now()])

    started = time.perf_counter()
    loop.run_until_complete(run())
    assert time.perf_counter() - started < 2.0
    assert seen == [4_600.0, 4_600.0, 4_600.0]  # ...but virtual time does not
    loop.close()
    pool.shutdown()


def test_manual_mode_moves_only_when_advanced() -> None:
    clock = VirtualClock(start=0.0, auto_advance=False)
    loop = clock.new_event_loop()
    woke = threading.Event()

    async def sleeper() -> None:
        await asyncio.sleep(30.0)
        woke.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(sleeper(),))
    thread.start()
    clock.advance(29.0)
    assert not woke.wait(0.2)
    assert clock.now() == 29.0
    clock.advance(1.0)
    assert woke.wait(2.0)
    thread.join(2.0)
    assert clock.now() == 30.0
    loop.close()


def test_jump_moves_a_clock_nobody_runs_and_refuses_one_an_engine_runs() -> None:
    clock = VirtualClock(start=0.0)
    clock.jump(12.5)
    assert clock.now() == 12.5
    loop = clock.new_event_loop()
    refused: list[BaseException] = []

    async def try_jump() -> None:
        try:
            clock.jump(1.0)
        except RuntimeError as exc:
            refused.append(exc)

    loop.run_until_complete(try_jump())
    loop.close()
    assert refused and clock.now() == 12.5
