"""Known answers for the paper exchange's matching, queue model and impact (virtual time)."""

from __future__ import annotations

import pytest

from imperium_exec.brokers.base import BrokerOrder, OrderInstruction, OrderStatus
from imperium_exec.brokers.errors import InputException, OrderException
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.request import OrderType, Side
from imperium_exec.sim.config import ImpactConfig, MarketConfig, UnderlyingMarket
from imperium_exec.sim.paths import BLOCK

SYMBOL = "NIFTY26D0126000CE"  # ATM weekly a week from expiry at the 24 Nov 2026 open
LOT = 65


def make(**kw: object) -> tuple[PaperBroker, VirtualClock]:
    clock = VirtualClock()
    kw.setdefault("seed", 11)
    return PaperBroker(clock=clock, **kw), clock  # type: ignore[arg-type]



def order(side: Side, quantity: int, *, price: float | None = None, validity: str = "DAY",
          protection: int | None = -1, tag: str = "t1", symbol: str = SYMBOL) -> OrderInstruction:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderInstruction(symbol, "NFO", side, quantity, kind, price, "NRML", validity, tag,
                            market_protection=protection if price is None else None)


def only_order(broker: PaperBroker, order_id: str) -> BrokerOrder:
    return next(o for o in broker.orders() if o.order_id == order_id)


def quiet_market(**market: object) -> MarketConfig:
    """A market whose index barely moves, so quotes hold still for the test's few minutes."""
    nifty = UnderlyingMarket(spot=26_000.0, annual_vol=1e-6, implied_vol=0.13)
    return MarketConfig(underlyings={"NIFTY": nifty}, **market)


# ---------------------------------------------------------------- marketable orders


def test_market_buy_pays_exactly_the_touch_with_impact_off() -> None:
    broker, _ = make(impact=False)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.ask is not None and quote.ask_quantity >= 2 * LOT
    order_id = broker.place_order(order(Side.BUY, 2 * LOT))
    filled = only_order(broker, order_id)
    assert filled.status is OrderStatus.COMPLETE
    assert (filled.filled_quantity, filled.average_price) == (2 * LOT, quote.ask)


def test_market_sell_receives_exactly_the_touch_with_impact_off() -> None:
    broker, _ = make(impact=False)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    order_id = broker.place_order(order(Side.SELL, LOT))
    assert only_order(broker, order_id).average_price == quote.bid


def test_a_large_market_order_walks_the_displayed_levels() -> None:
    broker, _ = make(impact=False, market=MarketConfig(depth_lots=4.0))
    quote = broker.quote(SYMBOL)
    assert quote is not None
    first, second = quote.depth_sell[0], quote.depth_sell[1]
    quantity = first.quantity + second.quantity + LOT  # into the third level
    order_id = broker.place_order(order(Side.BUY, quantity))
    expected = (first.price * first.quantity + second.price * second.quantity
                + quote.depth_sell[2].price * LOT) / quantity
    filled = only_order(broker, order_id)
    assert filled.filled_quantity == quantity
    assert filled.average_price == pytest.approx(expected, abs=1e-6)
    after = broker.quote(SYMBOL)
    assert after is not None and after.ask == quote.depth_sell[2].price  # the book is depleted


def test_market_protection_caps_the_walk_and_the_rest_stays_open() -> None:
    thin = quiet_market(depth_lots=1.0, depth_noise=0.0)
    broker, _ = make(impact=False, market=thin)
    otm = "NIFTY26D0126800CE"
    quote = broker.quote(otm)
    assert quote is not None and quote.ltp is not None
    cap = int(quote.ltp * 1.01 / 0.05 + 1e-9) * 0.05  # 1 % market protection above LTP
    order_id = broker.place_order(order(Side.BUY, 27 * LOT, protection=1, symbol=otm))
    resting = only_order(broker, order_id)
    assert resting.status is OrderStatus.OPEN
    assert 0 < resting.filled_quantity < 27 * LOT
    assert all(t.price <= cap + 1e-9 for t in broker.trades())
    sim = broker.exchange.sim_orders()[0]
    assert sim.limit_t * 0.05 == pytest.approx(cap)  # rests as a limit at the protection price

    ioc_id = broker.place_order(order(Side.BUY, 27 * LOT, protection=1, validity="IOC",
                                      symbol=otm))
    ioc = only_order(broker, ioc_id)
    assert ioc.status is OrderStatus.CANCELLED and ioc.pending_quantity == 0


def test_marketable_limit_gets_price_improvement_and_ioc_cancels_the_rest() -> None:
    broker, _ = make(impact=False)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    # A sell limit far below the bid sells at the bid levels, not at its own limit.
    sell_id = broker.place_order(order(Side.SELL, LOT, price=round(quote.bid - 5.0, 2)))
    assert only_order(broker, sell_id).average_price == quote.bid
    # An IOC buy below the ask does not trade and is cancelled at once.
    ioc_id = broker.place_order(order(Side.BUY, LOT, price=quote.bid, validity="IOC"))
    ioc = only_order(broker, ioc_id)
    assert (ioc.status, ioc.filled_quantity) == (OrderStatus.CANCELLED, 0)


# ---------------------------------------------------------------- resting orders


