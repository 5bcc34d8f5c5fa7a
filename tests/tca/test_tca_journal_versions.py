"""tca reads every version: the engine's rows in a journal that mixes compact version 8
lines with whole version 6, 7 and 8 lines, after the v1 desk's rows and version 1 rows, give
the same figures and the same printed summary as the same rows written whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from journal_versions import write_journals

from imperium_exec.cli import main
from imperium_exec.tca.figures import TcaFigures
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import resolve_journals


def figures_of(path: Path) -> TcaFigures:
    with TcaQuery(threads=1) as query:  # one summing order: sums agree to the last bit
        query.load(resolve_journals([path]))
        figures = query.figures()
    # What tells the files apart: their names, sizes and the versions they hold.
    journal = dataclasses.replace(figures.journal, files=(), bytes=0, versions={})
    return dataclasses.replace(figures, journal=journal)


def test_tca_finds_the_same_figures_in_a_mixed_journal_as_in_the_whole_one(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    journals = write_journals(tmp_path, engine_journal_rows)
    whole, mixed = figures_of(journals.whole), figures_of(journals.mixed)
    assert mixed == whole
    finished = {r["parent_id"] for r in engine_journal_rows if r["event"] == "finished"}
    assert whole.parents_with_shortfall >= len(finished)
    assert whole.markouts and whole.expected.fills > 0


def test_the_tca_command_prints_the_same_summary_for_both(
        engine_journal_rows: list[dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    journals = write_journals(tmp_path, engine_journal_rows)
    printed = []
    for path in (journals.whole, journals.mixed):
        report = path.with_suffix(".html")
        assert main(["tca", str(path), "-o", str(report), "--no-progress"]) == 0
        printed.append(capsys.readouterr().out.replace(str(report), "REPORT"))
    assert printed[0] == printed[1]
    assert "implementation shortfall" in printed[0] and "markouts" in printed[0]


def test_the_tag_tca_rebuilds_is_the_engines_tag_to_the_last_digit() -> None:
    import duckdb

    from imperium_exec.events.ids import child_tag
    from imperium_exec.tca.journal import _REBUILT_TAG

    cases = [(1, 1), (2, 1), (36, 2), (37, 35), (1296, 36), (1297, 1295), (46656, 1296),
             (46657, 1297), (123_456, 99_999)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (parent_id VARCHAR, child_index BIGINT, attempt BIGINT)")
    con.executemany("INSERT INTO t VALUES ('P0AB12', ?, ?)", cases)
    rebuilt = con.execute(f"SELECT {_REBUILT_TAG} FROM t").fetchall()
    assert [r[0] for r in rebuilt] == [child_tag("P0AB12", i - 1, a) for i, a in cases]
