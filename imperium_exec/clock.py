"""Injected time: the real clock for the desk, a virtual clock for tests and benchmarks.

The engine schedules everything on its asyncio loop, so virtual time is a property of the loop:
:class:`VirtualClock` builds a loop whose ``time()`` is the virtual clock and whose selector,
instead of sleeping until the next timer, jumps the clock forward to it. Time only jumps while
no broker call is in flight (the loop counts ``run_in_executor`` work), so a six-hour VWAP runs
in milliseconds and always sees the same sequence of events for a seed.

``VirtualClock(auto_advance=False)`` holds time still until a test calls :meth:`advance`, for
tests that must act in the middle of a schedule (pause, cancel).

What comes from outside the loop is not in that sequence: a test thread that waits for one
parent to finish and then submits the next lets the idle loop jump to any timer still set in
between (markouts fall due 60 s after a fill), so the next parent meets the market however
far the clock ran meanwhile. Tests that need the same market on every run submit everything
at once, or turn markouts off (``EngineConfig(markout_horizons_s=())``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .timeutil import IST

T = TypeVar("T")


class Clock(Protocol):
    """Wall-clock time for telemetry and schedules, and the loop that keeps that time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        ...


class RealClock:
    """The machine's clock; the engine's loop is a plain asyncio loop."""

    def now(self) -> float:
        return time.time()

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()


#: A Tuesday 09:15 IST: virtual sessions start at a market open unless told otherwise.
DEFAULT_VIRTUAL_START = dt.datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()


class VirtualClock:
    """Deterministic time that moves only when the engine has nothing else to do.

    ``now()`` may be read from any thread (brokers and the GUI read it); only the loop built by
    :meth:`new_event_loop` moves it.
    """

    def __init__(self, start: float = DEFAULT_VIRTUAL_START, *, auto_advance: bool = True) -> None:
        self._start = float(start)
        self._elapsed = 0.0
        self._limit = math.inf if auto_advance else 0.0
        self._lock = threading.Lock()
        self._loop: _VirtualTimeLoop | None = None

    def now(self) -> float:
        return self._start + self._elapsed

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock started."""
        return self._elapsed

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = _VirtualTimeLoop(self)
        self._loop = loop
        return loop

    def advance(self, seconds: float) -> None:
        """Let time run ``seconds`` further (manual mode); wakes the loop. Any thread."""
        if seconds < 0:
            raise ValueError("seconds: cannot move a clock backwards")
        with self._lock:
            if math.isinf(self._limit):
                raise RuntimeError("advance() is for VirtualClock(auto_advance=False)")
            self._limit += seconds
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: None)

    def run_freely(self) -> None:
        """From now on let time move by itself, as ``auto_advance=True`` does (e.g. so a test
        that held time still can shut its engine down: cancels need time to be confirmed)."""
        with self._lock:
            self._limit = math.inf
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: None)

    def jump(self, seconds: float) -> None:
        """Move time forward at once, for code that drives a broker by hand (tests, notebooks).

        Not for a clock whose loop is running an engine: there, time is the loop's to move.
        """
        if seconds < 0:
            raise ValueError("seconds: cannot move a clock backwards")
        loop = self._loop
        if loop is not None and loop.is_running():
            raise RuntimeError("jump(): an engine loop runs on this clock; use advance()")
        self._move(seconds)

    # ---- used by the loop's selector only
    def _room(self) -> float:
        with self._lock:
            return self._limit - self._elapsed

    def _move(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += seconds


class _VirtualSelector(selectors.BaseSelector):
    """Wraps the real selector; turns idle waits into jumps of the virtual clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self.in_flight = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout == 0:
            return self._real.select(0)
        if self.in_flight:
            # A broker call is running in a worker thread: time stands still until it answers.
            return self._real.select(None)
        ready = self._real.select(0)
        if ready:
            return ready
        room = self._clock._room()
        if timeout is not None and timeout <= room:
            self._clock._move(timeout)
            return []
        if room > 0 and not math.isinf(room):
            self._clock._move(room)
        # Nothing scheduled (or not allowed to move further yet): wait for the outside world.
        return self._real.select(None)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self._virtual_selector = _VirtualSelector(clock)
        self._virtual_clock = clock
        super().__init__(self._virtual_selector)

    def time(self) -> float:
        return self._virtual_clock.elapsed

    def run_in_executor(self, executor: Any, func: Callable[..., T],  # type: ignore[override]
                        *args: Any) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._virtual_selector.in_flight += 1

        def _done(_: asyncio.Future[T]) -> None:
            self._virtual_selector.in_flight -= 1

        future.add_done_callback(_done)
        return future
