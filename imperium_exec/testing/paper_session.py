"""A seeded desk session on the paper exchange, for the what-if's checks: parents of every
algorithm, both sides and both urgencies on a few strikes around the money, their windows
overlapping as a desk's do, with markouts, on the moving market, in virtual time.

Every parent is submitted before virtual time starts (each with its own start time), so the
session is the same on every run: no wait of this thread lets the clock run ahead between two
submissions.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from ..brokers.paper.broker import PaperBroker
from ..clock import VirtualClock
from ..engine.execution_engine import EngineConfig, ExecutionEngine
from ..request import ExecutionRequest
from ..telemetry import FillQualityTracker
from ..timeutil import IST

ALGOS = ("IMMEDIATE", "TWAP", "VWAP", "POV", "IS")


def paper_session(path: Path, *, parents: int = 10, seed: int = 11, strikes: int = 2,
                  spacing_s: float = 20.0) -> Path:
    """``parents`` parents, one every ``spacing_s`` seconds, on ``strikes`` call strikes
    around the money (and their puts), written to ``path``."""
    rng = np.random.default_rng(seed)
    clock = VirtualClock(auto_advance=False)
    broker = PaperBroker(clock=clock, seed=seed, margin=1e12)
    tracker = FillQualityTracker("paper", path=path)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker,
                             config=EngineConfig(id_seed=seed,
                                                 markout_horizons_s=(1.0, 5.0, 60.0)))
    chain = broker.option_chain("NIFTY", strikes_each_side=strikes)
    atm = [r.strike for r in chain.rows].index(chain.atm_strike)
    rows = chain.rows[atm - strikes // 2: atm - strikes // 2 + strikes]
    try:
        futures = []
        for i in range(parents):
            row = rows[int(rng.integers(0, len(rows)))]
            quote = row.call if rng.random() < 0.5 else row.put
            algo = ALGOS[i % len(ALGOS)]
            fields: dict[str, object] = dict(
                tradingsymbol=quote.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, ltp=quote.ltp, side=str(rng.choice(("BUY", "SELL"))),
                quantity=65 * int(rng.integers(1, 9)), execution_algo=algo,
                execution_urgency=str(rng.choice(("normal", "high"), p=(0.6, 0.4))),
                seed=seed * 1000 + i,
                start_at=dt.datetime.fromtimestamp(clock.now() + i * spacing_s, IST))
            if algo != "IMMEDIATE":
                fields.update(max_child_orders=int(rng.integers(3, 7)),
                              horizon_s=float(rng.integers(60, 121)))
            futures.append(engine.submit(ExecutionRequest.model_validate(fields))[1])
        clock.run_freely()
        for future in futures:
            future.result(timeout=120)
        deadline = time.monotonic() + 30  # the last markouts fall due
        while engine.markouts.pending and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.shutdown(10.0)
        tracker.close()
    return path


__all__ = ["paper_session"]
