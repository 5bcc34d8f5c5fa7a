"""Brokers the engine can drive: the paper exchange (the default), Kite Connect (``KiteBroker``)
and a minimal in-memory one. ``PaperBroker`` and ``KiteBroker`` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Broker, BrokerOrder, OrderInstruction, OrderStatus, Quote
from .memory import InMemoryBroker

if TYPE_CHECKING:
    from .kite.broker import KiteBroker
    from .paper.broker import PaperBroker

__all__ = [
    "Broker",
    "BrokerOrder",
    "InMemoryBroker",
    "KiteBroker",
    "OrderInstruction",
    "OrderStatus",
    "PaperBroker",
    "Quote",
]


def __getattr__(name: str) -> Any:
    if name == "PaperBroker":
        from .paper.broker import PaperBroker

        return PaperBroker
    if name == "KiteBroker":
        from .kite.broker import KiteBroker

        return KiteBroker
    raise AttributeError(f"module 'imperium_exec.brokers' has no attribute {name!r}")
