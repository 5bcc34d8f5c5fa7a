"""The TCA figures against known answers: the finished rows' shortfall parts, hand-computed
arrival slippage for a buy and its mirrored sell, markouts split by liquidity, error and
retry counts, and the contracts' expiry dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tca_support import (
    hand_error_rows,
    hand_parent,
    markout_row,
    paper_journal,
    read_journal,
    write_rows,
)

from imperium_exec.calibration.slippage_fit import read_observations
from imperium_exec.events import QueuePriority
from imperium_exec.instruments import default_instrument_master
from imperium_exec.request import Side
from imperium_exec.tca.contracts import contract_facts, expiry_date
from imperium_exec.tca.figures import IS_PARTS
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import resolve_journals


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve parents on the paper exchange, with markouts and 5xx errors (retried)."""
    path = tmp_path_factory.mktemp("tca") / "execution_quality_paper.jsonl"
    return paper_journal(path, parents=12, server_error_rate=0.2)


@pytest.fixture
def query() -> Iterator[TcaQuery]:
    with TcaQuery(memory_limit="512MB", threads=2) as q:
        yield q


def test_each_parents_shortfall_parts_are_its_finished_rows_and_add_up(
        paper_run: Path, query: TcaQuery) -> None:
    rows = read_journal(paper_run)
    finished = {r["parent_id"]: r for r in rows if r["event"] == "finished"}
    assert len(finished) == 12
    query.load(resolve_journals([paper_run]))
    costs = {p.parent_id: p for p in query.parent_costs(limit=None, parent_ids=list(finished))}
    assert set(costs) == set(finished)
    unfilled_seen = False
    for parent_id, f in finished.items():
        sf = costs[parent_id].shortfall
        assert sf is not None
        assert (sf.delay, sf.spread, sf.drift, sf.opportunity, sf.fees) == (
            f["is_delay"], f["is_spread"], f["is_drift"], f["is_opportunity"], f["fees"])
        assert sf.decision_value == pytest.approx(f["quantity"] * f["decision_price"])
        # The parts add up to the whole, computed independently from the fill rows.
        fills = [r for r in rows if r["parent_id"] == parent_id
                 and r["event"] in ("filled", "ghost") and r["filled_quantity"]]
        s = Side(f["side"]).sign
        filled = sum(r["filled_quantity"] for r in fills)
        whole = s * (sum(r["filled_quantity"] * r["fill_price"] for r in fills)
                     - filled * f["decision_price"]) \
            + s * (f["quantity"] - filled) * (f["end_price"] - f["decision_price"]) + f["fees"]
        assert abs(sf.total - whole) <= 1e-6 * max(1.0, abs(whole))
        assert sf.total_bps == pytest.approx(whole / sf.decision_value * 1e4)
        unfilled_seen |= filled < f["quantity"]
    # The far limits left quantity unfilled: its opportunity is in the whole above (0 only
    # when the mid ended where it was decided, which a short run can do).
    assert unfilled_seen
    figures = query.figures()
    total = figures.total
    assert total is not None and figures.parents_with_shortfall == 12
    for name in IS_PARTS:  # the aggregate is the parents' parts added up
        assert total.part(name) == pytest.approx(
            sum(costs[p].shortfall.part(name) for p in costs  # type: ignore[union-attr]
                if costs[p].shortfall is not None), abs=1e-6)
    assert total.total == pytest.approx(sum(
        c.shortfall.total for c in costs.values() if c.shortfall is not None), abs=1e-6)
    worst = figures.worst[0].shortfall
    assert worst is not None
    assert worst.total_bps == max(c.shortfall.total_bps or 0.0 for c in costs.values()
                                  if c.shortfall is not None)


