"""Calibrating the slippage model from its own fills (``imperium-exec calibrate``).

One observation per filled child, read from the journal by streaming it line by line:

- **realized**: what the child's fills cost per unit against the parent's arrival mid,
  ``s * (average fill - arrival)`` (positive = cost; fees are not in it);
- **the estimate's inputs**, from the child's rows (schema version 4): the spread part the
  quote showed (``expected_slippage``: +half-spread taking, -half-spread joining, 0 at the
  mid), the book walk (``book_walk``), the participation and horizon the power law used;
- **the parent's earlier fills**: units and ages of the fills of its other children written
  before this child's first fill (they moved the price this child paid).

What is fitted, by least squares (numpy), is the part of the cost the quote cannot show:
``y = realized - spread part - book walk`` regressed, without intercept, on

- the parent's earlier filled units (``permanent_per_unit``, Almgren-Chriss, rupees per unit),
- the same units decayed with a half-life (``temporary_per_unit``; the half-life is the one of
  :data:`HALF_LIVES_S` that fits best),
- ``sigma_H * participation**beta`` (the power law's ``eta``, with ``beta`` and the daily
  volatility held at the base parameters').

The power law's permanent ``gamma`` is not fitted (set to 0): over the participations a desk
trades at, ``rho**0.6`` and ``rho`` are nearly collinear, so the two cannot be told apart; the
linear ``permanent_per_unit`` carries the permanent impact the parent's own fills leave. A
coefficient that comes out negative (no such cost in the data) is set to 0 and the rest
refitted. The spread needs no parameter (the estimate reads it from the live quote); the fit
checks it instead: the realized spread part regressed on the quoted one (``spread_check``).

The result is written dated (``slippage_<mode>_<date>.json``) in the calibration directory
(``<telemetry dir>/calibration`` unless told otherwise), with the journals used, the number of
observations, the fitted values and their standard errors, and predicted against realized cost
per child (slope, intercept, R², mean error, in bps of arrival) with the journal's own estimates
("before") and with the fitted parameters ("after"). :func:`slippage_model_for` is how the
stack picks the newest one up.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..costs.slippage import PriorFill, SlippageModel, SlippageParams
from ..events import EventKind
from ..request import Side
from ..timeutil import SESSION_SECONDS

FloatArray = npt.NDArray[np.float64]

#: Half-lives (seconds) of the temporary impact tried by the fit.
HALF_LIVES_S: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0)
#: What a calibration file says it is.
FILE_KIND = "imperium-exec slippage calibration"
FILE_VERSION = 1
FITTED = ("permanent_per_unit", "temporary_per_unit", "eta")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------ observations

@dataclass(frozen=True, slots=True)
class ChildObservation:
    """One filled child, as the calibration sees it (prices in rupees per unit)."""

    parent_id: str
    child_id: str
    tradingsymbol: str
    side_sign: int
    arrival_price: float
    units: int  # filled
    realized: float  # s * (average fill - arrival)
    spread_part: float  # the quote's spread part (expected_slippage)
    book_walk: float
    participation: float
    horizon_s: float | None
    estimated: float  # the journal's own estimate: expected_slippage + impact_estimate
    spread_paid: float  # s * (average fill - mid at send): spread and book walked
    prior_fills: tuple[PriorFill, ...]

    @property
    def realized_bps(self) -> float:
        return self.realized / self.arrival_price * 1e4

    @property
    def estimated_bps(self) -> float:
        return self.estimated / self.arrival_price * 1e4


@dataclass
class _Child:
    parent_id: str
    tradingsymbol: str
    side_sign: int
    estimate: dict[str, Any]
    first_fill: int | None = None  # row number of the first fill
    first_fill_ts: float = 0.0
    units: int = 0
    value: float = 0.0


@dataclass
class JournalReading:
    """What :func:`read_observations` found."""

    observations: list[ChildObservation] = field(default_factory=list)
    rows: int = 0
    unreadable_lines: int = 0
    #: Filled children whose rows lack the estimate's inputs (written before schema 4).
    without_inputs: int = 0
    modes: set[str] = field(default_factory=set)


def iter_journal_rows(paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    """Every row of the journals, one line at a time (a torn or bad line is skipped)."""
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    row = None
                if isinstance(row, dict):
                    yield row
                else:
                    yield {"event": None}


_ESTIMATE_FIELDS = ("arrival_price", "mid_at_send", "expected_slippage", "impact_estimate",
                    "participation", "horizon_s", "book_walk")


def read_observations(paths: Iterable[str | os.PathLike[str]],
                      mode: str | None = None) -> JournalReading:
    """One :class:`ChildObservation` per filled child of the journals (streamed; only the
    filled children's few numbers are kept); with ``mode``, only that mode's fills (the
    modes seen are all listed in :attr:`JournalReading.modes`)."""
    reading = JournalReading()
    children: dict[str, _Child] = {}
    fills_by_parent: dict[str, list[tuple[int, float, int, str]]] = {}
    for n, row in enumerate(iter_journal_rows(paths)):
        reading.rows += 1
        event = row.get("event")
        if event is None:
            reading.unreadable_lines += 1
            continue
        if event != EventKind.FILLED or not row.get("filled_quantity") or not row.get("fill_price"):
            continue
        child_id, parent_id = row.get("child_id"), row.get("parent_id")
        if not isinstance(child_id, str) or not isinstance(parent_id, str):
            continue
        if isinstance(row.get("mode"), str):
            reading.modes.add(row["mode"])
        if mode is not None and row.get("mode") != mode:
            continue
        units, price = int(row["filled_quantity"]), float(row["fill_price"])
        child = children.get(child_id)
        if child is None:
            sign = 1 if row.get("side") == Side.BUY else -1
            child = children[child_id] = _Child(
                parent_id, str(row.get("tradingsymbol")), sign,
                {k: row.get(k) for k in _ESTIMATE_FIELDS}, n, float(row.get("ts") or 0.0))
        child.units += units
        child.value += units * price
        fills_by_parent.setdefault(parent_id, []).append(
            (n, float(row.get("ts") or 0.0), units, child_id))
    for child_id, child in children.items():
        e = child.estimate
        needed = (e["arrival_price"], e["mid_at_send"], e["expected_slippage"],
                  e["impact_estimate"], e["participation"], e["book_walk"])
        if any(v is None for v in needed) or not e["arrival_price"]:
            reading.without_inputs += 1
            continue
        s = child.side_sign
        arrival = float(e["arrival_price"])
        average = child.value / child.units
        prior = tuple(
            PriorFill(age_s=max(0.0, child.first_fill_ts - ts), units=units)
            for n, ts, units, other in fills_by_parent[child.parent_id]
            if other != child_id and n < (child.first_fill or 0))
        reading.observations.append(ChildObservation(
            parent_id=child.parent_id, child_id=child_id, tradingsymbol=child.tradingsymbol,
            side_sign=s, arrival_price=arrival, units=child.units,
            realized=s * (average - arrival), spread_part=float(e["expected_slippage"]),
            book_walk=float(e["book_walk"]), participation=float(e["participation"]),
            horizon_s=float(e["horizon_s"]) if e["horizon_s"] is not None else None,
            estimated=float(e["expected_slippage"]) + float(e["impact_estimate"]),
            spread_paid=s * (average - float(e["mid_at_send"])), prior_fills=prior))
    return reading


# ------------------------------------------------------------------------ fitting

def _features(observations: Sequence[ChildObservation], params: SlippageParams,
              half_life_s: float) -> FloatArray:
    """Columns: earlier units, earlier units decayed, sigma_H * rho**beta (rupees)."""
    decay = math.log(2.0) / half_life_s
    x = np.empty((len(observations), 3))
    for i, o in enumerate(observations):
        horizon = o.horizon_s if o.horizon_s and o.horizon_s > 0 else params.nominal_horizon_s
        sigma_h = params.daily_volatility * math.sqrt(horizon / SESSION_SECONDS) \
            * o.arrival_price
        rho = min(max(o.participation, 0.0), 1.0)
        x[i, 0] = sum(f.units for f in o.prior_fills)
        x[i, 1] = sum(f.units * math.exp(-decay * f.age_s) for f in o.prior_fills)
        x[i, 2] = sigma_h * rho ** params.beta
    return x


def _beyond_the_quote(observations: Sequence[ChildObservation]) -> FloatArray:
    return np.array([o.realized - o.spread_part - o.book_walk for o in observations])


@dataclass(frozen=True)
class _Fit:
    coefficients: FloatArray  # per column, 0 where not fitted
    standard_errors: FloatArray  # nan where not fitted
    sse: float


def _least_squares(x: FloatArray, y: FloatArray) -> _Fit:
    """No-intercept least squares with the coefficients kept non-negative: a column whose
    coefficient comes out negative is dropped and the rest refitted."""
    active = [j for j in range(x.shape[1]) if np.any(x[:, j] != 0.0)]
    coefficients = np.zeros(x.shape[1])
    errors = np.full(x.shape[1], np.nan)
    while active:
        a = x[:, active]
        beta, *_ = np.linalg.lstsq(a, y, rcond=None)
        if np.all(beta >= 0.0):
            residual = y - a @ beta
            sse = float(residual @ residual)
            dof = max(1, len(y) - len(active))
            covariance = sse / dof * np.linalg.pinv(a.T @ a)
            coefficients[active] = beta
            errors[active] = np.sqrt(np.maximum(np.diag(covariance), 0.0))
            return _Fit(coefficients, errors, sse)
        active.pop(int(np.argmin(beta)))
    return _Fit(coefficients, errors, float(y @ y))


@dataclass(frozen=True)
class Agreement:
    """Realized cost regressed on predicted cost, per child, in bps of arrival."""

    n: int
    slope: float
    intercept: float
    r_squared: float
    mean_predicted_bps: float
    mean_realized_bps: float
    mean_error_bps: float  # realized - predicted

    def line(self) -> str:
        return (f"slope {self.slope:.3f}, intercept {self.intercept:+.2f} bps, "
                f"R² {self.r_squared:.3f}, mean predicted {self.mean_predicted_bps:+.2f} bps, "
                f"realized {self.mean_realized_bps:+.2f} bps, "
                f"error {self.mean_error_bps:+.2f} bps (n={self.n})")


def agreement(predicted_bps: Sequence[float] | FloatArray,
              realized_bps: Sequence[float] | FloatArray) -> Agreement:
    """Ordinary least squares of realized on predicted (with an intercept)."""
    p = np.asarray(predicted_bps, dtype=np.float64)
    r = np.asarray(realized_bps, dtype=np.float64)
    if p.size < 2 or float(np.var(p)) == 0.0:
        raise ValueError("need at least two observations with different predictions")
    slope, intercept = np.polyfit(p, r, 1)
    fitted = intercept + slope * p
    total = float(np.sum((r - r.mean()) ** 2))
    r2 = 1.0 - float(np.sum((r - fitted) ** 2)) / total if total > 0 else 1.0
    return Agreement(n=int(p.size), slope=float(slope), intercept=float(intercept),
                     r_squared=r2, mean_predicted_bps=float(p.mean()),
                     mean_realized_bps=float(r.mean()), mean_error_bps=float((r - p).mean()))


def predicted_cost(observation: ChildObservation, model: SlippageModel) -> float:
    """The model's estimate of the child's cost per unit against arrival (no fees), from the
    inputs its rows carry: the quote's spread part, the book walk, the power law and the
    linear impact of the parent's earlier fills."""
    p = model.params
    horizon = observation.horizon_s if observation.horizon_s and observation.horizon_s > 0 \
        else p.nominal_horizon_s
    sigma_h = p.daily_volatility * math.sqrt(horizon / SESSION_SECONDS) \
        * observation.arrival_price
    rho = min(max(observation.participation, 0.0), 1.0)
    power_law: float = sigma_h * (p.eta * rho ** p.beta + 0.5 * p.gamma * rho)
    return (observation.spread_part + observation.book_walk + power_law
            + model.linear_impact(observation.prior_fills))


@dataclass(frozen=True)
class Calibration:
    """A fitted set of slippage parameters and how well they (and the journal's own
    estimates) agree with the fills."""

    params: SlippageParams
    base: SlippageParams
    estimates: dict[str, tuple[float, float | None]]  # name -> (value, standard error)
    observations: int
    parents: int
    before: Agreement  # the journal's own estimates
    after: Agreement  # the fitted parameters' estimates, same children
    spread_check: Agreement | None  # realized spread part on the quoted one (taking fills)
    half_lives_tried: tuple[float, ...] = HALF_LIVES_S


def calibrate(observations: Sequence[ChildObservation],
              base: SlippageParams | None = None,
              half_lives_s: Sequence[float] = HALF_LIVES_S) -> Calibration:
    """Fit the impact parameters to ``observations`` (see the module's docstring)."""
    base = base or SlippageParams()
    if len(observations) < 10:
        raise ValueError(f"{len(observations)} filled children: too few to calibrate from")
    y = _beyond_the_quote(observations)
    best: tuple[_Fit, float] | None = None
    for half_life in half_lives_s:
        fit = _least_squares(_features(observations, base, half_life), y)
        if best is None or fit.sse < best[0].sse - 1e-12:
            best = (fit, half_life)
    assert best is not None
    fit, half_life = best
    permanent, temporary, eta = (float(c) for c in fit.coefficients)
    params = replace(base, permanent_per_unit=permanent, temporary_per_unit=temporary,
                     temporary_half_life_s=half_life if temporary > 0 else
                     base.temporary_half_life_s, eta=eta, gamma=0.0)
    errors = [None if math.isnan(e) else float(e) for e in fit.standard_errors]
    estimates: dict[str, tuple[float, float | None]] = {
        name: (float(value), error)
        for name, value, error in zip(FITTED, fit.coefficients, errors, strict=True)}
    estimates["temporary_half_life_s"] = (params.temporary_half_life_s, None)
    model = SlippageModel(params)
    realized = [o.realized_bps for o in observations]
    after = agreement([predicted_cost(o, model) / o.arrival_price * 1e4 for o in observations],
                      realized)
    before = agreement([o.estimated_bps for o in observations], realized)
    takes = [o for o in observations if o.spread_part > 0]
    spread_check = None
    if len(takes) >= 2 and len({o.spread_part for o in takes}) > 1:
        spread_check = agreement([o.spread_part / o.arrival_price * 1e4 for o in takes],
                                 [(o.spread_paid - o.book_walk) / o.arrival_price * 1e4
                                  for o in takes])
    return Calibration(params=params, base=base, estimates=estimates,
                       observations=len(observations),
                       parents=len({o.parent_id for o in observations}), before=before,
                       after=after, spread_check=spread_check,
                       half_lives_tried=tuple(half_lives_s))


# ------------------------------------------------------------------------ files

def calibration_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where calibrations are written and read: ``directory``, else ``calibration`` in the
    telemetry directory (``~/.imperium_desk`` or ``$IMPERIUM_DESK_HOME``)."""
    from ..telemetry import telemetry_dir

    return Path(directory) if directory is not None else telemetry_dir() / "calibration"


def write_calibration(calibration: Calibration, *, mode: str, journals: Sequence[str],
                      directory: str | os.PathLike[str] | None = None,
                      on: dt.date | None = None) -> Path:
    """Write ``calibration`` as ``slippage_<mode>_<date>.json`` in the calibration directory
    (a second one the same day replaces the first); returns its path."""
    on = on or dt.date.today()
    folder = calibration_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"slippage_{mode}_{on.isoformat()}.json"
    document = {
        "kind": FILE_KIND, "version": FILE_VERSION, "date": on.isoformat(), "mode": mode,
        "journals": list(journals), "observations": calibration.observations,
        "parents": calibration.parents,
        "params": asdict(calibration.params),
        "fitted": {name: {"value": value, "standard_error": error}
                   for name, (value, error) in calibration.estimates.items()},
        "held": {name: getattr(calibration.base, name)
                 for name in ("beta", "daily_volatility", "nominal_horizon_s", "fees_bps")},
        "predicted_vs_realized_bps": {
            "before": asdict(calibration.before), "after": asdict(calibration.after)},
        "spread_check": asdict(calibration.spread_check)
        if calibration.spread_check is not None else None,
        "half_lives_tried_s": list(calibration.half_lives_tried),
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
    return path


def load_calibration(path: str | os.PathLike[str], mode: str | None = None) -> SlippageParams:
    """The slippage parameters of a calibration file (unknown keys are refused); with
    ``mode``, a calibration fitted on another mode's fills is refused."""
    document = json.loads(Path(path).read_text())
    if not isinstance(document, dict) or document.get("kind") != FILE_KIND:
        raise ValueError(f"{path}: not a slippage calibration")
    if mode is not None and document.get("mode") != mode:
        raise ValueError(f"{path}: a calibration of {document.get('mode')!r} fills, "
                         f"not {mode!r}")
    raw = document.get("params")
    known = {f.name for f in fields(SlippageParams)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise ValueError(f"{path}: params: expected the fields of SlippageParams")
    values = {k: float(v) for k, v in raw.items()}
    if any(not math.isfinite(v) for v in values.values()):
        raise ValueError(f"{path}: params: not finite")
    return SlippageParams(**values)


def newest_calibration(mode: str, directory: str | os.PathLike[str] | None = None
                       ) -> Path | None:
    """The newest calibration file for ``mode`` (by the date in its name), if any."""
    folder = calibration_dir(directory)
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"slippage_{mode}_????-??-??.json"))
    return found[-1] if found else None


