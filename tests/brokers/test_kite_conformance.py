"""Kite's errors, all of them: every documented ``error_type`` x HTTP status x body shape on
every write route, through the real kiteconnect client and :class:`KiteBroker`, against the
fake Kite server; the classification each one gets is the README's table ("Retries that never
double-place").

Fixtures are written here from Kite's documented shapes (kite.trade/docs/connect/v3/exceptions:
the envelope ``{"status": "error", "message", "error_type"}`` with the HTTP status; the ten
exception names and what each means) and from what gateways answer in front of an API (an
nginx-like HTML page, plain text, an empty body, another JSON). The fake serves them through
:meth:`Fault.answer`.

The rules under test, in the words of the issue: any 5xx or unreadable answer to a write may
have placed the order (ambiguous: the engine reconciles by tag); a 429 in any shape is
throttle; margin and holding errors are risk; token errors are the session; input, permission
and user errors are fatal.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kiteconnect import KiteConnect

from imperium_exec.brokers import KiteBroker
from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.brokers.errors import KITE_ERROR_TYPES
from imperium_exec.brokers.kite.errors import KITE_ERRORS
from imperium_exec.events import ErrorBucket
from imperium_exec.request import OrderType, Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.testing import BodyShape, FakeKiteServer, Fault, RateLimits
from imperium_exec.testing.fake_kite.routes import match_route

SYMBOL = "NIFTY26D0125000CE"
ORDER_ID = "250101000000001"
POLICY = RetryPolicy()

THROTTLE, TRANSIENT, RISK, FATAL = (ErrorBucket.THROTTLE, ErrorBucket.TRANSIENT,
                                    ErrorBucket.RISK, ErrorBucket.FATAL)

#: Every error_type Kite documents, with a message in Kite's register. Margin and holding
#: texts are Kite's RMS texts; the others name no RMS check, so their type alone decides.
MESSAGES: dict[str, str] = {
    "TokenException": "Incorrect `api_key` or `access_token`.",
    "UserException": "Your account has been blocked from trading. Contact support.",
    "OrderException": "Order could not be placed.",
    "InputException": "Invalid `price`: the order price is not a multiple of the tick size.",
    "MarginException": "Insufficient funds. Required margin is 95417.84 but available margin "
                       "is 74251.80. Check the orderbook for open orders.",
    "HoldingException": "Insufficient stock holding or there are pending sell orders for "
                        "this stock. Check the orderbook.",
    "NetworkException": "Request failed (kitetrade-oms)",
    "DataException": "The OMS sent a response the API could not understand.",
    "GeneralException": "Something went wrong. Please try again.",
    "PermissionException": "Insufficient permission for that call.",
}
STATUSES = (400, 403, 429, 500, 502, 503, 504)
SHAPES = tuple(BodyShape)
WRITES = ("place", "cancel", "modify")


@dataclass(frozen=True)
class Expect:
    bucket: ErrorBucket
    ambiguous: bool
    session: bool = False  # the session is lost: log in again

    @property
    def retried(self) -> bool:
        return self.bucket in (THROTTLE, TRANSIENT)


#: Kite's JSON envelope with its error_type: (400/403, 5xx). Every 429 is throttle.
TYPED: dict[str, tuple[Expect, Expect]] = {
    "TokenException": (Expect(FATAL, False, True), Expect(FATAL, True, True)),
    "UserException": (Expect(FATAL, False), Expect(TRANSIENT, True)),
    "OrderException": (Expect(FATAL, False), Expect(TRANSIENT, True)),
    "InputException": (Expect(FATAL, False), Expect(TRANSIENT, True)),
    "MarginException": (Expect(RISK, False), Expect(RISK, True)),
    "HoldingException": (Expect(RISK, False), Expect(RISK, True)),
    "NetworkException": (Expect(TRANSIENT, True), Expect(TRANSIENT, True)),
    "DataException": (Expect(TRANSIENT, True), Expect(TRANSIENT, True)),
    "GeneralException": (Expect(FATAL, False), Expect(TRANSIENT, True)),
    "PermissionException": (Expect(FATAL, False), Expect(TRANSIENT, True)),
}
#: Kite's envelope without an error_type: a GeneralException (what the client means to raise),
#: so its text decides a 4xx (an RMS text is risk) and any 5xx is ambiguous.
UNTYPED_4XX = {name: Expect(RISK, False) if name in ("MarginException", "HoldingException")
               else Expect(FATAL, False) for name in MESSAGES}


def expected(error_type: str, status: int, shape: BodyShape) -> Expect:
    """The README's table."""
    if status == 429:
        return Expect(THROTTLE, False)
    if shape is BodyShape.JSON:
        return TYPED[error_type][status >= 500]
    if shape is BodyShape.JSON_UNTYPED:
        return Expect(TRANSIENT, True) if status >= 500 else UNTYPED_4XX[error_type]
    return Expect(TRANSIENT, True)  # not Kite's envelope: only the status speaks


