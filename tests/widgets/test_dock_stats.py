"""The dock's figures without widgets: ExecutionStats, ParentBook and the tile texts."""

from __future__ import annotations

import numpy as np
import pytest
from dock_support import events, parent_story, row
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_exec.timeutil import ist_day_start
from imperium_exec.widgets.events_model import ChildEventStore
from imperium_exec.widgets.parents_model import ParentBook
from imperium_exec.widgets.stats import ExecutionStats, TileFigures
from imperium_exec.widgets.tiles import Tone, tile_texts


def stats_of(rows: list[dict[str, object]], **kw: int) -> ExecutionStats:
    stats = ExecutionStats(**kw)
    stats.add(ChildEventStore().encode(events(rows)))
    return stats


def test_tile_figures_count_placements_fills_errors_and_retries() -> None:
    rows = [*parent_story("P1", children=4, filled=3),
            row("retry", error_bucket="throttle", error="Too many requests"),
            row("retry", error_bucket="transient", error="503"),
            row("error", error_bucket="risk", error="Insufficient funds"),
            row("rejected", error_bucket="risk", error="RMS"),
            row("reconciled", quantity=65, latency_ms=40.0),
            row("placed", quantity=65, latency_ms=40.0)]  # the engine's row after reconciling
    f = stats_of(rows).figures()
    assert f.children_placed == 5  # four placed + one found by reconciliation (counted once)
    assert f.placed_quantity == 5 * 65 and f.filled_quantity == 3 * 65
    assert f.fill_rate == pytest.approx(3 / 5)
    assert f.errors_by_bucket == {"transient": 0, "throttle": 0, "risk": 2, "fatal": 0}
    assert f.errors == 2 and f.retries == 2


def test_latency_percentiles_are_exact_and_the_histogram_counts_every_placement() -> None:
    latencies = [float(v) for v in range(1, 101)]
    stats = stats_of([row("placed", latency_ms=v) for v in latencies])
    p50, p95 = stats.latency_percentiles()
    assert p50 == pytest.approx(np.percentile(latencies, 50))
    assert p95 == pytest.approx(np.percentile(latencies, 95))
    assert int(stats.latency_counts.sum()) == 100


def test_slippage_means_are_quantity_weighted_in_bps() -> None:
    rows = [row("placed", quantity=65, expected_cost_bps=2.0),
            row("placed", quantity=195, expected_cost_bps=6.0),
            row("filled", filled_quantity=65, realized_slippage_bps=-4.0),
            row("filled", filled_quantity=195, realized_slippage_bps=8.0)]
    stats = stats_of(rows)
    f = stats.figures()
    assert f.expected_bps == pytest.approx((2 * 65 + 6 * 195) / 260)
    assert f.realized_bps == pytest.approx((-4 * 65 + 8 * 195) / 260)
    series = stats.slippage_series()
    assert series.realized[:, 1].tolist() == [-4.0, 8.0]
    assert series.realized[-1, 2] == pytest.approx(f.realized_bps)