def slippage_model_for(market_costs: SlippageParams | None, mode: str, *,
                       calibration: str | os.PathLike[str] | None = None,
                       calibration_dir: str | os.PathLike[str] | None = None) -> SlippageModel:
    """The slippage model the stack uses, first match wins:

    1. ``calibration``: this calibration file, whatever the broker (told to); a live
       stack refuses one fitted on paper fills;
    2. ``market_costs``, the broker's own true costs when it knows them (the paper exchange's
       ``capabilities.slippage_params``): a calibration can only approximate what the
       simulator already knows exactly;
    3. the newest calibration for ``mode`` in ``calibration_dir``, when a directory is given;
    4. the live defaults (:class:`SlippageParams`).
    """
    if calibration is not None:
        # A live stack never runs on a fit of simulated fills (paper may try live's).
        model = SlippageModel(load_calibration(calibration, "live" if mode == "live" else None))
        log.info("slippage model: calibration %s", calibration)
        return model
    if market_costs is not None:
        return SlippageModel(market_costs)
    if calibration_dir is not None:
        newest = newest_calibration(mode, calibration_dir)
        if newest is not None:
            model = SlippageModel(load_calibration(newest))
            log.info("slippage model: calibration %s (the newest for %s)", newest, mode)
            return model
    return SlippageModel()


__all__ = [
    "HALF_LIVES_S", "Agreement", "Calibration", "ChildObservation", "JournalReading",
    "agreement", "calibrate", "calibration_dir", "iter_journal_rows", "load_calibration",
    "newest_calibration", "predicted_cost", "read_observations", "slippage_model_for",
    "write_calibration",
]
