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
refitted; so is, the weakest first, one whose standard error is above :data:`MAX_RELATIVE_SE`
of its value (the data cannot tell it from 0), and it is recorded as ``dropped`` with its value
and error then (a term that is truly absent comes out slightly above 0 half the time: refusing
the whole fit for it would refuse good fits). The spread needs no parameter (the estimate reads
it from the live quote); the fit checks it instead: the realized spread part regressed on the
quoted one (``spread_check``).

**The market's own move taken out** (:func:`calibrate_reading`, what ``calibrate`` does when
the rows carry the index levels: child and fill rows written from 2026-12-07 on). A premium moves
with its index, tens of bps a second, against an impact of a few bps: a child's cost against
arrival is mostly the market. So each option is repriced from its index (:mod:`.market_move`:
Black-76, the volatility implied by the parent's arrival mid) at the arrival, at each child's
pricing and at each fill, and the move between is taken out. Then:

- ``permanent_per_unit``, ``temporary_per_unit`` and the half-life are fitted on the **mid
  moves** (:class:`MidMove`): the mid each child was priced from against the arrival mid, the
  market taken out, explained by our own fills on the contract: the parent's since its arrival
  (units: permanent; decayed: temporary) and the decay, across the parent's window, of the
  temporary impact earlier parents left (:class:`DeskFill`). No spread and no fill is in a mid
  move, so the two parts are told apart by how the mid moves after our trades and how it
  comes back;
- ``eta`` is fitted on the cost beyond the quote of the children that took liquidity, the
  market and that impact taken out. A resting child (joined, or priced at the mid) fills when
  the market comes to it, so its fills meet the market moving against them: that cost
  (:attr:`Calibration.resting`, measured and printed) is not in the model, and the held-out
  check is on the taking children too;
- the held-out check predicts each **day**'s children with a fit of the other days (a journal
  of one day: folds of parents), with the slope's 95 % interval clustered by parent.

Without the index levels (older rows, or no index quote), the fit is the one below, on the
costs against arrival as they are, and ``calibrate`` says so.

Standard errors are **clustered by parent** (:func:`clustered_standard_errors`, the CR1
sandwich): a parent's children share its market path and its own earlier fills, so their errors
are correlated, and treating them as independent understates the uncertainty.

**The checks** (:func:`fit_problems`, the one judge: ``calibrate`` refuses to write a fit that
fails them, exits 1 and says why; a stack refuses to use one, with a warning and a note in
``stack.slippage_fit``). The thresholds are the constants at the top of this module:

- at least :data:`MIN_PARENTS` (50) parents and :data:`MIN_FILLS` (150) filled children. The
  parents are the independent units, and a cluster-robust standard error is biased low with few
  clusters (a few dozen are the usual minimum): on a morning's 16 fills of 4 parents, a
  temporary impact 60 times the truth came out with a clustered standard error of 25 % of its
  value. 50 parents also give each of the :data:`HELD_OUT_FOLDS` held-out folds 10 parents.
  The linear terms learn only from children with earlier fills of their parent (a parent's first
  child has none): three children per parent on average leave two per parent to learn from;
- at least one impact coefficient above 0 (a fit of all zeros, or whose every coefficient was
  dropped as not told from 0, found nothing to stand behind), and each coefficient above 0 at
  most :data:`MAX_RELATIVE_SE` (50 %) of its value in clustered standard error: two standard
  errors from 0, the usual 95 % (``calibrate`` drops such a coefficient, so this refuses a file
  edited or written otherwise);
- the **held-out check** (:class:`HeldOut`): the parents are split into
  :data:`HELD_OUT_FOLDS` folds (seeded, :data:`HELD_OUT_SEED`), each fold's children predicted
  by a fit made without its parents (half-life chosen again), and the cost beyond the quote
  realized regressed on the impact predicted, per child in bps of arrival. The slope must lie in
  :data:`HELD_OUT_SLOPE` (0.5-2: the fit neither overstates nor understates the impact of parents
  it did not see by more than a factor 2), and the prediction must beat predicting no impact at
  all (``gain``, the out-of-sample R² against 0, above :data:`HELD_OUT_MIN_GAIN`: a fit that
  predicts unseen parents worse than leaving impact out would hurt). A fit checked only on its
  own data is not checked: the in-sample "after" slope is printed, never judged.

Measured on the paper exchange with the market's move taken out (``bench/results_calibrate.md``,
2026-12-07: the index moving at 0.13, 2,000 unmirrored parents a setting): see the README's
calibration section for the figures. Before it (costs against arrival as they are), on the
still market, 50
parents (191-230 fills) pass with held-out slopes 1.02-1.07 and gains about 0.9; the 2,000-parent
set passes (held-out slope 1.06, gain 0.86). With the index moving normally and a temporary
impact of 4e-4 per unit, journals of 16, 20 and 50 fills are refused; 60 to 1,000 parents fit
nothing they can tell from 0; 2,000 parents, whose temporary impact comes out near the truth
(4.2e-4 ± 1.7e-4), fail the held-out check (slope 0.43, gain about 0): a premium moving tens of
bps a second hides an impact of a few bps (``bench/results_calibrate.md``).

The result is written dated (``slippage_<mode>_<date>.json``) in the calibration directory
(``<telemetry dir>/calibration`` unless told otherwise), with the journals used and the dates
of their fills, the number of observations and parents, the fitted values and their clustered
standard errors, the held-out check, the thresholds it passed, and predicted against realized
cost per child (slope, intercept, R², mean error, in bps of arrival) with the journal's own
estimates ("before") and with the fitted parameters ("after"). :func:`choose_slippage_fit` is
how a stack picks one up: paper, the newest that passes the checks; live, only the one the
trader accepted (:func:`accept_fit`), so a new fit never replaces yesterday's on its own.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..costs.slippage import PriorFill, SlippageModel, SlippageParams
from ..events import EventKind
from ..events.quality import JournalQuality, read_journal_rows
from ..request import Side
from ..timeutil import IST, SESSION_SECONDS
from .market_move import OptionPricer, option_pricer

FloatArray = npt.NDArray[np.float64]

#: Half-lives (seconds) of the temporary impact tried by the fit.
HALF_LIVES_S: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0)
#: What a calibration file says it is.
FILE_KIND = "imperium-exec slippage calibration"
#: Version 2 added the checks' evidence (standard errors clustered by parent, the held-out
#: check, the fills' dates); a version 1 file has none and fails the checks.
FILE_VERSION = 2
FITTED = ("permanent_per_unit", "temporary_per_unit", "eta")

# The checks (see "The checks" in the module's docstring for why these values). One function,
# :func:`fit_problems`, applies them: ``calibrate`` before it writes a file, the stack before
# it uses one.
#: Filled children a fit needs.
MIN_FILLS = 150
#: Parents those children belong to (the independent units: see the docstring).
MIN_PARENTS = 50
#: A coefficient fitted above 0 may have a standard error (clustered by parent) of at most
#: this share of its value: two standard errors from 0.
MAX_RELATIVE_SE = 0.5
#: Parents are split into this many folds; each fold's children are predicted by a fit made
#: without the fold's parents (the held-out check).
HELD_OUT_FOLDS = 5
#: Seed of the parents' assignment to folds (fixed: the same journals give the same verdict).
HELD_OUT_SEED = 20
#: The held-out slope of realized on predicted impact must lie in this band...
HELD_OUT_SLOPE = (0.5, 2.0)
#: ...and the fitted impact must predict the held-out cost beyond the quote better than no
#: impact at all by more than this share of its squared error (out-of-sample R² against 0).
HELD_OUT_MIN_GAIN = 0.0

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
    ts: float = 0.0  # the child's first fill, epoch seconds (0: not known)
    #: The market's own move in the premium from the parent's arrival to the child's fills,
    #: per unit, signed like the cost (``s * move``; see :mod:`.market_move`); None where the
    #: rows lack the index levels it needs (written before 2026-12-07, or no index quote).
    market_move: float | None = None

    @property
    def realized_bps(self) -> float:
        return self.realized / self.arrival_price * 1e4

    @property
    def estimated_bps(self) -> float:
        return self.estimated / self.arrival_price * 1e4


