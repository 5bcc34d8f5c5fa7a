"""Compact rows (schema version 8 on): the journal line leaves out what its reader rebuilds.

A row in memory (the signal payload, :meth:`Event.to_row`) carries every field. Its journal
line, from version 8 on, leaves out

- every field that is null, and
- the fields a reader rebuilds from the row itself (:data:`REBUILT`): ``timestamp`` (the ISO
  text of ``ts``), ``child_id`` (``parent_id-child_index``), ``tag`` (the parent's id, the
  child's index and the attempt), ``status`` where it is the one its event implies
  (:data:`IMPLIED_STATUS`: a ``placed`` row's is ``placed``), ``quantity`` on a parent's
  accepted and finished rows (its ``parent_quantity``), ``filled_quantity`` on its finished
  row (its ``parent_filled_quantity``), and ``realized_slippage`` and
  ``realized_slippage_bps`` (the fill's price, or the finished parent's average, against
  ``arrival_price``).

A rebuilt field is left out only when the rebuilt value is the one it holds, so no row loses
anything: a child row whose ``child_id`` is null says so (``"child_id": null``).
:func:`full_row` gives the row back as it was emitted; :func:`~.reading.read_event` reads
compact rows as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from ..request import Side
from ..timeutil import epoch_to_iso
from .ids import child_id, child_tag
from .kinds import EventKind, Status
from .schema import ROW_FIELDS

#: The first schema version whose journal lines are compact.
COMPACT_SINCE = 8

#: The status a row of each event has unless it says otherwise (``finished``,
#: ``basket_finished`` and ``ghost`` rows always say theirs).
IMPLIED_STATUS: dict[str, str] = {event.value: status.value for event, status in {
    EventKind.ACCEPTED: Status.WORKING, EventKind.WARNING: Status.WORKING,
    EventKind.PAUSED: Status.PAUSED, EventKind.RESUMED: Status.WORKING,
    EventKind.PLACED: Status.PLACED, EventKind.RETRY: Status.RETRY,
    EventKind.RECONCILING: Status.RECONCILING, EventKind.RECONCILED: Status.PLACED,
    EventKind.ERROR: Status.ERROR, EventKind.FILLED: Status.FILLED,
    EventKind.CANCELLED: Status.CANCELLED, EventKind.REJECTED: Status.REJECTED,
    EventKind.MODIFIED: Status.PLACED, EventKind.MARKOUT: Status.FILLED,
    EventKind.BASKET_ACCEPTED: Status.WORKING, EventKind.SESSION: Status.RELOGIN_NEEDED,
}.items()}


def _number(value: Any) -> TypeGuard[float]:
    return type(value) is float or type(value) is int  # (not a bool)


def _whole(value: Any) -> TypeGuard[int]:
    return type(value) is int  # (not a bool)


def rebuilt_timestamp(row: Mapping[str, Any]) -> str | None:
    """The ISO text of ``ts`` (IST, milliseconds)."""
    ts = row.get("ts")
    return epoch_to_iso(ts) if _number(ts) else None


def rebuilt_child_id(row: Mapping[str, Any]) -> str | None:
    index, parent_id = row.get("child_index"), row.get("parent_id")
    return child_id(parent_id, index) if _whole(index) and isinstance(parent_id, str) else None


def rebuilt_tag(row: Mapping[str, Any]) -> str | None:
    """The attempt's tag: the parent's id, the child's index and the attempt (none before
    the first attempt)."""
    index, parent_id, attempt = row.get("child_index"), row.get("parent_id"), row.get("attempt")
    if not (_whole(index) and _whole(attempt) and isinstance(parent_id, str)) or index < 1 \
            or attempt < 1:
        return None
    return child_tag(parent_id, index - 1, attempt)


def rebuilt_status(row: Mapping[str, Any]) -> str | None:
    event = row.get("event")
    return IMPLIED_STATUS.get(event) if isinstance(event, str) else None


def rebuilt_quantity(row: Mapping[str, Any]) -> int | None:
    """A parent's accepted and finished rows: the parent's quantity."""
    if row.get("event") not in _PARENT_QUANTITY_EVENTS:
        return None
    quantity = row.get("parent_quantity")
    return quantity if _whole(quantity) else None


def rebuilt_filled_quantity(row: Mapping[str, Any]) -> int | None:
    """A parent's finished row: the units it filled in all (its ``parent_filled_quantity``)."""
    if row.get("event") != EventKind.FINISHED:
        return None
    filled = row.get("parent_filled_quantity")
    return filled if _whole(filled) else None


