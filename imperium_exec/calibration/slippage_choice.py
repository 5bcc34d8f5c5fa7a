"""Which slippage fit a stack uses (:func:`choose_slippage_fit`, :class:`FitInUse`), and
the trader's acceptance of a fit for live (:func:`accept_fit`): paper, the newest that passes
the checks; live, only the one the trader accepted, so a new fit never replaces yesterday's on
its own."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..costs.slippage import SlippageModel, SlippageParams
from ..timeutil import IST
from .slippage_checks import FitRefused
from .slippage_files import LoadedFit, newest_calibration, read_fit, write_json

#: The name it logged under before the module was split (log settings name it).
log = logging.getLogger("imperium_exec.calibration.slippage_fit")


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
    write_json(record, {
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