@dataclass(frozen=True, slots=True)
class DeskFill:
    """A fill of ours on the instrument, as a pricing's mid move sees it."""

    age_s: float  # seconds before the pricing
    #: Seconds before the parent's arrival, for a fill before it (another parent's, whose
    #: permanent part is in the arrival mid already and whose temporary part decays across
    #: the parent's window); None for a fill after the arrival.
    arrival_age_s: float | None
    units: int  # signed: + the parent's side, - the other side


@dataclass(frozen=True, slots=True)
class MidMove:
    """One child's pricing as the calibration sees it: the mid it was priced from against its
    parent's arrival mid, with the market's own move over that time taken out, per unit and
    signed like a cost. What is left is the impact of our fills on the instrument (the
    parent's own before the pricing, and the decay of other parents' before its arrival):
    the mid's move across the parent's own trades, with no spread or fill in it."""

    parent_id: str
    child_id: str
    arrival_price: float
    move: float  # s * (mid_at_send - arrival)
    market_move: float  # s * (the premium's move from arrival to the pricing)
    fills: tuple[DeskFill, ...]
    ts: float = 0.0  # the pricing, epoch seconds

    @property
    def impact(self) -> float:
        """What the fit explains: the mid's move beyond the market's."""
        return self.move - self.market_move


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
    #: (units, epoch, index level) of each fill whose row has the index level
    fills_at: list[tuple[int, float, float]] = field(default_factory=list)


@dataclass
class JournalReading:
    """What :func:`read_observations` found."""

    observations: list[ChildObservation] = field(default_factory=list)
    #: What the reader left out, and the parents it flagged (left out whole).
    quality: JournalQuality = field(default_factory=JournalQuality)
    #: Filled children whose rows lack the estimate's inputs (written before schema 4).
    without_inputs: int = 0
    modes: set[str] = field(default_factory=set)
    #: The children's pricings with the market's move taken out (:class:`MidMove`).
    mid_moves: list[MidMove] = field(default_factory=list)

    @property
    def market_removed(self) -> int:
        """Filled children whose cost has the market's own move taken out."""
        return sum(o.market_move is not None for o in self.observations)

    @property
    def rows(self) -> int:
        """Rows that fit the schema, each once (``tca`` counts the same)."""
        return self.quality.rows


def iter_journal_rows(paths: Iterable[str | os.PathLike[str]],
                      quality: JournalQuality | None = None) -> Iterator[dict[str, Any]]:
    """Every row of the journals that fits the schema, once, whole (a compact line's left-out
    fields back), through the one reader (:func:`imperium_exec.events.quality.read_journal_rows`):
    what it leaves out, and the parents it flags, go into ``quality``."""
    return read_journal_rows(paths, quality)


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
    arrivals: dict[str, tuple[float, float]] = {}  # parent -> (epoch, index level)
    accepted_rows: dict[str, int] = {}
    pricings: list[_Pricing] = []
    for n, row in enumerate(iter_journal_rows(paths, reading.quality)):
        event = row.get("event")
        wanted = mode is None or row.get("mode") == mode
        if event == EventKind.ACCEPTED:
            level = _positive(row.get("underlying_price"))
            if wanted and level is not None and isinstance(row.get("parent_id"), str):
                arrivals.setdefault(row["parent_id"], (float(row.get("ts") or 0.0), level))
                accepted_rows.setdefault(row["parent_id"], n)
            continue
        if event == EventKind.PLACED:
            pricing = _pricing(n, row) if wanted else None
            if pricing is not None:
                pricings.append(pricing)
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
        level = _positive(row.get("underlying_price"))
        if level is not None:
            child.fills_at.append((units, float(row.get("ts") or 0.0), level))
        fills_by_parent.setdefault(parent_id, []).append(
            (n, float(row.get("ts") or 0.0), units, child_id))
    pricers = _Pricers(arrivals)
    for child_id, child in children.items():
        if child.parent_id in reading.quality.flagged_parents:
            continue  # a row of its parent did not fit: left out whole, not short
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
            spread_paid=s * (average - float(e["mid_at_send"])), prior_fills=prior,
            ts=child.first_fill_ts,
            market_move=_fills_market_move(pricers, child, arrival)))
    by_symbol: dict[str, list[tuple[float, int, int]]] = {}  # symbol -> (ts, row, units)
    for parent_fills in fills_by_parent.values():
        for n, ts, units, other in parent_fills:
            child = children[other]
            by_symbol.setdefault(child.tradingsymbol, []).append(
                (ts, n, child.side_sign * units))
    for fills in by_symbol.values():
        fills.sort()
    for pricing in pricings:
        if pricing.parent_id in reading.quality.flagged_parents:
            continue  # a row of its parent did not fit: left out whole
        pricer = pricers.of(pricing.parent_id, pricing.tradingsymbol, pricing.arrival)
        if pricer is None:
            continue
        start_ts, start_level = arrivals[pricing.parent_id]
        s = pricing.side_sign
        reading.mid_moves.append(MidMove(
            parent_id=pricing.parent_id, child_id=pricing.child_id,
            arrival_price=pricing.arrival, move=s * (pricing.mid - pricing.arrival),
            market_move=s * pricer.move(start_level, start_ts, pricing.level, pricing.ts),
            fills=_desk_fills(by_symbol.get(pricing.tradingsymbol, []), pricing, start_ts,
                              accepted_rows[pricing.parent_id]),
            ts=pricing.ts))
    return reading


#: Our fills on an instrument older than this before a parent's arrival are left out of its
#: mid moves (ten of the longest half-life tried: their temporary part is gone).
DESK_FILLS_WINDOW_S = 10.0 * max(HALF_LIVES_S)


def _desk_fills(fills: list[tuple[float, int, int]], pricing: _Pricing,
                arrival_ts: float, accepted_row: int) -> tuple[DeskFill, ...]:
    """Our fills on the pricing's instrument written before its row (from
    :data:`DESK_FILLS_WINDOW_S` before the parent's arrival on), signed by the parent's
    side; those written before the parent's accepted row are before its arrival."""
    start = bisect.bisect_left(fills, (arrival_ts - DESK_FILLS_WINDOW_S,))
    out = []
    for ts, n, units in fills[start:]:
        if ts > pricing.ts:
            break
        if n >= pricing.row:
            continue
        out.append(DeskFill(age_s=max(0.0, pricing.ts - ts),
                            arrival_age_s=max(0.0, arrival_ts - ts) if n < accepted_row
                            else None,
                            units=pricing.side_sign * units))
    return tuple(out)


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 \
        and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class _Pricing:
    row: int
    ts: float
    parent_id: str
    child_id: str
    tradingsymbol: str
    side_sign: int
    arrival: float
    mid: float
    level: float  # the index when the child was priced


def _pricing(n: int, row: dict[str, Any]) -> _Pricing | None:
    """A placed row's pricing, when it has the mid, the arrival and the index level."""
    arrival, mid = _positive(row.get("arrival_price")), _positive(row.get("mid_at_send"))
    level = _positive(row.get("underlying_price"))
    if arrival is None or mid is None or level is None \
            or not isinstance(row.get("child_id"), str) \
            or not isinstance(row.get("parent_id"), str):
        return None
    return _Pricing(n, float(row.get("ts") or 0.0), row["parent_id"], row["child_id"],
                    str(row.get("tradingsymbol")), 1 if row.get("side") == Side.BUY else -1,
                    arrival, mid, level)


