"""Per-child overhead of the whole pipeline, as a multiple of serialising and appending one row.

Run: ``.venv/bin/python bench/bench_overhead.py [--quick]`` (prints the markdown section).

The pipeline: ``ExecutionEngine.submit`` (request checks, risk limits, the planner) -> the
engine's loop (schedule, router, slippage model, send permit, the broker call in its thread
pool, order tracking, fills, markouts) -> one journal row per event (``FillQualityTracker``,
fsync per parent) and the listeners. The broker is the in-memory one (instant fills, no latency)
and the clock virtual, so no time is spent waiting: what is left is the stack's own work. Per
child: the wall time from the first ``submit`` to the last parent's result, divided by the
children placed; also the process's CPU time (every thread) per child.

The floor, measured in the same run between the rounds: ``orjson.dumps(row) + b"\\n"`` and one
``os.write`` to an ``O_APPEND`` file, over the rows this very pipeline wrote (their median
size), per row. Where the target is missed, a profile of one round (the caller's thread and the
engine's loop thread, by own time) says where the time goes.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from bench_support import LOT, median, met, percentile, request, section_main, table

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.telemetry import FillQualityTracker

TARGET = 5.0


def pipeline_round(folder: Path, parents: int, children: int, *,
                   listener: Callable[[dict[str, Any]], None] | None = None,
                   profilers: tuple[cProfile.Profile, cProfile.Profile] | None = None,
                   markouts: bool = True) -> tuple[float, float, int, int]:
    """One round: (wall s, CPU s, children placed, rows written)."""
    clock = VirtualClock()
    broker = InMemoryBroker(clock=clock, bid=100.0, ask=100.05)
    tracker = FillQualityTracker("paper", folder)
    engine = ExecutionEngine(broker, clock=clock, tracker=tracker,
                             config=EngineConfig(id_seed=1) if markouts else
                             EngineConfig(id_seed=1, markout_horizons_s=()))
    placed = [0]

    def count(row: dict[str, Any]) -> None:
        if row.get("event") == "placed":
            placed[0] += 1

    engine.add_listener(count)
    if listener is not None:
        engine.add_listener(listener)
    requests = [request(quantity=LOT * children, execution_algo="TWAP",
                        max_child_orders=children, horizon_s=600, randomize_slices=False,
                        tradingsymbol=f"NIFTY26D01{24000 + 50 * (i % 80)}"
                                      f"{'CE' if i % 2 else 'PE'}")
                for i in range(parents)]
    if profilers is not None:
        caller, loop_profile = profilers
        engine.loop.call_soon_threadsafe(loop_profile.enable)
        caller.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    futures = [engine.submit(r)[1] for r in requests]
    if profilers is not None:
        profilers[0].disable()  # the caller's thread: its submits, not its wait
    for future in futures:
        future.result(600)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if profilers is not None:
        engine.loop.call_soon_threadsafe(profilers[1].disable)
        time.sleep(0.05)
    rows = tracker.rows_written
    engine.shutdown()
    return wall, cpu, placed[0], rows


def day_blocks(folder: Path, blocks: int, parents: int,
               children: int) -> list[tuple[float, float, int, int, int]]:
    """ONE engine the whole run, ``blocks`` blocks of ``parents`` TWAPs of ``children``
    children: per block (wall s, CPU s, order-book reads, orders those reads applied, orders in
    the broker's book at its end). What a day's earlier parents leave behind shows as later
    blocks costing more."""
    clock = VirtualClock()
    broker = InMemoryBroker(clock=clock, bid=100.0, ask=100.05)
    engine = ExecutionEngine(broker, clock=clock, tracker=FillQualityTracker("paper", folder),
                             config=EngineConfig(id_seed=1))
    out = []
    for _ in range(blocks):
        requests = [request(quantity=LOT * children, execution_algo="TWAP",
                            max_child_orders=children, horizon_s=600, randomize_slices=False,
                            tradingsymbol=f"NIFTY26D01{24000 + 50 * (i % 80)}"
                                          f"{'CE' if i % 2 else 'PE'}")
                    for i in range(parents)]
        reads, applied = engine.orders.book_reads, engine.orders.book_orders_applied
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for future in [engine.submit(r)[1] for r in requests]:
            future.result(600)
        out.append((time.perf_counter() - wall0, time.process_time() - cpu0,
                    engine.orders.book_reads - reads,
                    engine.orders.book_orders_applied - applied, len(broker.orders())))
    engine.shutdown()
    return out


def row_floor_us(rows: list[dict[str, Any]], folder: Path, passes: int = 5) -> float:
    """µs to serialise and append one of ``rows`` (median over ``passes``)."""
    path = folder / "floor.jsonl"
    per_row = []
    for _ in range(passes):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        started = time.perf_counter()
        for row in rows:
            os.write(fd, orjson.dumps(row) + b"\n")
        per_row.append((time.perf_counter() - started) / len(rows) * 1e6)
        os.close(fd)
        path.unlink()
    return median(per_row)


def profile_text(profilers: tuple[cProfile.Profile, cProfile.Profile], top: int = 14) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profilers[0], stream=buffer)
    stats.add(profilers[1])
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buffer.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return "\n".join(ln.replace(root, "") for ln in lines[start:start + top + 1])


def results(quick: bool) -> str:
    started = time.perf_counter()
    parents, children = (20, 5) if quick else (200, 10)
    rounds = 2 if quick else 8
    blocks, block_parents = (3, 20) if quick else (10, 200)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        folder = Path(tmp)
        sample: list[dict[str, Any]] = []
        pipeline_round(folder / "warm", parents, children, listener=sample.append)
        sizes = sorted(len(orjson.dumps(r)) for r in sample)
        runs: list[tuple[float, float, int, int]] = []
        floors: list[float] = []
        for r in range(rounds):
            floors.append(row_floor_us(sample, folder))
            runs.append(pipeline_round(folder / f"round{r}", parents, children))
        floors.append(row_floor_us(sample, folder))
        bare = [pipeline_round(folder / f"bare{r}", parents, children, markouts=False)
                for r in range(rounds)]
        day = day_blocks(folder / "day", blocks, block_parents, children)
        profilers = (cProfile.Profile(), cProfile.Profile())
        pipeline_round(folder / "profiled", parents, children, profilers=profilers)
    floor = median(floors)
    wall_child = [w / c * 1e6 for w, _, c, _ in runs]
    cpu_child = [u / c * 1e6 for _, u, c, _ in runs]
    rows_child = median([n / c for _, _, c, n in runs])
    ratio = median(wall_child) / floor
    bare_child = [w / c * 1e6 for w, _, c, _ in bare]
    bare_rows = median([n / c for _, _, c, n in bare])
    body = [(f"round {i + 1}", f"{w:.2f} s", f"{u:.2f} s", f"{c:,}", f"{n:,}",
             f"{w / c * 1e6:,.0f}", f"{u / c * 1e6:,.0f}", f"{w / c * 1e6 / floor:,.0f}×")
            for i, (w, u, c, n) in enumerate(runs)]
    lines = ["### Per-child overhead of the pipeline", "",
             f"{parents} TWAP parents × {children} children a round, {rounds} rounds, each a "
             "fresh `ExecutionEngine` on the in-memory broker (instant fills) and a virtual "
             "clock, telemetry on (a journal row per event, fsync per parent). Per child: wall "
             "time from the first submit to the last result / children placed. The floor: "
             "`orjson.dumps` + one `os.write` of the rows this pipeline wrote (median "
             f"{percentile(sizes, 50):,.0f} bytes), per row, measured between the rounds "
             f"({' / '.join(f'{f:.2f}' for f in floors)} µs).", "",
             *table(["round", "wall", "CPU (all threads)", "children", "rows",
                     "µs a child (wall)", "µs a child (CPU)", "× the row floor"], body), "",
             *table(["figure", "value"], [
                 ("one row serialised and appended (floor)", f"{floor:.2f} µs"),
                 ("a child through the pipeline, wall: median / max over rounds",
                  f"{median(wall_child):,.0f} / {max(wall_child):,.0f} µs"),
                 ("a child through the pipeline, CPU: median / max",
                  f"{median(cpu_child):,.0f} / {max(cpu_child):,.0f} µs"),
                 ("rows written a child (placed, filled, markouts; the parent's rows shared)",
                  f"{rows_child:.1f}"),
                 ("a child / the floor", f"{ratio:,.0f}× (target ≤ {TARGET:g}×: "
                                         f"{met(ratio <= TARGET)})"),
                 ("a child / its own rows at the floor", f"{ratio / rows_child:,.0f}×"),
                 ("the same without markouts (`markout_horizons_s=()`), wall: median / max",
                  f"{median(bare_child):,.0f} / {max(bare_child):,.0f} µs, "
                  f"{bare_rows:.1f} rows a child, {median(bare_child) / floor:,.0f}× the floor"),
             ]), "",
             f"One engine the whole run (a desk's day): {blocks} blocks of {block_parents} "
             f"TWAP parents × {children} children, one after the other, on one "
             "`ExecutionEngine` and one in-memory broker (whose order book, like Kite's, "
             "holds every order of the day). Per block:", "",
             *table(["block", "µs a child (wall)", "µs a child (CPU)", "order-book reads",
                     "orders those reads applied", "orders in the book"],
                    [(f"{i + 1}", f"{w / (block_parents * children) * 1e6:,.0f}",
                      f"{u / (block_parents * children) * 1e6:,.0f}", f"{r:,}", f"{a:,}",
                      f"{n:,}") for i, (w, u, r, a, n) in enumerate(day)]), "",
             "Where one round's time goes (cProfile of the caller's thread and the engine's "
             "loop thread, by own time; the broker's pool threads are not profiled):", "",
             "```", profile_text(profilers), "```", "", NOTES, "",
             f"Measured in {time.perf_counter() - started:.1f} s."]
    return "\n".join(lines) + "\n"


NOTES = """\
Reading it: a child is a dozen steps in Python, not one row: the slice's timer on the loop, the
quote and its age, the router and the slippage model, the rate budget and send permit, a hop to
the broker's thread pool and back, the order tracker, a row per event built from the parent and
child state and handed to every listener, and each fill's markout timers and rows. The markout
timers were the largest single cost under the virtual clock until 2026-12-07: kept in a `set` of
`asyncio.TimerHandle`, whose hash is its due time, they made every `add`/`discard` compare
against all the timers due at that instant (quadratic in fills per instant); now keyed by a
number (`engine/markouts.py`), which took the full run from ~225x to ~125x the row floor (0.9 ms
to 0.5 ms a child, measured side by side). The plan for the rest, in order of what it saves:
batch the journal rows of one loop turn into one `os.write`; make `compact_row` cheaper (rules
precomputed per event); build rows as plain dicts on the hot path; skip the thread-pool hop for
brokers that are in-process. Even then a child costs tens of rows' writes: 5x one row is out of
reach for a pipeline of this many steps in Python, and the without-markouts line is the nearer
yardstick.

Round over round (2026-12-07). The run of 14:45 read 587, 613, 652, 750, 783 µs a child over
its five rounds, as if each fresh engine cost more than the one before. It does not reproduce:
ten rounds interleaved with a control that builds no engine (the same requests built and
serialised), twice, at a load of 0.5-1.3, gave 613-982 and 685-882 µs a child in no order
(round 10 below round 1 both times), the control varying as much (4.9-9.0 µs); the bench's
five rounds twice more, 927, 849, 837, 798, 873 and 964, 846, 886, 890, 869; sixteen rounds
alternating the code before and after the change below, 550-788 µs, no trend. After each
shut-down engine the process holds as many objects as before (49.5 k tracked by the garbage
collector, within 0.2 %), traced memory grows a few KB a round (bounded caches), the engine is
collected, its loop thread is joined and the broker's pool threads end within a second. That
growth was the shared machine, not the engines.

Within one engine it was real (the table above, one engine the whole run): every order-book
read applied every order of the day's book again (the book, Kite's too, holds the whole day),
so each parent made every later read dearer. Two runs alternating the code before and after,
12 blocks of 200 parents: before, the reads applied 11,000 orders in the first block and
231,000 in the twelfth (24,000 orders in the book), and a child cost 540-620 µs in the first
block, 880 in the twelfth; after, a read passes over the orders an earlier read found settled
and nothing follows (`engine/order_tracker.py`): 2,000 applied a block whatever the day, and
570-635 µs then 765-790. What growth is left is the broker's: the in-memory broker builds and
the tracker walks the whole book on each read (as a read of Kite's book must: the REST call
returns the day), and the day's orders stay in the process (the garbage collector's share
went from 35 to 65 µs a child over those 12 blocks)."""


def main() -> int:
    return section_main(results, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
