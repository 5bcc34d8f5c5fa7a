"""Rows back into typed events: :func:`read_event`, fast for rows of the current and older
readable versions, checking (and naming the field and the reason) for anything unusual.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from operator import itemgetter
from typing import Any

from ..algos.names import ExecutionAlgo
from ..timeutil import IST
from .compact import COMPACT_SINCE, REBUILT
from .kinds import EventKind
from .schema import (
    ENUM_FIELDS,
    FIELD_SCHEMA,
    FIELD_TYPES,
    FIELDS_SINCE,
    NONE_AS_EMPTY,
    READABLE_VERSIONS,
    ROW_FIELDS,
    Event,
    enum_members,
)


class SchemaError(ValueError):
    """A row that does not fit the schema: names the field and the reason."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def _read_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value != int(value):
        raise TypeError("not a whole number")
    return int(value)


def _read_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


def _read_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _read_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not true or false")
    return value



def _enum_reader(kind: type) -> Callable[[Any], Any]:
    members = enum_members(kind)

    def read(value: Any) -> StrEnum:
        try:
            return members[value]
        except (KeyError, TypeError):
            raise TypeError(f"not one of {', '.join(members)}") from None
    return read


_PLAIN_READERS: dict[type, Callable[[Any], Any]] = {
    int: _read_int, float: _read_float, str: _read_str, bool: _read_bool,
}
_READERS = {name: _enum_reader(kind) if issubclass(kind, StrEnum) else _PLAIN_READERS[kind]
            for name, kind in FIELD_TYPES.items()}
#: A row written before ``v`` existed says what happened only through its status.
_SEED_EVENTS = {"placed": EventKind.PLACED, "error": EventKind.ERROR}

# The fast path's tables: what types each field may hold, and enum members by value.
_ALL_FIELDS = itemgetter(*ROW_FIELDS)
#: Per older whole-row version: the fields its rows have, and Nones for those added since.
_OLDER: dict[int, tuple[itemgetter[Any], tuple[None, ...]]] = {
    version: (itemgetter(*(n for n in ROW_FIELDS if FIELDS_SINCE.get(n, 0) <= version)),
              (None,) * sum(since > version for since in FIELDS_SINCE.values()))
    for version in READABLE_VERSIONS if version < COMPACT_SINCE}
#: Where each field a compact row may leave out for its reader to rebuild sits in a row.
_REBUILT_POSITIONS = tuple((ROW_FIELDS.index(name), name, rebuild)
                           for name, rebuild in REBUILT.items())
assert ROW_FIELDS[len(ROW_FIELDS) - len(FIELDS_SINCE):] == tuple(FIELDS_SINCE), \
    "fields added in a later version go at the end"
assert list(FIELDS_SINCE.values()) == sorted(FIELDS_SINCE.values()), "in version order"
_ENUM_POSITIONS = tuple((ROW_FIELDS.index(n), enum_members(FIELD_TYPES[n])) for n in ENUM_FIELDS)
#: ``execution_algo`` is text (an algorithm registered from outside has a name of its own); a
#: built-in's name reads as its :class:`ExecutionAlgo` member.
_ALGO_POSITION = ROW_FIELDS.index("execution_algo")
_BUILT_IN_ALGOS: dict[str, ExecutionAlgo] = {m.value: m for m in ExecutionAlgo}


def _allowed_types(kind: type, optional: bool) -> frozenset[type]:
    """The value types the fast path takes as they are (an int in a float field, say, goes to
    the checking reader, which makes it a float)."""
    allowed: set[type] = {str} if issubclass(kind, StrEnum) else {kind}
    if optional:
        allowed.add(type(None))
    return frozenset(allowed)


_ALLOWED_TYPES = tuple(_allowed_types(kind, optional)
                       for kind, optional, _ in FIELD_SCHEMA.values())
#: Type signatures (the type of each field's value) already found to fit. Rows of one kind of
#: event share a handful of signatures, so checking a row's types costs one set lookup.
_FITTING_SIGNATURES: set[tuple[type, ...]] = set()


