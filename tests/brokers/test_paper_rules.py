"""Exchange and broker rules: Kite's exceptions, codes and wording for every refusal."""

from __future__ import annotations

import datetime as dt

import pytest

from imperium_exec.brokers.base import OrderInstruction, OrderStatus
from imperium_exec.brokers.errors import GeneralException, InputException, NetworkException
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.events import ErrorBucket
from imperium_exec.request import OrderType, Side
from imperium_exec.retry import RetryPolicy
from imperium_exec.sim.config import AccountConfig, PaperConfig
from imperium_exec.timeutil import IST

SYMBOL = "NIFTY26D0126000CE"
LOT = 65
POLICY = RetryPolicy()


def make(clock: VirtualClock | None = None, **kw: object) -> PaperBroker:
    return PaperBroker(clock=clock or VirtualClock(), seed=5, **kw)  # type: ignore[arg-type]



def limit(side: Side, quantity: int, price: float, *, tag: str = "t", validity: str = "DAY",
          symbol: str = SYMBOL, exchange: str = "NFO") -> OrderInstruction:
    return OrderInstruction(symbol, exchange, side, quantity, OrderType.LIMIT, price, "NRML",
                            validity, tag)


def market(side: Side, quantity: int, protection: int | None = -1) -> OrderInstruction:
    return OrderInstruction(SYMBOL, "NFO", side, quantity, OrderType.MARKET, None, "NRML", "DAY",
                            "m", market_protection=protection)


def bid(broker: PaperBroker) -> float:
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    return quote.bid


# ---------------------------------------------------------------- order parameters


def test_quantity_must_be_a_lot_multiple() -> None:
    broker = make()
    with pytest.raises(InputException, match=r"multiple of the lot size 65") as info:
        broker.place_order(limit(Side.BUY, 100, bid(broker)))
    assert info.value.code == 400
    assert POLICY.classify(info.value).bucket is ErrorBucket.RISK
    assert broker.orders() == []  # a refused request never reaches the order book


def test_quantity_above_the_freeze_limit_gets_kites_freeze_message() -> None:
    broker = make()
    broker.place_order(limit(Side.BUY, 27 * LOT, bid(broker)))  # 1755: the most one order may be
    with pytest.raises(InputException) as info:
        broker.place_order(limit(Side.BUY, 28 * LOT, bid(broker)))
    assert str(info.value) == (
        "The order quantity 1820 (28 lots) is higher than the maximum quantity of 1755 (27 lots) "
        "allowed by the exchanges. Please reduce the order quantity or use iceberg orders.")
    assert POLICY.classify(info.value).bucket is ErrorBucket.RISK


def test_limit_price_must_be_on_the_tick() -> None:
    broker = make()
    with pytest.raises(InputException, match=r"Tick size for this script is 0.05"):
        broker.place_order(limit(Side.BUY, LOT, bid(broker) - 0.02))


def test_limit_price_protection_band() -> None:
    broker = make()
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.upper_circuit_limit and quote.lower_circuit_limit
    assert quote.ltp is not None and quote.ltp > 50
    assert quote.upper_circuit_limit == pytest.approx(quote.ltp * 1.4, abs=0.05)
    with pytest.raises(InputException, match=r"circuit limits") as info:
        broker.place_order(limit(Side.BUY, LOT, round(quote.upper_circuit_limit + 0.05, 2)))
    assert POLICY.classify(info.value).bucket is ErrorBucket.RISK
    with pytest.raises(InputException, match=r"below the lowest allowed"):
        broker.place_order(limit(Side.SELL, LOT, round(quote.lower_circuit_limit - 0.05, 2)))
    # At the band's edge is allowed; a buy far below the market is not an LPP breach.
    broker.place_order(limit(Side.BUY, LOT, quote.upper_circuit_limit, tag="edge"))
    broker.place_order(limit(Side.BUY, LOT, 0.05, tag="low"))


def test_cheap_options_use_the_absolute_band() -> None:
    broker = make()
    cheap = "NIFTY26D0126800CE"
    quote = broker.quote(cheap)
    assert quote is not None and quote.ltp is not None and quote.ltp <= 50
    assert quote.upper_circuit_limit == pytest.approx(quote.ltp + 20.0)


def test_market_orders_need_market_protection() -> None:
    broker = make()
    for protection in (None, 0, 101):
        with pytest.raises(InputException, match=r"market protection"):
            broker.place_order(market(Side.BUY, LOT, protection))
    broker.place_order(market(Side.BUY, LOT, 5))


def test_tag_longer_than_twenty_characters_is_rejected_not_truncated() -> None:
    broker = make()
    with pytest.raises(InputException, match=r"at most 20 characters"):
        broker.place_order(limit(Side.BUY, LOT, bid(broker), tag="x" * 21))


def test_unknown_instruments_and_indices_cannot_be_traded() -> None:
    broker = make()
    with pytest.raises(InputException, match=r"not an option listed"):
        broker.place_order(limit(Side.BUY, LOT, 10.0, symbol="NIFTY26D0199999CE"))
    with pytest.raises(InputException, match=r"not an option listed"):
        broker.place_order(limit(Side.BUY, 1, 10.0, symbol="NIFTY 50", exchange="NSE"))
    # The right symbol on the wrong exchange.
    with pytest.raises(InputException, match=r"not an option listed"):
        broker.place_order(limit(Side.BUY, LOT, 10.0, exchange="BFO"))


# ---------------------------------------------------------------- margin


