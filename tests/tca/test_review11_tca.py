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
    line; the dock and `calibrate` skip it, `tca` refuses the whole journal (exit 1)."""
    journal = write_rows(tmp_path / "execution_quality_live.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with open(journal, "ab") as handle:
        handle.write(b'{"v": 4, "event": "fill')
    out = tmp_path / "r.html"
    assert main(["tca", str(journal), "-o", str(out), "--no-progress"]) == 0
    assert out.exists()
    printed = capsys.readouterr().out
    assert "1 unreadable line" in printed


def test_tca_report_does_not_say_markouts_are_off_by_default(tmp_path: Path) -> None:
    """Markouts are on by default now; the report's note still says they are off."""
    journal = write_rows(tmp_path / "j.jsonl",
                         hand_parent("P000000001", Side.BUY, [(65, 100.5, 100.25)]))
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals([journal]))
        notes = query.figures().notes
    assert not any("off by default" in n for n in notes), notes


