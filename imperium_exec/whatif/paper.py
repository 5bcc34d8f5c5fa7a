"""A parent's replay on the paper exchange, over the market its journal recorded.

The paper exchange (:mod:`imperium_exec.sim`) matches orders: a taking child walks the book,
a resting one joins the queue and fills from the rest of the market's flow (or when the far
touch comes to its price), by :class:`~imperium_exec.sim.matching.Matcher`'s rules. What it
lacks is a market from a journal: :class:`JournalSeries` is one, an option's series as the
exchange reads it (:class:`~imperium_exec.sim.paths.MarketSeries`), handed to it in place of
the seeded one. For one parent and one seed it is:

- **the mid** (the book's fair price): a Brownian bridge through every mid the journal
  observed, the parent's own impact taken out (:meth:`~.market.SymbolMarket.unimpacted`), at
  the volatility those observations show (a walk beyond the last); each seed draws another;
- **the half-spread**, in ticks, one the journal saw (a ticket's quote or another parent's
  taking fill), drawn for the seed; the touch rounds each side of the mid to the tick as the
  exchange's own books do;
- **the depth**: every level the same size, the one that best explains the book walk the
  journal's taking children recorded (the parent's whole quantity when none walked);
- **the flow**: the rest of the market trades what the quotes' session volume says it traded
  (the parent's own fills taken out), lot by lot at random times (Poisson), each trade
  buyer- or seller-initiated at even odds; a resting buy fills from the sellers' flow;
- **our impact**: the exchange's own, at the fitted linear impact (permanent, and temporary
  decaying with its half-life), and the depth our takes leave missing for a while.

The exchange's session opened where the journal's quotes say the parent's arrival fell in
it (``session_s``), so the volume curve a VWAP plans with is read at the right hour.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..algos.planner import ExecutionAlgoPlanner
from ..brokers.base import Quote
from ..brokers.paper.broker import PaperBroker
from ..clock import VirtualClock
from ..costs.slippage import PriorFill, SlippageModel, SlippageParams
from ..engine.config import EngineConfig
from ..engine.execution_engine import ExecutionEngine
from ..events import EventKind
from ..events.liquidity import Liquidity, fill_liquidity
from ..request import ExecutionRequest, Side
from ..sim.chain import INDEX_SYMBOLS, Chain, Instrument
from ..sim.config import AccountConfig, ImpactConfig, PaperConfig, RulesConfig
from ..sim.paths import BLOCK, LEVELS, SeriesBlock
from ..testing.quality_worlds import NO_LIMITS
from ..timeutil import IST
from .market import ParentRecord, SymbolMarket

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The replay's market moves on the exchange's one-second step.
STEP_S = 1.0
#: Seconds of market made past the window (a slice may land a little after it).
TAIL_S = 120.0
#: No exchange throttle between the replay's parents (one per seed, sent at one instant).
UNTHROTTLED = RulesConfig(orders_per_second=1_000_000, orders_per_minute=1_000_000,
                          orders_per_day=1_000_000)


def depth_lots(market: SymbolMarket, parent: ParentRecord, lot: int, tick: float,
               half_ticks: float) -> int:
    """Lots at each level of the replay's book: the size that best explains the book walk
    the journal's taking children recorded (levels spaced as the exchange spaces them); the
    parent's whole quantity, or the largest child seen, when none walked."""
    seen = [(units / lot, walk) for units, walk in market.walks if units >= lot]
    largest = max([parent.quantity / lot, *(n for n, _ in seen)])
    walked = [(n, w) for n, w in seen if w > 0]
    if not walked:
        return max(1, math.ceil(largest))
    gap = max(1, int(2.0 * half_ticks) // 3) * tick

    def predicted(n: float, d: int) -> float:
        full = math.floor(n / d)
        rest = n - full * d
        return gap * (d * full * (full - 1) / 2.0 + full * rest) / n

    candidates = range(1, math.ceil(largest) + 1)
    return min(candidates, key=lambda d: sum((w - predicted(n, d)) ** 2 for n, w in seen))


def _volume_curve(market: SymbolMarket, parent: ParentRecord
                  ) -> tuple[FloatArray, FloatArray, float, float] | None:
    """The rest of the market's volume since the parent arrived, on times since then, its
    mean rate (units a second) and its session volume at the arrival; None when the journal
    has fewer than two quotes of it."""
    seen = [(ts - parent.start, v) for ts, v in market.others_volume(parent.parent_id)]
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        return None
    times = np.array([t for t, _ in seen], dtype=np.float64)
    volumes = np.maximum.accumulate(np.array([v for _, v in seen], dtype=np.float64))
    rate = float((volumes[-1] - volumes[0]) / (times[-1] - times[0]))
    at_start = float(np.interp(0.0, times, volumes)) if times[0] <= 0 else \
        float(volumes[0] - rate * times[0])
    return times, volumes - at_start, rate, max(at_start, 0.0)


@dataclass(frozen=True)
class ParentMarket:
    """What every replay of one parent draws from (the same for every seed and algorithm)."""

    parent: ParentRecord
    lot: int
    tick: float
    times: FloatArray  #: the observed mids' times, seconds from the arrival
    mids: FloatArray  #: those mids, the parent's own impact taken out
    sigma: float  #: their volatility, rupees per second^½
    halves: FloatArray  #: the half-spreads the journal saw, ticks (a tick's spread at least)
    volume: tuple[FloatArray, FloatArray, float, float] | None  #: :func:`_volume_curve`
    market: SymbolMarket

    @classmethod
    def of(cls, parent: ParentRecord, market: SymbolMarket, params: SlippageParams, *,
           lot: int, tick: float) -> ParentMarket:
        observed = market.unimpacted(params, parent.parent_id)
        halves = np.array(market.half_spreads(parent.parent_id, tick), dtype=np.float64) / tick
        return cls(parent=parent, lot=lot, tick=tick,
                   times=np.array([ts - parent.start for ts, _ in observed], dtype=np.float64),
                   mids=np.array([m for _, m in observed], dtype=np.float64),
                   sigma=market.volatility(params, parent.parent_id),
                   halves=np.maximum(halves, 0.5), volume=_volume_curve(market, parent),
                   market=market)

    @property
    def end_s(self) -> float:
        """The window's end, seconds from the arrival."""
        return self.parent.begin - self.parent.start + self.parent.window_s

    def depth(self, half_ticks: float) -> int:
        return depth_lots(self.market, self.parent, self.lot, self.tick, half_ticks)


class JournalSeries:
    """One parent's instrument for one seed, as the paper exchange reads an option's series:
    step ``first_step`` is the parent's arrival, one step a second."""

    def __init__(self, inst: Instrument, inputs: ParentMarket, seed: int, *,
                 first_step: int) -> None:
        self.inst = inst
        self.first_step = first_step
        self.tick = inst.tick_size
        rng = np.random.default_rng([seed, zlib.crc32(inputs.parent.parent_id.encode())])
        #: The half-spread this seed's book quotes, ticks.
        self.half_ticks = float(inputs.halves[int(rng.integers(0, inputs.halves.size))])
        self.depth = inputs.depth(self.half_ticks)
        self.end_s = inputs.end_s
        n = math.ceil((self.end_s + TAIL_S) / STEP_S) + 1
        grid = np.arange(n, dtype=np.float64) * STEP_S
        walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(n - 1))))
        walk *= math.sqrt(STEP_S)
        # A Brownian bridge through the observations: the walk less its chord between them.
        chord = np.interp(grid, inputs.times, np.interp(inputs.times, grid, walk))
        path = np.interp(grid, inputs.times, inputs.mids) + inputs.sigma * (walk - chord)
        #: The mid at each second from the arrival (the book's fair price before our impact).
        self.path: FloatArray = np.maximum(path, self.tick)
        self._before = 0.0  # the session's volume before the arrival, units
        lots = np.zeros(n, dtype=np.int64)
        if inputs.volume is not None:
            times_v, volumes, rate, self._before = inputs.volume
            beyond = volumes[-1] + rate * np.maximum(grid - times_v[-1], 0.0)
            cumulative = np.where(grid > times_v[-1], beyond, np.interp(grid, times_v, volumes))
            per_step = np.diff(np.maximum.accumulate(cumulative), prepend=0.0)
            lots = rng.poisson(np.maximum(per_step, 0.0) / inst.lot_size).astype(np.int64)
            lots[0] = 0  # step 0 is the arrival's: its trades are in the session's volume
        units = lots * inst.lot_size
        buyers = rng.binomial(lots, 0.5).astype(np.int64) * inst.lot_size
        self._buy = buyers
        self._sell = units - buyers
        self._last_at_ask = rng.random(n) < 0.5
        #: Units traded from the session's open through each step from the arrival.
        self._cumulative = self._before + np.cumsum(units)
        #: Steps with trades (the session's before the arrival have no step of their own).
        self._trade_steps = [first_step + int(i) for i in np.flatnonzero(lots)]
        self._blocks: dict[int, SeriesBlock] = {}

    # ---------------------------------------------------------------- the series protocol

    def _cumulative_at(self, k: int) -> int:
        if k < 0:
            return 0
        i = k - self.first_step
        if i < 0:
            return int(self._before)
        return int(self._cumulative[min(i, self._cumulative.size - 1)])

    def volume_between(self, k0: int, k1: int) -> int:
        return self._cumulative_at(k1) - self._cumulative_at(k0) if k1 > k0 else 0

    def last_trade_step(self, k0: int, k1: int) -> int | None:
        at = int(np.searchsorted(self._trade_steps, k1, side="right")) - 1
        if at < 0 or self._trade_steps[at] <= k0:
            return None
        return self._trade_steps[at]

    def forget_before(self, b: int) -> None:
        for old in [k for k in self._blocks if k < b]:
            del self._blocks[old]

    def block(self, b: int) -> SeriesBlock:
        blk = self._blocks.get(b)
        if blk is None:
            blk = self._blocks[b] = self._make(b)
        return blk

    def _make(self, b: int) -> SeriesBlock:
        steps = np.arange(b * BLOCK, (b + 1) * BLOCK, dtype=np.int64) - self.first_step
        inside = (steps >= 0) & (steps < self.path.size)
        i = np.clip(steps, 0, self.path.size - 1)
        fair = self.path[i]
        buy = np.where(inside, self._buy[i], 0)
        sell = np.where(inside, self._sell[i], 0)
        volume_cum = np.cumsum(buy + sell).astype(np.int64)
        traded = np.where(buy + sell > 0, np.arange(BLOCK), -1)
        lots = np.full((BLOCK, LEVELS), self.depth, dtype=np.int64)
        return SeriesBlock(
            fair=fair, half_spread=[self.half_ticks] * BLOCK, bid_lots=lots, ask_lots=lots,
            buy_volume=buy.tolist(), sell_volume=sell.tolist(),
            last_at_ask=np.where(inside, self._last_at_ask[i], False).tolist(),
            fair_list=fair.tolist(), volume_cum=volume_cum,
            last_trade=np.maximum.accumulate(traded).tolist())

    def mid_at(self, t: float) -> float:
        """The mid ``t`` seconds after the arrival, before our impact."""
        return float(self.path[max(0, min(round(t / STEP_S), self.path.size - 1))])


