"""A fault soak of the live path: many parents on many instruments, the real ``kiteconnect``
client, the fake Kite server with its ticker, faults on every route, and a market that moves.

Used by the test suite (a run sized for CI) and by ``bench/soak_live.py`` (2,000+ children).
The run ends by checking what must hold whatever the faults:

- no duplicate order: every order the broker holds is one the engine reports (a result's order
  id, or a ghost row it cancelled or counted), and no parent is filled beyond its quantity;
- every child ends in one terminal row and every parent in one ``finished`` row;
- each parent's reported fills equal the broker's fills of its orders.
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from ..events import ErrorBucket
from ..request import ExecutionRequest
from ..retry import BucketPolicy, RetryPolicy
from .fake_kite import FakeInstrument, FakeKiteServer, Fault, nifty_strip

if TYPE_CHECKING:
    from ..brokers.kite.broker import KiteBroker


@dataclass(frozen=True)
class SoakPlan:
    """What to run. Quantities are in lots of 65 (NIFTY)."""

    parents: int = 100
    #: Parents that are TWAPs (the rest are IMMEDIATE); their slices and horizon.
    twap_share: float = 0.5
    twap_slices: int = 3
    twap_horizon_s: float = 20.0
    #: IMMEDIATE parents' lots (above 27 lots the freeze quantity splits them).
    immediate_lots: tuple[int, ...] = (1, 2, 28, 40)
    #: Share of IMMEDIATE parents sent as LIMIT below the market (they rest, then the market
    #: comes to them as it moves).
    resting_share: float = 0.2
    #: Probability of a fault on each request of a route.
    place_fault_rate: float = 0.08
    #: Deal the placements' faults instead: exactly one in each block of
    #: ``round(1 / place_fault_rate)`` placements, at a seeded place in the block (a short
    #: run then meets as many faults as its placements call for, not as its luck gives).
    place_faults_dealt: bool = False
    cancel_fault_rate: float = 0.05
    book_fault_rate: float = 0.03
    #: Drop the ticker every so often (seconds; 0: never) and silence it once.
    ticker_drop_every_s: float = 7.0
    ticker_silence_at_s: float | None = 5.0
    #: Expire the session this many seconds in (a run of its own).
    token_expiry_at_s: float | None = None
    instruments: int = 120
    #: The market's spread around its mid, in rupees (0.05 is one tick: scheduled children
    #: then take liquidity; wider and they join the book and rest).
    spread: float = 0.5
    seed: int = 7
    #: How long parents may work before the kill switch ends the rest.
    run_s: float = 60.0
    #: After every parent ended, how long the engine may take to account for the orders
    #: that turn up late (a fault held them back) before it is shut down.
    settle_s: float = 10.0


@dataclass
class SoakReport:
    parents: int = 0
    children: int = 0
    orders_at_broker: int = 0
    duplicates: list[str] = field(default_factory=list)
    overfilled: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    children_without_one_terminal_row: list[str] = field(default_factory=list)
    fill_mismatches: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    throttled_replies: int = 0
    injected_throttles: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    requests_after_expiry: int | None = None
    hung_rows: dict[str, list[str]] = field(default_factory=dict)
    #: Filled at the broker on orders the engine flagged as possibly live when it lost the
    #: session (it cannot see them any more; its rows said so).
    filled_out_of_sight: int = 0

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.overfilled or self.unfinished
                    or self.children_without_one_terminal_row or self.fill_mismatches)

    def summary(self) -> str:
        return (f"{self.parents} parents, {self.children} children, {self.orders_at_broker} "
                f"orders at the broker in {self.seconds:.0f} s; duplicates "
                f"{len(self.duplicates)}, overfilled {len(self.overfilled)}, unfinished "
                f"{len(self.unfinished)}, children without one terminal row "
                f"{len(self.children_without_one_terminal_row)}, fill mismatches "
                f"{len(self.fill_mismatches)}; 429 replies {self.throttled_replies} "
                f"({self.injected_throttles} injected); faults {dict(self.faults)}")


class FaultyKiteServer(FakeKiteServer):
    """The fake server, injecting faults on a seeded schedule and counting 429 replies."""

    def __init__(self, plan: SoakPlan, **kw: Any) -> None:
        super().__init__(**kw)
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.fault_counts: Counter[str] = Counter()
        self.injected_throttles = 0
        self._deck: list[bool] = []  # the current block's placements: fault or not
        self._deck_lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, str], authorization: str | None, body: Any = None) -> Any:
        fault = self._draw(method, path)
        if fault is not None:
            name, chosen = fault
            route = "place" if method == "POST" else "cancel" if method == "DELETE" \
                else "orders"
            self.fail_next(route, chosen)
            self.fault_counts[name] += 1
            if name == "throttled":
                self.injected_throttles += 1
        return super().handle(method, path, query, form, authorization, body)

    def _draw(self, method: str, path: str) -> tuple[str, Fault] | None:
        rng, plan = self.rng, self.plan
        if method == "POST" and path.startswith("/orders/"):
            if not self._place_fault_due():
                return None
            return rng.choice([
                ("ghost", Fault.ghost(delay_s=1.6)),
                ("order_timed_out", Fault.order_timed_out(appear_after_s=1.5)),
                ("oms_down_503", Fault.oms_down(503)),
                ("gateway_html_502", Fault.gateway_html(502, record=rng.random() < 0.5)),
                ("throttled", Fault.throttled()),
            ])
        if method == "DELETE" and rng.random() < plan.cancel_fault_rate:
            return rng.choice([("cancel_503", Fault.oms_down(503)),
                               ("cancel_html_502", Fault.gateway_html(502))])
        if method == "GET" and path == "/orders" and rng.random() < plan.book_fault_rate:
            return ("book_html_502", Fault.gateway_html(502))
        return None

    def _place_fault_due(self) -> bool:
        plan = self.plan
        if not plan.place_faults_dealt:
            return self.rng.random() < plan.place_fault_rate
        with self._deck_lock:  # (requests are handled on many threads)
            if not self._deck:
                block = max(1, round(1 / plan.place_fault_rate))
                self._deck = [i == 0 for i in range(block)]
                self.rng.shuffle(self._deck)
            return self._deck.pop()


def _requests(plan: SoakPlan, instruments: tuple[FakeInstrument, ...]) -> list[dict[str, Any]]:
    rng = random.Random(plan.seed + 1)
    out = []
    for i in range(plan.parents):
        inst = instruments[i % len(instruments)]
        base: dict[str, Any] = dict(tradingsymbol=inst.tradingsymbol, exchange="NFO",
                                    side=rng.choice(["BUY", "SELL"]), lot_size=65,
                                    tick_size=0.05, freeze_quantity=1800, bid=100.0,
                                    ask=100.5, seed=plan.seed * 1000 + i)
        if rng.random() < plan.twap_share:
            base.update(execution_algo="TWAP", quantity=65 * plan.twap_slices,
                        max_child_orders=plan.twap_slices, horizon_s=plan.twap_horizon_s)
        else:
            base.update(quantity=65 * rng.choice(plan.immediate_lots))
            if rng.random() < plan.resting_share:
                away = -1.0 if base["side"] == "BUY" else 1.0
                base.update(order_type="LIMIT", limit_price=100.25 + away / 2)
        out.append(base)
    return out


def fast_retries() -> RetryPolicy:
    """The retry policy of runs against the faulty server: quick transient retries and
    reconciles (seconds, not the desk's defaults), throttles retried after a second."""
    return RetryPolicy(policies={
        ErrorBucket.TRANSIENT: BucketPolicy(max_retries=4, base_delay_s=0.2, max_delay_s=1.0),
        ErrorBucket.THROTTLE: BucketPolicy(max_retries=5, base_delay_s=1.0, max_delay_s=2.0),
        ErrorBucket.RISK: BucketPolicy(0, 0.0, 0.0),
        ErrorBucket.FATAL: BucketPolicy(0, 0.0, 0.0)},
        reconcile_window_s=4.0, reconcile_interval_s=0.5)


def open_faulty_kite(plan: SoakPlan, instruments: Sequence[FakeInstrument], *, bid: float,
                     ask: float, client_timeout: float = 1.0,
                     **server_kw: Any) -> tuple[FaultyKiteServer, KiteBroker]:
    """A started faulty fake Kite server quoting every instrument at ``bid`` / ``ask``, and a
    KiteBroker on the real client (REST and ticker, ``client_timeout`` seconds a request)
    talking to it."""
    from kiteconnect import KiteConnect

    from ..brokers.kite.broker import KiteBroker

    server = FaultyKiteServer(plan, instruments=instruments, ticker_heartbeat_s=0.5,
                              request_log_size=1_000_000, **server_kw)
    server.start()
    for inst in instruments:
        server.set_quote(inst.tradingsymbol, bid=bid, ask=ask)
    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=client_timeout)
    return server, KiteBroker(kite, ticker_root=server.ticker_root, ticker_silence_s=2.0)


