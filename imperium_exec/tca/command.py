"""``imperium-exec tca FILES...``: the report from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..whatif.command import WhatIfOutput

Subparsers = Any  # argparse._SubParsersAction (private type)


def add_tca_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "tca", help="transaction-cost analysis of journals: an HTML report and a summary",
        description="Reads one or many execution journals (JSONL; paths, globs such as "
                    "'~/.imperium_desk/*.jsonl' or 'logs/**/*.jsonl', or folders) with "
                    "DuckDB and writes a self-contained HTML report: implementation "
                    "shortfall per parent and in all (delay, spread, drift/impact, "
                    "opportunity, fees), arrival slippage, markouts, breakdowns, expected "
                    "against realized, errors, retries, latency and outliers. Positive = "
                    "a cost, for buys and sells alike.")
    parser.add_argument("files", nargs="+", metavar="FILES",
                        help="journal files, globs (quote them) or folders")
    parser.add_argument("-o", "--output", type=Path, default=Path("tca_report.html"),
                        metavar="HTML", help="the report (default tca_report.html)")
    parser.add_argument("--parquet", type=Path, metavar="DIR",
                        help="also write parents.parquet and fills.parquet here")
    parser.add_argument("--mode", choices=("paper", "live"),
                        help="read only this mode's rows (default: every row; journals of "
                             "both modes mix simulated and real fills, and the report says so)")
    parser.add_argument("--outliers", type=_count, default=10, metavar="N",
                        help="how many costliest and cheapest parents to list (default 10)")
    parser.add_argument("--memory-limit", default="2GB", metavar="SIZE",
                        help="DuckDB's memory limit; beyond it, it spills to disk "
                             "(default 2GB)")
    parser.add_argument("--threads", type=_positive, metavar="N",
                        help="DuckDB threads (default: the machine's cores)")
    parser.add_argument("--what-if", action="store_true",
                        help="also replay each finished parent under IMMEDIATE, TWAP, VWAP, POV "
                             "and IS on the market its journal recorded, over several seeds: "
                             "each algorithm's cost with its band beside the realized one "
                             "(printed, in the report, and whatif.parquet with --parquet)")
    parser.add_argument("--what-if-seeds", type=_positive, default=40, metavar="N",
                        help="seeds per algorithm and parent for --what-if (default 40)")
    parser.add_argument("--calibration", type=Path, metavar="FILE",
                        help="the slippage fit whose impact the --what-if replays add "
                             "(default: the paper exchange's own for paper journals, else none)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="draw the progress bar even when stderr is not a terminal")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="no progress bar")
    parser.set_defaults(run=run_tca_command)


def _count(text: str) -> int:
    """A whole number, 0 or more (argparse names the option when this raises)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give 1 or more")
    return value


def run_tca_command(args: argparse.Namespace) -> int:
    import duckdb

    from .progress import ProgressBar
    from .query import TcaQuery
    from .report import render_report
    from .sources import JournalSourceError, resolve_journals
    from .summary import render_summary

    try:
        files = resolve_journals(args.files)
    except JournalSourceError as exc:
        print(f"imperium-exec tca: {exc}", file=sys.stderr)
        return 2
    if args.output.is_dir():
        print(f"imperium-exec tca: -o {args.output}: is a folder; give the report's file name, "
              f"e.g. {args.output / 'tca_report.html'}", file=sys.stderr)
        return 2
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(files.total_bytes) if show else None
    try:
        with TcaQuery(memory_limit=args.memory_limit, threads=args.threads) as query:
            try:
                query.load(files, progress=bar, mode=args.mode)
            finally:
                if bar is not None:
                    bar.finish()
            figures = query.figures(outliers=args.outliers)
            what_if = _what_if(files.paths, args) if args.what_if else None
            written: list[str] = []
            try:
                args.output.parent.mkdir(parents=True, exist_ok=True)
                page = render_report(figures)
                if what_if is not None:
                    page = page.replace("</body>", what_if.html + "</body>", 1)
                args.output.write_text(page, encoding="utf-8")
                written.append(str(args.output))
                if args.parquet is not None:
                    written.extend(str(p) for p in query.write_parquet(args.parquet))
                    if what_if is not None:
                        written.append(str(what_if.write_parquet(args.parquet)))
            except (OSError, duckdb.IOException) as exc:
                print(render_summary(figures))
                if written:
                    print("wrote " + ", ".join(written))
                print(f"imperium-exec tca: could not write: {exc}", file=sys.stderr)
                return 1
    except duckdb.Error as exc:
        print(f"imperium-exec tca: {exc}", file=sys.stderr)
        return 1
    for line in figures.data_quality:
        print(f"imperium-exec tca: {line}", file=sys.stderr)
    print(render_summary(figures))
    if what_if is not None:
        print(what_if.text)
    for note in figures.notes:
        if note.startswith("These journals mix modes"):
            print(f"imperium-exec tca: {note}", file=sys.stderr)
    print("wrote " + ", ".join(written))
    return 0


def _what_if(paths: tuple[Path, ...], args: argparse.Namespace) -> WhatIfOutput:
    """The what-if of the journals (its own module: :mod:`..whatif`), with a progress line
    on stderr when the bar is shown."""
    from ..whatif.command import run_what_if

    show = args.progress if args.progress is not None else sys.stderr.isatty()
    return run_what_if(paths, seeds=args.what_if_seeds, calibration=args.calibration,
                       mode=args.mode, progress_to=sys.stderr if show else None)


__all__ = ["add_tca_command", "run_tca_command"]
