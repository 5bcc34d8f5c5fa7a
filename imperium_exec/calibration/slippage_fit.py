"""Calibrating the slippage model from its own fills (``imperium-exec calibrate``).

One observation per filled child, read from the journal by streaming it line by line:

- **realized**: what the child's fills cost per unit against the parent's arrival mid,
  ``s * (average fill - arrival)`` (positive = cost; fees are not in it);
- **the estimate's inputs**, from the child's rows (schema version 4): the spread part the
  quote showed (``expected_slippage``: +half-spread taking, -half-spread joining, 0 at the
  mid), the book walk (``book_walk``), the participation and horizon the power law used;
- **the desk's earlier fills on the contract**: units and ages of the fills written before this
  child's first fill, its parent's and other parents' in the same journal (they moved the
  price this child paid), aged from its pricing as the engine's estimate ages them
  (:mod:`.slippage_observations`).

What is fitted, by least squares (numpy), is the part of the cost the quote cannot show:
``y = realized - spread part - book walk`` regressed, without intercept, on

- those earlier filled units (``permanent_per_unit``, Almgren-Chriss, rupees per unit; a fill
  of another parent's before this parent's arrival is in the arrival price already),
- the same units decayed with a half-life (``temporary_per_unit``; the half-life is the one of
  :data:`HALF_LIVES_S` that fits best; a fill before the arrival only by its decay since),
- ``sigma_H * participation**beta`` (the power law's ``eta``, with ``beta`` and the daily
  volatility held at the base parameters').

The power law's permanent ``gamma`` is not fitted (set to 0): over the participations a desk
trades at, ``rho**0.6`` and ``rho`` are nearly collinear, so the two cannot be told apart; the
linear ``permanent_per_unit`` carries the permanent impact the desk's fills leave. A
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
  market taken out, explained by our own fills on the contract in the same journal (one desk's
  market): any parent's since this parent's arrival (units: permanent; decayed: temporary)
  and the decay, across the parent's window, of the temporary impact earlier fills left
  (a :class:`~..costs.slippage.PriorFill` with its ``arrival_age_s``). No spread and no
  fill is in a mid move, so the two parts are told apart by how the mid moves after our
  trades and how it comes back;
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
fails them; a stack refuses to use one): their thresholds, and why those values, are in
:mod:`.slippage_checks`.

The result is written dated (``slippage_<mode>_<date>.json``) in the calibration directory
(``<telemetry dir>/calibration`` unless told otherwise), with the journals used and the dates
of their fills, the number of observations and parents, the fitted values and their clustered
standard errors, the held-out check, the thresholds it passed, and predicted against realized
cost per child (slope, intercept, R², mean error, in bps of arrival) with the journal's own
estimates ("before") and with the fitted parameters ("after"). :func:`choose_slippage_fit` is
how a stack picks one up: paper, the newest that passes the checks; live, only the one the
trader accepted (:func:`accept_fit`), so a new fit never replaces yesterday's on its own.

Where each part lives (this module names them all, so ``from
imperium_exec.calibration.slippage_fit import ...`` reaches every one):

- :mod:`.slippage_observations`: the observations read from the journal;
- :mod:`.market_move`: the market's own move, from the index (Black-76);
- :mod:`.slippage_regression`: the columns, least squares, clustered standard errors;
- :mod:`.slippage_calibrate`: the fit (:func:`calibrate`, :class:`Calibration`);
- :mod:`.slippage_held_out` and :mod:`.slippage_checks`: the held-out check and the checks;
- :mod:`.slippage_files`: the calibration file, written and read;
- :mod:`.slippage_choice`: which fit a stack uses, and the trader's acceptance of one.
"""

from __future__ import annotations

from .slippage_calibrate import Calibration, calibrate, calibrate_reading, predicted_cost
from .slippage_checks import (
    FITTED,
    HALF_LIVES_S,
    HELD_OUT_FOLDS,
    HELD_OUT_MIN_GAIN,
    HELD_OUT_SEED,
    HELD_OUT_SLOPE,
    MAX_RELATIVE_SE,
    MIN_FILLS,
    MIN_PARENTS,
    FitEvidence,
    FitRefused,
    HeldOut,
    fit_problems,
)
from .slippage_choice import (
    ACCEPTED_KIND,
    AcceptedFit,
    FitInUse,
    accept_fit,
    accepted_record_path,
    choose_slippage_fit,
    read_accepted,
    slippage_model_for,
)

# The file's kind and version: not in __all__, but importable from here as before.
from .slippage_files import FILE_KIND as FILE_KIND
from .slippage_files import FILE_VERSION as FILE_VERSION
from .slippage_files import (
    LoadedFit,
    calibration_dir,
    load_calibration,
    newest_calibration,
    read_fit,
    write_calibration,
)
from .slippage_observations import (
    DESK_FILLS_WINDOW_S,
    ChildObservation,
    JournalReading,
    MidMove,
    iter_journal_rows,
    read_observations,
)
from .slippage_regression import (
    Agreement,
    agreement,
    clustered_standard_errors,
    slope_interval,
)

__all__ = [
    "ACCEPTED_KIND", "DESK_FILLS_WINDOW_S", "FITTED", "HALF_LIVES_S", "HELD_OUT_FOLDS",
    "HELD_OUT_MIN_GAIN", "HELD_OUT_SEED", "HELD_OUT_SLOPE", "MAX_RELATIVE_SE", "MIN_FILLS",
    "MIN_PARENTS", "AcceptedFit", "Agreement", "Calibration", "ChildObservation",
    "FitEvidence", "FitInUse", "FitRefused", "HeldOut", "JournalReading", "LoadedFit",
    "MidMove", "accept_fit", "accepted_record_path", "agreement", "calibrate",
    "calibrate_reading", "calibration_dir", "choose_slippage_fit", "clustered_standard_errors",
    "fit_problems", "iter_journal_rows", "load_calibration", "newest_calibration",
    "predicted_cost", "read_accepted", "read_fit", "read_observations", "slippage_model_for",
    "slope_interval", "write_calibration",
]
