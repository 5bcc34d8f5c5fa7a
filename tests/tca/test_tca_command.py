"""``imperium-exec tca``: many files by glob, the self-contained HTML, Parquet, the terminal
summary, and clear errors for paths that match nothing and lines that are not JSON."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from tca_support import hand_parent, paper_journal, read_journal, write_rows

from imperium_exec.cli import main
from imperium_exec.events.quality import NOT_JSON
from imperium_exec.request import Side
from imperium_exec.tca import svg
from imperium_exec.tca.query import TcaQuery
from imperium_exec.tca.sources import JournalSourceError, resolve_journals


def test_a_glob_reads_many_files_across_folders_each_once(tmp_path: Path) -> None:
    expected_rows = 0
    for month in range(1, 4):
        for day in range(1, 5):
            rows = hand_parent(f"P{month:02d}{day:02d}00001", Side.BUY,
                               [(65, 100.5, 100.25)], ts=1_795_491_900.0 + 86400 * day)
            write_rows(tmp_path / f"2026-{month:02d}" / f"day{day}.jsonl", rows)
            expected_rows += len(rows)
    (tmp_path / "2026-01" / "notes.txt").write_text("not a journal")
    pattern = str(tmp_path / "**" / "*.jsonl")
    files = resolve_journals([pattern, tmp_path / "2026-01" / "day1.jsonl"])  # one twice
    assert len(files.paths) == 12
    assert files.total_bytes == sum(p.stat().st_size for p in files.paths)
    with TcaQuery(threads=2) as query:
        assert query.load(files) == expected_rows
        figures = query.figures()
    assert figures.parents == figures.parents_with_fills == 12
    assert len(figures.journal.files) == 12
    # A folder means its *.jsonl files.
    assert len(resolve_journals([tmp_path / "2026-02"]).paths) == 4


def test_a_path_that_matches_nothing_is_named(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nowhere" / "*.jsonl")
    with pytest.raises(JournalSourceError, match=re.escape(repr(missing))):
        resolve_journals([missing])
    with pytest.raises(JournalSourceError, match="no such journal file"):
        resolve_journals([tmp_path / "absent.jsonl"])
    with pytest.raises(JournalSourceError, match=r"no \*\.jsonl journal in the folder"):
        resolve_journals([tmp_path])
    assert main(["tca", missing, "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "no journal file matches" in err and missing in err
    assert not (tmp_path / "r.html").exists()


def test_a_line_that_is_not_json_is_left_out_and_named_and_a_copy_is_read_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A torn line (a journal being written, or a writer killed mid-row) costs that line,
    not the report: it is counted and named with its file and line, as calibrate does; the
    second file's copies of the first's rows are read once."""
    good = write_rows(tmp_path / "good.jsonl",
                      hand_parent("GOOD000001", Side.BUY, [(65, 100.5, 100.25)]))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good.read_bytes() + b'{"event": "filled", "ts": \n')
    with TcaQuery() as query:
        rows = query.load(resolve_journals([good, bad]))
        written = len(read_journal(good))
        assert rows == written and query.quality.duplicates == written
        assert dict(query.quality.problems) == {NOT_JSON: 1}
        assert query.quality.places[NOT_JSON] == [f"{bad}:{written + 1}"]
        assert any("1 row left out" in n for n in query.figures().data_quality)
    assert main(["tca", str(good), str(bad), "-o", str(tmp_path / "r.html")]) == 0
    assert "1 row left out: not JSON" in capsys.readouterr().out


def test_outputs_that_cannot_be_written_are_said_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = write_rows(tmp_path / "j.jsonl",
                         hand_parent("GOOD000001", Side.BUY, [(65, 100.5, 100.25)]))
    assert main(["tca", str(journal), "-o", str(tmp_path)]) == 2  # a folder, not a file
    assert "is a folder" in capsys.readouterr().err
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the Parquet folder should go")
    report = tmp_path / "r.html"
    assert main(["tca", str(journal), "-o", str(report), "--parquet", str(blocker)]) == 1
    out, err = capsys.readouterr()
    assert "could not write" in err and f"wrote {report}" in out and report.exists()
    with pytest.raises(SystemExit):
        main(["tca", str(journal), "--outliers", "-1"])
    assert "--outliers: -1 is negative" in capsys.readouterr().err


def test_the_report_is_one_offline_file_with_parquet_and_a_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = paper_journal(tmp_path / "execution_quality_paper.jsonl", parents=10)
    report, parquet = tmp_path / "out" / "report.html", tmp_path / "pq"
    assert main(["tca", str(journal), "-o", str(report), "--parquet", str(parquet),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "implementation shortfall: ₹" in out and "parents: 10" in out
    html = report.read_text(encoding="utf-8")
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I) is None
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg ") >= 8
    for section in ("Implementation shortfall", "Arrival slippage per parent", "Markouts",
                    "Expected against realized", "Breakdowns", "Errors, retries and latency",
                    "Outliers", "By days to expiry", "By time of day (IST)"):
        assert section in html
    rows = read_journal(journal)
    fills = [r for r in rows if r["event"] in ("filled", "ghost") and r["filled_quantity"]]
    con = duckdb.connect()
    try:
        parents_pq = con.execute(
            f"SELECT count(*), sum(is_total) FROM '{parquet / 'parents.parquet'}'").fetchone()
        fills_pq = con.execute(
            f"SELECT count(*), sum(units) FROM '{parquet / 'fills.parquet'}'").fetchone()
    finally:
        con.close()
    finished = [r for r in rows if r["event"] == "finished"]
    assert parents_pq is not None and fills_pq is not None
    assert parents_pq[0] == 10
    assert parents_pq[1] == pytest.approx(sum(
        r["is_delay"] + r["is_spread"] + r["is_drift"] + r["is_opportunity"] + r["fees"]
        for r in finished))
    assert fills_pq == (len(fills), sum(r["filled_quantity"] for r in fills))


def test_waterfall_bars_are_red_for_costs_and_green_for_savings() -> None:
    chart = svg.waterfall([("Delay", -2.0), ("Spread", 5.0), ("Fees", 1.0)],
                          title="t", unit="bps")
    bars = re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" '
                      r'fill="([^"]+)"><title>([^<]+)</title>', chart)
    assert bars == [(svg.SAVING, "Delay: -2 bps"), (svg.COST, "Spread: 5 bps"),
                    (svg.COST, "Fees: 1 bps"), (svg.TOTAL_COST, "Total: 4 bps")]
    assert ">bps</text>" in chart  # the axis says its unit
