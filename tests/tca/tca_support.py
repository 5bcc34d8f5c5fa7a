"""Journals for the TCA tests, in the real format: a paper-exchange run written by the
stack's own journal writer, or rows made by the schema's own row builder (Event.to_row)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from imperium_exec.brokers.paper.broker import PaperBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ErrorBucket, Event, EventKind, QueuePriority, Status, full_row
from imperium_exec.request import ExecutionAlgo, ExecutionRequest, OrderType, Side, Urgency
from imperium_exec.sim.config import FaultConfig
from imperium_exec.telemetry import FillQualityTracker

_ALGOS = ("TWAP", "IS", "IMMEDIATE", "POV", "VWAP")


def paper_journal(path: Path, *, parents: int = 8, seed: int = 4, markouts: bool = True,
                  server_error_rate: float = 0.0) -> Path:
    """A journal of ``parents`` parents on the paper exchange in virtual time: calls and puts
    around the money, both sides, every algorithm, both urgencies, and every fifth a limit
    far from the market (it mostly does not fill: opportunity cost)."""
    clock = VirtualClock()
    broker = PaperBroker(clock=clock, seed=seed, margin=1e12,
                         faults=FaultConfig(server_error_rate=server_error_rate))
    tracker = FillQualityTracker("paper", path=path)
    config = EngineConfig(id_seed=seed,
                          markout_horizons_s=(1.0, 5.0, 60.0) if markouts else ())
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker, config=config)
    try:
        futures = []
        for i in range(parents):
            chain = broker.option_chain("NIFTY", strikes_each_side=4)  # the ticket's book now
            atm = [r.strike for r in chain.rows].index(chain.atm_strike)
            row = chain.rows[atm + (i % 5) - 2]
            quote = row.call if i % 2 else row.put
            side = "BUY" if (i // 2) % 2 == 0 else "SELL"
            fields: dict[str, Any] = dict(
                tradingsymbol=quote.tradingsymbol, exchange="NFO", bid=quote.bid,
                ask=quote.ask, side=side, quantity=65 * (1 + i % 6),
                execution_algo=_ALGOS[i % len(_ALGOS)], max_child_orders=1 + i % 4,
                horizon_s=20.0 + 10 * (i % 3),
                execution_urgency="high" if i % 3 == 0 else "normal")
            if i % 5 == 4:  # a limit far away: mostly unfilled
                far = 0.05 if side == "BUY" else round(quote.ask * 3, 1)
                fields.update(order_type="LIMIT", limit_price=far, horizon_s=10.0)
            _, future = engine.submit(ExecutionRequest.model_validate(fields))
            futures.append(future)
            if i % 4 == 3:  # let time pass between batches (times of day, markouts)
                for f in futures:
                    f.result(timeout=120)
                futures.clear()
        for f in futures:
            f.result(timeout=120)
        deadline = time.monotonic() + 30  # the last markouts fall due (virtual time runs
        while engine.markouts.pending and time.monotonic() < deadline:  # on when idle)
            time.sleep(0.01)
    finally:
        engine.shutdown(10.0)
        tracker.close()
    return path


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's rows, whole (as the engine emitted them)."""
    return [full_row(orjson.loads(line)) for line in path.read_bytes().splitlines()
            if line.strip()]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


# ------------------------------------------------------------------ hand-built parents

def _base(parent_id: str, side: Side, ts: float, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        ts=ts, parent_id=parent_id, tradingsymbol="NIFTY26D0126000CE", exchange="NFO",
        side=side, order_type=OrderType.LIMIT, execution_algo=ExecutionAlgo.TWAP,
        execution_urgency=Urgency.NORMAL, parent_quantity=195, arrival_price=100.0,
        route="memory")
    fields.update(extra)
    return fields


def hand_parent(parent_id: str, side: Side, fills: list[tuple[int, float, float]], *,
                arrival: float = 100.0, ts: float = 1_795_491_900.0,
                expected_bps: float = 10.0, tradingsymbol: str = "NIFTY26D0126000CE",
                underlying_price: float | None = None) -> list[dict[str, Any]]:
    """Rows of one parent: accepted, then per (units, price, mid at send) a placed and a
    filled row (each its own child, a taking child), and finished (no shortfall parts, so
    only the fills say what it cost). ``underlying_price``: the index level on the accepted
    and finished rows, as the engine writes it."""
    def base(ts: float, **extra: Any) -> dict[str, Any]:
        return _base(parent_id, side, ts, tradingsymbol=tradingsymbol, **extra)

    rows = [Event(**base(ts, arrival_price=arrival, event=EventKind.ACCEPTED,
                         status=Status.WORKING, quantity=195,
                         underlying_price=underlying_price)).to_row()]
    for n, (units, price, mid) in enumerate(fills, start=1):
        child = dict(child_id=f"{parent_id}-{n}", child_index=n, quantity=units,
                     tag=f"{parent_id}{n:05d}", attempt=1, mid_at_send=mid,
                     expected_cost_bps=expected_bps, queue_priority=QueuePriority.TAKE)
        rows.append(Event(**base(ts + n, arrival_price=arrival, event=EventKind.PLACED,
                                 status=Status.PLACED, latency_ms=10.0 * n,
                                 **child)).to_row())
        rows.append(Event(**base(ts + n + 0.5, arrival_price=arrival, event=EventKind.FILLED,
                                 status=Status.FILLED, filled_quantity=units,
                                 fill_price=price, **child)).to_row())
    rows.append(Event(**base(ts + 10, arrival_price=arrival, event=EventKind.FINISHED,
                             status=Status.FILLED, quantity=195,
                             filled_quantity=sum(u for u, _, _ in fills),
                             underlying_price=underlying_price)).to_row())
    return rows


def hand_error_rows(parent_id: str, ts: float = 1_795_491_950.0) -> list[dict[str, Any]]:
    """A child that was throttled once, then failed on a risk error."""
    child = dict(child_id=f"{parent_id}-1", child_index=1, quantity=65)
    return [
        Event(**_base(parent_id, Side.BUY, ts, event=EventKind.ACCEPTED,
                      status=Status.WORKING, quantity=65)).to_row(),
        Event(**_base(parent_id, Side.BUY, ts + 1, event=EventKind.RETRY, status=Status.RETRY,
                      error_bucket=ErrorBucket.THROTTLE, error="Too many requests",
                      tag=f"{parent_id}00001", attempt=1, **child)).to_row(),
        Event(**_base(parent_id, Side.BUY, ts + 2, event=EventKind.ERROR, status=Status.ERROR,
                      error_bucket=ErrorBucket.RISK, error="margin", tag=f"{parent_id}00002",
                      attempt=2, **child)).to_row(),
        Event(**_base(parent_id, Side.BUY, ts + 3, event=EventKind.FINISHED,
                      status=Status.FAILED, quantity=65, filled_quantity=0)).to_row(),
    ]


def markout_row(parent_id: str, horizon: float, units: int, bps: float,
                queue: QueuePriority) -> dict[str, Any]:
    return Event(**_base(parent_id, Side.BUY, 1_795_491_990.0 + horizon,
                         event=EventKind.MARKOUT, status=Status.FILLED,
                         child_id=f"{parent_id}-1", filled_quantity=units, fill_price=100.0,
                         queue_priority=queue, markout_s=horizon, markout_mid=100.0,
                         markout_bps=bps)).to_row()
