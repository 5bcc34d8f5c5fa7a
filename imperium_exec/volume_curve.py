"""Intraday volume curve for the NSE F&O session: what share of the day's volume trades when.

VWAP sizes its slices by this curve, and POV forecasts its per-slice market volume from it. The
curve is a list of bin shares (25 bins of 15 minutes over 09:15-15:30 for the packaged NSE
profiles) with cumulative volume linear inside each bin. Positions are *session seconds*: seconds
since the session open, so the curve knows nothing about dates or time zones;
:func:`nse_session_seconds` maps an epoch timestamp onto that axis using IST wall-clock time.

Which curve a parent is planned with is :class:`VolumeCurveBook`'s choice: the curve fitted to
the desk's own journals for the contract's underlying and the kind of day (an expiry day of
that underlying or not), when ``imperium-exec calibrate`` wrote one, else the packaged profile
of that kind of day.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from .instruments import UnknownInstrumentError, default_instrument_master, is_expiry_day
from .timeutil import IST, SESSION_OPEN, SESSION_SECONDS

#: Packaged curve file inside ``imperium_exec.resources``.
CURVE_RESOURCE = "volume_curve_nse.json"
#: Bin width of the packaged NSE profiles.
NSE_BIN_SECONDS = 15 * 60.0


def nse_session_seconds(epoch_s: float) -> float:
    """Seconds since 09:15 IST on the IST calendar day of ``epoch_s``.

    Negative before the open, above ``SESSION_SECONDS`` (22,500) after the close. The planner uses
    this when the caller does not supply its own clock-to-session mapping.
    """
    moment = dt.datetime.fromtimestamp(epoch_s, IST)
    open_ = dt.datetime.combine(moment.date(), SESSION_OPEN, tzinfo=IST)
    return (moment - open_).total_seconds()


@lru_cache(maxsize=1)
def _packaged_profiles() -> dict[str, Any]:
    text = resources.files("imperium_exec.resources").joinpath(CURVE_RESOURCE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    profiles: dict[str, Any] = data["profiles"]
    return profiles


class VolumeCurve:
    """Share of the day's volume per intraday bin, with cumulative volume linear inside a bin.

    Build one from explicit bin shares (any non-negative weights; they are normalised to sum to
    1) or load a packaged profile with :meth:`load` (``"normal"`` or ``"expiry"``).
    """

    __slots__ = ("_bin_seconds", "_cumulative", "_name", "_shares")

    def __init__(self, bin_shares: Sequence[float] | npt.NDArray[np.float64], *,
                 bin_seconds: float = NSE_BIN_SECONDS, name: str = "custom") -> None:
        shares = np.asarray(bin_shares, dtype=np.float64).reshape(-1)
        if shares.size == 0:
            raise ValueError("bin_shares: at least one bin is needed")
        if not np.all(np.isfinite(shares)) or np.any(shares < 0):
            raise ValueError("bin_shares: every share must be finite and non-negative")
        total = float(shares.sum())
        if total <= 0:
            raise ValueError("bin_shares: the shares sum to zero")
        if not (math.isfinite(bin_seconds) and bin_seconds > 0):
            raise ValueError(f"bin_seconds: {bin_seconds} must be positive")
        self._shares = shares / total
        self._shares.setflags(write=False)
        cumulative = np.concatenate(([0.0], np.cumsum(self._shares)))
        cumulative[-1] = 1.0  # exact, whatever the rounding of the running sum
        self._cumulative = cumulative
        self._bin_seconds = float(bin_seconds)
        self._name = name

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, profile: str = "normal") -> VolumeCurve:
        """A packaged NSE profile from ``resources/volume_curve_nse.json``."""
        profiles = _packaged_profiles()
        if profile not in profiles:
            raise ValueError(f"profile: {profile!r} is not packaged "
                             f"(known: {', '.join(sorted(profiles))})")
        curve = cls(profiles[profile]["bin_shares"], bin_seconds=NSE_BIN_SECONDS, name=profile)
        if curve.session_length_s != SESSION_SECONDS:
            raise ValueError(f"profile: {profile!r} covers {curve.session_length_s:g} s, "
                             f"not the {SESSION_SECONDS} s NSE session")
        return curve

    @staticmethod
    def profiles() -> tuple[str, ...]:
        """Names of the packaged profiles."""
        return tuple(sorted(_packaged_profiles()))

    # ------------------------------------------------------------------ facts

    @property
    def name(self) -> str:
        return self._name

    @property
    def bin_shares(self) -> npt.NDArray[np.float64]:
        """Share of the day's volume in each bin (read-only array summing to 1)."""
        return self._shares

    @property
    def bin_seconds(self) -> float:
        return self._bin_seconds

    @property
    def n_bins(self) -> int:
        return int(self._shares.size)

    @property
    def session_length_s(self) -> float:
        """Length of the session the curve covers, in seconds."""
        return self._bin_seconds * self.n_bins

    def __repr__(self) -> str:
        return (f"VolumeCurve(name={self._name!r}, bins={self.n_bins}, "
                f"bin_seconds={self._bin_seconds:g})")

    # ------------------------------------------------------------------ queries

    def cumulative(self, t_s: float) -> float:
        """Share of the day's volume traded by session second ``t_s`` (0 before, 1 after)."""
        edges = np.arange(self.n_bins + 1, dtype=np.float64) * self._bin_seconds
        return float(np.interp(t_s, edges, self._cumulative))

    def fraction(self, t0_s: float, t1_s: float) -> float:
        """Share of the day's volume between two session-second offsets, clamped to the session.

        Linear inside a bin; the part of the interval outside the session contributes nothing;
        an empty or reversed interval gives 0.
        """
        if t1_s <= t0_s:
            return 0.0
        return max(0.0, self.cumulative(t1_s) - self.cumulative(t0_s))

    def extended_fraction(self, t0_s: float, t1_s: float) -> float:
        """Like :meth:`fraction`, but time outside the session trades at the edge bins' rates.

        Before the open the first bin's rate applies, after the close the last bin's. The planner
        uses this so that a window outside the session (the always-open paper market, a test run
        at night) still gets a well-defined, curve-consistent shape instead of all-zero weights.
        """
        if t1_s <= t0_s:
            return 0.0
        length = self.session_length_s
        inside = self.fraction(t0_s, t1_s)
        before = max(0.0, min(t1_s, 0.0) - t0_s)
        after = max(0.0, t1_s - max(t0_s, length))
        first_rate = float(self._shares[0]) / self._bin_seconds
        last_rate = float(self._shares[-1]) / self._bin_seconds
        return inside + before * first_rate + after * last_rate


