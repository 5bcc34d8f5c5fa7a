"""The live path's fault soak at full size: 2,000+ children across 120 parents on 120
instruments, through the real kiteconnect client and the fake Kite server (REST and ticker),
with ghosts, late "timed out" orders, 5xx, HTML 502, injected 429s, a ticker dropped every
20 s and silenced once, and a market that moves; then a run of its own with the access token
expiring mid-run. Kite's 400 writes a minute make this a run of several minutes.

    python bench/soak_live.py [--out bench/results_soak.md] [--quick]

Each run ends by checking what must hold whatever the faults (see imperium_exec.testing.soak):
no duplicate order, every child terminal in telemetry, every parent finished, each parent's
reported fills equal to the broker's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from imperium_exec.testing.soak import SoakPlan, SoakReport, run_soak

FULL = SoakPlan(parents=120, twap_share=2 / 3, twap_slices=24, twap_horizon_s=420.0,
                immediate_lots=(28, 40, 56, 81), resting_share=0.2, place_fault_rate=0.06,
                cancel_fault_rate=0.05, book_fault_rate=0.03, ticker_drop_every_s=20.0,
                ticker_silence_at_s=60.0, spread=0.05, run_s=480.0, seed=2026)
EXPIRY = SoakPlan(parents=60, twap_share=0.7, twap_slices=10, twap_horizon_s=60.0,
                  place_fault_rate=0.0, ticker_drop_every_s=0.0, ticker_silence_at_s=None,
                  token_expiry_at_s=20.0, run_s=90.0, seed=7)


def table(name: str, report: SoakReport) -> list[str]:
    rows = [
        ("parents / children / orders at the broker",
         f"{report.parents} / {report.children} / {report.orders_at_broker}"),
        ("wall time", f"{report.seconds:.0f} s"),
        ("duplicate orders", str(len(report.duplicates))),
        ("parents overfilled", str(len(report.overfilled))),
        ("parents unfinished", str(len(report.unfinished))),
        ("children without exactly one terminal row",
         str(len(report.children_without_one_terminal_row))),
        ("parents whose fills differ from the broker's", str(len(report.fill_mismatches))),
        ("429 replies (injected)", f"{report.throttled_replies} ({report.injected_throttles})"),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items()))
         or "none"),
        ("parent statuses", ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items()))),
        ("rows by event", ", ".join(f"{k} {v}" for k, v in sorted(report.events.items()))),
        ("requests by route", ", ".join(f"{k} {v}" for k, v in sorted(report.requests.items()))),
    ]
    if report.requests_after_expiry is not None:
        rows.append(("requests after the token expired", str(report.requests_after_expiry)))
        rows.append(("filled later on orders flagged as possibly live",
                     f"{report.filled_out_of_sight} units"))
    out = [f"### {name}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return [*out, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="a few parents, to try it out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    full, expiry = FULL, EXPIRY
    if args.quick:
        from dataclasses import replace
        full = replace(FULL, parents=20, twap_slices=4, twap_horizon_s=20.0, run_s=40.0)
        expiry = replace(EXPIRY, parents=10, token_expiry_at_s=5.0, run_s=20.0)
    lines = ["# Live-path fault soak", "",
             f"{dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, commit "
             f"{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}, "  # noqa: E501
             f"`python bench/soak_live.py{' --quick' if args.quick else ''}`", ""]
    started = time.monotonic()
    for name, plan in (("Faults on every route", full), ("Token expiry mid-run", expiry)):
        print(f"running: {name}", flush=True)
        report = run_soak(plan, log=lambda text: print("  " + text, flush=True))
        print(report.summary(), flush=True)
        lines += table(name, report)
        for label, items in (("duplicates", report.duplicates),
                             ("unfinished", report.unfinished),
                             ("fill mismatches", report.fill_mismatches),
                             ("children", report.children_without_one_terminal_row)):
            if items:
                lines += [f"{label}: " + "; ".join(items[:10]), ""]
    lines.append(f"Total {time.monotonic() - started:.0f} s.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
