"""The fake Kite server, driven by the real kiteconnect 5.2.2 client: the §10 checklist.

Every check goes through ``KiteConnect`` (or raw ``requests`` where the wire format itself is the
point), so what passes here is what the adapter will meet. Time that matters (rate-limit
seconds, late orders, stuck states) runs on a manual clock, so nothing races.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.clock import DEFAULT_VIRTUAL_START
from imperium_exec.testing import ORDER_TIMED_OUT, FakeKiteServer, Fault
from imperium_exec.testing.fake_kite import HOST, nifty_strip

SYMBOL = "NIFTY26D0125000CE"
KITE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class ManualClock:
    """The server's clock, moved only by the test (a Tuesday 09:15:00.5 IST start)."""

    def __init__(self, start: float = DEFAULT_VIRTUAL_START + 0.5) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=0.3)


def place(kite: KiteConnect, **overrides: Any) -> str:
    params: dict[str, Any] = dict(variety="regular", exchange="NFO", tradingsymbol=SYMBOL,
                                  transaction_type="BUY", quantity=65, product="NRML",
                                  order_type="LIMIT", price=99.0, validity="DAY", tag="T1")
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return str(kite.place_order(**params))


# ------------------------------------------------------------------ wire format


def test_binds_loopback_only_on_an_ephemeral_port(server: FakeKiteServer) -> None:
    assert HOST == "127.0.0.1"
    assert server.root == f"http://127.0.0.1:{server.port}" and server.port > 0


def test_envelope_content_types_string_ids_and_naive_ist_timestamps(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = place(kite)
    headers = {"Authorization": "token k:t", "X-Kite-Version": "3"}
    raw = requests.get(f"{server.root}/orders", headers=headers, timeout=2)
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "application/json"
    body = raw.json()
    assert body["status"] == "success"
    row = body["data"][0]
    assert row["order_id"] == order_id and isinstance(row["order_id"], str)
    assert isinstance(row["exchange_order_id"], str)
    for key in ("order_timestamp", "exchange_timestamp", "exchange_update_timestamp"):
        assert KITE_TIME.match(row[key]), (key, row[key])
    assert row["order_timestamp"] == "2026-11-24 09:15:00"  # IST wall clock, no zone
    csv_reply = requests.get(f"{server.root}/instruments/NFO", headers=headers, timeout=2)
    assert "csv" in csv_reply.headers["Content-Type"]
    error = requests.get(f"{server.root}/orders", headers={"Authorization": "token k:x"},
                         timeout=2)
    assert error.status_code == 403 and error.headers["Content-Type"] == "application/json"
    assert error.json() == {"status": "error", "message": "Incorrect `api_key` or "
                            "`access_token`.", "error_type": "TokenException", "data": None}


def test_the_client_parses_orders_trades_quotes_instruments_and_margins(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = place(kite, order_type="MARKET", price=None, market_protection=-1, quantity=130)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["average_price"]) == \
        ("COMPLETE", 130, 100.5)
    assert order["tag"] == "T1" and order["tags"] == ["T1"]
    history = kite.order_history(order_id)
    assert [h["status"] for h in history] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING",
                                             "OPEN PENDING", "OPEN", "COMPLETE"]
    (trade,) = kite.trades()
    assert (trade["order_id"], trade["quantity"], trade["average_price"]) == \
        (order_id, 130, 100.5)
    assert kite.order_trades(order_id) == [trade]
    quote = kite.quote(f"NFO:{SYMBOL}", "NFO:NOSUCH")
    assert list(quote) == [f"NFO:{SYMBOL}"]  # unknown instruments are left out, as at Kite
    depth = quote[f"NFO:{SYMBOL}"]["depth"]
    assert depth["buy"][0] == {"price": 100.0, "quantity": 3250, "orders": 50}
    assert depth["sell"][0]["quantity"] == 3250 - 130  # the fill used up the touch
    assert depth["sell"][1] == {"price": 0, "quantity": 0, "orders": 0}
    assert quote[f"NFO:{SYMBOL}"]["volume"] == 130
    rows = kite.instruments("NFO")
    assert {r["tradingsymbol"] for r in rows} >= {SYMBOL, "BANKNIFTY26DEC56000CE"}
    nifty = next(r for r in rows if r["tradingsymbol"] == SYMBOL)
    assert (nifty["lot_size"], nifty["tick_size"], str(nifty["expiry"])) == \
        (65, 0.05, "2026-12-01")
    assert all(r["exchange"] == "NFO" for r in rows)
    assert any(r["exchange"] == "BFO" for r in kite.instruments())
    equity = kite.margins("equity")
    assert equity["utilised"]["option_premium"] == pytest.approx(130 * 100.5)
    assert set(kite.margins()) == {"equity", "commodity"}


