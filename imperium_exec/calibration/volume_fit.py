"""Fitting the intraday volume curve from the journal (``imperium-exec calibrate``).

**The data.** Every child row of schema 4 carries the market's cumulative traded volume of the
session in the quote the child was priced from (``day_volume``) and when that quote was taken
in the broker's session seconds (``session_s``: 0 at 09:15 IST on NSE hours). Each instrument's
observations of one session (an *instrument-day*: same tradingsymbol, same session; a new one
starts when the session's date changes or the session clock goes back a minute or more) are a
sampled cumulative volume path that starts at 0 at the open. Consecutive observations
``(t_i, V_i)``, ``(t_{i+1}, V_{i+1})`` (the first from the open, ``(0, 0)``) give an increment
``dV_i`` traded over ``[t_i, t_{i+1}]``, which spans some of the curve's 25 fifteen-minute bins:
``a_ib`` is the fraction of bin ``b`` inside the span.

**The model.** The curve's cumulative volume is linear inside a bin, so the volume expected in
a span is ``D_d * sum_b a_ib * s_b``: the instrument-day's (unknown) total ``D_d`` times the
curve's share of the span. Instrument-days differ in level (strike, moneyness, news), never in
the shape they share; pooling them needs only the day totals as nuisance parameters.

**The fit** is the maximum-likelihood estimate of that model with Poisson counts, by EM
(iterative proportional fitting): each increment is spread over the bins it spans in
proportion to the current curve's shares there (``x_ib = dV_i * a_ib s_b / sum_b a_ib s_b``),
each day's total is its observed volume over its observed share, and each bin's share becomes
its allocated volume over its exposure (``sum_d D_d * a_db``), normalised to sum to 1; repeated
from the packaged profile until the shares move less than 1e-10. The Poisson form only sets the
weights: the estimate stays consistent when volume is over-dispersed (the quasi-likelihood
argument), and it never makes a share negative. A span of several bins (the first observation
of a day reaches back to the open) only says how much traded in all of them together: the
shape inside it comes from the days observed more finely there.

**Shrinkage.** Each bin's share is pulled toward the packaged profile's with the weight of
:data:`PRIOR_INSTRUMENT_DAYS` fully observed instrument-days: its estimate is
``(allocated + k * D * packaged_b) / (exposure + k * D)`` with ``D`` the mean day total, so a
bin nobody observed keeps the packaged share (up to the common normalisation) and a bin seen
on many instrument-days is the data's.

**Too little data.** A curve needs :data:`MIN_SESSIONS` sessions, :data:`MIN_INSTRUMENT_DAYS`
instrument-days and :data:`MIN_OBSERVATIONS` observations; with fewer it is refused with a
message saying so, and the packaged profile stays.

**Goodness.** Sessions are split into :data:`FOLDS` folds (at most one per session; a session's
instrument-days are held out together, since they share that day's market); each fold is
predicted by a curve fitted on the others, and by the packaged profile. The figure is the
mean absolute error of the share of the day's observed volume traded by each observation
(``V_j / V_last`` against ``C(t_j) / C(t_last)``, the curve's cumulative share), in percentage
points: "before" (packaged) against "after" (fitted).

Per underlying and day kind (an expiry day of that underlying, by its dated expiry calendar or
the contract's own expiry, or not), the curves are written with the date as
``volume_curves_<mode>_<date>.json`` in the calibration directory, beside the slippage fit;
:func:`volume_curves_for` is how the stack picks the newest up for its planner.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..events import EventKind
from ..timeutil import IST, SESSION_SECONDS
from ..volume_curve import (
    DAY_KINDS,
    NSE_BIN_SECONDS,
    VolumeCurve,
    VolumeCurveBook,
    day_kind,
    underlying_of,
)
from .slippage_files import calibration_dir
from .slippage_observations import iter_journal_rows

FloatArray = npt.NDArray[np.float64]

#: What a volume-curve file says it is.
FILE_KIND = "imperium-exec volume curves"
FILE_VERSION = 1
#: The least data a curve is fitted from.
MIN_SESSIONS = 3
MIN_INSTRUMENT_DAYS = 5
MIN_OBSERVATIONS = 100
#: How many fully observed instrument-days the packaged profile weighs per bin.
PRIOR_INSTRUMENT_DAYS = 2.0
#: Folds of the held-out comparison.
FOLDS = 5
#: The session clock going back by more than this (seconds) starts a new session.
_CLOCK_SLACK_S = 60.0


# ------------------------------------------------------------------------ observations

@dataclass(frozen=True)
class InstrumentDay:
    """One instrument's observed cumulative volume over one session."""

    tradingsymbol: str
    underlying: str
    day: dt.date
    kind: str  # "normal" or "expiry"
    session_s: FloatArray  # increasing, within the session
    day_volume: FloatArray  # non-decreasing, units