def test_paper_run_figures_come_from_its_rows(paper_run: Path, query: TcaQuery) -> None:
    rows = read_journal(paper_run)
    query.load(resolve_journals([paper_run]))
    f = query.figures()
    placed = [r for r in rows if r["event"] == "placed"]
    assert f.operations.placements == len(placed)
    assert f.latency.placements == sum(r["latency_ms"] is not None for r in placed)
    assert sum(n for _, n in f.latency.histogram) == f.latency.placements
    retries = sum(r["event"] == "retry" for r in rows)
    assert retries > 0 and sum(f.operations.retries.values()) == retries
    markouts = [r for r in rows if r["event"] == "markout" and r["markout_bps"] is not None]
    assert sum(p.fills for p in f.markouts) == len(markouts)
    assert {p.horizon_s for p in f.markouts} == {1.0, 5.0, 60.0}
    assert f.slippage is not None
    assert sum(f.slippage.counts) + f.slippage.below + f.slippage.above == f.slippage.count
    assert f.slippage.count == f.parents_with_fills
    by_algo = next(b for b in f.breakdowns if b.dimension == "Algorithm")
    assert sum(r.parents for r in by_algo.rows) == f.parents == 12
    by_dte = next(b for b in f.breakdowns if b.dimension == "Days to expiry")
    assert "unknown" not in {r.key for r in by_dte.rows}


def test_arrival_slippage_of_a_buy_and_its_mirrored_sell(tmp_path: Path,
                                                        query: TcaQuery) -> None:
    # Arrival 100. Buy 65 at 100.50 and 130 at 100.75: average 100.6667, a cost of
    # 0.6667 / 100 = 66.67 bps. The mirrored sell fills at 99.50 and 99.25: the same cost.
    buy = hand_parent("BUY0000001", Side.BUY, [(65, 100.50, 100.1), (130, 100.75, 100.2)],
                      expected_bps=10.0)
    sell = hand_parent("SELL000001", Side.SELL, [(65, 99.50, 99.9), (130, 99.25, 99.8)],
                       expected_bps=30.0)
    query.load(resolve_journals([write_rows(tmp_path / "hand.jsonl", buy + sell)]))
    costs = {p.parent_id: p for p in query.parent_costs(limit=None,
                                                       parent_ids=["BUY0000001", "SELL000001"])}
    expected = ((65 * 100.50 + 130 * 100.75) / 195 - 100.0) / 100.0 * 1e4
    assert expected == pytest.approx(66.6667, abs=1e-4)
    assert costs["BUY0000001"].arrival_slippage_bps == pytest.approx(expected, abs=1e-9)
    assert costs["SELL000001"].arrival_slippage_bps == pytest.approx(expected, abs=1e-9)
    assert costs["BUY0000001"].average_price == pytest.approx(100.0 + 2 / 3)
    assert costs["SELL000001"].average_price == pytest.approx(100.0 - 2 / 3)
    assert costs["BUY0000001"].shortfall is None  # no parts on these finished rows
    figures = query.figures()
    e = figures.expected
    # Fill-weighted: both parents' estimates on their 390 units, against the same cost.
    assert e.fills == 4
    assert e.expected_bps == pytest.approx(20.0)
    assert e.realized_bps == pytest.approx(expected)
    # At send: buy (0.4 * 65 + 0.55 * 130) / 195 / 100 bps; the sell mirrors it.
    at_send = (0.4 * 65 + 0.55 * 130) / 195 / 100 * 1e4
    assert e.realized_at_send_bps == pytest.approx(at_send)
    assert e.mid_move_bps == pytest.approx(expected - at_send)
    assert e.difference_mean_bps == pytest.approx(expected - 20.0)
    assert any("no shortfall parts" in n for n in figures.notes)


def test_markouts_are_split_by_liquidity_and_weighted_by_quantity(tmp_path: Path,
                                                                 query: TcaQuery) -> None:
    rows = [
        *hand_parent("MARK000001", Side.BUY, [(65, 100.5, 100.25)]),
        markout_row("MARK000001", 1.0, 65, 10.0, QueuePriority.TAKE),
        markout_row("MARK000001", 1.0, 195, 30.0, QueuePriority.TAKE),
        markout_row("MARK000001", 1.0, 130, -5.0, QueuePriority.JOIN),
        markout_row("MARK000001", 5.0, 130, 7.0, QueuePriority.NEUTRAL),
    ]
    query.load(resolve_journals([write_rows(tmp_path / "m.jsonl", rows)]))
    points = {(p.horizon_s, p.liquidity): p for p in query.markouts()}
    assert points[(1.0, "taking")].mean_bps == pytest.approx((65 * 10 + 195 * 30) / 260)
    assert points[(1.0, "taking")].fills == 2
    assert points[(1.0, "resting")].mean_bps == pytest.approx(-5.0)
    assert points[(5.0, "resting")].mean_bps == pytest.approx(7.0)
    assert (5.0, "taking") not in points


