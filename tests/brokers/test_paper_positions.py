"""The paper account's positions as a broker reports them (``PaperBroker.positions``, the
``positions`` capability): per instrument and product the net units and the average price they
were acquired at, exactly as the exchange's own fills say; and the average-cost rule itself
(:mod:`imperium_exec.sim.positions`)."""

from __future__ import annotations

import threading

import pytest

from imperium_exec.brokers.base import BrokerPosition, OrderInstruction
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.request import OrderType, Side
from imperium_exec.sim.positions import NetPosition

SYMBOL = "NIFTY26D0126000CE"
OTHER = "NIFTY26D0126000PE"
LOT = 65


def market(side: Side, quantity: int, *, symbol: str = SYMBOL, product: str = "NRML",
           tag: str = "t") -> OrderInstruction:
    return OrderInstruction(symbol, "NFO", side, quantity, OrderType.MARKET, None, product,
                            "DAY", tag, market_protection=-1)


def fill(broker: PaperBroker, order: OrderInstruction) -> None:
    """Send ``order`` and let the exchange's time pass until it filled."""
    broker.place_order(order)
    assert isinstance(broker.clock, VirtualClock)
    broker.clock.advance(1.0)


def position(broker: PaperBroker, symbol: str = SYMBOL,
             product: str = "NRML") -> BrokerPosition:
    return next(p for p in broker.positions()
                if (p.tradingsymbol, p.product) == (symbol, product))


def test_paper_positions_after_fills_show_the_net_and_average_price_of_the_fills() -> None:
    broker = PaperBroker(clock=VirtualClock(auto_advance=False), seed=3)
    assert broker.positions() == []  # nothing traded yet
    fill(broker, market(Side.BUY, 2 * LOT, tag="a"))
    fill(broker, market(Side.BUY, LOT, tag="b"))
    trades = broker.trades()
    bought = sum(t.quantity for t in trades)
    average = sum(t.quantity * t.price for t in trades) / bought
    held = position(broker)
    assert (held.exchange, held.quantity) == ("NFO", 3 * LOT)
    assert held.average_price == pytest.approx(average, abs=1e-4)
    quote = broker.quote(SYMBOL)
    assert quote is not None and held.last_price == quote.ltp
    assert held.pnl == pytest.approx(3 * LOT * (quote.ltp - average), abs=0.01)

    fill(broker, market(Side.SELL, LOT, tag="c"))  # a sale reduces what is held: same average
    after = position(broker)
    assert after.quantity == 2 * LOT
    assert after.average_price == pytest.approx(average, abs=1e-4)
    assert broker.exchange.account.position(SYMBOL) == after.quantity  # margin sees the same


def test_paper_positions_are_per_product_and_a_closed_one_shows_flat() -> None:
    broker = PaperBroker(clock=VirtualClock(auto_advance=False), seed=4)
    fill(broker, market(Side.SELL, LOT, symbol=OTHER, tag="s"))
    fill(broker, market(Side.BUY, LOT, symbol=OTHER, product="MIS", tag="m"))
    short, intraday = position(broker, OTHER), position(broker, OTHER, "MIS")
    sold, bought = (t.price for t in broker.trades())
    assert (short.quantity, short.average_price) == (-LOT, pytest.approx(sold))
    assert (intraday.quantity, intraday.average_price) == (LOT, pytest.approx(bought))
    assert broker.exchange.account.position(OTHER) == 0  # the account nets the products

    fill(broker, market(Side.SELL, LOT, symbol=OTHER, product="MIS", tag="x"))
    closed = position(broker, OTHER, "MIS")
    assert (closed.quantity, closed.average_price) == (0, 0.0)
    assert closed.pnl == pytest.approx(LOT * (broker.trades()[-1].price - bought), abs=0.01)


def test_the_positions_capability_is_the_paper_brokers_own_and_reads_under_its_lock() -> None:
    broker = PaperBroker(clock=VirtualClock(auto_advance=False), seed=5)
    assert broker.capabilities.positions == broker.positions
    fill(broker, market(Side.BUY, LOT))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                assert sum(p.quantity for p in broker.positions()) in (LOT, 2 * LOT)
        except BaseException as exc:  # (reported below)
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    fill(broker, market(Side.BUY, LOT, tag="more"))
    for thread in readers:
        thread.join()
    assert errors == [] and position(broker).quantity == 2 * LOT


@pytest.mark.parametrize(("fills", "net", "average"), [
    ([(+1, 65, 10.0), (+1, 65, 12.0)], 130, 11.0),  # adds: the weighted mean
    ([(+1, 130, 10.0), (-1, 65, 15.0)], 65, 10.0),  # reduces: the average stays
    ([(+1, 65, 10.0), (-1, 65, 15.0)], 0, 0.0),  # flat
    ([(+1, 65, 10.0), (-1, 195, 14.0)], -130, 14.0),  # through flat: the rest at its price
    ([(-1, 65, 8.0), (-1, 65, 9.0), (+1, 65, 1.0)], -65, 8.5),  # a short, partly bought back
])
def test_the_average_price_is_the_average_cost_of_what_is_held(
        fills: list[tuple[int, int, float]], net: int, average: float) -> None:
    held = NetPosition("X", "NFO", "NRML")
    for sign, quantity, price in fills:
        held.fill(sign, quantity, price)
    assert (held.quantity, held.average_price) == (net, pytest.approx(average))
