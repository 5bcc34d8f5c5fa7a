"""Desks' engines in processes of their own, for the restart tests to kill.

This process imports the engine once, then for every line of JSON on stdin (the fake Kite
server's root, the journal's folder, the parents to send: a request, or a basket as
``{"legs": [...]}``, and the file to say what it did in) forks a desk. The desk writes its pid,
reads the quotes of every instrument it will trade (one quote call for all of them: Kite allows
one a second), sends the parents, writes each parent's (or basket's) id, then ``ready`` once
each has an order resting (or an attempt being reconciled), and waits to be killed (SIGKILL: no
shutdown, no final rows). A desk whose parent process is gone exits on its own.

Fork is safe here: nothing before it starts a thread (``OPENBLAS_NUM_THREADS=1`` keeps numpy
from starting its pool on import; see desks.py); the desk builds its engine after it."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
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


def wait_until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def run_desk(order: dict[str, Any], parent_pid: int) -> None:
    said = open(order["said"], "w")  # noqa: SIM115 (open until the desk is killed)

    def say(line: str) -> None:
        said.write(line + "\n")
        said.flush()

    say(f"pid {os.getpid()}")
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
        say(parent_id)

    def all_resting() -> bool:
        placed = {r[key] for r in list(rows) if r["event"] in ("placed", "reconciling")
                  for key in ("parent_id", "basket_id")}
        return placed >= set(ids)

    wait_until(all_resting, 20)
    say("ready")
    while os.getppid() == parent_pid:  # until killed
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed desks are reaped by the kernel
    for line in sys.stdin:
        order = orjson.loads(line)
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            run_desk(order, os.getppid())
            os._exit(0)


if __name__ == "__main__":
    main()