def test_slippage_at_send_leaves_out_the_mid_move_since_arrival() -> None:
    """Realized against arrival = against the mid the child was priced from + the mid's move
    from arrival to the send; the estimate at send leaves out earlier fills' impact (already
    in that mid). A buy priced from a mid 1.00 above arrival that pays the 0.05 half-spread,
    and a sell priced at arrival that gets 0.10 below the mid."""
    arrival = 100.0
    rows = [row("placed", side="BUY", quantity=65, arrival_price=arrival, mid_at_send=101.0,
                expected_cost_bps=9.0, prior_impact=0.04),
            row("placed", side="SELL", quantity=130, arrival_price=arrival, mid_at_send=100.0,
                expected_cost_bps=10.0, prior_impact=None),
            row("filled", side="BUY", filled_quantity=65, arrival_price=arrival,
                mid_at_send=101.0, fill_price=101.05, realized_slippage_bps=105.0,
                expected_cost_bps=9.0, prior_impact=0.04),  # a fill row carries its child's
            row("filled", side="SELL", filled_quantity=130, arrival_price=arrival,
                mid_at_send=100.0, fill_price=99.90, realized_slippage_bps=10.0,
                expected_cost_bps=10.0, prior_impact=None),
            row("placed", side="BUY", quantity=650, arrival_price=arrival, mid_at_send=100.0,
                expected_cost_bps=30.0)]  # never filled: in the expected tile only
    f = stats_of(rows).figures()
    assert f.expected_bps == pytest.approx((9 * 65 + 10 * 130 + 30 * 650) / 845)
    assert f.expected_at_send_bps == pytest.approx(((9 - 4) * 65 + 10 * 130 + 30 * 650) / 845)
    assert f.fills_expected_at_send_bps == pytest.approx(((9 - 4) * 65 + 10 * 130) / 195)
    assert f.realized_bps == pytest.approx((105 * 65 + 10 * 130) / 195)
    assert f.realized_at_send_bps == pytest.approx((5 * 65 + 10 * 130) / 195)
    assert f.mid_move_bps == pytest.approx(100 * 65 / 195)
    assert f.realized_at_send_bps + f.mid_move_bps == pytest.approx(f.realized_bps)
    texts = {t.key: t for t in tile_texts(f)}
    assert f.realized_at_send_bps == pytest.approx(f.fills_expected_at_send_bps)
    assert texts["realized_bps"].detail == \
        f"at send {f.realized_at_send_bps:+.1f}, est. {f.fills_expected_at_send_bps:+.1f}\n" \
        f"mid moved {f.mid_move_bps:+.1f} since arrival"
    assert texts["expected_bps"].detail == \
        f"at send {f.expected_at_send_bps:+.1f}\nearlier fills' impact " \
        f"{f.expected_bps - f.expected_at_send_bps:+.1f}"


def test_a_child_that_ended_unfilled_keeps_only_what_it_filled_in_the_expected_figures(
        ) -> None:
    """The expected figures are over the units the realized ones are: a child rejected after
    it was placed (a big order past the account's funds: hundreds of bps of impact
    estimated) or cancelled part filled keeps only its fills; a slice never sent (no order
    id) was never in them; whatever order the rows arrive in (a history comes newest
    first)."""
    def child(index: int, **fields: object) -> dict[str, object]:
        return {"child_index": index, "arrival_price": 100.0, "mid_at_send": 100.0,
                "prior_impact": 0.0} | fields

    rows = [row("placed", quantity=130, expected_cost_bps=10.0, order_id="O1", **child(1)),
            row("filled", quantity=130, filled_quantity=130, fill_price=100.2,
                realized_slippage_bps=20.0, expected_cost_bps=10.0, order_id="O1",
                **child(1)),
            row("placed", quantity=1625, expected_cost_bps=1300.0, order_id="O2",
                **child(2)),
            row("rejected", status="rejected", quantity=1625, filled_quantity=0,
                expected_cost_bps=1300.0, error_bucket="risk", order_id="O2",
                error="Insufficient funds", **child(2)),
            row("placed", quantity=130, expected_cost_bps=30.0, order_id="O3",
                **child(3, prior_impact=0.1)),
            row("filled", quantity=130, filled_quantity=65, fill_price=100.4,
                status="partially_filled", realized_slippage_bps=40.0,
                expected_cost_bps=30.0, order_id="O3", **child(3, prior_impact=0.1)),
            row("cancelled", quantity=130, filled_quantity=65, expected_cost_bps=30.0,
                order_id="O3", **child(3, prior_impact=0.1)),
            row("cancelled", quantity=650, expected_cost_bps=500.0, message="not sent: "
                "parent cancelled", **child(4))]  # priced, then never sent
    for order in (rows, rows[::-1]):
        f = stats_of(order).figures()
        assert f.expected_bps == pytest.approx((10 * 130 + 30 * 65) / 195)
        assert f.realized_bps == pytest.approx((20 * 130 + 40 * 65) / 195)
        assert f.expected_at_send_bps == pytest.approx((10 * 130 + 20 * 65) / 195)
        assert f.expected_at_send_bps == pytest.approx(f.fills_expected_at_send_bps)
        assert f.placed_quantity == 130 + 1625 + 130  # the fill rate still counts them
    working = stats_of(rows[:3]).figures()  # the big child still working: it may fill
    assert working.expected_bps == pytest.approx((10 * 130 + 1300 * 1625) / 1755)


