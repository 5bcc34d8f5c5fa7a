"""Test doubles that live in the package so tests, benchmarks and the desk demo share them.

:class:`FakeKiteServer` is a local Kite Connect REST server (127.0.0.1 only) that the real
``kiteconnect`` client talks to, with Kite's envelope, errors, rate limits and fault injection.
"""

from __future__ import annotations

from .fake_kite import (
    DEFAULT_INSTRUMENTS,
    ORDER_TIMED_OUT,
    BodyShape,
    FakeInstrument,
    FakeKiteServer,
    Fault,
    RateLimits,
    RecordedRequest,
    nifty_strip,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "ORDER_TIMED_OUT",
    "BodyShape",
    "FakeInstrument",
    "FakeKiteServer",
    "Fault",
    "RateLimits",
    "RecordedRequest",
    "nifty_strip",
]
