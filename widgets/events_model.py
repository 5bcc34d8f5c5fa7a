"""ChildEventStore: a day (or a million) of child events held in columns, filtered and sorted.

Why columns and not a list of events: an event row has 45 fields, ~1.5 KB in memory as a dict,
so a million of them would take gigabytes. The store keeps only the fields the dock shows:
numbers as float64 arrays (NaN where the row has none) and short strings (symbol, algo, status,
bucket...) as int32 codes into a per-field label table, about 170 bytes a row. Filters and sorts
are numpy operations over those arrays: a filter change over a million rows costs milliseconds,
where a Python ``QSortFilterProxyModel`` would call back into Python a million times.

Its columns are :class:`~.table_model.Column` (the shared column description). No Qt here: the
Events table's Qt model (:mod:`.events_view`) is a thin adapter over this class.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from ..events import ROW_FIELDS, Event
from ..timeutil import IST
from .table_model import (
    BoolArray,
    CodeArray,
    Column,
    FloatArray,
    IntArray,
    Kind,
    LabelTable,
    RowFilter,
    display_key,
    filter_mask,
    format_label,
    format_number,
    in_display_order,
    lazy_buffer,
)

#: Event fields kept as float64 (NaN = none).
NUMBER_FIELDS: tuple[str, ...] = (
    "ts", "child_index", "children", "quantity", "arrival_price", "limit_price",
    "expected_slippage", "impact_estimate", "realized_slippage", "latency_ms", "attempt",
    "filled_quantity", "fill_price", "expected_cost_bps", "realized_slippage_bps",
    "quote_age_ms", "mid_at_send", "prior_impact",
)
NUMBER_FIELD_SET = frozenset(NUMBER_FIELDS)
#: Row fields kept as codes into a label table (None is code 0).
LABEL_FIELDS: tuple[str, ...] = (
    "tradingsymbol", "execution_algo", "route", "queue_priority", "status", "error_bucket",
    "side", "event", "mode", "parent_id", "error", "quote_source",
)


#: The blotter's columns: the v1 telemetry fields in their order, side after the symbol (a
#: trader reads them together), then fill details and identity columns that start hidden.
COLUMNS: tuple[Column, ...] = (
    Column("time", "Time", "ts", Kind.TIME, "00:00:00.000", "When the event happened (IST)"),
    Column("symbol", "Symbol", "tradingsymbol", Kind.LABEL, "NIFTY26D0126500CE",
           "Tradingsymbol"),
    Column("side", "Side", "side", Kind.LABEL, "SELL", "BUY or SELL"),
    Column("algo", "Algo", "execution_algo", Kind.LABEL, "IMMEDIATE",
           "Execution algorithm of the parent"),
    Column("child", "Child", "child_index", Kind.CHILD, "10/10", "Child i of n (n so far)"),
    Column("qty", "Qty", "quantity", Kind.INTEGER, "1,755", "Child quantity (units)"),
    Column("arrival", "Arrival", "arrival_price", Kind.PRICE, "1,234.55",
           "Arrival price: the parent's mid when it was accepted"),
    Column("limit", "Limit", "limit_price", Kind.PRICE, "1,234.55",
           "Child limit price (blank: market)"),
    Column("exp_slip", "Exp slip", "expected_slippage", Kind.RUPEES_PER_UNIT, "+0.025",
           "Expected slippage before sending, rupees per unit (positive = cost)"),
    Column("impact", "Impact", "impact_estimate", Kind.RUPEES_PER_UNIT, "+0.010",
           "Market impact estimate, rupees per unit"),
    Column("real_slip", "Real slip", "realized_slippage", Kind.RUPEES_PER_UNIT, "+0.125",
           "Realized slippage of the fill against the arrival price, rupees per unit "
           "(positive = cost)"),
    Column("route", "Route", "route", Kind.LABEL, "paper", "Route (broker)"),
    Column("queue", "Queue", "queue_priority", Kind.LABEL, "neutral",
           "Queue posture: take (cross the spread), join (rest at the touch), neutral"),
    Column("latency", "Latency ms", "latency_ms", Kind.MILLISECONDS, "1,234.5",
           "Broker round trip of the placement, milliseconds"),
    Column("status", "Status", "status", Kind.LABEL, "part filled",
           "Child status after the event"),
    Column("bucket", "Bucket", "error_bucket", Kind.LABEL, "transient",
           "Error bucket: transient, throttle, risk, fatal"),
    Column("attempt", "Att", "attempt", Kind.INTEGER, "3", "Placement attempt (1 = first try)"),
    Column("event", "Event", "event", Kind.LABEL, "reconciling", "Telemetry event"),
    Column("filled", "Filled", "filled_quantity", Kind.INTEGER, "1,755",
           "Quantity filled by the event"),
    Column("fill_price", "Fill px", "fill_price", Kind.PRICE, "1,234.55", "Fill price"),
    Column("quote", "Quote", "quote_source", Kind.LABEL, "stream",
           "Where the child's price came from: stream (Kite's ticker), rest (one quote call a "
           "second), paper, or ticket (a MARKET order that did not wait for one)", hidden=True),
    Column("quote_age", "Quote ms", "quote_age_ms", Kind.MILLISECONDS, "1,234.5",
           "How old that quote was when the child was priced (never over 2,000 ms)",
           hidden=True),
    Column("mode", "Mode", "mode", Kind.LABEL, "paper", "paper or live", hidden=True),
    Column("parent", "Parent", "parent_id", Kind.LABEL, "Q7XK2M9PLA", "Parent order id",
           hidden=True),
    Column("error", "Error", "error", Kind.LABEL, "Insufficient funds. Required margin",
           "Broker error message", hidden=True),
)
COLUMN_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}


def column(key: str) -> Column:
    return COLUMNS[COLUMN_INDEX[key]]


@dataclass
class ColumnBatch:
    """Child events encoded against a store's label tables (not yet appended)."""

    numbers: dict[str, FloatArray]
    codes: dict[str, CodeArray]
    tables: dict[str, LabelTable]
    size: int
    #: Rows of a child whose order the broker held (it has an order id): its terminal row
    #: ends a placed order, not a slice that never went out. Not stored (the figures use it).
    has_order: BoolArray

    def where(self, field_name: str, *labels: str) -> BoolArray:
        """Mask of the rows whose label field is one of ``labels``."""
        table = self.tables[field_name]
        wanted = [c for c in (table.code(label) for label in labels) if c is not None]
        if not wanted:
            return np.zeros(self.size, np.bool_)
        return np.isin(self.codes[field_name], wanted)

    def labels(self, field_name: str) -> list[str | None]:
        table = self.tables[field_name]
        return [table.labels[c] for c in self.codes[field_name]]