def run_soak(plan: SoakPlan, *, log: Callable[[str], None] | None = None) -> SoakReport:
    """Run ``plan`` against a fresh fake server and check the invariants."""
    from ..clock import RealClock

    say = log or (lambda _: None)
    instruments = nifty_strip(plan.instruments)
    server, broker = open_faulty_kite(plan, instruments, bid=100.0, ask=100.5)
    rng = random.Random(plan.seed + 2)
    mids = {i.tradingsymbol: 100.25 for i in instruments}
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), retry_policy=fast_retries(),
                             config=EngineConfig(late_order_watch_s=120.0))
    rows: list[dict[str, Any]] = []
    lock = threading.Condition()

    def collect(row: dict[str, Any]) -> None:
        with lock:
            rows.append(row)
            lock.notify_all()

    engine.add_listener(collect)
    stop = threading.Event()
    expired_at: list[float] = []

    def market() -> None:  # the market moves, depth comes back, faults hit the ticker
        started = time.monotonic()
        next_drop = plan.ticker_drop_every_s or float("inf")
        silenced = False
        while not stop.wait(0.4):
            elapsed = time.monotonic() - started
            for symbol in sorted(mids):
                mids[symbol] = max(5.0, mids[symbol] + rng.choice([-0.5, -0.25, 0.0, 0.25,
                                                                  0.5]))
                half = plan.spread / 2
                server.set_quote(symbol, bid=round(mids[symbol] - half, 2),
                                 ask=round(mids[symbol] + half, 2))
            if elapsed >= next_drop:
                server.drop_ticker()
                next_drop += plan.ticker_drop_every_s
            if plan.ticker_silence_at_s is not None and not silenced \
                    and elapsed >= plan.ticker_silence_at_s:
                server.silence_ticker(True)
                silenced = True
                threading.Timer(3.0, server.silence_ticker, args=(False,)).start()
            if plan.token_expiry_at_s is not None and not expired_at \
                    and elapsed >= plan.token_expiry_at_s:
                expired_at.append(time.time())
                server.expire_session()

    mover = threading.Thread(target=market, name="soak-market", daemon=True)
    started = time.monotonic()
    mover.start()
    futures = []
    hung: list[str] = []
    try:
        for payload in _requests(plan, instruments):
            try:
                futures.append(engine.submit(ExecutionRequest.model_validate(payload)))
            except RuntimeError:  # the session expired while submitting: refused, clearly
                break
        results: dict[str, ExecutionResult] = {}
        # Like a trader: whatever still works (a limit the market never came back to) after
        # the run's time is cancelled with the kill switch, which must end it too; so is what
        # a lost session halted (this trader does not log in again).
        deadline = time.monotonic() + plan.run_s
        pending = list(futures)
        while pending and time.monotonic() < deadline and engine.session_lost is None:
            parent_id, future = pending[0]
            try:
                results[parent_id] = future.result(min(0.5, deadline - time.monotonic()))
                pending.pop(0)
            except concurrent.futures.TimeoutError:
                continue
        working = sum(1 for _, future in futures if not future.done())
        if working:
            why = "the session is lost" if engine.session_lost is not None \
                else f"after {plan.run_s:g} s"
            say(f"{working} parents still working ({why}): kill switch")
            engine.cancel_all()
        for parent_id, future in futures:
            if parent_id not in results:
                try:
                    results[parent_id] = future.result(60.0)
                except concurrent.futures.TimeoutError:
                    hung.append(parent_id)
        # An order a fault held back turns up a moment after its parent ended (the kill
        # switch may come meanwhile): the engine's late-order watch cancels it, and says so.
        # Like a desk left open after the kill switch, wait for that (up to settle_s) before
        # shutting down: whatever is still not accounted for then is a duplicate.
        if engine.session_lost is None:
            with lock:
                lock.wait_for(lambda: _accounted_for(results, rows, server), plan.settle_s)
    finally:
        stop.set()
        mover.join(5.0)
        engine.shutdown(20.0)
        server.stop()
    report = SoakReport(seconds=time.monotonic() - started, parents=len(futures))
    with lock:
        all_rows = list(rows)
    report.unfinished.extend(hung)
    report.hung_rows = {p: [f"{r['event']}/{r['status']}: {r['message'] or r['error'] or ''}"
                            for r in all_rows if r["parent_id"] == p] for p in hung}
    check_invariants(report, results, all_rows, server)
    report.faults = server.fault_counts
    report.throttled_replies = server.throttled
    report.injected_throttles = server.injected_throttles
    if expired_at:
        report.requests_after_expiry = sum(1 for r in server.requests if r.at > expired_at[0]
                                           and r.route is not None)
    return report


