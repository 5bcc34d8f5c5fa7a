"""The desk shows the slippage fit in use, and a live desk asks before a newer fit replaces the
one it used yesterday (the answer takes effect from the stack's next start)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from calibration_support import passing_calibration
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.calibration.slippage_fit import (
    accept_fit,
    accepted_record_path,
    write_calibration,
)
from imperium_exec.clock import VirtualClock
from imperium_exec.stack import ExecutionStack
from imperium_exec.widgets.desk.slippage_fit import SlippageFitStatus
from imperium_exec.widgets.desk.window import DeskWindow


def two_fits(folder: Path) -> tuple[Path, Path]:
    yesterday = write_calibration(passing_calibration(seed=3), mode="live", journals=["a"],
                                  directory=folder, on=dt.date(2026, 11, 23))
    accept_fit(yesterday, mode="live")
    today = write_calibration(passing_calibration(seed=4), mode="live", journals=["b"],
                              directory=folder, on=dt.date(2026, 11, 24))
    return yesterday, today


def test_a_live_desk_shows_the_fit_in_use_and_asks_before_a_newer_one_replaces_it(
        qtbot: QtBot, tmp_path: Path, qsettings: QSettings) -> None:
    yesterday, today = two_fits(tmp_path / "calibration")
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                           telemetry_dir=tmp_path)
    window = DeskWindow(stack, chain_broker=PaperBroker(clock=clock), settings=qsettings,
                        poll_ms=100)
    qtbot.addWidget(window)
    window.show()
    try:
        status = window.slippage_status
        assert status.label.text() == (f"Slippage fit: {yesterday.name} — newer fit "
                                       f"{today.name} waits")
        assert "300 fills of 60 parents (2026-11-24 to 2026-11-24), held-out slope 1.00" in \
            status.label.toolTip()
        assert status.button.isVisible()
        asked: list[str] = []
        status.confirm = lambda _parent, text: asked.append(text) or True
        with qtbot.waitSignal(status.accepted, timeout=1000):
            qtbot.mouseClick(status.button, Qt.MouseButton.LeftButton)
        assert asked and f"In use: {yesterday.name}" in asked[0]
        assert f"Newer: {today.name}" in asked[0]
        record = json.loads(accepted_record_path("live", tmp_path / "calibration").read_text())
        assert record["file"] == today.name
        assert status.label.text().endswith(f"{today.name} accepted: used from the next start")
        assert not status.button.isVisible()
        # This stack keeps its estimates; the next one uses the accepted fit.
        assert stack.slippage_fit.fit is not None and stack.slippage_fit.fit.path == yesterday
    finally:
        window.close()
        stack.shutdown()


def test_declining_keeps_the_fit_in_use(qtbot: QtBot, tmp_path: Path) -> None:
    yesterday, _ = two_fits(tmp_path / "calibration")
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                           telemetry_dir=tmp_path)
    try:
        status = SlippageFitStatus(stack.slippage_fit, "live",
                                   confirm=lambda _parent, _text: False)
        qtbot.addWidget(status)
        assert status.review() is False
        record = json.loads(accepted_record_path("live", tmp_path / "calibration").read_text())
        assert record["file"] == yesterday.name
        assert "waits" in status.label.text()
    finally:
        stack.shutdown()


def test_a_paper_desk_says_it_uses_the_exchanges_own_costs(qtbot: QtBot,
                                                           tmp_path: Path) -> None:
    clock = VirtualClock()
    stack = ExecutionStack(PaperBroker(clock=clock), "paper", clock=clock,
                           telemetry_dir=tmp_path)
    try:
        status = SlippageFitStatus(stack.slippage_fit, "paper")
        qtbot.addWidget(status)
        assert status.label.text() == "Slippage: the broker's own costs"
        assert stack.engine.placer.estimator.slippage.fit == "broker"
    finally:
        stack.shutdown()
