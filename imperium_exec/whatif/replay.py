"""Each finished parent replayed under every algorithm on the market its journal recorded.

A replay is the production path: the real :class:`~..engine.execution_engine.ExecutionEngine`
with the production planner and router, on a virtual clock, over the scripted-market broker of
:mod:`..testing.quality_worlds` (:func:`~..testing.quality_worlds.run_world`). Its market
(:class:`ReplayMarket`) is the parent's instrument as the journal saw it:

- the mid goes through every mid the journal observed (ours taken out,
  :meth:`~.market.SymbolMarket.unimpacted`), and between and beyond them wanders as a Brownian
  bridge (a walk beyond the last) at the volatility the observations show; each seed draws
  another path between the same observations, and another slice jitter;
- a child takes liquidity at that mid plus a half-spread the journal saw (drawn for each
  child from the tickets' quotes and the other parents' taking fills), plus
  the linear impact (permanent, and temporary decaying with its half-life) of the replay's own
  earlier fills, at the fitted impact (a calibration file, or the paper exchange's own);
- the rest of the market trades what the quotes' session volume says it traded (ours taken
  out), for VWAP's and POV's clocks.

What this leaves out, said plainly: every child fills at once and takes liquidity (a resting
child's wait and saving are not replayed), the book beyond the touch is walked as the
journal's children recorded it (a cost per unit growing with the child's size), and a LIMIT
parent's limit is not kept. A sell is replayed as the buy on the mirrored path
(``level - mid``, the level above any price it meets): the algorithms are symmetric, and its
cost is the same number.

The cost is the shortfall against the arrival price (rupees, positive = a cost; what did not
fill is priced at the mid at the window's end), with fees apart; the band is the 5th to 95th
percentile over seeds.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..algos.planner import ExecutionAlgoPlanner
from ..brokers.base import Quote
from ..costs.charges import default_charges
from ..costs.slippage import SlippageParams
from ..request import ExecutionRequest, Side
from ..testing.quality_worlds import ParentRun, run_world, symbol_for
from ..timeutil import IST
from .market import JournalMarkets, ParentRecord, SymbolMarket, enough_market

FloatArray = npt.NDArray[np.float64]

ALGORITHMS = ("IMMEDIATE", "TWAP", "VWAP", "POV", "IS")
DEFAULT_SEEDS = 40
#: The replay's market moves on a one-second grid.
INTERVAL_S = 1.0
#: The band: these percentiles of the cost over seeds.
BAND = (2.5, 97.5)
#: Seconds of market generated past the window (a slice may land a little after it).
TAIL_S = 120.0


class ReplayMarket:
    """One parent's market for one seed (an :class:`~..testing.quality_worlds.IntervalMarket`
    on a one-second grid from the parent's arrival), mirrored for a sell."""

    def __init__(self, parent: ParentRecord, market: SymbolMarket, params: SlippageParams,
                 seed: int) -> None:
        self.parent = parent
        self.params = params
        tick = parent.request.tick_size if parent.request is not None else 0.05
        rng = np.random.default_rng([seed, zlib.crc32(parent.parent_id.encode())])
        # Each child meets a half-spread the journal saw (not the parent's own fills'),
        # drawn for it.
        self._half_spreads = np.array(market.half_spreads(parent.parent_id, tick))
        self._rng = np.random.default_rng([seed, 1, zlib.crc32(parent.parent_id.encode())])
        self.walk = market.walk_per_unit()
        self.end_s = parent.begin - parent.start + parent.window_s
        n = math.ceil((self.end_s + TAIL_S) / INTERVAL_S) + 1
        grid = np.arange(n, dtype=np.float64) * INTERVAL_S
        observed = market.unimpacted(params, parent.parent_id)
        times = np.array([ts - parent.start for ts, _ in observed], dtype=np.float64)
        mids = np.array([m for _, m in observed], dtype=np.float64)
        walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(n - 1))))
        walk *= math.sqrt(INTERVAL_S)
        # A Brownian bridge through the observations: the walk less its chord between them.
        chord = np.interp(grid, times, np.interp(times, grid, walk))
        sigma = market.volatility(params, parent.parent_id)
        path = np.interp(grid, times, mids) + sigma * (walk - chord)
        #: A sell is the buy on the path mirrored about a level above every price it can
        #: meet (prices stay positive, and ``mirror - price`` turns them back).
        self.mirror = 0.0
        if parent.side is Side.SELL:
            self.mirror = 4.0 * max(parent.arrival_price, float(mids.max()))
            path = self.mirror - path
        self.path: FloatArray = np.maximum(path, tick)
        #: The arrival price in the replay's prices (mirrored for a sell).
        self.arrival = self.to_replay(parent.arrival_price)
        self._fills: list[tuple[float, int]] = []
        self._volume = _volume_curve(market, parent)

    def to_replay(self, price: float) -> float:
        """A market price as the replay's (mirrored) market shows it; its own inverse."""
        return self.mirror - price if self.mirror else price

    def _k(self, k: int) -> int:
        return max(0, min(k, self.path.size - 1))

    def mid(self, k: int) -> float:
        t = self._k(k) * INTERVAL_S
        return float(self.path[self._k(k)]) + self._impact(t)

    def _impact(self, t: float) -> float:
        p = self.params
        rate = math.log(2.0) / p.temporary_half_life_s
        return sum(units * (p.permanent_per_unit
                            + p.temporary_per_unit * math.exp(-rate * (t - at)))
                   for at, units in self._fills if at <= t)

    def trade(self, k: int, units: int) -> float:
        half = float(self._half_spreads[int(self._rng.integers(0, self._half_spreads.size))])
        price = self.mid(k) + half + self.walk * units
        self._fills.append((self._k(k) * INTERVAL_S, units))
        return price

    def market_volume(self, position: float) -> float:
        if self._volume is None:
            return 0.0
        times, volumes, rate = self._volume
        t = position * INTERVAL_S
        if t > times[-1]:
            return float(volumes[-1] + rate * (t - times[-1]))
        return float(np.interp(t, times, volumes))

    def end_mid(self) -> float:
        """The mid at the window's end (what an unfilled remainder is priced at)."""
        return self.mid(round(self.end_s / INTERVAL_S))


