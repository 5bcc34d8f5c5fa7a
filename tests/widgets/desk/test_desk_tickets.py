"""The desk's plain logic: tickets to Kite-style payloads, and what confirmations say."""

from __future__ import annotations

from typing import Any

import pytest
from dock_support import row

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.events import read_event
from imperium_exec.request import ExecutionAlgo, ExecutionRequest
from imperium_exec.widgets.desk.confirmations import Level, describe
from imperium_exec.widgets.desk.tickets import (
    BasketLeg,
    ChainSnapshot,
    ExecutionPolicy,
    OrderTicket,
    fetch_snapshot,
)


@pytest.fixture(scope="module")
def snapshot() -> ChainSnapshot:
    broker = PaperBroker(clock=VirtualClock(), seed=3)
    return fetch_snapshot(broker, "NIFTY", 4)


def test_the_snapshot_is_the_chain_around_the_money(snapshot: ChainSnapshot) -> None:
    assert len(snapshot.strikes) == 9 and snapshot.strikes[4] == snapshot.view.atm_strike
    assert snapshot.lot_size == 65
    quote = snapshot.quote(snapshot.view.atm_strike, "PE")
    assert quote.tradingsymbol.endswith("PE") and quote.bid is not None


def test_an_immediate_ticket_is_a_plain_market_payload(snapshot: ChainSnapshot) -> None:
    atm = snapshot.view.atm_strike
    payload = snapshot.ticket_payload(OrderTicket(BasketLeg(atm, "CE", 3), "BUY"))
    quote = snapshot.quote(atm, "CE")
    assert payload["tradingsymbol"] == quote.tradingsymbol
    assert payload["transaction_type"] == "BUY" and payload["quantity"] == 195
    assert payload["order_type"] == "MARKET" and payload["exchange"] == "NFO"
    assert payload["bid"] == quote.bid and payload["ask"] == quote.ask
    assert payload["execution_algo"] == "IMMEDIATE" and payload["max_child_orders"] == 1
    assert "execution_horizon_s" not in payload
    request = ExecutionRequest.from_payload(payload)
    assert request.quantity == 195 and request.execution_algo is ExecutionAlgo.IMMEDIATE


def test_a_scheduled_ticket_carries_the_policy(snapshot: ChainSnapshot) -> None:
    policy = ExecutionPolicy(algo="TWAP", urgency="high", slices=6, horizon_s=120,
                             participation=0.2, randomize=False)
    payload = snapshot.ticket_payload(
        OrderTicket(BasketLeg(snapshot.strikes[0], "PE", 6), "SELL", policy))
    assert {k: payload[k] for k in ("execution_algo", "execution_urgency",
                                    "max_child_orders", "participation_rate",
                                    "randomize_slices", "execution_horizon_s")} == {
        "execution_algo": "TWAP", "execution_urgency": "high", "max_child_orders": 6,
        "participation_rate": 0.2, "randomize_slices": False, "execution_horizon_s": 120}
    request = ExecutionRequest.from_payload(payload)
    assert request.horizon_s == 120 and request.max_child_orders == 6


def test_a_basket_is_one_payload_per_leg_each_with_its_own_side(
        snapshot: ChainSnapshot) -> None:
    legs = [BasketLeg(snapshot.strikes[1], "CE", 1),
            BasketLeg(snapshot.strikes[5], "PE", 2, "SELL")]
    payloads = snapshot.basket_payloads(legs, ExecutionPolicy(algo="VWAP", slices=3))
    assert [p["quantity"] for p in payloads] == [65, 130]
    assert [p["transaction_type"] for p in payloads] == ["BUY", "SELL"]
    assert payloads[1]["tradingsymbol"].endswith("PE")
    exits = snapshot.basket_payloads(legs, ExecutionPolicy(), reverse=True)
    assert [p["transaction_type"] for p in exits] == ["SELL", "BUY"]
    with pytest.raises(ValueError, match="legs: the basket is empty"):
        snapshot.basket_payloads([], ExecutionPolicy())


def test_a_strike_outside_the_chain_is_refused(snapshot: ChainSnapshot) -> None:
    with pytest.raises(ValueError, match="strike: 1 is not in the NIFTY chain"):
        snapshot.payload(BasketLeg(1.0, "CE", 1), "BUY", ExecutionPolicy())
    with pytest.raises(ValueError, match="lots"):
        snapshot.payload(BasketLeg(snapshot.strikes[0], "CE", 0), "BUY", ExecutionPolicy())


@pytest.mark.parametrize(("event", "fields", "level", "text"), [
    ("accepted", dict(children=4, parent_quantity=260), Level.INFO,
     "Accepted BUY 260 NIFTY26D0126000CE · TWAP · 4 child orders planned"),
    ("placed", dict(order_id="42", latency_ms=12.4), Level.INFO,
     "Placed child 1/4 BUY 65 NIFTY26D0126000CE @ 100.05 · order 42 · 12 ms"),
    ("filled", dict(filled_quantity=65, fill_price=100.1, realized_slippage_bps=2.5),
     Level.BAD, "Filled 65 NIFTY26D0126000CE @ 100.10 (child 1/4) · cost 2.5 bps"),
    ("filled", dict(filled_quantity=65, fill_price=99.9, realized_slippage_bps=-1.0),
     Level.GOOD, "Filled 65 NIFTY26D0126000CE @ 99.90 (child 1/4) · saving 1.0 bps"),
    ("retry", dict(error_bucket="throttle", error="Too many requests"), Level.WARN,
     "Retrying child 1/4 NIFTY26D0126000CE after a throttle error: Too many requests"),
    ("rejected", dict(error_bucket="risk", error="Insufficient funds"), Level.BAD,
     "Child 1/4 NIFTY26D0126000CE rejected (risk): Insufficient funds"),
    ("finished", dict(status="filled", filled_quantity=260, parent_quantity=260,
                      average_price=100.125), Level.GOOD,
     "Done: BUY NIFTY26D0126000CE filled, 260/260 filled @ avg 100.12"),
    ("finished", dict(status="failed", filled_quantity=65, parent_quantity=260,
                      message="child 2 rejected: RMS"), Level.BAD,
     "Done: BUY NIFTY26D0126000CE failed, 65/260 filled · child 2 rejected: RMS"),
    ("ghost", dict(status="unknown", tag="P1AAA01", message="the engine stopped while tag "
                   "P1AAA01 was watched"), Level.WARN,
     "NIFTY26D0126000CE: the engine stopped while tag P1AAA01 was watched"),
    ("error", dict(status="unknown", error_bucket="transient", error="outcome unknown"),
     Level.BAD, "Child 1/4 NIFTY26D0126000CE outcome unknown (transient): outcome unknown"),
    ("reconciling", dict(tag="P1AAA01", error_bucket="transient", ambiguous=True,
                         error="BrokerTimeout: read timed out"), Level.WARN,
     "Checking the order book for child 1/4 NIFTY26D0126000CE (tag P1AAA01) after a transient "
     "error: BrokerTimeout: read timed out"),
])
def test_confirmations_say_what_happened(event: str, fields: dict[str, Any],
                                         level: Level, text: str) -> None:
    confirmation = describe(read_event(row(event, **fields)))
    assert confirmation is not None
    assert (confirmation.level, confirmation.text) == (level, text)


def test_cancelled_children_and_settled_ghosts_get_no_line_of_their_own() -> None:
    assert describe(read_event(row("cancelled"))) is None
    assert describe(read_event(row("ghost", status="complete"))) is None
    assert describe(read_event(row("reconciled", status="placed"))) is None  # placed follows