def test_extra_form_fields_the_client_sends_are_ignored(server: FakeKiteServer,
                                                        kite: KiteConnect) -> None:
    order_id = place(kite)
    (sent,) = server.requests_to("place")
    assert sent.form["variety"] == "regular" and sent.form["price"] == "99.0"
    kite.cancel_order(variety="regular", order_id=order_id)
    (cancel,) = server.requests_to("cancel")
    assert cancel.path == f"/orders/regular/{order_id}" and cancel.method == "DELETE"


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(("overrides", "text"), [
    ({"quantity": 60}, "not a multiple of the lot size 65"),
    ({"quantity": 1820}, "The order quantity 1820 (28 lots) is higher than the maximum quantity "
                         "of 1755 (27 lots) allowed by the exchanges. Please reduce the order "
                         "quantity or use iceberg orders."),
    ({"price": 99.03}, "Tick size for this script is 0.05."),
    ({"order_type": "MARKET", "price": None}, "market protection"),
    ({"order_type": "MARKET", "price": None, "market_protection": 0}, "market protection"),
    ({"order_type": "MARKET", "price": None, "market_protection": 101}, "market protection"),
    ({"tag": "T" * 21}, "Tag length cannot be more than 20 characters."),
    ({"tradingsymbol": "NIFTY26D0199999CE"}, "has either expired or does not exist"),
])
def test_pre_trade_checks_refuse_with_input_exception_400(
        server: FakeKiteServer, kite: KiteConnect, overrides: dict[str, Any], text: str) -> None:
    with pytest.raises(kex.InputException) as caught:
        place(kite, **overrides)
    assert caught.value.code == 400 and text.lower() in str(caught.value).lower()
    assert server.recorded_orders() == []


