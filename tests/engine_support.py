"""Builders shared by the engine and stack tests (plain helpers, so each test stays explicit)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.events import ROW_FIELDS, EventKind, read_event
from imperium_exec.request import ExecutionRequest
from imperium_exec.retry import RetryPolicy
from imperium_exec.telemetry import FillQualityTracker, read_rows

SYMBOL = "NIFTY26D0125000CE"


def make_request(**kw: Any) -> ExecutionRequest:
    base: dict[str, Any] = dict(tradingsymbol=SYMBOL, exchange="NFO", side="BUY", quantity=130,
                                lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=100.0,
                                ask=100.5, ltp=100.25)
    base.update(kw)
    return ExecutionRequest.model_validate(base)


@dataclass
class Rig:
    engine: ExecutionEngine
    broker: InMemoryBroker
    clock: VirtualClock
    tracker: FillQualityTracker
    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, parent_id: str | None = None) -> list[str]:
        return [r["event"] for r in self.snapshot(parent_id)]

    def snapshot(self, parent_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.rows if parent_id is None or r["parent_id"] == parent_id]

    def file_rows(self) -> list[dict[str, Any]]:
        return read_rows(self.tracker.path)

    def close(self) -> None:
        self.engine.shutdown(5.0)
        self.tracker.close()


def make_rig(tmp_path: Path, *, auto_advance: bool = True, latency_s: float = 0.0,
             retry_policy: RetryPolicy | None = None, bid: float = 100.0,
             ask: float = 100.5,
             broker_type: type[InMemoryBroker] = InMemoryBroker,
             config: EngineConfig | None = None, **broker_args: Any) -> Rig:
    """An engine on an in-memory broker (of ``broker_type``) in virtual time."""
    clock = VirtualClock(auto_advance=auto_advance)
    broker = broker_type(clock=clock, bid=bid, ask=ask, latency_s=latency_s, name="memory",
                         **broker_args)
    tracker = FillQualityTracker("paper", tmp_path)
    policy = retry_policy or RetryPolicy(reconcile_window_s=3.0, reconcile_interval_s=1.0)
    engine = ExecutionEngine(broker, mode="paper", clock=clock, tracker=tracker,
                             retry_policy=policy, config=config or EngineConfig(id_seed=7))
    rig = Rig(engine, broker, clock, tracker)

    def collect(row: dict[str, Any]) -> None:
        with rig.lock:
            rig.rows.append(row)

    engine.add_listener(collect)
    return rig


def assert_books_balance(rows: list[dict[str, Any]], quantity: int, *,
                         late_fills: int = 0) -> None:
    """Every child ends in exactly one terminal state and the parent's quantities add up.

    ``late_fills``: fills of late orders from timed-out attempts (ghost rows), which may be
    counted into the parent on top of its children's fills (and may overfill it)."""
    finished = [r for r in rows if r["event"] == "finished"]
    assert len(finished) == 1, "a parent finishes exactly once"
    final = finished[0]
    child_fills = sum(r["filled_quantity"] for r in rows if r["event"] == "filled")
    assert final["filled_quantity"] == final["parent_filled_quantity"]
    assert child_fills <= final["filled_quantity"] <= child_fills + late_fills
    assert 0 <= final["filled_quantity"] <= quantity + late_fills
    children: dict[str, list[str]] = {}
    for r in rows:
        if r["child_id"] is not None:
            children.setdefault(r["child_id"], []).append(r["event"])
    for child_id, events in children.items():
        terminal = [e for e in events if EventKind(e).ends_child]
        filled_completely = any(r["child_id"] == child_id and read_event(r).completes_child
                                for r in rows)
        assert len(terminal) + int(filled_completely) == 1, (child_id, events)
    for i, r in enumerate(rows):  # every wait on the order book ends, under its tag
        if r["event"] == "reconciling":
            after = [n for n in rows[i + 1:] if n["child_id"] == r["child_id"]]
            assert after and after[0]["tag"] == r["tag"], (r["child_id"], r["tag"])
            assert after[0]["event"] in ("reconciled", "retry", "error", "ghost"), after[0]
    for r in rows:
        assert tuple(r) == ROW_FIELDS
        assert read_event(r).to_row() == r  # every row fits the schema, value by value
