"""The event row: one dict per state change, and the only record of what happened.

The same row is appended to the JSONL telemetry file, emitted as the Qt signal payload, and used
to resolve the caller's handle: telemetry, signal and journal are one thing. Every row carries
every field (``None`` where it does not apply), so readers never need ``.get`` guesswork, and
the v1 field names are kept as they were.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class EventKind(StrEnum):
    # parent events
    ACCEPTED = "accepted"  # plan made, nothing sent yet
    WARNING = "warning"  # pre-trade warning (e.g. POV horizon too short for the order)
    PAUSED = "paused"
    RESUMED = "resumed"
    FINISHED = "finished"  # terminal: status is filled / partial / cancelled / failed
    # child events
    PLACED = "placed"  # broker accepted the order (status placed)
    RETRY = "retry"  # an attempt failed and another will follow after backoff
    RECONCILED = "reconciled"  # an ambiguous outcome was resolved against the order book
    ERROR = "error"  # terminal: the child could not be placed
    FILLED = "filled"  # a fill increment (status partially_filled or filled)
    CANCELLED = "cancelled"  # terminal: unfilled quantity returned to the parent
    REJECTED = "rejected"  # terminal: the exchange/RMS rejected a placed order
    GHOST = "ghost"  # a late order from an earlier attempt's tag turned up and was handled
    # account events (no parent: parent_id is "")
    SESSION = "session"  # the broker session is gone: re-login needed, nothing more is sent


class ParentStatus(StrEnum):
    WORKING = "working"
    PAUSED = "paused"
    FILLED = "filled"  # all quantity filled
    PARTIAL = "partial"  # ended with some quantity unfilled (window over, POV could not fit)
    CANCELLED = "cancelled"  # the trader cancelled it
    FAILED = "failed"  # a child hit a risk or fatal error (or exhausted its retries)


#: Field order of every row. v1 fields first, then the fields v1 left as future work.
ROW_FIELDS: tuple[str, ...] = (
    # v1
    "timestamp", "tradingsymbol", "execution_algo", "child_index", "children", "quantity",
    "arrival_price", "limit_price", "expected_slippage", "impact_estimate", "route",
    "queue_priority", "latency_ms", "status", "error_bucket", "error", "attempt",
    # identity and schema
    "v", "event", "ts", "mode", "parent_id", "child_id", "tag", "order_id",
    # order and parent context
    "exchange", "side", "order_type", "execution_urgency", "parent_quantity",
    "parent_filled_quantity", "send_at", "mid_at_send", "expected_cost_bps", "ambiguous",
    # fills
    "filled_quantity", "fill_price", "realized_slippage", "realized_slippage_bps",
    "average_price", "message",
    # market data the child was priced from: where the quote came from, how old it was
    "quote_source", "quote_age_ms",
)

def make_row(**fields: Any) -> dict[str, Any]:
    """A complete row: every field of :data:`ROW_FIELDS`, unset ones as ``None``.

    Raises ``KeyError`` for a field that is not in the schema, so a misspelt field fails loudly
    in tests instead of silently adding a column.
    """
    unknown = set(fields) - set(ROW_FIELDS)
    if unknown:
        raise KeyError(f"not telemetry fields: {sorted(unknown)}")
    row = dict.fromkeys(ROW_FIELDS)
    row.update(fields)
    row["v"] = SCHEMA_VERSION
    return row
