"""The fake Kite server as Kite behaves around a resting order, through the real kiteconnect
client: modify (``PUT``) with Kite's rules and texts, the status sequences of a partial fill,
a modification and a pending cancel (order history and the ticker's postbacks), and the order
margins route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from test_fake_kite import ManualClock

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import ModifyInstruction, OrderInstruction
from imperium_exec.brokers.kite.ticker import KiteTickerClient
from imperium_exec.request import OrderType, Side
from imperium_exec.testing import FakeKiteServer, Fault, RateLimits
from imperium_exec.testing.fake_kite import (
    MODIFICATIONS_EXCEEDED,
    MODIFY_BEING_PROCESSED,
    nifty_strip,
)

SYMBOL = "NIFTY26D0125000CE"
HEADERS = {"Authorization": "token k:t", "X-Kite-Version": "3"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> Iterator[FakeKiteServer]:
    with FakeKiteServer(clock=clock) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        yield srv


@pytest.fixture
def kite(server: FakeKiteServer) -> KiteConnect:
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=0.5)


def place(kite: KiteConnect, **overrides: Any) -> str:
    params: dict[str, Any] = dict(variety="regular", exchange="NFO", tradingsymbol=SYMBOL,
                                  transaction_type="BUY", quantity=65, product="NRML",
                                  order_type="LIMIT", price=99.0, validity="DAY", tag="T1")
    params.update(overrides)
    return str(kite.place_order(**params))


def history(server: FakeKiteServer, order_id: str) -> list[dict[str, Any]]:
    """GET /orders/{id} as raw JSON (the statuses and the values at each)."""
    reply = requests.get(f"{server.root}/orders/{order_id}", headers=HEADERS, timeout=2)
    data: list[dict[str, Any]] = reply.json()["data"]
    return data


# ------------------------------------------------------------------ modify


def test_modify_changes_price_and_quantity_keeping_the_id_and_tag_in_kites_states(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = place(kite)
    assert kite.modify_order(variety="regular", order_id=order_id, quantity=130,
                             price=99.5) == order_id
    (sent,) = server.requests_to("modify")
    assert (sent.method, sent.path) == ("PUT", f"/orders/regular/{order_id}")
    assert sent.form == {"variety": "regular", "order_id": order_id, "quantity": "130",
                         "price": "99.5"}
    (order,) = kite.orders()
    assert (order["order_id"], order["tag"], order["status"], order["quantity"],
            order["price"], order["pending_quantity"], order["modified"]) == \
        (order_id, "T1", "OPEN", 130, 99.5, 130, True)
    states = history(server, order_id)
    assert [h["status"] for h in states] == [
        "PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN",
        "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]
    # As in Kite's order history: the new terms show from the OPEN after MODIFIED.
    assert [(h["price"], h["quantity"]) for h in states[-2:]] == [(99.0, 65), (99.5, 130)]


def test_a_modified_price_through_the_touch_fills_at_once(server: FakeKiteServer,
                                                         kite: KiteConnect) -> None:
    order_id = place(kite)
    kite.modify_order(variety="regular", order_id=order_id, price=100.5)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["average_price"]) == \
        ("COMPLETE", 65, 100.5)


def test_modify_to_a_protected_market_order_and_its_checks(server: FakeKiteServer,
                                                           kite: KiteConnect) -> None:
    order_id = place(kite)
    with pytest.raises(kex.InputException, match="market protection"):
        kite.modify_order(variety="regular", order_id=order_id, order_type="MARKET")
    with pytest.raises(kex.InputException, match="multiple of the lot size"):
        kite.modify_order(variety="regular", order_id=order_id, quantity=100)
    with pytest.raises(kex.InputException, match="maximum quantity"):
        kite.modify_order(variety="regular", order_id=order_id, quantity=65 * 28)
    with pytest.raises(kex.InputException, match="Tick size"):
        kite.modify_order(variety="regular", order_id=order_id, price=99.02)
    assert server.order(order_id)["modified"] is False  # refused: nothing counted
    kite.modify_order(variety="regular", order_id=order_id, order_type="MARKET",
                      market_protection=-1)
    assert server.order(order_id)["status"] == "COMPLETE"


def test_a_finished_order_or_one_still_being_modified_cannot_be_modified(
        clock: ManualClock) -> None:
    with FakeKiteServer(clock=clock, modify_pending_s=0.5) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.5)
        order_id = place(kite)
        kite.modify_order(variety="regular", order_id=order_id, price=99.5)
        assert kite.orders()[0]["status"] == "MODIFY PENDING"
        with pytest.raises(kex.InputException) as caught:
            kite.modify_order(variety="regular", order_id=order_id, price=99.6)
        assert (caught.value.code, str(caught.value)) == (400, MODIFY_BEING_PROCESSED)
        clock.advance(0.5)
        assert (kite.orders()[0]["status"], kite.orders()[0]["price"]) == ("OPEN", 99.5)
        srv.fill(order_id)
        with pytest.raises(kex.InputException, match="being processed"):
            kite.modify_order(variety="regular", order_id=order_id, price=99.6)
        with pytest.raises(kex.InputException, match="order_id"):
            kite.modify_order(variety="regular", order_id="999", price=99.6)


def test_a_fill_while_the_modification_is_pending_is_at_the_old_price_and_counts_once(
        clock: ManualClock) -> None:
    """The new quantity is the order's total: what filled meanwhile stays filled."""
    with FakeKiteServer(clock=clock, modify_pending_s=1.0) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.5)
        order_id = place(kite, quantity=130)
        kite.modify_order(variety="regular", order_id=order_id, quantity=195, price=99.5)
        srv.fill(order_id, 65)  # the market trades through the old limit meanwhile
        clock.advance(1.0)
        (order,) = kite.orders()
        assert (order["status"], order["quantity"], order["filled_quantity"],
                order["pending_quantity"], order["average_price"], order["price"]) == \
            ("OPEN", 195, 65, 130, 99.0, 99.5)
        assert sum(t["quantity"] for t in kite.trades()) == 65


