"""Journal rows read through the schema, with what did not fit counted: one reader, one record.

:func:`read_journal_rows` is the reader ``calibrate`` uses (and any script); ``tca`` applies the
same checks in SQL (:mod:`imperium_exec.tca.journal`), with the same reasons, into the same
:class:`JournalQuality`, so both count the same rows and name the same problems. A line is
left out, and counted with its file and line number, when it is

- not JSON (a torn last line of a journal being written, or garbage), or JSON but not an
  object;
- a row that :func:`~.reading.read_event` refuses: a value of the wrong type, a value no enum
  has (an unknown event), a versioned row without an event;
- a number that is not finite (``NaN``, ``Infinity``: not JSON, but some writers write them);
- a count that is negative (:data:`NON_NEGATIVE`).

A row seen twice (the same row in two files: a journal folder holding a backup copy) is read
once and counted. Within one file, rows alike in every field of :data:`ROW_KEY` are each a row
the writer wrote (two warnings of a parent at one moment, say), never copies: a later file's
row is a copy only as many times as an earlier file held it. The parent of a row left out is
*flagged*: its other rows cannot be trusted to add up (a fill gone makes it look short), so
the readers leave the whole parent out and say which. An empty file is named too.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .compact import full_row
from .reading import SchemaError, read_event
from .schema import ENUM_FIELDS, Event

#: Counts that cannot be negative.
NON_NEGATIVE: tuple[str, ...] = ("child_index", "children", "quantity", "attempt",
                                 "parent_quantity", "parent_filled_quantity",
                                 "filled_quantity", "day_volume")
#: The key two copies of one row share (a backup copy of a journal): what makes a row itself.
ROW_KEY: tuple[str, ...] = ("v", "ts", "mode", "parent_id", "tradingsymbol", "event",
                            "child_id", "tag", "status", "filled_quantity", "fill_price",
                            "markout_s")

NOT_JSON = "not JSON (a torn or garbage line)"
NOT_OBJECT = "not a JSON object"
EMPTY_FILE = "empty file"
#: Examples (file:line) kept per reason.
EXAMPLES = 5


def wrong_type(name: str) -> str:
    return f"wrong type: {name}"


def unknown_value(name: str) -> str:
    return f"unknown value: {name}"


def not_finite(name: str) -> str:
    return f"not finite (NaN or infinity): {name}"


def negative(name: str) -> str:
    return f"negative: {name}"


def missing(name: str) -> str:
    return f"missing: {name}"


@dataclass
class JournalQuality:
    """What the reading left out, and why (counts by reason, a few places each)."""

    #: Rows that fit, each counted once (rows of flagged parents included).
    rows: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    #: Reason -> the first few places, ``file:line``.
    places: dict[str, list[str]] = field(default_factory=dict)
    #: Rows an earlier file held already (its copies), read once.
    duplicates: int = 0
    #: The files those repeated rows were in, and the files their first copies were in.
    duplicate_files: set[str] = field(default_factory=set)
    original_files: set[str] = field(default_factory=set)
    #: Parents with a row left out: the readers leave the whole parent out.
    flagged_parents: set[str] = field(default_factory=set)
    #: Pairs of files that hold the same row (the later file's name, the earlier's): one
    #: journal and its copy (:meth:`journal_of`).
    shared_rows: set[tuple[str, str]] = field(default_factory=set, compare=False)
    #: The file being read while rows are streamed (its name as given): a reader that keeps
    #: one desk's market apart from another's groups by it (a journal is one desk's, in one
    #: mode). Not part of what was found: left out of comparisons.
    current_file: str = field(default="", compare=False)

    def add(self, reason: str, path: str, line: int | None, parent_id: str | None = None,
            count: int = 1) -> None:
        self.problems[reason] += count
        where = self.places.setdefault(reason, [])
        if len(where) < EXAMPLES:
            where.append(path if line is None else f"{path}:{line}")
        if parent_id:
            self.flagged_parents.add(parent_id)

    def journal_of(self, joined: Iterable[tuple[str, str]] = ()
                   ) -> Callable[[str], str]:
        """The journal each file read is part of: files that share a row are one journal
        (a backup copy, or a cut of it), and so are the pairs ``joined`` (a reader's own
        reasons: files holding rows of one parent), named by the first of them in name
        order."""
        parent: dict[str, str] = {}

        def root(name: str) -> str:
            while parent.get(name, name) != name:
                name = parent[name]
            return name

        for later, earlier in sorted(self.shared_rows | set(joined)):
            a, b = sorted((root(later), root(earlier)))
            if a != b:
                parent[b] = a
        return root

    @property
    def rows_left_out(self) -> int:
        return sum(n for reason, n in self.problems.items() if reason != EMPTY_FILE)

    @property
    def clean(self) -> bool:
        return not self.problems and not self.duplicates

    def lines(self) -> list[str]:
        """The problems in plain words, a line each (empty when there were none)."""
        out = [f"{n:,} {'file' if reason == EMPTY_FILE else 'row'}{'' if n == 1 else 's'} "
               f"left out: {reason} (at {', '.join(self.places.get(reason, []))}"
               f"{', ...' if n > EXAMPLES else ''})"
               for reason, n in sorted(self.problems.items(), key=lambda kv: (-kv[1], kv[0]))]
        if self.duplicates:
            files = sorted(self.original_files | self.duplicate_files)
            where = (f"in {files[0]} twice" if len(files) == 1
                     else f"in {', '.join(files[:-1])} and {files[-1]}: a backup copy?")
            out.append(f"{self.duplicates:,} {_rows(self.duplicates)} seen twice, read once "
                       f"(the same {_rows(self.duplicates)} {where})")
        if self.flagged_parents:
            ids = sorted(self.flagged_parents)
            many = len(ids) != 1
            out.append(f"{len(ids):,} {'parents' if many else 'parent'} with a row left out "
                       f"{'are' if many else 'is'} left out whole, so no figure counts "
                       f"{'them' if many else 'it'} short: {', '.join(ids[:10])}"
                       f"{', ...' if len(ids) > 10 else ''}")
        return out


def _rows(n: int) -> str:
    return "row" if n == 1 else "rows"


def row_problem(row: dict[str, Any]) -> str | Event:
    """Why a parsed journal line does not fit, or its typed event when it fits."""
    try:
        event = read_event(row)
    except SchemaError as exc:
        if exc.reason == "missing":
            return missing(exc.field)
        if exc.field in ENUM_FIELDS:
            return unknown_value(exc.field)
        return wrong_type(exc.field)
    for name in NON_NEGATIVE:
        value = getattr(event, name)
        if value is not None and value < 0:
            return negative(name)
    return event


def _non_finite_problem(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """A line orjson refuses may be JSON with NaN or Infinity (Python's json writes them):
    name the field. None: it is not JSON at all."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    for name, item in value.items():
        if isinstance(item, float) and not math.isfinite(item):
            return not_finite(name), value
    return None


def read_journal_rows(paths: Iterable[str | os.PathLike[str]],
                      quality: JournalQuality | None = None) -> Iterator[dict[str, Any]]:
    """Every row of the journals that fits the schema, whole (:func:`full_row`), each once,
    in file order, streamed. What was left out goes into ``quality``; once the rows are all
    read, ``quality.flagged_parents`` names the parents a reader leaves out whole (see the
    module's text: their bad row may come after their good ones)."""
    q = quality if quality is not None else JournalQuality()
    #: The rows' keys, hashed -> the file of the first copy, and the most times one file
    #: before this one held it (this file's rows beyond that are rows of their own).
    first_file: dict[int, str] = {}
    held: dict[int, int] = {}
    read: set[str] = set()
    for path in paths:
        name = os.fspath(path)
        if os.path.realpath(name) in read:
            continue  # a file named twice is read once
        read.add(os.path.realpath(name))
        q.current_file = name
        lines = 0
        here: Counter[int] = Counter()
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                lines += 1
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    found = _non_finite_problem(line)
                    if found is None:
                        q.add(NOT_JSON, name, number)
                    else:
                        reason, partial = found
                        parent = partial.get("parent_id")
                        q.add(reason, name, number, parent if isinstance(parent, str) else None)
                    continue
                if not isinstance(value, dict):
                    q.add(NOT_OBJECT, name, number)
                    continue
                event = row_problem(value)
                if isinstance(event, str):
                    parent = value.get("parent_id")
                    q.add(event, name, number, parent if isinstance(parent, str) else None)
                    continue
                key = hash(tuple(getattr(event, k) for k in ROW_KEY))
                here[key] += 1
                if here[key] <= held.get(key, 0):
                    first = first_file[key]
                    q.duplicates += 1
                    q.duplicate_files.add(name)
                    q.original_files.add(first)
                    q.shared_rows.add((name, first))
                    continue
                first_file.setdefault(key, name)
                q.rows += 1
                yield full_row(value)
        for key, times in here.items():
            held[key] = max(held.get(key, 0), times)
        if lines == 0:
            q.add(EMPTY_FILE, name, None)


__all__ = ["EMPTY_FILE", "NON_NEGATIVE", "NOT_JSON", "NOT_OBJECT", "ROW_KEY", "JournalQuality",
           "missing", "negative", "not_finite", "read_journal_rows", "row_problem",
           "unknown_value", "wrong_type"]
