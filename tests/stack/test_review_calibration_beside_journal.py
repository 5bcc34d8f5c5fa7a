"""Review: the stack now reads calibration/ beside its journal by default. A file it merely
found there (not one it was told to use) must not keep the desk from starting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.stack import ExecutionStack


@pytest.mark.parametrize("name, text", [
    ("volume_curves_live_2026-11-29.json", '{"kind": "imperium-exec volume curves", "curves": '
                                           '{"NIFTY": {"holiday": {"bin_shares": [1]}}}}'),
    ("volume_curves_live_2026-11-29.json", "{not json"),
    ("slippage_live_2026-11-29.json", "{not json"),
])
def test_a_bad_file_found_beside_the_journal_does_not_stop_the_stack(
        qtbot: QtBot, tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / name).write_text(text)
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "live", clock=clock,
                           telemetry_dir=tmp_path)
    stack.shutdown()
