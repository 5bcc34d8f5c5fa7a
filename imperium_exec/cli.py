"""``imperium-exec``: the command-line entry point.

Each subcommand is a function that adds its parser to the subparsers and sets ``run`` (a callable
taking the parsed arguments and returning the exit code). To add one, write such a function
(in its own module if it is large) and append it to :data:`SUBCOMMANDS`. Heavy imports (Qt, the
desk) happen inside ``run``, so ``imperium-exec --help`` stays fast and headless tools never
load Qt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Subparsers = Any  # argparse._SubParsersAction (private type)


def add_demo_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="open the desk demo on the paper exchange",
        description="The desk demo: option chain, single-strike and multi-strike order panels "
                    "and the execution dock, on the simulated NSE options exchange (paper). "
                    "Live mode uses Kite Connect and needs explicit credentials.")
    parser.add_argument("--headless", action="store_true",
                        help="render offscreen (no display needed) and run the scripted session")
    parser.add_argument("--run-for", type=float, metavar="SECONDS",
                        help="quit after this many seconds")
    parser.add_argument("--screenshot", type=Path, metavar="PATH",
                        help="save a PNG of the window before quitting (with --run-for)")
    script = parser.add_mutually_exclusive_group()
    script.add_argument("--script", dest="script", action="store_true", default=None,
                        help="run the scripted session (the default when headless)")
    script.add_argument("--no-script", dest="script", action="store_false",
                        help="do not run the scripted session")
    parser.add_argument("--pace", type=float, default=0.7, metavar="SECONDS",
                        help="seconds between the scripted session's steps (default 0.7)")
    parser.add_argument("--mode", choices=("paper", "live"), default="paper",
                        help="paper (default) or live through Kite Connect")
    parser.add_argument("--api-key", help="Kite Connect API key (live mode; or KITE_API_KEY)")
    parser.add_argument("--access-token",
                        help="Kite Connect access token (live mode; or KITE_ACCESS_TOKEN)")
    parser.add_argument("--seed", type=int, default=7, help="paper exchange seed")
    parser.add_argument("--no-faults", dest="faults", action="store_false",
                        help="paper exchange without injected latency and 5xx errors")
    parser.add_argument("--telemetry-dir", type=Path, metavar="DIR",
                        help="where the telemetry journal goes (default ~/.imperium_desk or "
                             "$IMPERIUM_DESK_HOME)")
    parser.add_argument("--size", default="1760x1040", metavar="WxH",
                        help="window size (default 1760x1040)")
    parser.set_defaults(run=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from .widgets.desk.app import DemoError, DemoOptions, run_demo

    if args.screenshot is not None and args.run_for is None:
        print("imperium-exec demo: --screenshot needs --run-for", file=sys.stderr)
        return 2
    if args.pace <= 0:
        print("imperium-exec demo: --pace must be above 0 seconds", file=sys.stderr)
        return 2
    try:
        width, height = (int(v) for v in str(args.size).lower().split("x"))
    except ValueError:
        print(f"imperium-exec demo: --size: expected WxH, not {args.size!r}", file=sys.stderr)
        return 2
    options = DemoOptions(headless=args.headless, run_for=args.run_for,
                          screenshot=args.screenshot, script=args.script, pace_s=args.pace,
                          mode=args.mode, seed=args.seed, telemetry_dir=args.telemetry_dir,
                          faults=args.faults,
                          api_key=args.api_key, access_token=args.access_token,
                          width=width, height=height)
    try:
        return run_demo(options)
    except DemoError as exc:
        print(f"imperium-exec demo: {exc}", file=sys.stderr)
        return 2


def add_tca_command(subparsers: Subparsers) -> None:
    """``tca``: registered from its own package (which imports DuckDB only when it runs)."""
    from .tca.command import add_tca_command as add

    add(subparsers)


def add_calibrate_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="fit the slippage model's impact parameters and the intraday volume "
                          "curves to a journal",
        description="Fit the slippage model to realized fills: one observation per filled "
                    "child (cost against the arrival mid), least squares for the impact the "
                    "quote cannot show (the desk's earlier fills on the contract, permanent "
                    "and temporary, and the participation power law). Prints predicted against "
                    "realized cost before (the journal's own estimates) and after. Then the "
                    "intraday volume curve per underlying and day kind (expiry day or not) "
                    "from the market's traded volume in the child rows' quotes, with the "
                    "held-out error of the packaged and the fitted curve. Writes both dated "
                    "where the stack reads them. A slippage fit that fails its checks (too "
                    "few fills or parents, coefficients it cannot identify, a held-out check "
                    "that fails) is refused: nothing is written for it and the command exits "
                    "1; the volume curves have checks of their own.")
    parser.add_argument("journals", nargs="+", type=Path, metavar="JOURNAL",
                        help="JSONL journals (schema version 4 or later)")
    parser.add_argument("--mode", choices=("paper", "live"),
                        help="use only this mode's fills, and write the calibration for it "
                             "(default: the journals' own mode)")
    parser.add_argument("--calibration-dir", type=Path, metavar="DIR",
                        help="where to write it (default: calibration/ in the telemetry "
                             "directory, ~/.imperium_desk or $IMPERIUM_DESK_HOME)")
    parser.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    parser.set_defaults(run=run_calibrate_command)


def run_calibrate_command(args: argparse.Namespace) -> int:
    from .calibration.slippage_fit import (
        calibrate_reading,
        read_observations,
        write_calibration,
    )
    from .calibration.volume_fit import (
        fit_volume_curves,
        read_volume_days,
        report_lines,
        write_volume_curves,
    )

    missing = [str(p) for p in args.journals if not p.is_file()]
    if missing:
        print(f"imperium-exec calibrate: no such journal: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    reading = read_observations(args.journals, mode=args.mode)
    volumes = read_volume_days(args.journals, mode=args.mode)
    modes = sorted(reading.modes | volumes.modes)
    if not modes:
        print("imperium-exec calibrate: no fills and no traded volume in these journals",
              file=sys.stderr)
        return 1
    mode = args.mode or (modes[0] if len(modes) == 1 else None)
    if mode is None:
        print(f"imperium-exec calibrate: the journals mix modes ({', '.join(modes)}); say "
              "which with --mode (only its fills are used)", file=sys.stderr)
        return 2
    journals = [str(p) for p in args.journals]
    for line in reading.quality.lines():
        print(f"imperium-exec calibrate: {line}", file=sys.stderr)
    print(f"{reading.rows} rows, {len(reading.observations)} filled children"
          + (f" ({reading.without_inputs} more without the estimate's inputs: written before "
             "schema version 4)" if reading.without_inputs else ""))
    fitted_any = False
    refused: list[str] = []
    try:
        result = calibrate_reading(reading)
    except ValueError as exc:
        refused = [str(exc)]
    else:
        print(f"slippage: {result.observations} filled children of {result.parents} parents"
              + (f", {result.dates[0]} to {result.dates[-1]}" if result.dates else "")
              + "; standard errors clustered by parent")
        for line in result.describe_method():
            print(f"  - {line}")
        for name, (value, error) in result.estimates.items():
            dropped = result.dropped.get(name)
            print(f"  {name:22} {value:.6g}" + (f" ± {error:.2g}" if error is not None else "")
                  + (f" (came out {dropped[0]:.3g} ± {dropped[1]:.2g}: not told apart from 0)"
                     if dropped is not None and dropped[1] is not None else ""))
        held = result.held_out
        print("held out, the check that is judged (the cost beyond the quote"
              + (", the market's move taken out, of the children that took liquidity"
                 if result.market_removed else "")
              + ", of parents each fit did not see"
              + (": other days" if held is not None and held.by == "days" else
                 ": one day only, so parents of the same day" if held is not None else "")
              + "):")
        print(f"  {held.line() if held is not None else 'not run'}")
        print("predicted vs realized, per child, bps of arrival (realized regressed on "
              "predicted; on the fitted children themselves, so not a check"
              + (", the market's move taken out, the children that took liquidity"
                 if result.market_removed else "") + "):")
        print(f"  before (the journal's estimates): {result.before.line()}")
        print(f"  after  (fitted parameters):       {result.after.line()}")
        if result.spread_check is not None:
            print(f"  spread check (taking fills):      {result.spread_check.line()}")
        refused = result.problems
        if not refused:
            fitted_any = True
            print("checks: passed")
            if not args.dry_run:
                path = write_calibration(result, mode=mode, journals=journals,
                                         directory=args.calibration_dir)
                print(f"written: {path}")
    if refused:
        print("imperium-exec calibrate: slippage fit refused, nothing written for it "
              "(thresholds in imperium_exec.calibration.slippage_checks):", file=sys.stderr)
        for problem in refused:
            print(f"  - {problem}", file=sys.stderr)

    observed = sum(d.session_s.size for d in volumes.days)
    print(f"volume: {observed} observations of the market's traded volume in "
          f"{len(volumes.days)} instrument-days"
          + (f" ({volumes.without_volume} child rows without it: written before it was "
             "recorded, or priced without a quote)" if volumes.without_volume else ""))
    curves = fit_volume_curves(volumes.days)
    for line in report_lines(curves):
        print(line)
    for curve in curves:
        if curve.refused is not None:
            print(f"imperium-exec calibrate: {curve.refused}", file=sys.stderr)
    if not curves:
        print("imperium-exec calibrate: volume: no child rows carry the traded volume; the "
              "packaged profiles stay", file=sys.stderr)
    if any(c.fitted for c in curves):
        fitted_any = True
        if not args.dry_run:
            written = write_volume_curves(curves, mode=mode, journals=journals,
                                          directory=args.calibration_dir)
            print(f"written: {written}")
    return 0 if fitted_any and not refused else 1


#: Functions that each register one subcommand (see the module docstring).
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [add_demo_command, add_tca_command,
                                                   add_calibrate_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imperium-exec",
        description="Execution stack for an index-options desk: routing, slicing, retries and "
                    "fill-quality telemetry.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return int(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