def test_margin_shortfall_is_refused_synchronously_as_general_exception() -> None:
    config = PaperConfig(account=AccountConfig(margin=10_000.0, margin_rejection="sync"))
    broker = make(config=config)
    price = bid(broker)
    with pytest.raises(GeneralException) as info:
        broker.place_order(limit(Side.BUY, 2 * LOT, price))
    required = 2 * LOT * price
    assert info.value.code == 400
    assert str(info.value) == (f"Insufficient funds. Required margin is {required:.2f} but "
                               "available margin is 10000.00. Check the orderbook for open "
                               "orders.")
    assert broker.orders() == []
    assert RetryPolicy().classify(info.value).bucket is ErrorBucket.RISK  # never retried


def test_margin_shortfall_arrives_asynchronously_as_rejected_with_the_rms_message() -> None:
    broker = make(margin=10_000.0)  # async is Kite's usual way
    order_id = broker.place_order(limit(Side.BUY, 2 * LOT, bid(broker)))
    rejected = next(o for o in broker.orders() if o.order_id == order_id)
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.status_message is not None
    assert rejected.status_message.startswith("Insufficient funds. Required margin is ")
    assert POLICY.classify_rejection(rejected.status_message).bucket is ErrorBucket.RISK
    sim = broker.exchange.sim_orders()[0]
    assert sim.status_message_raw is not None and sim.status_message_raw.startswith(
        "RMS:Margin Exceeds,Required:")


def test_open_orders_and_fills_use_up_margin_and_cancels_give_it_back() -> None:
    broker = make(margin=1_000_000.0)
    price = bid(broker)
    first = broker.place_order(limit(Side.BUY, 5 * LOT, round(price - 1.0, 2)))
    assert broker.margins()["utilised"] == pytest.approx(5 * LOT * (price - 1.0))
    broker.cancel_order(first)
    assert broker.margins()["utilised"] == 0.0
    # A short sale blocks a fraction of the underlying notional.
    broker.place_order(market(Side.SELL, LOT))
    assert broker.margins()["utilised"] == pytest.approx(65 * 26_000 * 0.12, rel=0.01)


# ---------------------------------------------------------------- rate limits


def test_the_eleventh_order_request_in_one_second_is_throttled() -> None:
    clock = VirtualClock()
    broker = make(clock)
    below = round(bid(broker) - 2.0, 2)
    for n in range(10):
        broker.place_order(limit(Side.BUY, LOT, below, tag=f"n{n}", validity="IOC"))
    with pytest.raises(NetworkException) as info:
        broker.place_order(limit(Side.BUY, LOT, below, tag="n10", validity="IOC"))
    assert (info.value.code, str(info.value)) == (429, "Too many requests")
    assert POLICY.classify(info.value).bucket is ErrorBucket.THROTTLE
    assert len(broker.orders()) == 10
    clock.jump(1.0)  # a new calendar second
    broker.place_order(limit(Side.BUY, LOT, below, tag="n11", validity="IOC"))


def test_refused_requests_and_cancels_count_toward_the_limit() -> None:
    broker = make()
    price = round(bid(broker) - 2.0, 2)
    order_id = broker.place_order(limit(Side.BUY, LOT, price))
    broker.cancel_order(order_id)
    for _ in range(8):
        with pytest.raises(InputException):
            broker.place_order(limit(Side.BUY, 100, price))
    with pytest.raises(NetworkException, match="Too many requests"):
        broker.place_order(limit(Side.BUY, LOT, price))


def test_four_hundred_requests_a_minute() -> None:
    clock = VirtualClock()
    broker = make(clock)
    price = round(bid(broker) - 2.0, 2)
    for _second in range(40):
        for n in range(10):
            broker.place_order(limit(Side.BUY, LOT, price, tag=f"s{n}", validity="IOC"))
        clock.jump(1.0)
    assert 40.0 <= clock.elapsed < 60.0  # still the same calendar minute (the clock starts at :00)
    with pytest.raises(NetworkException, match="Too many requests"):
        broker.place_order(limit(Side.BUY, LOT, price, validity="IOC"))
    clock.jump(60.0 - clock.elapsed)
    broker.place_order(limit(Side.BUY, LOT, price, validity="IOC"))


# ---------------------------------------------------------------- session hours


def test_nse_hours_refuse_orders_after_the_close() -> None:
    opening = dt.datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()
    clock = VirtualClock(start=opening)
    broker = make(clock, hours="nse")
    broker.place_order(limit(Side.BUY, LOT, round(bid(broker) - 2.0, 2), tag="open"))
    assert broker.session_seconds(clock.now()) == 0.0
    clock.jump(375 * 60.0)  # 15:30
    assert broker.session_seconds(clock.now()) == 375 * 60.0
    with pytest.raises(InputException, match=r"Markets are closed right now"):
        broker.place_order(limit(Side.BUY, LOT, 10.0, tag="late"))
    # The market does not move while it is closed.
    closing = broker.quote(SYMBOL)
    clock.jump(3_600.0)
    later = broker.quote(SYMBOL)
    assert closing is not None and later is not None
    assert (later.bid, later.ask, later.ltp, later.volume) == \
        (closing.bid, closing.ask, closing.ltp, closing.volume)


def test_day_orders_still_open_at_the_close_are_cancelled_by_the_exchange() -> None:
    opening = dt.datetime(2026, 11, 24, 9, 15, tzinfo=IST).timestamp()
    clock = VirtualClock(start=opening)
    broker = make(clock, hours="nse")
    order_id = broker.place_order(limit(Side.BUY, LOT, 0.05, tag="cheap"))
    clock.jump(375 * 60.0 - 1.0)
    assert broker.orders()[0].status is OrderStatus.OPEN
    assert broker.margins()["utilised"] > 0
    clock.jump(1.0)
    [expired] = broker.orders()
    assert (expired.order_id, expired.status) == (order_id, OrderStatus.CANCELLED)
    assert expired.status_message is not None and "end of the session" in expired.status_message
    assert broker.margins()["utilised"] == 0.0
