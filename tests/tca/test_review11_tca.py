"""Review of issue 11: tca on a torn last line, and the report's notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tca_support import hand_parent, write_rows

from imperium_exec.cli import main
from imperium_exec.request import Side
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import resolve_journals


def test_tca_reads_a_journal_whose_last_line_is_torn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A journal the desk is writing (or one it was killed while writing) ends in a torn
    line: `tca` leaves it out and says so, naming the file and the line."""
    journal = write_rows(tmp_path / "execution_quality_live.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with open(journal, "ab") as handle:
        handle.write(b'{"v": 4, "event": "fill')
    out = tmp_path / "r.html"
    assert main(["tca", str(journal), "-o", str(out), "--no-progress"]) == 0
    assert out.exists()
    printed = capsys.readouterr()
    assert f"1 row left out: not JSON (a torn or garbage line) (at {journal}:5)" in printed.err
    assert "data quality: 1 row left out" in printed.out


def test_tca_report_does_not_say_markouts_are_off_by_default(tmp_path: Path) -> None:
    """Markouts are on by default now; the report's note still says they are off."""
    journal = write_rows(tmp_path / "j.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals([journal]))
        notes = query.figures().notes
    assert not any("off by default" in n for n in notes), notes




def test_journals_of_both_modes_are_not_mixed_silently(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The desk's folder holds the paper and the live journal; the help's own example
    ('~/.imperium_desk/*.jsonl') reads both, and a simulated 100 bps and a real 10 bps
    came out as one 55 bps desk. --mode reads one mode; a mix is said."""
    def with_mode(rows: list[dict[str, object]], mode: str) -> list[dict[str, object]]:
        return [r | {"mode": mode} for r in rows]

    write_rows(tmp_path / "execution_quality_paper.jsonl",
               with_mode(hand_parent("PAPER00001", Side.BUY, [(65, 101.0, 100.0)]), "paper"))
    write_rows(tmp_path / "execution_quality_live.jsonl",
               with_mode(hand_parent("LIVE000001", Side.BUY, [(65, 100.1, 100.0)],
                                     ts=1_795_492_100.0), "live"))
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals([tmp_path]), mode="live")
        figures = query.figures()
        assert figures.parents == 1 and figures.slippage is not None
        assert figures.slippage.mean == pytest.approx(10.0)
    assert main(["tca", str(tmp_path), "-o", str(tmp_path / "r.html"), "--no-progress"]) == 0
    assert "mix modes (live, paper)" in capsys.readouterr().err
