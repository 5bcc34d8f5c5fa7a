"""A trading day on the live path: a day's mix of parents through the real ``kiteconnect``
client against the fake Kite server (Kite's limits, the soak's faults, a market that moves),
with the desk SIGKILLed and restarted once and its access token expiring once.

The driver (:func:`run_day`, in the test or bench process) holds the fake server and the
market mover. The desk runs in a process of its own (:mod:`.day_desk`) so that it can be
killed: it reads the day's mix (:class:`DayPlan` made into items, JSON) and sends it from a
given item on through one engine writing the day's journal directory, keeping at most
``max_working`` parents working.
The mix holds every algorithm (IMMEDIATE, IS, TWAP, VWAP, POV), option baskets (iron
condors), parents the desk pauses and resumes, parents it cancels, and the kill switch once.

- **The crash**: once the first desk has sent ``kill_at`` items, the driver SIGKILLs it and
  starts a second desk on the same journal. That desk reads the day's journal, recovers the
  unfinished parents from the broker's order book (``engine.recover``: held, nothing sent),
  adopts every other one (the rest of its quantity as a new parent) and cancels the rest
  (``cancel_orphans``, once the adoptions are decided: started or refused), and goes on with
  the mix from the first item the killed desk had not said it sent.
- **The expiry**: once the second desk has sent ``expire_at`` more items, the driver expires
  the session at the fake. The desk sees ``engine.session_lost``, stops sending, and asks
  ``resume_session`` until its report has no error; the driver restores the session a moment
  after the desk said it lost it. The halted parents are then adopted or cancelled as above.

At the end the driver checks, over the whole journal (both desks) against the fake's ledger,
what the soak checks (:func:`~.soak.check_invariants`: no order the journal does not know,
one terminal row a child, every parent finished once, each parent's fills equal to the
fake's), plus: no tag sent twice, and no 429 the desk provoked (injected ones excluded).
The day's order cap is run on its own (:mod:`.day_cap`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..engine.state import ExecutionResult
from ..events import ParentStatus
from .fake_kite import RateLimits, nifty_strip
from .soak import FaultyKiteServer, SoakPlan, SoakReport, check_invariants

BID, ASK = 100.0, 100.05  # one tick: scheduled children take liquidity


@dataclass(frozen=True)
class DayPlan:
    """A day's mix and when the crash and the expiry come. Quantities are in lots of 65."""

    #: Items of the mix (a single parent, an iron condor, or the kill switch).
    items: int = 400
    #: Share of items that are iron condors (four TWAP legs each).
    basket_share: float = 0.08
    #: Share of single parents paused (and resumed a few seconds later), and cancelled.
    pause_share: float = 0.05
    cancel_share: float = 0.05
    #: When, after it was sent, such a parent is paused, resumed, or cancelled.
    pause_after_s: float = 1.0
    resume_after_s: float = 4.0
    cancel_after_s: float = 2.0
    #: The kill switch goes at this item (once).
    kill_switch_at: int = 150
    #: The first desk is SIGKILLed once it has sent this many items.
    kill_at: int = 100
    #: The session expires once the second desk has sent this many items.
    expire_at: int = 100
    #: Slices of the scheduled algorithms, and their horizon.
    slices: int = 4
    horizon_s: float = 12.0
    #: Share of IMMEDIATE parents sent as LIMIT away from the market (they rest until the
    #: market comes to them, or are cancelled).
    resting_share: float = 0.1
    #: Parents the desk keeps working at once (a basket counts its legs).
    max_working: int = 40
    instruments: int = 160
    place_fault_rate: float = 0.05
    cancel_fault_rate: float = 0.04
    book_fault_rate: float = 0.02
    ticker_drop_every_s: float = 30.0
    #: The fake's (and the engine's) order writes a day: raised above Kite's 5,000.
    day_cap: int = 1_000_000
    #: The account's funds at the fake, rupees (a day of 10,000 children buys far more
    #: premium than the fake's default ₹5 crore: its orders would be rejected for margin).
    margin: float = 1e12
    seed: int = 21
    #: After the last item is sent, how long parents may work before the kill switch.
    tail_s: float = 60.0
    #: The window an adopted parent's rest is sent over (after the crash and the expiry).
    adopt_window_s: float = 6.0
    #: How long after the desk said it lost the session the new login comes.
    relogin_after_s: float = 1.0
    #: How long after its last placement of unknown outcome the desk stays open before it
    #: shuts down: the soak's faults hold an order back 1.6 s at most.
    settle_s: float = 2.0