def test_the_modification_limit_refuses_the_26th_with_kites_network_exception(
        server: FakeKiteServer, kite: KiteConnect, clock: ManualClock) -> None:
    order_id = place(kite)
    for i in range(25):
        clock.advance(0.2)  # (five writes a second: well within the rate)
        kite.modify_order(variety="regular", order_id=order_id,
                          price=round(95.0 + 0.05 * (i % 2), 2))
    with pytest.raises(kex.NetworkException) as caught:
        kite.modify_order(variety="regular", order_id=order_id, price=96.0)
    assert (caught.value.code, str(caught.value)) == (400, MODIFICATIONS_EXCEEDED)
    assert server.order(order_id)["status"] == "OPEN"
    kite.cancel_order(variety="regular", order_id=order_id)  # a cancel still goes
    assert server.order(order_id)["status"] == "CANCELLED"


def test_a_modify_is_an_order_write_of_the_second_but_not_an_order_of_the_day(
        clock: ManualClock) -> None:
    limits = RateLimits(order_writes_per_day=3)
    with FakeKiteServer(clock=clock, rate_limits=limits) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.5)
        order_id = place(kite)
        for i in range(9):
            kite.modify_order(variety="regular", order_id=order_id, price=95.0 + 0.05 * i)
        with pytest.raises(kex.NetworkException, match="Too many requests"):
            place(kite)  # the eleventh write of the second
        clock.advance(1.0)
        for i in range(5):  # modifies do not use up the day's three orders ...
            kite.modify_order(variety="regular", order_id=order_id, price=96.0 + 0.05 * i)
        place(kite)
        place(kite)
        with pytest.raises(kex.NetworkException, match="Maximum allowed order requests"):
            place(kite)  # ... placements do


# ------------------------------------------------------------------ status sequences


