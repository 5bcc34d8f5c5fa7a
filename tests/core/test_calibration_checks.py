"""A calibration that cannot hurt (issue 20): ``calibrate`` refuses a fit it cannot stand
behind (too few fills or parents, coefficients it cannot tell from 0, a held-out check that
fails), says why, exits 1 and writes nothing; a fit file records its evidence and is judged
again, by the same function, when it is read."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from calibration_support import (
    TRUTH,
    first_fills,
    moving_market_journal,
    passing_calibration,
    synthetic,
)

from imperium_exec.calibration.slippage_fit import (
    HELD_OUT_SLOPE,
    MAX_RELATIVE_SE,
    MIN_FILLS,
    MIN_PARENTS,
    FitEvidence,
    FitRefused,
    HeldOut,
    calibrate,
    clustered_standard_errors,
    fit_problems,
    read_fit,
    write_calibration,
)
from imperium_exec.cli import main
from imperium_exec.costs.slippage import SlippageParams


def test_calibrate_refuses_journals_of_16_20_and_50_fills_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's market (the index moving normally, a temporary impact of 4e-4 per unit):
    the old command wrote 0 impact from 20 fills and 78 times the truth from 50."""
    whole = moving_market_journal(tmp_path / "morning.jsonl", parents=40)
    out = tmp_path / "calibration"
    for children in (16, 20, 50):
        journal = first_fills(whole, children, tmp_path / f"first_{children}.jsonl")
        assert main(["calibrate", str(journal), "--calibration-dir", str(out)]) == 1
        printed = capsys.readouterr()
        assert f"{children} filled children" in printed.out
        assert "slippage fit refused, nothing written" in printed.err
        assert f"{children} filled children (at least {MIN_FILLS} needed)" in printed.err
        assert f"(at least {MIN_PARENTS} needed" in printed.err
        # The rows carry the index levels: the market's move is taken out and said so.
        assert "the market's own move was taken out" in printed.out
    assert not out.exists() or list(out.iterdir()) == []  # nothing written, volume neither


def test_enough_fills_with_no_impact_in_them_are_refused_as_not_identified() -> None:
    """300 children of 60 parents whose cost beyond the quote is noise: enough data, nothing
    in it; whatever comes out above 0 is within two standard errors of 0 and dropped."""
    nothing = SlippageParams(eta=0.0, gamma=0.0)
    result = calibrate(synthetic(300, nothing, seed=9, noise=0.05))
    assert (result.observations, result.parents) == (300, 60)
    problems = result.problems
    assert any("every impact coefficient fitted as 0" in p for p in problems)
    assert not any("filled children" in p or "parents (" in p for p in problems)
    with pytest.raises(FitRefused, match="every impact coefficient"):
        write_calibration(result, mode="live", journals=[])


def test_a_known_impact_passes_with_clustered_errors_and_a_held_out_check() -> None:
    result = passing_calibration()
    assert result.problems == []
    for name in ("permanent_per_unit", "temporary_per_unit"):
        value, error = result.estimates[name]
        assert value == pytest.approx(getattr(TRUTH, name), rel=0.05)
        assert error is not None and error < MAX_RELATIVE_SE * value
    held = result.held_out
    assert held is not None and held.parents == 60 and held.children == 300
    assert held.slope == pytest.approx(1.0, abs=0.05) and held.gain > 0.9


