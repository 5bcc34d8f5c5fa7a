"""The day's price range on the fake Kite server: a limit outside the circuit limits its quote
shows is refused with Kite's LPP text (placed or modified to), and the broker's refusal lands in
the retry policy's risk bucket: the order itself is unacceptable, never re-sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.events import ErrorBucket
from imperium_exec.request import OrderType, Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.testing import FakeKiteServer

SYMBOL = "NIFTY26D0125000CE"
OUTSIDE = "Price exceeds circuit limits for the instrument"


@pytest.fixture
def server() -> Iterator[FakeKiteServer]:
    with FakeKiteServer() as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5, ltp=100.25)
        yield srv


@pytest.fixture
def kite(server: FakeKiteServer) -> KiteConnect:
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)


def limit_buy(price: float) -> OrderInstruction:
    return OrderInstruction(tradingsymbol=SYMBOL, exchange="NFO", side=Side.BUY, quantity=65,
                            order_type=OrderType.LIMIT, limit_price=price, product="NRML",
                            validity="DAY", tag="LPP1", tick_size=0.05)


def test_a_limit_at_the_upper_circuit_is_taken_and_one_tick_above_is_refused(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    upper = kite.quote([f"NFO:{SYMBOL}"])[f"NFO:{SYMBOL}"]["upper_circuit_limit"]
    assert upper == pytest.approx(301.5)  # three times the ask, on the tick grid
    broker = KiteBroker(kite, ticker_root=None)
    assert broker.place_order(limit_buy(upper))
    with pytest.raises(kex.InputException, match=OUTSIDE) as refused:
        broker.place_order(limit_buy(round(upper + 0.05, 2)))
    error = RetryPolicy().classify(refused.value)
    assert error.bucket is ErrorBucket.RISK and not error.ambiguous
    assert len(server.recorded_orders()) == 1


def test_a_modification_outside_the_range_is_refused_and_the_order_keeps_its_price(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    broker = KiteBroker(kite, ticker_root=None)
    order_id = broker.place_order(limit_buy(99.0))
    with pytest.raises(kex.InputException, match=OUTSIDE):
        kite.modify_order(variety="regular", order_id=order_id, price=400.0)
    order = server.order(order_id)
    assert (order["status"], order["price"]) == ("OPEN", 99.0)
