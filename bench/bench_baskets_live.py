"""Many option baskets at once on the live path, under Kite's limits and with faults.

What is measured: ExecutionEngine (mode "live", RealClock) -> KiteBroker -> the real kiteconnect
client -> the fake Kite server (REST and ticker, Kite's limits: 10 order writes/s, 400/min,
1 quote call/s) with the soak's seeded faults on every route (ghost orders, timeouts, 503s,
HTML 502s, injected 429s on placements; 503/502 on cancels and order-book reads). N iron
condors are submitted at once, each on four instruments of its own (a call and a put bought
far, a call and a put sold near), every leg a TWAP of ``--lots`` lots in ``--slices`` slices
over ``--horizon`` seconds, hedge-first (the engine's default): 4 x N legs whose children all
go through the one write budget. The question left by issue 10: does a short held for its
hedge's fills wait out the throttled budget, or does the basket's 30 s stall timeout stop it?

Reported per N: baskets filled / stopped (and why), basket times (submit to final row),
held warnings, the worst uncovered short seen (per basket and option type, units sold beyond
units bought at any fill, 0 meaning never uncovered: over the engine's fill rows in time order,
and over the fake's own trade book, in the order it executed), the soak's invariants (orders
at the fake the engine does not report: duplicates; children without exactly one terminal
row; legs whose reported fills differ from the fake's ledger), order writes per calendar
second at the server (max), 429 replies (all vs injected), faults injected.

Run: ``.venv/bin/python bench/bench_baskets_live.py [--condors 10 20 40] [--out FILE]
[--rows DIR]``. One run per N, one after the other, each with a fresh server and engine; the
machine is shared: read the figures of one run together. ``--rows`` keeps every run's rows
(JSON lines) to read a basket's story in time order (``basket_id`` is on every leg's rows).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiteconnect import KiteConnect

from imperium_exec.baskets.legging import HELD_PREFIX
from imperium_exec.baskets.request import BasketRequest
from imperium_exec.clock import RealClock
from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
from imperium_exec.request import ExecutionRequest
from imperium_exec.testing.fake_kite import nifty_strip
from imperium_exec.testing.soak import (
    SoakPlan,
    SoakReport,
    check_invariants,
    fast_retries,
    open_faulty_kite,
)

BID, ASK = 100.0, 100.05  # one tick: scheduled children take liquidity


@dataclass
class Outcome:
    condors: int
    statuses: collections.Counter[str]
    stop_reasons: collections.Counter[str]
    basket_seconds: list[float]
    held_rows: int
    worst_uncovered: int
    worst_uncovered_at_fake: int
    invariants: SoakReport
    writes_max_per_s: int
    throttled: int
    injected_throttles: int
    faults: collections.Counter[str]
    orders: int
    wall_s: float


def condor_legs(instruments: list[Any], index: int, lots: int, slices: int,
                horizon_s: float) -> list[ExecutionRequest]:
    """Condor ``index`` on its own eight strikes: calls at s and s+100 (sell, buy), puts at
    s and s-100 (sell, buy); nifty_strip alternates CE, PE by strike."""
    base = 8 * index  # eight instruments a condor: strikes k .. k+3, each CE and PE
    ce = [i for i in instruments[base:base + 8] if i.tradingsymbol.endswith("CE")]
    pe = [i for i in instruments[base:base + 8] if i.tradingsymbol.endswith("PE")]
    plan = [(pe[0], "BUY"), (pe[1], "SELL"), (ce[2], "SELL"), (ce[3], "BUY")]
    return [ExecutionRequest.model_validate(dict(
        tradingsymbol=inst.tradingsymbol, exchange="NFO", side=side, quantity=65 * lots,
        lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=BID, ask=ASK,
        order_type="MARKET", execution_algo="TWAP", max_child_orders=slices,
        horizon_s=horizon_s, randomize_slices=False)) for inst, side in plan]


def worst_uncovered(rows: list[dict[str, Any]]) -> int:
    """Per basket and option type, the most units sold beyond units bought at any fill (the
    engine's fill rows in time order; 0: never uncovered)."""
    worst = 0
    position: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    fills = sorted((r for r in rows if r["event"] in ("filled", "ghost") and r["basket_id"]
                    and r["filled_quantity"]), key=lambda r: r["ts"])
    for r in fills:
        kind = r["tradingsymbol"][-2:]
        bought_sold = position[(r["basket_id"], kind)]
        bought_sold[0 if r["side"] == "BUY" else 1] += int(r["filled_quantity"])
        worst = max(worst, bought_sold[1] - bought_sold[0])
    return worst


def worst_uncovered_at_fake(trades: list[dict[str, Any]], legs: dict[str, str]) -> int:
    """The same over the fake's trade book (in the order it executed): ``legs`` maps a parent
    id (the first ten characters of an order's tag) to its basket."""
    worst = 0
    position: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    for trade in trades:
        basket = legs.get(str(trade.get("tag") or "")[:10])
        if basket is None:
            continue
        bought_sold = position[(basket, str(trade["tradingsymbol"])[-2:])]
        bought_sold[0 if trade["transaction_type"] == "BUY" else 1] += int(trade["quantity"])
        worst = max(worst, bought_sold[1] - bought_sold[0])
    return worst


def run(condors: int, *, lots: int, slices: int, horizon_s: float, seed: int,
        timeout_s: float, rows_dir: Path | None = None, faults: bool = True) -> Outcome:
    instruments = list(nifty_strip(8 * condors))
    plan = SoakPlan(seed=seed, instruments=len(instruments))
    if not faults:
        plan = dataclasses.replace(plan, place_fault_rate=0.0, cancel_fault_rate=0.0,
                                   book_fault_rate=0.0)
    server, broker = open_faulty_kite(plan, instruments, bid=BID, ask=ASK, margin=1e12)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), retry_policy=fast_retries(),
                             config=EngineConfig(markout_horizons_s=()))
    rows: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(row: dict[str, Any]) -> None:
        with lock:
            rows.append(row)

    engine.add_listener(collect)
    started = time.monotonic()
    submitted: dict[str, float] = {}
    futures = []
    try:
        for index in range(condors):
            basket = BasketRequest(legs=tuple(condor_legs(instruments, index, lots, slices,
                                                          horizon_s)))
            basket_id, _legs, future = engine.submit_basket(basket)
            submitted[basket_id] = time.time()
            futures.append(future)
        results = [f.result(timeout_s) for f in futures]
    finally:
        engine.shutdown(30.0)
        orders = {o["order_id"]: o for o in server.recorded_orders()}
        book = KiteConnect(api_key="k", access_token="t", root=server.root).trades()
        trades = [t | {"tag": orders.get(t["order_id"], {}).get("tag")} for t in book]
        server.stop()
    wall = time.monotonic() - started
    with lock:
        rows = list(rows)
    if rows_dir is not None:
        rows_dir.mkdir(parents=True, exist_ok=True)
        with (rows_dir / f"rows_{condors}.jsonl").open("w") as out:
            for row in rows:
                out.write(json.dumps(row, default=str) + "\n")
        with (rows_dir / f"requests_{condors}.jsonl").open("w") as out:
            for req in server.requests:
                out.write(json.dumps({"at": req.at, "route": req.route}, default=str) + "\n")
    finished = {r["basket_id"]: r for r in rows if r["event"] == "basket_finished"}
    statuses = collections.Counter(str(res.status.value) for res in results)
    reasons: collections.Counter[str] = collections.Counter()
    for res in results:
        if res.status.value != "filled":
            reasons[_reason(res.message)] += 1
    seconds = [finished[b]["ts"] - submitted[b] for b in submitted if b in finished]
    invariants = SoakReport(parents=4 * condors)
    check_invariants(invariants, {leg.parent_id: leg for res in results for leg in res.legs},
                     rows, server)
    basket_of = {r["parent_id"]: r["basket_id"] for r in rows
                 if r["event"] == "accepted" and r["basket_id"]}
    places = sorted(r.at for r in server.requests if r.route == "place")
    per_second = collections.Counter(int(at) for at in places)
    return Outcome(
        condors=condors, statuses=statuses, stop_reasons=reasons, basket_seconds=seconds,
        held_rows=sum(1 for r in rows if r["event"] == "warning"
                      and (r["message"] or "").startswith(HELD_PREFIX)),
        worst_uncovered=worst_uncovered(rows),
        worst_uncovered_at_fake=worst_uncovered_at_fake(trades, basket_of),
        invariants=invariants,
        writes_max_per_s=max(per_second.values(), default=0),
        throttled=server.throttled, injected_throttles=server.injected_throttles,
        faults=collections.Counter(server.fault_counts), orders=len(places), wall_s=wall)


