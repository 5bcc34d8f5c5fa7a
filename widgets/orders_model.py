"""OrderBook: one row per child order, its latest state and its fills, from child events.

The blotter shows child *events*: a placed row and a fill row of one child look like two orders.
The book folds them into one row per child order, keyed by ``(parent_id, child_index)``: a retried
child keeps its key (each attempt is a new tag, not a new order of the parent), and the row
shows the latest state (placed, partially filled, then filled / cancelled / rejected / error),
the quantity filled, the average fill price and the realized slippage over its fills, and how
many placement attempts it took.

Events may arrive in any order (the dock reads a journal's history newest first while live
rows arrive), so every figure is one that does not depend on the order:

- the state is the event that is latest by ``(ts, terminal, attempt, status, event)``: the
  latest timestamp wins, a terminal state wins over a non-terminal one at the same timestamp,
  then a later attempt, then the state further along (placed before partially filled before
  filled), then the event (reconciled before its placed row);
- fills are summed: each event arrives once (:class:`~.feed.TelemetryFeed` delivers every
  journal row once: history and live tail split at one byte offset, and a stack's signal for
  a row its history also holds is dropped there). The book keeps no record of each fill: at a
  million rows such a record costs ~60 MB and, as a dict, stalls the GUI ~30 ms whenever it
  grows;
- the attempts are the highest attempt seen, the send time is the slice's ``send_at`` (the same
  on every event of the child) once a row other than its cancellation carried it, else the
  earliest timestamp seen (a slice never sent shows when it was given up).

A fill row's ``filled_quantity`` is the increment of that fill; a terminal row's is the child's
total, which the book does not add (it would count the fills twice). A ``ghost`` row is about
an earlier attempt's late order of the same child: it never changes the state, but its fills
are this child's fills and are counted (the engine counts them into the parent too). One
ghost row ends a doubt, though: when the child's shown state is ``unknown`` (its last attempt's
outcome was not known) and the watch of that attempt's tag says it never turned up
(``not_placed``), the order is shown not placed.

Rows live in numpy columns (a journal of a million events holds ~400,000 child orders) with a
dict from key to row; a batch updates rows in place and says which rows are new and which
changed, so a view's cost is what changed. Its columns are :class:`~.table_model.Column` (the
shared column description). No Qt here: :mod:`.orders_view` shows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..events import ChildStatus, Event, EventKind, Status
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

_SHARDS = 64
_SHARD_MASK = _SHARDS - 1

#: ``"<parent_id>/<child_index>"``: a string, so the dict of a million keys holds atomic
#: values only and the garbage collector leaves it out of its passes (tuple keys kept it in).
OrderKey = str

#: The child's engine state for each status a child row carries (retry: waiting to re-send).
CHILD_STATE: dict[Status, ChildStatus] = {
    Status.RETRY: ChildStatus.SCHEDULED,
    # Its order may exist: the engine is looking its tag up in the order book.
    Status.RECONCILING: ChildStatus.SCHEDULED,
    Status.PLACED: ChildStatus.WORKING,
    Status.PARTIALLY_FILLED: ChildStatus.WORKING,
    Status.FILLED: ChildStatus.FILLED,
    Status.CANCELLED: ChildStatus.CANCELLED,
    Status.REJECTED: ChildStatus.REJECTED,
    Status.ERROR: ChildStatus.ERROR,
    Status.UNKNOWN: ChildStatus.UNKNOWN,
    # An unknown attempt's tag never turned up (a ghost row's verdict): nothing was placed.
    Status.NOT_PLACED: ChildStatus.ERROR,
}
#: How far along a state is: at one timestamp and attempt, the state further along is the
#: later one (a fill's placed row and the fill can share a timestamp under a virtual clock).
_PROGRESS: dict[Status, int] = {status: i for i, status in enumerate(CHILD_STATE)}
#: Then the event (a reconciled row comes before its placed row, both status placed), so
#: that which row is shown never depends on which arrived first.
_EVENT_ORDER: dict[EventKind, int] = {kind: i for i, kind in enumerate((
    EventKind.RETRY, EventKind.RECONCILING, EventKind.RECONCILED, EventKind.PLACED,
    EventKind.MODIFIED, EventKind.FILLED,
    EventKind.CANCELLED, EventKind.REJECTED, EventKind.ERROR))}
#: The attempt's bits in a state's rank.
_ATTEMPT_MASK = (1 << 32) - 1
#: The precedence of a (status, event) state, less its attempt (bits 8-39): terminal first,
#: then (after the attempt) progress, then the event. Ghost rows are not states of the child.
_RANK_BASE: dict[tuple[Status | None, EventKind], int] = {
    (status, kind): (int(CHILD_STATE[status].is_terminal) << 40) + (_PROGRESS[status] << 4)
    + order for status in CHILD_STATE for kind, order in _EVENT_ORDER.items()}

#: Fields kept as float64 (NaN = none). ``fill_value`` etc. are the sums behind the averages.
NUMBER_FIELDS: tuple[str, ...] = (
    "sent", "updated", "child_index", "children", "quantity", "filled", "attempts",
    "limit_price", "arrival_price", "expected_cost_bps", "fill_value", "priced_quantity",
    "slippage_value", "slippage_quantity", "late_filled",
)
#: Fields kept as codes into a label table (None is code 0).
LABEL_FIELDS: tuple[str, ...] = (
    "status", "tradingsymbol", "side", "execution_algo", "mode", "parent_id", "error_bucket",
    "error", "event",
)
#: Figures computed from the sums when shown (and sorted).
DERIVED_FIELDS: tuple[str, ...] = ("average_price", "slippage_bps")


#: The orders view's columns. Shown by default: what fits a 600-px dock with Status in it and
#: room for a scroll bar (tests/widgets/test_orders_view.py measures it in the desk's dock);
#: the rest (child i/n, quantity, algo, attempts, ...) are a right-click on the header away,
#: and a row's tooltip names its parent and child.
ORDER_COLUMNS: tuple[Column, ...] = (
    Column("sent", "Time", "sent", Kind.CLOCK, "00:00:00",
           "When the child's slice was due to go out (IST)"),
    Column("symbol", "Symbol", "tradingsymbol", Kind.LABEL, "NIFTY26D0126500CE",
           "Tradingsymbol"),
    Column("side", "Side", "side", Kind.LABEL, "SELL", "BUY or SELL"),
    Column("child", "Child", "child_index", Kind.CHILD, "10/10",
           "Child i of n (n so far)", hidden=True),
    Column("status", "Status", "status", Kind.LABEL, "reconciling",
           "The child order's latest state"),
    Column("filled", "Filled", "filled", Kind.FILLED, "1,755/1,755",
           "Quantity filled so far of the child's quantity (units)"),
    Column("avg", "Avg px", "average_price", Kind.PRICE, "1,234.55",
           "Average fill price, quantity-weighted over the child's fills"),
    Column("slip", "Slip bps", "slippage_bps", Kind.BPS, "+12.5",
           "Realized slippage in bps of the arrival price, quantity-weighted over the "
           "fills (positive = cost)"),
    Column("qty", "Qty", "quantity", Kind.INTEGER, "1,755", "Child quantity (units)",
          hidden=True),
    Column("algo", "Algo", "execution_algo", Kind.LABEL, "IMMEDIATE",
           "Execution algorithm of the parent", hidden=True),
    Column("attempts", "Att", "attempts", Kind.INTEGER, "3",
           "Placement attempts (1 = placed at the first try)", hidden=True),
    Column("updated", "Updated", "updated", Kind.TIME, "00:00:00.000",
           "When the latest state was reached (IST)", hidden=True),
    Column("limit", "Limit", "limit_price", Kind.PRICE, "1,234.55",
           "Limit price of the latest attempt (blank: market)", hidden=True),
    Column("arrival", "Arrival", "arrival_price", Kind.PRICE, "1,234.55",
           "Arrival price: the parent's mid when it first had a price", hidden=True),
    Column("exp_bps", "Exp bps", "expected_cost_bps", Kind.BPS, "+12.5",
           "Expected cost in bps of the arrival price, before sending", hidden=True),
    Column("bucket", "Bucket", "error_bucket", Kind.LABEL, "transient",
           "Error bucket of the latest state: transient, throttle, risk, fatal",
          hidden=True),
    Column("error", "Error", "error", Kind.LABEL, "Insufficient funds. Required margin",
           "Broker error of the latest state", hidden=True),
    Column("parent", "Parent", "parent_id", Kind.LABEL, "Q7XK2M9PLA",
           "Parent order id", hidden=True),
    Column("mode", "Mode", "mode", Kind.LABEL, "paper", "paper or live", hidden=True),
)
ORDER_COLUMN_INDEX = {c.key: i for i, c in enumerate(ORDER_COLUMNS)}


#: How the view writes each state (short enough for the Status column's default width).
STATUS_TEXT: dict[str | None, str] = {
    None: "", **{status.value: format_label(status.value) for status in CHILD_STATE},
    Status.PARTIALLY_FILLED.value: "part filled",
}


@dataclass(frozen=True, slots=True)
class OrderChanges:
    """What a batch did to the book: rows added, and existing rows whose figures changed."""

    added: IntArray
    changed: IntArray

    @property
    def empty(self) -> bool:
        return not len(self.added) and not len(self.changed)


_EMPTY = np.empty(0, np.int64)


class OrderBook:
    """Child orders in columns, one row per ``(parent_id, child_index)``; rows never move.

    Not thread-safe: the GUI thread owns it."""

    #: Rows the columns hold before they first grow (a copy of every column: ~100 ms at
    #: 600,000 rows). Free until used: memory is committed only where rows are written.
    INITIAL_ROWS = 1_000_000

    def __init__(self, tables: Mapping[str, LabelTable] | None = None) -> None:
        """``tables``: label tables to share (the dock passes its event store's: one dict of
        parent ids, not two growing in step; codes never change, so sharing is safe)."""
        shared = tables or {}
        self.tables = {name: shared.get(name) or LabelTable() for name in LABEL_FIELDS}
        self._codes_of = {name: table.codes for name, table in self.tables.items()}
        self.version = 0
        self.clear()

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        # Key -> row, in 64 dicts by the key's hash: a dict grows by rebuilding itself, which
        # at 700,000 keys stalls ~30 ms; a 64th of that is under a millisecond.
        self._rows: list[dict[OrderKey, int]] = [{} for _ in range(_SHARDS)]
        self._size = 0
        self._capacity = 0
        self._filled = 0  # rows below this hold starting values (or are in use)
        self._numbers: dict[str, FloatArray] = {}
        self._codes: dict[str, CodeArray] = {}
        # Precedence of the shown state: (ts, terminal, attempt, progress); and of the
        # latest attempt's pricing (limit and expected cost): (attempt, ts).
        self._state_ts = np.empty(0, np.float64)
        self._state_rank = np.empty(0, np.int64)  # terminal, attempt, progress, event: bits
        self._priced_rank = np.empty(0, np.int64)
        self._priced_ts = np.empty(0, np.float64)
        self._has_send_at = np.empty(0, np.bool_)
        self.fill_events = 0
        self.version += 1
        self._grow(self.INITIAL_ROWS)

    # ------------------------------------------------------------------ writing
    def apply(self, events: Sequence[Event]) -> OrderChanges:
        """Fold a batch of events (any order, any kind: others are skipped) into the rows."""
        start = self._size
        touched: set[int] = set()
        for e in events:
            if e.child_index is None or not e.parent_id or not e.event.is_child_event:
                continue
            key = f"{e.parent_id}/{e.child_index}"
            row = self._rows[hash(key) & _SHARD_MASK].get(key)
            if row is None:
                row = self._add(key, e.child_index, e)
            if self._apply_one(row, e):
                touched.add(row)
        if self._size == start and not touched:
            return OrderChanges(_EMPTY, _EMPTY)
        self.version += 1
        added = np.arange(start, self._size, dtype=np.int64)
        changed = np.array(sorted(r for r in touched if r < start), np.int64)
        return OrderChanges(added, changed)

    def _add(self, key: OrderKey, child_index: int, e: Event) -> int:
        if self._size == self._capacity:
            self._grow(max(4096, self._capacity * 2))
        if self._size == self._filled:
            self._fill_block()
        row = self._size
        self._size += 1
        self._rows[hash(key) & _SHARD_MASK][key] = row
        n = self._numbers
        n["child_index"][row] = child_index
        n["quantity"][row] = np.nan if e.quantity is None else e.quantity
        n["arrival_price"][row] = np.nan if e.arrival_price is None else e.arrival_price
        n["sent"][row] = e.ts
        for name, value in (("tradingsymbol", e.tradingsymbol), ("side", e.side),
                            ("execution_algo", e.execution_algo), ("mode", e.mode),
                            ("parent_id", e.parent_id)):
            self._codes[name][row] = self._code(name, value)
        return row

    def _apply_one(self, row: int, e: Event) -> bool:
        """Fold one event into ``row``; True when a shown figure changed. (The hot path of
        a journal's load: plain comparisons, few array accesses.)"""
        n = self._numbers
        kind = e.event
        changed = False
        # A slice's time is its send_at, once it went out; one never sent (its only row the
        # cancellation) shows when it was given up, not a scheduled time still to come.
        if e.send_at is not None and kind is not EventKind.CANCELLED:
            if not self._has_send_at[row]:
                self._has_send_at[row] = True
                n["sent"][row] = e.send_at
                changed = True
        elif e.ts < n["sent"][row] and not self._has_send_at[row]:
            n["sent"][row] = e.ts
            changed = True
        if e.children is not None and not e.children <= n["children"][row]:  # NaN: none yet
            n["children"][row] = e.children
            changed = True
        attempt = e.attempt or 0
        if e.attempt is not None and not attempt <= n["attempts"][row]:
            n["attempts"][row] = attempt
            changed = True
        if e.filled_quantity and (kind is EventKind.FILLED or kind is EventKind.GHOST):
            changed = self._count_fill(row, e) or changed
        if kind is EventKind.MODIFIED and e.quantity is not None \
                and e.quantity != n["quantity"][row]:  # re-priced in place: its new total
            n["quantity"][row] = e.quantity
            changed = True
        base = _RANK_BASE.get((e.status, kind))  # None: a ghost row, or no state of its own
        if base is None:
            return self._settle_unknown(row, e, attempt) or changed
        if e.limit_price is not None or e.expected_cost_bps is not None:
            priced_attempt = self._priced_rank[row]
            if attempt > priced_attempt or (attempt == priced_attempt
                                            and e.ts >= self._priced_ts[row]):
                self._priced_rank[row], self._priced_ts[row] = attempt, e.ts
                limit = np.nan if e.limit_price is None else e.limit_price
                cost = np.nan if e.expected_cost_bps is None else e.expected_cost_bps
                if not (_same(n["limit_price"][row], limit)
                        and _same(n["expected_cost_bps"][row], cost)):
                    n["limit_price"][row], n["expected_cost_bps"][row] = limit, cost
                    changed = True
        rank = base + (attempt << 8)
        shown_ts = self._state_ts[row]
        if e.ts < shown_ts or (e.ts == shown_ts and rank <= self._state_rank[row]):
            return changed
        self._state_ts[row], self._state_rank[row] = e.ts, rank
        n["updated"][row] = e.ts
        codes, code = self._codes, self._code
        codes["status"][row] = code("status", e.status)
        codes["event"][row] = code("event", kind)
        codes["error_bucket"][row] = code("error_bucket", e.error_bucket)
        codes["error"][row] = code("error", e.error)
        return True

    def _settle_unknown(self, row: int, e: Event, attempt: int) -> bool:
        """A ghost row saying the attempt the shown ``unknown`` state is about placed no
        order: the order is shown not placed (its watch ended: nothing is at the broker)."""
        codes = self._codes
        if not (e.event is EventKind.GHOST and e.status is Status.NOT_PLACED
                and codes["status"][row] == self._code("status", Status.UNKNOWN)
                and (self._state_rank[row] >> 8) & _ATTEMPT_MASK == attempt):
            return False
        codes["status"][row] = self._code("status", Status.NOT_PLACED)
        self._numbers["updated"][row] = max(self._numbers["updated"][row], e.ts)
        return True

    def _count_fill(self, row: int, e: Event) -> bool:
        self.fill_events += 1
        n = self._numbers
        quantity = float(e.filled_quantity or 0)
        n["filled"][row] += quantity
        if e.event is EventKind.GHOST:
            n["late_filled"][row] += quantity
        if e.fill_price is not None:
            n["fill_value"][row] += quantity * e.fill_price
            n["priced_quantity"][row] += quantity
        if e.realized_slippage_bps is not None:
            n["slippage_value"][row] += quantity * e.realized_slippage_bps
            n["slippage_quantity"][row] += quantity
        return True

    def _code(self, name: str, value: str | None) -> int:
        code = self._codes_of[name].get(value)
        return int(self.tables[name].encode([value])[0]) if code is None else code

    def reserve(self, orders: int) -> None:
        """Room for ``orders`` rows (an estimate, e.g. from a journal's size), so a long load
        does not copy the columns as it grows. Free until used: buffer memory is committed
        only where rows are written."""
        if orders > self._capacity:
            self._grow(orders)

    def _columns(self) -> list[tuple[npt.NDArray[Any], Any]]:
        """Every per-row array with the value a new row starts from."""
        zero_fields = {"filled", "fill_value", "priced_quantity", "slippage_value",
                       "slippage_quantity", "late_filled"}
        return [*((self._numbers[name], 0.0 if name in zero_fields else np.nan)
                  for name in NUMBER_FIELDS),
                *((self._codes[name], 0) for name in LABEL_FIELDS),
                (self._state_ts, -np.inf), (self._state_rank, -1), (self._priced_rank, -1),
                (self._priced_ts, -np.inf), (self._has_send_at, False)]

    def _grow(self, capacity: int) -> None:
        """New buffers of ``capacity`` rows holding the rows so far (the rest is filled with
        starting values a block at a time, as rows are added: see :meth:`_add`)."""
        size = self._size

        def grown(old: npt.NDArray[Any] | None, dtype: Any) -> npt.NDArray[Any]:
            new = lazy_buffer(capacity, np.dtype(dtype))
            if old is not None:
                new[:size] = old[:size]
            return new

        for name in NUMBER_FIELDS:
            self._numbers[name] = grown(self._numbers.get(name), np.float64)
        for name in LABEL_FIELDS:
            self._codes[name] = grown(self._codes.get(name), np.int32)
        self._state_ts = grown(self._state_ts, np.float64)
        self._state_rank = grown(self._state_rank, np.int64)
        self._priced_rank = grown(self._priced_rank, np.int64)
        self._priced_ts = grown(self._priced_ts, np.float64)
        self._has_send_at = grown(self._has_send_at, np.bool_)
        self._capacity = capacity
        self._filled = size

    def _fill_block(self) -> None:
        """Starting values for the next block of rows to be added."""
        start, stop = self._filled, min(self._capacity, self._filled + 4096)
        for array, value in self._columns():
            array[start:stop] = value
        self._filled = stop

    # ------------------------------------------------------------------ reading
    def numbers(self, name: str, rows: IntArray | None = None) -> FloatArray:
        """A number field (or a derived one) of ``rows`` (all rows when None)."""
        where: Any = slice(0, self._size) if rows is None else rows
        n = self._numbers
        if name == "average_price":
            return _ratio(n["fill_value"][where], n["priced_quantity"][where])
        if name == "slippage_bps":
            return _ratio(n["slippage_value"][where], n["slippage_quantity"][where])
        values: FloatArray = n[name][where]
        return values

    def number(self, name: str, row: int) -> float:
        n = self._numbers
        if name == "average_price":
            return _one_ratio(n["fill_value"][row], n["priced_quantity"][row])
        if name == "slippage_bps":
            return _one_ratio(n["slippage_value"][row], n["slippage_quantity"][row])
        return float(n[name][row])

    def codes(self, name: str, rows: IntArray | None = None) -> CodeArray:
        return self._codes[name][:self._size] if rows is None else self._codes[name][rows]

    def label(self, name: str, row: int) -> str | None:
        return self.tables[name].labels[int(self._codes[name][row])]

    def row(self, row: int) -> dict[str, Any]:
        """The shown fields of one order (numbers as float or None)."""
        out: dict[str, Any] = {}
        for name in NUMBER_FIELDS + DERIVED_FIELDS:
            v = self.number(name, row)
            out[name] = None if math.isnan(v) else v
        for name in LABEL_FIELDS:
            out[name] = self.label(name, row)
        return out

    def row_of(self, parent_id: str, child_index: int) -> int | None:
        key = f"{parent_id}/{int(child_index)}"
        return self._rows[hash(key) & _SHARD_MASK].get(key)

    def is_open(self, row: int) -> bool:
        """Not in a terminal state (placed, partially filled, or waiting to re-send)."""
        status = self.label("status", row)
        return status is not None and not CHILD_STATE[Status(status)].is_terminal

    def open_count(self) -> int:
        table = self.tables["status"]
        open_codes = [c for s in CHILD_STATE if not CHILD_STATE[s].is_terminal
                      if (c := table.code(s)) is not None]
        return int(np.isin(self.codes("status"), open_codes).sum())

    def text(self, col: Column, row: int) -> str:
        """The cell as the orders view shows it."""
        if col.kind is Kind.LABEL:
            label = self.label(col.field, row)
            if col.field == "status":
                return STATUS_TEXT.get(label) or format_label(label)
            return format_label(label)
        value = self.number(col.field, row)
        if math.isnan(value):
            return ""
        if col.kind is Kind.CHILD:
            children = self.number("children", row)
            return f"{int(value)}/{int(children)}" if not math.isnan(children) \
                else str(int(value))
        if col.kind is Kind.FILLED:
            quantity = self.number("quantity", row)
            return f"{int(value):,}/{int(quantity):,}" if not math.isnan(quantity) \
                else f"{int(value):,}"
        return format_number(col.kind, value)

    def value(self, col: Column, row: int) -> float | str | None:
        if col.kind is Kind.LABEL:
            return self.label(col.field, row)
        return self.number(col.field, row)

    def matches(self, flt: RowFilter, rows: IntArray | None = None) -> BoolArray:
        """Which of ``rows`` (all when None) pass the blotter's filter (symbol, algo,
        status, mode, parent)."""
        size = self._size if rows is None else len(rows)
        return filter_mask(flt, self.tables, lambda name: self.codes(name, rows), size)

    def sort_key(self, col: Column, rows: IntArray, descending: bool) -> FloatArray:
        """Key whose ascending order is the display order (blanks always last)."""
        if col.kind is Kind.LABEL:
            key = self.tables[col.field].rank()[self._codes[col.field][rows]]
            blank = np.isinf(key)
        else:
            key = np.array(self.numbers(col.field, rows), np.float64)
            blank = np.isnan(key)
        return display_key(key, blank, descending)

    def order(self, col: Column, rows: IntArray, descending: bool) -> IntArray:
        """``rows`` in display order; ties newest row first (descending) or oldest first."""
        return in_display_order(rows, self.sort_key(col, rows, descending), descending)


def _same(a: float, b: float) -> bool:
    return bool(a == b or (a != a and b != b))  # NaN is none: none is the same as none


def _ratio(total: FloatArray, weight: FloatArray) -> FloatArray:
    out = np.full(len(total), np.nan)
    np.divide(total, weight, out=out, where=weight > 0)
    return out


def _one_ratio(total: float, weight: float) -> float:
    return float(total / weight) if weight > 0 else math.nan


__all__ = [
    "CHILD_STATE", "ORDER_COLUMNS", "ORDER_COLUMN_INDEX", "STATUS_TEXT", "OrderBook",
    "OrderChanges", "OrderKey",
]
