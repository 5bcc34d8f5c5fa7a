"""Stop orders on the fake Kite server as Kite runs them: SL and SL-M wait TRIGGER PENDING until
the last price reaches the trigger, then work as a LIMIT or a MARKET order; Kite's checks on the
trigger are 400 InputExceptions."""

from __future__ import annotations

from typing import Any

import pytest
from fake_kite_support import SYMBOL, statuses
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import OrderStatus
from imperium_exec.testing import FakeKiteServer


def stop(kite: KiteConnect, **fields: Any) -> str:
    params: dict[str, Any] = dict(variety="regular", exchange="NFO", tradingsymbol=SYMBOL,
                                  transaction_type="BUY", quantity=65, product="NRML",
                                  order_type="SL", price=103.0, trigger_price=102.0,
                                  validity="DAY", tag="STOP1")
    params.update(fields)
    return str(kite.place_order(**params))



def test_a_buy_stop_waits_trigger_pending_then_fills_at_its_limit_once_the_price_reaches_it(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = stop(kite)
    assert server.order(order_id)["status"] == "TRIGGER PENDING"
    assert server.order(order_id)["trigger_price"] == 102.0
    server.set_quote(SYMBOL, bid=101.5, ask=102.5, ltp=101.9)  # below the trigger: waits
    assert server.order(order_id)["status"] == "TRIGGER PENDING"
    server.set_quote(SYMBOL, bid=102.0, ask=102.5, ltp=102.1)  # triggered: buys up to 103
    order = server.order(order_id)
    assert (order["status"], order["filled_quantity"], order["average_price"]) == \
        ("COMPLETE", 65, 102.5)
    assert statuses(server, order_id)[-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_a_sell_stop_market_fills_at_the_bid_once_the_price_falls_to_its_trigger(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = stop(kite, transaction_type="SELL", order_type="SL-M", price=None,
                    trigger_price=98.0, market_protection=-1)
    assert server.order(order_id)["status"] == "TRIGGER PENDING"
    server.set_quote(SYMBOL, bid=97.5, ask=98.0, ltp=97.9)
    order = server.order(order_id)
    assert (order["status"], order["average_price"]) == ("COMPLETE", 97.5)


@pytest.mark.parametrize(("fields", "text"), [
    (dict(trigger_price=100.0), "higher than the last traded price"),
    (dict(trigger_price=104.0), "less than or equal to the price"),
    (dict(transaction_type="SELL", price=97.0, trigger_price=101.0),
     "lower than the last traded price"),
    (dict(transaction_type="SELL", price=99.0, trigger_price=98.0),
     "greater than or equal to the price"),
])
def test_a_trigger_on_the_wrong_side_is_refused_as_kite_refuses_it(
        kite: KiteConnect, fields: dict[str, Any], text: str) -> None:
    with pytest.raises(kex.InputException, match=text):
        stop(kite, **fields)


def test_the_broker_reads_a_trigger_pending_stop_as_working_and_can_cancel_it(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = stop(kite)
    broker = KiteBroker(kite, ticker_root=None)
    (order,) = broker.orders()
    assert order.status is OrderStatus.OPEN and not order.status.is_terminal
    broker.cancel_order(order_id)
    assert server.order(order_id)["status"] == "CANCELLED"
