"""One benchmark command: every section of ``bench/``, each beside its baseline from the same run.

Run: ``./dev bench [--quick] [--only NAME ...] [--out FILE]`` (or ``.venv/bin/python
bench/run.py ...``). Writes ``bench/RESULTS.md``: the date, the machine, the Python and package
versions, the commit and the command, then one section per benchmark.

A section is a module of ``bench/`` with ``def results(quick: bool) -> str`` returning a
markdown section (``### title``, a table, what was measured and how). Each section runs in a
child process of its own (a fresh interpreter: no Qt application, thread or page cache of one
section is left to the next, and one that crashes takes only itself down). A section that
raises is reported as failed with its traceback, the others still run, and the command exits 1.
A section whose module is not in this tree says so and is not a failure.

``--quick`` runs each section's quick variant: small, seconds each, a check that the harness
and the sections work (CI runs a couple of them), not figures to quote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"


@dataclass(frozen=True)
class Section:
    name: str      #: what ``--only`` takes
    module: str    #: the module in bench/ with ``results(quick)``
    title: str     #: the heading when the section cannot speak for itself
    directory: Path = BENCH  #: where the module lives


#: In the order they run: the short, timing-sensitive ones first, the suite (which loads both
#: CPUs for minutes) last.
SECTIONS: tuple[Section, ...] = (
    Section("telemetry", "bench_telemetry", "Telemetry write path"),
    Section("overhead", "bench_overhead", "Per-child overhead of the pipeline"),
    Section("gui", "bench_gui_heartbeat", "GUI responsiveness"),
    Section("schedule", "bench_schedule", "Schedule accuracy while the GUI thread is blocked"),
    Section("gui_calls", "bench_gui_calls", "GUI-thread broker calls"),
    Section("quality", "bench_quality", "Execution quality against the optimum"),
    Section("dock", "bench_dock", "Dock"),
    Section("tca", "bench_tca", "TCA"),
    Section("live", "bench_live", "Live path"),
    Section("baskets", "bench_baskets_live", "Baskets on the live path"),
    Section("suite", "bench_suite", "Test suite wall time"),
)

#: Versions reported in the header (distribution names; the first installed of each group).
PACKAGES: tuple[tuple[str, ...], ...] = (
    ("PySide6", "PySide6-Essentials"), ("kiteconnect",), ("orjson",), ("pydantic",),
    ("numpy",), ("duckdb",), ("pyqtgraph",), ("qasync",), ("pandas",), ("imperium-exec",))

NOT_PRESENT = "section not present in this tree"


@dataclass
class Outcome:
    section: Section
    status: str    #: ok, failed, not present
    text: str
    wall_s: float
    #: The run that measured it: "this run", or an earlier run's date and commit (``--keep``).
    measured: str = "this run"
    #: The 1-minute load average when it ended (other work on the machine shows here).
    load: str = ""


#: Each section in the file sits between these, so ``--keep`` can carry it into the next file.
_OPEN = "<!-- bench-section: {name} | {status} | {wall:.1f} | {measured} -->"
_SECTION = re.compile(r"<!-- bench-section: (\S+) \| ([^|]+?) \| ([\d.]+) \| (.*?) -->\n"
                      r"(.*?)\n<!-- /bench-section -->", re.DOTALL)
_WALL_LINE = re.compile(r"\n\*Section wall time: [^\n]*\*\s*$")


# ------------------------------------------------------------------ the header


def _first_line(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine() -> list[tuple[str, str]]:
    """CPU model, cores, memory, OS and load, read from /proc and ``platform``."""
    model = _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} logical" + (f" ({usable} usable)" if usable else "")
    total = _first_line("/proc/meminfo", "MemTotal")
    available = _first_line("/proc/meminfo", "MemAvailable")
    memory = "unknown"
    if total:
        memory = f"{int(total.split()[0]) / 2**20:.1f} GiB"
        if available:
            memory += f" ({int(available.split()[0]) / 2**20:.1f} GiB available at the start)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("CPU", model), ("cores", cores), ("memory", memory),
            ("OS", platform.platform()), ("load average at the start", load)]


def versions() -> list[tuple[str, str]]:
    found = [("Python", f"{platform.python_version()} ({platform.python_implementation()}, "
                       f"{sys.executable})")]
    for names in PACKAGES:
        version = "not installed"
        for name in names:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            found.append((name, version))
            break
        else:
            found.append((names[0], version))
    return found


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown (not a git checkout)"
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head} ({branch}{', uncommitted changes' if dirty else ''})"


def header(command: str, quick: bool, started: dt.datetime) -> list[str]:
    lines = ["# Benchmark results", "",
             "Written by `./dev bench` (`bench/run.py`): every section beside its baseline "
             "measured in the same run. The machine is shared and noisy: read the ratios "
             "and the targets, not the absolute figures of one run.", "",
             "| | |", "|---|---|",
             f"| date | {started:%Y-%m-%d %H:%M:%S %Z} |",
             f"| command | `{command}` |",
             f"| variant | {'quick (small, a check of the harness: not figures to quote)' if quick else 'full'} |",  # noqa: E501
             f"| commit | {commit()} |"]
    lines += [f"| {key} | {value} |" for key, value in machine()]
    lines += [f"| {key} | {value} |" for key, value in versions()]
    return lines


# ------------------------------------------------------------------ running the sections


def section_path(section: Section) -> Path:
    return section.directory / f"{section.module}.py"


def run_child(section: Section, quick: bool, timeout_s: float) -> Outcome:
    """Run one section in a fresh interpreter; its markdown (or traceback) comes back in a
    file, its stderr is kept for a failure's report."""
    if not section_path(section).is_file():
        return Outcome(section, "not present", f"### {section.title}\n\n{NOT_PRESENT} "
                       f"(`bench/{section.module}.py`).\n", 0.0)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as folder:
        out = Path(folder) / "section.md"
        err = Path(folder) / "stderr.txt"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", section.module,
                   "--child-dir", str(section.directory), "--child-out", str(out)]
        command += ["--quick"] if quick else []
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        started = time.perf_counter()
        with open(err, "w", encoding="utf-8") as stderr:
            try:
                done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                      stderr=stderr, timeout=timeout_s, check=False)
                code: int | None = done.returncode
            except subprocess.TimeoutExpired:
                code = None
        wall = time.perf_counter() - started
        text = out.read_text(encoding="utf-8") if out.exists() else ""
        if code == 0 and text:
            return Outcome(section, "ok", text, wall)
        tail = "\n".join(err.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        why = f"timed out after {timeout_s:g} s" if code is None else f"exit code {code}"
        body = [f"### {section.title}", "", f"**FAILED** ({why}).", ""]
        if text:
            body += ["```", text.rstrip(), "```", ""]
        if tail:
            body += ["The section's last lines of stderr:", "", "```", tail, "```", ""]
        return Outcome(section, "failed", "\n".join(body), wall)


def child(module_name: str, directory: Path, quick: bool, out: Path) -> int:
    """In the child process: import the section and write its markdown (or traceback)."""
    sys.path.insert(0, str(directory))  # sections import their siblings by name
    try:
        module = importlib.import_module(module_name)
        text = module.results(quick)
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"{module_name}.results() returned {type(text).__name__}, "
                            "not a markdown section")
    except BaseException:
        out.write_text(traceback.format_exc(), encoding="utf-8")
        return 3
    out.write_text(text, encoding="utf-8")
    return 0


