"""The estimate knows which sibling orders its quote already shows: a taking child accepted
before the quote arrived has taken its depth and moved the mid in that quote; one accepted
after (or still on its way) is ahead of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine_support import make_request, make_rig

from imperium_exec.engine.state import ChildState, ParentState
from imperium_exec.events import ChildStatus, QueuePriority
from imperium_exec.router import RouteDecision


def taking() -> RouteDecision:
    return RouteDecision("memory", QueuePriority.TAKE, make_request().order_type, None, -1,
                         100.0, 100.5)


def test_a_sibling_accepted_before_the_quote_is_in_it_and_one_after_is_ahead(
        tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    try:
        placer = rig.engine.placer
        parent = ParentState.__new__(ParentState)  # only children matter to prior_fills
        first = ChildState(0, 0, 1300, 0.0, status=ChildStatus.WORKING, decision=taking(),
                           placed_at=rig.clock.now(), placed_seq=4)
        second = ChildState(1, 0, 1300, 0.0)
        parent.children = [first, second]
        # The quote arrived after the first child was accepted (seq 5 > 4): it shows it.
        fills, ahead = placer.estimator.prior_fills(parent, second, quote_seq=5)
        assert ahead == 0 and [f.units for f in fills] == [1300]
        # The quote is older than the acceptance (seq 3): the first child is still ahead.
        fills, ahead = placer.estimator.prior_fills(parent, second, quote_seq=3)
        assert ahead == 1300 and [(f.units, f.age_s) for f in fills] == [(1300, 0.0)]
        # Without a quote, or with the sibling still in flight: ahead.
        assert placer.estimator.prior_fills(parent, second)[1] == 1300
        parent.children = [replace(first, in_flight=True, status=ChildStatus.SCHEDULED),
                           second]
        assert placer.estimator.prior_fills(parent, second, quote_seq=5)[1] == 1300
    finally:
        rig.close()
