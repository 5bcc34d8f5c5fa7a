"""SmartOrderRouter postures and prices; SlippageModel signs and scaling."""

from __future__ import annotations

import pytest

from imperium_exec.brokers.base import Quote
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.costs.slippage import (
    PriorFill,
    SlippageModel,
    SlippageParams,
    book_walk_cost,
)
from imperium_exec.events import QueuePriority
from imperium_exec.request import ExecutionRequest, OrderType
from imperium_exec.router import SmartOrderRouter
from imperium_exec.sim.config import ImpactConfig
from imperium_exec.sim.costs import paper_slippage_params

ROUTER = SmartOrderRouter(primary_route="paper")


def request(**kw: object) -> ExecutionRequest:
    base: dict[str, object] = dict(tradingsymbol="NIFTY26D0125000CE", exchange="NFO", side="BUY",
                                   quantity=130, lot_size=65, tick_size=0.05,
                                   freeze_quantity=1800, bid=100.0, ask=100.5)
    base.update(kw)
    return ExecutionRequest.model_validate(base)


def test_immediate_market_order_takes_with_market_protection() -> None:
    d = ROUTER.decide(request())
    assert (d.route, d.queue_priority, d.order_type) == ("paper", QueuePriority.TAKE,
                                                         OrderType.MARKET)
    assert d.limit_price is None and d.market_protection == -1


def test_scheduled_normal_urgency_joins_a_wide_book_and_prices_mid_in_a_medium_one() -> None:
    wide = ROUTER.decide(request(execution_algo="TWAP", bid=100.0, ask=100.5))  # 10 ticks
    assert (wide.queue_priority, wide.order_type, wide.limit_price) == (
        QueuePriority.JOIN, OrderType.LIMIT, 100.0)
    medium = ROUTER.decide(request(execution_algo="TWAP", bid=100.0, ask=100.15))  # 3 ticks
    assert medium.queue_priority is QueuePriority.NEUTRAL
    assert medium.limit_price == 100.05  # mid 100.075 rounded to the buyer's passive side
    sell = ROUTER.decide(request(execution_algo="TWAP", side="SELL", bid=100.0, ask=100.15))
    assert sell.limit_price == 100.1


def test_tight_book_or_high_urgency_takes() -> None:
    tight = ROUTER.decide(request(execution_algo="VWAP", bid=100.0, ask=100.05))
    assert tight.queue_priority is QueuePriority.TAKE
    urgent = ROUTER.decide(request(execution_algo="TWAP", execution_urgency="high"))
    assert urgent.queue_priority is QueuePriority.TAKE


def test_a_basket_hedge_child_takes_whatever_its_algorithm_would_do() -> None:
    """A hedge's fill is what lets its shorts go: it never rests at the mid or joins."""
    twap = dict(execution_algo="TWAP", bid=100.0, ask=100.5)  # a wide book: TWAP would join
    market = ROUTER.decide(request(**twap), pay_up_ticks=0)
    assert (market.queue_priority, market.order_type) == (QueuePriority.TAKE, OrderType.MARKET)
    limit = ROUTER.decide(request(**twap, order_type="LIMIT", limit_price=101.0),
                          pay_up_ticks=0)
    assert (limit.queue_priority, limit.order_type, limit.limit_price) == (
        QueuePriority.TAKE, OrderType.LIMIT, 100.5)  # at the touch
    paid = ROUTER.decide(request(**twap), pay_up_ticks=3)
    assert (paid.order_type, paid.limit_price) == (OrderType.LIMIT, 100.65)  # 3 ticks through
    capped = ROUTER.decide(request(**twap, order_type="LIMIT", limit_price=100.3),
                           pay_up_ticks=3)  # the leg's own limit is below the ask
    assert (capped.queue_priority, capped.limit_price) == (QueuePriority.NEUTRAL, 100.3)
    assert ROUTER.decide(request(**twap)).queue_priority is QueuePriority.JOIN  # not a hedge


def test_a_buy_never_rounds_up_past_its_limit_and_a_sell_never_below() -> None:
    buy = ROUTER.decide(request(order_type="LIMIT", limit_price=100.2, execution_algo="TWAP",
                                execution_urgency="high"))
    assert buy.order_type is OrderType.LIMIT and buy.limit_price == 100.2  # not the 100.5 ask
    sell = ROUTER.decide(request(side="SELL", order_type="LIMIT", limit_price=100.3,
                                 execution_algo="TWAP", execution_urgency="high"))
    assert sell.limit_price == 100.3  # not the 100.0 bid


def test_live_quote_overrides_the_request_book() -> None:
    quote = Quote("NIFTY26D0125000CE", 0.0, bid=90.0, ask=90.05, ltp=90.0, volume=0)
    d = ROUTER.decide(request(execution_algo="TWAP"), quote)
    assert d.queue_priority is QueuePriority.TAKE and (d.bid, d.ask) == (90.0, 90.05)


def test_no_book_and_no_limit_falls_back_to_a_protected_market_order() -> None:
    d = ROUTER.decide(request(bid=None, ask=None, execution_algo="TWAP"))
    assert d.order_type is OrderType.MARKET and d.market_protection == -1


