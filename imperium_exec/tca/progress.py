"""A progress bar on stderr while the journals are read (only on a terminal, or when asked),
drawn from DuckDB's own progress of the reading query."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar(fraction)`` redraws one line: ``reading 1.2 GB [#####.....] 52 %  14 s``."""

    def __init__(self, total_bytes: int, *, stream: TextIO | None = None, width: int = 30,
                 label: str = "reading") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total_bytes = total_bytes
        self.width = width
        self.label = label
        self.started = time.monotonic()
        self.last = -1.0
        self.drawn = False

    def __call__(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, fraction))
        if fraction < 1.0 and fraction - self.last < 0.005:
            return
        self.last = fraction
        filled = round(fraction * self.width)
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r{self.label} {self.total_bytes / 1e9:.2f} GB "
                          f"[{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{fraction * 100:3.0f} %  {elapsed:.0f} s")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


__all__ = ["ProgressBar"]
