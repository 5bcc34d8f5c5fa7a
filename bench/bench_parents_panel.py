"""The working-parents panel with many parents left open: what one dock refresh costs.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_parents_panel.py [open_parents]``
(default 4,000). A journal with that many accepted, never-finished parents is opened in a viewer
dock; once loaded, the panel is refreshed three times (forced) and the slowest and fastest
refresh are printed, with the number of parent rows drawn. Compare trees side by side in one
session (the machine is shared): run this file from each checkout.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dock_support import parent_story, write_rows
from PySide6.QtWidgets import QApplication

from imperium_exec.widgets import ExecutionDock


def main() -> None:
    open_parents = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    app = QApplication.instance() or QApplication([])
    path = Path(tempfile.mkdtemp()) / "execution_quality_paper.jsonl"
    rows = []
    for i in range(open_parents):
        rows += parent_story(f"P{i:05d}", children=1, filled=0, finished=False)
    write_rows(path, rows)
    dock = ExecutionDock(path, interval_ms=20, refresh_ms=20)
    dock.resize(900, 900)
    dock.show()
    deadline = time.perf_counter() + 300
    while (dock.feed.loading or len(dock.parent_book) < open_parents) \
            and time.perf_counter() < deadline:
        app.processEvents()
    dock.refresh_now()
    times = []
    for _ in range(3):
        dock._shown_versions = (-1, -1)  # force the panel to sync again
        started = time.perf_counter()
        dock.refresh_now()
        app.processEvents()
        times.append(time.perf_counter() - started)
    print(f"{len(dock.parent_book):,} open parents: refresh {min(times) * 1e3:.0f}-"
          f"{max(times) * 1e3:.0f} ms, {len(dock.parents_panel.rows)} rows drawn")


if __name__ == "__main__":
    main()
