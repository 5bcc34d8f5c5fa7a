"""After-market orders on the fake Kite server as Kite runs them: an ``amo`` order waits in AMO
REQ RECEIVED until the session opens, and cancelled before then it ends CANCELLED AMO; the
broker reads the first as pending (not at the exchange yet) and the second as cancelled."""

from __future__ import annotations

import pytest
from fake_kite_support import SYMBOL, statuses
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import OrderStatus
from imperium_exec.testing import FakeKiteServer


def after_market_buy(kite: KiteConnect, price: float) -> str:
    return str(kite.place_order(variety="amo", exchange="NFO", tradingsymbol=SYMBOL,
                                transaction_type="BUY", quantity=65, product="NRML",
                                order_type="LIMIT", price=price, validity="DAY", tag="AMO1"))



def test_an_after_market_order_waits_for_the_open_then_trades_like_any_other(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = after_market_buy(kite, 101.0)  # through the ask: it would trade at once
    assert server.order(order_id)["status"] == "AMO REQ RECEIVED"
    assert server.order(order_id)["filled_quantity"] == 0
    (order,) = KiteBroker(kite, ticker_root=None).orders()
    assert order.status is OrderStatus.PENDING and order.pending_quantity == 65
    server.open_market()
    order_row = server.order(order_id)
    assert (order_row["status"], order_row["filled_quantity"]) == ("COMPLETE", 65)
    assert statuses(server, order_id) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING",
                                          "AMO REQ RECEIVED", "OPEN PENDING", "OPEN",
                                          "COMPLETE"]


def test_an_after_market_order_cancelled_before_the_open_ends_cancelled_amo(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = after_market_buy(kite, 101.0)
    broker = KiteBroker(kite, ticker_root=None)
    broker.cancel_order(order_id)
    assert statuses(server, order_id)[-1] == "CANCELLED AMO"
    (order,) = broker.orders()
    assert order.status is OrderStatus.CANCELLED and order.filled_quantity == 0
    server.open_market()  # it does not come back
    assert server.order(order_id)["status"] == "CANCELLED AMO"


@pytest.mark.parametrize("variety", ["co", "iceberg"])
def test_a_variety_the_fake_does_not_run_is_refused_naming_it(
        kite: KiteConnect, variety: str) -> None:
    with pytest.raises(kex.InputException, match=f"Invalid `variety` '{variety}'"):
        kite.place_order(variety=variety, exchange="NFO", tradingsymbol=SYMBOL,
                         transaction_type="BUY", quantity=65, product="NRML",
                         order_type="LIMIT", price=100.0, validity="DAY")
