"""Journals as traders have them: damaged rows, a backup copy, torn lines, an empty file.

The journal is a paper-exchange run written by the engine's own writer; the test then damages
it. Every problem must be named and counted with its file and line, by ``tca`` and by
``calibrate`` alike; the parents of the damaged rows are left out whole; and on what is left
the report's figures are those of the clean journal without those parents.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from tca_support import hand_parent, paper_journal, write_rows

from imperium_exec.calibration.slippage_fit import read_observations
from imperium_exec.cli import main
from imperium_exec.events.quality import (
    EMPTY_FILE,
    NOT_JSON,
    JournalQuality,
    negative,
    not_finite,
    read_journal_rows,
    unknown_value,
    wrong_type,
)
from imperium_exec.request import Side
from imperium_exec.tca.figures import TcaFigures
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.report import render_report
from imperium_exec.tca.sources import JournalFiles, resolve_journals
from imperium_exec.tca.summary import render_summary


@pytest.fixture(scope="module")
def clean_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = paper_journal(tmp_path_factory.mktemp("paper") / "execution_quality_paper.jsonl",
                         parents=8)
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _figures(paths: list[Path]) -> tuple[TcaFigures, JournalQuality]:
    with TcaQuery(memory_limit="256MB", threads=1) as query:
        query.load(resolve_journals(paths))
        return query.figures(), query.quality


def _comparable(f: TcaFigures) -> TcaFigures:
    """The figures without what says which files were read and what was left out."""
    return dataclasses.replace(f, journal=dataclasses.replace(f.journal, files=(), bytes=0,
                                                              rows=0, versions={}),
                               notes=(), data_quality=())


class Damaged:
    """The clean journal's lines with damage done at chosen places, and what it must say."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = list(lines)
        self.rows = [orjson.loads(line) for line in lines]
        self.expected: dict[str, list[int]] = {}  # reason -> 1-based lines of the main file
        self.flagged: set[str] = set()
        self.damaged: list[int] = []  # the clean rows damaged (indices)

    def fill_of_a_new_parent(self) -> int:
        """The index of a fill row of a parent not damaged yet."""
        return next(i for i, r in enumerate(self.rows) if r.get("event") == "filled"
                    and r["parent_id"] not in self.flagged)

    def damage(self, index: int, reason: str, line: bytes) -> None:
        self.lines[index] = line
        self.damaged.append(index)
        self.expected.setdefault(reason, []).append(index + 1)
        self.flagged.add(self.rows[index]["parent_id"])


