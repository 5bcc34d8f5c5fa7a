"""The account's positions over Kite: ``KiteBroker.positions`` on the real kiteconnect client
against the fake Kite server's ``GET /portfolio/positions`` (Kite's envelope, ``net`` and
``day``), the mapping of Kite's fields, and the read going through the engine's rate budget as
the desk's (``ExecutionStack.broker_positions``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from pytestqt.qtbot import QtBot

from imperium_exec import ExecutionStack
from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import BrokerPosition, OrderInstruction
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig
from imperium_exec.request import OrderType, Side
from imperium_exec.testing import FakeKiteServer, Fault

CALL, PUT = "NIFTY26D0125000CE", "NIFTY26D0125000PE"
LOT = 65


@pytest.fixture
def server() -> Iterator[FakeKiteServer]:
    with FakeKiteServer() as srv:
        srv.set_quote(CALL, bid=100.0, ask=100.5)
        srv.set_quote(PUT, bid=80.0, ask=80.5)
        yield srv


@pytest.fixture
def broker(server: FakeKiteServer) -> KiteBroker:
    return KiteBroker(KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2.0))


def limit(symbol: str, side: Side, quantity: int, price: float, *, product: str = "NRML",
          tag: str = "T") -> OrderInstruction:
    return OrderInstruction(symbol, "NFO", side, quantity, OrderType.LIMIT, price, product,
                            "DAY", tag)


def test_kite_positions_against_the_fake_server_return_what_was_filled(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    assert broker.positions() == []
    first = broker.place_order(limit(CALL, Side.BUY, 2 * LOT, 99.0, tag="A"))
    server.fill(first, price=99.0)
    second = broker.place_order(limit(CALL, Side.BUY, LOT, 102.0, tag="B"))  # at the ask
    sold = broker.place_order(limit(CALL, Side.SELL, LOT, 100.0, tag="C"))  # at the bid
    short = broker.place_order(limit(PUT, Side.SELL, LOT, 80.0, product="MIS", tag="D"))
    assert {o.order_id: o.filled_quantity for o in broker.orders()} == \
        {first: 2 * LOT, second: LOT, sold: LOT, short: LOT}

    held = {(p.tradingsymbol, p.product): p for p in broker.positions()}
    assert set(held) == {(CALL, "NRML"), (PUT, "MIS")}
    call = held[CALL, "NRML"]
    bought_average = (2 * LOT * 99.0 + LOT * 100.5) / (3 * LOT)  # the sale leaves it
    assert (call.exchange, call.quantity) == ("NFO", 2 * LOT)
    assert call.average_price == pytest.approx(bought_average, abs=1e-4)
    assert call.last_price == 100.0  # the last trade, the sale
    assert call.pnl == pytest.approx(LOT * 100.0 - (2 * LOT * 99.0 + LOT * 100.5)
                                     + 2 * LOT * 100.0, abs=0.01)
    put = held[PUT, "MIS"]
    assert (put.quantity, put.average_price, put.last_price) == (-LOT, 80.0, 80.0)
    assert [(r.method, r.path) for r in server.requests_to("positions")] == \
        [("GET", "/portfolio/positions")] * 2


def test_the_fake_answers_kites_envelope_with_net_and_day_lists(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    order_id = broker.place_order(limit(CALL, Side.BUY, LOT, 100.5))
    assert server.order(order_id)["status"] == "COMPLETE"
    reply = requests.get(f"{server.root}/portfolio/positions",
                         headers={"Authorization": "token k:t", "X-Kite-Version": "3"},
                         timeout=2.0)
    body = reply.json()
    assert reply.status_code == 200 and body["status"] == "success"
    assert set(body["data"]) == {"net", "day"}
    (net,) = body["data"]["net"]
    assert {"tradingsymbol", "exchange", "instrument_token", "product", "quantity",
            "overnight_quantity", "multiplier", "average_price", "close_price", "last_price",
            "value", "pnl", "m2m", "unrealised", "realised", "buy_quantity", "buy_price",
            "buy_value", "sell_quantity", "sell_price", "sell_value", "day_buy_quantity",
            "day_sell_quantity"} <= set(net)
    assert (net["quantity"], net["average_price"], net["buy_quantity"], net["value"]) == \
        (LOT, 100.5, LOT, -LOT * 100.5)
    assert body["data"]["day"] == body["data"]["net"]  # nothing carried from an earlier day


def test_kites_position_rows_map_and_an_unreadable_one_hides_no_other() -> None:
    class StubKite:
        def positions(self) -> dict[str, list[dict[str, Any]]]:
            carried = {"tradingsymbol": "NIFTY26D0124800PE", "exchange": "NFO",
                       "product": "NRML", "quantity": -130, "overnight_quantity": -130,
                       "average_price": 41.25, "last_price": 38.5, "pnl": 357.5,
                       "multiplier": 1}
            closed = dict(carried, tradingsymbol="NIFTY26D0124900PE", quantity=0,
                          average_price=0, pnl=-12.0)
            odd = dict(carried, tradingsymbol="NIFTY26D0125100CE", quantity="many")
            day_only = dict(carried, tradingsymbol="SHOULD NOT APPEAR")
            return {"net": [odd, carried, closed], "day": [day_only]}

    rows = KiteBroker(StubKite()).positions()
    assert rows == [
        BrokerPosition("NIFTY26D0124800PE", "NFO", "NRML", -130, 41.25, 38.5, 357.5),
        BrokerPosition("NIFTY26D0124900PE", "NFO", "NRML", 0, 0.0, 38.5, -12.0)]


def test_a_failed_positions_read_arrives_unchanged(server: FakeKiteServer,
                                                   broker: KiteBroker) -> None:
    server.fail_next("positions", Fault.error(503, "NetworkException", "OMS down"))
    with pytest.raises(kex.NetworkException):
        broker.positions()


class ThreadNoting(KiteBroker):
    """Notes the thread each positions read runs on."""

    threads: list[str]

    def positions(self) -> list[BrokerPosition]:
        self.threads.append(threading.current_thread().name)
        return super().positions()


def test_the_desk_reads_the_brokers_positions_on_the_engines_gateway_never_its_own_thread(
        qtbot: QtBot, tmp_path: Path, server: FakeKiteServer) -> None:
    broker = ThreadNoting(KiteConnect(api_key="k", access_token="t", root=server.root,
                                      timeout=2.0), ticker_root=None)
    broker.threads = []
    stack = ExecutionStack(broker, "live", clock=RealClock(), telemetry_dir=tmp_path,
                           config=EngineConfig(id_seed=2))
    try:
        order_id = broker.place_order(limit(PUT, Side.BUY, LOT, 80.5))
        assert server.order(order_id)["status"] == "COMPLETE"
        answer = stack.broker_positions()  # returns at once: a future
        assert answer is not None
        (put,) = answer.result(5.0)
        assert (put.tradingsymbol, put.quantity, put.average_price) == (PUT, LOT, 80.5)
        assert len(server.requests_to("positions")) == 1
        (thread,) = broker.threads  # in the gateway's pool, once the read budget granted it
        assert thread.startswith("imperium-broker") and thread != threading.current_thread().name
    finally:
        stack.shutdown()


def test_a_broker_without_positions_gives_the_desk_none_to_wait_for(
        qtbot: QtBot, tmp_path: Path) -> None:
    clock = VirtualClock()
    stack = ExecutionStack(InMemoryBroker(clock=clock), "paper", clock=clock,
                           telemetry_dir=tmp_path)
    try:
        assert stack.broker.capabilities.positions is None
        assert stack.broker_positions() is None
    finally:
        stack.shutdown()
