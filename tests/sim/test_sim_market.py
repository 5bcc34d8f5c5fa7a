"""The simulated market's shape: prices, spreads, depth, U-shaped volume, and speed."""

from __future__ import annotations

import asyncio
import math
import statistics

import numpy as np
import pytest

from imperium_exec.brokers.base import OrderInstruction
from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.request import OrderType, Side
from imperium_exec.sim.chain import Instrument
from imperium_exec.sim.config import MarketConfig, UnderlyingMarket
from imperium_exec.sim.paths import BLOCK, LEVELS, TRADING_YEAR_S, SeriesBlock
from imperium_exec.sim.pricing import YEAR_S, black76_price
from imperium_exec.sim.session import close_epoch
from imperium_exec.timeutil import SESSION_SECONDS

ATM = "NIFTY26D0126000CE"
FAR = "NIFTY26D0126700CE"



def test_fair_price_is_black76_on_the_simulated_index() -> None:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=21, impact=False)
    clock.jump(1234.0)
    spot = broker.spot("NIFTY")
    inst = broker.exchange.instrument(ATM)
    assert inst is not None and inst.expiry is not None
    years = (close_epoch(inst.expiry) - clock.now()) / YEAR_S
    cfg = broker.config.market
    forward = spot * math.exp(cfg.rate * years)
    expected = black76_price(forward, 26_000.0, years, 0.13, cfg.rate, True)
    assert broker.fair_price(ATM) == pytest.approx(expected, rel=1e-12)
    quote = broker.quote(ATM)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    assert quote.bid <= expected + 0.05 and quote.ask >= expected - 0.05


def test_index_walk_has_the_configured_volatility() -> None:
    market = MarketConfig(underlyings={"NIFTY": UnderlyingMarket(spot=26_000.0, annual_vol=0.2)})
    broker = PaperBroker(clock=VirtualClock(), seed=3, market=market)
    path = broker.exchange.market.index_path("NIFTY")
    levels = np.concatenate([path.block(b) for b in range(40)])
    returns = np.diff(np.log(levels))
    per_step = 0.2 * math.sqrt(1.0 / TRADING_YEAR_S)
    assert float(np.std(returns)) == pytest.approx(per_step, rel=0.02)


def test_spreads_widen_and_books_thin_away_from_the_money() -> None:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=8)
    rel_spread: dict[str, list[float]] = {ATM: [], FAR: []}
    top: dict[str, list[int]] = {ATM: [], FAR: []}
    for _ in range(60):
        for symbol in (ATM, FAR):
            q = broker.quote(symbol)
            assert q is not None and q.bid is not None and q.ask is not None
            rel_spread[symbol].append((q.ask - q.bid) / ((q.ask + q.bid) / 2))
            top[symbol].append(q.bid_quantity + q.ask_quantity)
        clock.jump(10.0)
    assert statistics.mean(rel_spread[FAR]) > 3 * statistics.mean(rel_spread[ATM])
    assert statistics.mean(top[FAR]) < 0.5 * statistics.mean(top[ATM])


def test_traded_volume_follows_the_u_shaped_intraday_curve() -> None:
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=5)
    per_bin: list[int] = []
    last = 0
    for n in range(25):
        clock.jump(900.0 if n < 24 else 899.0)  # 15:30 would be the next session's open
        q = broker.quote(ATM)
        assert q is not None and q.volume >= last
        per_bin.append(q.volume - last)
        last = q.volume
    midday = min(per_bin[8:17])
    assert per_bin[0] > 1.8 * midday and per_bin[-1] > 1.4 * midday
    assert per_bin[0] > statistics.mean(per_bin[8:17])


def test_quote_volume_counts_our_market_orders() -> None:
    trader_clock, twin_clock = VirtualClock(), VirtualClock()
    trader = PaperBroker(clock=trader_clock, seed=6, impact=False)
    twin = PaperBroker(clock=twin_clock, seed=6, impact=False)
    trader.place_order(OrderInstruction(ATM, "NFO", Side.BUY, 650, OrderType.MARKET, None,
                                        "NRML", "DAY", "v", market_protection=-1))
    ours, theirs = trader.quote(ATM), twin.quote(ATM)
    assert ours is not None and theirs is not None
    assert ours.volume - theirs.volume == 650


def test_a_full_session_runs_in_virtual_time_with_a_book_stepping_all_day() -> None:
    """(Its speed is measured in bench/bench_engine.py, never asserted here.)"""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=12)
    symbols = [ATM, FAR, "NIFTY26D0125900PE", "NIFTY26NOV26000CE", "NIFTY26NOV26000PE"]
    quote = broker.quote(symbols[0])
    assert quote is not None and quote.bid is not None
    # A bid that rests all day keeps one book stepping through every market step.
    broker.place_order(OrderInstruction(ATM, "NFO", Side.BUY, 65, OrderType.LIMIT, 0.05, "NRML",
                                        "DAY", "r"))
    loop = clock.new_event_loop()

    async def poll() -> None:
        for _ in range(SESSION_SECONDS // 30):
            for symbol in symbols:
                broker.quote(symbol)
            broker.orders()
            await asyncio.sleep(30.0)

    loop.run_until_complete(poll())
    loop.close()
    assert clock.elapsed >= SESSION_SECONDS
    (resting,) = broker.orders()
    assert not resting.status.is_terminal  # a 0.05 bid rests the whole day, never lost


class _StillSeries:
    """An option's market handed to the exchange: a fair price of 120.00 that never moves,
    a two-tick spread, ten lots a level, and no trades."""

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst

    def block(self, b: int) -> SeriesBlock:
        fair = np.full(BLOCK, 120.0)
        lots = np.full((BLOCK, LEVELS), 10, dtype=np.int64)
        return SeriesBlock(fair=fair, half_spread=[1.0] * BLOCK, bid_lots=lots, ask_lots=lots,
                           buy_volume=[0] * BLOCK, sell_volume=[0] * BLOCK,
                           last_at_ask=[False] * BLOCK, fair_list=fair.tolist(),
                           volume_cum=np.zeros(BLOCK, dtype=np.int64), last_trade=[-1] * BLOCK)

    def volume_between(self, k0: int, k1: int) -> int:
        return 0

    def last_trade_step(self, k0: int, k1: int) -> int | None:
        return None

    def forget_before(self, b: int) -> None:
        pass


def test_an_option_whose_series_is_given_trades_it_and_the_others_keep_their_seeded_one() -> None:
    seeded_clock = VirtualClock()
    seeded = PaperBroker(clock=seeded_clock, seed=5)
    inst = seeded.exchange.instrument(ATM)
    assert inst is not None
    clock = VirtualClock()
    given = PaperBroker(clock=clock, seed=5, series={(inst.exchange, ATM): _StillSeries(inst)})
    clock.jump(30.0)
    quote = given.quote(ATM)
    assert quote is not None
    assert (quote.bid, quote.ask, quote.bid_quantity) == (119.95, 120.05, 10 * inst.lot_size)
    assert given.fair_price(ATM) == 120.0
    seeded_clock.jump(30.0)
    assert given.quote(FAR) == seeded.quote(FAR)
