"""Pre-trade limits through the engine's API on the paper exchange: each breach is a ``risk``
refusal naming the limit, its value and the order's figure, and nothing reaches the broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from imperium_exec.brokers.paper import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.engine.execution_engine import ExecutionEngine
from imperium_exec.engine.rate_budget import AccountRateLimits
from imperium_exec.events import ErrorBucket, ParentStatus
from imperium_exec.request import ExecutionRequest
from imperium_exec.risk import RiskLimits, RiskRefusal

LOT = 65


@pytest.fixture
def paper() -> PaperBroker:
    return PaperBroker(clock=VirtualClock(), seed=11)


def nifty_option(paper: PaperBroker, strike_from_atm: int = 0, kind: str = "CE") -> str:
    chain = paper.option_chain("NIFTY", strikes_each_side=3)
    row = chain.rows[3 + strike_from_atm]
    return (row.call if kind == "CE" else row.put).tradingsymbol


def request(paper: PaperBroker, symbol: str, **fields: Any) -> ExecutionRequest:
    quote = paper.quote(symbol)
    assert quote is not None
    base: dict[str, Any] = dict(tradingsymbol=symbol, exchange="NFO", side="BUY",
                                quantity=LOT, bid=quote.bid, ask=quote.ask, ltp=quote.ltp)
    base.update(fields)
    return ExecutionRequest.model_validate(base)


def engine_on(paper: PaperBroker, **limits: Any) -> ExecutionEngine:
    config = EngineConfig(id_seed=3, markout_horizons_s=(),
                          risk_limits=replace(RiskLimits(), **limits))
    return ExecutionEngine(paper, mode="paper", config=config)


@pytest.fixture
def engine(paper: PaperBroker) -> Iterator[ExecutionEngine]:
    engine = engine_on(paper)
    yield engine
    engine.shutdown(5.0)


def refusal(engine: ExecutionEngine, req: ExecutionRequest, **kw: Any) -> RiskRefusal:
    with pytest.raises(RiskRefusal) as info:
        engine.submit(req, **kw)
    assert info.value.bucket is ErrorBucket.RISK
    return info.value


def test_eight_thousand_lots_of_nifty_is_refused_naming_the_lots_limit(
        paper: PaperBroker, engine: ExecutionEngine) -> None:
    symbol = nifty_option(paper)
    refused = refusal(engine, request(paper, symbol, quantity=8_000 * LOT,
                                      execution_algo="TWAP", max_child_orders=10,
                                      horizon_s=600))
    assert "lots: 8,000 lots is over the NIFTY limit of 270 lots for one order" in \
        str(refused).splitlines()
    assert paper.orders() == []


def test_five_crore_of_premium_is_refused_naming_the_premium_limit(
        paper: PaperBroker, engine: ExecutionEngine) -> None:
    symbol = nifty_option(paper, -3)  # deep in the money: a dear premium
    quote = paper.quote(symbol)
    assert quote is not None and quote.ask is not None
    lots = 250  # under the lots limit: the premium alone refuses it
    limit = round(5e7 / (lots * LOT) / 0.05) * 0.05
    refused = refusal(engine, request(paper, symbol, quantity=lots * LOT,
                                      order_type="LIMIT", limit_price=limit,
                                      ltp=limit, bid=limit - 0.05, ask=limit))
    (line,) = [line for line in str(refused).splitlines() if line.startswith("premium: ")]
    assert "₹5.00 crore of premium" in line and "over the limit of ₹25.00 lakh" in line
    assert paper.orders() == []


def test_a_limit_twenty_percent_outside_the_band_is_refused_even_when_confirmed(
        paper: PaperBroker, engine: ExecutionEngine) -> None:
    symbol = nifty_option(paper)
    req = request(paper, symbol)
    assert req.ltp is not None
    _, band_top = RiskLimits().price_band_of(req.ltp, req.tick_size)  # NSE: ±₹20 or ±40 %
    limit = round(band_top * 1.2 / 0.05) * 0.05
    priced = replace_fields(req, order_type="LIMIT", limit_price=limit)
    refused = refusal(engine, priced, override_limits=True)  # a confirmation cannot lift it
    assert any(line.startswith("price band: buy limit ") and "outside the exchange's band" in line
               for line in str(refused).splitlines())
    assert not refused.confirmable
    assert paper.orders() == []


def test_a_parent_that_would_overrun_the_days_orders_is_refused_saying_how_many_are_left(
        paper: PaperBroker) -> None:
    paper_limits = replace(paper.capabilities.rate_limits or AccountRateLimits(),
                           writes_per_day=110, cancel_reserve_per_day=100)
    engine = ExecutionEngine(paper, mode="paper", config=EngineConfig(
        id_seed=3, markout_horizons_s=(), rate_limits=paper_limits))
    try:
        symbol = nifty_option(paper)
        refused = refusal(engine, request(paper, symbol, quantity=20 * LOT,
                                          execution_algo="TWAP", max_child_orders=20,
                                          horizon_s=600))
        assert "orders today: 20 child orders planned but the broker allows 10 more " \
               "placements today" in str(refused)
        assert paper.orders() == []
    finally:
        engine.shutdown(5.0)


def test_a_sell_of_several_orders_the_margin_does_not_cover_fails_in_the_risk_bucket_unsent(
        ) -> None:
    paper = PaperBroker(clock=VirtualClock(), seed=11, margin=10_000.0)
    engine = engine_on(paper)
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)
    try:
        symbol = nifty_option(paper)
        _, future = engine.submit(request(paper, symbol, side="SELL", quantity=10 * LOT,
                                          execution_algo="TWAP", max_child_orders=5,
                                          horizon_s=300))
        result = future.result(10)
    finally:
        engine.shutdown(5.0)
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert result.message is not None and result.message.startswith("margin: the order needs ")
    finished = [r for r in rows if r["event"] == "finished"]
    assert [r["error_bucket"] for r in finished] == ["risk"]
    assert paper.orders() == []


def test_a_confirmed_order_goes_past_the_size_limits_only(paper: PaperBroker,
                                                          engine: ExecutionEngine) -> None:
    symbol = nifty_option(paper)
    big = request(paper, symbol, quantity=300 * LOT, execution_algo="TWAP",
                  max_child_orders=12, horizon_s=600)
    assert refusal(engine, big).confirmable
    parent_id, future = engine.submit(big, override_limits=True)
    engine.cancel(parent_id)
    assert future.result(10).status in (ParentStatus.CANCELLED, ParentStatus.PARTIAL,
                                        ParentStatus.FILLED)


@pytest.fixture
def frozen_paper() -> PaperBroker:
    """A paper exchange whose time moves only when told (an idle engine would otherwise let
    a TWAP's whole window pass at once, and the parents a test counts on end early)."""
    return PaperBroker(clock=VirtualClock(auto_advance=False), seed=11)


def thaw(paper: PaperBroker) -> None:
    """Let time run again so the shutdown's cancels confirm."""
    clock = paper.clock
    assert isinstance(clock, VirtualClock)
    clock.run_freely()


def test_working_parents_are_capped_and_a_finished_one_frees_its_slot(
        frozen_paper: PaperBroker) -> None:
    paper = frozen_paper
    engine = engine_on(paper, max_working_parents=2)
    try:
        symbol = nifty_option(paper)
        slow = request(paper, symbol, execution_algo="TWAP", quantity=2 * LOT,
                       max_child_orders=2, horizon_s=600)
        first, f1 = engine.submit(slow)
        engine.submit(slow)
        refused = refusal(engine, slow, override_limits=True)
        assert "working parents: 2 parents are working, the limit is 2" in str(refused)
        engine.cancel(first)
        f1.result(10)
        engine.submit(slow)  # the slot is free again
    finally:
        thaw(paper)
        engine.shutdown(5.0)


def replace_fields(req: ExecutionRequest, **fields: Any) -> ExecutionRequest:
    return ExecutionRequest.model_validate(req.model_dump() | fields)


def test_a_single_sell_the_margin_does_not_cover_is_refused_before_any_order() -> None:
    paper = PaperBroker(clock=VirtualClock(), seed=11, margin=10_000.0)
    engine = engine_on(paper)
    try:
        symbol = nifty_option(paper)
        _, future = engine.submit(request(paper, symbol, side="SELL", quantity=2 * LOT))
        result = future.result(10)
    finally:
        engine.shutdown(5.0)
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert result.message is not None and "short by" in result.message
    assert paper.orders() == []


def test_orders_other_parents_still_plan_are_kept_from_a_new_parent(
        frozen_paper: PaperBroker) -> None:
    """With ten placements left, an eight-slice TWAP reserves eight: a second one is refused
    up front (it would have failed part way), and the first one's spent slices free nothing
    they did not reserve."""
    paper = frozen_paper
    day = replace(paper.capabilities.rate_limits or AccountRateLimits(), writes_per_day=110,
                  cancel_reserve_per_day=100)
    engine = ExecutionEngine(paper, mode="paper", config=EngineConfig(
        id_seed=3, markout_horizons_s=(), rate_limits=day))
    try:
        symbol = nifty_option(paper)
        twap = request(paper, symbol, quantity=8 * LOT, execution_algo="TWAP",
                       max_child_orders=8, horizon_s=600, randomize_slices=False)
        engine.submit(twap)
        refused = refusal(engine, twap)
        assert "orders today: 8 child orders planned but the broker allows 2 more " \
               "placements today" in str(refused)
        assert len(paper.orders()) <= 1  # only the first TWAP's first slice may be out
    finally:
        thaw(paper)
        engine.shutdown(5.0)


@pytest.fixture
def small_premium(paper: PaperBroker) -> Iterator[ExecutionEngine]:
    """An engine whose premium limit per parent is ₹3 lakh."""
    engine = engine_on(paper, max_premium_per_parent=300_000.0)
    yield engine
    engine.shutdown(5.0)


def unpriced(req: ExecutionRequest, **fields: Any) -> ExecutionRequest:
    """``req`` as an API caller may send it: no bid, ask or last price of its own."""
    return replace_fields(req, bid=None, ask=None, ltp=None, **fields)


def dear_premium_lots(paper: PaperBroker, symbol: str, rupees: float) -> int:
    quote = paper.quote(symbol)
    assert quote is not None and quote.ask is not None
    return int(rupees / (quote.ask * LOT)) + 1


def test_an_order_with_no_price_of_its_own_is_valued_at_its_first_quote_and_refused_unsent(
        paper: PaperBroker, small_premium: ExecutionEngine) -> None:
    """No quote held yet: it is accepted, then refused on the loop once its quote came, before
    any child (a finished row in the risk bucket naming the premium limit)."""
    symbol = nifty_option(paper, -3)
    lots = dear_premium_lots(paper, symbol, 400_000.0)
    rows: list[dict[str, Any]] = []
    small_premium.add_listener(rows.append)
    _, future = small_premium.submit(unpriced(request(paper, symbol, quantity=lots * LOT)))
    result = future.result(10)
    assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
    assert result.message is not None and result.message.startswith("premium: ₹")
    assert "over the limit of ₹3.00 lakh" in result.message
    assert [r["error_bucket"] for r in rows if r["event"] == "finished"] == ["risk"]
    assert paper.orders() == []


def test_an_order_with_no_price_of_its_own_is_refused_up_front_once_a_quote_is_held(
        paper: PaperBroker, small_premium: ExecutionEngine) -> None:
    symbol = nifty_option(paper, -3)
    _, future = small_premium.submit(request(paper, symbol))
    future.result(10)  # one lot: its quote is now held
    lots = dear_premium_lots(paper, symbol, 400_000.0)
    refused = refusal(small_premium, unpriced(request(paper, symbol, quantity=lots * LOT)))
    assert any(line.startswith("premium: ") for line in str(refused).splitlines())
    assert refused.confirmable
    assert len(paper.orders()) == 1  # the first parent's one order only


def test_a_confirmed_order_with_no_price_goes_past_the_premium_limit(
        paper: PaperBroker, small_premium: ExecutionEngine) -> None:
    symbol = nifty_option(paper, -3)
    lots = dear_premium_lots(paper, symbol, 400_000.0)
    _, future = small_premium.submit(unpriced(request(paper, symbol, quantity=lots * LOT)),
                              override_limits=True)
    result = future.result(10)
    assert result.filled_quantity > 0, result.message


def test_a_basket_leg_with_no_price_is_valued_at_its_quote_before_any_leg_starts(
        paper: PaperBroker, small_premium: ExecutionEngine) -> None:
    from imperium_exec.baskets.request import BasketRequest

    dear = nifty_option(paper, -3)
    hedge = nifty_option(paper, 3)
    lots = dear_premium_lots(paper, dear, 400_000.0)
    basket = BasketRequest.model_validate({"legs": [
        request(paper, hedge, quantity=LOT).model_dump(),
        unpriced(request(paper, dear, quantity=lots * LOT)).model_dump()]})
    _, _, future = small_premium.submit_basket(basket)
    result = future.result(15)
    assert result.message is not None and "legs[1].premium: " in result.message
    assert sum(leg.filled_quantity for leg in result.legs) == 0
    assert paper.orders() == []


def test_the_days_premium_counts_what_a_parent_traded_not_what_it_was_sent_for(
        frozen_paper: PaperBroker) -> None:
    """A parent cancelled unfilled gives the premium it was counted for back."""
    paper = frozen_paper
    engine = engine_on(paper, max_premium_bought_per_day=200_000.0)
    try:
        symbol = nifty_option(paper)
        quote = paper.quote(symbol)
        assert quote is not None and quote.ask is not None
        limit = round(quote.ask * 0.5 / 0.05) * 0.05  # rests: nothing fills
        lots = int(150_000.0 / (limit * LOT))
        resting = request(paper, symbol, quantity=lots * LOT, order_type="LIMIT",
                          limit_price=limit,
                          execution_algo="TWAP", max_child_orders=2, horizon_s=600)
        parent_id, future = engine.submit(resting)
        refused = refusal(engine, resting)  # 150k + 150k is over the day's 200k
        assert any(line.startswith("premium bought today: ") for line in
                   str(refused).splitlines())
        thaw(paper)  # (the cancel's confirmation takes the exchange's time)
        engine.cancel(parent_id)
        assert future.result(10).filled_quantity == 0
        engine.submit(resting)  # nothing was bought: the day's premium is back to zero
    finally:
        engine.shutdown(5.0)


def test_a_buy_above_the_threshold_is_margin_checked_and_a_small_one_is_not() -> None:
    paper = PaperBroker(clock=VirtualClock(), seed=11, margin=50_000.0)
    engine = engine_on(paper, check_margin_of_buys_above=40_000.0)
    try:
        symbol = nifty_option(paper, -3)
        lots = dear_premium_lots(paper, symbol, 60_000.0)
        _, future = engine.submit(request(paper, symbol, quantity=lots * LOT))
        result = future.result(10)
        assert result.status is ParentStatus.FAILED and result.filled_quantity == 0
        assert result.message is not None and result.message.startswith("margin: ")
        assert paper.orders() == []
        _, small = engine.submit(request(paper, symbol, quantity=LOT))
        assert small.result(10).filled_quantity == LOT  # (one lot is well inside the margin)
    finally:
        engine.shutdown(5.0)


def test_a_limit_outside_the_band_with_no_price_of_its_own_is_refused_unsent(
        paper: PaperBroker, engine: ExecutionEngine) -> None:
    """No quote held and no touch or last price on the ticket: checked against the first
    quote before any child, and refused (hard: a confirmation cannot lift it)."""
    symbol = nifty_option(paper)
    ref = request(paper, symbol)
    assert ref.ltp is not None
    _, top = RiskLimits().price_band_of(ref.ltp, ref.tick_size)
    limit = round(top * 1.5 / 0.05) * 0.05
    _, future = engine.submit(unpriced(ref, order_type="LIMIT", limit_price=limit),
                              override_limits=True)
    result = future.result(10)
    assert result.status is ParentStatus.FAILED
    assert result.message is not None and result.message.startswith("price band: buy limit ")
    assert paper.orders() == []
