"""The dock tables' Qt-free half, shared by Events and Orders: one column description, cell
formatting, label codes, the filter, sort keys and the numpy buffers.

A table's rows live in numpy columns (:class:`~.events_model.ChildEventStore` for Events,
:class:`~.orders_model.OrderBook` for Orders): numbers as float64 (NaN = none), short strings
as int32 codes into a :class:`LabelTable`. Each table describes its columns with
:class:`Column` and answers :class:`TableRows`, which is all the Qt model base
(:class:`~.table_view.NumpyTableModel`) reads. No Qt here.
"""

from __future__ import annotations

import datetime as dt
import math
import mmap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..timeutil import IST

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


# ---------------------------------------------------------------------------- columns

class Kind(Enum):
    """How a column formats and sorts its field."""

    TIME = "time"  # IST wall-clock time to the millisecond
    CLOCK = "clock"  # IST wall-clock time to the second
    LABEL = "label"
    CHILD = "child"  # child_index of children: "3/10"
    INTEGER = "integer"
    FILLED = "filled"  # filled of the quantity: "65/130"
    PRICE = "price"  # rupees, two decimals
    RUPEES_PER_UNIT = "rupees_per_unit"  # slippage and impact, signed, three decimals
    MILLISECONDS = "milliseconds"
    BPS = "bps"  # signed basis points, one decimal


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dock table."""

    key: str  # stable name (QSettings, CSV header)
    title: str  # header text
    field: str  # the row field it shows
    kind: Kind
    sample: str  # the widest typical text: sets the default width in any font
    tooltip: str
    hidden: bool = False  # hidden by default (the header's context menu shows it)

    @property
    def numeric(self) -> bool:
        return self.kind not in (Kind.LABEL, Kind.TIME, Kind.CLOCK)


# ---------------------------------------------------------------------------- formatting

def format_time(ts: float) -> str:
    """``14:03:07.125`` in IST (the exchange's clock)."""
    stamp = dt.datetime.fromtimestamp(ts, IST)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def format_label(label: str | None) -> str:
    return "" if label is None else label.replace("_", " ")


def format_number(kind: Kind, value: float) -> str:
    """A number as a cell of ``kind`` shows it (blank for NaN)."""
    if math.isnan(value):
        return ""
    if kind is Kind.INTEGER:
        return f"{int(value):,}"
    if kind is Kind.PRICE:
        return f"{value:,.2f}"
    if kind is Kind.RUPEES_PER_UNIT:
        return f"{value:+.3f}"
    if kind is Kind.MILLISECONDS:
        return f"{value:,.1f}"
    if kind is Kind.BPS:
        return f"{value:+.1f}"
    if kind is Kind.TIME:
        return format_time(value)
    if kind is Kind.CLOCK:
        return format_time(value)[:8]
    return f"{value:g}"


# ---------------------------------------------------------------------------- label codes

class LabelTable:
    """Codes for one field's strings; code 0 is None. Codes never change once given.

    The code dict holds plain strings and ints only, so the garbage collector leaves it out
    of its passes (a table of parent ids has an entry per parent of the journal)."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: 0}
        self.labels: list[str | None] = [None]
        self._rank: npt.NDArray[np.float64] | None = None

    def encode(self, values: Sequence[str | None]) -> CodeArray:
        codes = self.codes
        out = np.fromiter(map(codes.get, values, repeat(-1)), np.int32, len(values))
        new = np.flatnonzero(out < 0)
        if len(new):
            for i in new.tolist():
                value = values[i]
                label = None if value is None else str(value)  # an enum member as its text
                code = codes.get(label)
                if code is None:
                    code = codes[label] = len(self.labels)
                    self.labels.append(label)
                out[i] = code
            self._rank = None
        return out

    def code(self, label: str | None) -> int | None:
        return self.codes.get(label)

    def label(self, code: int) -> str | None:
        return self.labels[code]

    def rank(self) -> npt.NDArray[np.float64]:
        """Sort key per code: alphabetical rank, None (blank) after every label."""
        if self._rank is None or len(self._rank) != len(self.labels):
            order = sorted(range(1, len(self.labels)), key=lambda c: str(self.labels[c]))
            rank = np.empty(len(self.labels), np.float64)
            rank[0] = np.inf
            rank[order] = np.arange(len(order), dtype=np.float64)
            self._rank = rank
        return self._rank


# ---------------------------------------------------------------------------- filter

@dataclass(frozen=True, slots=True)
class RowFilter:
    """What the blotter shows. Empty/None parts match everything."""

    symbol: str = ""  # case-insensitive substring of the tradingsymbol
    algo: str | None = None
    status: str | None = None
    mode: str | None = None  # "live" or "paper"
    parent_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.symbol and all(
            v is None for v in (self.algo, self.status, self.mode, self.parent_id))

    def exact(self) -> Iterable[tuple[str, str]]:
        for name, value in (("execution_algo", self.algo), ("status", self.status),
                            ("mode", self.mode), ("parent_id", self.parent_id)):
            if value is not None:
                yield name, value


def filter_mask(flt: RowFilter, tables: Mapping[str, LabelTable],
                codes: Callable[[str], CodeArray], size: int) -> BoolArray:
    """Which of ``size`` rows pass ``flt``; ``codes(field)`` gives the rows' codes of a label
    field (symbol, algo, status, mode, parent)."""
    keep = np.ones(size, np.bool_)
    for name, wanted in flt.exact():
        code = tables[name].code(wanted)
        if code is None:
            return np.zeros(size, np.bool_)
        keep &= codes(name) == code
    if flt.symbol:
        needle = flt.symbol.strip().upper()
        matching = [c for label, c in tables["tradingsymbol"].codes.items()
                    if label is not None and needle in label.upper()]
        keep &= np.isin(codes("tradingsymbol"), matching)
    return keep


# ---------------------------------------------------------------------------- sorting

def display_key(key: FloatArray, blank: BoolArray, descending: bool) -> FloatArray:
    """A column's values as a key whose ascending order is the display order, blanks last
    both ways."""
    if descending:
        key = -key
    key[blank] = np.inf
    return key


def in_display_order(rows: IntArray, key: FloatArray, descending: bool) -> IntArray:
    """``rows`` sorted by ``key``; ties keep arrival order, or its reverse descending."""
    tiebreak = -rows if descending else rows
    ordered: IntArray = rows[np.lexsort((tiebreak, key))]
    return ordered


class TableRows(Protocol):
    """What the Qt model base reads from a table's rows (``row``: a row's place in the
    table's columns, not in the view)."""

    @property
    def tables(self) -> Mapping[str, LabelTable]: ...

    def __len__(self) -> int: ...

    def text(self, col: Column, row: int, /) -> str:
        """The cell as the table shows it."""
        ...

    def value(self, col: Column, row: int, /) -> float | str | None:
        """The raw value of a cell: a float (NaN = none) or a label."""
        ...

    def row(self, row: int, /) -> dict[str, Any]:
        """The row's fields (numbers as float or None)."""
        ...

    def label(self, name: str, row: int, /) -> str | None: ...

    def number(self, name: str, row: int, /) -> float: ...

    def sort_key(self, col: Column, rows: IntArray, descending: bool, /) -> FloatArray:
        """Key whose ascending order is the display order (blanks always last)."""
        ...

    def order(self, col: Column, rows: IntArray, descending: bool, /) -> IntArray:
        """``rows`` in display order for a sort on ``col``."""
        ...


# ---------------------------------------------------------------------------- buffers

def lazy_buffer(capacity: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """An uninitialised array whose memory is committed page by page as rows are written.

    Anonymous memory with transparent huge pages turned off: with them (numpy's default for
    big arrays), the first write into each 2 MB stretch of each column zeroes a huge page,
    and a batch reaching a new stretch stalled the GUI for ~90 ms; 4 KB pages spread that
    cost evenly over the rows."""
    size = max(1, capacity * dtype.itemsize)
    memory = mmap.mmap(-1, size)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # Linux
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(memory, dtype=dtype, count=capacity)


class DoubleEnded:
    """A 1-D array with room at both ends: inserting at the top or the bottom costs what is
    inserted (a newest-first view takes live rows on top and history below), elsewhere a
    copy of the whole. The views' display order and sort keys live in these.

    ``room`` values of room are kept on each side of what :meth:`reset` puts in: a view of a
    store of ``max_rows`` rows given ``max_rows`` of room never needs a bigger buffer, only
    (when rows dropped at one end let the values drift to the other) a move within it. The
    room is address space, committed page by page as values are written (``lazy_buffer``):
    a fresh buffer cost ~15 ms per array at a million rows, paid inside one refresh."""

    def __init__(self, values: npt.NDArray[Any], room: int = 0) -> None:
        self._room = room
        self.reset(values)

    def reset(self, values: npt.NDArray[Any]) -> None:
        if self._room <= 0:
            self._buffer, self._low, self._high = values, 0, len(values)
            return
        self._buffer = lazy_buffer(len(values) + 2 * self._room, values.dtype)
        self._low, self._high = self._room, self._room + len(values)
        self._buffer[self._low:self._high] = values

    @property
    def array(self) -> npt.NDArray[Any]:
        return self._buffer[self._low:self._high]

    def remove_end(self, top: bool, count: int) -> None:
        """Drop ``count`` values from the top (or the bottom) end."""
        if top:
            self._low += count
        else:
            self._high -= count

    def insert(self, place: int, values: npt.NDArray[Any]) -> None:
        """Insert ``values`` before position ``place``: the shorter side moves over (within
        the buffer while there is room), the values are written in."""
        size, count = self._high - self._low, len(values)
        if count == 0:
            return
        if place <= size - place and self._low >= count:  # the part above moves up
            low = self._low - count
            self._buffer[low:low + place] = self._buffer[self._low:self._low + place]
            self._buffer[low + place:low + place + count] = values
            self._low = low
            return
        if place > size - place and len(self._buffer) - self._high >= count:  # below: down
            at = self._low + place
            self._buffer[at + count:self._high + count] = self._buffer[at:self._high]
            self._buffer[at:at + count] = values
            self._high += count
            return
        spare = len(self._buffer) - size
        if spare >= count + max(1024, size // 8):
            # Room, but at the other end: centre the values within the buffer (a memmove over
            # pages already in memory) rather than copy them into a new one (fresh pages:
            # ~15 ms at 1M).
            low = (spare - count) // 2 + (count if place <= size - place else 0)
            self._buffer[low:low + size] = self._buffer[self._low:self._high]
            self._low, self._high = low, low + size
            self.insert(place, values)
            return
        new_size = size + count
        room = max(1024, new_size // 2)  # on each side: amortised, inserts at the ends are O(1)
        grown = lazy_buffer(new_size + 2 * room, self._buffer.dtype)  # 4 KB pages: see there
        old = self.array
        grown[room:room + place] = old[:place]
        grown[room + place:room + place + count] = values
        grown[room + place + count:room + new_size] = old[place:]
        self._buffer, self._low, self._high = grown, room, room + new_size

    def remove(self, first: int, last: int) -> None:
        """Drop positions ``first..last`` (inclusive): the shorter side moves over."""
        count = last - first + 1
        size = self._high - self._low
        if first <= size - 1 - last:
            self._buffer[self._low + count:self._low + count + first] = \
                self._buffer[self._low:self._low + first]
            self._low += count
        else:
            at = self._low + first
            self._buffer[at:self._high - count] = self._buffer[at + count:self._high]
            self._high -= count
