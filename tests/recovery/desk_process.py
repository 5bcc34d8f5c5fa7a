"""A desk's engine in a process of its own, for the restart tests to kill: it sends the parents
it is told to (JSON on argv: a request, or a basket as ``{"legs": [...]}``) against a fake Kite
server, prints each parent's (or basket's) id, then ``ready`` once each has an order resting (or
an attempt being reconciled), and waits to be killed (SIGKILL: no shutdown, no final rows)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
from kiteconnect import KiteConnect

from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.engine.execution_engine import ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker


def main() -> None:
    root, journal_dir, requests = sys.argv[1], Path(sys.argv[2]), orjson.loads(sys.argv[3])
    kite = KiteConnect(api_key="k", access_token="t", root=root, timeout=2)
    broker = KiteBroker(kite, ticker_root=None)
    tracker = FillQualityTracker("live", journal_dir)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), tracker=tracker,
                             config=EngineConfig(id_seed=7, poll_interval_s=0.2))
    rows: list[dict[str, object]] = []
    engine.add_listener(rows.append)
    ids = [engine.submit_basket(BasketRequest.model_validate(r))[0] if "legs" in r
           else engine.submit(ExecutionRequest.model_validate(r))[0] for r in requests]
    for parent_id in ids:
        print(parent_id, flush=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        placed = {r[key] for r in list(rows) if r["event"] in ("placed", "reconciling")
                  for key in ("parent_id", "basket_id")}
        if placed >= set(ids):
            break
        time.sleep(0.05)
    print("ready", flush=True)
    while True:  # until killed
        time.sleep(1)


if __name__ == "__main__":
    main()