def test_errors_and_retries_are_counted_by_bucket(tmp_path: Path, query: TcaQuery) -> None:
    rows = hand_parent("OKAY000001", Side.BUY, [(65, 100.5, 100.25)]) \
        + hand_error_rows("FAIL000001")
    query.load(resolve_journals([write_rows(tmp_path / "e.jsonl", rows)]))
    ops = query.operations()
    assert ops.retries == {"throttle": 1}
    assert ops.errors == {"risk": 1}
    assert ops.attempts == 3  # OKAY's one tag, FAIL's two
    assert ops.parent_status == {"filled": 1, "failed": 1}
    lat = query.latency()
    assert (lat.placements, lat.p50_ms, lat.max_ms) == (1, 10.0, 10.0)


def test_expiry_dates_of_weekly_and_monthly_contracts() -> None:
    master = default_instrument_master()
    assert expiry_date("26D01", "NIFTY", master) == dt.date(2026, 12, 1)
    assert expiry_date("26O13", "NIFTY", master) == dt.date(2026, 10, 13)
    weekday = master.underlyings["NIFTY"].expiry_weekday
    monthly = expiry_date("26DEC", "NIFTY", master)
    assert monthly is not None and monthly.weekday() == weekday and monthly.month == 12
    assert monthly + dt.timedelta(days=7) > dt.date(2026, 12, 31)
    facts = contract_facts("NIFTY26D0126000CE")
    assert facts is not None and (facts.underlying, facts.kind, facts.strike) == (
        "NIFTY", "CE", 26000.0)
    assert contract_facts("NOTASYMBOL") is None


def _row_without_v3_fields(row: dict[str, Any], version: int) -> dict[str, Any]:
    from imperium_exec.events import FIELDS_SINCE

    out = {k: v for k, v in row.items() if k not in FIELDS_SINCE}
    out["v"] = version
    return out


def test_v1_and_v2_rows_read_without_the_newer_fields(tmp_path: Path,
                                                      query: TcaQuery) -> None:
    old = [_row_without_v3_fields(r, 2) for r in hand_parent(
        "OLDV200001", Side.SELL, [(65, 99.5, 99.75)])]
    assert "is_delay" not in old[-1] and "fees" not in old[-1]
    data = Path(__file__).parent.parent / "data"
    files = resolve_journals([write_rows(tmp_path / "v2.jsonl", old),
                              data / "journal_before_typed_schema.jsonl",
                              data / "journal_seed_v1.jsonl"])
    rows = query.load(files)
    # Every row, the session row too (read and counted, as calibrate counts it, though no
    # figure uses it).
    assert rows == sum(1 for p in files.paths for line in p.read_bytes().splitlines()
                       if line.strip())
    assert rows == read_observations(files.paths).rows and query.quality.clean
    figures = query.figures()
    assert figures.journal.versions.get(2) == 4
    assert figures.journal.versions.get(0) == 3  # the seed's rows, from before versions
    assert figures.parents_with_shortfall == 0 and figures.total is None
    (old_parent,) = query.parent_costs(limit=None, parent_ids=["OLDV200001"])
    assert old_parent.arrival_slippage_bps == pytest.approx(50.0)
    assert old_parent.shortfall is None
    # The seed's rows have no parent: their placements still count (event from status).
    assert figures.operations.placements >= 2



