"""The telemetry write path beside a naive stdlib writer and a bare orjson loop, in one run.

Run: ``.venv/bin/python bench/bench_telemetry.py [--quick]`` (prints the markdown section).

The rows are the engine's own (TWAP parents on the in-memory broker and a virtual clock: accepted,
placed, filled, markout and finished rows, as written), written in the engine's order by:

- **FillQualityTracker**: ``append(row)`` per row, ``sync()`` when a parent's ``finished`` row is
  written (as the engine does);
- **stdlib, open per row**: ``json.dumps`` then ``open(path, "a")``, ``write``, close (which
  flushes) per row; ``os.fsync`` per parent;
- **stdlib, file kept open**: ``json.dumps``, ``write`` and ``flush()`` per row on one open file;
  ``os.fsync`` per parent;
- **bare orjson**: ``orjson.dumps(row) + b"\\n"`` and one ``os.write`` on an ``O_APPEND``
  descriptor per row; ``os.fsync`` per parent.

All four are crash-safe in the same sense: every row has reached the OS (survives the process
dying) before its call returns, and a parent's rows reach the disk (``fsync``) when its finished
row is written (group commit per parent). Each is also measured without the fsync (the write
path's own cost). Rounds alternate the writers so noise hits all alike; per row: the median
over rounds of (round time / rows), and per call (append, or dumps + write) p50 / p99 / max over
every row of every round.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from bench_support import engine_rows, median, met, percentile, section_main, table

from imperium_exec.telemetry import FillQualityTracker

Rows = list[dict[str, Any]]
#: A writer: (rows, path, fsync per parent) -> per-call seconds.
Writer = Callable[[Rows, Path, bool], list[float]]


def _finished(row: dict[str, Any]) -> bool:
    return row.get("event") == "finished"


def write_tracker(rows: Rows, path: Path, fsync: bool) -> list[float]:
    calls: list[float] = []
    clock = time.perf_counter
    with FillQualityTracker("paper", path=path) as tracker:
        for row in rows:
            t0 = clock()
            tracker.append(row)
            if fsync and _finished(row):
                tracker.sync()
            calls.append(clock() - t0)
    return calls


def write_stdlib_open_per_row(rows: Rows, path: Path, fsync: bool) -> list[float]:
    calls: list[float] = []
    clock = time.perf_counter
    for row in rows:
        t0 = clock()
        line = json.dumps(row) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
        if fsync and _finished(row):
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        calls.append(clock() - t0)
    return calls


def write_stdlib_kept_open(rows: Rows, path: Path, fsync: bool) -> list[float]:
    calls: list[float] = []
    clock = time.perf_counter
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            t0 = clock()
            f.write(json.dumps(row) + "\n")
            f.flush()
            if fsync and _finished(row):
                os.fsync(f.fileno())
            calls.append(clock() - t0)
    return calls


def write_bare_orjson(rows: Rows, path: Path, fsync: bool) -> list[float]:
    calls: list[float] = []
    clock = time.perf_counter
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for row in rows:
            t0 = clock()
            os.write(fd, orjson.dumps(row) + b"\n")
            if fsync and _finished(row):
                os.fsync(fd)
            calls.append(clock() - t0)
    finally:
        os.close(fd)
    return calls


WRITERS: dict[str, Writer] = {
    "FillQualityTracker": write_tracker,
    "stdlib, open per row": write_stdlib_open_per_row,
    "stdlib, file kept open": write_stdlib_kept_open,
    "bare orjson": write_bare_orjson,
}
NAIVE = "stdlib, open per row"


def measure(rows: Rows, rounds: int, fsync: bool,
            folder: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Per writer: (µs per row of each round, µs of every call)."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in WRITERS}
    names = list(WRITERS)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            path = folder / f"{name.replace(' ', '_').replace(',', '')}_{r}_{fsync}.jsonl"
            calls = WRITERS[name](rows, path, fsync)
            path.unlink()
            # The calls only: opening and closing a writer (the tracker fsyncs on close) are
            # once a session, not a row's cost.
            out[name][0].append(sum(calls) / len(rows) * 1e6)
            out[name][1].extend(c * 1e6 for c in calls)
    return out


def profile_tracker(rows: Rows, folder: Path, top: int = 8) -> tuple[str, str]:
    """cProfile of the tracker's write path (no fsync): where its time goes, and a line on
    the share of ``append`` beyond a bare loop's dumps and write."""
    profiler = cProfile.Profile()
    path = folder / "profile.jsonl"
    profiler.enable()
    write_tracker(rows, path, False)
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    lines = [ln for ln in buffer.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(stats, "stats", {})
    cumulative = {func[2]: float(entry[3]) for func, entry in table.items()}
    append = cumulative.get("append", 0.0)
    share = ""
    if append and "compact_row" in cumulative:
        share = (f"`compact_row` (the journal's compact lines, schema 8) is "
                 f"{cumulative['compact_row'] / append:.0%} of `append`'s time in this pass: "
                 "the tracker compacts each row in Python before `orjson.dumps`, the bare loop "
                 "does not (it writes the whole row).")
    return "\n".join(lines[start:start + top + 1]), share


def results(quick: bool) -> str:
    started = time.perf_counter()
    base = engine_rows(parents=5 if quick else 40, children=5)
    copies = 1 if quick else 10
    rows = base * copies
    rounds = 2 if quick else 9
    sizes = sorted(len(orjson.dumps(r)) for r in base)
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as tmp:
        folder = Path(tmp)
        grouped = measure(rows, rounds, True, folder)
        plain = measure(rows, rounds, False, folder)
        profile, share = profile_tracker(rows, folder)
    ours_g = median(grouped["FillQualityTracker"][0])
    ours_p = median(plain["FillQualityTracker"][0])
    lines = ["### Telemetry write path", "",
             f"{len(rows):,} engine rows ({len(base)} distinct: accepted, placed, filled, markout "
             f"and finished rows of TWAP parents; median {percentile(sizes, 50):,.0f} bytes, "
             f"max {sizes[-1]:,}) written by each writer, {rounds} rounds alternating the "
             "writers. Crash-safe alike: each row reaches the OS before its call returns; "
             "with group commit, an fsync when a parent's finished row is written "
             f"({sum(map(_finished, rows)):,} fsyncs a round).", ""]
    body = []
    for name in WRITERS:
        g_round = grouped[name][0]
        p_round, p_calls = plain[name]
        body.append((name, f"{median(g_round):.2f}", f"{median(g_round) / ours_g:.2f}",
                     f"{median(p_round):.2f}", f"{median(p_round) / ours_p:.2f}",
                     " / ".join(f"{percentile(p_calls, q):.1f}" for q in (50, 99))
                     + f" / {max(p_calls):.0f}"))
    lines += table(["writer", "µs a row, group commit (median of rounds)", "× the tracker",
                    "µs a row, no fsync", "× the tracker", "µs a call, no fsync: p50 / p99 / max"],
                   body)
    vs_naive_g = median(grouped[NAIVE][0]) / ours_g
    vs_naive_p = median(plain[NAIVE][0]) / ours_p
    vs_bare_g = ours_g / median(grouped["bare orjson"][0])
    vs_bare_p = ours_p / median(plain["bare orjson"][0])
    ceiling = median(plain[NAIVE][0]) / median(plain["bare orjson"][0])
    p50 = {name: percentile(plain[name][1], 50) for name in WRITERS}
    lines += ["", *table(["target", "group commit", "no fsync"], [
        ("≥ 10× faster than the naive stdlib writer (open per row)",
         f"{vs_naive_g:.1f}× ({met(vs_naive_g >= 10)})",
         f"{vs_naive_p:.1f}× ({met(vs_naive_p >= 10)})"),
        ("within 1.5× of bare orjson",
         f"{vs_bare_g:.2f}× ({met(vs_bare_g <= 1.5)})",
         f"{vs_bare_p:.2f}× ({met(vs_bare_p <= 1.5)})"),
    ]), "", f"Bare orjson itself is {ceiling:.1f}× the naive writer without fsync (per-call "
        f"p50: tracker {p50['FillQualityTracker']:.1f} µs, bare orjson {p50['bare orjson']:.1f} "
        f"µs, naive {p50[NAIVE]:.1f} µs, stdlib kept open {p50['stdlib, file kept open']:.1f} "
        "µs): no writer built on `orjson.dumps` and one `os.write` a row can be more than "
        "that many times the naive one, so where the ceiling is under 10× the first target "
        "is out of the write path's reach and depends on the row's size (`json.dumps` grows "
        "with the row faster than a system call does).",
        "", "Where the tracker's time goes (cProfile, one pass without fsync, by own time):", "",
        "```", profile, "```", "", share, "", NOTES,
        "", f"Measured in {time.perf_counter() - started:.1f} s."]
    return "\n".join(lines) + "\n"


NOTES = """\
Reading it: the tracker's write is `orjson.dumps` (with numpy values allowed) of the row as
the journal keeps it, a lock and one `os.write` on an `O_APPEND` descriptor; whatever it does
beyond the bare loop shows in the profile above. The stdlib writers pay `json.dumps` (several
times orjson's cost on a row of this size) and, opening per row, an `open`/`close` pair of
system calls a row. With group commit the fsync per parent (tens to hundreds of µs on this
VM's disk, spread over the parent's rows) is the same for every writer and narrows every
ratio: the ≥ 10× target is a property of the write path, which the no-fsync column measures.

Where "within 1.5× of bare orjson" is missed, the gap is the compaction (the profile): the bare
loop writes each row whole (about 1.3 KB), the tracker first leaves out its nulls and what a
reader rebuilds (about 0.6 KB on the journal). The plan, in order: (1) compact at the source:
the event factory knows which fields it derived (`timestamp` from `ts`, `child_id` and `tag`
from the parent, child and attempt, the status its event implies), so the row it hands the
writer can say so and the writer need not rebuild and compare each of them (about half of
`compact_row`'s time); (2) leave the nulls out in the same pass that turns the event's tuple
into a dict (one dict built, not two); (3) one `os.write` for the rows of one turn of the
engine's loop (one system call for a burst, the same crash safety at the turn's end). Each step
is measured here against the same baselines before it stays."""


def main() -> int:
    return section_main(results, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
