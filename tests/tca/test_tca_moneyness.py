"""The moneyness breakdown: each option parent's strike against the index level on its
accepted row (``underlying_price``), in % of that level, positive = out of the money for calls
and puts alike; rows without the level (older journals) read as "unknown"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tca_support import hand_parent, write_rows

from imperium_exec.events import FIELDS_SINCE
from imperium_exec.request import Side
from imperium_exec.tca.breakdowns import MONEYNESS_BUCKETS, MONEYNESS_KEY
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import resolve_journals

SPOT = 26_000.0
FILL = [(65, 100.5, 100.25)]


@pytest.fixture
def query() -> Iterator[TcaQuery]:
    with TcaQuery(memory_limit="512MB", threads=2) as q:
        yield q


def parent(parent_id: str, symbol: str, spot: float | None = SPOT) -> list[dict[str, Any]]:
    return hand_parent(parent_id, Side.BUY, FILL, tradingsymbol=symbol, underlying_price=spot)


def moneyness(query: TcaQuery) -> dict[str, tuple[float | None, str]]:
    """Per parent: its moneyness in % and its bucket, straight from the SQL."""
    rows = query.con.execute(
        f"SELECT parent_id, moneyness_pct, {MONEYNESS_KEY} FROM parent_costs").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_calls_and_puts_land_in_their_buckets_with_otm_positive(tmp_path: Path,
                                                                 query: TcaQuery) -> None:
    rows = (parent("CE26500", "NIFTY26D0126500CE") + parent("PE26500", "NIFTY26D0126500PE")
            + parent("CE25400", "NIFTY26D0125400CE") + parent("PE25400", "NIFTY26D0125400PE")
            + parent("CE26100", "NIFTY26D0126100CE") + parent("PE25900", "NIFTY26D0125900PE")
            + parent("CE27500", "NIFTY26D0127500CE") + parent("PE24000", "NIFTY26D0124000PE")
            + parent("CE26130", "NIFTY26D0126130CE")  # exactly 0.5 % out: still ATM
            + parent("CE26520", "NIFTY26D0126520CE")  # exactly 2 % out: 0.5-2 %
            + parent("NOSPOT", "NIFTY26D0126000CE", spot=None)
            + parent("FUT", "NIFTY26DECFUT"))
    query.load(resolve_journals([write_rows(tmp_path / "j.jsonl", rows)]))
    found = moneyness(query)
    assert found["CE26500"][0] == pytest.approx(500 / 260)  # 1.92 %
    assert found["PE26500"][0] == pytest.approx(-500 / 260)
    itm2, itm, atm, otm, otm5, far, unknown = MONEYNESS_BUCKETS
    assert {pid: bucket for pid, (_, bucket) in found.items()} == {
        "CE26500": otm, "PE26500": itm,
        "CE25400": itm2, "PE25400": otm5,  # 600 points: 2.3 %
        "CE26100": atm, "PE25900": atm,  # 100 points: 0.38 %
        "CE27500": far, "PE24000": far,  # 5.8 % and 7.7 % out
        "CE26130": atm, "CE26520": otm,
        "NOSPOT": unknown, "FUT": unknown,
    }


def test_the_breakdown_is_ordered_by_moneyness_with_unknown_last(tmp_path: Path,
                                                                  query: TcaQuery) -> None:
    rows = (parent("A", "NIFTY26D0127500CE") + parent("B", "NIFTY26D0125400CE")
            + parent("C", "NIFTY26D0126000PE") + parent("D", "NIFTY26D0126500CE")
            + parent("E", "NIFTY26D0126000CE", spot=None) + parent("F", "NIFTY26D0126500PE")
            + parent("G", "NIFTY26D0126700CE"))
    query.load(resolve_journals([write_rows(tmp_path / "j.jsonl", rows)]))
    figures = query.figures()
    (breakdown,) = [b for b in figures.breakdowns if b.dimension == "Moneyness"]
    assert [r.key for r in breakdown.rows] == list(MONEYNESS_BUCKETS)
    assert all(r.parents == 1 for r in breakdown.rows)
    assert all(r.arrival_bps == pytest.approx(50.0) for r in breakdown.rows)
    assert not any("oneyness" in note for note in figures.notes)
    dimensions = [b.dimension for b in figures.breakdowns]
    assert dimensions.index("Moneyness") == dimensions.index("Option type") + 1


def test_rows_written_before_the_field_read_as_unknown(tmp_path: Path,
                                                       query: TcaQuery) -> None:
    older = [{k: v for k, v in r.items() if k != "underlying_price"}
             for r in parent("OLD", "NIFTY26D0126500CE")]
    assert FIELDS_SINCE["underlying_price"] == 4 and "underlying_price" not in older[0]
    query.load(resolve_journals([write_rows(tmp_path / "old.jsonl", older)]))
    assert moneyness(query) == {"OLD": (None, "unknown")}
    (breakdown,) = [b for b in query.breakdowns() if b.dimension == "Moneyness"]
    assert [(r.key, r.parents) for r in breakdown.rows] == [("unknown", 1)]


def test_the_accepted_rows_level_wins_over_the_finished_rows(tmp_path: Path,
                                                             query: TcaQuery) -> None:
    rows = parent("P", "NIFTY26D0126500CE")
    rows[-1]["underlying_price"] = 27_000.0  # finished: a different level (not the engine's)
    only_finished = parent("Q", "NIFTY26D0126500CE")
    only_finished[0]["underlying_price"] = None  # a reader of finished rows alone has it
    query.load(resolve_journals([write_rows(tmp_path / "j.jsonl", rows + only_finished)]))
    found = moneyness(query)
    assert found["P"][0] == pytest.approx(500 / 260)
    assert found["Q"][0] == pytest.approx(500 / 260)