def test_a_twenty_character_tag_and_protected_market_orders_pass(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    place(kite, tag="A" * 20)
    place(kite, order_type="MARKET", price=None, market_protection=5)
    assert len(server.recorded_orders()) == 2


# ------------------------------------------------------------------ rate limits


def test_order_writes_are_limited_to_ten_per_calendar_second(
        server: FakeKiteServer, kite: KiteConnect, clock: ManualClock) -> None:
    for i in range(9):
        place(kite, tag=f"R{i}")
    with pytest.raises(kex.InputException):  # refused requests count toward the limit too
        place(kite, quantity=1)
    with pytest.raises(kex.NetworkException) as caught:
        place(kite, tag="R10")
    assert caught.value.code == 429 and str(caught.value) == "Too many requests"
    clock.advance(0.5)  # the next calendar second
    place(kite, tag="R11")
    assert len(server.recorded_orders()) == 10


def test_quotes_are_limited_to_one_per_second_and_reads_to_ten(
        kite: KiteConnect, clock: ManualClock) -> None:
    kite.quote(f"NFO:{SYMBOL}")
    with pytest.raises(kex.NetworkException) as caught:
        kite.ltp(f"NFO:{SYMBOL}")
    assert caught.value.code == 429
    for _ in range(10):
        kite.orders()
    with pytest.raises(kex.NetworkException):
        kite.trades()
    clock.advance(1.0)
    kite.quote(f"NFO:{SYMBOL}")
    kite.orders()


# ------------------------------------------------------------------ faults


def test_ghost_order_is_recorded_although_the_client_times_out(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    server.fail_next("place", Fault.ghost(delay_s=2.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        place(kite, tag="GHOST1")
    assert [o["tag"] for o in kite.orders()] == ["GHOST1"]


def test_order_request_timed_out_400_then_the_order_appears_later(
        server: FakeKiteServer, kite: KiteConnect, clock: ManualClock) -> None:
    server.fail_next("place", Fault.order_timed_out(appear_after_s=8.0))
    with pytest.raises(kex.InputException) as caught:
        place(kite, tag="LATE1")
    assert caught.value.code == 400 and str(caught.value) == ORDER_TIMED_OUT
    assert kite.orders() == []
    clock.advance(7.9)
    assert kite.orders() == []
    clock.advance(0.2)
    (order,) = kite.orders()
    assert (order["tag"], order["status"]) == ("LATE1", "OPEN")


@pytest.mark.parametrize(("fault", "exc_type", "code", "text"), [
    (Fault.oms_down(), kex.NetworkException, 503, "Request failed (kitetrade-oms)"),
    (Fault.throttled(), kex.NetworkException, 429, "Too many requests"),
    (Fault.gateway_html(502), kex.DataException, 502, "Unknown Content-Type (text/html)"),
    (Fault.gateway_html(504), kex.DataException, 502, "504 Bad Gateway"),
    (Fault.session_expired(), kex.TokenException, 403, "Incorrect `api_key`"),
    # MarginException has no class in the client: it arrives as GeneralException.
    (Fault.margin_shortfall(), kex.GeneralException, 400, "Insufficient funds."),
])
def test_error_replies_raise_the_class_the_client_picks_from_error_type(
        server: FakeKiteServer, kite: KiteConnect, fault: Fault, exc_type: type[Exception],
        code: int, text: str) -> None:
    server.fail_next("place", fault)
    with pytest.raises(exc_type) as caught:
        place(kite)
    assert type(caught.value) is exc_type
    assert getattr(caught.value, "code", None) == code and text in str(caught.value)
    assert server.recorded_orders() == []


def test_token_exception_calls_the_session_expiry_hook(server: FakeKiteServer,
                                                       kite: KiteConnect) -> None:
    expired: list[bool] = []
    kite.set_session_expiry_hook(lambda: expired.append(True))
    server.expire_session()
    with pytest.raises(kex.TokenException):
        kite.orders()
    assert expired == [True]
    server.restore_session()
    assert kite.orders() == []


def test_asynchronous_rms_rejection(server: FakeKiteServer, kite: KiteConnect,
                                   clock: ManualClock) -> None:
    server.fail_next("place", Fault.rejected(after_s=1.0))
    order_id = place(kite)
    (pending,) = kite.orders()
    assert pending["status"] == "VALIDATION PENDING"
    clock.advance(1.0)
    (order,) = kite.orders()
    assert order["order_id"] == order_id and order["status"] == "REJECTED"
    assert order["status_message"].startswith("Insufficient funds. Required margin is 95417.84")
    assert order["status_message_raw"].startswith("RMS:Margin Exceeds,Required:95417.84")
    assert order["exchange_order_id"] is None and order["pending_quantity"] == 0


def test_margin_shortfall_at_the_exchange_rejects_with_the_rms_strings(
        clock: ManualClock) -> None:
    with FakeKiteServer(clock=clock, margin=10_000.0) as srv:
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.3)
        place(kite, quantity=130, price=99.0)
        (order,) = kite.orders()
    assert order["status"] == "REJECTED"
    assert order["status_message"] == ("Insufficient funds. Required margin is 12870.00 but "
                                       "available margin is 10000.00. Check the orderbook for "
                                       "open orders.")


def test_stuck_open_pending_then_open(server: FakeKiteServer, kite: KiteConnect,
                                      clock: ManualClock) -> None:
    server.fail_next("place", Fault.stuck("OPEN PENDING", for_s=90.0))
    place(kite, order_type="MARKET", price=None, market_protection=-1)
    assert kite.orders()[0]["status"] == "OPEN PENDING"
    clock.advance(60.0)
    assert kite.orders()[0]["status"] == "OPEN PENDING"
    clock.advance(30.0)
    assert kite.orders()[0]["status"] == "COMPLETE"


def test_partial_fill_against_a_thin_touch_then_the_rest(server: FakeKiteServer,
                                                         kite: KiteConnect) -> None:
    server.set_quote(SYMBOL, bid=100.0, ask=100.5, ask_quantity=65)
    order_id = place(kite, order_type="MARKET", price=None, market_protection=-1, quantity=130)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["pending_quantity"]) == \
        ("OPEN", 65, 65)
    server.fill(order_id, 65, 100.75)
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["average_price"]) == \
        ("COMPLETE", 130, 100.625)


def test_a_resting_order_fills_when_the_quote_moves_through_it(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    place(kite, price=99.5)
    server.set_quote(SYMBOL, bid=99.0, ask=99.45)
    (order,) = kite.orders()
    assert (order["status"], order["average_price"]) == ("COMPLETE", 99.45)


def test_ioc_remainder_is_cancelled_with_its_fills(server: FakeKiteServer,
                                                   kite: KiteConnect) -> None:
    server.set_quote(SYMBOL, bid=100.0, ask=100.5, ask_quantity=65)
    place(kite, price=100.5, quantity=130, validity="IOC")
    (order,) = kite.orders()
    assert (order["status"], order["filled_quantity"], order["cancelled_quantity"]) == \
        ("CANCELLED", 65, 65)


def test_cancel_open_and_refuse_cancel_of_a_finished_order(
        server: FakeKiteServer, kite: KiteConnect) -> None:
    order_id = place(kite)
    assert kite.cancel_order(variety="regular", order_id=order_id) == order_id
    assert kite.orders()[0]["status"] == "CANCELLED"
    with pytest.raises(kex.OrderException) as caught:
        kite.cancel_order(variety="regular", order_id=order_id)
    assert caught.value.code == 400
    with pytest.raises(kex.InputException):
        kite.cancel_order(variety="regular", order_id="999")


def test_cancel_pending_is_shown_before_cancelled(clock: ManualClock) -> None:
    with FakeKiteServer(clock=clock, cancel_pending_s=0.5) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.3)
        order_id = place(kite)
        kite.cancel_order(variety="regular", order_id=order_id)
        assert kite.orders()[0]["status"] == "CANCEL PENDING"
        clock.advance(0.5)
        assert kite.orders()[0]["status"] == "CANCELLED"


def test_unknown_route_and_a_stopped_server(server: FakeKiteServer, kite: KiteConnect) -> None:
    with pytest.raises(kex.GeneralException) as caught:
        kite.holdings()
    assert caught.value.code == 404
    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        kite.orders()


# ------------------------------------------------------------------ margins


MARGIN_BLOCK = {"type", "tradingsymbol", "exchange", "span", "exposure", "option_premium",
                "additional", "bo", "cash", "var", "pnl", "leverage", "charges", "total"}
NAKED_LOT = 0.12 * 25_000.0 * 65  # the fake's NIFTY stands at 25,000


@pytest.fixture
def chain_server(clock: ManualClock) -> Iterator[FakeKiteServer]:
    """NIFTY 24,500-25,450 calls and puts, each quoted 10.00 / 10.50."""
    with FakeKiteServer(clock=clock, instruments=nifty_strip(40, first_strike=24_500)) as srv:
        for inst in nifty_strip(40, first_strike=24_500):
            srv.set_quote(inst.tradingsymbol, bid=10.0, ask=10.5)
        yield srv


def margin_order(symbol: str, side: str, quantity: int = 65, *, order_type: str = "MARKET",
                 price: float = 0.0) -> dict[str, Any]:
    """One order as kiteconnect's basket_order_margins sends it."""
    return dict(exchange="NFO", tradingsymbol=symbol, transaction_type=side, variety="regular",
                product="NRML", order_type=order_type, quantity=quantity, price=price,
                trigger_price=0)


CONDOR = [margin_order("NIFTY26D0125400CE", "BUY"), margin_order("NIFTY26D0124600PE", "BUY"),
          margin_order("NIFTY26D0125200CE", "SELL"), margin_order("NIFTY26D0124800PE", "SELL")]


def test_basket_margins_take_the_clients_json_orders_and_answer_in_kites_shape(
        chain_server: FakeKiteServer) -> None:
    kite = KiteConnect(api_key="k", access_token="t", root=chain_server.root, timeout=0.3)
    answer = kite.basket_order_margins(CONDOR, consider_positions=True)
    (sent,) = chain_server.requests_to("basket_margins")
    assert (sent.method, sent.path) == ("POST", "/margins/basket")
    assert sent.query == {"consider_positions": ["True"]}  # the client sends Python's bool
    assert sent.body == CONDOR and sent.form == {}
    assert set(answer) == {"initial", "final", "orders", "charges"}
    assert all(set(block) == MARGIN_BLOCK for block in (answer["initial"], answer["final"],
                                                         *answer["orders"]))
    assert [(o["tradingsymbol"], o["type"], o["total"]) for o in answer["orders"]] == [
        ("NIFTY26D0125400CE", "equity", 10.5 * 65), ("NIFTY26D0124600PE", "equity", 10.5 * 65),
        ("NIFTY26D0125200CE", "equity", NAKED_LOT), ("NIFTY26D0124800PE", "equity", NAKED_LOT)]
    # initial: the legs one by one; final: the condor's two 200-point spreads and the wings.
    assert answer["initial"]["total"] == pytest.approx(sum(o["total"] for o in answer["orders"]))
    final = answer["final"]
    assert (final["span"], final["option_premium"]) == (2 * 200 * 65, 2 * 10.5 * 65)
    assert final["total"] == pytest.approx(2 * 200 * 65 + 2 * 10.5 * 65)
    limit = margin_order("NIFTY26D0125400CE", "BUY", order_type="LIMIT", price=7.25)
    assert kite.basket_order_margins([limit])["final"]["total"] == pytest.approx(7.25 * 65)


def test_user_margins_count_the_short_margin_of_positions_and_baskets_net_against_them(
        chain_server: FakeKiteServer) -> None:
    kite = KiteConnect(api_key="k", access_token="t", root=chain_server.root, timeout=0.3)
    before = kite.margins("equity")["net"]
    place(kite, tradingsymbol="NIFTY26D0125200CE", transaction_type="SELL", order_type="MARKET",
          price=None, market_protection=-1)
    equity = kite.margins("equity")
    assert equity["utilised"]["span"] == pytest.approx(NAKED_LOT)
    assert equity["net"] == pytest.approx(before + 10.0 * 65 - NAKED_LOT)  # the sale's credit
    wing = [CONDOR[0]]
    with_positions = kite.basket_order_margins(wing, consider_positions=True)["final"]
    alone = kite.basket_order_margins(wing, consider_positions=False)["final"]
    assert with_positions["total"] == 0.0  # the wing frees more than its premium
    assert alone["total"] == pytest.approx(10.5 * 65)
    another_short = [margin_order("NIFTY26D0125250CE", "SELL")]
    assert kite.basket_order_margins(another_short)["final"]["total"] == pytest.approx(NAKED_LOT)
    chain_server.set_spot("NIFTY", 26_000.0)  # naked margin follows the spot
    assert kite.margins("equity")["utilised"]["span"] == pytest.approx(0.12 * 26_000.0 * 65)


def test_a_buy_the_short_margin_leaves_no_room_for_is_rejected_at_the_exchange(
        clock: ManualClock) -> None:
    strip = nifty_strip(40, first_strike=24_500)
    with FakeKiteServer(clock=clock, instruments=strip, margin=NAKED_LOT + 1_000.0) as srv:
        for inst in strip:
            srv.set_quote(inst.tradingsymbol, bid=10.0, ask=10.5)
        kite = KiteConnect(api_key="k", access_token="t", root=srv.root, timeout=0.3)
        place(kite, tradingsymbol="NIFTY26D0125200CE", transaction_type="SELL",
              order_type="MARKET", price=None, market_protection=-1, tag="S")
        place(kite, tradingsymbol="NIFTY26D0124600PE", quantity=650, price=10.5, tag="B")
        orders = {o["tag"]: o for o in kite.orders()}
    assert orders["S"]["status"] == "COMPLETE"  # sells are not margin-checked by the fake
    assert orders["B"]["status"] == "REJECTED"
    assert orders["B"]["status_message"].startswith("Insufficient funds. Required margin is "
                                                    "6825.00 but available margin is 1650.00")


@pytest.mark.parametrize(("body", "message"), [
    ([margin_order("NIFTY26D0199999CE", "SELL")], "expired or does not exist"),
    ([margin_order("NIFTY26D0125200CE", "SELL", quantity=0)], "quantity"),
    ([margin_order("NIFTY26D0125200CE", "SHORT")], "transaction_type"),
    ([], "empty list"),
])
def test_bad_basket_margin_orders_are_input_exceptions(
        chain_server: FakeKiteServer, body: list[dict[str, Any]], message: str) -> None:
    kite = KiteConnect(api_key="k", access_token="t", root=chain_server.root, timeout=0.3)
    with pytest.raises(kex.InputException, match=message) as caught:
        kite.basket_order_margins(body)
    assert caught.value.code == 400
