"""The test suite's wall time: ``.ci/run`` (what CI runs) in a subprocess, beside its CPU time.

Run: ``.venv/bin/python bench/bench_suite.py [--quick]`` (``--quick`` skips it: the suite takes
minutes). The wall time against the CPU time its processes used (user + system, the children's
``getrusage``) says how much of it is waiting on real clocks rather than computing; pytest's
ten slowest tests (``--durations=10``, passed through ``PYTEST_ADDOPTS``) say where.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 120.0


def results(quick: bool) -> str:
    if quick:
        return "### Test suite wall time\n\nskipped in --quick.\n"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PYTEST_ADDOPTS="--durations=10",
               QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    started = time.perf_counter()
    done = subprocess.run([str(REPO / ".ci" / "run")], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = done.stdout.splitlines()
    # `./dev test` may run pytest more than once (the timing tests alone, after the rest).
    summary = "; ".join(ln.strip("= ") for ln in out
                        if re.search(r"\d+ (passed|failed|deselected)", ln)) or "no summary line"
    start = next((i for i, ln in enumerate(out) if "slowest" in ln and "durations" in ln), None)
    slowest = [ln for ln in out[start + 1:start + 11] if ln.strip()] if start is not None else []
    lines = ["### Test suite wall time", "",
             "`.ci/run` (`./dev test -q -p no:cacheprovider`, the README's test command) in a "
             "subprocess, the environment already installed; `--durations=10` added through "
             "`PYTEST_ADDOPTS`. The baseline is the CPU time the suite's processes used in the "
             "same run: wall time beyond it is waiting (real clocks, sleeps, other load).", "",
             "| figure | value |", "|---|---|",
             f"| result | {summary} (exit code {done.returncode}) |",
             f"| wall time | {wall:.1f} s |",
             f"| CPU time (user + system, all its processes) | {cpu:.1f} s |",
             f"| wall / CPU | {wall / cpu:.2f}× |" if cpu else "| wall / CPU | - |",
             f"| target: under {TARGET_S:.0f} s of wall time | "
             f"{'met' if wall < TARGET_S and done.returncode == 0 else '**missed**'} |", ""]
    if slowest:
        lines += ["The ten slowest (pytest's `--durations`):", "", "```", *slowest, "```", ""]
    if done.returncode != 0:
        tail = [ln for ln in out if ln.startswith(("FAILED", "ERROR"))][:20]
        lines += ["Failures:", "", "```", *(tail or out[-20:]), "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    print(results(parser.parse_args().quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
