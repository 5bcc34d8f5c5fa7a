"""A child's estimate counts the impact other parents left on its contract, as the calibration
fits it: a parent that bought the contract just before left a temporary impact that decays
across the next parent's window (the price drifts back: cheaper for the next buyer, dearer for
a seller), and a parent working beside it moves the price as its own fills do."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_support import make_request, make_rig

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.calibration.slippage_calibrate import predicted_cost
from imperium_exec.calibration.slippage_observations import read_observations
from imperium_exec.clock import VirtualClock
from imperium_exec.costs.slippage import PriorFill, SlippageModel, SlippageParams
from imperium_exec.engine.desk_fills import DeskFills
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.engine.market_data import instrument_key
from imperium_exec.engine.state import ChildState, ParentState
from imperium_exec.testing.paper_parents import ParentSpec, parent_request, still_market

SEED = 5
FIRST = ParentSpec("IMMEDIATE", 20, 0, "CE")
SECOND = ParentSpec("TWAP", 6, 0, "CE", slices=3, horizon_s=60.0)


def run(specs: list[tuple[ParentSpec, str]], id_seed: int = 3,
        ) -> tuple[list[dict[str, Any]], SlippageParams]:
    """``specs`` one after another on the same contract of a fresh paper exchange (its parent
    ids drawn from ``id_seed``)."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=SEED, market=still_market(), margin=1e10)
    chain = broker.option_chain("NIFTY", strikes_each_side=2)
    rows: list[dict[str, Any]] = []
    # No markouts: their timers would let the idle clock run on between the parents.
    engine = ExecutionEngine(broker, mode="paper", clock=clock,
                             config=EngineConfig(id_seed=id_seed, markout_horizons_s=()))
    engine.add_listener(rows.append)
    try:
        for spec, side in specs:
            _, future = engine.submit(parent_request(broker, chain, spec, side=side, seed=SEED))
            future.result(timeout=60.0)
        params = engine.placer.estimator.slippage.params
    finally:
        engine.shutdown(10.0)
    return rows, params