def _priced(row: Mapping[str, Any]) -> tuple[float, float, int] | None:
    """A fill's price (or a finished parent's average), the arrival price and the side's
    sign: what its realized slippage is worked out from; None on other rows."""
    event = row.get("event")
    if event not in _PRICED_EVENTS:
        return None
    price = row.get("average_price" if event == EventKind.FINISHED else "fill_price")
    arrival, sign = row.get("arrival_price"), _SIGNS.get(row.get("side"))  # type: ignore[arg-type]
    if not _number(price) or not price or not _number(arrival) or sign is None:
        return None
    return price, arrival, sign


def rebuilt_realized_slippage(row: Mapping[str, Any]) -> float | None:
    """``sign * (price - arrival_price)`` (see :func:`_priced`), as the engine works it out."""
    priced = _priced(row)
    if priced is None:
        return None
    price, arrival, sign = priced
    return sign * (price - arrival)


def rebuilt_realized_slippage_bps(row: Mapping[str, Any]) -> float | None:
    priced = _priced(row)
    if priced is None or not priced[1]:
        return None
    price, arrival, sign = priced
    return float(sign * (price - arrival) / arrival * 1e4)


_PARENT_QUANTITY_EVENTS = frozenset({EventKind.ACCEPTED.value, EventKind.FINISHED.value})
_FILL_EVENTS = frozenset({EventKind.FILLED.value, EventKind.GHOST.value})
_PRICED_EVENTS = _FILL_EVENTS | {EventKind.FINISHED.value}
_SIGNS: dict[str, int] = {side.value: side.sign for side in Side}

#: The fields a compact line leaves out when they are what these rebuild from the row (from
#: fields never rebuilt themselves).
REBUILT: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "timestamp": rebuilt_timestamp, "child_id": rebuilt_child_id, "tag": rebuilt_tag,
    "status": rebuilt_status, "quantity": rebuilt_quantity,
    "filled_quantity": rebuilt_filled_quantity,
    "realized_slippage": rebuilt_realized_slippage,
    "realized_slippage_bps": rebuilt_realized_slippage_bps,
}
#: A row of nothing but nulls, in column order (a compact row's missing fields).
_NULL_ROW: dict[str, Any] = dict.fromkeys(ROW_FIELDS)


def is_compact_version(row: Mapping[str, Any]) -> bool:
    """Whether the row is of a version whose journal lines are compact."""
    version = row.get("v")
    return isinstance(version, int) and not isinstance(version, bool) \
        and version >= COMPACT_SINCE


def compact_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The journal line's row: nulls and what :func:`full_row` rebuilds left out. Rows of
    versions before 8 (and rows without ``v``) are written whole, as they were."""
    if not is_compact_version(row):
        return dict(row)
    out = {name: value for name, value in row.items() if value is not None}
    for name, rebuild in REBUILT.items():
        value, rebuilt = row.get(name), rebuild(row)
        if value == rebuilt and type(value) is type(rebuilt):
            out.pop(name, None)
        elif value is None and name in row:
            out[name] = None  # a null where the reader would rebuild a value: said
    return out


def full_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as it was emitted: a compact line's left-out fields back (nulls, and the
    rebuilt ones), every field in column order. A row of an earlier version comes back as it
    is (the same dict)."""
    if not is_compact_version(row):
        return row if isinstance(row, dict) else dict(row)
    out = _NULL_ROW | dict(row)
    for name, rebuild in REBUILT.items():
        if name not in row:
            out[name] = rebuild(row)
    return out


__all__ = ["COMPACT_SINCE", "IMPLIED_STATUS", "REBUILT", "compact_row", "full_row",
           "is_compact_version"]
