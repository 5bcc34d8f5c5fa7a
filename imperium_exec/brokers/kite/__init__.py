"""Zerodha Kite Connect: everything the stack knows about Kite lives here.

``broker`` (:class:`KiteBroker`, the adapter around a ready ``kiteconnect.KiteConnect``),
``errors`` (Kite's failures in the engine's terms), ``codec`` (the ticker's binary packets),
``ticker`` (the WebSocket client), ``stream`` (the ticker on the engine's loop: quotes and
order updates). ``KiteBroker`` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .broker import KiteBroker

__all__ = ["KiteBroker"]


def __getattr__(name: str) -> Any:
    if name == "KiteBroker":
        from .broker import KiteBroker

        return KiteBroker
    raise AttributeError(f"module 'imperium_exec.brokers.kite' has no attribute {name!r}")
