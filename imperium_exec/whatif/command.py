"""``imperium-exec tca --what-if``: the what-if of the journals the command reads; and the
dock's, of one picked parent (:func:`replay_one`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..telemetry import read_rows
from .market import read_markets
from .replay import ALGORITHMS, AlgoOutcome, ParentWhatIf, WhatIfReport, replay_parent, what_if
from .report import impact_for, render_what_if, render_what_if_html, write_what_if_parquet


@dataclass(frozen=True)
class WhatIfOutput:
    report: WhatIfReport
    text: str
    html: str

    def write_parquet(self, directory: Path) -> Path:
        return write_what_if_parquet(self.report, directory)


def journal_rows(paths: Sequence[Path], mode: str | None = None) -> Iterator[dict[str, Any]]:
    """Every row of the journals, whole (``mode``: that mode's only)."""
    for path in paths:
        for row in read_rows(path):
            if mode is None or row.get("mode") == mode:
                yield row


def run_what_if(paths: Sequence[Path], *, seeds: int, calibration: Path | None = None,
                mode: str | None = None, progress_to: TextIO | None = None) -> WhatIfOutput:
    """Replay every finished parent of ``paths``; a line of progress to ``progress_to``."""
    rows = list(journal_rows(paths, mode))
    params, impact = impact_for(rows, calibration)
    journal = read_markets(rows)

    def progress(done: int, total: int) -> None:
        if progress_to is not None:
            end = "\n" if done == total else ""
            progress_to.write(f"\rwhat-if: {done}/{total} parents replayed{end}")
            progress_to.flush()

    report = what_if(journal, params, impact=impact, seeds=seeds, progress=progress)
    return WhatIfOutput(report, render_what_if(report), render_what_if_html(report))


def replay_one(path: Path, parent_id: str, *, seeds: int,
               progress: Callable[[int, int], None]) -> ParentWhatIf | str:
    """``parent_id`` of the journal at ``path`` under every algorithm (Qt-free: the worker
    thread's job: the dock's TCA tab); ``progress(done, total)`` after each algorithm."""
    rows = read_rows(path)
    params, impact = impact_for(rows, None)
    journal = read_markets(rows)
    parent = next((p for p in journal.parents if p.parent_id == parent_id), None)
    if parent is None:
        return f"{parent_id} has no finished row in {path.name} yet."
    market = journal.markets[parent.tradingsymbol]
    outcomes: dict[str, AlgoOutcome] = {}
    result: ParentWhatIf | None = None
    for i, algo in enumerate(ALGORITHMS):
        result = replay_parent(parent, market, params, seeds=range(1, seeds + 1),
                               algorithms=(algo,))
        if result.skipped is not None:
            return result
        outcomes.update(result.outcomes)
        progress(i + 1, len(ALGORITHMS))
    assert result is not None
    return ParentWhatIf(parent, result.realized, outcomes, result.observed, seeds=seeds,
                        impact=impact)


__all__ = ["WhatIfOutput", "journal_rows", "replay_one", "run_what_if"]
