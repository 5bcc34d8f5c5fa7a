"""The what-if at full size: does replaying paper parents under their own algorithm reproduce
their realized cost within the replay's band, and what does the whole replay cost in time?

Run: ``.venv/bin/python bench/bench_whatif.py [--quick]`` (prints a markdown section; the
results are in ``bench/results_whatif.md``).

Each session is :func:`imperium_exec.testing.paper_session.paper_session`: parents of every
algorithm, both sides and urgencies, on a few strikes around the money, on the paper
exchange's moving market in virtual time, with markouts. Every finished parent is replayed
under its own algorithm over 40 seeds (:func:`imperium_exec.whatif.replay.what_if`,
``own_only``); the check is whether its realized cost lies in the 2.5th–97.5th percentile band.
One session is then replayed under all five algorithms, timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from imperium_exec.sim.config import PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.telemetry import read_rows
from imperium_exec.testing.paper_session import paper_session
from imperium_exec.whatif.market import read_markets
from imperium_exec.whatif.replay import what_if
from imperium_exec.whatif.report import render_what_if

SEEDS = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small sessions")
    args = parser.parse_args(argv)
    sessions = [(12, 16), (13, 16)] if args.quick else \
        [(seed, 40) for seed in (21, 22, 23, 24, 25, 26)]
    params = paper_slippage_params(PaperConfig())
    print("| session (seed, parents) | replayed | not (too little market) | in own band | "
          "outside (algorithm) | replay s |")
    print("|---|---|---|---|---|---|")
    inside = total = 0
    by_algo: Counter[str] = Counter()
    outside_by_algo: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last.jsonl"
        for seed, parents in sessions:
            path = paper_session(Path(tmp) / f"s{seed}.jsonl", parents=parents, seed=seed,
                                 strikes=3)
            journal = read_markets(read_rows(path))
            started = time.perf_counter()
            report = what_if(journal, params, impact="paper", seeds=SEEDS, own_only=True)
            took = time.perf_counter() - started
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
                  f"{took:.1f} |")
            last = path
        print(f"\nIn all: **{inside} of {total} ({100 * inside / max(total, 1):.1f} %)** "
              f"replayed parents' realized cost lies in their own algorithm's band "
              f"({SEEDS} seeds, 2.5th–97.5th percentile).")
        print("Outside, by algorithm: " + ", ".join(
            f"{a} {outside_by_algo[a]} of {by_algo[a]}" for a in sorted(by_algo)))
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
