"""Review: a paper stack plans with the curve its own exchange trades (as the slippage model
takes the paper exchange's true costs), not the packaged expiry profile on a Tuesday."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from engine_support import make_request
from pytestqt.qtbot import QtBot

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.stack import ExecutionStack
from imperium_exec.timeutil import IST


def test_a_paper_stack_on_an_expiry_day_plans_with_the_exchanges_own_curve(
        qtbot: QtBot, tmp_path: Path) -> None:
    tuesday = dt.datetime(2026, 12, 1, 10, 0, tzinfo=IST).timestamp()  # NIFTY weekly expiry
    clock = VirtualClock(tuesday)
    broker = PaperBroker(clock=clock, seed=1)
    stack = ExecutionStack(broker, "paper", clock=clock, telemetry_dir=tmp_path)
    try:
        curve = stack.engine.planner.curve_for(
            make_request(tradingsymbol="NIFTY26D0826000CE"), tuesday)
        traded = broker.exchange.market._shares  # what the simulated market really trades
        assert np.allclose(curve.bin_shares, traded), curve.name
    finally:
        stack.shutdown()