def _reason(message: str) -> str:
    """The gist of a basket's stop message (its first line, after "stopped: "), with the
    symbols and figures taken out so that like reasons count together."""
    first = (message or "?").split("\n", 1)[0].removeprefix("stopped: ")
    first = re.sub(r"[A-Z]+\d\w*", "<leg>", first)
    first = re.sub(r"\d[\d,.]*", "N", first)
    return first.split(" to fill:")[0][:90]


def report(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    lines = [
        "# Option baskets at once on the live path (fake Kite, real client, faults)", "",
        f"`python bench/bench_baskets_live.py --condors {' '.join(map(str, args.condors))} "
        f"--lots {args.lots} --slices {args.slices} --horizon {args.horizon:g}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, one run per row, {machine()}.", "",
        "| condors (legs) | baskets | stopped because | basket time median / max | held "
        "rows | worst uncovered short (rows / fake's trades) | duplicates / children without "
        "one end / fills unlike the fake's | place calls (max per s) | 429 (injected) | wall |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        times = (f"{statistics.median(o.basket_seconds):.1f} / {max(o.basket_seconds):.1f} s"
                 if o.basket_seconds else "-")
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
        reasons = "; ".join(f"{v}x {k}" for k, v in o.stop_reasons.most_common(3)) or "-"
        inv = o.invariants
        checks = (f"{len(inv.duplicates)} / {len(inv.children_without_one_terminal_row)} / "
                  f"{len(inv.fill_mismatches) + len(inv.overfilled)}")
        lines.append(f"| {o.condors} ({4 * o.condors}) | {statuses} | {reasons} | {times} | "
                     f"{o.held_rows} | {o.worst_uncovered} / {o.worst_uncovered_at_fake} units "
                     f"| {checks} ({inv.children} children, {inv.orders_at_broker} orders) | "
                     f"{o.orders} "
                     f"({o.writes_max_per_s}) | {o.throttled} ({o.injected_throttles}) | "
                     f"{o.wall_s:.0f} s |")
    faults = collections.Counter[str]()
    for o in outcomes:
        faults.update(o.faults)
    lines += ["", "Faults injected over all runs: "
              + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())) + "."]
    return "\n".join(lines) + "\n"


