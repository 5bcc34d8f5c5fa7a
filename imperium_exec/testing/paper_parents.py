"""Many seeded parents on the paper exchange, written to a journal (for calibrating the
slippage model and checking the calibration: ``bench/bench_calibrate.py`` and its test).

Each parent is drawn from a seeded mix of algorithms, urgencies, sizes, strikes and horizons.
By default it runs twice on the same fresh market, once bought and once sold (the reference's
mirrored paths: the options' time decay, which makes buys look cheap and sells dear, cancels in
the pooled figures), and the index stands still: its random walk would move a premium by tens of
bps a second, against costs of a few bps. The bought world and the sold world are two desks'
markets at the same moments, so each has a journal of its own (the calibration counts a
journal's fills as one market's). ``mirrored=False`` is a desk's days instead: each parent
bought or sold (a seeded coin), once, in one journal. Either way each batch of parents trades
on its own market, which may move (``market``), on a virtual day of its own from ``day`` on
(0: the default virtual session's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..brokers.base import OptionChain
from ..brokers.paper.broker import PaperBroker
from ..clock import DEFAULT_VIRTUAL_START, VirtualClock
from ..costs.slippage import SlippageModel
from ..engine.execution_engine import EngineConfig, ExecutionEngine
from ..request import ExecutionRequest
from ..sim.config import ImpactConfig, MarketConfig, UnderlyingMarket
from ..telemetry import FillQualityTracker

ALGOS = ("IMMEDIATE", "TWAP", "VWAP", "POV", "IS")


@dataclass(frozen=True)
class ParentSpec:
    algo: str
    lots: int
    strike_offset: int  # strikes from the money
    option_type: str  # CE or PE
    urgency: str = "normal"
    slices: int = 1
    horizon_s: float = 0.0  # not sent for IMMEDIATE


def parent_request(broker: PaperBroker, chain: OptionChain, spec: ParentSpec, *, side: str,
                   seed: int) -> ExecutionRequest:
    """``spec`` as the desk would send it: the contract ``spec.strike_offset`` strikes from
    the money in ``chain``, priced from the exchange's quote now, a market order."""
    atm = [row.strike for row in chain.rows].index(chain.atm_strike)
    strike = chain.rows[atm + spec.strike_offset]
    symbol = (strike.call if spec.option_type == "CE" else strike.put).tradingsymbol
    quote = broker.quote(symbol)
    assert quote is not None
    fields: dict[str, object] = dict(
        tradingsymbol=symbol, exchange="NFO", side=side,
        quantity=spec.lots * chain.lot_size, order_type="MARKET", bid=quote.bid,
        ask=quote.ask, ltp=quote.ltp, execution_algo=spec.algo,
        execution_urgency=spec.urgency, seed=seed)
    if spec.algo != "IMMEDIATE":
        fields.update(horizon_s=spec.horizon_s, max_child_orders=spec.slices)
    return ExecutionRequest.model_validate(fields)


def draw_parents(n: int, seed: int) -> list[ParentSpec]:
    """``n`` parent specs drawn from a seeded mix."""
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        algo = str(rng.choice(ALGOS))
        specs.append(ParentSpec(
            algo=algo, lots=int(rng.integers(1, 41)), strike_offset=int(rng.integers(-3, 4)),
            option_type=str(rng.choice(("CE", "PE"))),
            urgency=str(rng.choice(("normal", "high"), p=(0.7, 0.3))),
            slices=int(rng.integers(2, 11)), horizon_s=float(rng.integers(30, 301))))
    return specs


def still_market() -> MarketConfig:
    """The default market with the index standing still (options still priced at 13 %)."""
    nifty = UnderlyingMarket(spot=26_000.0, annual_vol=1e-6, implied_vol=0.13)
    return MarketConfig(underlyings={"NIFTY": nifty})


#: Seconds in a calendar day (a virtual day later starts this much later).
DAY_S = 86_400.0