def _volume_curve(market: SymbolMarket, parent: ParentRecord
                  ) -> tuple[FloatArray, FloatArray, float] | None:
    """The rest of the market's volume since the parent arrived, on times since then, and
    its mean rate (units a second); None when the journal has fewer than two quotes of it."""
    seen = [(ts - parent.start, v) for ts, v in market.others_volume(parent.parent_id)]
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        return None
    times = np.array([t for t, _ in seen], dtype=np.float64)
    volumes = np.maximum.accumulate(np.array([v for _, v in seen], dtype=np.float64))
    rate = float((volumes[-1] - volumes[0]) / (times[-1] - times[0]))
    at_start = float(np.interp(0.0, times, volumes)) if times[0] <= 0 else \
        float(volumes[0] - rate * times[0])
    return times, volumes - at_start, rate


@dataclass(frozen=True)
class AlgoOutcome:
    """One algorithm's replays of one parent: the cost and fees per seed, rupees."""

    algo: str
    costs: tuple[float, ...]
    fees: tuple[float, ...]
    filled_share: float  # mean filled / ordered over seeds
    problem: str | None = None  # why it was not replayed

    @property
    def mean(self) -> float:
        return float(np.mean(self.costs)) if self.costs else math.nan

    @property
    def band(self) -> tuple[float, float]:
        if not self.costs:
            return math.nan, math.nan
        low, high = np.percentile(np.array(self.costs), BAND)
        return float(low), float(high)

    @property
    def mean_fees(self) -> float:
        return float(np.mean(self.fees)) if self.fees else math.nan