def test_adding_in_batches_gives_the_same_figures_as_one_batch() -> None:
    rows = parent_story("P1", children=6, filled=5) + parent_story("P2", children=3, filled=1)
    whole = stats_of(rows)
    parts = ExecutionStats()
    store = ChildEventStore()
    for start in range(0, len(rows), 4):
        parts.add(store.encode(events(rows[start:start + 4])))
    assert parts.figures() == whole.figures()


def test_the_slippage_series_keeps_only_the_last_points() -> None:
    stats = stats_of([row("filled", filled_quantity=65, realized_slippage_bps=float(i))
                      for i in range(25)], series_points=10)
    series = stats.slippage_series().realized
    assert series[:, 1].tolist() == [float(i) for i in range(15, 25)]
    assert stats.figures().realized_bps == pytest.approx(12.0)  # the mean still covers all


def test_reset_forgets_everything() -> None:
    stats = stats_of(parent_story("P1"))
    stats.reset()
    f = stats.figures()
    assert f.children_placed == 0 and f.fill_rate is None and f.latency_p50_ms is None


def test_parent_book_tracks_progress_pause_and_finish() -> None:
    book = ParentBook()
    story = parent_story("P1", children=4, filled=2, finished=False)
    assert book.add(events(story))
    (p,) = book.active()
    assert (p.parent_id, p.quantity, p.filled, p.placed, p.children) == ("P1", 260, 130, 4, 4)
    assert p.fraction == pytest.approx(0.5) and not p.paused
    book.add(events([row("paused", parent_id="P1", parent_filled_quantity=130)]))
    assert book.get("P1") is not None and book.get("P1").paused  # type: ignore[union-attr]
    book.add(events([row("resumed", parent_id="P1", parent_filled_quantity=130)]))
    assert book.active()[0].status == "working"
    book.add(events([row("finished", parent_id="P1", status="cancelled",
                         parent_filled_quantity=130)]))
    assert book.active() == [] and book.finished_by_status["cancelled"] == 1
    assert book.finished[-1].status == "cancelled"


def test_parent_book_orders_active_parents_oldest_first_and_ignores_rows_of_no_parent() -> None:
    book = ParentBook()
    book.add(events(parent_story("B", finished=False) + parent_story("A", finished=False)))
    book.add(events([{"event": "placed", "status": "placed"}]))  # a v1 row without parent_id
    assert [p.parent_id for p in book.active()] == ["B", "A"]


def test_tile_texts_say_what_the_figures_mean() -> None:
    rows = [*parent_story("P1", children=4, filled=3),
            row("error", error_bucket="risk", error="x"),
            row("retry", error_bucket="throttle", error="y")]
    texts = {t.key: t for t in tile_texts(stats_of(rows).figures())}
    assert list(texts) == ["placed", "fill_rate", "errors", "retries", "latency_p50",
                           "latency_p95", "expected_bps", "realized_bps"]
    assert texts["placed"].value == "4" and texts["fill_rate"].value == "75.0%"
    assert texts["errors"].value == "1" and texts["errors"].tone is Tone.BAD
    assert "risk 1" in texts["errors"].detail and "throttle 0" in texts["errors"].detail
    assert texts["retries"].value == "1" and texts["retries"].tone is Tone.WARN
    assert texts["latency_p50"].value == "22.5 ms"
    assert texts["expected_bps"].value == "+3.5 bps"
    assert texts["realized_bps"].value == "+10.0 bps"
    assert texts["realized_bps"].detail == "expected +3.5: 6.5 bps worse"
    assert texts["realized_bps"].tone is Tone.BAD and texts["expected_bps"].tone is Tone.BAD


def figures(expected_bps: float, realized_bps: float) -> TileFigures:
    return TileFigures(children_placed=1, placed_quantity=65, filled_quantity=65,
                       fill_rate=1.0, errors_by_bucket={}, retries=0, latency_p50_ms=1.0,
                       latency_p95_ms=1.0, expected_bps=expected_bps, realized_bps=realized_bps)