def render(head: list[str], outcomes: list[Outcome], total_s: float) -> str:
    lines = [*head, "", "## Sections", "", "| section | status | wall time | load average "
             "(1 min) at its end | measured |", "|---|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| [{o.section.title}](#{anchor(o)}) (`{o.section.name}`) | {o.status} "
                     f"| {o.wall_s:.1f} s | {o.load or '-'} | {o.measured} |")
    lines += ["", f"Total {total_s:.0f} s; load average at the end "
                  f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.", ""]
    for o in outcomes:
        kept = "" if o.measured == "this run" else f"; kept from the run of {o.measured}"
        lines += [_OPEN.format(name=o.section.name, status=o.status, wall=o.wall_s,
                               measured=o.measured),
                  o.text.rstrip(), "",
                  f"*Section wall time: {o.wall_s:.1f} s (`{o.section.name}`, "
                  f"`bench/{o.section.module}.py`{kept}).*", "<!-- /bench-section -->", ""]
    return "\n".join(lines)


def earlier_sections(path: Path) -> dict[str, tuple[str, float, str, str]]:
    """The sections a results file holds: name -> (status, wall s, measured, markdown)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    date = re.search(r"^\| date \| (.*?) \|$", text, re.MULTILINE)
    head = re.search(r"^\| commit \| (\S{1,12})", text, re.MULTILINE)
    run = ", ".join(m.group(1) for m in (date, head) if m) or "an earlier run"
    found = {}
    for name, status, wall, measured, body in _SECTION.findall(text):
        found[name] = (status, float(wall), run if measured == "this run" else measured,
                       _WALL_LINE.sub("", body))
    return found


def anchor(outcome: Outcome) -> str:
    """GitHub's anchor of the section's first heading."""
    first = next((ln for ln in outcome.text.splitlines() if ln.startswith("#")),
                 outcome.section.title)
    words = first.lstrip("#").strip().lower()
    kept = "".join(c for c in words if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="each section's quick variant (seconds each)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run these sections only: " + ", ".join(s.name for s in SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true",
                        help="with --only: keep the other sections the file already holds "
                             "(marked with the run that measured them)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="per section, seconds (default 600 quick, 3600 full)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-dir", type=Path, default=BENCH, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return child(args.child, args.child_dir, args.quick, args.child_out)
    command = os.environ.get("IMPERIUM_BENCH_COMMAND") or shlex.join(
        [Path(sys.executable).name, "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    started = dt.datetime.now(dt.UTC)
    head = header(command, args.quick, started)
    timeout = args.timeout or (600.0 if args.quick else 3600.0)
    unknown = sorted(set(args.only or ()) - {s.name for s in SECTIONS})
    if unknown:
        print(f"bench: no section {', '.join(unknown)} (sections: "
              f"{', '.join(s.name for s in SECTIONS)})", file=sys.stderr)
        return 2
    chosen = [s for s in SECTIONS if args.only is None or s.name in args.only]
    earlier = earlier_sections(args.out) if args.keep else {}
    # One slot a section, in the file's order: the kept ones filled now, the chosen ones as
    # they finish; the file is written after each (a long run's finished sections are kept).
    slots: dict[str, Outcome] = {}
    for section in SECTIONS:
        if section not in chosen and section.name in earlier:
            status, wall, measured, text = earlier[section.name]
            slots[section.name] = Outcome(section, status, text, wall, measured)
    clock = time.perf_counter()
    for section in chosen:
        print(f"bench: {section.name} ...", file=sys.stderr, flush=True)
        outcome = run_child(section, args.quick, timeout)
        outcome.load = f"{os.getloadavg()[0]:.2f}"
        slots[section.name] = outcome
        print(f"bench: {section.name}: {outcome.status} in {outcome.wall_s:.1f} s",
              file=sys.stderr, flush=True)
        outcomes = [slots[s.name] for s in SECTIONS if s.name in slots]
        args.out.write_text(render(head, outcomes, time.perf_counter() - clock),
                            encoding="utf-8")
    outcomes = [slots[s.name] for s in SECTIONS if s.name in slots]
    failed = [o.section.name for o in outcomes
              if o.status == "failed" and o.measured == "this run"]
    print(f"bench: wrote {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
