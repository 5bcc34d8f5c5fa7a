"""The execution-quality benchmark's quick variant (``bench/bench_quality.py --quick``): its
figures are right, not fast (its speed is never asserted here)."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from session_once import once_per_session

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_quality.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quality"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


Quick = tuple[str, list[Any]]  # the report and its Score records


@pytest.fixture(scope="module")
def quick(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Quick:
    """The quick run, once a test session (it takes seconds; the tests only read it)."""
    bench = _load_bench()
    return once_per_session(request, tmp_path_factory, "bench_quality_quick",
                            lambda: bench.run(quick=True))


def _score(scores: list[Any], world: str, algorithm: str, lam: float = 0.0) -> Any:
    found = [s for s in scores if s.world == world and s.algorithm == algorithm
             and s.lam == lam]
    assert len(found) == 1, (world, algorithm, lam, found)
    return found[0]


# The first test to run pays for the quick run (the others read it): it goes early, so that
# the others, handed out late, find it done whichever worker they land on.
@pytest.mark.slow(seconds=4)
def test_quick_report_is_a_markdown_section_with_its_parameters_seed_and_wall_time(
        quick: Quick) -> None:
    report, _ = quick
    assert report.startswith("### Execution quality against the limit")
    for heading in ("#### The Almgren–Chriss world", "#### The volume world"):
        assert heading in report
    assert "seed 20261207" in report
    assert "Wall time:" in report
    assert re.search(r"\b(nan|inf)\b", report.lower()) is None


def test_every_ratio_is_finite_and_inside_its_interval(
        quick: Quick) -> None:
    _, scores = quick
    assert len(scores) > 20
    for s in scores:
        assert math.isfinite(s.ratio) and math.isfinite(s.low) and math.isfinite(s.high), s
        assert s.low <= s.ratio <= s.high, s


def test_nothing_beats_the_almgren_chriss_optimum(
        quick: Quick) -> None:
    _, scores = quick
    for s in scores:
        if not s.world.startswith("volume"):
            assert s.ratio >= 1.0 - 1e-9, s


def test_the_optimums_own_schedule_scores_one_where_lots_are_fine_grained(
        quick: Quick) -> None:
    """TWAP at λ = 0 and IS at its own λ, 20,000 lots: the optimum to within the issue's 0.5 %
    (in fact to rounding; with the noise taken out the interval has no width)."""
    _, scores = quick
    for n in (5, 25):
        world = f"AC example N={n}"
        twap = _score(scores, world, "TWAP")
        assert twap.ratio == pytest.approx(1.0, abs=1e-9)
        assert twap.high - twap.low < 1e-9
        for lam in (0.0, 1e-7, 3e-7, 1e-6, 3e-6):
            own = _score(scores, world, f"IS (λ={lam:g})", lam)
            assert 1.0 - 1e-9 <= own.ratio <= 1.0 + 1e-5, own
            assert own.met


def test_the_reference_worked_example_is_reproduced(
        quick: Quick) -> None:
    """Almgren & Chriss's example, N = 5: TWAP at λ = 1e-6 scores 1.369 of the optimum and
    IMMEDIATE at λ = 0 scores 3.87 of TWAP (the reference's table)."""
    _, scores = quick
    assert _score(scores, "AC example N=5", "TWAP", 1e-6).ratio == pytest.approx(1.369, rel=5e-3)
    assert _score(scores, "AC example N=5", "IMMEDIATE").ratio == pytest.approx(3.87, rel=5e-3)


def test_vwap_on_the_true_curve_is_at_the_volume_optimum_and_twap_is_not(
        quick: Quick) -> None:
    _, scores = quick
    vwap = _score(scores, "volume N=25", "VWAP, true curve")
    twap = _score(scores, "volume N=25", "TWAP (ordering check: should cost more)")
    assert vwap.low >= 1.0 - 5e-3  # constant expected participation is the floor
    assert vwap.ratio <= 1.01
    assert twap.low > vwap.high
