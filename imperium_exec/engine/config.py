"""The engine's tunables (:class:`EngineConfig`) and its one exception of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..risk import RiskLimits
from .markouts import HORIZONS_S
from .rate_budget import AccountRateLimits


class SessionExpired(RuntimeError):
    """The broker session is gone: nothing can be sent until the trader logs in again."""


@dataclass(frozen=True)
class EngineConfig:
    #: Broker requests in flight at once (the worker pool's size; a request only takes a
    #: worker once the rate budget granted it, so this bounds concurrency, not throughput).
    broker_threads: int = 16
    #: Order-book read interval while orders work and no stream carries order updates.
    poll_interval_s: float = 0.5
    #: Safety-net order-book read interval while the stream is up.
    stream_poll_interval_s: float = 5.0
    #: Smallest gap between two order-book reads, however many parents ask (shutdown's
    #: last read waits for it too).
    min_read_gap_s: float = 0.2
    #: How long to wait for a cancel to show as terminal before giving up on that child.
    cancel_timeout_s: float = 5.0
    #: How long an ambiguous attempt's tag is watched for a late order after it was re-sent.
    late_order_watch_s: float = 900.0
    #: The oldest quote a child may be priced from.
    max_quote_age_s: float = 2.0
    #: How long a child waits for a fresh quote before it is given up (not sent).
    quote_wait_s: float = 10.0
    #: A MARKET child still resting this long (Kite's market protection turns it into a limit
    #: at the band) is cancelled; the rest goes back to the parent.
    market_rest_s: float = 5.0
    #: Re-price a resting child (a scheduled algorithm's slice boundary) by one modify where
    #: the broker offers it (``BrokerCapabilities.modify_order``); False: by a cancel and a new
    #: order (two writes), as before.
    modify_resting: bool = True
    #: Modifications of an order's allowance (Kite: 25) kept unused: at the limit less this,
    #: the next re-price cancels the order and places a new one (whose allowance is fresh).
    modify_headroom: int = 1
    #: Override the broker's own rate limits (``broker.rate_limits``), e.g. in benchmarks.
    rate_limits: AccountRateLimits | None = None
    #: Seed for parent ids (tests and benchmarks); None draws them from the OS.
    id_seed: int | None = None
    #: Seconds after each fill at which its markout row is written (1, 5, 60); () for none.
    markout_horizons_s: tuple[float, ...] = HORIZONS_S
    #: The pre-trade limits every parent is checked against before anything is sent.
    risk_limits: RiskLimits = field(default_factory=RiskLimits)
