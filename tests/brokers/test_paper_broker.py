"""PaperBroker as the desk and the engine use it: defaults, protocol, chain view, determinism."""

from __future__ import annotations

import threading

from imperium_exec.brokers.base import Broker, OrderInstruction, OrderStatus
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import RealClock, VirtualClock
from imperium_exec.request import OrderType, Side
from imperium_exec.sim.config import PaperConfig, RulesConfig
from imperium_exec.sim.market import PaperQuote

SYMBOL = "NIFTY26D0126000CE"
LOT = 65



def order(side: Side, quantity: int, price: float | None = None, tag: str = "t",
          symbol: str = SYMBOL) -> OrderInstruction:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderInstruction(symbol, "NFO", side, quantity, kind, price, "NRML", "DAY", tag,
                            market_protection=-1 if price is None else None)


def test_default_broker_is_an_open_nifty_desk_on_the_real_clock() -> None:
    broker = PaperBroker()
    as_protocol: Broker = broker  # checked statically by mypy too
    assert isinstance(as_protocol, Broker)
    assert broker.name == "paper" and isinstance(broker.clock, RealClock)
    assert 0.0 <= broker.session_seconds(broker.clock.now()) < 5.0  # opened when it started
    assert broker.margins()["net"] == 5e7
    nifty = broker.instruments("NIFTY")
    assert any(i.tradingsymbol == "NIFTY 50" for i in nifty)
    assert sum(i.is_option for i in nifty) == 2 * 2 * 41  # two expiries, 41 strikes, CE and PE
    chain = broker.option_chain()
    atm = chain.rows[len(chain.rows) // 2]
    quote = broker.quote(atm.call.tradingsymbol)
    assert isinstance(quote, PaperQuote) and quote.bid and quote.ask and quote.bid < quote.ask
    order_id = broker.place_order(order(Side.BUY, LOT, symbol=atm.call.tradingsymbol))
    assert broker.orders()[0].order_id == order_id
    assert broker.orders()[0].status is OrderStatus.COMPLETE


def test_quote_carries_five_levels_of_depth_and_the_index() -> None:
    broker = PaperBroker(clock=VirtualClock(), seed=1)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    assert len(quote.depth_buy) == len(quote.depth_sell) == 5
    bids = [level.price for level in quote.depth_buy]
    asks = [level.price for level in quote.depth_sell]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] == quote.bid < quote.ask == asks[0]
    assert all(level.quantity % LOT == 0 and level.quantity > 0
               for level in quote.depth_buy + quote.depth_sell)
    assert quote.bid_quantity == quote.depth_buy[0].quantity
    assert quote.underlying_price == 26_000.0  # the configured spot at the open
    index = broker.quote("NIFTY 50")
    assert index is not None and index.ltp == 26_000.0 and index.bid is None
    assert broker.quote("NOSUCHSYMBOL") is None
    assert broker.quote(SYMBOL, "BFO") is None


def test_option_chain_view_centres_on_the_money() -> None:
    broker = PaperBroker(clock=VirtualClock(), seed=1)
    view = broker.option_chain("NIFTY", strikes_each_side=3)
    assert view.expiry.isoformat() == "2026-11-24"  # the open of an expiry day lists it first
    assert [row.strike for row in view.rows] == [25_850.0 + 50 * i for i in range(7)]
    assert view.atm_strike == 26_000.0
    for row in view.rows:
        assert row.call.tradingsymbol.endswith("CE") and row.put.tradingsymbol.endswith("PE")
    calls = [row.call.ltp or 0.0 for row in view.rows]
    puts = [row.put.ltp or 0.0 for row in view.rows]
    assert calls == sorted(calls, reverse=True) and puts == sorted(puts)


def test_same_seed_and_calls_give_the_same_session() -> None:
    def session(seed: int) -> tuple[object, ...]:
        clock = VirtualClock()
        broker = PaperBroker(clock=clock, seed=seed)
        quote = broker.quote(SYMBOL)
        assert quote is not None and quote.bid is not None
        broker.place_order(order(Side.BUY, 10 * LOT, tag="a"))
        resting = broker.place_order(order(Side.SELL, 5 * LOT, round(quote.bid + 1.0, 2), "b"))
        clock.jump(300.0)
        if broker.orders()[1].status is OrderStatus.OPEN:
            broker.cancel_order(resting)
        clock.jump(60.0)
        return tuple(broker.orders()), tuple(broker.trades()), broker.quote(SYMBOL)

    assert session(7) == session(7)
    assert session(7)[2] != session(8)[2]


def test_a_contracts_path_does_not_depend_on_what_else_was_looked_at() -> None:
    other = "NIFTY26D0125800PE"
    clock_a, clock_b = VirtualClock(), VirtualClock()
    a = PaperBroker(clock=clock_a, seed=4)
    b = PaperBroker(clock=clock_b, seed=4)
    a.quote(SYMBOL)
    clock_a.jump(100.0)
    a.quote(other)
    clock_b.jump(40.0)
    b.quote(other)
    clock_b.jump(60.0)
    b.quote(SYMBOL)
    for clock in (clock_a, clock_b):
        clock.jump(500.0)
    assert a.quote(SYMBOL) == b.quote(SYMBOL)
    assert a.quote(other) == b.quote(other)


def test_always_open_sessions_roll_over_every_375_minutes() -> None:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=2)
    broker.quote(SYMBOL)
    clock.jump(375 * 60.0 - 1.0)
    before = broker.quote(SYMBOL)
    clock.jump(11.0)
    assert broker.session_seconds(clock.now()) == 10.0
    after = broker.quote(SYMBOL)
    assert before is not None and after is not None
    assert after.volume < before.volume  # a new volume day


def test_concurrent_calls_from_worker_threads_are_safe() -> None:
    rules = RulesConfig(orders_per_second=10_000, orders_per_minute=100_000)
    broker = PaperBroker(PaperConfig(rules=rules), clock=VirtualClock(), seed=9)
    quote = broker.quote(SYMBOL)
    assert quote is not None and quote.bid is not None
    price = round(quote.bid - 3.0, 2)
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for i in range(25):
                order_id = broker.place_order(order(Side.BUY, LOT, price, tag=f"w{n}-{i}"))
                broker.quote(SYMBOL)
                broker.orders()
                with lock:
                    ids.append(order_id)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 100
    assert sorted(o.order_id for o in broker.orders()) == sorted(ids)