@dataclass(frozen=True)
class ParentWhatIf:
    parent: ParentRecord
    realized: float  #: its own shortfall against arrival, rupees (fees apart)
    outcomes: dict[str, AlgoOutcome]
    observed: int  #: mids observed over its window
    skipped: str | None = None  #: why it was not replayed
    seeds: int = 0  #: replays of each algorithm
    impact: str = ""  #: where the replays' impact came from

    def bps(self, rupees: float) -> float:
        return rupees / self.parent.notional * 1e4

    def own_within_band(self) -> bool | None:
        """Whether its realized cost lies in the band of its own algorithm's replays."""
        own = self.outcomes.get(self.parent.algo)
        if own is None or not own.costs:
            return None
        low, high = own.band
        slack = 1e-9 * self.parent.notional  # the same price, summed in another order
        return low - slack <= self.realized <= high + slack


@dataclass(frozen=True)
class WhatIfReport:
    parents: list[ParentWhatIf]
    seeds: int
    impact: str  #: where the impact parameters came from

    @property
    def replayed(self) -> list[ParentWhatIf]:
        return [p for p in self.parents if p.skipped is None]

    def totals(self, algo: str) -> AlgoOutcome | None:
        """``algo`` over every replayed parent: the per-seed sums (parents of a seed met
        that seed's paths), so the band is of the total."""
        rows = [p.outcomes[algo] for p in self.replayed
                if algo in p.outcomes and p.outcomes[algo].costs]
        if not rows or len(rows) < len(self.replayed):
            return None
        costs = np.sum([r.costs for r in rows], axis=0)
        fees = np.sum([r.fees for r in rows], axis=0)
        return AlgoOutcome(algo, tuple(float(c) for c in costs),
                           tuple(float(f) for f in fees),
                           float(np.mean([r.filled_share for r in rows])))

    @property
    def realized_total(self) -> float:
        return sum(p.realized for p in self.replayed)

    @property
    def notional_total(self) -> float:
        return sum(p.parent.notional for p in self.replayed)


