"""The what-if at full size: does replaying paper parents under their own algorithm reproduce
their realized cost within the replay's band, and what does the whole replay cost in time?

Run: ``.venv/bin/python bench/bench_whatif.py [--quick]`` (prints a markdown section; the
results are in ``bench/results_whatif.md``).

Each session is :func:`imperium_exec.testing.paper_session.paper_session`: parents of every
algorithm, both sides and urgencies, on a few strikes around the money, on the paper
exchange's moving market in virtual time, with markouts. Every finished parent is replayed
under its own algorithm over 40 seeds (:func:`imperium_exec.whatif.replay.what_if`,
``own_only``); the check is whether its realized cost lies in the 2.5th–97.5th percentile band.
Beside it, the share of filled units that rested (priced short of the far touch when sent,
:func:`imperium_exec.events.liquidity.fill_liquidity`): in the journal, and in the replays.
One session is then replayed under all five algorithms, timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from imperium_exec.events.liquidity import Liquidity, fill_liquidity
from imperium_exec.sim.config import PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.telemetry import read_rows
from imperium_exec.testing.paper_session import paper_session
from imperium_exec.whatif.market import read_markets
from imperium_exec.whatif.replay import WhatIfReport, what_if
from imperium_exec.whatif.report import render_what_if

SEEDS = 40


def realized_rested(rows: list[dict[str, Any]], parents: set[str]) -> tuple[int, int]:
    """(units that rested, units filled) of ``parents``' fills in the journal."""
    rested = filled = 0
    for row in rows:
        units = row.get("filled_quantity")
        if row.get("event") != "filled" or not units or row.get("parent_id") not in parents:
            continue
        filled += units
        if fill_liquidity(row.get("side"), row.get("limit_price"), row.get("touch_at_send"),
                          row.get("mid_at_send"), row.get("queue_priority")) \
                is Liquidity.RESTING:
            rested += units
    return rested, filled


def replayed_rested(report: WhatIfReport) -> tuple[float, float]:
    """(units that rested, units filled) of the own-algorithm replays, a seed's mean."""
    rested = filled = 0.0
    for p in report.replayed:
        own = p.outcomes[p.parent.algo]
        units = own.filled_share * p.parent.quantity
        filled += units
        rested += own.rested_share * units
    return rested, filled


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small sessions")
    args = parser.parse_args(argv)
    sessions = [(12, 16), (13, 16)] if args.quick else \
        [(seed, 40) for seed in (21, 22, 23, 24, 25, 26)]
    params = paper_slippage_params(PaperConfig())
    print("| session (seed, parents) | replayed | not (too little market) | in own band | "
          "outside (algorithm) | rested: journal / replays | replay s |")
    print("|---|---|---|---|---|---|---|")
    inside = total = 0
    by_algo: Counter[str] = Counter()
    outside_by_algo: Counter[str] = Counter()
    rested_journal = [0.0, 0.0]
    rested_replays = [0.0, 0.0]
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last.jsonl"
        for seed, parents in sessions:
            path = paper_session(Path(tmp) / f"s{seed}.jsonl", parents=parents, seed=seed,
                                 strikes=3)
            rows = read_rows(path)
            journal = read_markets(rows)
            started = time.perf_counter()
            report = what_if(journal, params, impact="paper", seeds=SEEDS, own_only=True)
            took = time.perf_counter() - started
            was = realized_rested(rows, {p.parent.parent_id for p in report.replayed})
            now = replayed_rested(report)
            for total_, (r, f) in ((rested_journal, was), (rested_replays, now)):
                total_[0] += r
                total_[1] += f
            checked = [(p.parent.algo, p.own_within_band()) for p in report.replayed]
            ok = sum(bool(c) for _, c in checked)
            outside = Counter(a for a, c in checked if not c)
            inside += ok
            total += len(checked)
            by_algo.update(a for a, _ in checked)
            outside_by_algo.update(outside)
            print(f"| {seed}, {parents} | {len(report.replayed)} | "
                  f"{len(report.parents) - len(report.replayed)} | {ok} of {len(checked)} | "
                  f"{', '.join(f'{a} {n}' for a, n in sorted(outside.items())) or '-'} | "
                  f"{share(*was)} / {share(*now)} | {took:.1f} |")
            last = path
        print(f"\nIn all: **{inside} of {total} ({100 * inside / max(total, 1):.1f} %)** "
              f"replayed parents' realized cost lies in their own algorithm's band "
              f"({SEEDS} seeds, 2.5th–97.5th percentile).")
        print("Outside, by algorithm: " + ", ".join(
            f"{a} {outside_by_algo[a]} of {by_algo[a]}" for a in sorted(by_algo)))
        print(f"Filled units that rested: {share(*rested_journal)} in the journals, "
              f"{share(*rested_replays)} in their own algorithm's replays (a seed's mean).")
        journal = read_markets(read_rows(last))
        started = time.perf_counter()
        report = what_if(journal, params, impact="the paper exchange's own impact",
                         seeds=SEEDS)
        took = time.perf_counter() - started
        runs = len(report.replayed) * 5 * SEEDS
        print(f"\nEvery algorithm on the last session: {len(journal.parents)} parents, "
              f"{runs:,} replays in {took:.1f} s ({1000 * took / max(runs, 1):.1f} ms a "
              f"replay).\n")
        text = render_what_if(report)
        print("```")
        print("\n".join(text.splitlines()[-10:]))
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
