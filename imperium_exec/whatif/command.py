"""``imperium-exec tca --what-if``: the what-if of the journals the command reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..telemetry import read_rows
from .market import read_markets
from .replay import WhatIfReport, what_if
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


__all__ = ["WhatIfOutput", "journal_rows", "run_what_if"]
