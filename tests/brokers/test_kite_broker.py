"""KiteBroker on the real kiteconnect 5.2.2 client against the fake Kite server.

Three layers: what each Broker call sends and how Kite's answers map back; every failure
arriving as the class Kite named (the client's own, or ours where it has none) for the retry
policy; and the engine end to end on a real
clock (ghost adopted by tag, late "timed out" order reconciled, 429 retried, risk not retried,
partial fills tracked, cancel).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers import errors as ours
from imperium_exec.brokers.base import (
    Broker,
    MarginCheck,
    MarginLeg,
    OrderInstruction,
    OrderStatus,
)
from imperium_exec.brokers.kite.broker import kite_time_to_epoch, order_status
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from imperium_exec.engine.rate_budget import AccountRateLimits
from imperium_exec.events import ErrorBucket, ParentStatus
from imperium_exec.request import ExecutionRequest, OrderType, Side
from imperium_exec.retry import BucketPolicy, RetryPolicy
from imperium_exec.testing import FakeKiteServer, Fault, RateLimits
from imperium_exec.testing.fake_kite import nifty_strip
from imperium_exec.timeutil import IST

SYMBOL = "NIFTY26D0125000CE"
TIMEOUT_S = 0.3


@pytest.fixture
def server() -> Iterator[FakeKiteServer]:
    with FakeKiteServer() as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        yield srv


def client(server: FakeKiteServer) -> KiteConnect:
    return KiteConnect(api_key="k", access_token="t", root=server.root, timeout=TIMEOUT_S)


@pytest.fixture
def broker(server: FakeKiteServer) -> KiteBroker:
    return KiteBroker(client(server))


def instruction(*, tag: str = "TAG1", price: float | None = 99.0, quantity: int = 65,
                market_protection: int | None = None, side: Side = Side.BUY,
                validity: str = "DAY") -> OrderInstruction:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    if kind is OrderType.MARKET and market_protection is None:
        market_protection = -1
    return OrderInstruction(SYMBOL, "NFO", side, quantity, kind, price, "NRML", validity, tag,
                            market_protection=market_protection)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` (no fixed sleeps that race)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# ------------------------------------------------------------------ the calls


def test_is_a_broker_named_kite_on_the_real_clock(broker: KiteBroker) -> None:
    assert isinstance(broker, Broker)
    assert broker.name == "kite" and isinstance(broker.clock, RealClock)


def test_place_order_passes_keywords_only() -> None:
    class RecordingKite:
        def __init__(self) -> None:
            self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

        def place_order(self, *args: Any, **kwargs: Any) -> str:
            self.calls.append((args, kwargs))
            return "1"

    kite = RecordingKite()
    KiteBroker(kite).place_order(instruction())
    ((args, kwargs),) = kite.calls
    assert args == ()
    assert kwargs == dict(variety="regular", exchange="NFO", tradingsymbol=SYMBOL,
                          transaction_type="BUY", quantity=65, product="NRML",
                          order_type="LIMIT", validity="DAY", tag="TAG1", price=99.0)


def test_limit_price_goes_out_on_the_tick_without_float_noise(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    noisy = 0.1 + 0.2
    assert str(noisy) == "0.30000000000000004"
    broker.place_order(instruction(price=noisy, tag="P1"))
    broker.place_order(instruction(price=99.15000000000001, tag="P2"))
    sent = [r.form for r in server.requests_to("place")]
    assert [f["price"] for f in sent] == ["0.3", "99.15"]
    assert all("market_protection" not in f for f in sent)
    assert broker.format_price(99.03) == 99.03  # off the grid: sent as is, Kite refuses it


def test_market_orders_carry_market_protection_and_no_price(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    order_id = broker.place_order(instruction(price=None, market_protection=-1))
    (sent,) = server.requests_to("place")
    assert sent.form["market_protection"] == "-1" and "price" not in sent.form
    assert sent.form["tag"] == "TAG1" and sent.form["order_type"] == "MARKET"
    assert isinstance(order_id, str) and server.order(order_id)["status"] == "COMPLETE"


def test_cancel_order_deletes_the_regular_variety(server: FakeKiteServer,
                                                  broker: KiteBroker) -> None:
    order_id = broker.place_order(instruction())
    broker.cancel_order(order_id)
    (sent,) = server.requests_to("cancel")
    assert (sent.method, sent.path) == ("DELETE", f"/orders/regular/{order_id}")
    assert server.order(order_id)["status"] == "CANCELLED"


def test_orders_map_every_state(server: FakeKiteServer, broker: KiteBroker) -> None:
    complete = broker.place_order(instruction(price=None, tag="FULL"))
    resting = broker.place_order(instruction(tag="REST"))
    server.set_quote(SYMBOL, bid=100.0, ask=100.5, ask_quantity=65)
    partial = broker.place_order(instruction(price=None, quantity=130, tag="PART"))
    cancelled = broker.place_order(instruction(price=98.0, quantity=130, tag="CXL"))
    server.fill(cancelled, 65, 98.0)
    broker.cancel_order(cancelled)
    server.fail_next("place", Fault.rejected())
    rejected = broker.place_order(instruction(tag="REJ"))
    server.fail_next("place", Fault.stuck("OPEN PENDING", for_s=60.0))
    stuck = broker.place_order(instruction(tag="STUCK"))

    book = {o.order_id: o for o in broker.orders()}
    assert book[complete].status is OrderStatus.COMPLETE
    assert (book[complete].filled_quantity, book[complete].average_price) == (65, 100.5)
    assert book[resting].status is OrderStatus.OPEN and book[resting].pending_quantity == 65
    assert book[resting].average_price == 0.0 and book[resting].tag == "REST"
    part = book[partial]
    assert (part.status, part.filled_quantity, part.pending_quantity) == \
        (OrderStatus.OPEN, 65, 65)
    cxl = book[cancelled]
    assert (cxl.status, cxl.filled_quantity, cxl.average_price, cxl.pending_quantity) == \
        (OrderStatus.CANCELLED, 65, 98.0, 0)  # Kite still shows pending 65 on the row
    assert server.order(cancelled)["pending_quantity"] == 65
    rej = book[rejected]
    assert rej.status is OrderStatus.REJECTED
    assert rej.status_message is not None and rej.status_message.startswith("Insufficient")
    assert book[stuck].status is OrderStatus.PENDING
    assert all(o.side is Side.BUY and o.tradingsymbol == SYMBOL and o.exchange == "NFO"
               for o in book.values())
    stamp = book[complete].exchange_timestamp
    assert stamp is not None and abs(stamp - time.time()) < 5.0  # naive IST read as IST


@pytest.mark.parametrize(("kite_status", "folded"), [
    ("PUT ORDER REQ RECEIVED", OrderStatus.PENDING),
    ("VALIDATION PENDING", OrderStatus.PENDING),
    ("OPEN PENDING", OrderStatus.PENDING),
    ("MODIFY VALIDATION PENDING", OrderStatus.OPEN),
    ("MODIFY PENDING", OrderStatus.OPEN),
    ("MODIFIED", OrderStatus.OPEN),
    ("TRIGGER PENDING", OrderStatus.OPEN),
    ("CANCEL PENDING", OrderStatus.OPEN),
    ("UPDATE", OrderStatus.OPEN),
    ("AMO REQ RECEIVED", OrderStatus.PENDING),
    ("SOMETHING NEW", OrderStatus.PENDING),
    ("OPEN", OrderStatus.OPEN),
    ("COMPLETE", OrderStatus.COMPLETE),
    ("CANCELLED", OrderStatus.CANCELLED),
    ("CANCELLED AMO", OrderStatus.CANCELLED),
    ("REJECTED", OrderStatus.REJECTED),
])
def test_every_kite_status_folds(kite_status: str, folded: OrderStatus) -> None:
    assert order_status(kite_status) is folded


def test_kite_timestamps_are_naive_ist() -> None:
    expected = dt.datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()
    assert kite_time_to_epoch(dt.datetime(2026, 11, 24, 9, 15)) == expected
    assert kite_time_to_epoch("2026-11-24 09:15:00") == expected
    assert kite_time_to_epoch(None) is None and kite_time_to_epoch("garbage") is None


def test_quote_maps_the_touch_volume_and_ltp(server: FakeKiteServer,
                                             broker: KiteBroker) -> None:
    server.set_quote(SYMBOL, bid=100.0, ask=100.5, bid_quantity=650, ask_quantity=1300,
                     ltp=100.2, volume=52_000)
    quote = broker.quote(SYMBOL, "NFO")
    assert quote is not None
    assert (quote.bid, quote.ask, quote.ltp, quote.volume) == (100.0, 100.5, 100.2, 52_000)
    assert (quote.bid_quantity, quote.ask_quantity) == (650, 1300)
    assert quote.tradingsymbol == SYMBOL and abs(quote.timestamp - time.time()) < 5.0
    (sent,) = server.requests_to("quote")
    assert sent.query == {"i": [f"NFO:{SYMBOL}"]}


def test_quote_of_an_empty_book_and_of_an_unknown_instrument() -> None:
    with FakeKiteServer(rate_limits=RateLimits(quotes_per_second=10)) as srv:
        broker = KiteBroker(client(srv))
        empty = broker.quote("NIFTY26D0125000PE", "NFO")
        assert empty is not None and (empty.bid, empty.ask, empty.ltp, empty.volume) == \
            (None, None, None, 0)
        assert broker.quote("NIFTY26D0199999CE", "NFO") is None


def test_quotes_ask_for_many_instruments_in_one_call(server: FakeKiteServer,
                                                     broker: KiteBroker) -> None:
    server.set_quote("NIFTY26D0125000PE", bid=80.0, ask=80.5)
    keys = [f"NFO:{SYMBOL}", "NFO:NIFTY26D0125000PE", "NFO:NIFTY26D0199999CE"]
    quotes = broker.quotes(keys)
    assert set(quotes) == set(keys[:2])  # the unknown instrument is left out
    assert quotes["NFO:NIFTY26D0125000PE"].bid == 80.0
    (sent,) = server.requests_to("quote")
    assert sent.query == {"i": keys}
    with pytest.raises(ValueError, match="at most 500"):
        broker.quotes([f"NFO:X{i}" for i in range(501)])


def test_a_throttled_quote_raises_instead_of_looking_like_no_market(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    server.fail_next("quote", Fault.throttled())
    with pytest.raises(kex.NetworkException) as caught:
        broker.quote(SYMBOL, "NFO")
    assert caught.value.code == 429


def test_kite_limits_are_declared_for_the_engine_budget(broker: KiteBroker) -> None:
    limits = broker.rate_limits
    assert (limits.writes_per_second, limits.writes_per_minute, limits.writes_per_day) == \
        (10, 400, 5_000)
    assert (limits.quotes_per_second, limits.reads_per_second) == (1, 10)


def test_algo_id_goes_out_on_every_order_when_set(server: FakeKiteServer) -> None:
    broker = KiteBroker(client(server), algo_id="ALGO123")
    broker.place_order(instruction(tag="A1"))
    broker.place_order(instruction(price=None, tag="A2"))
    assert [r.form.get("algo_id") for r in server.requests_to("place")] == ["ALGO123"] * 2
    with pytest.raises(ValueError, match="algo_id"):
        KiteBroker(client(server), algo_id=" ")


def test_session_seconds_are_nse_hours_in_ist(broker: KiteBroker) -> None:
    open_ = dt.datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()
    assert broker.session_seconds(open_) == 0.0
    assert broker.session_seconds(open_ + 3600.0) == 3600.0
    assert broker.session_seconds(open_ - 60.0) == -60.0


# ------------------------------------------------------------------ errors arrive named


POLICY = RetryPolicy()


@pytest.mark.parametrize(("fault", "exc_type", "code", "bucket", "ambiguous"), [
    (Fault.throttled(), kex.NetworkException, 429, ErrorBucket.THROTTLE, False),
    (Fault.oms_down(), kex.NetworkException, 503, ErrorBucket.TRANSIENT, True),
    # The client says DataException 502 whatever the status: the answer's status is kept.
    (Fault.gateway_html(502), ours.UnreadableAnswer, 502, ErrorBucket.TRANSIENT, True),
    (Fault.gateway_html(504), ours.UnreadableAnswer, 504, ErrorBucket.TRANSIENT, True),
    (Fault.order_timed_out(), kex.InputException, 400, ErrorBucket.TRANSIENT, True),
    (Fault.order_timed_out(error_type="GeneralException"), kex.GeneralException, 400,
     ErrorBucket.TRANSIENT, True),
    (Fault.session_expired(), kex.TokenException, 403, ErrorBucket.FATAL, False),
    # No class in the client (it says GeneralException): raised as the type Kite named.
    (Fault.margin_shortfall(), ours.MarginException, 400, ErrorBucket.RISK, False),
    (Fault.error(400, "OrderException", "Order could not be placed."), kex.OrderException, 400,
     ErrorBucket.FATAL, False),
])
def test_kite_errors_arrive_named_and_classify(
        server: FakeKiteServer, broker: KiteBroker, fault: Fault, exc_type: type[Exception],
        code: int, bucket: ErrorBucket, ambiguous: bool) -> None:
    server.fail_next("place", fault)
    with pytest.raises(Exception) as caught:
        broker.place_order(instruction())
    exc = caught.value
    assert type(exc) is exc_type and getattr(exc, "code", None) == code
    error = POLICY.classify(exc)
    assert (error.bucket, error.ambiguous) == (bucket, ambiguous)


@pytest.mark.parametrize(("change", "bucket"), [
    ({"quantity": 1820}, ErrorBucket.RISK),  # freeze quantity
    ({"quantity": 60}, ErrorBucket.RISK),  # lot size
    ({"tag": "T" * 21}, ErrorBucket.FATAL),
    ({"price": 99.03}, ErrorBucket.FATAL),  # off the tick
    ({"price": None, "market_protection": 0}, ErrorBucket.FATAL),
])
def test_validation_refusals_classify(broker: KiteBroker, change: dict[str, Any],
                                      bucket: ErrorBucket) -> None:
    with pytest.raises(kex.InputException) as caught:
        broker.place_order(instruction(**change))
    assert caught.value.code == 400
    error = POLICY.classify(caught.value)
    assert (error.bucket, error.ambiguous) == (bucket, False)


def test_read_timeout_after_sending_is_ambiguous(server: FakeKiteServer,
                                                 broker: KiteBroker) -> None:
    server.fail_next("place", Fault.ghost(delay_s=2.0))
    with pytest.raises(requests.exceptions.ReadTimeout) as caught:
        broker.place_order(instruction(tag="GHOST"))
    error = POLICY.classify(caught.value)
    assert (error.bucket, error.ambiguous) == (ErrorBucket.TRANSIENT, True)
    assert [o.tag for o in broker.orders()] == ["GHOST"]


def test_connection_refused_arrives_as_requests_connection_error(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        broker.place_order(instruction())
    assert "NewConnectionError" in str(caught.value)
    assert POLICY.classify(caught.value).bucket is ErrorBucket.TRANSIENT


def test_async_rms_rejection_classifies_as_risk(server: FakeKiteServer,
                                                broker: KiteBroker) -> None:
    server.fail_next("place", Fault.rejected())
    order_id = broker.place_order(instruction())
    (order,) = [o for o in broker.orders() if o.order_id == order_id]
    assert order.status is OrderStatus.REJECTED
    assert POLICY.classify_rejection(order.status_message).bucket is ErrorBucket.RISK


# ------------------------------------------------------------------ engine end to end


def fast_policy(**kw: Any) -> RetryPolicy:
    policies = {
        ErrorBucket.TRANSIENT: BucketPolicy(max_retries=3, base_delay_s=0.05, max_delay_s=0.1),
        ErrorBucket.THROTTLE: BucketPolicy(max_retries=3, base_delay_s=0.1, max_delay_s=0.2),
        ErrorBucket.RISK: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
        ErrorBucket.FATAL: BucketPolicy(max_retries=0, base_delay_s=0.0, max_delay_s=0.0),
    }
    base: dict[str, Any] = dict(policies=policies, jitter=0.0, reconcile_window_s=2.0,
                                reconcile_interval_s=0.1)
    base.update(kw)
    return RetryPolicy(**base)


@dataclass
class Desk:
    server: FakeKiteServer
    engine: ExecutionEngine
    rows: list[dict[str, Any]] = field(default_factory=list)

    def events(self) -> list[str]:
        return [r["event"] for r in list(self.rows)]

    def submit(self, **kw: Any) -> tuple[str, Future[ExecutionResult]]:
        fields: dict[str, Any] = dict(tradingsymbol=SYMBOL, exchange="NFO", side="BUY",
                                      quantity=130, lot_size=65, tick_size=0.05,
                                      freeze_quantity=1800, bid=100.0, ask=100.5)
        fields.update(kw)
        return self.engine.submit(ExecutionRequest.model_validate(fields))


@pytest.fixture
def desk(server: FakeKiteServer, request: pytest.FixtureRequest) -> Iterator[Desk]:
    overrides: dict[str, Any] = getattr(request, "param", {})  # indirect parametrization
    policy = fast_policy(**overrides)
    engine = ExecutionEngine(KiteBroker(client(server)), mode="live", clock=RealClock(),
                             retry_policy=policy,
                             # Reads as often as it polls (not 0.2 s apart): every shutdown
                             # waits out the gap for its last read.
                             config=EngineConfig(poll_interval_s=0.05, min_read_gap_s=0.05,
                                                 cancel_timeout_s=3.0,
                                                 id_seed=11, rate_limits=AccountRateLimits(
                                                     throttle_pause_s=0.1)))
    desk = Desk(server, engine)
    engine.add_listener(desk.rows.append)
    yield desk
    engine.shutdown(5.0)


def result_of(future: Future[ExecutionResult]) -> ExecutionResult:
    return future.result(10.0)


def test_ghost_order_after_a_read_timeout_is_adopted_by_tag_never_placed_twice(
        desk: Desk) -> None:
    desk.server.fail_next("place", Fault.ghost(delay_s=2.0))
    _, future = desk.submit()
    result = result_of(future)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 130
    assert desk.events() == ["accepted", "reconciling", "reconciled", "placed", "filled",
                             "finished"]
    reconciling, reconciled = desk.rows[1], desk.rows[2]
    assert reconciled["error"].startswith("ReadTimeout") and reconciled["ambiguous"] is True
    assert (reconciling["tag"], reconciling["error"]) == (reconciled["tag"], reconciled["error"])
    (order,) = desk.server.recorded_orders()
    assert len(desk.server.requests_to("place")) == 1
    assert result.order_ids == (order["order_id"],) and order["tag"] == reconciled["tag"]


def test_order_request_timed_out_whose_order_lands_later_is_reconciled(desk: Desk) -> None:
    desk.server.fail_next("place", Fault.order_timed_out(appear_after_s=0.5))
    _, future = desk.submit()
    result = result_of(future)
    assert result.status is ParentStatus.FILLED
    assert desk.events() == ["accepted", "reconciling", "reconciled", "placed", "filled",
                             "finished"]
    assert "Order request timed out" in desk.rows[2]["error"]
    assert len(desk.server.recorded_orders()) == 1
    assert len(desk.server.requests_to("place")) == 1
    assert len(desk.server.requests_to("orders")) >= 3  # looked until it appeared


@pytest.mark.parametrize("desk", [{"reconcile_window_s": 0.2}], indirect=True)
def test_a_late_order_after_the_reconcile_window_is_cancelled_as_a_ghost(desk: Desk) -> None:
    desk.server.fail_next("place", Fault.order_timed_out(appear_after_s=0.6))
    parent_id, future = desk.submit(order_type="LIMIT", limit_price=99.0)
    wait_for(lambda: "ghost" in desk.events())
    desk.engine.cancel(parent_id)
    result = result_of(future)
    assert result.status is ParentStatus.CANCELLED and result.filled_quantity == 0
    assert desk.events() == ["accepted", "reconciling", "retry", "placed", "ghost", "cancelled",
                             "finished"]
    late, resent = desk.server.recorded_orders()
    assert late["tag"] != resent["tag"]
    assert late["status"] == resent["status"] == "CANCELLED"


def test_too_many_requests_is_retried(desk: Desk) -> None:
    desk.server.fail_next("place", Fault.throttled())
    _, future = desk.submit()
    result = result_of(future)
    assert result.status is ParentStatus.FILLED
    assert desk.events() == ["accepted", "retry", "placed", "filled", "finished"]
    retry = desk.rows[1]
    assert (retry["error_bucket"], retry["ambiguous"]) == ("throttle", False)
    assert len(desk.server.requests_to("place")) == 2
    assert len(desk.server.recorded_orders()) == 1


def test_a_synchronous_margin_refusal_is_not_retried(desk: Desk) -> None:
    desk.server.fail_next("place", Fault.margin_shortfall())
    _, future = desk.submit()
    result = result_of(future)
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert desk.events() == ["accepted", "error", "finished"]
    assert desk.rows[1]["error_bucket"] == "risk"
    assert desk.rows[1]["error"].startswith("MarginException: Insufficient funds")
    assert len(desk.server.requests_to("place")) == 1 and desk.server.recorded_orders() == []


def test_an_asynchronous_rms_rejection_is_not_retried(desk: Desk) -> None:
    desk.server.fail_next("place", Fault.rejected(after_s=0.1))
    _, future = desk.submit()
    result = result_of(future)
    assert result.status is ParentStatus.FAILED
    assert desk.events() == ["accepted", "placed", "rejected", "finished"]
    assert desk.rows[2]["error_bucket"] == "risk"
    assert len(desk.server.requests_to("place")) == 1


def test_partial_fills_are_tracked_to_completion(desk: Desk) -> None:
    desk.server.set_quote(SYMBOL, bid=100.0, ask=100.5, ask_quantity=65)
    _, future = desk.submit()
    wait_for(lambda: "filled" in desk.events())
    first = next(r for r in desk.rows if r["event"] == "filled")
    assert (first["status"], first["filled_quantity"], first["fill_price"]) == \
        ("partially_filled", 65, 100.5)
    desk.server.fill(first["order_id"], 65, 100.75)
    result = result_of(future)
    assert result.status is ParentStatus.FILLED and result.filled_quantity == 130
    assert result.average_price == pytest.approx(100.625)
    fills = [r for r in desk.rows if r["event"] == "filled"]
    assert [(r["status"], r["filled_quantity"]) for r in fills] == \
        [("partially_filled", 65), ("filled", 65)]


@pytest.mark.parametrize("cancel_pending_s", [0.0, 0.3])
def test_cancel_keeps_the_fills_and_returns_the_rest(cancel_pending_s: float,
                                                     desk: Desk) -> None:
    desk.server.cancel_pending_s = cancel_pending_s
    parent_id, future = desk.submit(order_type="LIMIT", limit_price=99.0)
    wait_for(lambda: "placed" in desk.events())
    order_id = desk.rows[-1]["order_id"]
    desk.server.fill(order_id, 65)
    wait_for(lambda: "filled" in desk.events())
    desk.engine.cancel(parent_id)
    result = result_of(future)
    assert result.status is ParentStatus.CANCELLED
    assert (result.filled_quantity, result.unfilled_quantity) == (65, 65)
    assert desk.events() == ["accepted", "placed", "filled", "cancelled", "finished"]
    assert desk.server.order(order_id)["status"] == "CANCELLED"
    assert len(desk.server.requests_to("cancel")) == 1


def test_one_unreadable_order_book_row_does_not_hide_the_others() -> None:
    class StubKite:
        def orders(self) -> list[dict[str, object]]:
            good = {"order_id": "1", "tag": "T1", "tradingsymbol": "NIFTY26D0125000CE",
                    "exchange": "NFO", "transaction_type": "BUY", "quantity": 65,
                    "filled_quantity": 65, "average_price": 100.5, "status": "COMPLETE"}
            odd = dict(good, order_id="2", transaction_type="SHORT")  # a side we do not model
            return [odd, good]

    from imperium_exec.brokers.kite.broker import KiteBroker

    (order,) = KiteBroker(StubKite()).orders()
    assert (order.order_id, order.filled_quantity) == ("1", 65)


def test_the_instrument_list_is_consulted_only_once_it_is_loaded(
        broker: KiteBroker, server: FakeKiteServer) -> None:
    before = sum(server.replies.values())
    assert broker.lists(SYMBOL, "NFO") is None  # not loaded: cannot tell, never downloads
    assert sum(server.replies.values()) == before
    broker.instrument_dump("NFO")
    assert sum(server.replies.values()) == before + 1
    assert broker.lists(SYMBOL, "NFO") is True
    assert broker.lists("NIFTY99Z9999999CE", "NFO") is False
    assert broker.lists(SYMBOL, "BFO") is None


# ------------------------------------------------------------------ basket margin


NAKED_LOT = 0.12 * 25_000.0 * 65  # the fake's NIFTY stands at 25,000
STRANGLE = [MarginLeg("NIFTY26D0125200CE", "NFO", Side.SELL, 65),
            MarginLeg("NIFTY26D0124800PE", "NFO", Side.SELL, 65)]
WINGS = [MarginLeg("NIFTY26D0125400CE", "NFO", Side.BUY, 65),
         MarginLeg("NIFTY26D0124600PE", "NFO", Side.BUY, 65, OrderType.LIMIT, 11.0)]


@pytest.fixture
def chain_server() -> Iterator[FakeKiteServer]:
    """NIFTY 24,500-25,450 calls and puts quoted 10.00 / 10.50, and 100,000 rupees of margin:
    an iron condor 200 points wide fits, the strangle inside it naked does not."""
    strip = nifty_strip(40, first_strike=24_500)
    with FakeKiteServer(instruments=strip, margin=100_000.0) as srv:
        for inst in strip:
            srv.set_quote(inst.tradingsymbol, bid=10.0, ask=10.5)
        yield srv


def test_basket_margin_asks_kite_with_positions_considered_and_reads_final_and_net(
        chain_server: FakeKiteServer) -> None:
    broker = KiteBroker(client(chain_server))
    check = broker.basket_margin([*WINGS, *STRANGLE])
    (basket,) = chain_server.requests_to("basket_margins")
    assert basket.query == {"consider_positions": ["True"]}
    assert basket.body == [
        dict(exchange="NFO", tradingsymbol="NIFTY26D0125400CE", transaction_type="BUY",
             variety="regular", product="NRML", order_type="MARKET", quantity=65, price=0,
             trigger_price=0),
        dict(exchange="NFO", tradingsymbol="NIFTY26D0124600PE", transaction_type="BUY",
             variety="regular", product="NRML", order_type="LIMIT", quantity=65, price=11.0,
             trigger_price=0),
        dict(exchange="NFO", tradingsymbol="NIFTY26D0125200CE", transaction_type="SELL",
             variety="regular", product="NRML", order_type="MARKET", quantity=65, price=0,
             trigger_price=0),
        dict(exchange="NFO", tradingsymbol="NIFTY26D0124800PE", transaction_type="SELL",
             variety="regular", product="NRML", order_type="MARKET", quantity=65, price=0,
             trigger_price=0)]
    (margins,) = chain_server.requests_to("margins")
    assert (margins.method, margins.path) == ("GET", "/user/margins/equity")
    wings = (10.5 + 11.0) * 65
    assert check == MarginCheck(required=2 * 200 * 65 + wings, available=100_000.0,
                                required_without_hedge=2 * NAKED_LOT + wings)


def test_the_margin_precheck_refuses_a_naked_short_strangle_and_accepts_it_with_its_wings(
        chain_server: FakeKiteServer) -> None:
    broker = KiteBroker(client(chain_server))
    naked = broker.basket_margin(STRANGLE)
    assert naked.required == pytest.approx(2 * NAKED_LOT)
    assert naked.shortfall == pytest.approx(2 * NAKED_LOT - 100_000.0)  # refused
    condor = broker.basket_margin([*WINGS, *STRANGLE])
    assert condor.shortfall == 0.0  # accepted
    assert condor.required < naked.required


def test_basket_margin_counts_the_positions_held_and_the_net_they_leave(
        chain_server: FakeKiteServer) -> None:
    chain_server.margin = 5e6
    broker = KiteBroker(client(chain_server))
    broker.place_order(OrderInstruction("NIFTY26D0125200CE", "NFO", Side.SELL, 65,
                                        OrderType.MARKET, None, "NRML", "DAY", "S1",
                                        market_protection=-1))
    hedge = broker.basket_margin(WINGS[:1])
    assert hedge.required == 0.0  # buying the wing of the short held frees margin
    assert hedge.available == pytest.approx(5e6 + 10.0 * 65 - NAKED_LOT)
    assert hedge.required_without_hedge == pytest.approx(10.5 * 65)


def test_without_per_order_totals_nothing_is_said_about_the_margin_without_hedge() -> None:
    class CompactKite:
        def basket_order_margins(self, orders: list[dict[str, Any]], *,
                                 consider_positions: bool) -> dict[str, Any]:
            assert consider_positions is True and len(orders) == 1
            return {"initial": {"total": 9.0}, "final": {"total": 4.5}}

        def margins(self, segment: str) -> dict[str, Any]:
            assert segment == "equity"
            return {"net": 100.0}

    check = KiteBroker(CompactKite()).basket_margin(STRANGLE[:1])
    assert check == MarginCheck(required=4.5, available=100.0, required_without_hedge=None)


@pytest.mark.parametrize("route", ["basket_margins", "margins"])
@pytest.mark.parametrize(("fault", "exc_type", "code"), [
    (Fault.throttled(), kex.NetworkException, 429),
    (Fault.oms_down(), kex.NetworkException, 503),
    (Fault.gateway_html(502), ours.UnreadableAnswer, 502),
    (Fault.session_expired(), kex.TokenException, 403),
    (Fault.error(400, "InputException", "Invalid order."), kex.InputException, 400),
])
def test_basket_margin_errors_arrive_named(chain_server: FakeKiteServer, route: str,
                                           fault: Fault, exc_type: type[Exception],
                                           code: int) -> None:
    chain_server.fail_next(route, fault)
    with pytest.raises(Exception) as caught:
        KiteBroker(client(chain_server)).basket_margin(STRANGLE)
    assert type(caught.value) is exc_type and getattr(caught.value, "code", None) == code