def _accounted_for(results: dict[str, ExecutionResult], rows: list[dict[str, Any]],
                   server: FakeKiteServer) -> bool:
    """Whether every order the broker holds is one the engine reported (a result's order
    id, or one a ghost row names)."""
    known = {i for r in results.values() for i in r.order_ids}
    known |= {r["order_id"] for r in rows if r["event"] == "ghost" and r["order_id"]}
    return all(o["order_id"] in known for o in server.recorded_orders())


def check_invariants(report: SoakReport, results: dict[str, ExecutionResult],
                     rows: list[dict[str, Any]], server: FakeKiteServer) -> None:
    """What must hold whatever the faults (see the module's text), written into ``report``:
    ``results`` by parent id, ``rows`` every row the engine wrote, ``server`` the fake."""
    orders = server.recorded_orders()
    report.orders_at_broker = len(orders)
    report.requests = Counter(r.route or "?" for r in server.requests)
    report.events = Counter(r["event"] for r in rows)
    report.statuses = Counter(str(r.status) for r in results.values())
    known = {i for r in results.values() for i in r.order_ids}
    known |= {r["order_id"] for r in rows if r["event"] == "ghost" and r["order_id"]}
    by_parent: dict[str, int] = Counter()
    # Orders the engine said it lost sight of (a session lost while they worked): they may
    # keep filling at the exchange where no engine can see; what it reported must still match
    # everything it could see, and the rest must be on these orders only.
    flagged = {r["order_id"] for r in rows if r["status"] == "unknown" and r["order_id"]}
    seen_fills: Counter[str] = Counter()
    for r in rows:
        if r["event"] in ("filled", "ghost") and r["order_id"] and r["filled_quantity"]:
            seen_fills[r["order_id"]] += int(r["filled_quantity"])
    unseen_flagged: Counter[str] = Counter()
    for order in orders:
        tag = order.get("tag") or ""
        parent_id = tag[:10]
        by_parent[parent_id] += int(order["filled_quantity"])
        if order["order_id"] in flagged:
            unseen_flagged[parent_id] += int(order["filled_quantity"]) \
                - seen_fills[order["order_id"]]
        if order["order_id"] not in known:
            report.duplicates.append(f"{order['order_id']} (tag {tag}, "
                                     f"{order['status']}, filled {order['filled_quantity']})")
    finished = Counter(r["parent_id"] for r in rows if r["event"] == "finished")
    for parent_id, result in results.items():
        if finished[parent_id] != 1:
            report.unfinished.append(parent_id)
        if by_parent[parent_id] > result.quantity:
            report.overfilled.append(f"{parent_id}: {by_parent[parent_id]}/{result.quantity}")
        counted_late = sum(int(r["filled_quantity"] or 0) for r in rows
                           if r["event"] == "ghost" and r["parent_id"] == parent_id
                           and "after the parent finished" in (r["message"] or ""))
        expected = by_parent[parent_id] - unseen_flagged[parent_id]
        if result.filled_quantity + counted_late != expected:
            report.fill_mismatches.append(
                f"{parent_id}: reported {result.filled_quantity} (+{counted_late} after "
                f"finish), broker {by_parent[parent_id]} ({unseen_flagged[parent_id]} of it "
                "on orders flagged as possibly live after the engine lost sight of them)")
        report.filled_out_of_sight += unseen_flagged[parent_id]
    terminal = {"error", "rejected", "cancelled"}
    per_child: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["child_id"] is not None and row["event"] != "ghost":
            per_child.setdefault(row["child_id"], []).append(row)
    report.children = len(per_child)
    for child_id, child_rows in per_child.items():
        ends = sum(1 for r in child_rows if r["event"] in terminal)
        ends += any(r["event"] == "filled" and r["status"] == "filled" for r in child_rows)
        if ends != 1:
            report.children_without_one_terminal_row.append(
                f"{child_id}: {[r['event'] + '/' + str(r['status']) for r in child_rows]}")


__all__ = ["FaultyKiteServer", "SoakPlan", "SoakReport", "check_invariants", "fast_retries",
           "open_faulty_kite", "run_soak"]