def _evidence(**changes: object) -> FitEvidence:
    held = HeldOut(folds=5, parents=60, children=300, slope=1.02, correlation=0.95, gain=0.9,
                   mean_predicted_bps=5.0, mean_realized_bps=5.1)
    evidence = FitEvidence(observations=300, parents=60, estimates={
        "permanent_per_unit": (5e-5, 1e-5), "temporary_per_unit": (2e-4, 2e-5),
        "eta": (0.0, None)}, held_out=held)
    held_changes = {k[3:]: v for k, v in changes.items() if k.startswith("ho_")}
    if held_changes:
        changes = {k: v for k, v in changes.items() if not k.startswith("ho_")}
        changes["held_out"] = replace(held, **held_changes)  # type: ignore[arg-type]
    return replace(evidence, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "reason"), [
    ({"observations": MIN_FILLS - 1}, f"{MIN_FILLS - 1} filled children"),
    ({"parents": MIN_PARENTS - 1}, f"{MIN_PARENTS - 1} parents"),
    ({"estimates": {"permanent_per_unit": (0.0, None), "temporary_per_unit": (0.0, None),
                    "eta": (0.0, None)}}, "every impact coefficient fitted as 0"),
    ({"estimates": {"permanent_per_unit": (5e-5, 5e-5), "temporary_per_unit": (2e-4, 2e-5),
                    "eta": (0.0, None)}}, "permanent_per_unit 5e-05 ± 5e-05"),
    ({"estimates": {"permanent_per_unit": (5e-5, None), "temporary_per_unit": (2e-4, 2e-5),
                    "eta": (0.0, None)}}, "no standard error"),
    ({"held_out": None}, "no held-out check"),
    ({"ho_slope": 1 / 78}, "overstates"),  # the 78x
    ({"ho_slope": -0.7}, "runs against"),
    ({"ho_slope": 2.5}, "understates"),
    ({"ho_slope": None}, "predicted no impact"),
    ({"ho_gain": -0.01}, "no better than no impact"),
])
def test_each_check_refuses_with_its_reason(changes: dict[str, object], reason: str) -> None:
    assert fit_problems(_evidence()) == []
    problems = fit_problems(_evidence(**changes))
    assert len(problems) == 1 and reason in problems[0], problems


def test_the_held_out_band_is_the_documented_one() -> None:
    low, high = HELD_OUT_SLOPE
    assert fit_problems(_evidence(ho_slope=low)) == fit_problems(
        _evidence(ho_slope=high)) == []


def test_clustered_errors_count_parents_not_children() -> None:
    """Every parent's child repeated four times (same features, same error) adds no
    information: the ordinary standard error shrinks by half, the clustered one does not."""
    rng = np.random.default_rng(1)
    x = rng.uniform(1, 10, size=(60, 2))
    residual = rng.normal(0.0, 1.0, 60)
    parents = [f"P{i}" for i in range(60)]
    once = clustered_standard_errors(x, residual, parents)
    x4, r4, p4 = np.repeat(x, 4, axis=0), np.repeat(residual, 4), np.repeat(parents, 4)
    four = clustered_standard_errors(x4, r4, p4)
    assert four == pytest.approx(once, rel=0.02)

    def ordinary(a: np.ndarray, r: np.ndarray) -> np.ndarray:
        s2 = float(r @ r) / (len(r) - a.shape[1])
        return np.sqrt(np.diag(s2 * np.linalg.inv(a.T @ a)))  # type: ignore[no-any-return]

    assert ordinary(x4, r4) == pytest.approx(ordinary(x, residual) / 2, rel=0.02)
    assert np.isnan(clustered_standard_errors(x, residual, ["one"] * 60)).all()


def test_a_fit_file_records_its_evidence_and_is_judged_again_when_read(
        tmp_path: Path) -> None:
    result = passing_calibration()
    path = write_calibration(result, mode="live", journals=["j.jsonl"], directory=tmp_path)
    document = json.loads(path.read_text())
    assert (document["version"], document["observations"], document["parents"]) == (2, 300, 60)
    assert document["journal_dates"] == ["2026-11-24"]
    assert document["standard_errors"].startswith("clustered by parent")
    assert document["fitted"]["temporary_per_unit"]["standard_error"] > 0
    assert document["held_out"]["slope"] == pytest.approx(1.0, abs=0.05)
    assert document["checks"]["thresholds"]["min_parents"] == MIN_PARENTS
    fit = read_fit(path, "live")
    assert fit.problems == [] and fit.evidence == result.evidence()
    assert fit.name == f"{path.name}@{fit.sha256[:8]}"

    document["held_out"]["slope"] = 1 / 78
    path.write_text(json.dumps(document))
    assert any("overstates" in p for p in read_fit(path).problems)
    document["version"] = 1  # written by the command before the checks
    path.write_text(json.dumps(document))
    assert read_fit(path).problems == [
        "written before the checks (no standard errors clustered by parent, no held-out "
        "check): run `imperium-exec calibrate` again"]
