"""Calibrating the slippage model: the fit on observations whose answer is known, reading a
journal into observations, the calibration file and which model the stack uses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from calibration_support import impact_rows, passing_calibration, synthetic, write_rows

from imperium_exec.calibration.slippage_fit import (
    accept_fit,
    agreement,
    calibrate,
    load_calibration,
    newest_calibration,
    read_observations,
    slippage_model_for,
    write_calibration,
)
from imperium_exec.cli import main
from imperium_exec.costs.slippage import PriorFill, SlippageParams
from imperium_exec.events import Event, EventKind, Status
from imperium_exec.events.quality import NOT_JSON
from imperium_exec.request import Side


def test_the_fit_recovers_known_impact_parameters_and_their_half_life() -> None:
    truth = SlippageParams(eta=0.05, gamma=0.0, permanent_per_unit=5e-5,
                           temporary_per_unit=2e-4, temporary_half_life_s=45.0)
    result = calibrate(synthetic(400, truth), base=SlippageParams())
    p = result.params
    assert p.temporary_half_life_s == 45.0
    for name in ("eta", "permanent_per_unit", "temporary_per_unit"):
        assert getattr(p, name) == pytest.approx(getattr(truth, name), rel=1e-6)
        assert result.estimates[name][1] == pytest.approx(0.0, abs=1e-9)  # no noise
    assert result.after.slope == pytest.approx(1.0) and result.after.r_squared == \
        pytest.approx(1.0)
    assert (p.beta, p.daily_volatility, p.gamma) == (0.6, 0.5, 0.0)  # held, and gamma not fit


def test_a_cost_that_is_not_in_the_data_is_fitted_as_zero_not_negative() -> None:
    """No power law in the truth and noise on top: eta comes out 0 (a negative coefficient is
    dropped and the rest refitted), the linear terms within a few standard errors."""
    truth = SlippageParams(eta=0.0, gamma=0.0, permanent_per_unit=5e-5,
                           temporary_per_unit=2e-4, temporary_half_life_s=30.0)
    result = calibrate(synthetic(600, truth, seed=8, noise=0.02))
    assert result.params.eta >= 0.0
    for name in ("permanent_per_unit", "temporary_per_unit"):
        value, error = result.estimates[name]
        assert error is not None and error > 0
        assert abs(value - getattr(truth, name)) < 4 * error
    assert 0.9 < result.after.slope < 1.1


def test_agreement_is_the_regression_of_realized_on_predicted() -> None:
    a = agreement([1.0, 2.0, 3.0, 4.0], [2.5, 4.5, 6.5, 8.5])
    assert (a.slope, a.intercept, a.r_squared) == pytest.approx((2.0, 0.5, 1.0))
    assert a.mean_error_bps == pytest.approx(5.5 - 2.5)
    with pytest.raises(ValueError):
        agreement([1.0, 1.0], [2.0, 3.0])


def child_row(event: EventKind, parent: str, index: int, ts: float, **extra: Any
              ) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        event=event, status=Status.FILLED if event is EventKind.FILLED else Status.PLACED,
        ts=ts, mode="paper", parent_id=parent, child_id=f"{parent}-{index}",
        child_index=index, tradingsymbol="NIFTY26DEC26000CE", side=Side.SELL,
        arrival_price=100.0, mid_at_send=100.0, expected_slippage=0.05, impact_estimate=0.01,
        participation=0.1, horizon_s=30.0, book_walk=0.0)
    fields.update(extra)
    return Event(**fields).to_row()


def write_journal(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows) + b'{"torn')
    return path


def test_a_journal_reads_as_one_observation_per_filled_child(tmp_path: Path) -> None:
    """Fills of one child add up; the parent's earlier fills are those written before the
    child's first fill, aged to it; rows without the estimate's inputs are counted, not
    used; a torn last line is skipped."""
    rows = [
        child_row(EventKind.PLACED, "A", 1, 10.0),
        child_row(EventKind.FILLED, "A", 1, 10.0, filled_quantity=65, fill_price=99.95),
        child_row(EventKind.FILLED, "A", 1, 12.0, filled_quantity=65, fill_price=99.85),
        child_row(EventKind.FILLED, "A", 2, 40.0, filled_quantity=130, fill_price=99.8,
                  mid_at_send=99.85),
        child_row(EventKind.FILLED, "B", 1, 41.0, filled_quantity=65, fill_price=99.8,
                  participation=None),  # written before schema 4
    ]
    reading = read_observations([write_journal(tmp_path / "j.jsonl", rows)])
    assert reading.without_inputs == 1 and reading.modes == {"paper"}
    assert dict(reading.quality.problems) == {NOT_JSON: 1}
    first, second = reading.observations
    assert (first.units, first.prior_fills) == (130, ())
    assert first.realized == pytest.approx(-(99.9 - 100.0))  # a sale 0.10 below arrival
    assert second.prior_fills == (PriorFill(30.0, 65), PriorFill(28.0, 65))
    assert second.spread_paid == pytest.approx(99.85 - 99.8)
    assert second.estimated == pytest.approx(0.06)
    assert second.realized_bps == pytest.approx(20.0)


def test_a_calibration_file_is_dated_and_read_back_as_the_stack_uses_it(
        tmp_path: Path) -> None:
    result = passing_calibration()
    older = write_calibration(result, mode="live", journals=["a.jsonl"], directory=tmp_path,
                              on=dt.date(2026, 11, 2))
    newer = write_calibration(result, mode="live", journals=["b.jsonl"], directory=tmp_path,
                              on=dt.date(2026, 11, 20))
    write_calibration(passing_calibration(seed=4), mode="paper", journals=["c.jsonl"],
                      directory=tmp_path, on=dt.date(2026, 11, 25))
    assert older.name == "slippage_live_2026-11-02.json"
    document = json.loads(newer.read_text())
    assert document["date"] == "2026-11-20" and document["journals"] == ["b.jsonl"]
    assert document["observations"] == 300 and document["parents"] == 60
    assert document["journal_dates"] == ["2026-11-24"]
    assert set(document["fitted"]) >= {"permanent_per_unit", "temporary_per_unit", "eta"}
    assert document["predicted_vs_realized_bps"]["after"]["slope"] == pytest.approx(1.0,
                                                                                     abs=0.01)
    assert document["held_out"]["slope"] == pytest.approx(1.0, abs=0.01)
    assert document["checks"]["passed"] is True
    assert newest_calibration("live", tmp_path) == newer
    assert load_calibration(newer) == result.params

    live_costs = None  # a live broker knows nothing of its costs
    paper_costs = SlippageParams(permanent_per_unit=1e-3)  # the paper exchange's own

    assert slippage_model_for(live_costs, "live").params == SlippageParams()
    # A live stack uses only the fit the trader accepted: none yet, so the defaults.
    assert slippage_model_for(live_costs, "live", calibration_dir=tmp_path).params == \
        SlippageParams()
    accept_fit(newer, mode="live")
    assert slippage_model_for(live_costs, "live", calibration_dir=tmp_path).params == \
        result.params
    # The paper exchange's own true costs win over a calibration found in the directory...
    assert slippage_model_for(paper_costs, "paper", calibration_dir=tmp_path).params == \
        paper_costs
    # ...unless a calibration file is named.
    assert slippage_model_for(paper_costs, "paper", calibration=older).params == result.params
    with pytest.raises(ValueError, match="not a slippage calibration"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        load_calibration(bad)


def test_the_calibrate_command_prints_before_and_after_and_writes_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = write_rows(tmp_path / "execution_quality_paper.jsonl",
                         impact_rows(60, mode="paper"))
    out = tmp_path / "calibration"
    assert main(["calibrate", str(journal), "--calibration-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "240 filled children" in printed and "before" in printed and "after" in printed
    assert "held out" in printed and "checks: passed" in printed
    (written,) = out.glob("slippage_paper_*.json")
    assert json.loads(written.read_text())["observations"] == 240
    assert main(["calibrate", str(tmp_path / "missing.jsonl")]) == 2
    assert load_calibration(written).temporary_per_unit == pytest.approx(2e-4, rel=0.05)
