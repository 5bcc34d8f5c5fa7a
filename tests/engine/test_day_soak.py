"""A trading day, sized for CI (``bench/soak_day.py`` runs the 10,000-child day the same way):
a day's mix (every algorithm, iron condors, pauses, cancels, the kill switch) through the real
kiteconnect client against the fake Kite with Kite's limits and the soak's faults, the desk
SIGKILLed and restarted once and its session expired and renewed once; and a run at the day's
order cap, where the parent that no longer fits is refused with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from imperium_exec.events import ParentStatus
from imperium_exec.testing.day_cap import run_day_cap
from imperium_exec.testing.day_soak import DayPlan, run_day


@pytest.mark.slow(seconds=15)
def test_a_small_day_with_a_crash_and_a_relogin_ends_clean(tmp_path: Path) -> None:
    # horizon_s 4: a basket's legs fit their 2 slices in half of it. The pauses come early
    # after the restart (items 30 and 31 of seed 5), paused for 0.5 s, well before the
    # expiry (after item 48 or so) and the kill switch. tail_s: after the last item, most of
    # the 4 s horizon; what works after that (a resting limit the market did not reach) is
    # for the tail's kill switch.
    report = run_day(DayPlan(items=60, kill_at=18, expire_at=30, kill_switch_at=56, slices=3,
                             horizon_s=4.0, max_working=24, place_fault_rate=0.08,
                             ticker_drop_every_s=6.0, tail_s=3.0, adopt_window_s=4.0,
                             relogin_after_s=0.3, pause_after_s=0.5, resume_after_s=1.0,
                             seed=5), tmp_path)
    inv = report.invariants
    assert report.clean, report.summary()
    assert not (inv.duplicates or inv.children_without_one_terminal_row
                or inv.fill_mismatches or inv.unfinished or report.repeated_tags)
    assert report.provoked_429 == 0
    assert inv.children >= 120 and inv.parents >= 60
    assert report.killed_after_item is not None and "restart" in report.recovered
    assert report.expiry.get("detected") and "relogin" in report.recovered
    assert set(report.algos) == {"IMMEDIATE", "IS", "TWAP", "VWAP", "POV"}
    assert report.baskets >= 1 and inv.events["basket_accepted"] == report.baskets
    assert inv.events["paused"] >= 1 and inv.events["resumed"] >= 1
    assert sum(inv.faults.values()) >= 3  # the faults really happened
    assert not report.desk_errors and not report.refused


@pytest.mark.slow(seconds=6)
def test_at_the_days_cap_the_parent_that_no_longer_fits_is_refused_and_nothing_is_lost(
        ) -> None:
    """The cap scaled down to 50 writes on both sides (the fake's and the engine's), 10
    kept for cancels: Kite's 5,000 at its 400 a minute would take over twelve minutes
    (``bench/soak_day.py --day-cap 5000`` runs it)."""
    report = run_day_cap(50, reserve=10, slices=5)
    why = (f"{report.invariants.summary()}; admitted {report.admitted}, refused "
           f"{report.refusals}, errors {report.errors}, statuses {report.invariants.statuses}")
    assert report.clean, why
    assert report.admitted == [1, 1] + [5] * 7 + [3], why
    assert report.refusals == [  # (the second: nothing is left)
        (5, "orders today: 5 child orders planned but the broker allows 3 more placements "
            "today"),
        (1, "orders today: 1 child orders planned but the broker allows 0 more placements "
            "today")]
    assert report.cap_replies == 0 and report.placements <= 50 - 10, why
    assert report.cancels >= 2  # the resting limits, cancelled out of the reserve
    assert report.invariants.statuses[str(ParentStatus.FILLED)] == 8, why
    assert report.invariants.statuses[str(ParentStatus.CANCELLED)] == 2, why
