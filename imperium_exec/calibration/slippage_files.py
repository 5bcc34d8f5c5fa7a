"""The slippage calibration file: where it lives (:func:`calibration_dir`), writing it
(:func:`write_calibration`, dated ``slippage_<mode>_<date>.json``; a fit that fails the checks
is not written) and reading it back with the checks' evidence (:func:`read_fit`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..costs.slippage import SlippageParams
from .slippage_calibrate import Calibration
from .slippage_checks import (
    FITTED,
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

#: What a calibration file says it is.
FILE_KIND = "imperium-exec slippage calibration"
#: Version 2 added the checks' evidence (standard errors clustered by parent, the held-out
#: check, the fills' dates); a version 1 file has none and fails the checks.
FILE_VERSION = 2


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


def write_json(path: Path, document: dict[str, Any]) -> None:
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
    write_json(path, document)
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