def _damaged_folder(folder: Path, clean: list[bytes]) -> tuple[Path, Damaged]:
    d = Damaged(clean)
    for bad, reason in (("NaN", not_finite("fill_price")),
                        ("Infinity", not_finite("fill_price")),
                        ('"36.65x"', wrong_type("fill_price"))):
        i = d.fill_of_a_new_parent()
        row = d.rows[i]
        text = json.dumps(row).replace(json.dumps(row["fill_price"]), bad, 1) \
            if bad != '"36.65x"' else orjson.dumps(row | {"fill_price": "36.65x"}).decode()
        d.damage(i, reason, text.encode())
    i = next(i for i, r in enumerate(d.rows) if r.get("event") == "placed"
             and r["parent_id"] not in d.flagged)
    d.damage(i, negative("quantity"), orjson.dumps(d.rows[i] | {"quantity": -65}))
    i = next(i for i, r in enumerate(d.rows) if r.get("event") == "placed"
             and r["parent_id"] not in d.flagged)
    d.damage(i, unknown_value("event"), orjson.dumps(d.rows[i] | {"event": "exploded"}))
    # A garbage line half way, and a torn last line (the writer killed mid-row).
    middle = len(d.lines) // 2
    d.lines.insert(middle, b"\x00\x00 garbage from a bad disk \xff")
    d.expected = {r: [n + (n > middle) for n in ns] for r, ns in d.expected.items()}
    d.expected[NOT_JSON] = [middle + 1, len(d.lines) + 1]
    journal = folder / "execution_quality_paper.jsonl"
    journal.write_bytes(b"\n".join(d.lines) + b'\n{"v":8,"event":"fill')
    # A backup copy taken earlier in the day (the first 60 % of the clean rows), an empty file.
    (folder / "backup_execution_quality_paper.jsonl").write_bytes(
        b"".join(line + b"\n" for line in clean[:len(clean) * 6 // 10]))
    (folder / "empty.jsonl").write_bytes(b"")
    return journal, d


def test_a_damaged_journal_reads_as_the_clean_one_less_the_parents_it_names(
        tmp_path: Path, clean_lines: list[bytes], capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "desk"
    folder.mkdir()
    journal, d = _damaged_folder(folder, clean_lines)
    assert len(d.flagged) == 5
    backup, empty = folder / "backup_execution_quality_paper.jsonl", folder / "empty.jsonl"

    # What is left: the clean journal without the flagged parents' rows, read on its own.
    kept = [line for line, row in zip(clean_lines, d.rows, strict=True)
            if row.get("parent_id") not in d.flagged]
    expected_figures, expected_quality = _figures(
        [write_rows(tmp_path / "kept" / "j.jsonl", [orjson.loads(x) for x in kept])])
    assert expected_quality.clean

    figures, quality = _figures([folder])
    places = {reason: [f"{journal}:{n}" for n in lines] for reason, lines in d.expected.items()}
    places[EMPTY_FILE] = [str(empty)]
    assert quality.places == places
    assert dict(quality.problems) == {r: len(p) for r, p in places.items()}
    # The backup's rows are read first (its name sorts first); its copies of rows the main
    # file holds damaged are the good ones, read once.
    copied = len(clean_lines) * 6 // 10
    damaged_in_backup = sum(i < copied for i in d.damaged)
    assert quality.duplicates == copied - damaged_in_backup
    assert (quality.original_files, quality.duplicate_files) == ({str(backup)}, {str(journal)})
    assert quality.flagged_parents == d.flagged
    # Every row that fits, once: the clean rows but the damaged ones without a good copy.
    assert quality.rows == figures.journal.rows == len(clean_lines) - 5 + damaged_in_backup
    assert _comparable(figures) == _comparable(expected_figures)
    assert figures.parents == 8 - 5

    # calibrate's reader counts and names the same.
    files = list(resolve_journals([folder]).paths)
    reading = read_observations(files)
    assert reading.quality == quality
    assert {o.parent_id for o in reading.observations}.isdisjoint(d.flagged)

    # The report and the command say it all.
    html = render_report(figures)
    assert "<h2>Data quality</h2>" in html
    for reason in places:
        assert reason in html
    assert main(["tca", str(folder), "-o", str(tmp_path / "r.html"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"2 rows left out: {not_finite('fill_price')} (at {journal}:" in err
    assert f"1 file left out: {EMPTY_FILE} (at {empty})" in err
    assert (f"seen twice, read once (the same rows in {backup} and {journal}: a backup copy?)"
            in err)


def test_tca_and_calibrate_count_the_same_rows_of_a_clean_journal(
        tmp_path: Path, clean_lines: list[bytes]) -> None:
    """Both read every row, session and basket rows too (calibrate once counted them and tca
    did not: 139 against 133 on one desk journal)."""
    session = {"v": 8, "event": "session", "ts": 1_795_500_000.0, "mode": "paper",
               "parent_id": "", "tradingsymbol": "", "message": "log in again"}
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in clean_lines) + orjson.dumps(session)
                     + b"\n")
    figures, quality = _figures([path])
    quality_py = JournalQuality()
    rows: list[dict[str, Any]] = list(read_journal_rows([path], quality_py))
    assert figures.journal.rows == quality.rows == read_observations([path]).rows \
        == len(rows) == len(clean_lines) + 1
    assert quality.clean and quality_py.clean


def test_with_16_parents_the_costliest_and_cheapest_lists_split_them_8_and_8(
        tmp_path: Path) -> None:
    rows = [r for k in range(16) for r in hand_parent(
        f"P{k:09d}", Side.BUY, [(65, 100.0 + 0.1 * k, 100.0)], ts=1_795_491_900.0 + 60 * k)]
    figures, _ = _figures([write_rows(tmp_path / "j.jsonl", rows)])
    worst = [p.parent_id for p in figures.worst]
    best = [p.parent_id for p in figures.best]
    assert (len(worst), len(best)) == (8, 8) and not set(worst) & set(best)
    assert worst == [f"P{k:09d}" for k in range(15, 7, -1)]
    assert best == [f"P{k:09d}" for k in range(8)]
    assert "the two lists split them: 8 and 8, none in both" in render_report(figures)


def test_a_cost_that_rounds_to_nothing_shows_as_0_00_never_signed(tmp_path: Path) -> None:
    """A sale 0.00001 above its arrival price is a saving of 0.001 bps: "0.00", not
    "-0.00" (nor "+0.00")."""
    rows = hand_parent("P000000001", Side.SELL, [(65, 100.00001, 100.0)])
    figures, _ = _figures([write_rows(tmp_path / "j.jsonl", rows)])
    assert figures.slippage is not None and -0.01 < figures.slippage.mean < 0  # type: ignore[operator]
    text = render_report(figures) + render_summary(figures)
    assert not re.search(r"[-+]0\.0+(?![0-9])", text)
    assert "0.00 bps" in render_summary(figures)


def test_two_rows_alike_in_one_file_are_two_rows_and_a_copy_of_both_is_read_once(
        tmp_path: Path) -> None:
    """The planner's two warnings of one parent at one moment ("only 2 lots: 2 slices instead
    of 3" and "no volume forecast: ...") share every field of the row key but the message:
    both are rows the writer wrote, not a copy. A backup holding both is read once."""
    rows = hand_parent("P1", Side.BUY, [(65, 100.5, 100.0)])
    warning = rows[0] | {"event": "warning", "message": "only 1 lot: 1 slice instead of 3"}
    rows[1:1] = [warning, warning | {"message": "no volume forecast: POV at 15% ..."}]
    folder = tmp_path / "desk"
    journal = write_rows(folder / "execution_quality_paper.jsonl", rows)
    alone = JournalQuality()
    assert len(list(read_journal_rows([journal], alone))) == len(rows)
    assert alone.clean and alone.rows == len(rows)
    _, tca_alone = _figures([journal])
    assert tca_alone.clean and tca_alone.rows == len(rows)

    backup = write_rows(folder / "backup_execution_quality_paper.jsonl", rows[:3])
    both = JournalQuality()
    read = list(read_journal_rows([backup, journal], both))
    assert len(read) == len(rows) and both.duplicates == 3
    assert (both.original_files, both.duplicate_files) == ({str(backup)}, {str(journal)})
    _, tca_both = _figures([folder])
    assert (tca_both.rows, tca_both.duplicates) == (len(rows), 3)


def test_a_file_named_twice_is_read_once_by_tca_and_calibrate(tmp_path: Path) -> None:
    rows = hand_parent("P1", Side.BUY, [(65, 100.5, 100.0), (130, 100.6, 100.1)])
    journal = write_rows(tmp_path / "execution_quality_paper.jsonl", rows)
    quality = JournalQuality()
    assert len(list(read_journal_rows([journal, journal], quality))) == len(rows)
    assert quality.clean
    with TcaQuery(memory_limit="256MB", threads=1) as query:  # (not through the folder
        query.load(JournalFiles((journal, journal), 2 * journal.stat().st_size))  # reader)
        tca = query.quality
    assert (tca.rows, tca.duplicates) == (quality.rows, 0) == (len(rows), 0)
