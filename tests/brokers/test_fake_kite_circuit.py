"""The day's price range on the fake Kite server: a limit outside the circuit limits its quote
shows is refused with Kite's LPP text (placed or modified to), and the broker's refusal lands in
the retry policy's risk bucket: the order itself is unacceptable, never re-sent."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fake_kite_support import SYMBOL
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.events import ErrorBucket
from imperium_exec.request import OrderType, Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.testing import FakeKiteServer

OUTSIDE = "Price exceeds circuit limits for the instrument"


def limit_buy(price: float) -> OrderInstruction:
    return OrderInstruction(tradingsymbol=SYMBOL, exchange="NFO", side=Side.BUY, quantity=65,
                            order_type=OrderType.LIMIT, limit_price=price, product="NRML",
                            validity="DAY", tag="LPP1", tick_size=0.05)


def test_a_sell_above_the_upper_circuit_is_refused_and_at_it_is_taken(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    upper = kite.quote([f"NFO:{SYMBOL}"])[f"NFO:{SYMBOL}"]["upper_circuit_limit"]
    assert upper == pytest.approx(301.5)  # three times the ask, on the tick grid
    broker = KiteBroker(kite, ticker_root=None)
    sell = replace(limit_buy(upper), side=Side.SELL)
    assert broker.place_order(sell)
    with pytest.raises(kex.InputException, match=OUTSIDE) as refused:
        broker.place_order(replace(sell, limit_price=round(upper + 0.05, 2)))
    error = RetryPolicy().classify(refused.value)
    assert error.bucket is ErrorBucket.RISK and not error.ambiguous
    assert len(server.recorded_orders()) == 1


def test_a_modification_outside_the_range_is_refused_and_the_order_keeps_its_price(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    broker = KiteBroker(kite, ticker_root=None)
    order_id = broker.place_order(limit_buy(99.0))
    with pytest.raises(kex.InputException, match=OUTSIDE):
        kite.modify_order(variety="regular", order_id=order_id, price=150.0)
    order = server.order(order_id)
    assert (order["status"], order["price"]) == ("OPEN", 99.0)


def test_a_limit_through_the_price_protection_band_is_refused_inside_the_days_range(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    """Kite refuses a limit beyond NSE's limit price protection (above 50: +/- 40 % of the
    reference) with its circuit text even inside the day's range its quote shows: a buy at 150
    on an option at 100.25 (band high 140.35), a sell at 55 (band low 60.15). A passive
    limit far from the touch on its own side rests."""
    broker = KiteBroker(kite, ticker_root=None)
    assert broker.place_order(limit_buy(140.35))
    with pytest.raises(kex.InputException, match=OUTSIDE):
        broker.place_order(limit_buy(150.0))
    sell = replace(limit_buy(55.0), side=Side.SELL)
    with pytest.raises(kex.InputException, match=OUTSIDE):
        broker.place_order(sell)
    assert broker.place_order(limit_buy(20.0))  # a buy far below: passive, taken
    assert broker.place_order(replace(sell, limit_price=250.0))
    assert len(server.recorded_orders()) == 3
