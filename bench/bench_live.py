"""The live path under Kite's limits, before vs after, side by side in one run.

What is measured: ExecutionEngine (mode "live", RealClock) -> KiteBroker -> the real kiteconnect
client (2 s timeout) -> ``imperium_exec.testing.FakeKiteServer`` on loopback, with Kite's rate
limits (1 quote/s, 10 order writes/s, 10 other reads/s) and 120 NIFTY option instruments quoted
at 100.00 / 100.05 (one tick, 50 lots a side). Three scenarios, each run in a fresh process
with a fresh server:

1. ``first``: N IMMEDIATE MARKET BUY parents (1 lot, one strike each) submitted at once. Per
   parent, the time from its ``submit()`` to the first accepted ``POST /orders/regular`` whose
   tag starts with its parent id (server side; the engine's "placed" rows only if no tag
   matches); first / median / last over the parents, quote calls, 429 replies. At 33b1efb
   "first" for N=100 is bimodal (42-98 s): the first place call queues in the FIFO pool behind
   however many quote calls were queued when the first quote came back, a race with the
   submit loop; the median and last parent are stable.
2. ``twap``: K concurrent TWAP parents (5 lots, 5 children, 15 s horizon, no randomisation,
   MARKET, one strike each). Lateness = finish - submit - horizon (an on-time 15 s TWAP whose
   last slice goes at 12 s finishes about -2.5 s "late"); the gap between a child's planned
   ``send_at`` and its POST reaching the server; the most quote requests the server got in one
   calendar second; 429 replies.
3. ``kill``: 20 LIMIT parents resting (limit 95 under a 100 bid), then 30 MARKET parents
   submitted, then ``engine.cancel_all()``: 1 s after those submits (work still queued), and
   separately at the moment the first MARKET order reaches the server (placements flowing;
   ``--kill-at``). Orders that reached the server after ``cancel_all()`` returned (counted
   until the engine has shut down), the units they filled, and the time until every resting
   order shows CANCELLED on the server.

The server is subclassed here to log every reply (time received, route, HTTP status, tag), so
429s are counted where they happen. Only the API common to 33b1efb and later is driven; newer
hooks (``KiteBroker(ticker_root=...)`` with ``FakeKiteServer.ticker_root``) are detected and
used when present, and the features used are printed.

How before/after share one run: the baseline commit (``--before``, default 33b1efb) is checked
out as a temporary ``git worktree``; "after" is this working tree (or ``--after DIR|REV``). Each
scenario runs in a child process (``--tree DIR``) that imports ``imperium_exec`` from that
tree: PYTHONPATH alone beats the editable install for ``imperium_exec`` itself but not for
``imperium_exec.resources`` (the editable finder maps it to /work/main/resources), so the child
drops the editable finder and maps the tree's ``[tool.setuptools.package-dir]``, then checks
every ``imperium_exec*`` module comes from the tree. Sides alternate (before, after, before,
after, ...) for ``--repeat`` rounds so noise hits both alike; the table shows medians.

Run: ``.venv/bin/python bench/bench_live.py [--quick] [--repeat 3] [--out bench/results_live.md]``
(``--only before`` validates the harness on the baseline alone). Read the ratios, not the
absolute seconds: the machines are shared.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import datetime as dt
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imperium_exec.engine.execution_engine import ExecutionEngine, ExecutionResult
    from imperium_exec.request import ExecutionRequest
    from imperium_exec.testing import FakeKiteServer

REPO = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH-LIVE-RESULT "
SIDES = ("before", "after")

# Workload constants (both sides get exactly the same).
INSTRUMENTS = 120
LOT = 65
FREEZE = 1800
TICK = 0.05
BID, ASK = 100.0, 100.05
REST_LIMIT = 95.0
TWAP_HORIZON_S = 15.0
TWAP_CHILDREN = 5
KILL_RESTING = 20
KILL_MARKET = 30
#: Placements reaching the server this soon after cancel_all() were already on the wire.
IN_FLIGHT_S = 0.1

#: Kill triggers: seconds after the MARKET parents were submitted, or "first" (the moment the
#: first MARKET order reaches the server, i.e. placements are flowing).
FULL_PARAMS: dict[str, list[str]] = {"first": ["10", "40", "100"], "twap": ["1", "5", "10", "20"],
                                     "kill": ["1", "first"]}
QUICK_PARAMS: dict[str, list[str]] = {"first": ["10", "40"], "twap": ["1", "5", "10"],
                                      "kill": ["1", "first"]}
TITLES = {"first": "Time to first order, N IMMEDIATE MARKET parents",
          "twap": "TWAP lateness, K concurrent 15 s / 5-child TWAPs",
          "kill": f"Kill switch: {KILL_RESTING} LIMIT resting + {KILL_MARKET} MARKET queued, "
                  "then cancel_all()"}
PARAM_NAMES = {"first": "N", "twap": "K", "kill": "kill at"}


# ====================================================================== child: load a tree


class _TreeFinder(importlib.abc.MetaPathFinder):
    """Imports ``imperium_exec`` and its mapped sub-packages from one source tree only."""

    def __init__(self, mapping: dict[str, Path]) -> None:
        self.mapping = mapping

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        where = self.mapping.get(fullname)
        if where is None or not (where / "__init__.py").is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, where / "__init__.py", submodule_search_locations=[str(where)])


def package_dirs(tree: Path) -> dict[str, Path]:
    """The tree's own ``[tool.setuptools.package-dir]`` (what the editable install maps)."""
    mapping = {"imperium_exec": tree / "imperium_exec"}
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError, AttributeError):
        config = tomllib.loads((tree / "pyproject.toml").read_text("utf-8"))
        dirs = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
        for name, rel in dirs.items():
            if name.startswith("imperium_exec"):
                mapping[name] = tree / rel
    return mapping