def machine() -> str:
    """The machine the figures come from: CPUs, processor, OS and Python."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info
                          if line.startswith("model name")), model)
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def results(quick: bool) -> str:
    """The bench command's section: N iron condors at once (quick: 2, small), each against the
    write floor of its own run (its place calls at 10 a second) and the schedule's horizon."""
    started = time.time()
    args = argparse.Namespace(condors=[2] if quick else [10, 20, 40], lots=2 if quick else 4,
                              slices=2 if quick else 4, horizon=4.0 if quick else 20.0, seed=7,
                              timeout=120.0 if quick else 600.0)
    outcomes = [run(n, lots=args.lots, slices=args.slices, horizon_s=args.horizon,
                    seed=args.seed, timeout_s=args.timeout, faults=not quick)
                for n in args.condors]
    floors = []
    for o in outcomes:
        last_slice = args.horizon * (args.slices - 1) / args.slices
        floor = max(o.orders / 10, last_slice)
        last = max(o.basket_seconds) if o.basket_seconds else float("nan")
        floors.append(f"| {o.condors} | {o.orders} | {o.orders / 10:.1f} s | {last_slice:g} s "
                      f"| {last:.1f} s | {last / floor:.1f}× |")
    text = report(outcomes, args).splitlines()
    lines = ["### Baskets on the live path", "",
             "`bench/bench_baskets_live.py`: N iron condors submitted at once (4 legs each, "
             f"TWAP of {args.lots} lots in {args.slices} slices over {args.horizon:g} s, "
             "hedge-first), the real kiteconnect client against the fake Kite server with "
             "Kite's limits and the soak's seeded faults on every route ("
             + ("none in --quick: a fault costs its basket a reconcile of up to a minute"
                if quick else "seed 7") +
             "); one run per N. The "
             "baseline is the floor of the same run: its place calls at 10 order writes a "
             "second, or the last slice's due time if later.", "",
             "| condors | place calls | write floor | last slice due | last basket done | "
             "× the floor |",
             "|---|---|---|---|---|---|", *floors, "", *text[2:],
             "", f"Measured in {time.time() - started:.1f} s."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--condors", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--lots", type=int, default=4)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--horizon", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rows", type=Path, help="write every run's rows (JSON lines) here")
    args = parser.parse_args()
    outcomes = []
    for n in args.condors:
        print(f"{n} condors...", file=sys.stderr, flush=True)
        outcomes.append(run(n, lots=args.lots, slices=args.slices, horizon_s=args.horizon,
                            seed=args.seed, timeout_s=args.timeout, rows_dir=args.rows))
    text = report(outcomes, args)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