def raised_name(error_type: str, shape: BodyShape) -> str:
    if shape is BodyShape.JSON:
        return error_type
    if shape is BodyShape.JSON_UNTYPED:
        return "GeneralException"
    return "UnreadableAnswer"


# ------------------------------------------------------------------ the fake and the broker


@pytest.fixture(scope="module")
def server() -> Iterator[FakeKiteServer]:
    limits = RateLimits(order_writes_per_second=10**9, order_writes_per_minute=10**9,
                        order_writes_per_day=10**9, quotes_per_second=10**9,
                        reads_per_second=10**9)
    with FakeKiteServer(rate_limits=limits) as srv:
        srv.set_quote(SYMBOL, bid=100.0, ask=100.5)
        yield srv


@pytest.fixture(scope="module")
def broker(server: FakeKiteServer) -> KiteBroker:
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=5)
    # The fake is on this machine: no proxy or .netrc from the environment (requests looks
    # them up again on every request, a third of each of the table's 1,500 calls).
    kite.reqsession.trust_env = False
    return KiteBroker(kite)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread() -> Iterator[None]:
    """This module's (in place of tests/conftest.py's): its 1,500 cases make no Qt object,
    and what each leaves in a cycle (a caught exception and its traceback) is young when it
    ends, so the young generations after each case free it. The suite's full pass every 50
    tests (a tenth of a second each) would be 30 of them here, most of the table's time."""
    yield
    gc.collect(1)


@pytest.fixture(autouse=True)
def _every_fault_is_used(server: FakeKiteServer) -> Iterator[None]:
    yield
    assert server.clear_faults() == [], "a scripted answer was never asked for"


def instruction(tag: str = "CONF1") -> OrderInstruction:
    return OrderInstruction(SYMBOL, "NFO", Side.BUY, 65, OrderType.LIMIT, 99.0, "NRML", "DAY",
                            tag)


def write(broker: KiteBroker, route: str) -> Callable[[], Any]:
    """One write on ``route`` through the broker (modify: the client's ``modify_order`` with
    the broker reading its answer, as any modify of the adapter's would)."""
    if route == "place":
        return lambda: broker.place_order(instruction())
    if route == "cancel":
        return lambda: broker.cancel_order(ORDER_ID)
    return lambda: broker.call_kite("modify_order", variety="regular", order_id=ORDER_ID,
                                    price=99.5, order_type="LIMIT")


def routed(route: str) -> bool:
    method, path = {"place": ("POST", "/orders/regular"),
                    "cancel": ("DELETE", f"/orders/regular/{ORDER_ID}"),
                    "modify": ("PUT", f"/orders/regular/{ORDER_ID}")}[route]
    return match_route(method, path)[0] == route


def raised(server: FakeKiteServer, broker: KiteBroker, route: str, fault: Fault) -> Exception:
    if not routed(route):
        pytest.skip(f"the fake Kite has no {route} route")
    server.fail_next(route, fault)
    with pytest.raises(Exception) as caught:
        write(broker, route)()
    assert isinstance(caught.value, Exception)
    return caught.value


# ------------------------------------------------------------------ the whole table


