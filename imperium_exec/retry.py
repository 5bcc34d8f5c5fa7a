"""RetryPolicy: classify broker failures into buckets and decide whether and when to try again.

Buckets (v1): ``transient`` (network, timeouts, 5xx), ``throttle`` (rate limits), ``risk``
(margin / RMS / freeze / circuit: the order itself is unacceptable) and ``fatal`` (everything
else: bad session, bad parameters). Risk and fatal never retry.

Orthogonal to the bucket is ``ambiguous``: the request may have reached the broker (read timeout
after sending, any 5xx, an answer that is not the broker's own such as a gateway's HTML or an
empty body, Kite's "Order request timed out" even on a 400). The engine must then look the
child's tag up in the order book before sending anything again; Kite has no idempotency key, so
this reconcile step is what prevents a double placement.

What a broker's exceptions mean is the broker's own knowledge: each declares its dialect
(:class:`~.brokers.errors.BrokerErrors`, in its capabilities) and the engine hands it to the
policy. The policy itself knows only what every broker shares: the account's own order budget,
a :class:`~.brokers.errors.BrokerTimeout`, Python's transport errors and HTTP 5xx codes. Its
default dialect is Kite's, the broker the desk trades through.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .brokers.errors import BrokerErrors, BrokerTimeout, ErrorClass
from .brokers.kite.errors import KITE_ERRORS
from .engine.rate_budget import OrderLimitReached
from .events import ErrorBucket

#: The dialect used where none is declared (a policy or gateway built on its own): Kite's,
#: the broker the desk trades through.
DEFAULT_BROKER_ERRORS: BrokerErrors = KITE_ERRORS


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


@dataclass
class RetryPolicy:
    """Per-bucket retry limits and exponential backoff with jitter."""

    policies: dict[ErrorBucket, BucketPolicy] = field(default_factory=_default_policies)
    jitter: float = 0.25  # +/- fraction of the delay
    #: How long to look for an ambiguous order in the order book before re-sending.
    reconcile_window_s: float = 10.0
    reconcile_interval_s: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0x5EED))
    #: How the broker's failures read (its declared dialect; the engine sets it).
    errors: BrokerErrors = DEFAULT_BROKER_ERRORS

    def classify(self, exc: BaseException) -> ErrorClass:
        if isinstance(exc, OrderLimitReached):  # our own budget: the day's writes are used up
            return ErrorClass(ErrorBucket.FATAL, False, "daily order limit reached")
        if isinstance(exc, BrokerTimeout):
            return ErrorClass(ErrorBucket.TRANSIENT, exc.sent, "timeout after sending"
                              if exc.sent else "timeout before sending")
        known = self.errors.classify(exc)
        if known is not None:
            return known
        if isinstance(exc, ConnectionRefusedError):
            return ErrorClass(ErrorBucket.TRANSIENT, False, "connection not established")
        if isinstance(exc, TimeoutError | ConnectionError):
            return ErrorClass(ErrorBucket.TRANSIENT, True, "transport error; order may exist")
        code = getattr(exc, "code", None)
        if isinstance(code, int) and code >= 500:
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker server error")
        return ErrorClass(ErrorBucket.FATAL, False, "unexpected error")

    def classify_rejection(self, status_message: str | None) -> ErrorClass:
        """Classify an asynchronous REJECTED order by its status message."""
        return self.errors.classify_rejection(status_message)

    def allows_retry(self, error: ErrorClass, retries_so_far: int) -> bool:
        return retries_so_far < self.policies[error.bucket].max_retries

    def backoff_s(self, bucket: ErrorBucket, retries_so_far: int) -> float:
        """Delay before retry number ``retries_so_far + 1``: exponential, capped, jittered."""
        policy = self.policies[bucket]
        delay = min(policy.max_delay_s, policy.base_delay_s * (2.0 ** retries_so_far))
        spread = delay * self.jitter
        return max(0.0, delay + self.rng.uniform(-spread, spread))
