"""Engine speed: virtual-time schedules, submit latency, event throughput.

Run: ``.venv/bin/python bench/bench_engine.py`` (prints a markdown table). Everything is measured
in one process, side by side, because the machines are shared and noisy: read the ratios, not
the absolute milliseconds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker


def request(**kw: object) -> ExecutionRequest:
    base: dict[str, object] = dict(tradingsymbol="NIFTY26D0125000CE", exchange="NFO",
                                   side="BUY", quantity=65 * 20, lot_size=65, tick_size=0.05,
                                   freeze_quantity=1800, bid=100.0, ask=100.05, ltp=100.0)
    base.update(kw)
    return ExecutionRequest.model_validate(base)


def engine(directory: Path, *, tracker: bool = True) -> ExecutionEngine:
    clock = VirtualClock()
    broker = InMemoryBroker(clock=clock, bid=100.0, ask=100.05)
    return ExecutionEngine(broker, clock=clock,
                           tracker=FillQualityTracker("paper", directory) if tracker else None,
                           config=EngineConfig(id_seed=1))


def time_parent(directory: Path, req: ExecutionRequest) -> tuple[float, float]:
    """(wall seconds, virtual seconds) for one parent from submit to finished."""
    eng = engine(directory)
    start_virtual = eng.clock.now()
    started = time.perf_counter()
    _, future = eng.submit(req)
    future.result(60)
    wall = time.perf_counter() - started
    virtual = eng.clock.now() - start_virtual
    eng.shutdown()
    return wall, virtual


def paper_session_s() -> float:
    """Wall time of a whole virtual trading day on the paper exchange (five books polled every
    30 s, one bid resting all day), the median of three."""
    import asyncio

    from imperium_exec.brokers.base import OrderInstruction
    from imperium_exec.brokers.paper.broker import PaperBroker
    from imperium_exec.request import OrderType, Side
    from imperium_exec.timeutil import SESSION_SECONDS

    def once() -> float:
        clock = VirtualClock()
        broker = PaperBroker(clock=clock, seed=12)
        options = [i.tradingsymbol for i in broker.instruments("NIFTY") if i.is_option][:5]
        broker.place_order(OrderInstruction(options[0], "NFO", Side.BUY, 65, OrderType.LIMIT,
                                            0.05, "NRML", "DAY", "r"))
        loop = clock.new_event_loop()

        async def poll() -> None:
            for _ in range(SESSION_SECONDS // 30):
                for symbol in options:
                    broker.quote(symbol)
                broker.orders()
                await asyncio.sleep(30.0)

        started = time.perf_counter()
        loop.run_until_complete(poll())
        elapsed = time.perf_counter() - started
        loop.close()
        return elapsed

    return statistics.median(once() for _ in range(3))


def main() -> int:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for label, req in [
            ("TWAP 30 min, 10 slices", request(execution_algo="TWAP", max_child_orders=10,
                                               horizon_s=1800)),
            ("VWAP 6 h, 20 slices", request(execution_algo="VWAP", max_child_orders=20,
                                            horizon_s=6 * 3600, quantity=65 * 200)),
            ("IS 30 min, 20 slices", request(execution_algo="IS", max_child_orders=20,
                                             horizon_s=1800)),
        ]:
            runs = [time_parent(directory, req) for _ in range(5)]
            wall = statistics.median(w for w, _ in runs)
            virtual = runs[0][1]
            rows.append((label, f"{wall * 1e3:.1f} ms wall for {virtual / 60:.0f} virtual min "
                                f"(x{virtual / wall:,.0f} faster than real time)"))

        eng = engine(directory)
        submit_us: list[float] = []
        futures = []
        started = time.perf_counter()
        for _ in range(500):
            t0 = time.perf_counter()
            futures.append(eng.submit(request(quantity=65))[1])
            submit_us.append((time.perf_counter() - t0) * 1e6)
        for f in futures:
            f.result(60)
        total = time.perf_counter() - started
        assert eng.tracker is not None
        written = eng.tracker.rows_written
        eng.shutdown()
        submit_us.sort()
        rows.append(("submit() on the caller thread, 500 parents",
                     f"p50 {submit_us[249]:.0f} us, p95 {submit_us[474]:.0f} us, "
                     f"max {submit_us[-1]:.0f} us"))
        rows.append(("500 IMMEDIATE parents end to end", f"{total * 1e3:.0f} ms, {written} rows "
                                                         f"({written / total:,.0f} rows/s)"))

    rows.append(("a full 375-min paper session, five contracts, polled every 30 s",
                 f"{paper_session_s() * 1e3:.0f} ms wall"))
    print("| measurement | result |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