class _Pricers:
    """Each parent's option pricer, its volatility implied by the arrival mid at the index
    level and moment of the parent's accepted row (made once per parent)."""

    def __init__(self, arrivals: dict[str, tuple[float, float]]) -> None:
        self.arrivals = arrivals
        self._made: dict[str, OptionPricer | None] = {}

    def of(self, parent_id: str, tradingsymbol: str, arrival: float) -> OptionPricer | None:
        if parent_id not in self._made:
            start = self.arrivals.get(parent_id)
            self._made[parent_id] = None if start is None else option_pricer(
                tradingsymbol, arrival, start[1], start[0])
        return self._made[parent_id]


def _fills_market_move(pricers: _Pricers, child: _Child, arrival: float) -> float | None:
    """The premium's move from the parent's arrival to the child's fills (unit-weighted),
    signed like a cost; None unless every fill's row has the index level."""
    if not child.fills_at or sum(u for u, _, _ in child.fills_at) != child.units:
        return None
    pricer = pricers.of(child.parent_id, child.tradingsymbol, arrival)
    if pricer is None:
        return None
    start_ts, start_level = pricers.arrivals[child.parent_id]
    moved = sum(units * pricer.move(start_level, start_ts, level, ts)
                for units, ts, level in child.fills_at)
    return child.side_sign * moved / child.units


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
    active: tuple[int, ...]  # the columns fitted (coefficient above 0)
    sse: float


def _least_squares(x: FloatArray, y: FloatArray,
                   allowed: Sequence[int] | None = None) -> _Fit:
    """No-intercept least squares on the ``allowed`` columns (all by default) with the
    coefficients kept non-negative: a column whose coefficient comes out negative is dropped
    and the rest refitted."""
    active = [j for j in (range(x.shape[1]) if allowed is None else allowed)
              if np.any(x[:, j] != 0.0)]
    coefficients = np.zeros(x.shape[1])
    while active:
        a = x[:, active]
        beta, *_ = np.linalg.lstsq(a, y, rcond=None)
        if np.all(beta >= 0.0):
            residual = y - a @ beta
            coefficients[active] = beta
            return _Fit(coefficients, tuple(active), float(residual @ residual))
        active.pop(int(np.argmin(beta)))
    return _Fit(coefficients, (), float(y @ y))


def _best_fit(columns: Sequence[FloatArray], y: FloatArray) -> tuple[_Fit, int]:
    """The fit of the half-life (one feature matrix each) with the least squared error, and
    that half-life's index."""
    best: tuple[_Fit, int] | None = None
    for k, x in enumerate(columns):
        fit = _least_squares(x, y)
        if best is None or fit.sse < best[0].sse - 1e-12:
            best = (fit, k)
    assert best is not None
    return best


@dataclass(frozen=True)
class _Identified:
    fit: _Fit
    half_life: int  # index into the half-lives
    errors: FloatArray  # clustered standard error per column, NaN where not fitted
    #: column -> (value, standard error: None where it could not be estimated) when dropped
    dropped: dict[int, tuple[float, float | None]]


def _identified_fit(columns: Sequence[FloatArray], y: FloatArray,
                    clusters: npt.NDArray[np.int64]) -> _Identified:
    """The best half-life's non-negative fit, then, while a coefficient's standard error
    (clustered by parent) is above :data:`MAX_RELATIVE_SE` of its value, the worst such
    coefficient dropped (set to 0: not told apart from 0) and the rest refitted."""
    fit, k = _best_fit(columns, y)
    x = columns[k]
    dropped: dict[int, tuple[float, float | None]] = {}
    while True:
        errors = np.full(x.shape[1], np.nan)
        active = list(fit.active)
        if not active:
            return _Identified(fit, k, errors, dropped)
        a = x[:, active]
        errors[active] = clustered_standard_errors(a, y - a @ fit.coefficients[active],
                                                   clusters)
        relative = {j: float(errors[j] / fit.coefficients[j])
                    if math.isfinite(errors[j]) else math.inf for j in active}
        worst = max(active, key=lambda j: relative[j])
        if relative[worst] <= MAX_RELATIVE_SE:
            return _Identified(fit, k, errors, dropped)
        error = float(errors[worst])
        dropped[worst] = (float(fit.coefficients[worst]),
                          error if math.isfinite(error) else None)
        fit = _least_squares(x, y, [j for j in active if j != worst])


def _mid_features(moves: Sequence[MidMove], half_life_s: float) -> FloatArray:
    """Columns of the mid moves: our units on the instrument since the arrival (permanent),
    and the temporary part those and the fills before the arrival moved the mid by between
    the arrival and the pricing (temporary, per unit)."""
    decay = math.log(2.0) / half_life_s
    x = np.zeros((len(moves), 2))
    for i, m in enumerate(moves):
        for f in m.fills:
            if f.arrival_age_s is None:
                x[i, 0] += f.units
                x[i, 1] += f.units * math.exp(-decay * f.age_s)
            else:
                x[i, 1] += f.units * (math.exp(-decay * f.age_s)
                                      - math.exp(-decay * f.arrival_age_s))
    return x


def _market_removed(observations: Sequence[ChildObservation]) -> FloatArray:
    """Each child's cost beyond the quote with the market's own move taken out."""
    return np.array([o.realized - (o.market_move or 0.0) - o.spread_part - o.book_walk
                     for o in observations])


@dataclass(frozen=True)
class _MovingFit:
    """The market-removed fit: permanent and temporary from the mid moves, the power law's
    ``eta`` from the children's costs beyond the quote and that impact."""

    coefficients: FloatArray  # permanent, temporary, eta
    errors: FloatArray  # clustered by parent, NaN where not fitted
    half_life: int
    dropped: dict[int, tuple[float, float | None]]


def _moving_fit(mid_columns: Sequence[FloatArray], mid_y: FloatArray,
                mid_clusters: npt.NDArray[np.int64], cost_columns: Sequence[FloatArray],
                cost_y: FloatArray, cost_clusters: npt.NDArray[np.int64],
                takes: npt.NDArray[np.bool_]) -> _MovingFit:
    """``takes``: the children that took liquidity (``eta`` is fitted on them alone: a
    resting child's fill comes when the market comes to it, a cost the quote's spread part
    does not describe; see :attr:`Calibration.resting`)."""
    impact = _identified_fit(mid_columns, mid_y, mid_clusters)
    k = impact.half_life
    coefficients = np.zeros(3)
    errors = np.full(3, np.nan)
    coefficients[:2] = impact.fit.coefficients
    errors[:2] = impact.errors
    dropped = dict(impact.dropped)
    x = cost_columns[k][takes]
    rest = cost_y[takes] - x[:, :2] @ coefficients[:2]
    if len(rest) < 3:
        return _MovingFit(coefficients, errors, k, dropped)
    eta = _identified_fit([x[:, 2:]], rest, cost_clusters[takes])
    coefficients[2] = eta.fit.coefficients[0]
    errors[2] = eta.errors[0]
    if eta.dropped:
        dropped[2] = next(iter(eta.dropped.values()))
    return _MovingFit(coefficients, errors, k, dropped)