def _sell_flow(broker: PaperBroker, step: int) -> int:
    book = next(iter(broker.exchange.market.books.values()))
    return book.series.block(step // BLOCK).sell_volume[step % BLOCK]


def test_a_limit_join_fills_only_when_the_market_trades_through_it() -> None:
    broker, clock = make(impact=False)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    join = quote.bid
    order_id = broker.place_order(order(Side.BUY, LOT, price=join))
    sim = broker.exchange.sim_orders()[0]
    queue = sim.queue_ahead
    assert queue == quote.bid_quantity > 0  # behind everything displayed at our price
    traded_at_join, step = 0, 0
    while True:
        clock.jump(1.0)
        step += 1
        now = broker.quote(SYMBOL)
        assert now is not None and now.bid is not None
        if now.bid == join:
            traded_at_join += _sell_flow(broker, step)
        filled = only_order(broker, order_id).filled_quantity
        if filled:
            # It filled on a step where sellers had eaten the queue ahead, or the bid went
            # below our price (we were then the best bid and took the selling).
            assert traded_at_join > queue or now.bid < join
            break
        assert now.bid > join or traded_at_join <= queue, "filled without a trade through"
        assert step < 1800, "a join at the bid should fill within half an hour"


def test_queue_position_decides_between_join_improve_and_deeper_orders() -> None:
    # A flat market with a deep queue and a wide spread: only the order that improves the bid
    # (alone at the front) meets sellers within a minute; the join and the deeper bid never do.
    market = quiet_market(depth_lots=50_000.0, depth_noise=0.0, spread_fraction=0.03)
    broker, clock = make(impact=False, market=market)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    assert quote.ask - quote.bid >= 0.15
    improve = broker.place_order(order(Side.BUY, LOT, price=round(quote.bid + 0.05, 2), tag="i"))
    join = broker.place_order(order(Side.BUY, LOT, price=quote.bid, tag="j"))
    deeper = broker.place_order(order(Side.BUY, LOT, price=round(quote.bid - 0.05, 2), tag="d"))
    clock.jump(60.0)
    assert only_order(broker, improve).status is OrderStatus.COMPLETE
    assert only_order(broker, join).filled_quantity == 0
    assert only_order(broker, deeper).filled_quantity == 0
    assert [t.price for t in broker.trades()] == [round(quote.bid + 0.05, 2)]


def test_cancel_a_resting_order_and_the_errors_kite_gives() -> None:
    broker, _ = make(impact=False)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    order_id = broker.place_order(order(Side.BUY, LOT, price=round(quote.bid - 1.0, 2)))
    assert only_order(broker, order_id).status is OrderStatus.OPEN
    broker.cancel_order(order_id)
    assert only_order(broker, order_id).status is OrderStatus.CANCELLED
    with pytest.raises(OrderException, match="already cancelled"):
        broker.cancel_order(order_id)
    with pytest.raises(InputException, match="order_id"):
        broker.cancel_order("999")


# ---------------------------------------------------------------- impact


def test_impact_parameters_move_the_fair_price_by_what_they_claim() -> None:
    impact = ImpactConfig(permanent_per_unit=5e-5, temporary_per_unit=2e-4,
                          temporary_half_life_s=30.0)
    trader, clock_a = make(impact=impact)
    twin, clock_b = make(impact=impact)  # same seed, never trades: the counterfactual path
    qty = 27 * LOT
    trader.place_order(order(Side.BUY, qty))
    gamma, eta = 5e-5 * qty, 2e-4 * qty
    assert trader.fair_price(SYMBOL) - twin.fair_price(SYMBOL) == pytest.approx(gamma + eta)
    for clock in (clock_a, clock_b):
        clock.jump(30.0)
    assert trader.fair_price(SYMBOL) - twin.fair_price(SYMBOL) == pytest.approx(gamma + eta / 2)
    for clock in (clock_a, clock_b):
        clock.jump(570.0)
    assert trader.fair_price(SYMBOL) - twin.fair_price(SYMBOL) == pytest.approx(gamma, abs=1e-6)
    # The quotes carry the same move (the bid side was not depleted by our buy).
    ours, theirs = trader.quote(SYMBOL), twin.quote(SYMBOL)
    assert ours is not None and theirs is not None and ours.bid and theirs.bid
    assert abs((ours.bid - theirs.bid) - gamma) <= 0.05 + 1e-9


def test_with_impact_off_our_trades_leave_the_fair_price_alone() -> None:
    trader, _ = make(impact=False)
    twin, _ = make(impact=False)
    trader.place_order(order(Side.BUY, 27 * LOT))
    assert trader.fair_price(SYMBOL) == twin.fair_price(SYMBOL)


def test_taken_depth_comes_back_with_the_books_resilience() -> None:
    broker, clock = make(impact=False)
    twin, twin_clock = make(impact=False)
    first = only_order(broker, broker.place_order(order(Side.BUY, 27 * LOT, tag="a")))
    second = only_order(broker, broker.place_order(order(Side.BUY, 27 * LOT, tag="b")))
    assert second.average_price > first.average_price  # the second sweep meets a thinner book
    for clock_ in (clock, twin_clock):
        clock_.jump(60.0)  # twelve resilience half-lives
    third = only_order(broker, broker.place_order(order(Side.BUY, 27 * LOT, tag="c")))
    fresh = only_order(twin, twin.place_order(order(Side.BUY, 27 * LOT, tag="c")))
    assert third.average_price == fresh.average_price