_ALL_FIELDS = NUMBER_FIELDS + LABEL_FIELDS
_EXTRACT = itemgetter(*(ROW_FIELDS.index(name) for name in _ALL_FIELDS))


def _columns(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    """The kept fields of ``events`` as one tuple per field (a C-speed transpose)."""
    if not events:
        return [() for _ in _ALL_FIELDS]
    return list(zip(*map(_EXTRACT, events), strict=True))


_NONE: Any = None  # (typed Any so numpy's ufunc stubs accept the comparison)


def _floats(values: tuple[float | int | None, ...]) -> FloatArray:
    """Numbers with None as NaN (the schema guarantees nothing else is there)."""
    objects = np.array(values, dtype=object)
    objects[np.equal(objects, _NONE)] = np.nan
    return objects.astype(np.float64)


# ---------------------------------------------------------------------------- store

@dataclass(frozen=True, slots=True)
class Appended:
    """Where :meth:`ChildEventStore.append` put a batch."""

    start: int  # first position of the new rows
    stop: int
    dropped: int  # oldest rows removed first to stay within max_rows (positions shifted)


@dataclass
class ExportSnapshot:
    """A copy of the visible rows, safe to write from another thread."""

    columns: tuple[Column, ...]
    numbers: dict[str, FloatArray] = field(default_factory=dict)
    labels: dict[str, list[str | None]] = field(default_factory=dict)
    codes: dict[str, CodeArray] = field(default_factory=dict)
    size: int = 0


class ChildEventStore:
    """Columns of child events, oldest first. Not thread-safe: the GUI thread owns it.

    Rows go in at either end: :meth:`append` for new events, :meth:`prepend` for history read
    backwards (older than every row held). The columns are rings of ``max_rows`` slots
    (memory committed as rows are written): position 0, the oldest row, sits at slot
    ``head``; neither end ever moves the rows held, and dropping the oldest only moves
    ``head``.
    """

    def __init__(self, max_rows: int = 1_000_000) -> None:
        if max_rows < 1:
            raise ValueError("max_rows: must be at least 1")
        self.max_rows = max_rows
        self.tables = {name: LabelTable() for name in LABEL_FIELDS}
        self._size = 0
        self._head = 0  # the slot of position 0
        self._numbers: dict[str, FloatArray] = {
            name: lazy_buffer(max_rows, np.dtype(np.float64)) for name in NUMBER_FIELDS}
        self._codes: dict[str, CodeArray] = {
            name: lazy_buffer(max_rows, np.dtype(np.int32)) for name in LABEL_FIELDS}
        self.dropped_total = 0  # oldest rows dropped to make room for new ones
        self.history_skipped = 0  # history rows not kept: the store was full

    def __len__(self) -> int:
        return self._size

    # ---- writing
    def encode(self, events: Sequence[Event]) -> ColumnBatch:
        """Encode the child events among ``events`` (the others are skipped)."""
        children = [e for e in events if e.event.is_child_event]
        columns = _columns(children)
        numbers = {name: _floats(columns[i]) for i, name in enumerate(NUMBER_FIELDS)}
        offset = len(NUMBER_FIELDS)
        codes = {name: self.tables[name].encode(columns[offset + j])
                 for j, name in enumerate(LABEL_FIELDS)}
        has_order = np.fromiter((e.order_id is not None for e in children), np.bool_,
                                len(children))
        return ColumnBatch(numbers=numbers, codes=codes, tables=self.tables,
                           size=len(children), has_order=has_order)

    def append(self, batch: ColumnBatch) -> Appended:
        """Append an encoded batch of new rows; drops the oldest rows beyond ``max_rows`` (10%
        at a time, so a full store does not drop on every batch)."""
        take = min(batch.size, self.max_rows)
        skip = batch.size - take
        excess = self._size + take - self.max_rows
        dropped = 0
        if excess > 0:
            dropped = min(self._size, excess + self.max_rows // 10)
            self._head = (self._head + dropped) % self.max_rows
            self._size -= dropped
            self.dropped_total += dropped
        start = self._size
        self._write(self._head + start, batch, skip)
        self._size += take
        return Appended(start, self._size, dropped)

    def prepend(self, batch: ColumnBatch) -> int:
        """Put a batch of history rows (older than every row held, in file order) before the
        rows held; returns how many went in (positions of the rows held grew by that much).

        History never pushes newer rows out: when the store is full, the batch's oldest rows
        are not kept (counted in :attr:`history_skipped`), and once any row was dropped or
        skipped no older row is taken (it would leave a gap in time behind it).
        """
        take = 0 if self.dropped_total or self.history_skipped else \
            min(batch.size, self.max_rows - self._size)
        skip = batch.size - take
        self.history_skipped += skip
        if take == 0:
            return 0
        self._head = (self._head - take) % self.max_rows
        self._write(self._head, batch, skip)
        self._size += take
        return take

    def extend(self, events: Sequence[Event]) -> Appended:
        return self.append(self.encode(events))

    def clear(self) -> None:
        self._size = 0

    def _write(self, slot: int, batch: ColumnBatch, skip: int) -> None:
        """The batch's rows from ``skip`` on, into the rings from ``slot`` (wrapping)."""
        count = batch.size - skip
        slot %= self.max_rows
        first = min(count, self.max_rows - slot)  # up to the end of the ring, then from 0
        for rings, values in ((self._numbers, batch.numbers), (self._codes, batch.codes)):
            for name, column in values.items():
                ring = rings[name]
                ring[slot:slot + first] = column[skip:skip + first]
                ring[:count - first] = column[skip + first:]

    def _slots(self, positions: IntArray) -> IntArray:
        slots: IntArray = (positions + self._head) % self.max_rows
        return slots

    def _range(self, ring: npt.NDArray[Any], start: int, stop: int) -> npt.NDArray[Any]:
        """Positions [start, stop) of a ring: a view, or a copy where they wrap."""
        low = (self._head + start) % self.max_rows
        high = low + (stop - start)
        if high <= self.max_rows:
            return ring[low:high]
        return np.concatenate([ring[low:], ring[:high - self.max_rows]])

    # ---- reading one cell or row
    def number(self, name: str, position: int) -> float:
        return float(self._numbers[name][(self._head + position) % self.max_rows])

    def label(self, name: str, position: int) -> str | None:
        slot = (self._head + position) % self.max_rows
        return self.tables[name].labels[int(self._codes[name][slot])]

    def value(self, col: Column, position: int) -> float | str | None:
        """The raw value of a cell: a float (NaN = none) or a label."""
        if col.field in NUMBER_FIELD_SET:
            return self.number(col.field, position)
        return self.label(col.field, position)

    def text(self, col: Column, position: int) -> str:
        """The cell as the blotter shows it."""
        if col.kind is Kind.LABEL:
            return format_label(self.label(col.field, position))
        value = self.number(col.field, position)
        if col.kind is Kind.CHILD:
            if math.isnan(value):
                return ""
            children = self.number("children", position)
            return f"{int(value)}/{int(children)}" if not math.isnan(children) else str(value)
        return format_number(col.kind, value)

    def row(self, position: int) -> dict[str, Any]:
        """The stored fields of one row (numbers as float or None)."""
        out: dict[str, Any] = {}
        for name in NUMBER_FIELDS:
            v = self.number(name, position)
            out[name] = None if math.isnan(v) else v
        for name in LABEL_FIELDS:
            out[name] = self.label(name, position)
        return out

    def labels_seen(self, name: str) -> list[str]:
        """Every label the field has had, sorted (for filter choices)."""
        return sorted(label for label in self.tables[name].labels if label is not None)

    # ---- filter and sort
    def mask(self, flt: RowFilter, start: int = 0, stop: int | None = None) -> BoolArray:
        stop = self._size if stop is None else stop
        return filter_mask(flt, self.tables,
                           lambda name: self._range(self._codes[name], start, stop),
                           stop - start)

    def positions(self, flt: RowFilter, start: int = 0, stop: int | None = None) -> IntArray:
        """Positions in ``[start, stop)`` that pass the filter, oldest first."""
        stop = self._size if stop is None else stop
        if flt.is_empty:
            return np.arange(start, stop, dtype=np.int64)
        return np.flatnonzero(self.mask(flt, start, stop)).astype(np.int64) + start

    def sort_key(self, col: Column, positions: IntArray, descending: bool) -> FloatArray:
        """Key whose ascending order is the display order (blanks always last).

        Ties keep arrival order (ascending) or its reverse (descending): see :meth:`order`.
        """
        if col.kind is Kind.LABEL:
            key = self.tables[col.field].rank()[self._codes[col.field][self._slots(positions)]]
            blank = np.isinf(key)
        else:
            key = self._numbers[col.field][self._slots(positions)]
            blank = np.isnan(key)
        return display_key(key, blank, descending)

    def order(self, col: Column, positions: IntArray, descending: bool) -> IntArray:
        """``positions`` in display order for a sort on ``col``."""
        return in_display_order(positions, self.sort_key(col, positions, descending),
                                descending)

    # ---- export
    def snapshot(self, positions: IntArray, columns: Sequence[Column]) -> ExportSnapshot:
        snap = ExportSnapshot(columns=tuple(columns), size=len(positions))
        slots = self._slots(positions)
        for col in columns:
            if col.field in NUMBER_FIELD_SET:
                snap.numbers[col.field] = self._numbers[col.field][slots]
            else:
                snap.codes[col.field] = self._codes[col.field][slots]
                snap.labels[col.field] = list(self.tables[col.field].labels)
        if any(c.kind is Kind.CHILD for c in columns):
            snap.numbers["children"] = self._numbers["children"][slots]
        return snap


def csv_cell(col: Column, snap: ExportSnapshot, i: int) -> str:
    """A CSV cell: ISO time, plain numbers (no thousands separators), raw labels."""
    if col.field in snap.codes:
        label = snap.labels[col.field][snap.codes[col.field][i]]
        return "" if label is None else label
    value = float(snap.numbers[col.field][i])
    if math.isnan(value):
        return ""
    if col.kind is Kind.TIME:
        return dt.datetime.fromtimestamp(value, IST).isoformat(timespec="milliseconds")
    if col.kind is Kind.CHILD:
        children = float(snap.numbers["children"][i])
        return f"{int(value)}/{int(children)}" if not math.isnan(children) else f"{int(value)}"
    if col.kind is Kind.INTEGER:
        return str(int(value))
    return repr(value)


def write_csv(path: str | os.PathLike[str], snap: ExportSnapshot) -> int:
    """Write the snapshot as CSV (header = column titles); returns the number of rows.

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    target = os.fspath(path)
    tmp = target + ".part"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([c.title for c in snap.columns])
        for i in range(snap.size):
            writer.writerow([csv_cell(c, snap, i) for c in snap.columns])
    os.replace(tmp, target)
    return snap.size