def clustered_standard_errors(x: FloatArray, residual: FloatArray,
                              clusters: Sequence[str] | npt.NDArray[Any]) -> FloatArray:
    """Standard errors of least-squares coefficients on ``x`` with errors correlated within
    a cluster (a parent's children) and independent across clusters: the sandwich
    ``(X'X)^-1 (sum_g X_g'u_g u_g'X_g) (X'X)^-1`` with the small-sample factor
    ``G/(G-1) * (n-1)/(n-k)`` (CR1). NaN where it cannot be estimated (fewer than two
    clusters, or no more observations than columns)."""
    n, k = x.shape
    labels, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    g = len(labels)
    if k == 0 or g < 2 or n <= k:
        return np.full(k, np.nan)
    scores = np.zeros((g, k))
    np.add.at(scores, inverse, x * residual[:, None])
    bread = np.linalg.pinv(x.T @ x)
    covariance = g / (g - 1) * (n - 1) / (n - k) * (bread @ (scores.T @ scores) @ bread)
    errors: FloatArray = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    return errors


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
class HeldOut:
    """The held-out check: the parents split into folds, each fold's children predicted by a
    fit made without that fold's parents (half-life chosen again too). Per held-out child, in
    bps of arrival: the cost beyond the quote (what the fit is about) realized against the
    impact predicted."""

    folds: int
    parents: int
    children: int
    #: Realized regressed on predicted (with an intercept); None when the predictions did not
    #: vary (the folds' fits found no impact).
    slope: float | None
    correlation: float | None
    #: ``1 - SSE(predicted) / SSE(0)``: how much better than predicting no impact at all the
    #: fit predicts parents it did not see (an out-of-sample R² against 0; below 0: worse).
    gain: float
    mean_predicted_bps: float
    mean_realized_bps: float
    #: What a fold is: ``days`` (each IST day's parents predicted by a fit of the other days')
    #: or ``parents`` (the parents split at random: a journal of one day).
    by: str = "parents"
    #: The slope's 95 % confidence interval (standard error clustered by parent).
    slope_low: float | None = None
    slope_high: float | None = None
    #: The market's own move was taken out of the realized costs.
    market_removed: bool = False

    def line(self) -> str:
        slope = f"{self.slope:.3f}" if self.slope is not None else "none (no impact predicted)"
        if self.slope_low is not None and self.slope_high is not None:
            slope += f" (95 % interval {self.slope_low:.2f} to {self.slope_high:.2f})"
        correlation = f"{self.correlation:.3f}" if self.correlation is not None else "none"
        folds = (f"{self.folds} days, each predicted by a fit of the other days"
                 if self.by == "days" else f"{self.folds} folds of parents")
        return (f"slope {slope}, correlation {correlation}, gain over no impact "
                f"{self.gain:+.3f}, mean predicted {self.mean_predicted_bps:+.2f} bps, "
                f"realized {self.mean_realized_bps:+.2f} bps ({self.children} children of "
                f"{self.parents} parents in {folds})")


def _folds(observations: Sequence[ChildObservation]) -> tuple[dict[str, int], int, str]:
    """Each parent's fold: its IST day when the children span two days or more, else one of
    :data:`HELD_OUT_FOLDS` seeded folds of parents."""
    day_of: dict[str, str] = {}
    for o in sorted(observations, key=lambda o: o.ts):
        if o.ts > 0:
            day_of.setdefault(o.parent_id, dt.datetime.fromtimestamp(o.ts, IST).date()
                              .isoformat())
    parents = sorted({o.parent_id for o in observations})
    days = sorted(set(day_of.values()))
    if len(days) >= 2 and len(day_of) == len(parents):
        index = {day: i for i, day in enumerate(days)}
        return {p: index[day_of[p]] for p in parents}, len(days), "days"
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(parents))
    return ({parents[int(i)]: position % HELD_OUT_FOLDS for position, i in enumerate(order)},
            HELD_OUT_FOLDS, "parents")


def slope_interval(predicted: FloatArray, realized: FloatArray,
                   clusters: npt.NDArray[Any]) -> tuple[float, float, float]:
    """Realized regressed on predicted with an intercept: the slope and its 95 % confidence
    interval, the standard error clustered by ``clusters`` (parents)."""
    x = np.column_stack([np.ones_like(predicted), predicted])
    beta, *_ = np.linalg.lstsq(x, realized, rcond=None)
    error = float(clustered_standard_errors(x, realized - x @ beta, clusters)[1])
    slope = float(beta[1])
    return slope, slope - 1.96 * error, slope + 1.96 * error


def _held_out_moving(observations: Sequence[ChildObservation], moves: Sequence[MidMove],
                     mid_columns: Sequence[FloatArray], mid_y: FloatArray,
                     cost_columns: Sequence[FloatArray], cost_y: FloatArray) -> HeldOut | None:
    """The held-out check of the market-removed fit (see :class:`HeldOut`): each fold's
    children predicted by a fit of the other folds' mid moves and costs."""
    fold_of, folds, by = _folds(observations)
    if folds < 2 or len(fold_of) < HELD_OUT_FOLDS:
        return None
    fold = np.array([fold_of[o.parent_id] for o in observations])
    takes = np.array([o.spread_part > 0 for o in observations])
    mid_fold = np.array([fold_of.get(m.parent_id, -1) for m in moves])
    cost_clusters = np.unique([o.parent_id for o in observations], return_inverse=True)[1]
    mid_clusters = np.unique([m.parent_id for m in moves], return_inverse=True)[1]
    predicted = np.zeros(len(observations))
    for f in range(folds):
        test, train, mid_train = fold == f, fold != f, mid_fold != f
        if not test.any():
            continue
        fitted = _moving_fit([x[mid_train] for x in mid_columns], mid_y[mid_train],
                             mid_clusters[mid_train], [x[train] for x in cost_columns],
                             cost_y[train], cost_clusters[train], takes[train])
        predicted[test] = cost_columns[fitted.half_life][test] @ fitted.coefficients
    # Judged on the children that took liquidity: a resting child's realized cost beyond the
    # quote holds what the market did to it while it rested (Calibration.resting), which the
    # model does not describe.
    arrival = np.array([o.arrival_price for o in observations])[takes]
    p, r = predicted[takes] / arrival * 1e4, cost_y[takes] / arrival * 1e4
    total = float(r @ r)
    gain = 1.0 - float((r - p) @ (r - p)) / total if total > 0 else 0.0
    slope = correlation = low = high = None
    if float(np.var(p)) > 0.0 and float(np.var(r)) > 0.0:
        slope, low, high = slope_interval(p, r, cost_clusters[takes])
        correlation = float(np.corrcoef(p, r)[0, 1])
    return HeldOut(folds=folds, parents=len(fold_of), children=int(takes.sum()),
                   slope=slope, correlation=correlation, gain=gain,
                   mean_predicted_bps=float(p.mean()), mean_realized_bps=float(r.mean()),
                   by=by, slope_low=low, slope_high=high, market_removed=True)


def _held_out(observations: Sequence[ChildObservation], columns: Sequence[FloatArray],
              y: FloatArray, clusters: npt.NDArray[np.int64]) -> HeldOut | None:
    """The held-out check (see :class:`HeldOut`); None with fewer parents than folds."""
    parents = sorted({o.parent_id for o in observations})
    if len(parents) < HELD_OUT_FOLDS:
        return None
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(parents))
    fold_of = {parents[int(i)]: position % HELD_OUT_FOLDS for position, i in enumerate(order)}
    fold = np.array([fold_of[o.parent_id] for o in observations])
    predicted = np.zeros(len(observations))
    for f in range(HELD_OUT_FOLDS):
        test, train = fold == f, fold != f
        fold_fit = _identified_fit([x[train] for x in columns], y[train], clusters[train])
        predicted[test] = columns[fold_fit.half_life][test] @ fold_fit.fit.coefficients
    arrival = np.array([o.arrival_price for o in observations])
    p, r = predicted / arrival * 1e4, y / arrival * 1e4
    total = float(r @ r)
    gain = 1.0 - float((r - p) @ (r - p)) / total if total > 0 else 0.0
    slope = correlation = None
    if float(np.var(p)) > 0.0 and float(np.var(r)) > 0.0:
        slope = float(np.polyfit(p, r, 1)[0])
        correlation = float(np.corrcoef(p, r)[0, 1])
    return HeldOut(folds=HELD_OUT_FOLDS, parents=len(parents), children=len(observations),
                   slope=slope, correlation=correlation, gain=gain,
                   mean_predicted_bps=float(p.mean()), mean_realized_bps=float(r.mean()))


