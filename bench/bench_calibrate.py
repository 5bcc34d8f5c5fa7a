"""Calibration on the paper exchange with the index moving as it normally does, at the issue's
scale: 2,000 unmirrored parents per impact setting, checked on 400 fresh parents of other days.

Run: ``.venv/bin/python bench/bench_calibrate.py [PARENTS]`` (default 2000; prints markdown).

For each of two known impact settings (permanent / temporary per unit / half-life: 1e-4 / 4e-4
/ 30 s and 2e-5 / 1e-4 / 90 s), on the default market (NIFTY's index moving at an annual
volatility of 0.13):

1. ``PARENTS`` seeded parents, each bought or sold by a seeded coin on its own path (not
   mirrored), 50 to a virtual day, estimated with the live equity defaults
   (``SlippageModel()``), as a desk without a calibration would, and journalled;
2. ``calibrate`` fits the journal twice: with the market's own move taken out (what the command
   does) and, for comparison, on the costs against arrival as they are;
3. ``PARENTS // 5`` fresh parents on other days (other seeds, days 100 on), estimated by the
   engine with the fitted parameters: their realized cost (the market's move taken out)
   regressed on the journal's own estimate per child, with the slope's 95 % interval clustered
   by parent; for reference the same with the exchange's true parameters (the engine's
   estimate counts the desk's earlier fills on the contract, any parent's: an earlier
   parent's temporary impact still decaying is in it, as in the fit);
4. where the children's cost goes: its variance against arrival, with the market's move taken
   out, and with the fitted impact taken out too, for taking and resting children.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imperium_exec.calibration.slippage_fit import (
    HALF_LIVES_S,
    Calibration,
    ChildObservation,
    calibrate,
    calibrate_reading,
    read_observations,
    slope_interval,
)
from imperium_exec.costs.slippage import SlippageModel, SlippageParams
from imperium_exec.sim.config import ImpactConfig, MarketConfig, PaperConfig
from imperium_exec.sim.costs import paper_slippage_params
from imperium_exec.testing.paper_parents import simulate_journal

SETTINGS = (ImpactConfig(permanent_per_unit=1e-4, temporary_per_unit=4e-4,
                         temporary_half_life_s=30.0),
            ImpactConfig(permanent_per_unit=2e-5, temporary_per_unit=1e-4,
                         temporary_half_life_s=90.0))
FRESH_DAY = 100


@dataclass(frozen=True)
class Slope:
    label: str
    n: int
    slope: float
    low: float
    high: float
    mean_predicted: float
    mean_realized: float


def slope_of(label: str, observations: list[ChildObservation], *, beyond_quote: bool
             ) -> Slope:
    """Realized cost (the market's move taken out) on the journal's own estimate, per child,
    bps of arrival, the interval clustered by parent."""
    arrival = np.array([o.arrival_price for o in observations])
    quote = np.array([o.spread_part + o.book_walk for o in observations]) if beyond_quote \
        else np.zeros(len(observations))
    predicted = (np.array([o.estimated for o in observations]) - quote) / arrival * 1e4
    realized = (np.array([o.realized - (o.market_move or 0.0) for o in observations])
                - quote) / arrival * 1e4
    clusters = np.unique([o.parent_id for o in observations], return_inverse=True)[1]
    slope, low, high = slope_interval(predicted, realized, clusters)
    return Slope(label, len(observations), slope, low, high, float(predicted.mean()),
                 float(realized.mean()))


def fresh_slopes(journals: list[Path], who: str, params: SlippageParams) -> list[Slope]:
    reading = read_observations(journals)
    observations = [o for o in reading.observations if o.market_move is not None]
    taking = [o for o in observations if o.spread_part > 0]
    return [slope_of(f"{who}: children that took liquidity, cost", taking, beyond_quote=False),
            slope_of(f"{who}: children that took liquidity, cost beyond the quote", taking,
                     beyond_quote=True),
            slope_of(f"{who}: every child, cost", observations, beyond_quote=False),
            slope_of(f"{who}: every child, cost beyond the quote", observations,
                     beyond_quote=True)]


def variance_lines(observations: list[ChildObservation], fit: Calibration) -> list[str]:
    model = SlippageModel(fit.params)
    rows = []
    for label, takes in (("taking", True), ("resting", False)):
        chosen = [o for o in observations
                  if (o.spread_part > 0) == takes and o.market_move is not None]
        arrival = np.array([o.arrival_price for o in chosen])
        raw = np.array([o.realized - o.spread_part - o.book_walk for o in chosen]) / arrival
        moved = raw - np.array([o.market_move or 0.0 for o in chosen]) / arrival
        impact = np.array([model.linear_impact(o.prior_fills) for o in chosen]) / arrival
        left = moved - impact
        rows.append(f"| {label} | {len(chosen)} | {np.std(raw) * 1e4:.1f} | "
                    f"{np.std(moved) * 1e4:.1f} | {np.std(impact) * 1e4:.1f} | "
                    f"{np.std(left) * 1e4:.1f} | {np.mean(left) * 1e4:+.1f} |")
    return rows


def coefficient(fit: Calibration, name: str, truth: float) -> str:
    value, error = fit.estimates[name]
    dropped = fit.dropped.get(name)
    if dropped is not None and dropped[1] is not None:
        return f"0 (dropped: {dropped[0]:.2g} ± {dropped[1]:.2g})"
    off = f" ({(value - truth) / truth:+.0%})" if truth else ""
    return f"{value:.3g}" + (f" ± {error:.1g}" if error is not None else "") + off


def grid_steps(found: float, truth: float) -> int:
    return abs(HALF_LIVES_S.index(found) - HALF_LIVES_S.index(truth))


def main(parents: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_calibrate_"))
    market = MarketConfig()
    print(f"# Calibration benchmark: a moving market\n\n`bench/bench_calibrate.py {parents}`, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, one run per setting. The index "
          f"moves at an annual volatility of {market.underlyings['NIFTY'].annual_vol}; "
          f"{parents} unmirrored parents a setting (each bought or sold on its own path, 50 to "
          "a virtual day), estimated with the live equity defaults; fresh parents on other "
          "days (other seeds, from virtual day 100).\n")
    fits, fresh, variances = [], [], []
    for number, impact in enumerate(SETTINGS, 1):
        started = time.perf_counter()
        journals = simulate_journal(parents, seed=10 + number,
                                    journal=work / f"fit_{number}.jsonl",
                                    slippage=SlippageModel(), market=market, impact=impact,
                                    mirrored=False)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        reading = read_observations(journals)
        removed = calibrate_reading(reading)
        fitted_s = time.perf_counter() - started
        as_is = calibrate(reading.observations)
        fits.append((impact, removed, as_is, simulated, fitted_s, reading.rows))
        truth = paper_slippage_params(PaperConfig(impact=impact))
        n_fresh = max(50, parents // 5)
        calibrated = simulate_journal(
            n_fresh, seed=50 + number, journal=work / f"fresh_{number}.jsonl",
            slippage=SlippageModel(removed.params), market=market, impact=impact,
            mirrored=False, day=FRESH_DAY)
        exact = simulate_journal(
            n_fresh, seed=50 + number, journal=work / f"true_{number}.jsonl",
            slippage=SlippageModel(truth), market=market, impact=impact, mirrored=False,
            day=FRESH_DAY)
        fresh.append((impact, n_fresh, fresh_slopes(calibrated, "fitted", removed.params)
                       + fresh_slopes(exact, "true parameters", truth)))
        variances.append((impact, variance_lines(reading.observations, removed)))

    print("## The fit\n")
    print("| setting (permanent / temporary / half-life) | market's move | permanent_per_unit "
          "| temporary_per_unit | half-life | eta | held out (taking children, other days) | "
          "verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for impact, removed, as_is, _, _, _ in fits:
        setting = (f"{impact.permanent_per_unit:g} / {impact.temporary_per_unit:g} / "
                   f"{impact.temporary_half_life_s:g} s")
        for label, fit in (("taken out", removed), ("left in (as before)", as_is)):
            h = fit.held_out
            held = "not run" if h is None else (
                "no impact predicted" if h.slope is None else
                f"{h.slope:.2f}" + (f" [{h.slope_low:.2f}, {h.slope_high:.2f}]"
                                    if h.slope_low is not None and h.slope_high is not None
                                    else "") + f", gain {h.gain:+.2f} ({h.by})")
            steps = grid_steps(fit.params.temporary_half_life_s, impact.temporary_half_life_s)
            problems = fit.problems
            print(f"| {setting} | {label} | "
                  f"{coefficient(fit, 'permanent_per_unit', impact.permanent_per_unit)} | "
                  f"{coefficient(fit, 'temporary_per_unit', impact.temporary_per_unit)} | "
                  f"{fit.params.temporary_half_life_s:g} s ({steps} grid steps off) | "
                  f"{coefficient(fit, 'eta', 0.0)} | {held} | "
                  + ("passes" if not problems else "refused: " + "; ".join(
                      p.split(" (")[0] for p in problems)) + " |")
    for impact, removed, _, simulated, fitted_s, rows in fits:
        print(f"\n{impact.permanent_per_unit:g} / {impact.temporary_per_unit:g} / "
              f"{impact.temporary_half_life_s:g} s: simulated in {simulated:.0f} s ({rows} "
              f"rows), read and fitted in {fitted_s:.1f} s; {removed.observations} filled "
              f"children of {removed.parents} parents, {removed.mid_moves} mid moves.")
        for line in removed.describe_method():
            print(f"- {line}")

    print("\n## Fresh parents of other days\n")
    print("Realized cost per child (the market's move taken out) regressed on the journal's "
          "own estimate, bps of arrival; 95 % interval clustered by parent.\n")
    print("| setting | estimates, children, measure | n | slope | 95 % interval | "
          "mean predicted | mean realized |")
    print("|---|---|---|---|---|---|---|")
    for impact, n_fresh, slopes in fresh:
        setting = (f"{impact.permanent_per_unit:g} / {impact.temporary_per_unit:g} / "
                   f"{impact.temporary_half_life_s:g} s, {n_fresh} parents")
        for s in slopes:
            print(f"| {setting} | {s.label} | {s.n} | {s.slope:.3f} | {s.low:.2f} to "
                  f"{s.high:.2f} | {s.mean_predicted:+.2f} | {s.mean_realized:+.2f} |")

    print("\n## Where a child's cost goes\n")
    print("Standard deviation across children, bps of arrival, of the cost beyond the quote: "
          "against arrival as it is, with the market's move taken out, the fitted impact, and "
          "what is left (with its mean).\n")
    print("| setting | children | n | as it is | market taken out | fitted impact | left | "
          "mean left |")
    print("|---|---|---|---|---|---|---|---|")
    for impact, lines in variances:
        setting = (f"{impact.permanent_per_unit:g} / {impact.temporary_per_unit:g} / "
                   f"{impact.temporary_half_life_s:g} s")
        for line in lines:
            print(f"| {setting} {line}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
