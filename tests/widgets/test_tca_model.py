"""Review of issue 11: the dock's TcaBook on history read newest first."""

from __future__ import annotations

from typing import Any

from dock_support import T0, events, row

from imperium_exec.widgets.tca_model import TcaBook


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
