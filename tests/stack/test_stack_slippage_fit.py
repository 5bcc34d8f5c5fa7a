"""The stack uses a slippage fit only if it passes the checks ``calibrate`` applies, says which
fit it uses (``stack.slippage_fit``, the accepted rows' ``slippage_fit``) and why not another,
and a live stack never switches to a newer fit until the trader accepts it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from calibration_support import passing_calibration
from engine_support import make_request
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.calibration.slippage_fit import (
    accept_fit,
    accepted_record_path,
    read_fit,
    write_calibration,
)
from imperium_exec.clock import VirtualClock
from imperium_exec.costs.slippage import SlippageParams
from imperium_exec.events import SCHEMA_VERSION, EventKind, read_event
from imperium_exec.stack import ExecutionStack
from imperium_exec.telemetry import read_rows


def live_stack(tmp_path: Path, **kw: object) -> ExecutionStack:
    clock = VirtualClock()
    return ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                          telemetry_dir=tmp_path, **kw)  # type: ignore[arg-type]


def failing_file(directory: Path, name: str, *, version: int = 2) -> Path:
    """A live fit file that fails the checks: the issue's 50 fills of 15 parents, a
    temporary impact 78 times the truth, checked only on its own data."""
    path = write_calibration(passing_calibration(), mode="live", journals=["a.jsonl"],
                             directory=directory, on=dt.date(2026, 11, 24))
    document = json.loads(path.read_text())
    document.update(version=version, observations=50, parents=15)
    document["params"]["temporary_per_unit"] = 0.031
    document["fitted"]["temporary_per_unit"] = {"value": 0.031, "standard_error": 0.03}
    document["held_out"]["slope"] = 1 / 78
    path.unlink()
    target = directory / name
    target.write_text(json.dumps(document))
    return target


def test_a_live_stack_given_a_fit_that_fails_the_checks_does_not_use_it_and_says_why(
        qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    named = failing_file(tmp_path, "named.json")
    with caplog.at_level(logging.WARNING, "imperium_exec.calibration.slippage_fit"):
        stack = live_stack(tmp_path / "desk", calibration=named)
    try:
        fit = stack.slippage_fit
        assert (fit.source, fit.name, fit.fit) == ("defaults", "defaults", None)
        (note,) = fit.notes
        assert note.startswith("named.json not used: 50 filled children")
        assert "15 parents" in note and "standard error is 97% of the value" in note
        assert "held out: realized on predicted impact has slope 0.013" in note
        assert stack.engine.placer.estimator.slippage.params == SlippageParams()
        assert stack.engine.placer.estimator.slippage.fit == "defaults"
        assert any(r.levelno == logging.WARNING and "named.json not used" in r.getMessage()
                   for r in caplog.records)
    finally:
        stack.shutdown()


def test_a_fit_found_beside_the_journal_that_fails_is_not_used(
        qtbot: QtBot, tmp_path: Path) -> None:
    """The issue's path: a file the old command wrote (no checks' evidence), relabelled live,
    where a live stack with its defaults looks; and one that fails the checks."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    failing_file(folder, "slippage_live_2026-11-24.json", version=1)
    stack = live_stack(tmp_path)
    try:
        assert stack.slippage_fit.source == "defaults"
        assert "written before the checks" in stack.slippage_fit.notes[0]
        assert stack.slippage_fit.pending is None
        assert "equity defaults" in stack.slippage_fit.describe()
    finally:
        stack.shutdown()
    with pytest.raises(ValueError, match="not accepted: written before the checks"):
        accept_fit(folder / "slippage_live_2026-11-24.json", mode="live")


def test_a_live_stack_keeps_the_accepted_fit_until_the_trader_accepts_a_newer_one(
        qtbot: QtBot, tmp_path: Path) -> None:
    folder = tmp_path / "calibration"
    yesterday = write_calibration(passing_calibration(seed=3), mode="live", journals=["a"],
                                  directory=folder, on=dt.date(2026, 11, 23))
    today = write_calibration(passing_calibration(seed=4), mode="live", journals=["b"],
                              directory=folder, on=dt.date(2026, 11, 24))
    stack = live_stack(tmp_path)  # nothing accepted: the defaults, today's fit waits
    try:
        assert stack.slippage_fit.source == "defaults"
        assert stack.slippage_fit.pending is not None
        assert stack.slippage_fit.pending.path == today
    finally:
        stack.shutdown()

    accept_fit(yesterday, mode="live")
    stack = live_stack(tmp_path)
    try:
        fit = stack.slippage_fit
        assert fit.fit is not None and fit.fit.path == yesterday  # not the newer one
        assert stack.engine.placer.estimator.slippage.params == read_fit(yesterday).params
        assert fit.pending is not None and fit.pending.path == today
        assert any("does not switch fits on its own" in n for n in fit.notes)
    finally:
        stack.shutdown()

    accept_fit(today, mode="live")
    record = json.loads(accepted_record_path("live", folder).read_text())
    assert record["file"] == today.name
    # A second fit the same day replaces today's file: not the fit the trader accepted.
    write_calibration(passing_calibration(seed=5), mode="live", journals=["c"],
                      directory=folder, on=dt.date(2026, 11, 24))
    stack = live_stack(tmp_path)
    try:
        fit = stack.slippage_fit
        assert fit.source == "defaults" and fit.pending is not None
        assert fit.pending.sha256 != record["sha256"]
        assert any("rewritten since the trader accepted it" in n for n in fit.notes)
    finally:
        stack.shutdown()


def test_the_accepted_row_names_the_fit_in_use(qtbot: QtBot, tmp_path: Path) -> None:
    """Paper with a broker that knows nothing of its costs: the newest fit that passes."""
    write_calibration(passing_calibration(), mode="paper", journals=["a"],
                      directory=tmp_path / "calibration", on=dt.date(2026, 11, 24))
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "paper", clock=clock,
                           telemetry_dir=tmp_path)
    try:
        name = stack.slippage_fit.name
        assert name.startswith("slippage_paper_2026-11-24.json@")
        with qtbot.waitSignal(stack.parent_accepted, timeout=5000) as accepted:
            handle = stack.execute(make_request())
        assert accepted.args[0]["slippage_fit"] == name
        handle.result(5)
    finally:
        stack.shutdown()
    rows = [read_event(r) for r in read_rows(stack.tracker.path)]
    (row,) = [e for e in rows if e.event is EventKind.ACCEPTED]
    assert (row.v, row.slippage_fit) == (SCHEMA_VERSION, name)