def test_slippage_signs_follow_the_queue_posture() -> None:
    model = SlippageModel()
    common = dict(reference_price=100.25, bid=100.0, ask=100.5, participation=0.15, horizon_s=60)
    take = model.estimate(queue_priority=QueuePriority.TAKE, **common)  # type: ignore[arg-type]
    join = model.estimate(queue_priority=QueuePriority.JOIN, **common)  # type: ignore[arg-type]
    neutral = model.estimate(queue_priority=QueuePriority.NEUTRAL, **common)  # type: ignore[arg-type]
    assert take.expected_slippage == pytest.approx(0.25)
    assert join.expected_slippage == pytest.approx(-0.25)
    assert neutral.expected_slippage == 0.0
    assert take.impact_estimate == join.impact_estimate > 0
    assert take.expected_cost_bps > neutral.expected_cost_bps > join.expected_cost_bps


def test_impact_follows_the_power_law_in_participation() -> None:
    model = SlippageModel(SlippageParams(gamma=0.0))
    low, high = (model.estimate(reference_price=100.0, bid=None, ask=None,
                                queue_priority=QueuePriority.TAKE, participation=rho,
                                horizon_s=300).impact_estimate for rho in (0.05, 0.20))
    assert high / low == pytest.approx((0.20 / 0.05) ** 0.6)


def test_final_slice_of_a_schedule_takes_but_respects_a_limit() -> None:
    final = ROUTER.decide(request(execution_algo="TWAP"), final_slice=True)
    assert (final.queue_priority, final.order_type) == (QueuePriority.TAKE, OrderType.MARKET)
    limited = ROUTER.decide(request(execution_algo="TWAP", order_type="LIMIT",
                                    limit_price=100.3), final_slice=True)
    assert limited.queue_priority is QueuePriority.TAKE and limited.limit_price == 100.3
    immediate = ROUTER.decide(request(order_type="LIMIT", limit_price=99.0), final_slice=True)
    assert immediate.queue_priority is QueuePriority.NEUTRAL and immediate.limit_price == 99.0


def test_a_taking_child_pays_for_the_levels_it_walks() -> None:
    asks = [(100.0, 65), (100.1, 65), (100.2, 130)]
    assert book_walk_cost(asks, 65) == 0.0  # fits the touch
    assert book_walk_cost(asks, 130) == pytest.approx(0.05)  # half of it one level up
    assert book_walk_cost(asks, 65, taken_ahead=65) == pytest.approx(0.1)  # behind a sibling
    # Beyond the levels shown the book goes on like the last one: 130 more at 100.3.
    assert book_walk_cost(asks, 390) == pytest.approx((65 * 0.1 + 130 * 0.2 + 130 * 0.3) / 390)
    bids = [(99.9, 65), (99.8, 65)]  # a sell walks down: still a cost
    assert book_walk_cost(bids, 130) == pytest.approx(0.05)
    model = SlippageModel(SlippageParams(eta=0.0, gamma=0.0))
    walked = model.estimate(reference_price=100.0, bid=99.9, ask=100.0,
                            queue_priority=QueuePriority.TAKE, participation=0.15,
                            quantity=130, depth=asks)
    assert walked.impact_estimate == pytest.approx(0.05)
    resting = model.estimate(reference_price=100.0, bid=99.9, ask=100.0,
                             queue_priority=QueuePriority.JOIN, participation=0.15,
                             quantity=130, depth=asks)
    assert resting.impact_estimate == 0.0  # a resting child walks nothing


def test_linear_impact_of_the_parents_earlier_fills_decays_to_the_permanent_part() -> None:
    model = SlippageModel(SlippageParams(eta=0.0, gamma=0.0, permanent_per_unit=1e-4,
                                         temporary_per_unit=4e-4, temporary_half_life_s=30.0))
    assert model.linear_impact([]) == 0.0
    now = model.linear_impact([PriorFill(age_s=0.0, units=100)])
    half = model.linear_impact([PriorFill(age_s=30.0, units=100)])
    old = model.linear_impact([PriorFill(age_s=3000.0, units=100)])
    assert now == pytest.approx(100 * (1e-4 + 4e-4))
    assert half == pytest.approx(100 * (1e-4 + 2e-4))
    assert old == pytest.approx(100 * 1e-4)
    assert SlippageModel().linear_impact([PriorFill(0.0, 100)]) == 0.0  # live: not modelled


def test_the_paper_exchange_hands_the_engine_its_own_true_costs() -> None:
    impact = ImpactConfig(permanent_per_unit=3e-5, temporary_per_unit=1e-4,
                          temporary_half_life_s=20.0)
    paper = PaperBroker(impact=impact)
    model = SlippageModel(paper.capabilities.slippage_params)
    assert model.params == paper_slippage_params(paper.config)
    p = model.params
    assert (p.permanent_per_unit, p.temporary_per_unit, p.temporary_half_life_s) == \
        (3e-5, 1e-4, 20.0)
    assert p.eta == p.gamma == p.fees_bps == 0.0  # no volatility-scaled impact, no fees
    off = SlippageModel(PaperBroker(impact=False).capabilities.slippage_params).params
    assert off.permanent_per_unit == off.temporary_per_unit == 0.0
    assert InMemoryBroker().capabilities.slippage_params is None  # live defaults
    assert SlippageModel(None).params == SlippageParams()
