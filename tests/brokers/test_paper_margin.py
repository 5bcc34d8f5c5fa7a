"""The paper exchange's margin with the hedge benefit: the basket pre-check
(``PaperBroker.basket_margin``) and the exchange's own per-order check, which gives a short the
benefit of a long only once the long has filled (as NSE does)."""

from __future__ import annotations

from typing import Literal

import pytest

from imperium_exec.brokers.base import MarginLeg, OrderInstruction, OrderStatus
from imperium_exec.brokers.errors import GeneralException, InputException
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.request import OrderType, Side
from imperium_exec.sim.config import AccountConfig, PaperConfig

LOT = 65
FRACTION = 0.12
#: Enough for an iron condor 100 points either side of the money with 200-point wings (about
#: 26,000 rupees a lot), far too little for the same strangle naked (about 405,600).
SMALL_ACCOUNT = 100_000.0


def make(margin: float = SMALL_ACCOUNT, rejection: Literal["async", "sync"] = "sync",
         clock: VirtualClock | None = None) -> PaperBroker:
    config = PaperConfig(account=AccountConfig(margin=margin, margin_rejection=rejection))
    return PaperBroker(config, clock=clock or VirtualClock(), seed=5)


def symbol(broker: PaperBroker, offset: float, kind: str) -> str:
    """The option ``offset`` points from the money, next week (this week's expires today:
    its wings are worth a tick)."""
    chain = broker.option_chain(expiry=broker.exchange.chain.expiries("NIFTY")[1],
                                strikes_each_side=10)
    row = next(r for r in chain.rows if r.strike == chain.atm_strike + offset)
    return (row.call if kind == "CE" else row.put).tradingsymbol


def strangle(broker: PaperBroker, lots: int = 1) -> list[MarginLeg]:
    return [MarginLeg(symbol(broker, 100, "CE"), "NFO", Side.SELL, lots * LOT),
            MarginLeg(symbol(broker, -100, "PE"), "NFO", Side.SELL, lots * LOT)]


def wings(broker: PaperBroker, lots: int = 1) -> list[MarginLeg]:
    return [MarginLeg(symbol(broker, 300, "CE"), "NFO", Side.BUY, lots * LOT),
            MarginLeg(symbol(broker, -300, "PE"), "NFO", Side.BUY, lots * LOT)]


def order(leg: MarginLeg, *, tag: str, price: float | None = None) -> OrderInstruction:
    if price is None:
        return OrderInstruction(leg.tradingsymbol, leg.exchange, leg.side, leg.quantity,
                                OrderType.MARKET, None, "NRML", "DAY", tag, market_protection=-1)
    return OrderInstruction(leg.tradingsymbol, leg.exchange, leg.side, leg.quantity,
                            OrderType.LIMIT, price, "NRML", "DAY", tag)


def status(broker: PaperBroker, order_id: str) -> OrderStatus:
    return next(o for o in broker.orders() if o.order_id == order_id).status


def naked_lot(broker: PaperBroker) -> float:
    return FRACTION * broker.spot() * LOT


def ask(broker: PaperBroker, leg: MarginLeg) -> float:
    quote = broker.quote(leg.tradingsymbol)
    assert quote is not None and quote.ask is not None
    return quote.ask


# ---------------------------------------------------------------------------- the pre-check


def test_the_margin_precheck_refuses_a_naked_short_strangle_and_accepts_it_with_its_wings(
        ) -> None:
    broker = make()
    naked = broker.basket_margin(strangle(broker))
    assert naked.required == pytest.approx(2 * naked_lot(broker))
    assert naked.available == SMALL_ACCOUNT
    assert naked.shortfall > 0  # refused

    condor = broker.basket_margin([*wings(broker), *strangle(broker)])
    wing_premium = sum(ask(broker, leg) * LOT for leg in wings(broker))
    assert wing_premium > 0
    # Each side covered at its 200-point width, and the wings' premium.
    assert condor.required == pytest.approx(2 * 200 * LOT + wing_premium)
    assert condor.shortfall == 0  # accepted
    assert condor.required_without_hedge == pytest.approx(naked.required + wing_premium)

    # The exchange agrees: the condor sent wings first fills whole within the same account.
    ids = [broker.place_order(order(leg, tag=f"c{i}"))
           for i, leg in enumerate([*wings(broker), *strangle(broker)])]
    assert [status(broker, i) for i in ids] == [OrderStatus.COMPLETE] * 4
    assert broker.margins()["utilised"] == pytest.approx(2 * 200 * LOT)  # the credit paid the wings


