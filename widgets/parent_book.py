"""ParentBook: which parents are still working, and how far along, from telemetry rows alone.

Every row of a parent carries its ``parent_quantity``, cumulative ``parent_filled_quantity``,
``children`` and (on parent events) the parent ``status``, so the book needs no access to the
engine: it works the same for this session's stack and for a journal another process writes.
Qt-free; the parents panel renders it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..events import EventKind, ParentStatus

_PARENT_STATUS_EVENTS = {EventKind.ACCEPTED, EventKind.PAUSED, EventKind.RESUMED}
_PLACED_EVENTS = {EventKind.PLACED, EventKind.RECONCILED}


@dataclass
class ParentProgress:
    parent_id: str
    tradingsymbol: str
    side: str
    execution_algo: str
    mode: str
    quantity: int
    filled: int = 0
    children: int = 0  # planned so far
    placed: int = 0  # children placed
    status: str = ParentStatus.WORKING
    started_ts: float = 0.0
    last_ts: float = 0.0
    message: str | None = None  # the last warning or finish message

    @property
    def fraction(self) -> float:
        return min(1.0, self.filled / self.quantity) if self.quantity > 0 else 0.0

    @property
    def paused(self) -> bool:
        return self.status == ParentStatus.PAUSED

    def describe(self) -> str:
        return f"{self.side} {self.quantity:,} {self.tradingsymbol} {self.execution_algo}"


class ParentBook:
    """Active parents (working or paused) and a short history of finished ones."""

    def __init__(self, keep_finished: int = 50) -> None:
        self._keep_finished = keep_finished
        self.reset()

    def reset(self) -> None:
        self._active: dict[str, ParentProgress] = {}
        self.finished: deque[ParentProgress] = deque(maxlen=self._keep_finished)
        self.finished_by_status: Counter[str] = Counter()
        self.version = 0

    def add(self, rows: Iterable[dict[str, Any]]) -> bool:
        """Apply rows in order; returns True when an active parent changed."""
        changed = False
        active = self._active
        for row in rows:
            parent_id = row.get("parent_id")
            event = row.get("event")
            if not isinstance(parent_id, str):
                continue
            if event == EventKind.FINISHED:
                done = active.pop(parent_id, None)
                status = str(row.get("status") or "")
                self.finished_by_status[status] += 1
                if done is not None:
                    done.status = status
                    done.filled = _int(row.get("parent_filled_quantity"), done.filled)
                    done.message = row.get("message")
                    self.finished.append(done)
                    changed = True
                continue
            progress = active.get(parent_id)
            if progress is None:
                progress = ParentProgress(
                    parent_id=parent_id, tradingsymbol=str(row.get("tradingsymbol") or ""),
                    side=str(row.get("side") or ""),
                    execution_algo=str(row.get("execution_algo") or ""),
                    mode=str(row.get("mode") or ""),
                    quantity=_int(row.get("parent_quantity"), 0),
                    started_ts=_float(row.get("ts")))
                active[parent_id] = progress
            progress.filled = _int(row.get("parent_filled_quantity"), progress.filled)
            progress.children = _int(row.get("children"), progress.children)
            progress.last_ts = _float(row.get("ts"), progress.last_ts)
            if event in _PARENT_STATUS_EVENTS:
                progress.status = str(row.get("status") or progress.status)
            elif event in _PLACED_EVENTS:
                progress.placed += 1
            elif event == EventKind.WARNING:
                progress.message = row.get("message")
            changed = True
        if changed:
            self.version += 1
        return changed

    def active(self) -> list[ParentProgress]:
        """Working and paused parents, oldest first."""
        return sorted(self._active.values(), key=lambda p: (p.started_ts, p.parent_id))

    def get(self, parent_id: str) -> ParentProgress | None:
        return self._active.get(parent_id)

    def __len__(self) -> int:
        return len(self._active)


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else default


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else default