def load_tree(tree: Path) -> str:
    """Make ``import imperium_exec`` resolve to ``tree`` and prove it; returns ``__file__``."""
    if any(m == "imperium_exec" or m.startswith("imperium_exec.") for m in sys.modules):
        raise SystemExit("imperium_exec was imported before the tree was chosen")
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path_hooks[:] = [h for h in sys.path_hooks
                         if not getattr(h, "__module__", "").startswith("__editable__")]
    sys.path_importer_cache.clear()
    sys.path.insert(0, str(tree))
    sys.meta_path.insert(0, _TreeFinder(package_dirs(tree)))
    package = importlib.import_module("imperium_exec")
    for name in ("imperium_exec.engine.execution_engine", "imperium_exec.brokers.kite.broker",
                 "imperium_exec.testing", "imperium_exec.telemetry", "imperium_exec.resources"):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(name)
    outside = [f"{name}: {module.__file__}" for name, module in list(sys.modules.items())
               if (name == "imperium_exec" or name.startswith("imperium_exec."))
               and getattr(module, "__file__", None)
               and not Path(str(module.__file__)).resolve().is_relative_to(tree)]
    if outside:
        raise SystemExit(f"modules loaded from outside {tree}: {outside}")
    return str(package.__file__)


# ====================================================================== child: the desk


@dataclass(slots=True)
class Hit:
    """One request as the server answered it."""

    at: float
    route: str
    status: int | None
    tag: str | None


def route_of(method: str, path: str) -> str:
    if path == "/orders":
        return "orders"
    if path.startswith("/orders/"):
        return {"POST": "place", "DELETE": "cancel", "PUT": "modify"}.get(method, "order_read")
    if path.startswith("/quote"):
        return "quote"
    return "other"