def test_the_precheck_scales_with_the_lots_and_counts_the_positions_held() -> None:
    broker = make(margin=5e6)
    broker.place_order(order(strangle(broker)[0], tag="held"))  # one naked call held
    call_wing = wings(broker)[0]
    hedge = broker.basket_margin([call_wing])
    assert hedge.required == 0.0  # the wing frees far more than its premium
    assert hedge.available == pytest.approx(5e6 - naked_lot(broker), rel=1e-6)
    assert hedge.required_without_hedge == pytest.approx(ask(broker, call_wing) * LOT)

    again = broker.basket_margin(strangle(broker, lots=2))
    assert again.required == pytest.approx(4 * naked_lot(broker))
    closing = broker.basket_margin([MarginLeg(strangle(broker)[0].tradingsymbol, "NFO",
                                              Side.BUY, LOT)])
    assert closing.required == 0.0


def test_the_precheck_prices_limit_legs_at_their_limit() -> None:
    broker = make(margin=5e6)
    wing = wings(broker)[0]
    at_limit = MarginLeg(wing.tradingsymbol, "NFO", Side.BUY, 2 * LOT, OrderType.LIMIT, 7.5)
    check = broker.basket_margin([at_limit])
    assert (check.required, check.available, check.required_without_hedge) == \
        (pytest.approx(2 * LOT * 7.5), 5e6, pytest.approx(2 * LOT * 7.5))


def test_the_precheck_refuses_what_the_exchange_does_not_list() -> None:
    broker = make()
    with pytest.raises(InputException, match="not an option listed"):
        broker.basket_margin([MarginLeg("NIFTY26D0199999CE", "NFO", Side.SELL, LOT)])
    with pytest.raises(InputException, match="quantity"):
        broker.basket_margin([MarginLeg(symbol(broker, 100, "CE"), "NFO", Side.SELL, 0)])


# ---------------------------------------------------------------------------- per order


def test_a_short_sent_before_its_hedge_filled_is_refused_and_passes_once_the_hedge_filled(
        ) -> None:
    broker = make()
    call_wing, short_call = wings(broker)[0], strangle(broker)[0]
    resting = broker.place_order(order(call_wing, tag="wing", price=0.05))  # the hedge rests
    assert status(broker, resting) is OrderStatus.OPEN
    with pytest.raises(GeneralException, match="Insufficient funds") as info:
        broker.place_order(order(short_call, tag="early"))
    assert f"Required margin is {naked_lot(broker):.2f}" in str(info.value)

    broker.cancel_order(resting)
    filled = broker.place_order(order(call_wing, tag="wing2"))
    assert status(broker, filled) is OrderStatus.COMPLETE
    short = broker.place_order(order(short_call, tag="late"))
    assert status(broker, short) is OrderStatus.COMPLETE
    assert broker.margins()["utilised"] == pytest.approx(200 * LOT)  # the short paid the wing


def test_the_early_short_turns_rejected_with_the_rms_message_on_an_async_account() -> None:
    broker = make(rejection="async")
    call_wing, short_call = wings(broker)[0], strangle(broker)[0]
    broker.place_order(order(call_wing, tag="wing", price=0.05))
    early = broker.place_order(order(short_call, tag="early"))
    assert status(broker, early) is OrderStatus.REJECTED
    sim = next(o for o in broker.exchange.sim_orders() if o.order_id == early)
    assert sim.status_message_raw is not None
    assert sim.status_message_raw.startswith(f"RMS:Margin Exceeds,Required:{naked_lot(broker):.2f}")


def test_closing_the_hedge_of_a_short_held_needs_the_naked_margin_back() -> None:
    broker = make(margin=150_000.0)
    call_wing, short_call = wings(broker)[0], strangle(broker)[0]
    broker.place_order(order(call_wing, tag="wing"))
    broker.place_order(order(short_call, tag="short"))
    sell_wing = MarginLeg(call_wing.tradingsymbol, "NFO", Side.SELL, LOT)
    check = broker.basket_margin([sell_wing])
    assert check.required == pytest.approx(naked_lot(broker) - 200 * LOT)
    assert check.shortfall > 0
    with pytest.raises(GeneralException, match="Insufficient funds"):
        broker.place_order(order(sell_wing, tag="unhedge"))


def test_a_resting_short_that_fills_holds_its_margin_once_as_a_position() -> None:
    clock = VirtualClock()
    broker = make(margin=5e6, clock=clock)
    short_call = strangle(broker)[0]
    quote = broker.quote(short_call.tradingsymbol)
    assert quote is not None and quote.ask is not None
    order_id = broker.place_order(order(short_call, tag="rest", price=quote.ask))
    assert broker.margins()["utilised"] == pytest.approx(naked_lot(broker))  # held for the order
    for _ in range(60):
        clock.jump(5.0)
        if status(broker, order_id) is OrderStatus.COMPLETE:
            break
    assert status(broker, order_id) is OrderStatus.COMPLETE
    assert broker.margins()["utilised"] == pytest.approx(naked_lot(broker))  # not twice
