"""The fake Kite server's tests: by default one option quoted at 100.00 / 100.50 and the real
client on it (tests/fake_kite_support.py). A module that needs another server (a clock of
its own, more instruments) defines its own ``server`` and ``kite``, which take precedence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_kite_support import client, quoted_server
from kiteconnect import KiteConnect

from imperium_exec.testing import FakeKiteServer


@pytest.fixture
def server() -> Iterator[FakeKiteServer]:
    with quoted_server() as srv:
        yield srv


@pytest.fixture
def kite(server: FakeKiteServer) -> KiteConnect:
    return client(server)
