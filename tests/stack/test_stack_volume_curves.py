"""The stack's planner reads the volume curves ``imperium-exec calibrate`` wrote."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from engine_support import make_request
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.calibration.volume_fit import FittedVolumeCurve, write_volume_curves
from imperium_exec.clock import VirtualClock
from imperium_exec.stack import ExecutionStack
from imperium_exec.timeutil import IST
from imperium_exec.volume_curve import VolumeCurve


def test_the_stack_plans_with_the_newest_fitted_curve_in_its_calibration_dir(
        qtbot: QtBot, tmp_path: Path) -> None:
    shares = [1.0] * 21 + [4.0] * 4
    packaged = VolumeCurve.load("expiry").bin_shares
    fitted = FittedVolumeCurve(underlying="NIFTY", kind="expiry", packaged=packaged, sessions=3,
                               instrument_days=6, observations=120,
                               shares=VolumeCurve(shares).bin_shares)
    write_volume_curves([fitted], mode="paper", journals=[], directory=tmp_path / "cal",
                        on=dt.date(2026, 11, 29))
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "paper", clock=clock,
                           telemetry_dir=tmp_path, calibration_dir=tmp_path / "cal")
    try:
        planner = stack.engine.planner
        tuesday = dt.datetime(2026, 12, 1, 10, 0, tzinfo=IST).timestamp()
        curve = planner.curve_for(make_request(tradingsymbol="NIFTY26D0125000CE"), tuesday)
        assert curve.name == "fitted NIFTY expiry 2026-11-29"
        wednesday = tuesday + 86_400
        curve = planner.curve_for(make_request(tradingsymbol="NIFTY26D0825000CE"), wednesday)
        assert curve.name == "packaged normal"
    finally:
        stack.shutdown()