def second_parents_children(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = [r for r in rows if r["event"] == "accepted"][-1]["parent_id"]
    return [r for r in rows if r["event"] == "placed" and r["parent_id"] == last]


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_the_earlier_parents_decaying_impact_is_in_the_next_parents_estimate(side: str) -> None:
    alone, params = run([(SECOND, side)])
    after, _ = run([(FIRST, "BUY"), (SECOND, side)])
    assert params.temporary_per_unit > 0  # the paper exchange has a temporary impact
    first_fills = [r for r in after if r["event"] == "filled" and r["execution_algo"]
                   == "IMMEDIATE"]
    arrival = [r for r in after if r["event"] == "accepted"][-1]["ts"]
    decay = math.log(2.0) / params.temporary_half_life_s
    sign = 1 if side == "BUY" else -1
    alone_children, after_children = second_parents_children(alone), \
        second_parents_children(after)
    assert len(alone_children) == len(after_children) == 3
    for lone, later in zip(alone_children[1:], after_children[1:], strict=True):
        # The first parent's buying, seen from the second parent's side, decaying from its
        # arrival to this child's pricing: the price drifts back down.
        decayed = sum(sign * r["filled_quantity"] * (
            math.exp(-decay * (later["ts"] - r["ts"])) - math.exp(-decay * (arrival - r["ts"])))
            for r in first_fills)
        difference = later["prior_impact"] - lone["prior_impact"]
        assert difference == pytest.approx(params.temporary_per_unit * decayed, rel=1e-3)
        # A buyer after a buyer pays less than alone; a seller after a buyer, more.
        assert (difference < 0) if side == "BUY" else (difference > 0)


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_the_calibration_predicts_what_the_engine_estimated_after_another_parent(
        side: str, tmp_path: Path) -> None:
    """The calibration's prediction of each child's cost (what its agreement and held-out checks
    measure, and what a fit's estimate will be) counts the desk's fills as the engine did:
    the first parent's decaying impact too, not the second parent's own fills alone."""
    rows, params = run([(FIRST, "BUY"), (SECOND, side)])
    journal = write_journal(tmp_path / "paper.jsonl", rows)
    second = {r["child_id"] for r in second_parents_children(rows)}
    observations = [o for o in read_observations([journal]).observations
                    if o.child_id in second]
    assert len(observations) == 3
    model = SlippageModel(params)
    for o in observations:
        assert any(f.arrival_age_s is not None for f in o.prior_fills)  # the first parent's
        # (Within 0.5 %: the engine ages a sibling's fills from when its order was placed,
        # the journal from when each fill was taken in, a poll later.)
        assert predicted_cost(o, model) == pytest.approx(o.estimated, rel=5e-3)


def test_another_journals_fills_on_the_contract_are_another_market(tmp_path: Path) -> None:
    """A journal is one desk's market: fills on the same contract at the same moments in
    another journal (another desk, or the other mode) move nothing in this one's."""
    rows, _ = run([(FIRST, "BUY"), (SECOND, "BUY")])
    here = write_journal(tmp_path / "execution_quality_paper.jsonl", rows)
    other_rows, _ = run([(FIRST, "SELL"), (SECOND, "SELL")], id_seed=4)
    there = write_journal(tmp_path / "other_desk.jsonl", other_rows)
    assert {r["ts"] for r in rows if r["event"] == "filled"} \
        & {r["ts"] for r in other_rows if r["event"] == "filled"}  # the same moments

    ours = {r["parent_id"] for r in rows}
    # (The other journal read first: its rows come before this one's in the reading.)
    alone, beside = fills_seen([here], ours), fills_seen([there, here], ours)
    assert len(alone) >= 4 and any(alone.values())
    assert beside == alone


def test_a_backup_copy_read_first_is_the_same_journal(tmp_path: Path) -> None:
    """A copy of the journal cut in the middle of the first parent (its name sorts first, so
    a folder reads it first): its rows are read once, and every child still counts the fills
    before it, its own parent's and the other parent's (which began in the copy), as in the
    journal alone."""
    rows, _ = run([(SECOND, "BUY"), (SECOND, "BUY")])
    journal = write_journal(tmp_path / "execution_quality_paper.jsonl", rows)
    cut = next(i for i, r in enumerate(rows) if r["event"] == "filled")
    copy = write_journal(tmp_path / "execution_quality_paper.2026-12-07.jsonl",
                         rows[:cut + 1])
    parents = {r["parent_id"] for r in rows}
    alone = fills_seen([journal], parents)
    assert sum(len(f) for f in alone.values()) >= 6
    assert fills_seen([copy, journal], parents) == alone


def test_a_journal_split_in_two_files_is_one_journal(tmp_path: Path) -> None:
    """A journal cut in two files that share no row (replaced, or split by hand) in the middle
    of a parent: that parent's rows hold the two together, and every child counts the fills
    before it as in the journal alone (the second parent began in the second file)."""
    rows, _ = run([(SECOND, "BUY"), (SECOND, "BUY")])
    journal = write_journal(tmp_path / "whole" / "execution_quality_paper.jsonl", rows)
    cut = next(i for i, r in enumerate(rows) if r["event"] == "filled")
    morning = write_journal(tmp_path / "morning.jsonl", rows[:cut + 1])
    afternoon = write_journal(tmp_path / "afternoon.jsonl", rows[cut + 1:])
    parents = {r["parent_id"] for r in rows}
    alone = fills_seen([journal], parents)
    assert sum(len(f) for f in alone.values()) >= 6
    assert fills_seen([morning, afternoon], parents) == alone


def test_a_late_orders_fill_moves_the_market_as_a_childs_does(tmp_path: Path) -> None:
    """A fill that came on a re-sent attempt's earlier order (its ghost row) is no child's
    cost, but it moved the price the next children paid: they count it as the engine does."""
    rows, _ = run([(SECOND, "BUY")])
    first = next(i for i, r in enumerate(rows) if r["event"] == "filled")
    as_fill = fills_seen([write_journal(tmp_path / "a.jsonl", rows)], {rows[0]["parent_id"]})
    late = [dict(r, event="ghost", status="complete") if i == first else r
            for i, r in enumerate(rows)]
    as_ghost = fills_seen([write_journal(tmp_path / "b.jsonl", late)], {rows[0]["parent_id"]})
    child = rows[first]["child_id"]
    assert child in as_fill and child not in as_ghost  # no child's cost any more
    assert {k: v for k, v in as_fill.items() if k != child} == as_ghost
    assert any(f.units == rows[first]["filled_quantity"] for f in as_ghost[f"mid {child[:-1]}2"])


def fills_seen(paths: list[Path], parents: set[str]) -> dict[str, tuple[PriorFill, ...]]:
    """The desk's fills each child of ``parents`` is predicted from (its cost side) and its
    pricing's mid move saw (``mid <child>``), as the calibration reads ``paths``."""
    reading = read_observations(paths)
    return {o.child_id: o.prior_fills for o in reading.observations
            if o.parent_id in parents} | {
        f"mid {m.child_id}": m.fills for m in reading.mid_moves if m.parent_id in parents}


def test_a_fill_taken_in_after_the_pricing_is_not_in_the_childs_mid(tmp_path: Path) -> None:
    """The estimate is made at ``priced_at``; the placed row comes a broker round trip later
    (live: 50-300 ms, seconds behind a queue). A fill taken in between moved nothing in the mid
    the child was priced from, so the calibration's mid move does not count it."""
    rows, _ = run([(SECOND, "BUY")])
    placed = [r for r in rows if r["event"] == "placed"]
    assert all(r["priced_at"] <= r["ts"] for r in placed)
    first_fill = next(r for r in rows if r["event"] == "filled")
    second = next(r for r in placed if r["child_index"] == 2)

    def second_childs_fills(priced_at: float | None) -> int:
        edited = [dict(r, priced_at=priced_at) if r is second else r for r in rows]
        reading = read_observations([write_journal(tmp_path / "paper.jsonl", edited)])
        [move] = [m for m in reading.mid_moves if m.child_id == second["child_id"]]
        return sum(f.units for f in move.fills)

    # As written: priced after the first child's fill, which is in its mid.
    assert second_childs_fills(second["priced_at"]) == first_fill["filled_quantity"]
    # Priced before that fill was taken in (its row still before the placed row): not in it.
    assert second_childs_fills(first_fill["ts"] - 0.001) == 0


def write_journal(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_a_fill_before_the_arrival_counts_only_its_temporary_parts_decay_since() -> None:
    model = SlippageModel(SlippageParams(permanent_per_unit=1e-4, temporary_per_unit=4e-4,
                                         temporary_half_life_s=30.0))
    # Bought 100 units 40 s before this child, 10 s before its parent arrived: half a
    # half-life of decay between the arrival and now... (10 s -> 40 s: 2^-1/3 -> 2^-4/3).
    before = PriorFill(age_s=40.0, units=100, arrival_age_s=10.0)
    assert model.linear_impact([before]) == pytest.approx(
        4e-4 * 100 * (2 ** (-40 / 30) - 2 ** (-10 / 30)))
    # ...while one since the arrival counts for good and for a while.
    since = PriorFill(age_s=5.0, units=-50)
    assert model.linear_impact([since]) == pytest.approx(
        -50 * (1e-4 + 4e-4 * 2 ** (-5 / 30)))
    assert model.linear_impact([before, since]) == pytest.approx(
        model.linear_impact([before]) + model.linear_impact([since]))


def test_the_desk_fills_of_other_parents_are_found_from_a_time_on() -> None:
    fills = DeskFills(keep_s=100.0)
    fills.record("NFO:X", "a", 10.0, 65)
    fills.record("NFO:X", "b", 20.0, -130)
    fills.record("NFO:Y", "a", 25.0, 65)
    fills.record("NFO:X", "a", 30.0, 65)
    assert [(f.parent_id, f.units) for f in fills.others_since("NFO:X", "b", 15.0)] \
        == [("a", 65)]
    assert [f.at for f in fills.others_since("NFO:X", "c", 0.0)] == [10.0, 20.0, 30.0]
    fills.record("NFO:X", "a", 125.0, 65)  # the fills of more than 100 s before are gone
    assert [f.at for f in fills.others_since("NFO:X", "c", 0.0)] == [30.0, 125.0]


def test_the_days_fills_seeded_at_a_restart_keep_their_time_order() -> None:
    fills = DeskFills()
    fills.record("NFO:X", "a", 50.0, 65)
    fills.seed([("NFO:X", "crashed", 10.0, 130), ("NFO:X", "crashed", 60.0, -65),
                ("NFO:Y", "crashed", 20.0, 65)])
    assert [(f.at, f.units) for f in fills.others_since("NFO:X", "z", 0.0)] \
        == [(10.0, 130), (50.0, 65), (60.0, -65)]
    assert [f.at for f in fills.others_since("NFO:X", "z", 20.0)] == [50.0, 60.0]
    assert fills.count == 4


def test_a_restarts_fills_seeded_after_a_parent_arrived_are_before_its_arrival(
        tmp_path: Path) -> None:
    """A parent sent while the restart still reads the day's journal arrives before the
    crashed session's fills are seeded (so they are numbered after it): by their time they are
    before its arrival, counted only by their temporary part's decay, as the calibration reads
    them from the journal."""
    rig = make_rig(tmp_path)
    try:
        estimator = rig.engine.placer.estimator
        estimator.slippage = SlippageModel(SlippageParams(
            permanent_per_unit=1e-4, temporary_per_unit=4e-4, temporary_half_life_s=30.0))
        request = make_request()
        parent = ParentState.__new__(ParentState)  # only what the desk fills need
        parent.request, parent.parent_id, parent.children = request, "new", []
        now = rig.clock.now()
        parent.arrived_at, parent.fills_before_arrival = now, estimator.desk_fills.count
        estimator.desk_fills.seed([(instrument_key(request.exchange, request.tradingsymbol),
                                    "crashed", now - 5.0, -1300)])
        fills, _ = estimator.prior_fills(parent, ChildState(0, 0, 130, now))
        assert fills == [PriorFill(age_s=5.0, units=-1300 * request.side.sign,
                                   arrival_age_s=5.0)]
    finally:
        rig.close()