# ---------------------------------------------------------------------- which curve for a day

#: The kinds of day a curve is kept for: an ordinary session, and an expiry day of the
#: contract's underlying (the packaged profiles of the same names).
DAY_KINDS: tuple[str, ...] = ("normal", "expiry")


def day_kind(tradingsymbol: str, day: dt.date) -> str:
    """``"expiry"`` when ``day`` is an expiry day of the symbol's underlying (its scheduled
    expiry, or the contract's own), else ``"normal"``."""
    return "expiry" if is_expiry_day(tradingsymbol, day) else "normal"


def underlying_of(tradingsymbol: str) -> str | None:
    """The underlying a symbol trades, None when it names no configured one."""
    try:
        return default_instrument_master().underlying_of(tradingsymbol)
    except UnknownInstrumentError:
        return None


class VolumeCurveBook:
    """The curves the planner chooses from: fitted ones per underlying and day kind (from
    ``imperium-exec calibrate``, :func:`~.calibration.volume_fit.load_volume_curves`), else
    the packaged profile of the day kind.

    A fitted curve is named for where it came from (``"fitted NIFTY expiry 2026-11-29"``: the
    date of its calibration), a packaged one ``"packaged normal"``, so a plan can say which it
    used.
    """

    def __init__(self, fitted: dict[tuple[str, str], VolumeCurve] | None = None) -> None:
        self.fitted: dict[tuple[str, str], VolumeCurve] = dict(fitted or {})
        for (_, kind) in self.fitted:
            if kind not in DAY_KINDS:
                raise ValueError(f"day kind: {kind!r} is not one of {', '.join(DAY_KINDS)}")
        self._packaged = {kind: VolumeCurve(VolumeCurve.load(kind).bin_shares,
                                            name=f"packaged {kind}") for kind in DAY_KINDS}

    def packaged(self, kind: str) -> VolumeCurve:
        return self._packaged[kind]

    def curve_for(self, tradingsymbol: str, day: dt.date) -> VolumeCurve:
        """The fitted curve of the symbol's underlying for the kind of ``day``, else the
        packaged profile of that kind."""
        kind = day_kind(tradingsymbol, day)
        underlying = underlying_of(tradingsymbol)
        if underlying is not None:
            fitted = self.fitted.get((underlying, kind))
            if fitted is not None:
                return fitted
        return self._packaged[kind]