def counting_server_class(base: type[FakeKiteServer]) -> type[FakeKiteServer]:
    """``base`` with every reply logged in ``hits`` (route, status, tag, time received)."""

    class CountingServer(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.hits: list[Hit] = []

        def handle(self, *args: Any, **kwargs: Any) -> Any:
            at = time.time()
            reply = super().handle(*args, **kwargs)
            method = str(args[0] if args else kwargs.get("method", ""))
            path = str(args[1] if len(args) > 1 else kwargs.get("path", ""))
            form = args[3] if len(args) > 3 else kwargs.get("form") or {}
            tag = form.get("tag") if isinstance(form, dict) else None
            status = getattr(reply, "status", None)
            self.hits.append(Hit(at, route_of(method, path),
                                 status if isinstance(status, int) else None, tag))
            return reply

    return CountingServer


@dataclass
class Desk:
    server: FakeKiteServer
    engine: ExecutionEngine
    broker: Any
    symbols: list[str]
    features: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hits(self) -> list[Hit]:
        return list(getattr(self.server, "hits", []))

    def request(self, symbol: str, **kw: Any) -> ExecutionRequest:
        from imperium_exec.request import ExecutionRequest

        base: dict[str, Any] = dict(tradingsymbol=symbol, exchange="NFO", side="BUY",
                                    quantity=LOT, lot_size=LOT, tick_size=TICK,
                                    freeze_quantity=FREEZE, bid=BID, ask=ASK, ltp=BID)
        base.update(kw)
        return ExecutionRequest.model_validate(base)

    def submit(self, symbol: str, **kw: Any) -> tuple[str, float,
                                                      concurrent.futures.Future[ExecutionResult]]:
        req = self.request(symbol, **kw)
        at = time.time()
        parent_id, future = self.engine.submit(req)
        return parent_id, at, future

    def close(self, shutdown_s: float) -> None:
        self.engine.shutdown(shutdown_s)
        closer = getattr(self.broker, "close", None)
        if callable(closer):
            with contextlib.suppress(Exception):
                closer()
        self.server.stop()


def parameters(func: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return set()


BASELINE_ENGINE_CONFIG = {"broker_threads", "poll_interval_s", "cancel_timeout_s",
                          "late_order_watch_s", "stale_quote_s", "id_seed"}
BASELINE_BROKER_PARAMS = {"self", "kite", "tick_size", "quote_ttl_s", "quotes_per_second",
                          "order_writes_per_second", "order_book_reads_per_second"}


def open_desk(client_timeout: float, telemetry_dir: Path, count: int = INSTRUMENTS) -> Desk:
    from kiteconnect import KiteConnect

    from imperium_exec.brokers import KiteBroker
    from imperium_exec.clock import RealClock
    from imperium_exec.engine.execution_engine import EngineConfig, ExecutionEngine
    from imperium_exec.telemetry import FillQualityTracker
    from imperium_exec.testing import FakeInstrument, FakeKiteServer

    features: list[str] = []
    instruments = [
        FakeInstrument(f"NIFTY26D01{20000 + 50 * i}CE", "NFO", "NIFTY", 13_000_001 + i, LOT,
                       FREEZE, TICK, float(20000 + 50 * i), "2026-12-01", "CE")
        for i in range(count)]
    server_kw: dict[str, Any] = {"instruments": instruments}
    if "request_log_size" in parameters(FakeKiteServer.__init__):
        server_kw["request_log_size"] = 1_000_000
    server = counting_server_class(FakeKiteServer)(**server_kw)
    server.start()
    for inst in instruments:
        server.set_quote(inst.tradingsymbol, bid=BID, ask=ASK)

    kite = KiteConnect(api_key="k", access_token="t", root=server.root, timeout=client_timeout)
    broker_params = parameters(KiteBroker.__init__)
    broker_kw: dict[str, Any] = {}
    # Reading FakeKiteServer.ticker_root starts the fake ticker: only when it will be used.
    fake_has_ticker = hasattr(type(server), "ticker_root")
    if "ticker_root" in broker_params and fake_has_ticker:
        broker_kw["ticker_root"] = server.ticker_root
        features.append("KiteBroker(ticker_root=FakeKiteServer.ticker_root): streaming")
    elif "ticker_root" in broker_params:
        features.append("KiteBroker takes ticker_root but the fake has none: REST only")
    elif fake_has_ticker:
        features.append("FakeKiteServer.ticker_root exists but KiteBroker takes no "
                        "ticker_root: REST only")
    extra_broker = sorted(broker_params - BASELINE_BROKER_PARAMS - {"ticker_root"})
    if extra_broker:
        features.append(f"new KiteBroker params (defaults): {', '.join(extra_broker)}")
    extra_config = sorted(set(getattr(EngineConfig, "__dataclass_fields__", {}))
                          - BASELINE_ENGINE_CONFIG)
    if extra_config:
        features.append(f"new EngineConfig fields (defaults): {', '.join(extra_config)}")
    broker = KiteBroker(kite, **broker_kw)
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(),
                             tracker=FillQualityTracker("live", telemetry_dir),
                             config=EngineConfig())
    desk = Desk(server, engine, broker, [i.tradingsymbol for i in instruments], features)
    engine.add_listener(desk.rows.append)
    return desk


# ====================================================================== child: scenarios


Metric = dict[str, Any]


def metric(name: str, value: float | None, unit: str) -> Metric:
    return {"name": name, "value": value, "unit": unit}


def wait_until(condition: Callable[[], bool], deadline: float, interval: float = 0.02) -> bool:
    while not condition():
        if time.time() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_futures(futures: Sequence[concurrent.futures.Future[Any]], deadline: float) -> bool:
    _, pending = concurrent.futures.wait(futures, timeout=max(0.0, deadline - time.time()))
    return not pending


def owner(tag: str | None, parent_ids: Sequence[str]) -> str | None:
    if not tag:
        return None
    return next((p for p in parent_ids if tag.startswith(p)), None)


def first_orders(desk: Desk, hits: list[Hit], parent_ids: Sequence[str],
                 until: float) -> tuple[dict[str, float], str]:
    """Per parent: when its first accepted placement reached the server (source named)."""
    first: dict[str, float] = {}
    accepted = [h for h in hits if h.route == "place" and h.status == 200 and h.at <= until]
    for hit in accepted:
        pid = owner(hit.tag, parent_ids)
        if pid is not None and pid not in first:
            first[pid] = hit.at
    if first or not accepted:  # tags no longer start with the parent id: use the rows
        return first, "server POST /orders by tag"
    for row in list(desk.rows):
        pid = str(row.get("parent_id"))
        if row.get("event") == "placed" and pid in parent_ids and pid not in first \
                and row.get("ts") is not None and float(row["ts"]) <= until:
            first[pid] = float(row["ts"])
    return first, "engine 'placed' rows"


def count_429(hits: list[Hit], routes: tuple[str, ...] | None = None) -> int:
    return sum(1 for h in hits if h.status == 429 and (routes is None or h.route in routes))


def per_second_max(hits: list[Hit], route: str, start: float, end: float) -> int:
    seconds = collections.Counter(int(h.at) for h in hits
                                  if h.route == route and start <= h.at <= end)
    return max(seconds.values(), default=0)


def filled(future: concurrent.futures.Future[ExecutionResult]) -> bool:
    if not future.done() or future.exception() is not None:
        return False
    result = future.result()
    return bool(result.filled_quantity >= result.quantity)


def stamp_when_done(future: concurrent.futures.Future[ExecutionResult], parent_id: str,
                    finished: dict[str, float]) -> None:
    def stamp(_: concurrent.futures.Future[ExecutionResult]) -> None:
        finished.setdefault(parent_id, time.time())

    future.add_done_callback(stamp)


def scenario_first(desk: Desk, n: int, deadline: float) -> tuple[list[Metric], bool, list[str]]:
    submitted: dict[str, float] = {}
    finished: dict[str, float] = {}
    futures = []
    start = time.time()
    for symbol in desk.symbols[:n]:
        pid, at, future = desk.submit(symbol)
        submitted[pid] = at
        stamp_when_done(future, pid, finished)
        futures.append(future)
    submitted_all = time.time()
    done = wait_futures(futures, deadline)
    end = time.time()
    hits = desk.hits
    first, source = first_orders(desk, hits, list(submitted), end)
    waits = sorted(first[p] - submitted[p] for p in submitted if p in first)
    complete = len(waits) == n
    return ([
        metric("submit() loop (s)", submitted_all - start, "s"),
        metric("parents with an order", len(waits), "count"),
        metric("first (s)", waits[0] if waits else None, "s"),
        metric("first order on the server, after the first submit (s)",
               min(first.values()) - start if first else None, "s"),
        metric("median parent (s)", statistics.median(waits) if complete else None, "s"),
        metric("last parent (s)", waits[-1] if complete else None, "s"),
        metric("all parents finished (s)",
               max(finished.values()) - start if done and finished else None, "s"),
        metric("parents filled", sum(filled(f) for f in futures), "count"),
        metric("quote requests", sum(1 for h in hits if h.route == "quote"), "count"),
        metric("429 replies, all routes", count_429(hits), "count"),
        metric("429 replies, order writes", count_429(hits, ("place", "cancel")), "count"),
    ], not done, [f"first order from {source}"])


def scenario_twap(desk: Desk, k: int, deadline: float) -> tuple[list[Metric], bool, list[str]]:
    submitted: dict[str, float] = {}
    finished: dict[str, float] = {}
    futures = []
    start = time.time()
    for symbol in desk.symbols[:k]:
        pid, at, future = desk.submit(symbol, quantity=TWAP_CHILDREN * LOT,
                                      execution_algo="TWAP", max_child_orders=TWAP_CHILDREN,
                                      horizon_s=TWAP_HORIZON_S, randomize_slices=False)
        submitted[pid] = at
        stamp_when_done(future, pid, finished)
        futures.append(future)
    done = wait_futures(futures, deadline)
    end = time.time()
    hits = desk.hits
    lateness = sorted(finished[p] - submitted[p] - TWAP_HORIZON_S for p in submitted
                      if p in finished)
    complete = len(lateness) == k
    accepted = {h.tag: h.at for h in hits if h.route == "place" and h.status == 200 and h.tag}
    gaps: list[float] = []
    notes: list[str] = []
    for row in list(desk.rows):
        if row.get("event") != "placed" or row.get("parent_id") not in submitted:
            continue
        send_at = row.get("send_at")
        if send_at is None:
            continue
        sent = accepted.get(row.get("tag") or "", row.get("ts"))
        if sent is not None:
            gaps.append(float(sent) - float(send_at))
    if not gaps:
        notes.append("no 'placed' row carried send_at: send gap not derived")
    return ([
        metric("parents finished", len(lateness), "count"),
        metric("lateness median (s)", statistics.median(lateness) if complete else None, "s"),
        metric("lateness max (s)", lateness[-1] if complete else None, "s"),
        metric("send gap median (s)", statistics.median(gaps) if gaps else None, "s"),
        metric("send gap max (s)", max(gaps) if gaps else None, "s"),
        metric("parents filled", sum(filled(f) for f in futures), "count"),
        metric("quote requests", sum(1 for h in hits if h.route == "quote"), "count"),
        metric("quote requests in one second, max", per_second_max(hits, "quote", start, end),
               "count"),
        metric("429 replies, all routes", count_429(hits), "count"),
        metric("429 replies, order writes", count_429(hits, ("place", "cancel")), "count"),
    ], not done, notes)


def scenario_kill(desk: Desk, trigger: str, deadline: float,
                  shutdown_s: float) -> tuple[list[Metric], bool, list[str]]:
    resting_n, market_n = KILL_RESTING, KILL_MARKET
    limit_ids: list[str] = []
    market_ids: list[str] = []
    futures = []
    start = time.time()
    for symbol in desk.symbols[:resting_n]:
        pid, _, future = desk.submit(symbol, order_type="LIMIT", limit_price=REST_LIMIT)
        limit_ids.append(pid)
        futures.append(future)

    def resting() -> dict[str, str]:
        """order_id -> status of the LIMIT parents' orders, on the server."""
        return {o["order_id"]: o["status"] for o in desk.server.recorded_orders()
                if owner(o.get("tag"), limit_ids) is not None}

    def all_resting() -> bool:
        book = resting()
        return len(book) >= resting_n and all(s == "OPEN" for s in book.values())

    notes: list[str] = []
    if not wait_until(all_resting, deadline):
        notes.append("the LIMIT parents never all rested")
        return [metric("LIMIT parents resting after (s)", None, "s")], True, notes
    rested_at = time.time()
    resting_ids = set(resting())
    for symbol in desk.symbols[resting_n:resting_n + market_n]:
        pid, _, future = desk.submit(symbol)
        market_ids.append(pid)
        futures.append(future)
    market_at = time.time()
    if trigger == "first":
        def market_order_seen() -> bool:
            return any(h.route == "place" and h.status == 200
                       and owner(h.tag, market_ids) is not None for h in desk.hits)

        if not wait_until(market_order_seen, deadline, 0.005):
            notes.append("no MARKET order reached the server: killed at the deadline")
    else:
        time.sleep(max(0.0, min(float(trigger), deadline - time.time())))
    desk.engine.cancel_all()
    killed = time.time()

    cancelled: dict[str, float] = {}

    def all_cancelled() -> bool:
        now = time.time()
        for order_id, status in resting().items():
            if order_id in resting_ids and status == "CANCELLED":
                cancelled.setdefault(order_id, now)
        return len(cancelled) == len(resting_ids)

    finished_ok = wait_until(all_cancelled, deadline)
    done = wait_futures(futures, deadline)
    done_at = time.time()
    desk.engine.shutdown(shutdown_s)  # orders sent while shutting down count as leaks too
    hits = desk.hits
    after = [h for h in hits if h.route == "place" and h.status == 200 and h.at > killed]
    before = [h for h in hits if h.route == "place" and h.status == 200 and h.at <= killed
              and owner(h.tag, market_ids) is not None]
    tags_after = {h.tag for h in after}
    units_after = sum(int(o.get("filled_quantity") or 0)
                      for o in desk.server.recorded_orders() if o.get("tag") in tags_after)
    cancels = [h for h in hits if h.route == "cancel"]
    return ([
        metric("LIMIT parents resting after (s)", rested_at - start, "s"),
        metric("kill, after the MARKET submits (s)", killed - market_at, "s"),
        metric("MARKET orders placed before the kill", len(before), "count"),
        metric("orders reaching the server after the kill", len(after), "count"),
        metric(f"... of them more than {IN_FLIGHT_S:g} s after it", sum(
            1 for h in after if h.at - killed > IN_FLIGHT_S), "count"),
        metric("last of them, after the kill (s)",
               max(h.at for h in after) - killed if after else None, "s"),
        metric("units filled by them", units_after, "count"),
        metric("first resting order CANCELLED (s)",
               min(cancelled.values()) - killed if cancelled else None, "s"),
        metric("every resting order CANCELLED (s)",
               max(cancelled.values()) - killed if finished_ok else None, "s"),
        metric("all parents finished (s)", done_at - killed if done else None, "s"),
        metric("cancel requests", len(cancels), "count"),
        metric("cancel requests refused", sum(1 for h in cancels if h.status != 200), "count"),
        metric("429 replies, all routes", count_429(hits), "count"),
    ], not (finished_ok and done), notes)


def child_main(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve()
    started = time.time()
    module_file = load_tree(tree)
    print(f"[child] imperium_exec from {module_file}", file=sys.stderr, flush=True)
    deadline = started + args.timeout
    with tempfile.TemporaryDirectory(prefix="bench-live-telemetry-") as tmp:
        needed = int(args.param) if args.scenario in ("first", "twap") else 0
        desk = open_desk(args.client_timeout, Path(tmp), max(INSTRUMENTS, needed))
        try:
            if args.scenario == "first":
                metrics, timed_out, notes = scenario_first(desk, int(args.param), deadline)
            elif args.scenario == "twap":
                metrics, timed_out, notes = scenario_twap(desk, int(args.param), deadline)
            else:
                metrics, timed_out, notes = scenario_kill(desk, args.param, deadline,
                                                          args.shutdown)
        finally:
            desk.close(args.shutdown)
        result = {"module": module_file, "features": desk.features, "metrics": metrics,
                  "timed_out": timed_out, "notes": notes, "wall_s": time.time() - started}
        print(RESULT_PREFIX + json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # pool threads still sleeping in a pacer must not hold the process


# ====================================================================== parent: orchestration


@dataclass
class Run:
    side: str
    status: str  # ok, timeout, killed, error
    metrics: list[Metric] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    module: str = ""
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class Side:
    name: str
    tree: Path
    label: str


def describe_tree(tree: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                              check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain",
                                "--untracked-files=no", "--", "imperium_exec"],
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(tree)
    return f"{head}{' + uncommitted changes in imperium_exec/' if dirty else ''}"


def run_child(side: Side, scenario: str, param: str, args: argparse.Namespace,
              workdir: Path) -> Run:
    command = [sys.executable, str(Path(__file__).resolve()), "--tree", str(side.tree),
               "--scenario", scenario, "--param", param, "--timeout", str(args.timeout),
               "--client-timeout", str(args.client_timeout), "--shutdown", str(args.shutdown)]
    env = dict(os.environ, PYTHONPATH=str(side.tree), PYTHONDONTWRITEBYTECODE="1")
    hard = args.timeout + 3 * args.shutdown + 30.0
    started = time.time()
    try:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=hard)
    except subprocess.TimeoutExpired:
        return Run(side.name, "killed", wall_s=time.time() - started,
                   notes=[f"killed after {hard:g} s"])
    wall = time.time() - started
    line = next((ln for ln in reversed(done.stdout.splitlines())
                 if ln.startswith(RESULT_PREFIX)), None)
    if line is None:
        tail = "\n".join((done.stderr or "").splitlines()[-25:])
        print(f"  ! {side.name} {scenario} {param}: exit {done.returncode}\n{tail}",
              file=sys.stderr)
        return Run(side.name, "error", wall_s=wall, notes=[f"exit {done.returncode}"])
    data = json.loads(line[len(RESULT_PREFIX):])
    module = str(data["module"])
    if not Path(module).resolve().is_relative_to(side.tree.resolve()):
        raise SystemExit(f"{side.name}: imperium_exec came from {module}, not {side.tree}")
    return Run(side.name, "timeout" if data["timed_out"] else "ok", data["metrics"],
               data["features"], module, data["notes"], wall)


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def cell(runs: list[Run], name: str, timeout: float) -> tuple[str, float | None]:
    if not runs:
        return "—", None
    values: list[float] = []
    unit = "count"
    missing: list[str] = []
    for run in runs:
        found = next((m for m in run.metrics if m["name"] == name), None)
        if found is not None:
            unit = found["unit"]
        if found is not None and found["value"] is not None:
            values.append(float(found["value"]))
        elif run.status in ("timeout", "killed"):
            missing.append("timed out")
        elif run.status == "error":
            missing.append("error")
        else:
            missing.append("n/a")
    if not values:
        reason = missing[0] if len(set(missing)) == 1 else "/".join(sorted(set(missing)))
        return (f"timed out after {timeout:g} s" if reason == "timed out" else reason), None
    middle = statistics.median(values)
    text = fmt(middle, unit)
    if len(values) > 1:
        text += f" ({fmt(min(values), unit)}–{fmt(max(values), unit)})"
    if missing:
        text += f", {len(missing)} of {len(runs)} runs {'/'.join(sorted(set(missing)))}"
    return text, middle


def ratio(before: float | None, after: float | None) -> str:
    if before is None or after is None or before <= 0 or after < 0:
        return "—"
    return f"{after / before:.2f}"


def param_label(scenario: str, param: str) -> str:
    if scenario != "kill":
        return param
    return "first MARKET order" if param == "first" else f"+{float(param):g} s"


def table(scenario: str, results: dict[str, dict[str, list[Run]]], timeout: float) -> list[str]:
    lines = [f"### {TITLES[scenario]}", "",
             f"| {PARAM_NAMES[scenario]} | metric | before | after | after/before |",
             "|---|---|---|---|---|"]
    for param, by_side in results.items():
        names: list[str] = []
        for runs in by_side.values():
            for run in runs:
                for m in run.metrics:
                    if m["name"] not in names:
                        names.append(m["name"])
        if not names:
            names = ["(no result)"]
        for i, name in enumerate(names):
            before_text, before_value = cell(by_side.get("before", []), name, timeout)
            after_text, after_value = cell(by_side.get("after", []), name, timeout)
            label = param_label(scenario, param) if i == 0 else ""
            lines.append(f"| {label} | {name} | {before_text} | {after_text} | "
                         f"{ratio(before_value, after_value)} |")
        walls = {side: statistics.median(r.wall_s for r in runs)
                 for side, runs in by_side.items() if runs}
        shown = {side: fmt(walls[side], "s") if side in walls else "—" for side in SIDES}
        lines.append(f"| | process wall time | {shown['before']} | {shown['after']} | "
                     f"{ratio(walls.get('before'), walls.get('after'))} |")
    lines.append("")
    return lines


def make_worktree(rev: str, parent: Path, name: str) -> Path:
    path = parent / name
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev],
                   check=True, capture_output=True, text=True)
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                   check=False, capture_output=True, text=True)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False,
                   capture_output=True, text=True)