# ------------------------------------------------------------------------ the checks

@dataclass(frozen=True)
class FitEvidence:
    """What the checks judge a fit by: what ``calibrate`` computed, or what a file records."""

    observations: int
    parents: int
    #: The fitted coefficients (:data:`FITTED`): (value, standard error clustered by parent;
    #: None where not fitted: the coefficient came out 0).
    estimates: dict[str, tuple[float, float | None]]
    held_out: HeldOut | None
    #: Coefficients dropped as not told apart from 0: name -> (value, standard error).
    dropped: dict[str, tuple[float, float | None]] = field(default_factory=dict)


def fit_problems(evidence: FitEvidence) -> list[str]:
    """Why a fit cannot be stood behind (empty: it passes). The one judge of a fit: what
    ``imperium-exec calibrate`` refuses to write is what a stack refuses to use."""
    problems = []
    if evidence.observations < MIN_FILLS:
        problems.append(f"{evidence.observations} filled children (at least {MIN_FILLS} "
                        "needed)")
    if evidence.parents < MIN_PARENTS:
        problems.append(f"{evidence.parents} parents (at least {MIN_PARENTS} needed: children "
                        "of one parent are not independent)")
    fitted = {name: evidence.estimates.get(name, (0.0, None)) for name in FITTED}
    if all(value <= 0.0 for value, _ in fitted.values()):
        problems.append("every impact coefficient fitted as 0: the fills show no impact the "
                        "fit can tell apart from noise" + "".join(
                            f"; {name} {value:.3g} ± "
                            + (f"{error:.2g}" if error is not None else "?")
                            + " (clustered by parent) was not told apart from 0"
                            for name, (value, error) in evidence.dropped.items()))
    for name, (value, error) in fitted.items():
        if value <= 0.0:
            continue
        if error is None or not math.isfinite(error):
            problems.append(f"{name} {value:.3g}: no standard error (clustered by parent)")
        elif error > MAX_RELATIVE_SE * value:
            problems.append(f"{name} {value:.3g} ± {error:.2g} (clustered by parent): the "
                            f"standard error is {error / value:.0%} of the value (at most "
                            f"{MAX_RELATIVE_SE:.0%})")
    held = evidence.held_out
    low, high = HELD_OUT_SLOPE
    if held is None:
        problems.append(f"no held-out check (it needs at least {HELD_OUT_FOLDS} parents)")
    else:
        if held.slope is None:
            problems.append("held out: the fits without each fold's parents predicted no "
                            "impact")
        elif not low <= held.slope <= high:
            what = ("runs against" if held.slope <= 0.0 else "overstates"
                    if held.slope < low else "understates")
            problems.append(f"held out: realized on predicted impact has slope "
                            f"{held.slope:.3f} (outside {low}-{high}: the fit {what} the "
                            "impact of parents it was not fitted on)")
        if held.slope is not None and held.gain <= HELD_OUT_MIN_GAIN:
            problems.append(f"held out: the fit predicts the cost of parents it was not "
                            f"fitted on no better than no impact at all (gain "
                            f"{held.gain:+.3f})")
    return problems


