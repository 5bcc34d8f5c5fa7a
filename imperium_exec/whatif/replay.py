"""Each finished parent replayed under every algorithm on the market its journal recorded.

A replay is the production path: the real :class:`~..engine.execution_engine.ExecutionEngine`
with the production planner and router, on a virtual clock, over the paper exchange
(:class:`~..brokers.paper.PaperBroker`), whose copy of the parent's instrument trades the
market the journal recorded (:mod:`.paper`: the observed mids bridged, the half-spreads the
journal saw, the depth its children's book walk implies, the flow its session volume implies,
the fitted linear impact). So a child that takes liquidity walks the book, and one that rests
joins the queue and fills from the market's flow, later, at its own price, or not at all, by
the paper exchange's matching rules; an unfilled child is cancelled and re-cut by the engine
as on the desk. Sells are replayed as sells, and a LIMIT parent keeps its limit.

What this leaves out, said plainly: the journal records no depth (the book's levels are one
size, fitted to the book walk the journal's taking children recorded), no order flow but the
session's volume (the replay's trades come at random times, buyer- or seller-initiated at even
odds), and no quotes between the mids it observed (the bridge between them is a guess, a
different one each seed).

The cost is the shortfall against the arrival price (rupees, positive = a cost; what did not
fill is priced at the mid at the window's end), with fees apart; the band is the 2.5th to
97.5th percentile over seeds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..brokers.base import Quote
from ..costs.charges import default_charges
from ..costs.slippage import SlippageParams
from ..request import ExecutionRequest
from ..timeutil import IST
from .market import JournalMarkets, ParentRecord, SymbolMarket, enough_market
from .paper import ParentMarket, ReplayRun, run_replays

ALGORITHMS = ("IMMEDIATE", "TWAP", "VWAP", "POV", "IS")
DEFAULT_SEEDS = 40
#: The band: these percentiles of the cost over seeds.
BAND = (2.5, 97.5)


@dataclass(frozen=True)
class AlgoOutcome:
    """One algorithm's replays of one parent: the cost and fees per seed, rupees."""

    algo: str
    costs: tuple[float, ...]
    fees: tuple[float, ...]
    filled_share: float  # mean filled / ordered over seeds
    problem: str | None = None  # why it was not replayed
    #: Mean over seeds of the filled units' share that rested (priced short of the far
    #: touch when sent) rather than took liquidity.
    rested_share: float = 0.0

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
                           float(np.mean([r.filled_share for r in rows])),
                           rested_share=float(np.mean([r.rested_share for r in rows])))

    @property
    def realized_total(self) -> float:
        return sum(p.realized for p in self.replayed)

    @property
    def notional_total(self) -> float:
        return sum(p.parent.notional for p in self.replayed)


def replay_request(parent: ParentRecord, algo: str, symbol: str, quote: Quote,
                   seed: int) -> ExecutionRequest:
    """The parent's own request as ``algo`` would run it on the replay's market: its side,
    quantity, order type and limit, urgency, lot, tick, freeze and participation, over its
    window."""
    base = parent.request
    if base is None:
        raise ValueError("its accepted row holds no request (a journal before schema 4)")
    fields: dict[str, object] = dict(
        tradingsymbol=symbol, exchange=parent.exchange, side=parent.side.value,
        quantity=parent.quantity, order_type=base.order_type, limit_price=base.limit_price,
        lot_size=base.lot_size, tick_size=base.tick_size,
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


def _fees(parent: ParentRecord, run: ReplayRun) -> float:
    charges = default_charges()
    day = dt.datetime.fromtimestamp(parent.start, IST).date()
    return sum(charges.fill(day=day, exchange=parent.exchange, side=parent.side,
                            units=f.units, price=f.price, first_fill_of_order=True).total
               for f in run.fills)


def replay_cost(parent: ParentRecord, run: ReplayRun, params: SlippageParams) -> float:
    """One replay's shortfall against the arrival price, rupees (positive = a cost): its fills
    against the arrival mid, what did not fill against the mid at the window's end."""
    unfilled = parent.quantity - run.filled
    paid = run.paid - parent.arrival_price * run.filled
    missed = unfilled * (run.end_mid(params, parent.sign) - parent.arrival_price)
    return parent.sign * (paid + missed)


def replay_parent(parent: ParentRecord, market: SymbolMarket, params: SlippageParams, *,
                  seeds: Sequence[int], algorithms: Sequence[str] = ALGORITHMS
                  ) -> ParentWhatIf:
    """``parent`` under each of ``algorithms``, once per seed (all seeds of one algorithm in
    one engine run)."""
    realized = parent.realized_cost()
    count, _gap = market.coverage(parent.begin, parent.window_s)
    why = enough_market(market, parent)
    if why is None and parent.request is None:
        why = "its accepted row holds no request (a journal before schema 4)"
    if why is not None:
        return ParentWhatIf(parent, realized, {}, count, skipped=why)
    request = parent.request
    assert request is not None
    inputs = ParentMarket.of(parent, market, params, lot=request.lot_size,
                             tick=request.tick_size)
    outcomes: dict[str, AlgoOutcome] = {}
    for algo in algorithms:
        if algo == "POV" and len(market.volumes) < 2:
            outcomes[algo] = AlgoOutcome(algo, (), (), 0.0,
                                         problem="the journal shows no market volume")
            continue

        def make(symbol: str, quote: Quote, seed: int, algo: str = algo) -> ExecutionRequest:
            return replay_request(parent, algo, symbol, quote, seed)

        try:
            runs = run_replays(inputs, params, seeds=seeds, make_request=make)
        except ValueError as exc:
            outcomes[algo] = AlgoOutcome(algo, (), (), 0.0, problem=str(exc).splitlines()[0])
            continue
        outcomes[algo] = AlgoOutcome(
            algo, tuple(replay_cost(parent, run, params) for run in runs),
            tuple(_fees(parent, run) for run in runs),
            float(np.mean([run.filled / parent.quantity for run in runs])),
            rested_share=float(np.mean([run.rested_share(parent.side) for run in runs])))
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
    for i, parent in enumerate(chosen):
        out.append(replay_parent(parent, journal.markets[parent.tradingsymbol], params,
                                 seeds=seed_list,
                                 algorithms=(parent.algo,) if own_only else algorithms))
        if progress is not None:
            progress(i + 1, len(chosen))
    return WhatIfReport(out, seeds, impact)


__all__ = ["ALGORITHMS", "BAND", "DEFAULT_SEEDS", "AlgoOutcome", "ParentWhatIf",
           "WhatIfReport", "replay_cost", "replay_parent", "replay_request", "what_if"]
