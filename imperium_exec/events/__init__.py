"""The event schema: every state change is one :class:`Event`, and its row is the only record.

The engine builds an :class:`Event` for each thing that happens; :meth:`Event.to_row` turns it
into the row that is appended to the JSONL journal and emitted as the Qt signal payload, so the
journal, the signal and the caller's handle tell one story. :func:`read_event` turns a row back
into a typed event: the dock, the desk and restart recovery read rows through it, never by
re-spelling field names and status strings.

A row in memory (the signal payload) carries every field (``None`` where it does not apply) in
:data:`ROW_FIELDS` order. Its journal line, from version 8 on, is compact
(:func:`compact_row`): it leaves out the nulls and the fields a reader rebuilds from the row
itself; :func:`read_event` reads it as it is and :func:`full_row` gives the whole row back.
The v1 field names are kept as they were; rows written before ``v`` existed (the v1 desk's
telemetry) still read: their event is inferred from their status.

Versions: 2 added the ``reconciling`` event (and its status); its rows have the same fields as
version 1, so a v1 row is a v2 row that never says ``reconciling``, and both read alike. 3 added
the basket and markout events and the fields from ``prior_impact`` to ``markout_bps``; 4 the
estimate's inputs (``participation``, ``horizon_s``, ``book_walk``), so the slippage model can
be refitted from the journal (:mod:`~.calibration.slippage_fit`), and the market's traded volume
in the child's quote (``day_volume``, ``session_s``), so the volume curve can be
(:mod:`~.calibration.volume_fit`), and the underlying index's price when a parent was accepted
(``underlying_price``), for the moneyness breakdown of :mod:`imperium_exec.tca`; 6 the slippage
fit a parent's estimates use, on its accepted row (``slippage_fit``), so a cost can be traced to
the fit that estimated it; 7 the ``modified`` event; 8 compact journal lines (no nulls, and no
``timestamp``, ``child_id``, ``tag``, implied ``status``, a parent row's ``quantity`` and
``filled_quantity`` or realized slippage where the row's other fields rebuild them:
:mod:`.compact`), and markout rows that carry the fill and the mid but not the parent's order
and the child's estimate again.
"""

from .compact import compact_row, full_row
from .kinds import (
    HALTED_PREFIX,
    ChildStatus,
    ErrorBucket,
    EventKind,
    ParentStatus,
    QueuePriority,
    QuoteSource,
    Status,
)
from .reading import SchemaError, read_event
from .schema import (
    FIELD_TYPES,
    FIELDS_SINCE,
    READABLE_VERSIONS,
    ROW_FIELDS,
    SCHEMA_VERSION,
    Event,
    schema_table,
)

__all__ = [
    "FIELDS_SINCE", "FIELD_TYPES", "HALTED_PREFIX", "READABLE_VERSIONS", "ROW_FIELDS",
    "SCHEMA_VERSION",
    "ChildStatus", "ErrorBucket", "Event", "EventKind", "ParentStatus", "QueuePriority",
    "QuoteSource", "SchemaError", "Status", "compact_row", "full_row", "read_event",
    "schema_table",
]
