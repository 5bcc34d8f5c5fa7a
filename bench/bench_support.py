"""What the benchmark sections share: percentiles, tables, engine rows, a GUI heartbeat."""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker

LOT = 65


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0-100) of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def spread(values: Sequence[float], unit: str = "ms", digits: int = 2) -> str:
    """``p50 / p99 / max`` of ``values``."""
    return " / ".join(f"{v:.{digits}f}" for v in (percentile(values, 50),
                                                   percentile(values, 99),
                                                   max(values, default=0.0))) + f" {unit}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def request(**kw: Any) -> ExecutionRequest:
    base: dict[str, Any] = dict(tradingsymbol="NIFTY26D0125000CE", exchange="NFO", side="BUY",
                                quantity=LOT * 10, lot_size=LOT, tick_size=0.05,
                                freeze_quantity=1800, bid=100.0, ask=100.05, ltp=100.0)
    base.update(kw)
    return ExecutionRequest.model_validate(base)


def engine_rows(parents: int = 20, children: int = 5) -> list[dict[str, Any]]:
    """The rows the engine writes for ``parents`` TWAPs of ``children`` children each, on the
    in-memory broker and a virtual clock: realistic rows for the writers to write."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-rows-") as folder:
        clock = VirtualClock()
        broker = InMemoryBroker(clock=clock, bid=100.0, ask=100.05)
        engine = ExecutionEngine(broker, clock=clock,
                                 tracker=FillQualityTracker("paper", Path(folder)),
                                 config=EngineConfig(id_seed=1))
        engine.add_listener(rows.append)
        futures = [engine.submit(request(quantity=LOT * children, execution_algo="TWAP",
                                         max_child_orders=children, horizon_s=300,
                                         tradingsymbol=f"NIFTY26D01{25000 + 50 * i}CE"))[1]
                   for i in range(parents)]
        for future in futures:
            future.result(120)
        engine.shutdown()
    return rows


class Heartbeat:
    """A Qt timer on the GUI thread every ``interval_ms``; records when each tick fired.

    Lateness of a tick = (time since the previous tick) - interval: how long the GUI thread
    could not react beyond what the timer asked. Import Qt only where this is used."""

    def __init__(self, interval_ms: int = 1) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval_ms = interval_ms
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.ticks: list[float] = []

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())

    def gaps_ms(self) -> list[float]:
        """The time between ticks: a GUI stall shows as a long gap."""
        return [(b - a) * 1000 for a, b in zip(self.ticks, self.ticks[1:], strict=False)]

    def summary(self) -> str:
        """The longest gap and the 99th percentile, in words."""
        gaps = sorted(self.gaps_ms()) or [0.0]
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        return f"max {gaps[-1]:.0f} ms, p99 {p99:.0f} ms"

    def lateness_ms(self) -> list[float]:
        return [max(0.0, (b - a) * 1000 - self.interval_ms)
                for a, b in zip(self.ticks, self.ticks[1:], strict=False)]


def section_main(results: Callable[[bool], str], doc: str | None) -> int:
    """A section module run as a script: ``--quick`` or not, its markdown on stdout."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true")
    print(results(parser.parse_args().quick))
    return 0