def command_line() -> str:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(Path.cwd())
    return shlex.join([str(python), str(script), *sys.argv[1:]])


def parent_main(args: argparse.Namespace) -> int:
    started = time.time()
    wanted = [s for s in SIDES if args.only in (None, s)]
    params = dict(QUICK_PARAMS if args.quick else FULL_PARAMS)
    if args.n:
        params["first"] = [str(n) for n in args.n]
    if args.k:
        params["twap"] = [str(k) for k in args.k]
    if args.kill_at:
        params["kill"] = args.kill_at
    scenarios = args.scenarios or ["first", "twap", "kill"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    worktrees: list[Path] = []
    try:
        sides: list[Side] = []
        if "before" in wanted:
            tree = make_worktree(args.before, tmp, "before")
            worktrees.append(tree)
            sides.append(Side("before", tree, f"{describe_tree(tree)} "
                                              f"(`--before {args.before}`, temporary worktree)"))
        if "after" in wanted:
            if args.after is None:
                sides.append(Side("after", REPO, f"{describe_tree(REPO)} (working tree {REPO})"))
            elif Path(args.after).is_dir():
                tree = Path(args.after).resolve()
                sides.append(Side("after", tree, f"{describe_tree(tree)} (tree {tree})"))
            else:
                tree = make_worktree(args.after, tmp, "after")
                worktrees.append(tree)
                sides.append(Side("after", tree, f"{describe_tree(tree)} "
                                                 f"(`--after {args.after}`, temporary worktree)"))
        workdir = tmp / "cwd"
        workdir.mkdir()
        for side in sides:
            print(f"{side.name}: {side.label}", file=sys.stderr)

        results: dict[str, dict[str, dict[str, list[Run]]]] = {}
        for scenario in scenarios:
            results[scenario] = {}
            for param in params[scenario]:
                by_side: dict[str, list[Run]] = {s.name: [] for s in sides}
                results[scenario][param] = by_side
                for round_ in range(args.repeat):
                    for side in sides:
                        run = run_child(side, scenario, param, args, workdir)
                        by_side[side.name].append(run)
                        print(f"[{time.time() - started:7.1f} s] {scenario} "
                              f"{PARAM_NAMES[scenario]}={param} round {round_ + 1} "
                              f"{side.name}: {run.status} in {run.wall_s:.1f} s",
                              file=sys.stderr, flush=True)
    finally:
        for tree in worktrees:
            remove_worktree(tree)
        shutil.rmtree(tmp, ignore_errors=True)

    total = time.time() - started
    features: dict[str, set[str]] = {s.name: set() for s in sides}
    modules: dict[str, set[str]] = {s.name: set() for s in sides}
    notes: dict[str, set[str]] = {s.name: set() for s in sides}
    for by_param in results.values():
        for by_side in by_param.values():
            for name, runs in by_side.items():
                for run in runs:
                    features[name].update(run.features)
                    notes[name].update(run.notes)
                    if run.module:
                        modules[name].add(run.module)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    out = ["# Live path against the fake Kite server: before vs after", "",
           f"`bench/bench_live.py`, {stamp}, {cpus} CPUs (nproc), load average at the end "
           f"{load}. Real kiteconnect 5.2.2 client ({args.client_timeout:g} s timeout), "
           f"FakeKiteServer with Kite's rate limits and {INSTRUMENTS} NIFTY options quoted "
           f"{BID:.2f} / {ASK:.2f}, real clock. Medians over {args.repeat} round(s), before "
           "and after alternated (min–max in brackets); every scenario in a fresh process "
           f"with a fresh server; per-run timeout {args.timeout:g} s.", "",
           f"Command: `{command_line()}`", ""]
    for side in sides:
        used = "; ".join(sorted(features[side.name])) or "baseline API only"
        out.append(f"- **{side.name}**: {side.label}; imperium_exec from "
                   f"{', '.join(sorted(modules[side.name])) or '?'}; features: {used}")
        if notes[side.name]:
            out.append(f"  - notes: {'; '.join(sorted(notes[side.name]))}")
    out.append("")
    for scenario in scenarios:
        out.extend(table(scenario, results[scenario], args.timeout))
    out.append(f"Total runtime {total / 60:.1f} min.")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, "utf-8")
        print(f"written to {args.out}", file=sys.stderr)
    return 0