@pytest.mark.parametrize("route", WRITES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("error_type", sorted(MESSAGES))
def test_every_error_type_status_and_shape_classifies_as_the_table_says(
        server: FakeKiteServer, broker: KiteBroker, error_type: str, status: int,
        shape: BodyShape, route: str) -> None:
    fault = Fault.answer(status, shape, error_type=error_type, message=MESSAGES[error_type])
    exc = raised(server, broker, route, fault)
    assert type(exc).__name__ == raised_name(error_type, shape)
    assert getattr(exc, "code", None) == status  # the answer's status, whatever the shape
    error = POLICY.classify(exc)
    want = expected(error_type, status, shape)
    assert (error.bucket, error.ambiguous) == (want.bucket, want.ambiguous), error.reason
    assert KITE_ERRORS.is_throttle(exc) is (want.bucket is THROTTLE)
    assert KITE_ERRORS.is_session_expired(exc) is want.session
    assert POLICY.allows_retry(error, 0) is want.retried


def test_the_table_covers_every_documented_error_type() -> None:
    documented = {"TokenException", "UserException", "OrderException", "InputException",
                  "MarginException", "HoldingException", "NetworkException", "DataException",
                  "GeneralException", "PermissionException"}
    assert set(MESSAGES) == set(TYPED) == set(KITE_ERROR_TYPES) == documented


# ------------------------------------------------------------------ the rules, one by one


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_any_5xx_to_a_place_is_ambiguous_whatever_the_shape_or_type(
        server: FakeKiteServer, broker: KiteBroker, status: int, shape: BodyShape) -> None:
    for error_type in ("OrderException", "GeneralException", "InputException", None):
        exc = raised(server, broker, "place",
                     Fault.answer(status, shape, error_type=error_type, message="Oops"))
        assert POLICY.classify(exc).ambiguous, (error_type, exc)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_a_429_in_any_shape_is_throttle_and_the_gateway_agrees(
        server: FakeKiteServer, broker: KiteBroker, shape: BodyShape) -> None:
    exc = raised(server, broker, "place", Fault.answer(429, shape, error_type="NetworkException",
                                                       message="Too many requests"))
    error = POLICY.classify(exc)
    assert (error.bucket, error.ambiguous) == (THROTTLE, False)
    assert KITE_ERRORS.is_throttle(exc)


@pytest.mark.parametrize("shape", [BodyShape.JSON, BodyShape.JSON_UNTYPED, BodyShape.TEXT])
def test_the_daily_order_cap_is_fatal_even_with_429(server: FakeKiteServer, broker: KiteBroker,
                                                    shape: BodyShape) -> None:
    exc = raised(server, broker, "place",
                 Fault.answer(429, shape, error_type="NetworkException",
                              message="Maximum allowed order requests exceeded."))
    readable = shape is not BodyShape.TEXT  # plain text is a gateway's: its status speaks
    assert POLICY.classify(exc).bucket is (FATAL if readable else THROTTLE)
    assert KITE_ERRORS.is_throttle(exc) is not readable


@pytest.mark.parametrize("error_type", ["InputException", "GeneralException", "OrderException",
                                        None])
def test_kites_order_request_timed_out_on_a_400_is_ambiguous(
        server: FakeKiteServer, broker: KiteBroker, error_type: str | None) -> None:
    shape = BodyShape.JSON if error_type else BodyShape.JSON_UNTYPED
    exc = raised(server, broker, "place", Fault.answer(
        400, shape, error_type=error_type, message="Order request timed out. Please check the "
        "order book and confirm before placing again."))
    error = POLICY.classify(exc)
    assert (error.bucket, error.ambiguous) == (TRANSIENT, True)


@pytest.mark.parametrize("shape", [s for s in SHAPES
                                   if s not in (BodyShape.JSON, BodyShape.JSON_UNTYPED)],
                         ids=str)
@pytest.mark.parametrize("status", [400, 403])
def test_an_unreadable_4xx_says_nothing_of_the_order_so_it_is_ambiguous_and_never_risk(
        server: FakeKiteServer, broker: KiteBroker, status: int, shape: BodyShape) -> None:
    # The text is a margin refusal and the HTML page's stylesheet says "margin": neither is
    # Kite's word, so neither makes it risk, and a 403 page is no lost session.
    exc = raised(server, broker, "place", Fault.answer(status, shape,
                                                       message=MESSAGES["MarginException"]))
    error = POLICY.classify(exc)
    assert (error.bucket, error.ambiguous) == (TRANSIENT, True)
    assert not KITE_ERRORS.is_session_expired(exc)
    assert f"HTTP {status}" in str(exc)


def test_an_unknown_error_type_is_a_general_exception_that_names_it(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    exc = raised(server, broker, "place", Fault.answer(400, BodyShape.JSON,
                                                       error_type="BrandNewException",
                                                       message="Not allowed."))
    assert type(exc).__name__ == "GeneralException" and getattr(exc, "code", None) == 400
    assert (POLICY.classify(exc).bucket, POLICY.classify(exc).ambiguous) == (FATAL, False)
    exc = raised(server, broker, "place", Fault.answer(503, BodyShape.JSON,
                                                       error_type="BrandNewException"))
    assert POLICY.classify(exc).ambiguous


def test_a_success_the_client_cannot_read_is_an_ambiguous_unreadable_answer(
        server: FakeKiteServer, broker: KiteBroker) -> None:
    # 200 {"status": "success", "data": {}}: the order may well exist, its id is unknown.
    fault = Fault(status=200, body=b'{"status": "success", "data": {}}')
    exc = raised(server, broker, "place", fault)
    assert type(exc).__name__ == "UnreadableAnswer" and getattr(exc, "code", None) == 200
    assert isinstance(exc.__cause__, KeyError)
    error = POLICY.classify(exc)
    assert (error.bucket, error.ambiguous) == (TRANSIENT, True)


def test_the_clients_own_exception_is_kept_as_the_cause(server: FakeKiteServer,
                                                        broker: KiteBroker) -> None:
    from kiteconnect import exceptions as kex

    exc = raised(server, broker, "place", Fault.answer(500, BodyShape.JSON_UNTYPED,
                                                       message="boom"))
    assert isinstance(exc.__cause__, TypeError)  # kiteconnect's getattr(ex, None, ...)
    exc = raised(server, broker, "place", Fault.answer(429, BodyShape.TEXT))
    assert isinstance(exc.__cause__, kex.DataException) and exc.__cause__.code == 502
    exc = raised(server, broker, "place", Fault.answer(400, BodyShape.JSON,
                                                       error_type="MarginException",
                                                       message="Order rejected"))
    assert type(exc.__cause__) is kex.GeneralException
    assert type(exc).__name__ == "MarginException" and POLICY.classify(exc).bucket is RISK


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_a_recorded_order_answered_with_a_500_is_in_the_book_under_its_tag(
        server: FakeKiteServer, broker: KiteBroker, shape: BodyShape) -> None:
    tag = f"REC{SHAPES.index(shape)}"
    server.fail_next("place", Fault.answer(500, shape, error_type="OrderException",
                                           message="Order could not be placed.", record=True))
    with pytest.raises(Exception) as caught:
        broker.place_order(instruction(tag))
    assert POLICY.classify(caught.value).ambiguous
    assert [o.tag for o in broker.orders() if o.tag == tag] == [tag]


def test_reads_are_read_the_same_way(server: FakeKiteServer, broker: KiteBroker) -> None:
    server.fail_next("orders", Fault.answer(429, BodyShape.HTML))
    with pytest.raises(Exception) as caught:
        broker.orders()
    assert KITE_ERRORS.is_throttle(caught.value)
    server.fail_next("quote", Fault.answer(403, BodyShape.JSON, error_type="TokenException",
                                           message=MESSAGES["TokenException"]))
    with pytest.raises(Exception) as caught:
        broker.quotes([f"NFO:{SYMBOL}"])
    assert KITE_ERRORS.is_session_expired(caught.value)


#: A proxy's plain-text 503 whose last upstream try was refused (an earlier one may have
#: reached Kite: "reset before headers" is sent, no reply).
PROXY_503 = b"upstream reset before headers; retried: delayed connect error: Connection refused"


def test_an_answer_quoting_connection_refused_is_still_ambiguous() -> None:
    """Only a transport error with no answer is 'never connected'; any 5xx to a write may have
    placed the order."""
    from imperium_exec.brokers.errors import NetworkException
    from imperium_exec.brokers.kite.errors import KITE_ERRORS, read_error_answer

    answer = read_error_answer(ValueError("client failed"), 503, "text/plain", PROXY_503)
    for exc in (answer, NetworkException("Gateway error: upstream connection refused after "
                                         "retry", 502)):
        error = KITE_ERRORS.classify(exc)
        assert error is not None and error.ambiguous, (type(exc).__name__, error)