def _fits(signature: tuple[type, ...]) -> bool:
    if signature in _FITTING_SIGNATURES:
        return True
    if not all(t in allowed for t, allowed in zip(signature, _ALLOWED_TYPES, strict=True)):
        return False
    if len(_FITTING_SIGNATURES) < 10_000:
        _FITTING_SIGNATURES.add(signature)
    return True


def read_event(row: Mapping[str, Any]) -> Event:
    """The typed event of a journal row (or a signal payload).

    Fields the row lacks take their defaults; fields the schema does not know are ignored (a
    newer writer's). A value of the wrong type or an unknown enum value raises
    :class:`SchemaError` naming the field and the reason. Rows from before ``v`` existed get
    their ``event`` from their status, their ``ts`` from their ``timestamp``, and ``v`` 0.
    """
    version = row.get("v")
    if version in READABLE_VERSIONS:
        event = _read_current(row) if version >= COMPACT_SINCE else _read_older(row)
        if event is not None:
            return event
    return _read_checked(row)


def _read_current(row: Mapping[str, Any]) -> Event | None:
    """A row of a compact version, whole (a signal's payload) or as its journal line has it
    (the dock reads a million of these): a field it leaves out is null, or rebuilt from the
    row (:mod:`.compact`). None sends anything unusual to the checking reader, which says
    what is wrong."""
    if len(row) >= len(ROW_FIELDS):
        try:
            return _typed(_ALL_FIELDS(row))
        except KeyError:
            pass
    values = list(map(row.get, ROW_FIELDS))
    for position, name, rebuild in _REBUILT_POSITIONS:
        if name not in row:
            values[position] = rebuild(row)
    return _typed(tuple(values))


def _read_older(row: Mapping[str, Any]) -> Event | None:
    """A whole row of an earlier readable version: the fields added since are None."""
    older = _OLDER.get(row.get("v"))  # type: ignore[arg-type]
    if older is None:
        return None
    present, newer_none = older
    try:
        values = present(row) + newer_none
    except KeyError:
        return None
    return _typed(values)


def _typed(values: tuple[Any, ...]) -> Event | None:
    if not _fits(tuple(map(type, values))):
        return None
    fields = list(values)
    for position, members in _ENUM_POSITIONS:
        value = fields[position]
        if value is not None:
            member = members.get(value)
            if member is None:
                return None
            fields[position] = member
    algo = fields[_ALGO_POSITION]
    if algo is not None:
        if algo == "":
            return None  # an old writer's "" for none: the checking reader reads it
        fields[_ALGO_POSITION] = _BUILT_IN_ALGOS.get(algo, algo)
    return Event._make(fields)


def _read_checked(row: Mapping[str, Any]) -> Event:
    values: dict[str, Any] = {}
    compact = isinstance(row.get("v"), int) and row["v"] >= COMPACT_SINCE
    for name, read in _READERS.items():
        value = row.get(name)
        if compact and value is None and name in REBUILT and name not in row:
            value = REBUILT[name](row)
        if value is None or (value == "" and name in NONE_AS_EMPTY):  # "" was written for none
            continue
        try:
            values[name] = read(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(name, f"{value!r} is {exc}") from None
    if "execution_algo" in values:
        values["execution_algo"] = _BUILT_IN_ALGOS.get(values["execution_algo"],
                                                       values["execution_algo"])
    if "v" not in row:
        _upgrade_seed_row(row, values)
    elif row["v"] is None:
        raise SchemaError("v", "null: a row of a versioned writer must say its version")
    elif "event" not in values:
        raise SchemaError("event", "missing")
    return Event(**values)


def _upgrade_seed_row(row: Mapping[str, Any], values: dict[str, Any]) -> None:
    """A row of the v1 desk (no ``v``, ``event`` or ``ts``): its status says what happened."""
    values["v"] = 0
    status = row.get("status")
    if "event" not in values:
        if status not in _SEED_EVENTS:
            raise SchemaError("status", f"{status!r} in a row with neither event nor v")
        values["event"] = _SEED_EVENTS[status]
    if "ts" not in values and values.get("timestamp"):
        try:
            stamp = dt.datetime.fromisoformat(values["timestamp"])
            values["ts"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=IST)).timestamp()
        except ValueError:
            raise SchemaError("timestamp", f"{values['timestamp']!r} is not ISO 8601") from None