def results(quick: bool) -> str:
    """The bench command's section: N IMMEDIATE parents on N symbols through this tree's live
    path (the real client and the fake Kite server), against the write floor (N / 10 s: Kite's
    10 order writes a second), each run in a fresh process."""
    started = time.time()
    sizes = [10] if quick else [10, 40, 100]
    rounds = 1 if quick else 2
    args = argparse.Namespace(timeout=180.0, client_timeout=2.0, shutdown=10.0)
    side = Side("after", REPO, describe_tree(REPO))
    body: list[str] = []
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as folder:
        workdir = Path(folder)
        for n in sizes:
            runs = [run_child(side, "first", str(n), args, workdir) for _ in range(rounds)]

            def values(name: str, runs: list[Run] = runs) -> list[float]:
                return [float(m["value"]) for r in runs for m in r.metrics
                        if m["name"] == name and m["value"] is not None]

            floor = n / 10
            earliest = float(-(-n // 10) - 1)  # the N-th write in calendar-second windows
            last, done = values("last parent (s)"), values("all parents finished (s)")
            quotes, throttled = values("quote requests"), values("429 replies, all routes")
            statuses = ", ".join(r.status for r in runs)
            if not last:
                body.append(f"| {n} | {floor:.1f} s | — | — | — | — | — | — | {statuses} |")
                continue
            worst = max(last)
            body.append(f"| {n} | {floor:.1f} s | {statistics.median(last):.2f} s "
                        f"({min(last):.2f}–{worst:.2f}) | "
                        f"{statistics.median(last) / floor:.2f}× | "
                        f"+{statistics.median(last) - earliest:.2f} s | "
                        f"{statistics.median(done):.2f} s | "
                        f"{max(quotes):.0f} | {max(throttled):.0f} | {statuses} |")
            summary.append(f"N={n}: last first order {statistics.median(last):.2f} s against "
                           f"the floor's {floor:.1f} s")
    lines = ["### Live path", "",
             "`bench/bench_live.py`, this tree only: N IMMEDIATE MARKET parents (one lot, one "
             "strike each) submitted at once to `ExecutionEngine` (live mode, real clock) -> "
             "`KiteBroker` -> the real kiteconnect client -> `FakeKiteServer` with Kite's "
             "limits (10 order writes/s, 1 quote call/s), each run in a fresh process with a "
             "fresh server. Per parent, from its `submit()` to its first accepted `POST "
             "/orders` at the server. The baseline is the write floor: N orders at 10 a "
             "second take N / 10 s; at the earliest, the N-th goes in the (⌈N/10⌉ - 1)-th "
             f"second (0 s for N = 10). {rounds} run(s) a size (median, min–max).", "",
             "| N | write floor | last parent's first order | × the floor | over the earliest "
             "| all finished | quote calls | 429 replies | runs |",
             "|---|---|---|---|---|---|---|---|---|",
             *body, "", "; ".join(summary) + ".",
             "", f"Measured in {time.time() - started:.1f} s."]
    return "\n".join(lines) + "\n"


def kill_trigger(text: str) -> str:
    if text != "first":
        try:
            float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("seconds or 'first'") from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--before", default="33b1efb", help="baseline git rev (a worktree)")
    parser.add_argument("--after", default=None,
                        help="tree dir or git rev for 'after' (default: this working tree)")
    parser.add_argument("--only", choices=SIDES, help="run one side only")
    parser.add_argument("--quick", action="store_true", help="N = 10, 40; K = 1, 5, 10")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per side (default 3)")
    parser.add_argument("--scenarios", nargs="+", choices=["first", "twap", "kill"])
    parser.add_argument("--n", type=int, nargs="+", help="parent counts for 'first'")
    parser.add_argument("--k", type=int, nargs="+", help="parent counts for 'twap'")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="per-run time budget in s (default 180)")
    parser.add_argument("--client-timeout", type=float, default=2.0)
    parser.add_argument("--kill-at", nargs="+", type=kill_trigger,
                        help="cancel_all() triggers for 'kill': seconds after the MARKET "
                             "submits, or 'first' (first MARKET order on the server); "
                             "default: 1 first")
    parser.add_argument("--shutdown", type=float, default=10.0,
                        help="engine.shutdown(timeout) in s")
    parser.add_argument("--out", help="also write the markdown here")
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=["first", "twap", "kill"], help=argparse.SUPPRESS)
    parser.add_argument("--param", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tree:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