class FitRefused(ValueError):
    """A fit that fails the checks (its ``problems`` say why)."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(problems))
        self.problems = tuple(problems)


# ------------------------------------------------------------------------ calibrating

@dataclass(frozen=True)
class Calibration:
    """A fitted set of slippage parameters, how well they (and the journal's own estimates)
    agree with the fills, and the checks' evidence (:attr:`problems`)."""

    params: SlippageParams
    base: SlippageParams
    #: name -> (value, standard error clustered by parent; None where not fitted)
    estimates: dict[str, tuple[float, float | None]]
    observations: int
    parents: int
    before: Agreement  # the journal's own estimates
    after: Agreement  # the fitted parameters' estimates, same children (in sample)
    spread_check: Agreement | None  # realized spread part on the quoted one (taking fills)
    half_lives_tried: tuple[float, ...] = HALF_LIVES_S
    held_out: HeldOut | None = None
    #: The IST dates of the fills fitted, oldest first.
    dates: tuple[str, ...] = ()
    #: Coefficients set to 0 because their clustered standard error was above
    #: :data:`MAX_RELATIVE_SE` of their value: name -> (value, standard error) then.
    dropped: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    #: The market's own move was taken out (the permanent and temporary parts fitted on the
    #: mid moves, :class:`MidMove`); False: fitted on the costs against arrival as they are.
    market_removed: bool = False
    #: The pricings whose mid moves were fitted (market removed).
    mid_moves: int = 0
    #: Filled children left out because their rows lack the index levels (market removed).
    without_index: int = 0
    #: Resting children (joined or priced at the mid): their cost beyond the quote with the
    #: market and the fitted impact taken out, bps of arrival (mean, 95 % interval clustered by
    #: parent, children). Not in the model: a resting order fills when the market comes to
    #: it, so its fills meet the market moving against them (adverse selection).
    resting: tuple[float, float, float, int] | None = None

    def describe_method(self) -> list[str]:
        """What was done, in plain words (``calibrate`` prints it)."""
        if not self.market_removed:
            return ["the market's own move was NOT taken out (the rows carry no index levels: "
                    "written before 2026-12-07, or no index quote); costs are against the "
                    "parent's arrival mid as they are"]
        lines = [
            "the market's own move was taken out: each option repriced from its index "
            "(Black-76, the volatility implied by the parent's arrival mid) at the arrival, "
            "at each child's pricing and at each fill; the move between is the market's, "
            "not ours",
            f"permanent and temporary impact fitted on {self.mid_moves} mid moves: the mid "
            "each child was priced from against the arrival mid, the market taken out, "
            "explained by our own fills on the contract (the parent's since its arrival, "
            "and the decay of earlier parents' before it)",
            f"eta fitted on the costs beyond the quote of the {self.after.n} children that "
            "took liquidity, the market and that impact taken out"]
        if self.without_index:
            lines.append(f"{self.without_index} filled children left out: their rows carry "
                         "no index level")
        if self.resting is not None:
            mean, low, high, n = self.resting
            lines.append(f"{n} resting children cost {mean:+.1f} bps beyond the quote (95 % "
                         f"interval {low:+.1f} to {high:+.1f}) with the market and our impact "
                         "taken out: the market came to them as it moved against them; the "
                         "model does not describe it, so eta and the held-out check use the "
                         "children that took liquidity")
        return lines

    def evidence(self) -> FitEvidence:
        return FitEvidence(observations=self.observations, parents=self.parents,
                           estimates={n: self.estimates[n] for n in FITTED},
                           held_out=self.held_out, dropped=self.dropped)

    @property
    def problems(self) -> list[str]:
        """Why this fit must not be used (empty: it passes the checks)."""
        return fit_problems(self.evidence())


def calibrate(observations: Sequence[ChildObservation],
              base: SlippageParams | None = None,
              half_lives_s: Sequence[float] = HALF_LIVES_S,
              mid_moves: Sequence[MidMove] = ()) -> Calibration:
    """Fit the impact parameters to ``observations`` (see the module's docstring). With
    ``mid_moves`` (:attr:`JournalReading.mid_moves`), the market's own move is taken out
    first (:func:`calibrate_reading`). Raises ``ValueError`` only when there is nothing to fit
    at all; a fit that fails the checks is returned with its :attr:`Calibration.problems`."""
    base = base or SlippageParams()
    if mid_moves:
        return _calibrate_moving(observations, base, half_lives_s, mid_moves)
    if len(observations) < 3:
        raise ValueError(f"{len(observations)} filled children: nothing to fit")
    y = _beyond_the_quote(observations)
    columns = [_features(observations, base, h) for h in half_lives_s]
    clusters = np.unique([o.parent_id for o in observations], return_inverse=True)[1]
    identified = _identified_fit(columns, y, clusters)
    fit, errors = identified.fit, identified.errors
    half_life = half_lives_s[identified.half_life]
    permanent, temporary, eta = (float(c) for c in fit.coefficients)
    params = replace(base, permanent_per_unit=permanent, temporary_per_unit=temporary,
                     temporary_half_life_s=half_life if temporary > 0 else
                     base.temporary_half_life_s, eta=eta, gamma=0.0)
    estimates: dict[str, tuple[float, float | None]] = {
        name: (float(value), None if math.isnan(error) else float(error))
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
    dates = sorted({dt.datetime.fromtimestamp(o.ts, IST).date().isoformat()
                    for o in observations if o.ts > 0})
    return Calibration(params=params, base=base, estimates=estimates,
                       observations=len(observations),
                       parents=len({o.parent_id for o in observations}), before=before,
                       after=after, spread_check=spread_check,
                       half_lives_tried=tuple(half_lives_s),
                       held_out=_held_out(observations, columns, y, clusters),
                       dates=tuple(dates),
                       dropped={FITTED[j]: v for j, v in identified.dropped.items()})


def calibrate_reading(reading: JournalReading, base: SlippageParams | None = None,
                      half_lives_s: Sequence[float] = HALF_LIVES_S) -> Calibration:
    """:func:`calibrate` on what :func:`read_observations` found: with the market's own move
    taken out when the rows carry the index levels it needs, as they are otherwise."""
    return calibrate(reading.observations, base, half_lives_s, reading.mid_moves)


def _calibrate_moving(observations: Sequence[ChildObservation], base: SlippageParams,
                      half_lives_s: Sequence[float], moves: Sequence[MidMove]) -> Calibration:
    """The market-removed fit (see the module's docstring)."""
    kept = [o for o in observations if o.market_move is not None]
    if len(kept) < 3 or len(moves) < 3:
        raise ValueError(f"{len(kept)} filled children with the index levels: nothing to fit")
    mid_y = np.array([m.move - m.market_move for m in moves])
    mid_columns = [_mid_features(moves, h) for h in half_lives_s]
    mid_clusters = np.unique([m.parent_id for m in moves], return_inverse=True)[1]
    cost_y = _market_removed(kept)
    cost_columns = [_features(kept, base, h) for h in half_lives_s]
    cost_clusters = np.unique([o.parent_id for o in kept], return_inverse=True)[1]
    takes = np.array([o.spread_part > 0 for o in kept])
    fitted = _moving_fit(mid_columns, mid_y, mid_clusters, cost_columns, cost_y, cost_clusters,
                         takes)
    permanent, temporary, eta = (float(c) for c in fitted.coefficients)
    half_life = half_lives_s[fitted.half_life]
    params = replace(base, permanent_per_unit=permanent, temporary_per_unit=temporary,
                     temporary_half_life_s=half_life if temporary > 0 else
                     base.temporary_half_life_s, eta=eta, gamma=0.0)
    estimates: dict[str, tuple[float, float | None]] = {
        name: (float(value), None if math.isnan(error) else float(error))
        for name, value, error in zip(FITTED, fitted.coefficients, fitted.errors, strict=True)}
    estimates["temporary_half_life_s"] = (params.temporary_half_life_s, None)
    model = SlippageModel(params)
    taking = [o for o in kept if o.spread_part > 0]
    judged = taking if len(taking) >= 2 else kept
    realized = [(o.realized - (o.market_move or 0.0)) / o.arrival_price * 1e4 for o in judged]
    after = agreement([predicted_cost(o, model) / o.arrival_price * 1e4 for o in judged],
                      realized)
    before = agreement([o.estimated_bps for o in judged], realized)
    spread_check = None
    if len(taking) >= 2 and len({o.spread_part for o in taking}) > 1:
        spread_check = agreement([o.spread_part / o.arrival_price * 1e4 for o in taking],
                                 [(o.spread_paid - o.book_walk) / o.arrival_price * 1e4
                                  for o in taking])
    dates = sorted({dt.datetime.fromtimestamp(o.ts, IST).date().isoformat()
                    for o in kept if o.ts > 0})
    return Calibration(params=params, base=base, estimates=estimates,
                       observations=len(kept), parents=len({o.parent_id for o in kept}),
                       before=before, after=after, spread_check=spread_check,
                       half_lives_tried=tuple(half_lives_s),
                       held_out=_held_out_moving(kept, moves, mid_columns, mid_y,
                                                 cost_columns, cost_y),
                       dates=tuple(dates),
                       dropped={FITTED[j]: v for j, v in fitted.dropped.items()},
                       market_removed=True, mid_moves=len(moves),
                       without_index=len(observations) - len(kept),
                       resting=_resting(kept, cost_y - cost_columns[fitted.half_life]
                                        @ fitted.coefficients, ~takes))


def _resting(observations: Sequence[ChildObservation], residual: FloatArray,
             resting: npt.NDArray[np.bool_]) -> tuple[float, float, float, int] | None:
    """The resting children's mean cost beyond the quote and the fitted impact, bps of
    arrival, with its 95 % interval (clustered by parent)."""
    if int(resting.sum()) < 2:
        return None
    arrival = np.array([o.arrival_price for o in observations])[resting]
    bps = residual[resting] / arrival * 1e4
    clusters = np.unique([o.parent_id for o, r in zip(observations, resting, strict=True)
                          if r], return_inverse=True)[1]
    mean = float(bps.mean())
    error = float(clustered_standard_errors(np.ones((bps.size, 1)), bps - mean, clusters)[0])
    return mean, mean - 1.96 * error, mean + 1.96 * error, int(bps.size)


# ------------------------------------------------------------------------ files

def calibration_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Where calibrations are written and read: ``directory``, else ``calibration`` in the
    telemetry directory (``~/.imperium_desk`` or ``$IMPERIUM_DESK_HOME``)."""
    from ..telemetry import telemetry_dir

    return Path(directory) if directory is not None else telemetry_dir() / "calibration"


def _thresholds() -> dict[str, Any]:
    return {"min_fills": MIN_FILLS, "min_parents": MIN_PARENTS,
            "max_relative_standard_error": MAX_RELATIVE_SE, "held_out_folds": HELD_OUT_FOLDS,
            "held_out_seed": HELD_OUT_SEED, "held_out_slope": list(HELD_OUT_SLOPE),
            "held_out_min_gain": HELD_OUT_MIN_GAIN}


def _write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)


def write_calibration(calibration: Calibration, *, mode: str, journals: Sequence[str],
                      directory: str | os.PathLike[str] | None = None,
                      on: dt.date | None = None) -> Path:
    """Write ``calibration`` as ``slippage_<mode>_<date>.json`` in the calibration directory
    (a second one the same day replaces the first); returns its path. A fit that fails the
    checks is not written: :class:`FitRefused`."""
    problems = calibration.problems
    if problems:
        raise FitRefused("slippage fit refused", problems)
    on = on or dt.date.today()
    folder = calibration_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"slippage_{mode}_{on.isoformat()}.json"
    document = {
        "kind": FILE_KIND, "version": FILE_VERSION, "date": on.isoformat(), "mode": mode,
        "journals": list(journals), "journal_dates": list(calibration.dates),
        "observations": calibration.observations, "parents": calibration.parents,
        "params": asdict(calibration.params),
        "standard_errors": "clustered by parent (CR1 sandwich)",
        "fitted": {name: {"value": value, "standard_error": error}
                   for name, (value, error) in calibration.estimates.items()},
        "dropped": {name: {"value": value, "standard_error": error}
                    for name, (value, error) in calibration.dropped.items()},
        "held": {name: getattr(calibration.base, name)
                 for name in ("beta", "daily_volatility", "nominal_horizon_s", "fees_bps")},
        "predicted_vs_realized_bps": {
            "before": asdict(calibration.before), "after": asdict(calibration.after)},
        "held_out": asdict(calibration.held_out) if calibration.held_out is not None
        else None,
        "spread_check": asdict(calibration.spread_check)
        if calibration.spread_check is not None else None,
        "half_lives_tried_s": list(calibration.half_lives_tried),
        "market_move": {"removed": calibration.market_removed,
                        "resting_bps": list(calibration.resting)
                        if calibration.resting is not None else None,
                        "mid_moves": calibration.mid_moves,
                        "without_index": calibration.without_index,
                        "how": calibration.describe_method()},
        "checks": {"thresholds": _thresholds(), "passed": True},
    }
    _write_json(path, document)
    return path


def _read_document(path: str | os.PathLike[str], mode: str | None,
                   raw: bytes | None = None) -> dict[str, Any]:
    document = json.loads(raw if raw is not None else Path(path).read_bytes())
    if not isinstance(document, dict) or document.get("kind") != FILE_KIND:
        raise ValueError(f"{path}: not a slippage calibration")
    if mode is not None and document.get("mode") != mode:
        raise ValueError(f"{path}: a calibration of {document.get('mode')!r} fills, "
                         f"not {mode!r}")
    return document


def _params(path: str | os.PathLike[str], document: dict[str, Any]) -> SlippageParams:
    raw = document.get("params")
    known = {f.name for f in fields(SlippageParams)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise ValueError(f"{path}: params: expected the fields of SlippageParams")
    values = {k: float(v) for k, v in raw.items()}
    if any(not math.isfinite(v) for v in values.values()):
        raise ValueError(f"{path}: params: not finite")
    return SlippageParams(**values)


def load_calibration(path: str | os.PathLike[str], mode: str | None = None) -> SlippageParams:
    """The slippage parameters of a calibration file (unknown keys are refused); with
    ``mode``, a calibration fitted on another mode's fills is refused. Not checked: a stack
    reads files through :func:`read_fit` and :func:`fit_problems`."""
    return _params(path, _read_document(path, mode))


@dataclass(frozen=True)
class LoadedFit:
    """A calibration file as read: its parameters, what the checks judge it by, and its
    identity (name and content hash: a second fit the same day replaces the file)."""

    path: Path
    params: SlippageParams
    evidence: FitEvidence | None  # None: written before the checks (file version 1)
    sha256: str
    date: str | None
    journal_dates: tuple[str, ...]

    @property
    def name(self) -> str:
        """How the accepted rows name it: ``slippage_live_2026-11-20.json@3f2a9c1b``."""
        return f"{self.path.name}@{self.sha256[:8]}"

    @property
    def problems(self) -> list[str]:
        if self.evidence is None:
            return ["written before the checks (no standard errors clustered by parent, no "
                    "held-out check): run `imperium-exec calibrate` again"]
        return fit_problems(self.evidence)


def _evidence(path: Path, document: dict[str, Any]) -> FitEvidence | None:
    if not isinstance(document.get("version"), int) or document["version"] < 2:
        return None
    try:
        fitted = document["fitted"]
        estimates: dict[str, tuple[float, float | None]] = {}
        for name in FITTED:
            entry = fitted[name]
            error = entry["standard_error"]
            estimates[name] = (float(entry["value"]),
                               None if error is None else float(error))
        raw = document["held_out"]
        held = None
        if raw is not None:
            names = {f.name for f in fields(HeldOut)}
            required = {f.name for f in fields(HeldOut) if f.default is MISSING}
            if not isinstance(raw, dict) or not required <= set(raw) <= names:
                raise ValueError("held_out: expected the fields of HeldOut")
            held = HeldOut(**raw)
        dropped: dict[str, tuple[float, float | None]] = {}
        for name, entry in (document.get("dropped") or {}).items():
            error = entry["standard_error"]
            dropped[str(name)] = (float(entry["value"]), None if error is None else float(error))
        return FitEvidence(observations=int(document["observations"]),
                           parents=int(document["parents"]), estimates=estimates,
                           held_out=held, dropped=dropped)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the checks' evidence does not read: {exc}") from None


def read_fit(path: str | os.PathLike[str], mode: str | None = None) -> LoadedFit:
    """A calibration file with the evidence its checks need (``ValueError`` for a file
    that does not read; with ``mode``, for a fit of another mode's fills)."""
    path = Path(path)
    raw = path.read_bytes()  # once: the hash is of the content read
    document = _read_document(path, mode, raw)
    dates = document.get("journal_dates") or ()
    return LoadedFit(path=path, params=_params(path, document),
                     evidence=_evidence(path, document),
                     sha256=hashlib.sha256(raw).hexdigest(),
                     date=document.get("date") if isinstance(document.get("date"), str)
                     else None, journal_dates=tuple(str(d) for d in dates))


def newest_calibration(mode: str, directory: str | os.PathLike[str] | None = None
                       ) -> Path | None:
    """The newest calibration file for ``mode`` (by the date in its name), if any."""
    folder = calibration_dir(directory)
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"slippage_{mode}_????-??-??.json"))
    return found[-1] if found else None


# ------------------------------------------------------------------------ accepting (live)

#: What an accepted-fit record says it is.
ACCEPTED_KIND = "imperium-exec accepted slippage fit"


def accepted_record_path(mode: str, directory: str | os.PathLike[str]) -> Path:
    """``slippage_<mode>_accepted.json`` in ``directory``: the fit the trader accepted."""
    return Path(directory) / f"slippage_{mode}_accepted.json"


@dataclass(frozen=True)
class AcceptedFit:
    file: str  # the calibration file's name, in the same directory
    sha256: str  # its content when it was accepted
    accepted_at: str  # ISO 8601


def read_accepted(mode: str, directory: str | os.PathLike[str]) -> AcceptedFit | None:
    """The accepted-fit record of ``mode`` in ``directory``, if any (``ValueError`` for one
    that does not read)."""
    path = accepted_record_path(mode, directory)
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or document.get("kind") != ACCEPTED_KIND \
            or not all(isinstance(document.get(k), str)
                       for k in ("file", "sha256", "accepted_at")):
        raise ValueError(f"{path}: not an accepted-fit record")
    return AcceptedFit(document["file"], document["sha256"], document["accepted_at"])


def accept_fit(path: str | os.PathLike[str], *, mode: str) -> Path:
    """Record ``path`` (a calibration file) as the fit ``mode`` stacks on its directory use
    from their next start: the trader's explicit opt-in a live stack needs before it uses a
    fit (see :func:`choose_slippage_fit`). A fit that fails the checks is refused
    (:class:`FitRefused`). Returns the record's path."""
    fit = read_fit(path, mode if mode == "live" else None)
    if fit.problems:
        raise FitRefused(f"{fit.path.name} not accepted", fit.problems)
    record = accepted_record_path(mode, fit.path.parent)
    _write_json(record, {
        "kind": ACCEPTED_KIND, "version": 1, "mode": mode, "file": fit.path.name,
        "sha256": fit.sha256,
        "accepted_at": dt.datetime.now(IST).isoformat(timespec="seconds")})
    log.info("slippage fit %s accepted for %s (used from the next start)", fit.name, mode)
    return record


# ------------------------------------------------------------------------ choosing

@dataclass(frozen=True)
class FitInUse:
    """The slippage parameters a stack estimates with, and why (``stack.slippage_fit``)."""

    #: ``calibration`` (a fit that passed its checks), ``broker`` (the broker's own true
    #: costs: the paper exchange) or ``defaults`` (the published equity defaults).
    source: str
    #: What the accepted rows' ``slippage_fit`` says: the file's name and the start of its
    #: SHA-256 (``slippage_live_2026-11-20.json@3f2a9c1b``), ``broker`` or ``defaults``.
    name: str
    params: SlippageParams
    fit: LoadedFit | None = None  # the calibration in use
    #: Each fit found and not used, and why (also logged as a warning).
    notes: tuple[str, ...] = ()
    #: A newer fit that passes its checks, not used until the trader accepts it
    #: (:func:`accept_fit`): live only.
    pending: LoadedFit | None = None

    def model(self) -> SlippageModel:
        return SlippageModel(self.params, fit=self.name)

    def describe(self) -> str:
        """One line for the trader."""
        if self.fit is not None:
            e = self.fit.evidence
            held = e.held_out if e is not None else None
            text = (f"slippage fit {self.fit.path.name}"
                    + (f" ({e.observations} fills, {e.parents} parents" if e else "")
                    + (f", held-out slope {held.slope:.2f})" if held and held.slope is not None
                       else ")" if e else ""))
        elif self.source == "broker":
            text = "slippage: the broker's own costs"
        else:
            text = "slippage: the equity defaults (no calibration in use)"
        if self.pending is not None:
            text += f"; {self.pending.path.name} waits for the trader's confirmation"
        return text


def _note(notes: list[str], text: str) -> None:
    log.warning("slippage fit: %s", text)
    notes.append(text)


def _checked(path: Path, mode: str | None, notes: list[str], *,
             sha256: str | None = None) -> LoadedFit | None:
    """``path`` read and checked: None (and a note) when it does not read, is not the
    content ``sha256`` says (an accepted fit rewritten since), or fails the checks."""
    try:
        fit = read_fit(path, mode)
    except (ValueError, OSError) as exc:
        _note(notes, f"{path.name} not used: it does not read ({exc})")
        return None
    if sha256 is not None and fit.sha256 != sha256:
        _note(notes, f"{path.name} was rewritten since the trader accepted it (a later fit "
                     "the same day): not used until accepted again")
        return None
    problems = fit.problems
    if problems:
        _note(notes, f"{path.name} not used: " + "; ".join(problems))
        return None
    return fit


def _rewritten(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() != sha256
    except OSError:
        return False


def choose_slippage_fit(market_costs: SlippageParams | None, mode: str, *,
                        calibration: str | os.PathLike[str] | None = None,
                        calibration_dir: str | os.PathLike[str] | None = None) -> FitInUse:
    """The slippage parameters a stack uses, and why. A calibration is used only when it
    passes :func:`fit_problems` (the checks ``calibrate`` applies before writing it); one that
    fails is not used, with a warning and a note in :attr:`FitInUse.notes`. First match wins:

    1. ``calibration``: this file, whatever the broker (naming it is the opt-in). One that
       does not read, or a fit of paper fills for a live stack, raises ``ValueError``; one
       that fails the checks is not used (the broker's costs or the defaults are);
    2. ``market_costs``, the broker's own true costs when it knows them (the paper exchange's
       ``capabilities.slippage_params``): a calibration can only approximate what the
       simulator already knows exactly;
    3. in ``calibration_dir``, when one is given: paper, the newest calibration for the mode;
       live, the fit the trader accepted (:func:`accept_fit`; the record names the file and
       its content hash, so a same-day refit that replaced the file is not it). A newer live
       fit that passes its checks is not switched to: it is :attr:`FitInUse.pending`;
    4. the live defaults (:class:`SlippageParams`).
    """
    notes: list[str] = []
    if calibration is not None:
        fit = read_fit(calibration, "live" if mode == "live" else None)
        problems = fit.problems
        if not problems:
            log.info("slippage model: calibration %s (named)", fit.name)
            return FitInUse("calibration", fit.name, fit.params, fit=fit)
        _note(notes, f"{fit.path.name} not used: " + "; ".join(problems))
        return _fallback(market_costs, notes)
    if market_costs is not None:
        return FitInUse("broker", "broker", market_costs)
    if calibration_dir is None:
        return _fallback(None, notes)
    directory = Path(calibration_dir)
    newest = newest_calibration(mode, directory)
    used: LoadedFit | None = None
    if mode != "live":
        used = _checked(newest, None, notes) if newest is not None else None
        if used is None:
            return _fallback(None, notes)
        log.info("slippage model: calibration %s (the newest for %s)", used.name, mode)
        return FitInUse("calibration", used.name, used.params, fit=used)
    try:
        record = read_accepted(mode, directory)
    except (ValueError, OSError) as exc:
        record = None
        _note(notes, f"the accepted-fit record does not read ({exc})")
    judged: set[Path] = set()
    if record is not None:
        path = directory / record.file
        if not path.is_file():
            _note(notes, f"the accepted fit {record.file} is gone")
        else:
            used = _checked(path, mode, notes, sha256=record.sha256)
            if used is not None or not _rewritten(path, record.sha256):
                judged.add(path)  # said once (a rewritten file is a new fit: judged below)
    pending = None
    if newest is not None and newest not in judged:
        pending = _checked(newest, mode, notes)
        if pending is not None:
            _note(notes, f"{newest.name} passes its checks but a live stack does not "
                         "switch fits on its own: it is used from the next start once the "
                         "trader accepts it (the desk's slippage-fit button, or "
                         "calibration.slippage_fit.accept_fit)")
    if used is None:
        return replace(_fallback(None, notes), pending=pending)
    log.info("slippage model: calibration %s (accepted %s)", used.name,
             record.accepted_at if record else "")
    return FitInUse("calibration", used.name, used.params, fit=used, notes=tuple(notes),
                    pending=pending)


def _fallback(market_costs: SlippageParams | None, notes: list[str]) -> FitInUse:
    if market_costs is not None:
        return FitInUse("broker", "broker", market_costs, notes=tuple(notes))
    if notes:
        log.warning("slippage model: the equity defaults (no calibration in use)")
    return FitInUse("defaults", "defaults", SlippageParams(), notes=tuple(notes))


def slippage_model_for(market_costs: SlippageParams | None, mode: str, *,
                       calibration: str | os.PathLike[str] | None = None,
                       calibration_dir: str | os.PathLike[str] | None = None) -> SlippageModel:
    """The model of :func:`choose_slippage_fit` (named after the fit in use)."""
    return choose_slippage_fit(market_costs, mode, calibration=calibration,
                               calibration_dir=calibration_dir).model()


__all__ = [
    "ACCEPTED_KIND", "DESK_FILLS_WINDOW_S", "FITTED", "HALF_LIVES_S", "HELD_OUT_FOLDS",
    "HELD_OUT_MIN_GAIN", "HELD_OUT_SEED", "HELD_OUT_SLOPE", "MAX_RELATIVE_SE", "MIN_FILLS",
    "MIN_PARENTS", "AcceptedFit", "Agreement", "Calibration", "ChildObservation", "DeskFill",
    "FitEvidence", "FitInUse", "FitRefused", "HeldOut", "JournalReading", "LoadedFit",
    "MidMove", "accept_fit", "accepted_record_path", "agreement", "calibrate",
    "calibrate_reading", "calibration_dir", "choose_slippage_fit", "clustered_standard_errors",
    "fit_problems", "iter_journal_rows", "load_calibration", "newest_calibration",
    "predicted_cost", "read_accepted", "read_fit", "read_observations", "slippage_model_for",
    "slope_interval", "write_calibration",
]
