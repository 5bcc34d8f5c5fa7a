"""The slippage fit itself (:func:`calibrate`, :func:`calibrate_reading`): the fitted
parameters, how well they and the journal's own estimates agree with the fills, and the checks'
evidence (:class:`Calibration`). What is fitted, and how, is in
:mod:`.slippage_fit`'s docstring."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ..costs.slippage import SlippageModel, SlippageParams
from ..timeutil import IST, SESSION_SECONDS
from .slippage_checks import FITTED, HALF_LIVES_S, FitEvidence, HeldOut, fit_problems
from .slippage_held_out import held_out_check, held_out_moving
from .slippage_observations import ChildObservation, JournalReading, MidMove
from .slippage_regression import (
    Agreement,
    FloatArray,
    agreement,
    beyond_the_quote,
    clustered_standard_errors,
    cost_features,
    identified_fit,
    market_removed_costs,
    mid_features,
    moving_fit,
)


def _spread_check(takes: Sequence[ChildObservation]) -> Agreement | None:
    """The quote's spread part against the spread the taking children paid (bps), where
    there are at least two spreads to tell apart."""
    if len(takes) < 2 or len({o.spread_part for o in takes}) < 2:
        return None
    return agreement([o.spread_part / o.arrival_price * 1e4 for o in takes],
                     [(o.spread_paid - o.book_walk) / o.arrival_price * 1e4 for o in takes])


def _dates(observations: Sequence[ChildObservation]) -> list[str]:
    """The IST days the fills are of."""
    return sorted({dt.datetime.fromtimestamp(o.ts, IST).date().isoformat()
                   for o in observations if o.ts > 0})


def predicted_cost(observation: ChildObservation, model: SlippageModel) -> float:
    """The model's estimate of the child's cost per unit against arrival (no fees), from the
    inputs its rows carry: the quote's spread part, the book walk, the power law and the
    linear impact of the desk's earlier fills on the contract (its prior fills)."""
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
            "explained by our own fills on the contract (any parent's since the parent's "
            "arrival, and the decay of those before it)",
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
    """Fit the impact parameters to ``observations`` (see :mod:`.slippage_fit`'s
    docstring). With ``mid_moves`` (:attr:`JournalReading.mid_moves`), the market's own move
    is taken out first (:func:`calibrate_reading`). Raises ``ValueError`` only when there is
    nothing to fit at all; a fit that fails the checks is returned with its
    :attr:`Calibration.problems`."""
    base = base or SlippageParams()
    if mid_moves:
        return _calibrate_moving(observations, base, half_lives_s, mid_moves)
    if len(observations) < 3:
        raise ValueError(f"{len(observations)} filled children: nothing to fit")
    y = beyond_the_quote(observations)
    columns = [cost_features(observations, base, h) for h in half_lives_s]
    clusters = np.unique([o.parent_id for o in observations], return_inverse=True)[1]
    identified = identified_fit(columns, y, clusters)
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
    spread_check = _spread_check([o for o in observations if o.spread_part > 0])
    dates = _dates(observations)
    return Calibration(params=params, base=base, estimates=estimates,
                       observations=len(observations),
                       parents=len({o.parent_id for o in observations}), before=before,
                       after=after, spread_check=spread_check,
                       half_lives_tried=tuple(half_lives_s),
                       held_out=held_out_check(observations, columns, y, clusters),
                       dates=tuple(dates),
                       dropped={FITTED[j]: v for j, v in identified.dropped.items()})


def calibrate_reading(reading: JournalReading, base: SlippageParams | None = None,
                      half_lives_s: Sequence[float] = HALF_LIVES_S) -> Calibration:
    """:func:`calibrate` on what :func:`read_observations` found: with the market's own move
    taken out when the rows carry the index levels it needs, as they are otherwise."""
    return calibrate(reading.observations, base, half_lives_s, reading.mid_moves)


def _calibrate_moving(observations: Sequence[ChildObservation], base: SlippageParams,
                      half_lives_s: Sequence[float], moves: Sequence[MidMove]) -> Calibration:
    """The market-removed fit (see :mod:`.slippage_fit`'s docstring)."""
    kept = [o for o in observations if o.market_move is not None]
    if len(kept) < 3 or len(moves) < 3:
        raise ValueError(f"{len(kept)} filled children with the index levels: nothing to fit")
    mid_y = np.array([m.move - m.market_move for m in moves])
    mid_columns = [mid_features(moves, h) for h in half_lives_s]
    mid_clusters = np.unique([m.parent_id for m in moves], return_inverse=True)[1]
    cost_y = market_removed_costs(kept)
    cost_columns = [cost_features(kept, base, h) for h in half_lives_s]
    cost_clusters = np.unique([o.parent_id for o in kept], return_inverse=True)[1]
    takes = np.array([o.spread_part > 0 for o in kept])
    fitted = moving_fit(mid_columns, mid_y, mid_clusters, cost_columns, cost_y, cost_clusters,
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
    spread_check = _spread_check(taking)
    dates = _dates(kept)
    return Calibration(params=params, base=base, estimates=estimates,
                       observations=len(kept), parents=len({o.parent_id for o in kept}),
                       before=before, after=after, spread_check=spread_check,
                       half_lives_tried=tuple(half_lives_s),
                       held_out=held_out_moving(kept, moves, mid_columns, mid_y,
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
