"""Review of issue 11: failing tests for defects found in the TCA, calibration and dock
changes (each test names the defect it shows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tca"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "widgets"))

from dock_support import T0, events, row  # noqa: E402
from tca_support import hand_parent, markout_row, write_rows  # noqa: E402

from imperium_exec.calibration import (  # noqa: E402
    calibrate,
    read_observations,
    slippage_model_for,
    write_calibration,
)
from imperium_exec.cli import main  # noqa: E402
from imperium_exec.events import Event, EventKind, QueuePriority, Side, Status  # noqa: E402
from imperium_exec.tca.query import TcaQuery  # noqa: E402
from imperium_exec.tca.sources import resolve_journals  # noqa: E402
from imperium_exec.widgets.tca_book import TcaBook  # noqa: E402


# ------------------------------------------------------------------ tca command

def test_tca_reads_a_journal_whose_last_line_is_torn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A journal the desk is writing (or one it was killed while writing) ends in a torn
    line; the dock and `calibrate` skip it, `tca` refuses the whole journal (exit 1)."""
    journal = write_rows(tmp_path / "execution_quality_live.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with open(journal, "ab") as handle:
        handle.write(b'{"v": 4, "event": "fill')
    out = tmp_path / "r.html"
    assert main(["tca", str(journal), "-o", str(out), "--no-progress"]) == 0
    assert out.exists()
    printed = capsys.readouterr().out
    assert "1 unreadable line" in printed


def test_tca_report_does_not_say_markouts_are_off_by_default(tmp_path: Path) -> None:
    """Markouts are on by default now; the report's note still says they are off."""
    journal = write_rows(tmp_path / "j.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals([journal]))
        notes = query.figures().notes
    assert not any("off by default" in n for n in notes), notes


# ------------------------------------------------------------------ calibrate

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
    live = write_rows(tmp_path / "execution_quality_live.jsonl", [
        _child("live", f"LP{p}", i, 100.0 + 0.05 * i + 0.01 * p)
        for p in range(4) for i in range(1, 5)])
    out = tmp_path / "calibration"
    assert main(["calibrate", str(paper), str(live)]) == 2  # mixed: say which
    capsys.readouterr()
    assert main(["calibrate", str(paper), str(live), "--mode", "live",
                 "--calibration-dir", str(out)]) == 0
    (written,) = out.glob("slippage_live_*.json")
    assert json.loads(written.read_text())["observations"] == 16  # the live children only


def test_a_calibration_of_the_other_mode_is_refused_by_the_stack(tmp_path: Path) -> None:
    """`calibration=FILE` is loaded whatever its mode: a live stack runs on a fit of the
    paper exchange's fills without a word."""
    rows = [_child("paper", f"PP{p}", i, 100.0 + 0.05 * i + 0.01 * p)
            for p in range(8) for i in range(1, 5)]
    reading = read_observations([write_rows(tmp_path / "p.jsonl", rows)])
    paper_file = write_calibration(calibrate(reading.observations), mode="paper",
                                   journals=["p.jsonl"], directory=tmp_path)

    class KiteLike:  # knows nothing of its costs
        pass

    with pytest.raises(ValueError, match="paper"):
        slippage_model_for(KiteLike(), "live", calibration=paper_file)


# ------------------------------------------------------------------ the dock's TcaBook

def _finished(parent_id: str, ts: float, spread: float = 1.0) -> dict[str, Any]:
    return row("finished", parent_id=parent_id, ts=ts, parent_quantity=130, quantity=130,
               parent_filled_quantity=130, decision_price=100.0, end_price=100.0,
               is_delay=0.0, is_spread=spread, is_drift=0.0, is_opportunity=0.0, fees=0.0)


def _markout(parent_id: str, ts: float, horizon: float, bps: float) -> dict[str, Any]:
    return row("markout", parent_id=parent_id, ts=ts, status="filled", child_index=1,
               filled_quantity=65, fill_price=100.0, markout_s=horizon,
               markout_mid=100.0 - bps / 100.0, markout_bps=bps, queue_priority="take")


def test_old_history_does_not_evict_a_working_parents_markouts() -> None:
    """History chunks come newest first but each in file order: an old parent's finished
    row comes before its markouts, so those markouts are kept for a parent already dropped.
    Once 4 x keep of them pile up, the prune drops every parent not kept: also a working
    parent's markouts (its early fills'), so its curve is wrong once it finishes."""
    book = TcaBook(keep=2)
    book.add(events([_finished("NEW1", T0 + 500), _finished("NEW2", T0 + 501)]))
    book.add(events([_markout("WORKING", T0 + 600, 1.0, 7.0)]))  # live: early fill's markout
    for i in range(20):  # older history, chunk by chunk (file order within a chunk)
        old = f"OLD{i}"
        book.add(events([_finished(old, T0 - 100 * i)]
                        + [_markout(old, T0 - 100 * i + h, h, 3.0) for h in (1.0, 5.0, 60.0)]))
    book.add(events([_finished("WORKING", T0 + 700)]))
    assert book.parent_markouts("WORKING").curve() == [(1.0, 7.0)]