# ---------------------------------------------------------------- the replay's runs


@dataclass(frozen=True)
class ReplayFill:
    """One fill of a replayed child, as the replay's rows have it."""

    placed: float  #: when its child was sent, epoch seconds
    ts: float  #: when it filled
    units: int
    price: float
    limit: float | None  #: its child's limit (None: a MARKET child)
    far_touch: float | None  #: the ask (a buy's) or bid (a sell's) when it was sent

    def rested(self, side: Side) -> bool:
        """Priced short of the far touch when sent (a buy below the ask, a sell above the
        bid): it waited in the book for the market to come to it (the journal's own rule,
        :func:`~..events.liquidity.fill_liquidity`)."""
        return fill_liquidity(side, self.limit, self.far_touch, None, None) \
            is Liquidity.RESTING


@dataclass(frozen=True)
class ReplayRun:
    """One replay of a parent: its fills, and the mid and impact its cost needs."""

    series: JournalSeries
    start: float  #: the parent's arrival, epoch seconds (the replay's clock starts there)
    fills: tuple[ReplayFill, ...]

    @property
    def filled(self) -> int:
        return sum(f.units for f in self.fills)

    @property
    def paid(self) -> float:
        return sum(f.units * f.price for f in self.fills)

    def rested_share(self, side: Side) -> float:
        """The share of its filled units that rested (0 when nothing filled)."""
        rested = sum(f.units for f in self.fills if f.rested(side))
        return rested / self.filled if self.filled else 0.0

    def end_mid(self, params: SlippageParams, sign: int) -> float:
        """The mid at the window's end, our fills' impact on it included (what an unfilled
        remainder is priced at)."""
        t = self.series.end_s
        impact = SlippageModel(params).linear_impact(
            [PriorFill(age_s=t - (f.ts - self.start), units=f.units)
             for f in self.fills if f.ts - self.start <= t])
        return self.series.mid_at(t) + sign * impact