@dataclass
class DayReport:
    invariants: SoakReport
    items: int = 0
    parents: int = 0
    baskets: int = 0
    seconds: float = 0.0
    killed_after_item: int | None = None
    recovered: dict[str, Any] = field(default_factory=dict)
    expiry: dict[str, Any] = field(default_factory=dict)
    repeated_tags: list[str] = field(default_factory=list)
    provoked_429: int = 0
    algos: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    desk_errors: list[str] = field(default_factory=list)
    #: Every 429 the fake answered: seconds into the run, the request, whether injected.
    throttles: list[tuple[float, str, bool]] = field(default_factory=list)
    #: Baskets without exactly one ``basket_finished`` row after their ``basket_accepted``
    #: row (a basket the crash interrupted is ended by the restart once its legs end).
    baskets_unfinished: list[str] = field(default_factory=list)
    #: When the SIGKILL came and the session expired, seconds into the run.
    events_at: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.invariants.clean and not self.repeated_tags and self.provoked_429 == 0 \
            and not self.baskets_unfinished

    def summary(self) -> str:
        return (f"{self.items} items ({self.parents} parents, {self.baskets} baskets), "
                f"killed after item {self.killed_after_item}, recovered {self.recovered}, "
                f"expiry {self.expiry}, repeated tags {len(self.repeated_tags)}, provoked 429 "
                f"{self.provoked_429}; {self.invariants.summary()}"
                + (f"; 429s (s into the run, request, injected) {self.throttles}, "
                   f"events at {self.events_at}" if self.provoked_429 else ""))


# ---------------------------------------------------------------------- the mix


def day_items(plan: DayPlan, symbols: list[str]) -> list[dict[str, Any]]:
    """The day's mix, seeded: every algorithm, iron condors, pauses, cancels, the kill
    switch once."""
    rng = random.Random(plan.seed)
    algos = ["IMMEDIATE", "IS", "TWAP", "VWAP", "POV"]
    condor_symbols = symbols[:32]  # four condors' strikes, shared round-robin
    singles = symbols[32:]
    items: list[dict[str, Any]] = []
    for i in range(plan.items):
        if i == plan.kill_switch_at:
            items.append({"kind": "kill_switch"})
            continue
        if rng.random() < plan.basket_share:
            base = 8 * (i % 4)
            strip = condor_symbols[base:base + 8]
            ce = [s for s in strip if s.endswith("CE")]
            pe = [s for s in strip if s.endswith("PE")]
            legs = [dict(tradingsymbol=s, exchange="NFO", side=side, quantity=65 * 2,
                         lot_size=65, tick_size=0.05, freeze_quantity=1800, bid=BID, ask=ASK,
                         order_type="MARKET", execution_algo="TWAP", max_child_orders=2,
                         horizon_s=plan.horizon_s / 2, randomize_slices=False)
                    for s, side in ((pe[0], "BUY"), (pe[1], "SELL"), (ce[2], "SELL"),
                                    (ce[3], "BUY"))]
            items.append({"kind": "basket", "legs": legs})
            continue
        algo = algos[i % len(algos)]
        side = rng.choice(["BUY", "SELL"])
        request: dict[str, Any] = dict(
            tradingsymbol=singles[i % len(singles)], exchange="NFO", side=side, lot_size=65,
            tick_size=0.05, freeze_quantity=1800, bid=BID, ask=ASK, execution_algo=algo,
            seed=plan.seed * 100_000 + i)
        if algo == "IMMEDIATE":
            request["quantity"] = 65 * rng.choice((1, 2, 3, 28))
            if rng.random() < plan.resting_share:
                request.update(order_type="LIMIT",
                               limit_price=99.5 if side == "BUY" else 100.55)
        else:
            request.update(quantity=65 * plan.slices, max_child_orders=plan.slices,
                           horizon_s=plan.horizon_s)
        action = None
        draw = rng.random()
        if draw < plan.pause_share:
            action = "pause"
        elif draw < plan.pause_share + plan.cancel_share:
            action = "cancel"
        items.append({"kind": "single", "request": request, "action": action})
    return items


# ---------------------------------------------------------------------- the driver