def run_parents(specs: list[ParentSpec], *, side: str | Sequence[str], seed: int,
                journal: Path, slippage: SlippageModel | None = None,
                market: MarketConfig | None = None, impact: ImpactConfig | None = None,
                day: int = 0) -> None:
    """Run ``specs`` one after the other on a fresh paper exchange seeded ``seed``, estimated
    with ``slippage`` (the exchange's own true costs when None), appending rows to
    ``journal``; on ``market`` (the :func:`still_market` when None) with our trades' ``impact``
    (the exchange's default when None). ``side``: every parent's, or one per spec; ``day``:
    virtual days after the default virtual session's start."""
    sides = [side] * len(specs) if isinstance(side, str) else list(side)
    clock = VirtualClock(DEFAULT_VIRTUAL_START + day * DAY_S)
    broker = PaperBroker(clock=clock, seed=seed, market=market or still_market(),
                         impact=impact, margin=1e12)
    # The next week's contracts: the virtual session starts on an expiry day (a Tuesday), when
    # premia away from the money are a few ticks and a tick is hundreds of bps.
    expiries = sorted({i.expiry for i in broker.instruments("NIFTY") if i.expiry is not None})
    chain = broker.option_chain("NIFTY", expiry=expiries[1], strikes_each_side=5)
    tracker = FillQualityTracker("paper", path=journal)
    # Parent ids unique per journal. No markouts: their timers let the idle virtual clock jump
    # ahead between one parent's end and the next one's submission by however long this
    # thread takes to submit it, so the market each parent meets (and every figure) would
    # vary from run to run.
    ids = EngineConfig(id_seed=seed * 2 + (side == "SELL"), markout_horizons_s=())
    engine = ExecutionEngine(broker, mode="paper", clock=clock, slippage=slippage,
                             tracker=tracker, config=ids)
    try:
        for p, parent_side in zip(specs, sides, strict=True):
            _, future = engine.submit(parent_request(broker, chain, p, side=parent_side,
                                                     seed=seed))
            future.result(timeout=120.0)
    finally:
        engine.shutdown(10.0)
        tracker.close()


def simulate_journal(parents: int, *, seed: int, journal: str | os.PathLike[str],
                     slippage: SlippageModel | None = None, batch: int = 50,
                     market: MarketConfig | None = None,
                     impact: ImpactConfig | None = None, mirrored: bool = True,
                     day: int = 0) -> list[Path]:
    """``parents`` parents in batches of ``batch`` specs, each batch on a fresh market on a
    virtual day of its own from ``day`` on; returns the journals written. Mirrored: half
    bought, written to ``journal``, and half sold on the same markets, written beside it
    (``<name>_sold.jsonl``); else each bought or sold by a seeded coin, once, all written to
    ``journal`` (a desk's days). ``market`` and ``impact`` as for :func:`run_parents`."""
    path = Path(journal)
    if not mirrored:
        specs = draw_parents(parents, seed)
        coins = np.random.default_rng([seed, 1]).random(parents) < 0.5
        sides = ["BUY" if coin else "SELL" for coin in coins]
        for start in range(0, len(specs), batch):
            run_parents(specs[start:start + batch], side=sides[start:start + batch],
                        seed=seed * 1000 + start // batch, journal=path, slippage=slippage,
                        market=market, impact=impact, day=day + start // batch)
        return [path]
    specs = draw_parents(parents // 2, seed)
    worlds = {"BUY": path, "SELL": path.with_name(f"{path.stem}_sold{path.suffix}")}
    for start in range(0, len(specs), batch):
        market_seed = seed * 1000 + start // batch
        for side, world in worlds.items():
            run_parents(specs[start:start + batch], side=side, seed=market_seed, journal=world,
                        slippage=slippage, market=market, impact=impact,
                        day=day + start // batch)
    return list(worlds.values())


__all__ = ["ParentSpec", "draw_parents", "parent_request", "run_parents", "simulate_journal",
           "still_market"]
