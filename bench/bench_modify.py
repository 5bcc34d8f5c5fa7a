"""Writes per re-price of a resting child: cancel and place (before) against Kite's modify
(after), side by side in one run.

What is measured: ExecutionEngine (mode "live", RealClock) -> KiteBroker -> the real kiteconnect
client -> ``imperium_exec.testing.FakeKiteServer`` on loopback (Kite's limits: 10 order writes a
calendar second; modify on, 25 modifications an order), with its ticker. K passive TWAP parents
at once (one strike each, N lots in N slices over the horizon, no randomisation, MARKET), on a
book 10 ticks wide whose bid steps 100.00 / 100.05 / 100.10 every 0.3 s: a joined child never
fills before the last slice, and every slice boundary re-prices it. "before" is
``EngineConfig(modify_resting=False)`` (a cancel and a new order, as the engine did before
modify), "after" the default (one modify). Per side: order writes by route, re-prices (the
parents' ``placed`` + ``modified`` rows less one each), writes per re-price, the most writes in
one calendar second, 429 replies, the most modifications one order took, how late a slice went
out against its schedule (median and worst) and how late the parents finished.

Run: ``.venv/bin/python bench/bench_modify.py [--parents 20] [--slices 6] [--horizon 12]
[--out bench/results_modify.md]``. Read the ratios: the machines are shared.
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiteconnect import KiteConnect

from imperium_exec.brokers import KiteBroker
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.testing import FakeKiteServer, nifty_strip

WRITES = ("place", "modify", "cancel")


@dataclass
class Side:
    name: str
    writes: Counter[str]
    re_prices: int
    max_writes_per_second: int
    throttled: int
    most_modifications: int
    slice_late_median_s: float
    slice_late_max_s: float
    finish_late_max_s: float
    filled: bool

    @property
    def per_re_price(self) -> float:
        return (sum(self.writes.values()) - self.parents) / max(1, self.re_prices)

    parents: int = 0


def run(modify: bool, parents: int, slices: int, horizon_s: float) -> Side:
    instruments = nifty_strip(parents)
    server = FakeKiteServer(instruments=instruments, ticker_heartbeat_s=0.25).start()
    for inst in instruments:
        server.set_quote(inst.tradingsymbol, bid=100.0, ask=100.5)
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=2)
    broker = KiteBroker(kite, ticker_root=server.ticker_root, ticker_silence_s=1.0)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(),
                             config=EngineConfig(id_seed=None, modify_resting=modify))
    rows: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(row: dict[str, Any]) -> None:
        with lock:
            rows.append(row)

    engine.add_listener(collect)
    deadline = time.monotonic() + 5.0
    while server.ticker_connections < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop = threading.Event()

    def move() -> None:
        step = 0
        while not stop.wait(0.3):
            step += 1
            bid = 100.0 + 0.05 * (step % 3)
            for inst in instruments:
                server.set_quote(inst.tradingsymbol, bid=bid, ask=bid + 0.5)

    mover = threading.Thread(target=move, daemon=True)
    mover.start()
    try:
        submitted = []
        for inst in instruments:
            request = ExecutionRequest.model_validate(dict(
                tradingsymbol=inst.tradingsymbol, exchange="NFO", side="BUY",
                quantity=65 * slices, lot_size=65, tick_size=0.05, freeze_quantity=1800,
                bid=100.0, ask=100.5, execution_algo="TWAP", max_child_orders=slices,
                horizon_s=horizon_s, randomize_slices=False))
            submitted.append((time.time(), *engine.submit(request)))
        results = [(at, pid, future.result(horizon_s * 4)) for at, pid, future in submitted]
    finally:
        stop.set()
        mover.join(5.0)
        engine.shutdown(10.0)
        server.stop()
    writes = Counter(r.route for r in server.requests if r.route in WRITES)
    stamps = [r.at for r in server.requests if r.route in WRITES]
    per_second = Counter(math.floor(at) for at in stamps)
    per_order = Counter(r.path.rsplit("/", 1)[-1] for r in server.requests
                        if r.route == "modify")
    late: list[float] = []
    finish_late: list[float] = []
    re_prices = 0
    interval = horizon_s / slices
    for submitted_at, parent_id, _ in results:
        mine = [r for r in rows if r["parent_id"] == parent_id]
        sends = [r for r in mine if r["event"] in ("placed", "modified")]
        accepted = next(r for r in mine if r["event"] == "accepted")
        finished = next(r for r in mine if r["event"] == "finished")
        re_prices += len(sends) - 1
        first = sends[0]["send_at"]
        shift = accepted["ts"] - first
        # A send's slice: the latest slice due by then (merged slices count as the last).
        for r in sends:
            k = min(slices - 1, max(0, math.floor((r["ts"] - shift - first) / interval)))
            late.append(r["ts"] - (first + k * interval + shift))
        finish_late.append(finished["ts"] - submitted_at - horizon_s)
    side = Side(name="modify (after)" if modify else "cancel + place (before)",
                writes=writes, re_prices=re_prices,
                max_writes_per_second=max(per_second.values(), default=0),
                throttled=server.throttled,
                most_modifications=max(per_order.values(), default=0),
                slice_late_median_s=statistics.median(late),
                slice_late_max_s=max(late), finish_late_max_s=max(finish_late),
                filled=all(result.filled_quantity == 65 * slices for *_, result in results))
    side.parents = parents
    return side


def table(sides: list[Side], parents: int, slices: int, horizon_s: float) -> str:
    lines = [f"{parents} passive TWAPs at once, {slices} lots in {slices} slices over "
             f"{horizon_s:g} s, the bid stepping every 0.3 s (real kiteconnect, fake Kite, "
             "Kite's limits).", "",
             "| | writes (place / modify / cancel) | re-prices | writes per re-price | "
             "most writes in a second | 429s | most modifications of an order | slice late "
             "(median / worst) | finished late (worst) | all filled |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in sides:
        w = s.writes
        lines.append(
            f"| {s.name} | {sum(w.values())} ({w['place']} / {w['modify']} / {w['cancel']}) "
            f"| {s.re_prices} | {s.per_re_price:.2f} | {s.max_writes_per_second} | "
            f"{s.throttled} | {s.most_modifications} | {s.slice_late_median_s:.2f} s / "
            f"{s.slice_late_max_s:.2f} s | {s.finish_late_max_s:+.2f} s | "
            f"{'yes' if s.filled else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parents", type=int, default=20)
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--horizon", type=float, default=12.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sides = [run(modify, args.parents, args.slices, args.horizon) for modify in (False, True)]
    text = table(sides, args.parents, args.slices, args.horizon)
    print(text)
    if args.out is not None:
        args.out.write_text("# Re-pricing resting children: cancel and place vs modify\n\n"
                            "`.venv/bin/python bench/bench_modify.py` "
                            f"(--parents {args.parents} --slices {args.slices} --horizon "
                            f"{args.horizon:g}), {time.strftime('%Y-%m-%d')}.\n\n" + text)


if __name__ == "__main__":
    main()
