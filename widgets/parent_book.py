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

_PARENT_STATUS_EVENTS = frozenset({str(EventKind.ACCEPTED), str(EventKind.PAUSED),
                                   str(EventKind.RESUMED)})
#: A reconciled child also gets its "placed" row: counting both would count it twice.
_PLACED_EVENTS = frozenset({str(EventKind.PLACED)})


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
    """Active parents (working or paused) and a short history of finished ones.

    Rows may arrive out of order (a journal backlog read while the stack's signals already
    bring newer rows), so the book never goes backwards: fills only grow, a parent's status
    follows its latest status row by time, and rows of a finished parent are ignored.
    """

    def __init__(self, keep_finished: int = 50) -> None:
        self._keep_finished = keep_finished
        self.reset()

    def reset(self) -> None:
        self._active: dict[str, ParentProgress] = {}
        self._finished_ids: set[str] = set()
        self._status_ts: dict[str, float] = {}
        self.finished: deque[ParentProgress] = deque(maxlen=self._keep_finished)
        self.finished_by_status: Counter[str] = Counter()
        self.version = 0

    def add(self, rows: Iterable[dict[str, Any]]) -> bool:
        """Apply rows; returns True when an active parent changed."""
        changed = False
        active, finished_ids, status_ts = self._active, self._finished_ids, self._status_ts
        for row in rows:
            parent_id = row.get("parent_id")
            if not isinstance(parent_id, str) or not parent_id or parent_id in finished_ids:
                continue
            event = row.get("event")
            if event == "finished":
                self._finish(parent_id, row)
                changed = True
                continue
            progress = active.get(parent_id)
            ts = _float(row.get("ts"))
            if progress is None:
                progress = active[parent_id] = ParentProgress(
                    parent_id=parent_id, tradingsymbol=str(row.get("tradingsymbol") or ""),
                    side=str(row.get("side") or ""),
                    execution_algo=str(row.get("execution_algo") or ""),
                    mode=str(row.get("mode") or ""),
                    quantity=_int(row.get("parent_quantity"), 0), started_ts=ts)
            filled = _int(row.get("parent_filled_quantity"), 0)
            if filled > progress.filled:
                progress.filled = filled
            children = _int(row.get("children"), 0)
            if children > progress.children:
                progress.children = children
            if ts > progress.last_ts:
                progress.last_ts = ts
            if event in _PARENT_STATUS_EVENTS:
                if ts >= status_ts.get(parent_id, -1.0):
                    status_ts[parent_id] = ts
                    progress.status = str(row.get("status") or progress.status)
                if event == "accepted" and ts < progress.started_ts:
                    progress.started_ts = ts
            elif event in _PLACED_EVENTS:
                progress.placed += 1
            elif event == "warning":
                progress.message = row.get("message")
            changed = True
        if changed:
            self.version += 1
        return changed

    def _finish(self, parent_id: str, row: dict[str, Any]) -> None:
        self._finished_ids.add(parent_id)
        self._status_ts.pop(parent_id, None)
        status = str(row.get("status") or "")
        self.finished_by_status[status] += 1
        done = self._active.pop(parent_id, None)
        if done is not None:
            done.status = status
            done.filled = max(done.filled, _int(row.get("parent_filled_quantity"), 0))
            done.message = row.get("message")
            self.finished.append(done)

    def active(self) -> list[ParentProgress]:
        """Working and paused parents, oldest first."""
        return sorted(self._active.values(), key=lambda p: (p.started_ts, p.parent_id))

    def get(self, parent_id: str) -> ParentProgress | None:
        return self._active.get(parent_id)

    def __len__(self) -> int:
        return len(self._active)


def _int(value: Any, default: int) -> int:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    return int(value) if kind is float else default


def _float(value: Any, default: float = 0.0) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    return float(value) if kind is int else default
