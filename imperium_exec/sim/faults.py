"""Seeded latency and faults for order requests, and the exceptions the engine then sees.

Each ``place_order`` draws one plan (a fault kind and a latency) from its own stream, so turning
faults on never changes the market's path, and the same sequence of calls always meets the same
faults. What each fault looks like to the engine, mirroring the Kite client:

===================  =============================================  ========================
fault                raised                                         order in the book?
===================  =============================================  ========================
timeout_before_send  BrokerTimeout(sent=False) (ConnectTimeout)     no
ghost                BrokerTimeout(sent=True) (ReadTimeout)         yes, at once
server_error         NetworkException 503                           no
gateway_error        DataException 502 (HTML body)                  no
delayed_order        GeneralException 400 "Order request timed out" yes, ``delayed_order_s`` on
stuck_pending        nothing: the order id comes back               yes, PENDING for a while
===================  =============================================  ========================
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from ..brokers.errors import (
    BrokerError,
    BrokerTimeout,
    DataException,
    GeneralException,
    NetworkException,
)
from .config import FaultConfig, FaultKind

ORDER_TIMED_OUT = ("Order request timed out. Please check the order book and confirm before "
                   "placing again.")


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """What will happen to one order request."""

    fault: FaultKind
    latency_s: float


class FaultInjector:
    """Draws request plans: scripted faults first, then by configured rates."""

    def __init__(self, cfg: FaultConfig, seed: int) -> None:
        self.cfg = cfg
        self._rng = random.Random(seed * 1_000_003 + 0xFA17)
        self._script: deque[FaultKind] = deque(cfg.script)
        self._rates = [(kind, rate) for kind, rate in cfg.rates().items() if rate > 0]

    def plan(self) -> RequestPlan:
        u = self._rng.random()  # always drawn, so scripted faults do not shift later draws
        latency = self.latency_s()
        if self._script:
            return RequestPlan(self._script.popleft(), latency)
        for kind, rate in self._rates:
            if u < rate:
                return RequestPlan(kind, latency)
            u -= rate
        return RequestPlan(FaultKind.NONE, latency)

    def latency_s(self) -> float:
        """One draw of the one-way latency in seconds (lognormal around the median)."""
        lat = self.cfg.latency
        z = self._rng.gauss(0.0, 1.0)
        if lat.median_ms <= 0:
            return 0.0
        return min(lat.max_ms, lat.median_ms * math.exp(lat.sigma * z)) / 1000.0


def fault_error(kind: FaultKind) -> BrokerError:
    """The exception a request meeting ``kind`` raises (for kinds that raise)."""
    if kind is FaultKind.TIMEOUT_BEFORE_SEND:
        return BrokerTimeout("Connection to the broker timed out (connect timeout); the order "
                             "was not sent.", sent=False)
    if kind is FaultKind.GHOST:
        return BrokerTimeout("Read timed out waiting for the broker; the order may have been "
                             "placed: check the order book before placing again.", sent=True)
    if kind is FaultKind.SERVER_ERROR:
        return NetworkException("Request failed (kitetrade-oms): service unavailable.", code=503)
    if kind is FaultKind.GATEWAY_ERROR:
        return DataException("Unknown Content-Type (text/html) with response: (<html><body><h1>"
                             "502 Bad Gateway</h1></body></html>)", code=502)
    if kind is FaultKind.DELAYED_ORDER:
        return GeneralException(ORDER_TIMED_OUT, code=400)
    raise ValueError(f"fault {kind} does not raise")