class _Desk:
    """A desk process and what it says (one thread reads its lines)."""

    def __init__(self, args: list[str], log: Callable[[str], None], stderr: Path) -> None:
        env = dict(os.environ)
        self.stderr = stderr  # (kept beside the journal: a desk that dies says why there)
        with stderr.open("w") as errors:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "imperium_exec.testing.day_desk", *args],
                stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        self.lines: list[str] = []
        self.last_sent = -1
        self.lock = threading.Lock()
        self.log = log
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self.lock:
                self.lines.append(line)
                if line.startswith("sent "):
                    self.last_sent = int(line.split()[1])
            if not line.startswith("sent "):
                self.log("desk: " + line)

    def said(self, prefix: str) -> list[str]:
        with self.lock:
            return [line for line in self.lines if line.startswith(prefix)]

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.reader.join(5)
        with self.lock:
            return self.last_sent


def _results_from_journal(rows: list[dict[str, Any]]) -> dict[str, ExecutionResult]:
    """Each parent's result as its ``finished`` row says (the desks' futures died with them):
    its quantity, what it filled, and every order id its rows name."""
    orders: dict[str, set[str]] = {}
    quantity: dict[str, int] = {}
    for r in rows:
        parent_id = r["parent_id"]
        if not parent_id or not r.get("tradingsymbol"):
            continue
        if r.get("parent_quantity"):
            quantity[parent_id] = int(r["parent_quantity"])
        if r["order_id"] and r["event"] != "ghost":
            orders.setdefault(parent_id, set()).add(r["order_id"])
        else:
            orders.setdefault(parent_id, set())
    finished: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["event"] == "finished" and r["parent_id"] in orders:
            finished[r["parent_id"]] = r
    results = {}
    for parent_id, ids in orders.items():
        row = finished.get(parent_id)
        filled = int(row["filled_quantity"] or 0) if row else 0
        status = ParentStatus(row["status"]) if row else ParentStatus.FAILED
        qty = quantity.get(parent_id, 0)
        results[parent_id] = ExecutionResult(parent_id, status, qty, filled, qty - filled, 0.0,
                                             tuple(sorted(ids)), ())
    return results


class DayKiteServer(FaultyKiteServer):
    """The faulty fake, keeping every 429 it answered: when, to what, and whether it was one
    of the injected faults (a 429 the rate counter refused is one the desk provoked)."""

    def __init__(self, plan: SoakPlan, **kw: Any) -> None:
        super().__init__(plan, **kw)
        self.throttles: list[tuple[float, str, str, bool]] = []

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, str], authorization: str | None, body: Any = None) -> Any:
        injected = self.injected_throttles
        reply = super().handle(method, path, query, form, authorization, body)
        if reply.status == 429:
            self.throttles.append((time.time(), method, path,
                                   self.injected_throttles > injected))
        return reply


def baskets_without_final_row(rows: list[dict[str, Any]]) -> list[str]:
    """Baskets the journal saw accepted and then not finish exactly once."""
    finished = Counter(r["basket_id"] for r in rows if r["event"] == "basket_finished")
    return [r["basket_id"] for r in rows
            if r["event"] == "basket_accepted" and finished[r["basket_id"]] != 1]


