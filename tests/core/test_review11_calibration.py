"""Review of issue 11: calibrate and the stack's calibration loader across modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from calibration_support import impact_rows

from imperium_exec.calibration.slippage_fit import (
    calibrate,
    read_observations,
    slippage_model_for,
    write_calibration,
)
from imperium_exec.cli import main
from imperium_exec.events import Event, EventKind, Status
from imperium_exec.request import Side


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _child(mode: str, parent: str, index: int, price: float) -> dict[str, Any]:
    return Event(event=EventKind.FILLED, status=Status.FILLED, ts=10.0 * index, mode=mode,
                 parent_id=parent, child_id=f"{parent}-{index}", child_index=index,
                 tradingsymbol="NIFTY26DEC26000CE", side=Side.BUY, arrival_price=100.0,
                 mid_at_send=100.0, expected_slippage=0.05 * (1 + index % 3),
                 impact_estimate=0.01, participation=0.1, horizon_s=30.0, book_walk=0.0,
                 filled_quantity=65 * index, fill_price=price).to_row()


def test_calibrate_mode_keeps_only_that_modes_fills(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """Journals of both modes: the command says "say which with --mode", but --mode live
    then fits the paper exchange's fills too and writes them as the live calibration."""
    paper = write_rows(tmp_path / "execution_quality_paper.jsonl", [
        _child("paper", f"PP{p}", i, 100.0 + 0.5 * i) for p in range(8) for i in range(1, 5)])
    live = write_rows(tmp_path / "execution_quality_live.jsonl", impact_rows(60, mode="live"))
    out = tmp_path / "calibration"
    assert main(["calibrate", str(paper), str(live)]) == 2  # mixed: say which
    capsys.readouterr()
    assert main(["calibrate", str(paper), str(live), "--mode", "live",
                 "--calibration-dir", str(out)]) == 0
    (written,) = out.glob("slippage_live_*.json")
    assert json.loads(written.read_text())["observations"] == 240  # the live children only


def test_a_calibration_of_the_other_mode_is_refused_by_the_stack(tmp_path: Path) -> None:
    """`calibration=FILE` is loaded whatever its mode: a live stack runs on a fit of the
    paper exchange's fills without a word."""
    rows = impact_rows(60, mode="paper")
    reading = read_observations([write_rows(tmp_path / "p.jsonl", rows)])
    paper_file = write_calibration(calibrate(reading.observations), mode="paper",
                                   journals=["p.jsonl"], directory=tmp_path)

    with pytest.raises(ValueError, match="paper"):  # (Kite knows nothing of its costs)
        slippage_model_for(None, "live", calibration=paper_file)
