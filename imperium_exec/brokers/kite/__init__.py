"""Zerodha Kite Connect: everything the stack knows about Kite lives here.

``broker`` (:class:`KiteBroker`, the adapter around a ready ``kiteconnect.KiteConnect``),
``codec`` (the ticker's binary packets), ``ticker`` (the WebSocket client), ``stream`` (the
ticker on the engine's loop: quotes and order updates).
"""

from .broker import KiteBroker

__all__ = ["KiteBroker"]
