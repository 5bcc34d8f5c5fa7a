"""Kite's order states, tags and order messages as the adapter reads them: every status Kite
documents is known by name (and folds where the README's table says), an unknown one is logged
once and treated as working, an UPDATE postback's fills count, ``tags[]`` is read when ``tag``
is empty, and the ticker drops an order message without an ``order_id``.

Order rows here are written from Kite's documented shapes (the order book of
kite.trade/docs/connect/v3/orders, the postback payload of .../postbacks: ``status``,
``filled_quantity``, ``pending_quantity``, ``unfilled_quantity``, ``average_price``, ``tag``
and ``tags``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import BrokerOrder, OrderStatus, Quote, StreamHandlers
from imperium_exec.brokers.kite.broker import KITE_STATUSES, order_status, order_tag
from imperium_exec.brokers.kite.stream import KiteStream
from imperium_exec.brokers.kite.ticker import KiteTickerClient
from imperium_exec.engine.order_tracker import fill_since
from imperium_exec.request import Side

#: Every order status Kite documents (its order book and history, postbacks and the ticker's
#: order updates), and how each folds.
DOCUMENTED: dict[str, OrderStatus] = {
    "OPEN": OrderStatus.OPEN,
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "PUT ORDER REQ RECEIVED": OrderStatus.PENDING,
    "VALIDATION PENDING": OrderStatus.PENDING,
    "OPEN PENDING": OrderStatus.PENDING,
    "MODIFY VALIDATION PENDING": OrderStatus.OPEN,
    "MODIFY PENDING": OrderStatus.OPEN,
    "TRIGGER PENDING": OrderStatus.OPEN,
    "CANCEL PENDING": OrderStatus.OPEN,
    "AMO REQ RECEIVED": OrderStatus.PENDING,
    "MODIFIED": OrderStatus.OPEN,
    "NOT MODIFIED": OrderStatus.OPEN,
    "NOT CANCELLED": OrderStatus.OPEN,
    "UPDATE": OrderStatus.OPEN,
    "CANCEL": OrderStatus.PENDING,
    "CANCELLED AMO": OrderStatus.CANCELLED,
}


def kite_order(**fields: Any) -> dict[str, Any]:
    """One order in Kite's shape (order book row or postback)."""
    row: dict[str, Any] = {
        "placed_by": "AB1234", "order_id": "250101000000101",
        "exchange_order_id": "1100000000000101", "parent_order_id": None, "status": "OPEN",
        "status_message": None, "status_message_raw": None,
        "order_timestamp": "2026-01-01 10:00:00",
        "exchange_update_timestamp": "2026-01-01 10:00:01",
        "exchange_timestamp": "2026-01-01 10:00:00", "variety": "regular", "modified": False,
        "exchange": "NFO", "tradingsymbol": "NIFTY26D0125000CE", "instrument_token": 10001,
        "order_type": "LIMIT", "transaction_type": "BUY", "validity": "DAY",
        "product": "NRML", "quantity": 130, "disclosed_quantity": 0, "price": 100.5,
        "trigger_price": 0, "average_price": 0, "filled_quantity": 0, "pending_quantity": 130,
        "cancelled_quantity": 0, "market_protection": 0, "meta": {}, "tag": "T1",
        "tags": ["T1"], "guid": "x1",
    }
    row.update(fields)
    return row


# ------------------------------------------------------------------ statuses


@pytest.mark.parametrize(("kite_status", "folded"), DOCUMENTED.items())
def test_every_documented_status_is_known_by_name_and_folds(kite_status: str,
                                                            folded: OrderStatus) -> None:
    assert KITE_STATUSES[kite_status] is folded
    assert order_status(kite_status) is folded
    assert order_status(kite_status.lower()) is folded  # case and spacing do not matter
    assert order_status(f" {kite_status.replace(' ', '  ')} ") is folded


def test_the_table_knows_exactly_the_documented_statuses() -> None:
    assert set(KITE_STATUSES) == set(DOCUMENTED)


def test_only_complete_cancelled_and_rejected_end_an_order() -> None:
    ended = {name for name, status in KITE_STATUSES.items() if status.is_terminal}
    assert ended == {"COMPLETE", "CANCELLED", "CANCELLED AMO", "REJECTED"}


def test_an_unknown_status_is_logged_once_and_is_working_never_terminal(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="imperium_exec.brokers.kite.broker"):
        for _ in range(3):
            assert order_status("SOMETHING NEW 7") is OrderStatus.PENDING
        assert order_status("Something  new 7") is OrderStatus.PENDING  # the same, once
    (logged,) = [r.getMessage() for r in caplog.records
                 if "unknown Kite order status" in r.getMessage()]
    assert "'SOMETHING NEW 7'" in logged and "working" in logged
    assert order_status(None) is OrderStatus.PENDING


@pytest.mark.parametrize("kite_status", ["MODIFIED", "UPDATE", "TRIGGER PENDING",
                                         "CANCEL PENDING"])