def test_a_cost_is_red_and_a_saving_green_whatever_was_expected() -> None:
    texts = {t.key: t for t in tile_texts(figures(-1.0, -3.0))}
    assert texts["realized_bps"].tone is Tone.GOOD and texts["expected_bps"].tone is Tone.GOOD
    assert texts["realized_bps"].detail == "expected -1.0: 2.0 bps better"
    texts = {t.key: t for t in tile_texts(figures(18.4, 3.0))}
    assert texts["realized_bps"].tone is Tone.BAD  # still a cost: red, though below estimate
    assert texts["realized_bps"].detail == "expected +18.4: 15.4 bps better"


def test_empty_tiles_show_dashes() -> None:
    texts = {t.key: t for t in tile_texts(ExecutionStats().figures())}
    assert texts["fill_rate"].value == "–" and texts["latency_p95"].value == "–"
    assert texts["errors"].tone is Tone.NEUTRAL


def test_parent_book_never_goes_backwards_on_rows_out_of_order() -> None:
    """A journal backlog can arrive after the stack's newer signal rows."""
    story = parent_story("P1", children=2, filled=2)
    book = ParentBook()
    book.add(events(story[-1:]))  # finished first
    book.add(events(story[:-1]))  # then the older rows
    assert book.active() == [] and book.finished_by_status["filled"] == 1
    book = ParentBook()
    working = parent_story("P2", children=4, filled=2, finished=False)
    paused = row("paused", parent_id="P2", parent_quantity=260, parent_filled_quantity=130)
    book.add(events([paused, *working]))  # the pause is the newest row, but arrives first
    (p,) = book.active()
    assert p.paused and p.filled == 130 and p.placed == 4


def test_markouts_after_a_parents_end_never_show_it_as_working() -> None:
    """A history read newest first meets a fill's markout rows before the parent's final
    row: the parent must not flicker into the working panel (nor stay there if the final row
    is beyond the rows read)."""
    story = parent_story("P1", children=2, filled=2)
    markouts = [row("markout", parent_id="P1", status="filled", child_index=1,
                    filled_quantity=65, fill_price=100.05, markout_s=h, markout_mid=100.0,
                    markout_bps=5.0, parent_quantity=130, parent_filled_quantity=130)
                for h in (1.0, 5.0, 60.0)]
    book = ParentBook()
    book.add(events(markouts[::-1]))
    assert book.active() == [] and book.get("P1") is None
    book.add(events(story[::-1]))
    assert book.active() == [] and book.finished_by_status["filled"] == 1


def test_a_reconciled_child_counts_once_its_placed_row_follows() -> None:
    rows = [row("accepted", parent_id="R1", parent_quantity=130, children=1),
            row("reconciled", parent_id="R1", quantity=130, latency_ms=25.0,
                expected_cost_bps=3.0, children=1),
            row("placed", parent_id="R1", quantity=130, latency_ms=25.0,
                expected_cost_bps=3.0, children=1),
            row("filled", parent_id="R1", filled_quantity=130, parent_filled_quantity=130)]
    stats = stats_of(rows)
    f = stats.figures()
    assert f.children_placed == 1 and f.placed_quantity == 130
    assert f.fill_rate == pytest.approx(1.0)
    assert int(stats.latency_counts.sum()) == 1
    book = ParentBook()
    book.add(events(rows))
    (progress,) = book.active()
    assert progress.placed == 1


