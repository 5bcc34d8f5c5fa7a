"""RetryPolicy: classify broker failures into buckets and decide whether and when to try again.

Buckets (v1): ``transient`` (network, timeouts, 5xx), ``throttle`` (rate limits), ``risk``
(margin / RMS / freeze / circuit: the order itself is unacceptable) and ``fatal`` (everything
else: bad session, bad parameters). Risk and fatal never retry.

Orthogonal to the bucket is ``ambiguous``: the request may have reached the broker (read timeout
after sending, 5xx, gateway HTML, Kite's "Order request timed out" even on a 400). The engine must
then look the child's tag up in the order book before sending anything again; Kite has no
idempotency key, so this reconcile step is what prevents a double placement.

Classification works by exception class *name*, ``code`` and message text, so kiteconnect's
exceptions, requests' transport errors and this project's own broker errors (which reuse Kite's
class names) all classify the same way without importing either library here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .events import ErrorBucket


@dataclass(frozen=True, slots=True)
class ErrorClass:
    bucket: ErrorBucket
    ambiguous: bool  # the order may exist at the broker: reconcile by tag before retrying
    reason: str  # short, for telemetry and the trader


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    max_retries: int  # retries after the first attempt
    base_delay_s: float
    max_delay_s: float


def _default_policies() -> dict[ErrorBucket, BucketPolicy]:
    return {
        ErrorBucket.TRANSIENT: BucketPolicy(max_retries=3, base_delay_s=0.25, max_delay_s=2.0),
        # Kite counts order requests per calendar second: waiting less than a second is useless.
        ErrorBucket.THROTTLE: BucketPolicy(max_retries=5, base_delay_s=1.0, max_delay_s=8.0),
        ErrorBucket.RISK: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
        ErrorBucket.FATAL: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
    }


_RISK_TEXT = (
    "insufficient funds", "margin", "rms", "holding", "freeze", "maximum quantity",
    "circuit", "price band", "lpp", "price range", "lot size", "multiple of lot",
)
#: Kite's "Order request timed out. Please check the order book and confirm before placing
#: again." Not "check the orderbook" alone: margin rejections end "Check the orderbook for open
#: orders." and are risk, not ambiguity.
_AMBIGUOUS_TEXT = ("timed out", "confirm before placing")
_TRANSPORT_NEVER_SENT = ("ConnectTimeout", "NewConnectionError")
#: requests wraps a refused connection in a plain ConnectionError; only its text says the
#: request never left this machine.
_NEVER_SENT_TEXT = ("newconnectionerror", "failed to establish a new connection",
                    "connection refused")
_TRANSPORT_MAYBE_SENT = ("ReadTimeout", "Timeout", "ConnectionError", "ChunkedEncodingError",
                         "RemoteDisconnected", "ProtocolError")


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


@dataclass
class RetryPolicy:
    """Per-bucket retry limits and exponential backoff with jitter."""

    policies: dict[ErrorBucket, BucketPolicy] = field(default_factory=_default_policies)
    jitter: float = 0.25  # +/- fraction of the delay
    #: How long to look for an ambiguous order in the order book before re-sending.
    reconcile_window_s: float = 10.0
    reconcile_interval_s: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0x5EED))

    def classify(self, exc: BaseException) -> ErrorClass:
        names = _type_names(exc)
        text = _message(exc)
        lower = text.lower()
        code = getattr(exc, "code", None)
        ambiguous_text = any(t in lower for t in _AMBIGUOUS_TEXT)

        if "OrderLimitReached" in names:  # our own budget: the day's 5,000 writes are used up
            return ErrorClass(ErrorBucket.FATAL, False, "daily order limit reached")
        if "BrokerTimeout" in names:
            sent = bool(getattr(exc, "sent", True))
            return ErrorClass(ErrorBucket.TRANSIENT, sent, "timeout after sending" if sent
                              else "timeout before sending")
        if names & set(_TRANSPORT_NEVER_SENT) or any(t in lower for t in _NEVER_SENT_TEXT):
            return ErrorClass(ErrorBucket.TRANSIENT, False, "connection not established")
        if "NetworkException" in names:
            # The daily cap may come with HTTP 429 too: its text decides, before the code.
            if "maximum allowed order requests" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "daily order limit reached")
            if "maximum allowed order modifications" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "modification limit reached")
            if code == 429 or "too many requests" in lower:
                return ErrorClass(ErrorBucket.THROTTLE, False, "rate limited")
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker network error")
        if "DataException" in names:
            return ErrorClass(ErrorBucket.TRANSIENT, True, "unreadable broker response")
        if ambiguous_text:
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker timed out; order may exist")
        if names & {"TokenException", "PermissionException"}:
            return ErrorClass(ErrorBucket.FATAL, False, "session or permission")
        if names & {"InputException", "GeneralException", "OrderException"}:
            if any(t in lower for t in _RISK_TEXT):
                return ErrorClass(ErrorBucket.RISK, False, "risk check")
            if "GeneralException" in names and isinstance(code, int) and code >= 500:
                return ErrorClass(ErrorBucket.TRANSIENT, True, "broker server error")
            return ErrorClass(ErrorBucket.FATAL, False, "order refused")
        if names & set(_TRANSPORT_MAYBE_SENT) or isinstance(exc, TimeoutError | ConnectionError):
            return ErrorClass(ErrorBucket.TRANSIENT, True, "transport error; order may exist")
        if isinstance(code, int) and code >= 500:
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker server error")
        return ErrorClass(ErrorBucket.FATAL, False, "unexpected error")

    def classify_rejection(self, status_message: str | None) -> ErrorClass:
        """Classify an asynchronous REJECTED order by its status message."""
        lower = (status_message or "").lower()
        if any(t in lower for t in _RISK_TEXT):
            return ErrorClass(ErrorBucket.RISK, False, "rejected by risk check")
        return ErrorClass(ErrorBucket.FATAL, False, "rejected")

    def allows_retry(self, error: ErrorClass, retries_so_far: int) -> bool:
        return retries_so_far < self.policies[error.bucket].max_retries

    def backoff_s(self, bucket: ErrorBucket, retries_so_far: int) -> float:
        """Delay before retry number ``retries_so_far + 1``: exponential, capped, jittered."""
        policy = self.policies[bucket]
        delay = min(policy.max_delay_s, policy.base_delay_s * (2.0 ** retries_so_far))
        spread = delay * self.jitter
        return max(0.0, delay + self.rng.uniform(-spread, spread))


def is_session_expired(exc: BaseException) -> bool:
    """The broker session is gone (Kite's ``TokenException``): every further request fails
    until the trader logs in again."""
    return "TokenException" in _type_names(exc)


def is_throttle(exc: BaseException) -> bool:
    """The broker refused the request for its rate (HTTP 429), not the day's order cap."""
    names = _type_names(exc)
    lower = _message(exc).lower()
    if "maximum allowed order" in lower:
        return False
    return ("NetworkException" in names and getattr(exc, "code", None) == 429) \
        or "too many requests" in lower


def cancel_refused_as_ended(exc: BaseException) -> bool:
    """A cancel refused because the order already ended (Kite: "Order cannot be cancelled as it
    is complete."), as opposed to one refused for now ("being processed. Try later.")."""
    text = _message(exc).lower()
    return any(f"it is {state}" in text for state in ("complete", "cancelled", "rejected"))
