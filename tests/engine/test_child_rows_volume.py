"""Child rows record the market's traded volume of the quote they were priced from."""

from __future__ import annotations

from pathlib import Path

from engine_support import make_request, make_rig

from imperium_exec.events import ParentStatus


def test_child_rows_carry_the_quotes_day_volume_and_session_second(tmp_path: Path) -> None:
    # The in-memory book trades 100 units a second from its start, and its session starts then.
    rig = make_rig(tmp_path)
    try:
        _, future = rig.engine.submit(make_request(
            quantity=195, execution_algo="TWAP", max_child_orders=3, horizon_s=60,
            randomize_slices=False))
        assert future.result(10).status is ParentStatus.FILLED
    finally:
        rig.close()
    placed = [r for r in rig.file_rows() if r["event"] == "placed"]
    assert len(placed) == 3
    later = [r for r in placed if r["day_volume"] is not None]
    assert len(later) >= 2  # the first child may be priced at the start, before any volume
    for row in later:
        assert row["day_volume"] == int(row["session_s"] * 100)
        assert row["session_s"] > 0
    fills = [r for r in rig.file_rows() if r["event"] == "filled"]
    for fill in fills:  # the child's later rows repeat what it was priced from
        same = next(r for r in placed if r["child_id"] == fill["child_id"])
        assert (fill["day_volume"], fill["session_s"]) == (same["day_volume"], same["session_s"])
