"""Property: whatever the algorithm, book and failures, nothing is lost and nothing is doubled."""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine_support import assert_books_balance, make_request, make_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imperium_exec.brokers.errors import (
    BrokerTimeout,
    GeneralException,
    NetworkException,
)
from imperium_exec.request import ExecutionAlgo

FAILURES = {
    "throttle": lambda: NetworkException("Too many requests", code=429),
    "oms_down": lambda: NetworkException("Request failed (kitetrade-oms)", code=503),
    "timeout_before_send": lambda: BrokerTimeout("connect timed out", sent=False),
    "margin": lambda: GeneralException("Insufficient funds. Required margin is 2 but available "
                                       "margin is 1.", code=400),
}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    algo=st.sampled_from(list(ExecutionAlgo)),
    lots=st.integers(1, 60),
    slices=st.integers(1, 8),
    horizon_s=st.sampled_from([60.0, 300.0, 1800.0]),
    randomize=st.booleans(),
    wide_book=st.booleans(),
    failures=st.lists(st.sampled_from(sorted(FAILURES)), max_size=3),
    ghost=st.booleans(),
)
def test_every_child_ends_once_and_fills_match_the_broker(
        algo: ExecutionAlgo, lots: int, slices: int, horizon_s: float, randomize: bool,
        wide_book: bool, failures: list[str], ghost: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rig = make_rig(Path(tmp), bid=100.0, ask=100.5 if wide_book else 100.05)
        scripted = [FAILURES[name]() for name in failures]
        if ghost:
            rig.broker.fail_next(BrokerTimeout("read timed out", sent=True), record=True)
        rig.broker.fail_next(*scripted)
        request = make_request(quantity=65 * lots, execution_algo=algo, max_child_orders=slices,
                               horizon_s=horizon_s, randomize_slices=randomize, seed=lots)
        try:
            _, future = rig.engine.submit(request)
            result = future.result(20)
        finally:
            rig.close()
        rows = rig.file_rows()
        assert_books_balance(rows, request.quantity)
        assert result.filled_quantity + result.unfilled_quantity == request.quantity
        broker_filled = sum(o.filled_quantity for o in rig.broker.orders())
        assert broker_filled == result.filled_quantity  # no fill the parent does not know of
        assert all(o.quantity <= request.max_order_quantity and o.quantity % 65 == 0
                   for o in rig.broker.placed)
        if "margin" not in failures and not wide_book:
            assert result.filled_quantity == request.quantity or algo is ExecutionAlgo.POV
