"""A desk's engine in a process of its own, for the restart tests to kill.

Started ahead of need (see ``desks.py``), it imports the engine and then waits for one line of
JSON on stdin: the fake Kite server's root, the journal's folder, and the parents to send (a
request, or a basket as ``{"legs": [...]}``). It reads the quotes of every instrument it will
trade (one quote call for all of them: Kite allows one a second), sends the parents, prints
each parent's (or basket's) id, then ``ready`` once each has an order resting (or an attempt
being reconciled), and waits to be killed (SIGKILL: no shutdown, no final rows)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
from kiteconnect import KiteConnect

from imperium_exec.baskets.request import BasketRequest
from imperium_exec.brokers.kite import KiteBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.config import EngineConfig
from imperium_exec.engine.execution_engine import ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.telemetry import FillQualityTracker


def instrument_keys(requests: list[dict[str, Any]]) -> list[str]:
    legs = [leg for r in requests for leg in r.get("legs", [r])]
    return sorted({f"{leg['exchange']}:{leg['tradingsymbol']}" for leg in legs})


def wait_until(done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def main() -> None:
    order = orjson.loads(sys.stdin.readline())
    root, journal_dir, requests = order["root"], Path(order["journal_dir"]), order["requests"]
    kite = KiteConnect(api_key="k", access_token="t", root=root, timeout=2)
    broker = KiteBroker(kite, ticker_root=None)
    tracker = FillQualityTracker("live", journal_dir)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), tracker=tracker,
                             config=EngineConfig(id_seed=7, poll_interval_s=0.2))
    rows: list[dict[str, object]] = []
    engine.add_listener(rows.append)
    # Every instrument's quote in one call before the first parent is priced: sent one by
    # one, a parent that missed the first call would wait a second for the next.
    keys = instrument_keys(requests)
    engine.watch_quotes(keys)
    wait_until(lambda: len(engine.quotes(keys)) == len(keys), 10)
    ids = [engine.submit_basket(BasketRequest.model_validate(r))[0] if "legs" in r
           else engine.submit(ExecutionRequest.model_validate(r))[0] for r in requests]
    for parent_id in ids:
        print(parent_id, flush=True)

    def all_resting() -> bool:
        placed = {r[key] for r in list(rows) if r["event"] in ("placed", "reconciling")
                  for key in ("parent_id", "basket_id")}
        return placed >= set(ids)

    wait_until(all_resting, 20)
    print("ready", flush=True)
    while True:  # until killed
        time.sleep(1)


if __name__ == "__main__":
    main()