def test_states_at_the_exchange_read_as_open_with_their_fills(kite_status: str) -> None:
    order = KiteBroker.to_broker_order(kite_order(
        status=kite_status, filled_quantity=65, pending_quantity=65, average_price=100.25))
    assert (order.status, order.filled_quantity, order.pending_quantity, order.average_price) \
        == (OrderStatus.OPEN, 65, 65, 100.25)


# ------------------------------------------------------------------ an UPDATE postback


def test_a_partial_fills_update_postback_counts_its_fills() -> None:
    update = KiteBroker.to_broker_order(kite_order(
        status="UPDATE", filled_quantity=65, pending_quantity=65, unfilled_quantity=65,
        average_price=100.25, checksum="", user_id="AB1234", app_id=1234))
    assert update.status is OrderStatus.OPEN and not update.status.is_terminal
    assert fill_since(update, 0, 0.0) == (65, 100.25)
    complete = KiteBroker.to_broker_order(kite_order(
        status="COMPLETE", filled_quantity=130, pending_quantity=0, average_price=100.5))
    assert complete.status is OrderStatus.COMPLETE
    increment, price = fill_since(complete, update.filled_quantity, update.filled_value) \
        or (0, 0.0)
    assert increment == 65 and price == pytest.approx(100.75)
    # The same UPDATE again (Kite may repeat a postback) adds nothing.
    assert fill_since(update, update.filled_quantity, update.filled_value) is None


# ------------------------------------------------------------------ tags


@pytest.mark.parametrize(("tag", "tags", "read"), [
    ("T1", ["T1"], "T1"),
    ("T1", ["OTHER", "T1"], "T1"),  # tag wins
    (None, ["C7a1b2c3d401", "autoslice"], "C7a1b2c3d401"),  # only in tags[]: the first
    ("", ["", None, "T2"], "T2"),
    (None, [], None),
    (None, None, None),
    ("", "T3", None),  # not a list
])
def test_the_tag_is_tag_else_the_first_of_tags(tag: str | None, tags: Any,
                                               read: str | None) -> None:
    row = kite_order(tag=tag, tags=tags)
    assert order_tag(row) == read
    assert KiteBroker.to_broker_order(row).tag == read


def test_the_order_book_reads_tags_when_tag_is_empty() -> None:
    class Book:
        def orders(self) -> list[dict[str, Any]]:
            return [kite_order(order_id="1", tag=None, tags=["SLICED1"]),
                    kite_order(order_id="2", tag="PLAIN", tags=None)]

    assert [(o.order_id, o.tag) for o in KiteBroker(Book()).orders()] == \
        [("1", "SLICED1"), ("2", "PLAIN")]


# ------------------------------------------------------------------ the ticker's messages


def ticker(updates: list[dict[str, Any]]) -> KiteTickerClient:
    return KiteTickerClient("ws://127.0.0.1:9", "k", "t", on_ticks=lambda ticks: None,
                            on_order_update=updates.append)


@pytest.mark.parametrize("data", [{}, None, [], "x", {"status": "COMPLETE"},
                                  {"order_id": "", "status": "COMPLETE"}],
                         ids=["empty", "null", "list", "text", "no-order-id", "blank-id"])
def test_an_order_message_without_an_order_id_never_reaches_on_order_update(
        data: Any) -> None:
    updates: list[dict[str, Any]] = []
    ticker(updates)._dispatch(json.dumps({"type": "order", "data": data}))
    assert updates == []


def test_an_order_message_with_an_order_id_is_delivered() -> None:
    updates: list[dict[str, Any]] = []
    row = kite_order(status="UPDATE", filled_quantity=65)
    ticker(updates)._dispatch(json.dumps({"type": "order", "data": row}))
    assert updates == [row]


def test_the_stream_hands_an_update_postback_to_the_engine_with_its_fills() -> None:
    got: list[BrokerOrder] = []

    class Session:
        kite = type("Kite", (), {"api_key": "k", "access_token": "t"})()

        def instrument_dump(self, exchange: str) -> list[dict[str, Any]]:
            return []

        def to_broker_order(self, raw: dict[str, Any]) -> BrokerOrder:
            return KiteBroker.to_broker_order(raw)

    def on_quote(key: str, quote: Quote) -> None:
        raise AssertionError("no quote expected")

    handlers = StreamHandlers(on_quote=on_quote, on_order=got.append,
                              on_state=lambda up: None, on_session_lost=lambda why: None)
    stream = KiteStream(Session(), handlers, gateway=None,  # type: ignore[arg-type]
                        url="ws://127.0.0.1:9", clock=None)  # type: ignore[arg-type]
    stream.client._dispatch(json.dumps({"type": "order", "data": kite_order(
        status="UPDATE", filled_quantity=65, pending_quantity=65, average_price=100.25)}))
    stream.client._dispatch(json.dumps({"type": "order", "data": {}}))
    assert stream.order_updates == 1
    (order,) = got
    assert (order.status, order.filled_quantity, order.average_price, order.side, order.tag) \
        == (OrderStatus.OPEN, 65, 100.25, Side.BUY, "T1")
