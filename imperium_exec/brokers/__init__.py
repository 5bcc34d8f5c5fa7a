"""Brokers the engine can drive: the paper exchange (the default) and a minimal in-memory one.

The Kite Connect adapter (``KiteBroker``) is its own piece of work and not here yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Broker, BrokerOrder, OrderInstruction, OrderStatus, Quote
from .memory import InMemoryBroker

if TYPE_CHECKING:
    from .paper import PaperBroker

__all__ = [
    "Broker",
    "BrokerOrder",
    "InMemoryBroker",
    "OrderInstruction",
    "OrderStatus",
    "PaperBroker",
    "Quote",
]


def __getattr__(name: str) -> Any:
    if name == "PaperBroker":
        from .paper import PaperBroker

        return PaperBroker
    raise AttributeError(f"module 'imperium_exec.brokers' has no attribute {name!r}")
