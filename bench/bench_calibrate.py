"""Calibration on the paper exchange, at the issue's scale: 2,000 parents.

Run: ``.venv/bin/python bench/bench_calibrate.py [PARENTS]`` (default 2000; prints markdown).

1. ``PARENTS`` seeded parents (half bought, half sold on the same still markets: see
   :mod:`imperium_exec.testing.paper_parents`) are estimated with the live equity defaults
   (``SlippageModel()``), as a desk without a calibration would, and journalled;
2. ``imperium_exec.calibration.slippage_fit`` fits the journal: realized cost per child regressed on
   predicted cost, before (the journal's own estimates) and after (the fitted parameters, in
   sample);
3. out of sample: a fresh fifth as many parents on other seeds, estimated by the engine with
   the fitted parameters, and for reference with the exchange's own true parameters;
4. the checks (``fit_problems``) on that fit, and on the issue's market: the index moving
   normally and a temporary impact of 4e-4 per unit, the first 16, 20 and 50 fills of a
   morning, then 200 and ``PARENTS`` parents.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import orjson

from imperium_exec.calibration.slippage_fit import (
    Agreement,
    Calibration,
    agreement,
    calibrate,
    read_observations,
    write_calibration,
)
from imperium_exec.costs.slippage import SlippageModel
from imperium_exec.events import full_row
from imperium_exec.sim.config import ImpactConfig, MarketConfig, PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.testing.paper_parents import simulate_journal


def own_estimates(journal: Path) -> Agreement:
    """The journal's own estimates against its fills, per child."""
    observations = read_observations([journal]).observations
    return agreement([o.estimated_bps for o in observations],
                     [o.realized_bps for o in observations])


def first_fills(source: Path, children: int, path: Path) -> Path:
    """``source`` up to its ``children``-th filled child (a morning cut short)."""
    seen: set[str] = set()
    lines = []
    for line in source.read_bytes().splitlines():
        row = full_row(orjson.loads(line))
        if row.get("event") == "filled" and row.get("filled_quantity") \
                and row["child_id"] not in seen:
            if len(seen) == children:
                break
            seen.add(row["child_id"])
        lines.append(line + b"\n")
    path.write_bytes(b"".join(lines))
    return path


def verdict(label: str, result: Calibration) -> str:
    e, h = result.estimates, result.held_out

    def coefficient(name: str) -> str:
        value, error = e[name]
        dropped = result.dropped.get(name)
        if dropped is not None and dropped[1] is not None:
            return f"0 (dropped: {dropped[0]:.2g} ± {dropped[1]:.2g})"
        return f"{value:.3g}" + (f" ± {error:.2g}" if error is not None else "")

    held = "not run" if h is None else (
        "no impact predicted" if h.slope is None else f"{h.slope:.2f} / {h.gain:+.3f}")
    problems = result.problems
    return (f"| {label} | {result.observations} | {result.parents} | "
            f"{coefficient('permanent_per_unit')} | {coefficient('temporary_per_unit')} | "
            f"{coefficient('eta')} | {held} | "
            + ("passes" if not problems else "refused: " + "; ".join(
                p.split(" (")[0] for p in problems)) + " |")


def moving(parents: int, seed: int, journal: Path) -> Path:
    return simulate_journal(parents, seed=seed, journal=journal, slippage=SlippageModel(),
                            market=MarketConfig(), impact=ImpactConfig(temporary_per_unit=4e-4))


def main(parents: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_calibrate_"))
    started = time.perf_counter()
    journal = simulate_journal(parents, seed=11, journal=work / "before.jsonl",
                               slippage=SlippageModel())
    simulated = time.perf_counter() - started
    started = time.perf_counter()
    reading = read_observations([journal])
    result = calibrate(reading.observations)
    fitted = time.perf_counter() - started
    path = write_calibration(result, mode="paper", journals=[str(journal)], directory=work)

    fresh = max(50, parents // 5)
    calibrated = own_estimates(simulate_journal(
        fresh, seed=12, journal=work / "calibrated.jsonl", slippage=SlippageModel(result.params)))
    true = own_estimates(simulate_journal(
        fresh, seed=12, journal=work / "true.jsonl",
        slippage=SlippageModel(paper_slippage_params(PaperConfig()))))

    print(f"# Calibration benchmark\n\n`bench/bench_calibrate.py {parents}`, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, one run.\n")
    print(f"{parents} parents simulated in {simulated:.0f} s ({reading.rows} rows, "
          f"{len(reading.observations)} filled children); read and fitted in {fitted:.1f} s. "
          f"Calibration file: `{path.name}`.\n")
    print("| fitted | value | standard error | the exchange's true value |")
    print("|---|---|---|---|")
    truth = paper_slippage_params(PaperConfig())
    for name, (value, error) in result.estimates.items():
        note = f"{error:.2g}" if error is not None else (
            "(best of the grid)" if name == "temporary_half_life_s"
            else "(came out negative: set to 0)")
        print(f"| `{name}` | {value:.4g} | {note} | {getattr(truth, name):.4g} |")
    print("\nRealized cost regressed on predicted cost, per filled child, bps of arrival:\n")
    print("| estimates | slope | intercept | R² | mean predicted | mean realized | "
          "mean error | n |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [
        ("before: live equity defaults (in the journal)", result.before),
        ("after: fitted, same children (in sample)", result.after),
        (f"fitted, used by the engine on {fresh} fresh parents", calibrated),
        (f"the exchange's true parameters, same {fresh} fresh parents", true),
    ]
    for label, a in rows:
        print(f"| {label} | {a.slope:.3f} | {a.intercept:+.2f} | {a.r_squared:.3f} | "
              f"{a.mean_predicted_bps:+.2f} | {a.mean_realized_bps:+.2f} | "
              f"{a.mean_error_bps:+.2f} | {a.n} |")

    print("\nThe checks (`fit_problems`; standard errors clustered by parent; held out: slope "
          "of realized on predicted impact beyond the quote / gain over predicting none, "
          "parents in 5 folds):\n")
    print("| journal | fills | parents | permanent_per_unit | temporary_per_unit | eta | "
          "held out | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    print(verdict(f"still market, {parents} parents (above)", result))
    started = time.perf_counter()
    morning = moving(40, 5, work / "moving_40.jsonl")
    for children in (16, 20, 50):
        cut = first_fills(morning, children, work / f"moving_first_{children}.jsonl")
        print(verdict(f"moving, 4e-4: the first {children} fills",
                      calibrate(read_observations([cut]).observations)))
    for n in (200, parents):
        journal = moving(n, 1, work / f"moving_{n}.jsonl")
        print(verdict(f"moving, 4e-4: {n} parents",
                      calibrate(read_observations([journal]).observations)))
    print(f"\n(the moving-market runs took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