def z_parents(prefix: str, *, spacing_s: float, rest_s: float = 0.0) -> list[dict[str, Any]]:
    """6 parents x 5 fills of one underlying (30 mid moves), buys and sells, estimated at
    4 bps; with ``rest_s``, each child rests that long before it fills (the parent ends 10 s
    after its last fill)."""
    rows: list[dict[str, Any]] = []
    for i in range(6):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        fills = [(39, 100.0 + 0.3 * k * (-1) ** (i + k) + 0.05, 100.0 + 0.3 * k * (-1) ** (i + k))
                 for k in range(1, 6)]
        parent = hand_parent(f"{prefix}{i:09d}", side, fills, ts=1_795_491_900.0 + spacing_s * i,
                             expected_bps=4.0)
        for r in parent:
            if r["event"] == "filled":
                r["ts"] += rest_s
            elif r["event"] == "finished" and rest_s:
                r["ts"] += rest_s + 10.0
        rows += parent
    return rows


def z_by_hand(rows: list[dict[str, Any]], prefix: str) -> list[float]:
    """The z-scores recomputed here from the rows: the premium's variance a second from each
    fill's mid at send against its parent's arrival (100), over the seconds from the parent's
    start to that send; then per parent (arrival slippage - expected) / sqrt(variance *
    life / 3)."""
    moves, parents = [], []
    for i in range(6):
        mine = [r for r in rows if r["parent_id"] == f"{prefix}{i:09d}"]
        start = min(r["ts"] for r in mine)
        end = next(r["ts"] for r in mine if r["event"] == "finished")
        sent = {r["child_id"]: r["ts"] for r in mine if r["event"] == "placed"}
        fills = [r for r in mine if r["event"] == "filled"]
        moves += [((r["mid_at_send"] - 100.0) / 100.0 * 1e4, sent[r["child_id"]] - start)
                  for r in fills]
        s = 1.0 if mine[0]["side"] == "BUY" else -1.0
        units = sum(r["filled_quantity"] for r in fills)
        average = sum(r["filled_quantity"] * r["fill_price"] for r in fills) / units
        parents.append((s * (average - 100.0) / 100.0 * 1e4 - 4.0, end - start))
    variance = sum(m * m for m, _ in moves) / sum(t for _, t in moves)
    return [d / (variance * life / 3.0) ** 0.5 for d, life in parents]


def test_z_scores_are_realized_less_expected_over_each_parents_timing_risk(
        tmp_path: Path, query: TcaQuery) -> None:
    rows = z_parents("Z", spacing_s=100.0)
    query.load(resolve_journals([write_rows(tmp_path / "z.jsonl", rows)]))
    z = query.figures().expected
    expected = z_by_hand(rows, "Z")
    mean = sum(expected) / len(expected)
    sd = (sum((x - mean) ** 2 for x in expected) / (len(expected) - 1)) ** 0.5
    assert z.z_parents == 6
    assert z.z_mean == pytest.approx(mean) and z.z_sd == pytest.approx(sd)
    assert z.z_beyond_2 == pytest.approx(sum(abs(x) > 2 for x in expected) / 6)


def test_too_few_mid_moves_give_no_z_scores(tmp_path: Path, query: TcaQuery) -> None:
    rows = hand_parent("FEW0000001", Side.BUY, [(65, 100.5, 100.25)])
    query.load(resolve_journals([write_rows(tmp_path / "few.jsonl", rows)]))
    e = query.figures().expected
    assert e.z_parents == 0 and e.z_mean is None


def test_review_z_score_volatility_times_each_mid_move_by_when_it_was_seen(
        tmp_path: Path, query: TcaQuery) -> None:
    """Review: the mid at send is the market when the child was sent; the seconds it moved
    over run from arrival to that send, not to the fill. Children that rest for a minute
    before filling must not spread the same mid moves over a minute longer (which lowers the
    estimated volatility and inflates every z)."""
    rows = z_parents("R", spacing_s=1000.0, rest_s=60.0)
    query.load(resolve_journals([write_rows(tmp_path / "rest.jsonl", rows)]))
    z = query.figures().expected
    expected = z_by_hand(rows, "R")
    assert z.z_parents == 6
    assert z.z_mean == pytest.approx(sum(expected) / len(expected))