RequestMaker = Callable[[str, Quote, int], ExecutionRequest]


def replay_symbol(parent: ParentRecord, i: int) -> str:
    """The replay's name for seed number ``i``'s copy of the parent's instrument."""
    kind = "PE" if parent.tradingsymbol.endswith("PE") else "CE"
    return f"REPLAY{i + 1:03d}{kind}"


def _underlying(symbol: str, config: PaperConfig) -> str:
    names = [n for n in config.market.underlyings if symbol.startswith(n)]
    return max(names, key=len) if names else "NIFTY"


def _chain(parent: ParentRecord, config: PaperConfig, seeds: int) -> Chain:
    """The replay's listing: one copy of the parent's option a seed, and its index."""
    request = parent.request
    assert request is not None
    name = _underlying(parent.tradingsymbol, config)
    index_exchange, index_symbol, token = INDEX_SYMBOLS[name]
    expiry = dt.datetime.fromtimestamp(parent.start, IST).date() + dt.timedelta(days=7)
    rows = [Instrument(instrument_token=token, exchange_token=token // 256,
                       tradingsymbol=index_symbol, name=name, exchange=index_exchange,
                       segment="INDICES", instrument_type="EQ", expiry=None, strike=0.0,
                       lot_size=1, tick_size=request.tick_size, freeze_quantity=0,
                       last_price=config.market.underlyings[name].spot)]
    for i in range(seeds):
        symbol = replay_symbol(parent, i)
        rows.append(Instrument(
            instrument_token=1_000 + i, exchange_token=i + 1, tradingsymbol=symbol, name=name,
            exchange=parent.exchange, segment=f"{parent.exchange}-OPT",
            instrument_type=symbol[-2:], expiry=expiry, strike=0.0,
            lot_size=request.lot_size, tick_size=request.tick_size,
            freeze_quantity=request.freeze_quantity or parent.quantity))
    return Chain(rows)


