"""The pre-trade limits as pure rules (imperium_exec.risk): which limit a request breaks, in what
words, and which a trader's confirmation may lift."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imperium_exec.instruments import price_band
from imperium_exec.request import ExecutionRequest
from imperium_exec.risk import AccountNow, RiskLimits, RiskRefusal, breaches, check
from imperium_exec.sim.config import RulesConfig
from imperium_exec.sim.rules import lpp_band

IDLE = AccountNow(working_parents=0, placements_left_today=None)


def nifty(**fields: Any) -> ExecutionRequest:
    base: dict[str, Any] = dict(tradingsymbol="NIFTY26D0826000CE", exchange="NFO", side="BUY",
                                quantity=65, bid=100.0, ask=100.5, ltp=100.25)
    base.update(fields)
    return ExecutionRequest.model_validate(base)


def limits_broken(request: ExecutionRequest, *, orders: int = 1,
                  account: AccountNow = IDLE, limits: RiskLimits | None = None) -> list[str]:
    return [b.limit for b in breaches(request, planned_orders=orders, account=account,
                                      limits=limits or RiskLimits())]


def test_the_lots_limit_is_ten_freeze_quantities_unless_the_underlying_is_named() -> None:
    assert RiskLimits().lots_limit(nifty()) == (270, "NIFTY")  # 1,800 // 65 = 27 lots a freeze
    assert RiskLimits(max_lots={"NIFTY": 40}).lots_limit(nifty()) == (40, "NIFTY")
    assert limits_broken(nifty(quantity=270 * 65)) == []
    assert limits_broken(nifty(quantity=271 * 65)) == ["lots"]


def test_a_buy_above_the_band_and_a_sell_below_it_break_it_but_a_resting_bid_does_not() -> None:
    low, high = RiskLimits().price_band_of(100.25, 0.05)
    assert (low, high) == (60.15, 140.35)  # NSE: 40 % either side above ₹50
    assert "price band" in limits_broken(nifty(order_type="LIMIT", limit_price=141.0))
    assert "price band" in limits_broken(nifty(side="SELL", order_type="LIMIT", limit_price=60.0))
    assert limits_broken(nifty(order_type="LIMIT", limit_price=0.05)) == []  # a stink bid rests


def test_the_band_is_the_one_the_paper_exchange_enforces() -> None:
    rules = RulesConfig()
    for reference in (0.4, 12.0, 50.0, 50.05, 333.3):
        assert lpp_band(reference, rules, 0.05) == price_band(reference, 0.05) == \
            RiskLimits().price_band_of(reference, 0.05)


def test_a_limit_far_through_the_touch_is_a_slip_the_trader_may_confirm() -> None:
    fat_finger = nifty(order_type="LIMIT", limit_price=135.0)  # 34 % over the ask, in band
    assert limits_broken(fat_finger) == ["limit price"]
    with pytest.raises(RiskRefusal) as info:
        check(fat_finger, planned_orders=1, account=IDLE, limits=RiskLimits())
    assert info.value.confirmable
    assert str(info.value) == ("limit price: limit 135.00 is 34% above the ask 100.50, more "
                               "than the 30% allowed")
    check(fat_finger, planned_orders=1, account=IDLE, limits=RiskLimits(), override_limits=True)


def test_a_confirmation_does_not_lift_the_hard_limits() -> None:
    busy = AccountNow(working_parents=200, placements_left_today=3)
    request = nifty(quantity=300 * 65)
    with pytest.raises(RiskRefusal) as info:
        check(request, planned_orders=12, account=busy, limits=RiskLimits(),
              override_limits=True)
    assert [b.limit for b in info.value.breaches] == ["working parents", "orders today"]
    assert not info.value.confirmable


def test_the_days_premium_counts_what_was_accepted_before() -> None:
    limits = RiskLimits(max_premium_bought_per_day=100_000.0)
    request = nifty(quantity=10 * 65)  # 650 units at the ask 100.50: ₹65,325
    assert limits_broken(request, limits=limits) == []
    earlier = AccountNow(working_parents=0, placements_left_today=None,
                         premium_bought_today=40_000.0)
    assert limits_broken(request, account=earlier, limits=limits) == ["premium bought today"]
    assert limits_broken(nifty(side="SELL", quantity=10 * 65), account=earlier,
                         limits=limits) == []  # sells have their own limit


@settings(max_examples=200, deadline=None)
@given(lots=st.integers(1, 270), ask_ticks=st.integers(2, 4000),
       through=st.floats(0.0, 0.3), buy=st.booleans())
def test_an_order_inside_every_limit_is_never_refused(lots: int, ask_ticks: int,
                                                      through: float, buy: bool) -> None:
    ask = ask_ticks * 0.05
    bid = ask - 0.05
    touch = ask if buy else bid
    limit = round(touch * (1 + through if buy else 1 - through) / 0.05) * 0.05
    limit = max(0.05, min(limit, 10 * ask))
    request = nifty(side="BUY" if buy else "SELL", quantity=lots * 65, order_type="LIMIT",
                    limit_price=round(limit, 2), bid=round(bid, 2), ask=round(ask, 2),
                    ltp=round(ask, 2))
    low, high = RiskLimits().price_band_of(round(ask, 2), 0.05)
    in_band = request.limit_price is not None and (
        request.limit_price <= high if buy else request.limit_price >= low)
    generous = RiskLimits(max_premium_per_parent=None)
    broken = limits_broken(request, limits=generous)
    assert ("price band" in broken) == (not in_band)
    assert set(broken) <= {"price band", "limit price"}