@dataclass
class VolumeReading:
    """What :func:`read_volume_days` found."""

    days: list[InstrumentDay] = field(default_factory=list)
    rows: int = 0
    #: Child rows without the traded volume (written before it was recorded, or no quote).
    without_volume: int = 0
    #: Child rows whose symbol names no configured underlying.
    unknown_symbols: int = 0
    modes: set[str] = field(default_factory=set)

    def observations(self, underlying: str, kind: str) -> int:
        return sum(d.session_s.size for d in self.days
                   if d.underlying == underlying and d.kind == kind)


def read_volume_days(paths: Iterable[str | os.PathLike[str]],
                     mode: str | None = None) -> VolumeReading:
    """The instrument-days of the journals' child rows (streamed; only each row's symbol, time
    and volume are kept). Rows without ``day_volume`` (older ones) are counted, not failed.
    With ``mode``, only that mode's rows (the modes seen are all in ``modes``): a paper
    market's volume says nothing of the exchange's."""
    reading = VolumeReading()
    points: dict[str, set[tuple[float, float, int]]] = {}
    for row in iter_journal_rows(paths):
        reading.rows += 1
        # A markout row's quote, where it has one (before schema 8), is its child's again.
        if not row.get("child_id") or row.get("event") == EventKind.MARKOUT:
            continue
        volume, session_s, ts = row.get("day_volume"), row.get("session_s"), row.get("ts")
        symbol = row.get("tradingsymbol")
        if not isinstance(volume, int) or not isinstance(session_s, (int, float)) \
                or not isinstance(ts, (int, float)) or not isinstance(symbol, str):
            reading.without_volume += 1
            continue
        if underlying_of(symbol) is None:
            reading.unknown_symbols += 1
            continue
        if isinstance(row.get("mode"), str):
            reading.modes.add(row["mode"])
        if mode is not None and row.get("mode") != mode:
            continue
        points.setdefault(symbol, set()).add((float(ts), float(session_s), volume))
    for symbol, found in sorted(points.items()):
        reading.days.extend(_instrument_days(symbol, sorted(found)))
    return reading


def _instrument_days(symbol: str, points: Sequence[tuple[float, float, int]]
                     ) -> list[InstrumentDay]:
    """Split one instrument's (time, session second, volume) points into sessions."""
    underlying = underlying_of(symbol)
    assert underlying is not None
    sessions: list[list[tuple[float, int]]] = []
    days: list[dt.date] = []
    last_day: dt.date | None = None
    last_s = 0.0
    for ts, session_s, volume in points:
        # The session's open: its date, whichever clock (NSE's 09:15, or an always-open paper
        # market's own session start) the broker keeps.
        day = dt.datetime.fromtimestamp(ts - session_s, IST).date()
        new = last_day is None or day != last_day or session_s < last_s - _CLOCK_SLACK_S
        if new:
            sessions.append([])
            days.append(day)
        sessions[-1].append((min(max(session_s, 0.0), float(SESSION_SECONDS)), volume))
        last_day, last_s = day, session_s
    out: list[InstrumentDay] = []
    for day, session in zip(days, sessions, strict=True):
        session.sort()
        times: list[float] = []
        volumes: list[float] = []
        for s, v in session:  # a quote older than one already seen adds nothing
            if times and (s <= times[-1] or v < volumes[-1]):
                if s == times[-1] and v >= volumes[-1]:
                    volumes[-1] = float(v)
                continue
            times.append(s)
            volumes.append(float(v))
        out.append(InstrumentDay(symbol, underlying, day, day_kind(symbol, day),
                                 np.asarray(times), np.asarray(volumes)))
    return out


# ------------------------------------------------------------------------ fitting

