"""What happened and to what: the kinds of event and the statuses a row carries."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened (the ``event`` field)."""

    # parent events
    ACCEPTED = "accepted"  # plan made, nothing sent yet
    WARNING = "warning"  # pre-trade warning (e.g. POV horizon too short for the order)
    PAUSED = "paused"
    RESUMED = "resumed"
    FINISHED = "finished"  # terminal: status is filled / partial / cancelled / failed
    # child events
    PLACED = "placed"  # broker accepted the order (status placed)
    RETRY = "retry"  # an attempt failed and another will follow after backoff
    #: An ambiguous attempt (it may have reached the broker): the engine looks its tag up in the
    #: order book before anything is re-sent. Not terminal; the child's next row (reconciled,
    #: retry or error, same tag) ends the wait. Since schema version 2.
    RECONCILING = "reconciling"
    RECONCILED = "reconciled"  # an ambiguous outcome was resolved against the order book
    ERROR = "error"  # terminal: the child could not be placed (or its outcome is unknown)
    FILLED = "filled"  # a fill increment (status partially_filled or filled)
    CANCELLED = "cancelled"  # terminal: unfilled quantity returned to the parent
    REJECTED = "rejected"  # terminal: the exchange/RMS rejected a placed order
    GHOST = "ghost"  # a late order from an earlier attempt's tag turned up and was handled
    #: The child's resting order was re-priced in place (the broker's modify): same order id,
    #: tag and attempt, the new limit price and quantity (the order's new total) on the row;
    #: status placed. Not terminal, not a placement. Since schema version 7.
    MODIFIED = "modified"
    #: The mid some seconds after a fill (markout_s), against the fill: adverse selection.
    #: One row per fill and horizon, written when due; the fill's row is never rewritten.
    #: Since schema version 3.
    MARKOUT = "markout"
    # basket events (parent_id is "", basket_id names the basket; its legs are parents whose
    # rows carry the same basket_id). Since schema version 3.
    BASKET_ACCEPTED = "basket_accepted"  # the legs, their roles and the order they go in
    BASKET_FINISHED = "basket_finished"  # terminal: filled / partial (stopped) / cancelled / failed
    # account events (no parent: parent_id is "")
    SESSION = "session"  # the broker session is gone: re-login needed, nothing more is sent

    @property
    def is_child_event(self) -> bool:
        """Events about one child order (the blotter's rows); the rest are about a parent or
        the account."""
        return self in _CHILD_EVENTS

    @property
    def ends_child(self) -> bool:
        """The child's terminal row (a complete fill is the other way a child ends)."""
        return self in (EventKind.ERROR, EventKind.CANCELLED, EventKind.REJECTED)


_CHILD_EVENTS = frozenset({
    EventKind.PLACED, EventKind.RETRY, EventKind.RECONCILING, EventKind.RECONCILED,
    EventKind.ERROR, EventKind.FILLED, EventKind.CANCELLED, EventKind.REJECTED, EventKind.GHOST,
    EventKind.MODIFIED,
})


class ParentStatus(StrEnum):
    """A parent's state (the ``status`` of its parent rows, and of its result)."""

    WORKING = "working"
    PAUSED = "paused"
    FILLED = "filled"  # all quantity filled
    PARTIAL = "partial"  # ended with some quantity unfilled (window over, POV could not fit)
    CANCELLED = "cancelled"  # the trader cancelled it
    FAILED = "failed"  # a child hit a risk or fatal error (or exhausted its retries)


#: The message of a parent's ``paused`` row when a lost session halted it (not the trader's
#: pause: it cannot be resumed, only cancelled or adopted after a new login).
HALTED_PREFIX = "halted: "


class ChildStatus(StrEnum):
    """A child's state in the engine (and in the result's children)."""

    SCHEDULED = "scheduled"
    WORKING = "working"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ERROR = "error"
    UNKNOWN = "unknown"  # the engine stopped before learning whether an attempt was placed

    @property
    def is_terminal(self) -> bool:
        return self not in (ChildStatus.SCHEDULED, ChildStatus.WORKING)


class Status(StrEnum):
    """The ``status`` field: the parent's state on parent rows, the child's on child rows."""

    # parent rows (the values of ParentStatus)
    WORKING = "working"
    PAUSED = "paused"
    PARTIAL = "partial"
    FAILED = "failed"
    # child rows (filled and cancelled also end parents)
    PLACED = "placed"  # resting at the broker (also on a reconciled row: the order was found)
    RETRY = "retry"  # waiting out a backoff before the next attempt
    RECONCILING = "reconciling"  # its order may exist: looking its tag up in the order book
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ERROR = "error"  # never placed
    UNKNOWN = "unknown"  # the engine ended before learning an attempt's outcome
    # ghost rows: the late order's state at the broker, or that it never turned up
    PENDING = "pending"
    OPEN = "open"
    COMPLETE = "complete"
    NOT_PLACED = "not_placed"
    # session rows
    RELOGIN_NEEDED = "relogin_needed"


class ErrorBucket(StrEnum):
    """How an error is retried (the ``error_bucket`` field)."""

    TRANSIENT = "transient"  # network, 5xx, timeouts: reconcile if ambiguous, then retry
    THROTTLE = "throttle"  # 429 / rate limit: back off about a second, retry
    RISK = "risk"  # margin, price band, RMS: never retried, the parent fails
    FATAL = "fatal"  # token, permission, bad input: never retried


class QueuePriority(StrEnum):
    """Where a child sits in the book (the ``queue_priority`` field)."""

    TAKE = "take"  # cross the spread
    JOIN = "join"  # rest at our side's touch
    NEUTRAL = "neutral"  # at the mid, rounded to the tick


class QuoteSource(StrEnum):
    """Where the quote a child was priced from came from (the ``quote_source`` field)."""

    STREAM = "stream"  # Kite's ticker WebSocket
    REST = "rest"  # Kite's GET /quote
    PAPER = "paper"  # the in-process exchange's own book
    TICKET = "ticket"  # the bid/ask the desk sent with the order (never used to price a child)