def replay_request(parent: ParentRecord, algo: str, symbol: str, quote: Quote,
                   seed: int) -> ExecutionRequest:
    """The parent's own request as ``algo`` would run it on the replay's market: its quantity,
    urgency, lot, tick, freeze and participation, over its window, as a MARKET buy (a sell is
    replayed mirrored)."""
    base = parent.request
    if base is None:
        raise ValueError("its accepted row holds no request (a journal before schema 4)")
    fields: dict[str, object] = dict(
        tradingsymbol=symbol, exchange=parent.exchange, side="BUY", quantity=parent.quantity,
        order_type="MARKET", lot_size=base.lot_size, tick_size=base.tick_size,
        freeze_quantity=base.freeze_quantity, bid=quote.bid, ask=quote.ask, ltp=quote.ltp,
        execution_algo=algo, execution_urgency=base.execution_urgency,
        participation_rate=base.participation_rate, randomize_slices=base.randomize_slices,
        seed=seed)
    if algo != "IMMEDIATE":
        lots = max(1, parent.quantity // base.lot_size)
        slices = base.max_child_orders if base.max_child_orders > 1 else min(10, lots)
        fields.update(horizon_s=parent.window_s, max_child_orders=slices)
    if parent.begin > parent.start:  # its window opened this long after it was accepted
        fields.update(start_at=dt.datetime.fromtimestamp(
            quote.timestamp + parent.begin - parent.start, IST))
    return ExecutionRequest.model_validate(fields)


def _fees(parent: ParentRecord, run: ParentRun, replayed: ReplayMarket) -> float:
    charges = default_charges()
    day = dt.datetime.fromtimestamp(parent.start, IST).date()
    total = 0.0
    for f in run.fills:
        price = replayed.to_replay(f.price)  # the price the market really traded at
        total += charges.fill(day=day, exchange=parent.exchange, side=parent.side,
                              units=f.quantity, price=max(price, 0.0),
                              first_fill_of_order=True).total
    return total


def replay_parent(parent: ParentRecord, market: SymbolMarket, params: SlippageParams, *,
                  seeds: Sequence[int], algorithms: Sequence[str] = ALGORITHMS,
                  workdir: Path) -> ParentWhatIf:
    """``parent`` under each of ``algorithms``, once per seed (all seeds of one algorithm in
    one engine run)."""
    realized = parent.realized_cost()
    count, _gap = market.coverage(parent.begin, parent.window_s)
    why = enough_market(market, parent)
    if why is None and parent.request is None:
        why = "its accepted row holds no request (a journal before schema 4)"
    if why is not None:
        return ParentWhatIf(parent, realized, {}, count, skipped=why)
    tick = parent.request.tick_size if parent.request is not None else 0.05
    session = market.session_at(parent.start)
    outcomes: dict[str, AlgoOutcome] = {}
    seed_of = {symbol_for(i): seed for i, seed in enumerate(seeds)}
    for algo in algorithms:
        markets = [ReplayMarket(parent, market, params, seed) for seed in seeds]
        if algo == "POV" and markets[0].market_volume(markets[0].end_s) <= 0:
            outcomes[algo] = AlgoOutcome(algo, (), (), 0.0,
                                         problem="the journal shows no market volume")
            continue

        def make(symbol: str, quote: Quote, algo: str = algo) -> ExecutionRequest:
            return replay_request(parent, algo, symbol, quote, seed_of[symbol])

        journal = workdir / f"{parent.parent_id}_{algo}.jsonl"
        try:
            runs = run_world(markets, interval_s=INTERVAL_S, tick=tick,
                             planner=ExecutionAlgoPlanner(), journal=journal, make_request=make,
                             session_offset_s=session)
        except ValueError as exc:
            outcomes[algo] = AlgoOutcome(algo, (), (), 0.0, problem=str(exc).splitlines()[0])
            continue
        finally:
            journal.unlink(missing_ok=True)
        costs, fees, shares = [], [], []
        for run, replayed in zip(runs, markets, strict=True):
            unfilled = parent.quantity - run.filled
            cost = run.paid - replayed.arrival * run.filled \
                + unfilled * (replayed.end_mid() - replayed.arrival)
            costs.append(cost)
            fees.append(_fees(parent, run, replayed))
            shares.append(run.filled / parent.quantity)
        outcomes[algo] = AlgoOutcome(algo, tuple(costs), tuple(fees), float(np.mean(shares)))
    return ParentWhatIf(parent, realized, outcomes, count, seeds=len(seeds))


Progress = Callable[[int, int], None]


def what_if(journal: JournalMarkets, params: SlippageParams, *, impact: str,
            seeds: int = DEFAULT_SEEDS, parents: Sequence[str] | None = None,
            algorithms: Sequence[str] = ALGORITHMS, own_only: bool = False,
            progress: Progress | None = None) -> WhatIfReport:
    """Every finished parent of ``journal`` (or those named) replayed under each of
    ``algorithms`` (``own_only``: its own algorithm alone, the replay's check on itself);
    ``progress(done, total)`` after each."""
    chosen = [p for p in journal.parents if parents is None or p.parent_id in parents]
    seed_list = list(range(1, seeds + 1))
    out: list[ParentWhatIf] = []
    with tempfile.TemporaryDirectory(prefix="whatif_") as tmp:
        for i, parent in enumerate(chosen):
            out.append(replay_parent(parent, journal.markets[parent.tradingsymbol], params,
                                     seeds=seed_list,
                                     algorithms=(parent.algo,) if own_only else algorithms,
                                     workdir=Path(tmp)))
            if progress is not None:
                progress(i + 1, len(chosen))
    return WhatIfReport(out, seeds, impact)


__all__ = ["ALGORITHMS", "BAND", "DEFAULT_SEEDS", "AlgoOutcome", "ParentWhatIf",
           "ReplayMarket", "WhatIfReport", "replay_parent", "replay_request", "what_if"]