def _spans(days: Sequence[InstrumentDay], n_bins: int, bin_s: float
           ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Bin fractions each increment spans (rows), the increments, and their day's index."""
    t0: list[float] = []
    t1: list[float] = []
    dv: list[float] = []
    owner: list[int] = []
    for d, day in enumerate(days):
        times = np.concatenate(([0.0], day.session_s))
        volumes = np.concatenate(([0.0], day.day_volume))
        for i in range(times.size - 1):
            if times[i + 1] > times[i]:
                t0.append(float(times[i]))
                t1.append(float(times[i + 1]))
                dv.append(float(volumes[i + 1] - volumes[i]))
                owner.append(d)
    edges = np.arange(n_bins + 1, dtype=np.float64) * bin_s
    start = np.asarray(t0)[:, None]
    end = np.asarray(t1)[:, None]
    spans = np.clip(np.minimum(end, edges[1:]) - np.maximum(start, edges[:-1]), 0.0, None) / bin_s
    return spans, np.asarray(dv), np.asarray(owner, dtype=np.int64)


@dataclass(frozen=True)
class CurveFit:
    """Bin shares fitted to some instrument-days."""

    shares: FloatArray
    exposure: FloatArray  # bin-days observed per bin
    iterations: int


def fit_shares(days: Sequence[InstrumentDay], prior: VolumeCurve, *,
               prior_instrument_days: float = PRIOR_INSTRUMENT_DAYS,
               max_iterations: int = 2000, tolerance: float = 1e-10) -> CurveFit:
    """The curve's bin shares from ``days`` by EM, shrunk toward ``prior`` (module docstring)."""
    packaged = np.asarray(prior.bin_shares, dtype=np.float64)
    spans, dv, owner = _spans(days, prior.n_bins, prior.bin_seconds)
    n_days = len(days)
    exposure = spans.sum(axis=0)
    if dv.size == 0 or float(dv.sum()) <= 0.0:
        return CurveFit(packaged.copy(), exposure, 0)
    shares = packaged.copy()
    observed_by_day = np.bincount(owner, weights=dv, minlength=n_days)
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        expected = spans @ shares  # the curve's share of each increment's span
        share_by_day = np.bincount(owner, weights=expected, minlength=n_days)
        totals = np.divide(observed_by_day, share_by_day, out=np.zeros(n_days),
                           where=share_by_day > 0)
        weight = np.divide(dv, expected, out=np.zeros_like(dv), where=expected > 0)
        allocated = (spans * weight[:, None]).sum(axis=0) * shares
        exposed = (spans * totals[owner][:, None]).sum(axis=0)
        level = float(totals[totals > 0].mean()) if np.any(totals > 0) else 1.0
        pseudo = prior_instrument_days * level
        updated = (allocated + pseudo * packaged) / (exposed + pseudo)
        updated /= updated.sum()
        change = float(np.max(np.abs(updated - shares)))
        shares = updated
        if change < tolerance:
            break
    return CurveFit(shares, exposure, iterations)


def cumulative_share_error(curve: VolumeCurve, days: Sequence[InstrumentDay]) -> float:
    """Mean absolute error, in percentage points, of the share of each instrument-day's
    observed volume traded by each of its observations, predicted by ``curve``
    (``C(t_j) / C(t_last)``) against realized (``V_j / V_last``). NaN without data."""
    errors: list[float] = []
    for day in days:
        total = float(day.day_volume[-1]) if day.day_volume.size else 0.0
        reach = curve.cumulative(float(day.session_s[-1])) if day.session_s.size else 0.0
        if total <= 0 or reach <= 0 or day.session_s.size < 2:
            continue
        predicted = np.array([curve.cumulative(float(t)) for t in day.session_s[:-1]]) / reach
        realized = day.day_volume[:-1] / total
        errors.extend(np.abs(predicted - realized).tolist())
    return float(np.mean(errors)) * 100.0 if errors else math.nan


@dataclass(frozen=True)
class FittedVolumeCurve:
    """One underlying's curve for one kind of day, or why it was not fitted."""

    underlying: str
    kind: str
    packaged: FloatArray
    sessions: int
    instrument_days: int
    observations: int
    shares: FloatArray | None = None  # None: refused
    exposure: FloatArray | None = None
    refused: str | None = None
    error_packaged_pp: float = math.nan  # held-out cumulative-share MAE, packaged profile
    error_fitted_pp: float = math.nan  # the same, fitted on the other folds

    @property
    def fitted(self) -> bool:
        return self.shares is not None


def fit_volume_curves(days: Sequence[InstrumentDay], *,
                      prior_instrument_days: float = PRIOR_INSTRUMENT_DAYS,
                      folds: int = FOLDS) -> list[FittedVolumeCurve]:
    """One curve per underlying and day kind found in ``days`` (a refused one says why)."""
    groups: dict[tuple[str, str], list[InstrumentDay]] = {}
    for day in days:
        groups.setdefault((day.underlying, day.kind), []).append(day)
    out: list[FittedVolumeCurve] = []
    for (underlying, kind), group in sorted(groups.items()):
        prior = VolumeCurve.load(kind)
        packaged = np.asarray(prior.bin_shares, dtype=np.float64)
        sessions = len({d.day for d in group})
        observations = sum(d.session_s.size for d in group)
        facts = dict(underlying=underlying, kind=kind, packaged=packaged, sessions=sessions,
                     instrument_days=len(group), observations=observations)
        if sessions < MIN_SESSIONS or len(group) < MIN_INSTRUMENT_DAYS \
                or observations < MIN_OBSERVATIONS:
            out.append(FittedVolumeCurve(**facts, refused=(  # type: ignore[arg-type]
                f"{underlying} {kind}: {sessions} session(s), {len(group)} instrument-day(s), "
                f"{observations} observation(s): too few to fit a volume curve (need "
                f"{MIN_SESSIONS}, {MIN_INSTRUMENT_DAYS} and {MIN_OBSERVATIONS}); the packaged "
                f"'{kind}' profile stays")))
            continue
        fit = fit_shares(group, prior, prior_instrument_days=prior_instrument_days)
        # Folds by session: instruments of one day share that day's market, so a day is held
        # out whole.
        dates = sorted({d.day for d in group})
        n_folds = min(folds, len(dates))
        fold_of = {day: i % n_folds for i, day in enumerate(dates)}
        errors: list[float] = []
        held_out: list[InstrumentDay] = []
        for k in range(n_folds):
            test = [d for d in group if fold_of[d.day] == k]
            train = [d for d in group if fold_of[d.day] != k]
            curve = VolumeCurve(fit_shares(train, prior, prior_instrument_days=(
                prior_instrument_days)).shares)
            error = cumulative_share_error(curve, test)
            if not math.isnan(error):
                errors.append(error * _points(test))
                held_out.extend(test)
        error_fitted = sum(errors) / _points(held_out) if held_out else math.nan
        out.append(FittedVolumeCurve(
            **facts, shares=fit.shares, exposure=fit.exposure,  # type: ignore[arg-type]
            error_packaged_pp=cumulative_share_error(prior, held_out),
            error_fitted_pp=error_fitted))
    return out


def _points(days: Sequence[InstrumentDay]) -> int:
    """How many observations :func:`cumulative_share_error` scores in ``days``."""
    return sum(d.session_s.size - 1 for d in days
               if d.session_s.size >= 2 and d.day_volume[-1] > 0)


# ------------------------------------------------------------------------ report

def report_lines(curves: Sequence[FittedVolumeCurve]) -> list[str]:
    """What the command prints: per curve its data, its shares against the packaged ones and
    the held-out error before (packaged) and after (fitted)."""
    lines: list[str] = []
    for c in curves:
        head = (f"volume curve {c.underlying} {c.kind}: {c.sessions} session(s), "
                f"{c.instrument_days} instrument-day(s), {c.observations} observation(s)")
        if c.shares is None:
            lines += [head, f"  refused: {c.refused}"]
            continue
        lines.append(head)
        lines.append(f"  held-out error of the cumulative share (pp): packaged "
                     f"{c.error_packaged_pp:.2f} -> fitted {c.error_fitted_pp:.2f}")
        lines.append("  bin    start  packaged  fitted  bin-days")
        exposure = c.exposure if c.exposure is not None else np.zeros_like(c.shares)
        for b, (p, f, e) in enumerate(zip(c.packaged, c.shares, exposure, strict=True)):
            start = dt.datetime(2000, 1, 1, 9, 15) + dt.timedelta(seconds=b * NSE_BIN_SECONDS)
            lines.append(f"  {b + 1:>3}  {start:%H:%M}   {p * 100:6.2f}%  {f * 100:6.2f}%  "
                         f"{e:8.1f}")
    return lines


# ------------------------------------------------------------------------ files

def write_volume_curves(curves: Sequence[FittedVolumeCurve], *, mode: str,
                        journals: Sequence[str],
                        directory: str | os.PathLike[str] | None = None,
                        on: dt.date | None = None) -> Path | None:
    """Write the fitted curves as ``volume_curves_<mode>_<date>.json`` in the calibration
    directory (a second one the same day replaces the first); None, and nothing written, when
    none was fitted."""
    fitted = [c for c in curves if c.shares is not None]
    if not fitted:
        return None
    on = on or dt.date.today()
    folder = calibration_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"volume_curves_{mode}_{on.isoformat()}.json"
    document = {
        "kind": FILE_KIND, "version": FILE_VERSION, "date": on.isoformat(), "mode": mode,
        "journals": list(journals),
        "session": {"open": "09:15", "close": "15:30", "bin_minutes": 15},
        "prior_instrument_days": PRIOR_INSTRUMENT_DAYS,
        "curves": {
            underlying: {
                c.kind: {
                    "bin_shares": [float(x) for x in c.shares],  # type: ignore[union-attr]
                    "packaged_bin_shares": [float(x) for x in c.packaged],
                    "exposure_bin_days": [float(x) for x in (c.exposure if c.exposure is not
                                                             None else [])],
                    "sessions": c.sessions, "instrument_days": c.instrument_days,
                    "observations": c.observations,
                    "held_out_error_pp": {"packaged": c.error_packaged_pp,
                                          "fitted": c.error_fitted_pp},
                } for c in fitted if c.underlying == underlying}
            for underlying in sorted({c.underlying for c in fitted})},
        "refused": [c.refused for c in curves if c.refused is not None],
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
    return path


def load_volume_curves(path: str | os.PathLike[str]) -> VolumeCurveBook:
    """The fitted curves of a volume-curve file, as the planner chooses from them (each named
    ``"fitted <underlying> <kind> <date>"``)."""
    document = json.loads(Path(path).read_text())
    if not isinstance(document, dict) or document.get("kind") != FILE_KIND:
        raise ValueError(f"{path}: not a volume-curve file")
    date = str(document.get("date"))
    fitted: dict[tuple[str, str], VolumeCurve] = {}
    curves = document.get("curves")
    if not isinstance(curves, dict):
        raise ValueError(f"{path}: curves: expected an object by underlying")
    for underlying, by_kind in curves.items():
        for kind, entry in dict(by_kind).items():
            if kind not in DAY_KINDS:
                raise ValueError(f"{path}: curves.{underlying}: unknown day kind {kind!r}")
            shares = entry.get("bin_shares") if isinstance(entry, dict) else None
            curve = VolumeCurve(shares or [], bin_seconds=NSE_BIN_SECONDS,
                                name=f"fitted {underlying} {kind} {date}")
            if curve.session_length_s != SESSION_SECONDS:
                raise ValueError(f"{path}: curves.{underlying}.{kind}: {curve.n_bins} bins do "
                                 f"not cover the session")
            fitted[(underlying, kind)] = curve
    return VolumeCurveBook(fitted)


def newest_volume_curves(mode: str, directory: str | os.PathLike[str] | None = None
                         ) -> Path | None:
    """The newest volume-curve file for ``mode`` (by the date in its name), if any."""
    folder = calibration_dir(directory)
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"volume_curves_{mode}_????-??-??.json"))
    return found[-1] if found else None


def volume_curves_for(mode: str, *, volume_curves: str | os.PathLike[str] | None = None,
                      calibration_dir: str | os.PathLike[str] | None = None
                      ) -> VolumeCurveBook:
    """The curves the stack's planner chooses from, first match wins: the ``volume_curves``
    file (told to); the newest for ``mode`` in ``calibration_dir`` when one is given; else the
    packaged profiles only."""
    if volume_curves is not None:
        return load_volume_curves(volume_curves)
    if calibration_dir is not None:
        newest = newest_volume_curves(mode, calibration_dir)
        if newest is not None:
            return load_volume_curves(newest)
    return VolumeCurveBook()


__all__ = [
    "FILE_KIND", "MIN_INSTRUMENT_DAYS", "MIN_OBSERVATIONS", "MIN_SESSIONS",
    "PRIOR_INSTRUMENT_DAYS", "CurveFit", "FittedVolumeCurve", "InstrumentDay", "VolumeReading",
    "cumulative_share_error", "fit_shares", "fit_volume_curves", "load_volume_curves",
    "newest_volume_curves", "read_volume_days", "report_lines", "volume_curves_for",
    "write_volume_curves",
]