def run_day(plan: DayPlan, journal_dir: str | os.PathLike[str], *,
            log: Callable[[str], None] | None = None) -> DayReport:
    """Run the day of ``plan`` with its journal in ``journal_dir`` (made empty by the caller)
    and check the invariants over it."""
    from ..telemetry import read_rows, telemetry_path

    say = log or (lambda _: None)
    directory = Path(journal_dir)
    directory.mkdir(parents=True, exist_ok=True)
    instruments = nifty_strip(plan.instruments)
    soak = SoakPlan(place_fault_rate=plan.place_fault_rate,
                    cancel_fault_rate=plan.cancel_fault_rate,
                    book_fault_rate=plan.book_fault_rate, seed=plan.seed)
    server = DayKiteServer(soak, instruments=instruments, ticker_heartbeat_s=0.5,
                              request_log_size=5_000_000, margin=plan.margin,
                              rate_limits=RateLimits(order_writes_per_day=plan.day_cap))
    server.start()
    symbols = [i.tradingsymbol for i in instruments]
    for symbol in symbols:
        server.set_quote(symbol, bid=BID, ask=ASK)
    items = day_items(plan, symbols)
    plan_path = directory / "day_plan.json"
    plan_path.write_bytes(orjson.dumps({"plan": asdict(plan), "items": items}))
    report = DayReport(SoakReport(), items=len(items))
    report.baskets = sum(1 for i in items if i["kind"] == "basket")
    report.algos = Counter(i["request"]["execution_algo"] for i in items if i["kind"] == "single")
    report.actions = Counter(i["action"] or "none" for i in items if i["kind"] == "single")
    stop = threading.Event()
    rng = random.Random(plan.seed + 2)
    mids = dict.fromkeys(symbols, (BID + ASK) / 2)

    def market() -> None:  # prices move a tick or two; resting limits get reached
        started = time.monotonic()
        next_drop = plan.ticker_drop_every_s or float("inf")
        while not stop.wait(0.5):
            for symbol in symbols:
                mids[symbol] = min(max(95.0, mids[symbol] + rng.choice(
                    [-0.5, -0.25, 0.0, 0.25, 0.5])), 105.0)
                server.set_quote(symbol, bid=round(mids[symbol] - 0.025, 2),
                                 ask=round(mids[symbol] + 0.025, 2))
            if time.monotonic() - started >= next_drop:
                server.drop_ticker()
                next_drop += plan.ticker_drop_every_s

    mover = threading.Thread(target=market, daemon=True)
    started, started_wall = time.monotonic(), time.time()
    mover.start()
    common = [server.root, server.ticker_root, str(directory), str(plan_path)]
    try:
        first = _Desk([*common, "0", "0"], say, directory / "desk_1.stderr")
        while first.proc.poll() is None:
            with first.lock:
                if first.last_sent + 1 >= plan.kill_at:
                    break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.2, 1.0))  # children in flight, some unanswered
        last = first.kill()
        report.killed_after_item = last
        report.events_at["sigkill"] = round(time.monotonic() - started, 2)
        say(f"SIGKILL after item {last} ({time.monotonic() - started:.0f} s)")
        second = _Desk([*common, str(last + 1), "1"], say, directory / "desk_2.stderr")
        expire_index = last + 1 + plan.expire_at
        expired_at: float | None = None
        restored = False
        while second.proc.poll() is None:
            with second.lock:
                sent = second.last_sent
            if expired_at is None and sent >= expire_index:
                expired_at = time.time()
                server.expire_session()
                report.events_at["expired"] = round(time.monotonic() - started, 2)
                say(f"session expired after item {sent}")
            if expired_at is not None and not restored:
                lost = second.said("session-lost")
                if (lost and time.time() - expired_at > plan.relogin_after_s) \
                        or time.time() - expired_at > 30:
                    server.restore_session()
                    restored = True
                    report.expiry = {"detected": bool(lost),
                                     "down_s": round(time.time() - expired_at, 1)}
                    say("session restored (a new login)")
            time.sleep(0.05)
        second.reader.join(10)
        for line in second.said("recovered") + second.said("resumed"):
            words = line.split()
            key = "restart" if words[0] == "recovered" else "relogin"
            report.recovered[key] = " ".join(words[1:])
        report.refused = first.said("refused") + second.said("refused")
        report.desk_errors = first.said("recovery-error") + second.said("recovery-error")
        if not second.said("done"):
            tail = second.stderr.read_text(errors="replace").strip().splitlines()[-5:]
            report.desk_errors.append(f"second desk ended without 'done' "
                                      f"(rc {second.proc.returncode}): {' / '.join(tail)}")
    finally:
        stop.set()
        mover.join(5)
        server.stop()
    report.seconds = time.monotonic() - started
    rows = read_rows(telemetry_path("live", directory))
    results = _results_from_journal(rows)
    report.parents = len(results)
    report.baskets_unfinished = baskets_without_final_row(rows)
    check_invariants(report.invariants, results, rows, server)
    inv = report.invariants
    inv.parents = len(results)
    inv.seconds = report.seconds
    inv.faults = server.fault_counts
    inv.throttled_replies = server.throttled
    inv.injected_throttles = server.injected_throttles
    report.provoked_429 = server.throttled - server.injected_throttles
    report.throttles = [(round(at - started_wall, 2), f"{method} {path}", injected)
                        for at, method, path, injected in server.throttles]
    tags = Counter(o.get("tag") for o in server.recorded_orders())
    report.repeated_tags = [f"{t} x{n}" for t, n in tags.items() if n > 1]
    return report
