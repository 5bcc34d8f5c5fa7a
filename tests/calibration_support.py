"""Builders of the calibration tests: observations and journals whose answer is known, small
enough to keep the suite fast (the paper exchange's 200-parent run is its own test)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from imperium_exec.calibration.slippage_fit import (
    Calibration,
    ChildObservation,
    calibrate,
    predicted_cost,
)
from imperium_exec.costs.slippage import PriorFill, SlippageModel, SlippageParams
from imperium_exec.events import Event, EventKind, Status, full_row
from imperium_exec.request import Side
from imperium_exec.timeutil import IST

#: A morning of the desk (IST): the journals' fills start here.
MORNING = dt.datetime(2026, 11, 24, 9, 30, tzinfo=IST).timestamp()
#: The linear impact the known-answer journals carry (the paper exchange's defaults).
TRUTH = SlippageParams(eta=0.0, gamma=0.0, permanent_per_unit=5e-5, temporary_per_unit=2e-4,
                       temporary_half_life_s=30.0)


def synthetic(n: int, truth: SlippageParams, seed: int = 3,
              noise: float = 0.0) -> list[ChildObservation]:
    """Children whose realized cost is exactly ``truth``'s estimate (plus noise): varied
    spreads, walks, participations, horizons and earlier fills; five children a parent."""
    rng = np.random.default_rng(seed)
    model = SlippageModel(truth)
    out = []
    for i in range(n):
        prior = tuple(PriorFill(age_s=float(rng.uniform(0, 120)),
                                units=int(rng.integers(1, 20)) * 65)
                      for _ in range(int(rng.integers(0, 6))))
        base = ChildObservation(
            parent_id=f"P{i // 5}", child_id=f"P{i // 5}-{i % 5}", tradingsymbol="X",
            side_sign=1 if i % 2 else -1, arrival_price=float(rng.uniform(50, 300)),
            units=65, realized=0.0, spread_part=float(rng.choice([0.025, 0.05, -0.05, 0.0])),
            book_walk=float(rng.choice([0.0, 0.0, 0.05])),
            participation=float(rng.uniform(0.01, 0.4)),
            horizon_s=float(rng.uniform(5, 120)) if i % 3 else None, estimated=0.0,
            spread_paid=0.0, prior_fills=prior, ts=MORNING + 60.0 * i)
        cost = predicted_cost(base, model) + float(rng.normal(0.0, noise))
        out.append(replace(base, realized=cost, estimated=cost))
    return out


def passing_calibration(seed: int = 3) -> Calibration:
    """A fit that passes the checks: 300 children of 60 parents, the known linear impact."""
    result = calibrate(synthetic(300, TRUTH, seed=seed, noise=0.002))
    assert result.problems == [], result.problems
    return result


def impact_rows(parents: int, *, mode: str = "live", seed: int = 5, children: int = 4,
                prefix: str = "P", noise: float = 0.002) -> list[dict[str, Any]]:
    """Filled-child rows of ``parents`` parents bought at a fresh arrival each, whose fills
    cost the quote's spread part plus :data:`TRUTH`'s linear impact of the parent's earlier
    fills (plus noise): a journal ``calibrate`` can stand behind."""
    rng = np.random.default_rng(seed)
    model = SlippageModel(TRUTH)
    rows = []
    for p in range(parents):
        arrival = float(rng.uniform(60, 250))
        ts = MORNING + 600.0 * p
        earlier: list[tuple[float, int]] = []
        for i in range(1, children + 1):
            ts += float(rng.uniform(5, 90))
            units = 65 * int(rng.integers(1, 15))
            spread = float(rng.choice([0.025, 0.05, 0.0, -0.05]))
            impact = model.linear_impact([PriorFill(ts - t, u) for t, u in earlier])
            price = arrival + spread + impact + float(rng.normal(0.0, noise))
            rows.append(Event(
                event=EventKind.FILLED, status=Status.FILLED, ts=ts, mode=mode,
                parent_id=f"{prefix}{p}", child_id=f"{prefix}{p}-{i}", child_index=i,
                tradingsymbol="NIFTY26DEC26000CE", side=Side.BUY, arrival_price=arrival,
                mid_at_send=arrival + impact, expected_slippage=spread, impact_estimate=0.01,
                participation=float(rng.uniform(0.02, 0.3)), horizon_s=30.0, book_walk=0.0,
                filled_quantity=units, fill_price=price).to_row())
            earlier.append((ts, units))
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def moving_market_journal(path: Path, parents: int, seed: int = 5) -> Path:
    """The issue's market: the paper exchange with the index moving normally (its default
    market) and a known temporary impact of 4e-4 per unit, ``parents`` parents estimated with
    the live defaults, as a desk without a calibration would: a desk's day, each parent
    bought or sold (one journal)."""
    from imperium_exec.sim.config import ImpactConfig, MarketConfig
    from imperium_exec.testing.paper_parents import simulate_journal

    [journal] = simulate_journal(parents, seed=seed, journal=path, slippage=SlippageModel(),
                                 market=MarketConfig(),
                                 impact=ImpactConfig(temporary_per_unit=4e-4),
                                 batch=parents, mirrored=False)
    return journal


def first_fills(source: Path, children: int, path: Path) -> Path:
    """The journal ``source`` up to its ``children``-th filled child (a morning cut short)."""
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
    assert len(seen) == children
    path.write_bytes(b"".join(lines))
    return path