def run_replays(inputs: ParentMarket, params: SlippageParams, *, seeds: Sequence[int],
                make_request: RequestMaker, timeout_s: float = 600.0) -> list[ReplayRun]:
    """The parent once per seed, all at its arrival, on one paper exchange whose copies of
    its instrument trade the journal's market (a copy a seed), through one real engine on a
    virtual clock; each replay's fills from the rows the engine emitted."""
    parent, market = inputs.parent, inputs.market
    config = PaperConfig(
        impact=ImpactConfig(permanent_per_unit=params.permanent_per_unit,
                            temporary_per_unit=params.temporary_per_unit,
                            temporary_half_life_s=params.temporary_half_life_s),
        rules=UNTHROTTLED, account=AccountConfig(margin=1e15))
    chain = _chain(parent, config, len(seeds))
    session_s = float(round(market.session_at(parent.start)))
    first_step = round(session_s / STEP_S)
    series: dict[tuple[str, str], JournalSeries] = {}
    symbols = [replay_symbol(parent, i) for i in range(len(seeds))]
    for symbol, seed in zip(symbols, seeds, strict=True):
        inst = chain.get(symbol, parent.exchange)
        assert inst is not None
        series[(parent.exchange, symbol)] = JournalSeries(inst, inputs, seed,
                                                          first_step=first_step)
    clock = VirtualClock(parent.start, auto_advance=False)
    broker = PaperBroker(config, clock=clock, chain=chain, series=series,
                         opened_at=parent.start - session_s)
    # The rows in memory, no journal: the what-if reads them once and throws them away.
    engine = ExecutionEngine(broker, mode="paper", clock=clock,
                             planner=ExecutionAlgoPlanner(),
                             config=EngineConfig(id_seed=7, markout_horizons_s=(),
                                                 risk_limits=NO_LIMITS))
    rows: list[dict[str, Any]] = []
    engine.add_listener(rows.append)  # (the engine's thread; read after its shutdown)
    try:
        futures = []
        for symbol, seed in zip(symbols, seeds, strict=True):
            quote = broker.quote(symbol, parent.exchange)
            assert quote is not None
            futures.append(engine.submit(make_request(symbol, quote, seed))[1])
        clock.run_freely()
        for future in futures:
            future.result(timeout=timeout_s)
    finally:
        engine.shutdown(10.0)
    fills = _fills(rows)
    return [ReplayRun(series[(parent.exchange, s)], parent.start, tuple(fills.get(s, ())))
            for s in symbols]


def _fills(rows: list[dict[str, Any]]) -> dict[str, list[ReplayFill]]:
    """Each replayed instrument's fills, with when and how their child was sent."""
    sent: dict[str, tuple[float, float | None, float | None]] = {}
    out: dict[str, list[ReplayFill]] = {}
    for row in rows:
        child = str(row.get("child_id"))
        if row.get("event") == EventKind.PLACED:
            sent.setdefault(child, (float(row["ts"]), row.get("limit_price"),
                                    row.get("touch_at_send")))
        elif row.get("event") == EventKind.FILLED and row.get("filled_quantity"):
            placed, limit, touch = sent.get(child, (float(row["ts"]), None, None))
            out.setdefault(str(row["tradingsymbol"]), []).append(ReplayFill(
                placed, float(row["ts"]), int(row["filled_quantity"]),
                float(row["fill_price"]), limit, touch))
    return out


__all__ = ["STEP_S", "TAIL_S", "JournalSeries", "ParentMarket", "ReplayFill", "ReplayRun",
           "depth_lots",
           "replay_symbol", "run_replays"]