def test_a_partial_fill_is_an_update_in_the_history_while_the_book_shows_open(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = place(kite, quantity=130)
    server.fill(order_id, 65)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"]) == ("OPEN", 65)
    server.fill(order_id, 65)
    assert [(h["status"], h["filled_quantity"]) for h in history(server, order_id)][3:] == [
        ("OPEN", 0), ("UPDATE", 65), ("COMPLETE", 130)]


def test_the_ticker_streams_update_modified_and_cancel_pending_as_kite_does(
        clock: ManualClock) -> None:
    with FakeKiteServer(clock=clock, cancel_pending_s=0.5,
                        instruments=nifty_strip(2)) as srv:
        symbol = nifty_strip(2)[0].tradingsymbol
        srv.set_quote(symbol, bid=100.0, ask=100.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.5)
        postbacks: list[dict[str, Any]] = []

        async def scenario() -> None:
            ticker = KiteTickerClient(srv.ticker_root, "k", "t", on_ticks=lambda _: None,
                                      on_order_update=postbacks.append)
            ticker.start()
            for _ in range(300):
                if ticker.connects:
                    break
                await asyncio.sleep(0.01)

            def write() -> str:
                order_id = place(kite, tradingsymbol=symbol, quantity=130)
                srv.fill(order_id, 65)
                kite.modify_order(variety="regular", order_id=order_id, price=99.5)
                kite.cancel_order(variety="regular", order_id=order_id)
                clock.advance(0.5)
                kite.orders()  # time moves when the server is asked something
                return order_id

            order_id = await asyncio.to_thread(write)
            for _ in range(300):
                if [p["status"] for p in postbacks][-1:] == ["CANCELLED"]:
                    break
                await asyncio.sleep(0.01)
            await ticker.stop()
            assert [p["status"] for p in postbacks if p["order_id"] == order_id] == [
                "VALIDATION PENDING", "OPEN PENDING", "OPEN", "UPDATE",
                "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN",
                "CANCEL PENDING", "CANCELLED"]
            update = next(p for p in postbacks if p["status"] == "UPDATE")
            assert (update["filled_quantity"], update["pending_quantity"]) == (65, 65)
            last = postbacks[-1]
            assert (last["filled_quantity"], last["cancelled_quantity"], last["price"]) == \
                (65, 65, 99.5)

        asyncio.run(scenario())


# ------------------------------------------------------------------ order margins


def test_order_margins_answer_each_order_alone_in_kites_block_shape(
        clock: ManualClock) -> None:
    strip = nifty_strip(40, first_strike=24_500)
    with FakeKiteServer(clock=clock, instruments=strip) as srv:
        for inst in strip:
            srv.set_quote(inst.tradingsymbol, bid=10.0, ask=10.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.5)
        orders = [dict(exchange="NFO", tradingsymbol="NIFTY26D0125400CE",
                       transaction_type="BUY", variety="regular", product="NRML",
                       order_type="MARKET", quantity=65, price=0, trigger_price=0),
                  dict(exchange="NFO", tradingsymbol="NIFTY26D0125200CE",
                       transaction_type="SELL", variety="regular", product="NRML",
                       order_type="LIMIT", quantity=130, price=11.0, trigger_price=0)]
        answer = kite.order_margins(orders)
        (sent,) = srv.requests_to("order_margins")
        assert (sent.method, sent.path, sent.body) == ("POST", "/margins/orders", orders)
        basket = kite.basket_order_margins(orders, consider_positions=False)
        assert answer == basket["orders"]
        assert [(o["tradingsymbol"], o["leverage"], o["total"]) for o in answer] == [
            ("NIFTY26D0125400CE", 1, 10.5 * 65), ("NIFTY26D0125200CE", 1,
                                                   0.12 * 25_000.0 * 130)]
        with pytest.raises(kex.InputException):
            kite.order_margins([])


def test_a_scripted_fault_on_modify_answers_instead(server: FakeKiteServer,
                                                   kite: KiteConnect) -> None:
    order_id = place(kite)
    server.fail_next("modify", Fault.oms_down(), Fault.error(500, "GeneralException", "boom",
                                                             record=True))
    with pytest.raises(kex.NetworkException):
        kite.modify_order(variety="regular", order_id=order_id, price=99.5)
    assert server.order(order_id)["price"] == 99.0  # not carried out
    with pytest.raises(kex.GeneralException):
        kite.modify_order(variety="regular", order_id=order_id, price=99.5)
    assert server.order(order_id)["price"] == 99.5  # carried out, then answered 500


# ------------------------------------------------------------------ the adapter


def test_kite_broker_modifies_through_kiteconnect_with_the_variety_and_a_clean_price(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    broker = KiteBroker(kite, ticker_root=None)
    assert broker.capabilities.modify_order == broker.modify_order
    assert broker.capabilities.max_modifications == 25
    order_id = broker.place_order(OrderInstruction(
        tradingsymbol=SYMBOL, exchange="NFO", side=Side.BUY, quantity=65,
        order_type=OrderType.LIMIT, limit_price=99.0, product="NRML", validity="DAY",
        tag="T1"))
    broker.modify_order(order_id, ModifyInstruction(
        quantity=130, order_type=OrderType.LIMIT, limit_price=0.1 + 0.2 + 99.0,
        tick_size=0.05))
    (sent,) = server.requests_to("modify")
    assert sent.form == {"variety": "regular", "order_id": order_id, "quantity": "130",
                         "order_type": "LIMIT", "price": "99.3"}
    (order,) = broker.orders()
    assert (order.quantity, order.tag, order.pending_quantity) == (130, "T1", 130)
    broker.modify_order(order_id, ModifyInstruction(
        quantity=130, order_type=OrderType.MARKET, limit_price=None, market_protection=-1))
    assert server.requests_to("modify")[-1].form["market_protection"] == "-1"
    assert server.order(order_id)["status"] == "COMPLETE"
    with pytest.raises(kex.InputException, match="being processed"):
        broker.modify_order(order_id, ModifyInstruction(
            quantity=195, order_type=OrderType.LIMIT, limit_price=99.0))
