"""ExecutionRequest: v1 defaults from a Kite payload, instrument facts from config, clear errors."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pydantic import ValidationError

from imperium_exec.instruments import InstrumentMaster
from imperium_exec.request import (
    ExecutionAlgo,
    ExecutionRequest,
    OrderType,
    RequestError,
    Side,
    Urgency,
)

ON = dt.date(2026, 11, 24)


def payload(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "tradingsymbol": "NIFTY26D0125000CE", "exchange": "NFO", "transaction_type": "BUY",
        "quantity": 130, "order_type": "MARKET", "price": 0, "product": "NRML",
        "variety": "regular", "tag": "desk", "bid": 100.0, "ask": 100.5, "ltp": 100.25,
    }
    base.update(overrides)
    return base


def build(**overrides: object) -> ExecutionRequest:
    return ExecutionRequest.from_payload(payload(**overrides), on_date=ON)


def error_text(**overrides: object) -> str:
    with pytest.raises(RequestError) as info:
        build(**overrides)
    return str(info.value)


def test_plain_kite_payload_gets_v1_defaults_and_instrument_facts() -> None:
    request = build()
    assert request.side is Side.BUY
    assert request.order_type is OrderType.MARKET
    assert request.limit_price is None  # a MARKET payload's price 0 is not a limit
    assert request.execution_algo is ExecutionAlgo.IMMEDIATE
    assert request.execution_urgency is Urgency.NORMAL
    assert request.max_child_orders == 1
    assert request.participation_rate == 0.15
    assert request.randomize_slices is True
    assert (request.lot_size, request.tick_size, request.freeze_quantity) == (65, 0.05, 1800)
    assert request.max_order_quantity == 1755


def test_execution_keys_are_read_case_insensitively() -> None:
    request = build(execution_algo="twap", execution_urgency="HIGH", max_child_orders=5,
                    execution_horizon_s=600, participation_rate=0.1, randomize_slices=False)
    assert request.execution_algo is ExecutionAlgo.TWAP
    assert request.execution_urgency is Urgency.HIGH
    assert request.horizon_s == 600
    assert request.window_seconds == 600


def test_lot_sizes_follow_the_dated_configuration() -> None:
    master = InstrumentMaster()
    assert master.resolve("NIFTY25DEC25000CE", on=dt.date(2025, 12, 1)).lot_size == 75
    assert master.resolve("NIFTY26D0125000CE", on=ON).lot_size == 65
    assert master.resolve("BANKNIFTY26DEC60000PE", on=ON).freeze_quantity == 600
    assert master.resolve("BANKNIFTY26MAY60000PE", on=dt.date(2026, 5, 1)).freeze_quantity == 900
    sensex = master.resolve("SENSEX26D0385000CE", on=ON)
    assert (sensex.exchange, sensex.lot_size, sensex.freeze_quantity) == ("BFO", 20, 1000)


def test_kite_instruments_dump_overrides_lot_and_tick() -> None:
    master = InstrumentMaster()
    csv_text = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
                "tick_size,lot_size,instrument_type,segment,exchange\n"
                "1,2,NIFTY26D0125000CE,NIFTY,0,2026-12-01,25000.0,0.1,50,CE,NFO-OPT,NFO\n")
    assert master.load_kite_instruments_csv(csv_text) == 1
    request = ExecutionRequest.from_payload(payload(quantity=100), instrument_master=master,
                                            on_date=ON)
    assert (request.lot_size, request.tick_size) == (50, 0.1)


@pytest.mark.parametrize(("overrides", "field", "reason"), [
    ({"quantity": 100}, "quantity", "not a multiple of the lot size 65"),
    ({"quantity": 0}, "quantity", "greater than 0"),
    ({"order_type": "LIMIT", "price": 100.03}, "price", "not a multiple of the tick"),
    ({"order_type": "LIMIT", "price": None}, "price", "required for a LIMIT order"),
    ({"bid": 101.0, "ask": 100.5}, "bid", "above the ask"),
    ({"bid": math.nan}, "bid", "finite number"),
    ({"execution_algo": "SNIPER"}, "execution_algo", "IMMEDIATE"),
    ({"participation_rate": 1.5}, "participation_rate", "less than or equal to 1"),
    ({"participation_rate": 0}, "participation_rate", "greater than 0"),
    ({"execution_algo": "TWAP", "max_child_orders": 50, "execution_horizon_s": 10,
      "quantity": 65 * 50},
     "max_child_orders", "cannot fit in 10 s"),
    ({"execution_horizon_s": 60, "execution_end_at": "2026-11-24T15:00:00"},
     "execution_horizon_s", "not both"),
    ({"execution_start_at": "2026-11-24T11:00:00", "execution_end_at": "2026-11-24T10:00:00"},
     "execution_end_at", "not after start_at"),
    ({"execution_start_at": "2026-11-24T10:00:00", "execution_end_at": "2026-11-24T10:00:00"},
     "execution_end_at", "not after start_at"),
    ({"order_type": "SL"}, "order_type", "not supported"),
    ({"execution_algoo": "TWAP"}, "execution_algoo", "unknown execution key"),
    ({"tradingsymbol": "RELIANCE"}, "tradingsymbol", "matches no configured underlying"),
    ({"market_protection": 0}, "market_protection", "0 is rejected by Kite"),
    ({"quantity": True}, "quantity", "not a boolean"),
    ({"quantity": 65 * 27 * 401}, "quantity", "more than the 400 a parent may send"),
    ({"execution_algo": "POV", "min_child_quantity": 100}, "min_child_quantity",
     "not a multiple of the lot size 65"),
    ({"execution_algo": "POV", "max_child_quantity": 200}, "max_child_quantity",
     "not a multiple of the lot size 65"),
    ({"execution_algo": "POV", "min_child_quantity": 195, "max_child_quantity": 130},
     "min_child_quantity", "above max_child_quantity"),
])
def test_bad_input_names_the_field_and_the_reason(overrides: dict[str, object], field: str,
                                                  reason: str) -> None:
    lines = error_text(**overrides).splitlines()
    assert any(line.startswith(f"{field}: ") and reason in line for line in lines), lines


@pytest.mark.parametrize("algo", ["IMMEDIATE", "TWAP", "VWAP", "POV", "IS"])
def test_a_window_that_ends_as_it_starts_is_refused_for_every_algorithm(algo: str) -> None:
    text = error_text(execution_algo=algo, execution_start_at="2026-11-24T10:00:00",
                      execution_end_at="2026-11-24T10:00:00")
    assert "end_at" in text and "not after start_at" in text


def test_a_payload_error_is_a_value_error_with_one_problem_per_payload_key() -> None:
    with pytest.raises(ValueError) as info:
        build(participation_rate=15, order_type="LIMIT", price=-5)
    assert isinstance(info.value, RequestError)
    assert [key for key, _ in info.value.problems] == ["price", "participation_rate"]
    assert "0.15 for 15 %" in info.value.problems[1][1]  # the fix, not only the rule
    assert len(str(info.value).splitlines()) == 2  # no pydantic banner, types or URLs


def test_a_missing_symbol_is_one_problem_not_four() -> None:
    with pytest.raises(RequestError) as info:
        ExecutionRequest.from_payload({"exchange": "NFO", "transaction_type": "BUY",
                                       "quantity": 65})
    assert info.value.problems == [("tradingsymbol", "required")]


def test_building_the_model_directly_still_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        ExecutionRequest.model_validate(dict(tradingsymbol="NIFTY26D0126000CE", side="BUY",
                                             quantity=65, participation_rate=2))
    assert info.value.errors()[0]["loc"] == ("participation_rate",)


def test_naive_window_times_are_ist() -> None:
    request = build(execution_algo="TWAP", execution_start_at="2026-11-24T10:00:00",
                    execution_end_at="2026-11-24T10:30:00", max_child_orders=3)
    assert request.start_at is not None and request.start_at.utcoffset() == dt.timedelta(
        hours=5, minutes=30)
    assert request.window_seconds == 1800


def test_request_is_immutable() -> None:
    request = build()
    with pytest.raises(ValidationError):
        request.quantity = 65  # type: ignore[misc]


def test_a_market_payload_price_is_ignored_but_a_market_request_with_a_limit_is_refused() -> None:
    assert build(price=101.5).limit_price is None
    with pytest.raises(ValueError, match="limit_price: a MARKET order has no limit price"):
        ExecutionRequest.model_validate(dict(
            tradingsymbol="NIFTY26D0125000CE", exchange="NFO", side="BUY", quantity=65,
            lot_size=65, tick_size=0.05, freeze_quantity=1800, order_type="MARKET",
            limit_price=101.5))


def test_a_payload_that_says_two_things_is_refused_not_resolved_silently() -> None:
    with pytest.raises(RequestError) as info:
        build(transaction_type="SELL", side="BUY")
    assert info.value.problems == [
        ("transaction_type", "'SELL' contradicts side='BUY': send one of them")]


def test_an_unknown_underlying_is_one_problem_with_its_way_out() -> None:
    with pytest.raises(RequestError) as info:
        build(tradingsymbol="RELIANCE")
    (problem,) = info.value.problems
    assert problem[0] == "tradingsymbol" and "or pass lot_size" in problem[1]


def test_a_scheduled_order_below_one_lot_is_refused_for_its_quantity() -> None:
    with pytest.raises(RequestError) as info:
        build(quantity=10, execution_algo="TWAP", execution_horizon_s=60, max_child_orders=5)
    assert [key for key, _ in info.value.problems] == ["quantity"]
