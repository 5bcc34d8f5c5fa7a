"""The fake Kite server's own tests share these: one option quoted at 100.00 / 100.50 (last
100.25), the real client on the server, and an order's states as its history shows them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from kiteconnect import KiteConnect

from imperium_exec.testing import FakeKiteServer

SYMBOL = "NIFTY26D0125000CE"
HEADERS = {"Authorization": "token k:t", "X-Kite-Version": "3"}


@contextmanager
def quoted_server() -> Iterator[FakeKiteServer]:
    with FakeKiteServer() as server:
        server.set_quote(SYMBOL, bid=100.0, ask=100.5, ltp=100.25)
        yield server


def client(server: FakeKiteServer) -> KiteConnect:
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)


def statuses(server: FakeKiteServer, order_id: str) -> list[str]:
    """The order's states, oldest first (``GET /orders/{id}``)."""
    reply = requests.get(f"{server.root}/orders/{order_id}", headers=HEADERS, timeout=2)
    return [row["status"] for row in reply.json()["data"]]