def test_a_parent_left_open_on_an_earlier_day_is_interrupted_not_working() -> None:
    """DAY orders cannot outlive their day: a parent whose last event is of an earlier IST
    trading day than the journal's newest is shown apart, never as working."""
    day = 24 * 3600.0
    book = ParentBook()
    yesterday = parent_story("CRASHED", children=2, filled=1, finished=False)
    book.add(events([r | {"ts": r["ts"] - day} for r in yesterday]))
    assert [p.parent_id for p in book.active()] == ["CRASHED"]  # nothing newer seen yet
    book.add(events(parent_story("TODAY", children=1, finished=False)))
    assert [p.parent_id for p in book.active()] == ["TODAY"]
    assert [p.parent_id for p in book.interrupted()] == ["CRASHED"]
    assert len(book) == 2  # still held: a late final row would finish it


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_books_working_and_interrupted_sets_match_a_full_recount_in_any_order(
        data: st.DataObject) -> None:
    """Batches of events in any order and any cut: the incrementally kept sets are those a
    recount of the final parents gives (working: last event today; the rest interrupted)."""
    day = 24 * 3600.0
    stories = []
    for i in range(data.draw(st.integers(1, 12))):
        days_ago = data.draw(st.sampled_from([0, 0, 1, 3]))
        finished = data.draw(st.booleans())
        stories += [r | {"ts": r["ts"] - days_ago * day}
                    for r in parent_story(f"P{i}", children=2, filled=1, finished=finished)]
    shuffled = data.draw(st.permutations(stories))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=5)))
    book = ParentBook()
    for start, stop in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        book.add(events(shuffled[start:stop]))
    finished_ids = {r["parent_id"] for r in stories if r["event"] == "finished"}
    last: dict[str, float] = {}
    first: dict[str, float] = {}
    for r in stories:
        if r["parent_id"] not in finished_ids:
            last[r["parent_id"]] = max(last.get(r["parent_id"], 0.0), r["ts"])
            first[r["parent_id"]] = min(first.get(r["parent_id"], r["ts"]), r["ts"])
    today = ist_day_start(max(r["ts"] for r in stories))
    by_start = sorted(last, key=lambda k: (first[k], k))
    working, interrupted = book.split()
    assert [p.parent_id for p in working] == [k for k in by_start if last[k] >= today]
    assert [p.parent_id for p in interrupted] == [k for k in by_start if last[k] < today]
    view = book.panel_view(3)
    assert view.working == len(working) and view.interrupted == len(interrupted)
    assert [p.parent_id for p in view.shown] == [p.parent_id for p in working[-3:]]


def test_the_panel_view_shows_this_sessions_parents_then_the_newest_others() -> None:
    book = ParentBook()
    book.add(events([r for i in range(10) for r in
                     parent_story(f"P{i}", children=1, finished=False)]))
    book.add(events([row("paused", parent_id="P9", parent_quantity=65)]))
    view = book.panel_view(4, lambda parent_id: parent_id in {"P0", "P2"})
    assert [p.parent_id for p in view.shown] == ["P0", "P2", "P8", "P9"]
    assert (view.working, view.paused, view.interrupted) == (10, 1, 0)
    book.add(events([row("resumed", parent_id="P9", parent_quantity=65)]))
    assert book.panel_view(4).paused == 0


def test_a_session_start_makes_older_open_parents_interrupted() -> None:
    book = ParentBook()
    story = parent_story("EARLIER", children=1, finished=False)
    book.add(events(story))
    start = max(r["ts"] for r in story) + 1.0
    book.set_session_start(start)
    assert book.active() == [] and [p.parent_id for p in book.interrupted()] == ["EARLIER"]
    book.add(events([row("placed", parent_id="EARLIER", child_index=2,
                         ts=start + 1.0)]))  # it carries on in this session
    assert [p.parent_id for p in book.active()] == ["EARLIER"]


def test_a_basket_leg_shows_what_its_held_child_waits_for_until_it_goes_out() -> None:
    """A "held: ..." warning marks the leg as waiting; a placement after it ends the wait
    (whatever order the rows arrive in: history comes newest first)."""
    leg = dict(parent_id="L1", side="SELL", basket_id="B1", leg_role="covered")
    accepted = row("accepted", **leg)
    held = row("warning", message="held: waits for its hedge (NIFTY26D0126000CE) to fill: "
                                  "0 of 65 bought, 0 sold or out", **leg)
    placed = row("placed", **leg)  # the newest: the child went out
    book = ParentBook()
    book.add(events([accepted, held]))
    assert book.active()[0].waiting == "its hedge to fill"
    book.add(events([placed]))
    assert book.active()[0].waiting is None

    backwards = ParentBook()  # the same rows read newest first
    backwards.add(events([placed]))
    backwards.add(events([accepted, held]))
    assert backwards.active()[0].waiting is None
    balance = ParentBook()
    balance.add(events([accepted, row("warning", message="held: 130 of 650 would run more "
                                                           "than 1 slice(s) ahead", **leg)]))
    assert balance.active()[0].waiting == "the other legs to catch up"
    open_sells = ParentBook()
    open_sells.add(events([accepted, row("warning", message="held: waits for open sells to end: "
                                                             "130 bought (...), 130 sold or out",
                                         **leg)]))
    assert open_sells.active()[0].waiting == "open sells to end"
