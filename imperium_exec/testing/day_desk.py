"""The day soak's desk (:mod:`.day_soak`): a process of its own, so that the driver can
SIGKILL it. ``python -m imperium_exec.testing.day_desk ROOT TICKER_ROOT JOURNAL_DIR PLAN_JSON
START RESTART`` reads the day's mix and sends it from item ``START`` on through one engine
writing the day's journal directory; a restarted desk (``RESTART`` 1) first recovers the day's
unfinished parents, adopts or cancels them, and goes on with the mix."""

from __future__ import annotations

import functools
import heapq
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .day_soak import DayPlan


def desk_main(argv: list[str]) -> int:  # pragma: no cover - runs in a subprocess
    """The desk: ``ROOT TICKER_ROOT JOURNAL_DIR PLAN_JSON START RESTART``."""
    from kiteconnect import KiteConnect

    from ..baskets.request import BasketRequest
    from ..brokers.kite.broker import KiteBroker
    from ..clock import RealClock
    from ..engine.config import EngineConfig, SessionExpired
    from ..engine.execution_engine import ExecutionEngine
    from ..engine.rate_budget import AccountRateLimits
    from ..recovery.journal import read_today, unfinished_today
    from ..request import ExecutionRequest
    from ..risk import RiskRefusal
    from ..telemetry import FillQualityTracker, history_end
    from .soak import fast_retries

    root, ticker_root, journal_dir, plan_path = argv[:4]
    start, restart = int(argv[4]), argv[5] == "1"
    spec = orjson.loads(Path(plan_path).read_bytes())
    plan = DayPlan(**spec["plan"])
    items: list[dict[str, Any]] = spec["items"]
    out_lock = threading.Lock()

    def say(*words: object) -> None:
        with out_lock:
            print(*words, flush=True)

    tracker = FillQualityTracker("live", journal_dir)
    journal = tracker.path
    end, _ = history_end(journal)
    kite = KiteConnect(api_key="k", access_token="t", root=root, timeout=2.0)
    broker = KiteBroker(kite, ticker_root=ticker_root, ticker_silence_s=2.0)
    engine = ExecutionEngine(
        broker, mode="live", clock=RealClock(), tracker=tracker, retry_policy=fast_retries(),
        config=EngineConfig(late_order_watch_s=60.0, rate_limits=AccountRateLimits(
            writes_per_day=plan.day_cap)))
    working: set[str] = set()
    lock = threading.Lock()
    finished: set[str] = set()  # parents with their finished row
    finished_said = threading.Condition()
    ambiguous_at = [-math.inf]  # the last placement whose outcome was unknown (monotonic)

    def note_row(row: dict[str, Any]) -> None:
        if row["event"] == "reconciling":
            ambiguous_at[0] = time.monotonic()
        if row["event"] == "finished":
            with finished_said:
                finished.add(row["parent_id"])
                finished_said.notify_all()

    engine.add_listener(note_row)

    def track(parent_ids: list[str], future: Any) -> None:
        with lock:
            working.update(parent_ids)

        def done(_: Any) -> None:
            with lock:
                working.difference_update(parent_ids)
        future.add_done_callback(done)

    timers: list[tuple[float, int, Callable[[], None]]] = []
    timer_seq = 0
    timer_lock = threading.Lock()

    def later(delay: float, fn: Callable[[], None]) -> None:
        nonlocal timer_seq
        with timer_lock:
            timer_seq += 1
            heapq.heappush(timers, (time.monotonic() + delay, timer_seq, fn))

    def run_timers() -> None:
        while True:
            time.sleep(0.1)
            due: list[Callable[[], None]] = []
            with timer_lock:
                while timers and timers[0][0] <= time.monotonic():
                    due.append(heapq.heappop(timers)[2])
            for fn in due:
                try:
                    fn()
                except Exception as exc:  # a parent already finished, a lost session
                    say("note", type(exc).__name__, str(exc).replace("\n", " ")[:120])

    threading.Thread(target=run_timers, daemon=True).start()

    def settle_orphans(report: Any, label: str) -> None:
        """Adopt every other orphan, cancel the rest once the adoptions are decided."""
        orphans = [o.parent_id for o in report.orphans]
        adopted = []
        for i, parent_id in enumerate(orphans):
            if i % 2 == 0:
                new_id, future = engine.adopt(parent_id, window_s=plan.adopt_window_s)
                adopted.append((parent_id, future))
                track([new_id], future)
        # The adoptions cancel their old orders and start: each held parent then ends (its
        # finished row), or its adoption is refused. (Generous, like the cancels below.)
        with finished_said:
            if not finished_said.wait_for(lambda: all(
                    parent_id in finished or future.done() for parent_id, future in adopted),
                    timeout=120):
                say("note", "adoptions still undecided after 120 s")
        asked = time.monotonic()
        # (Generous: each held parent's cancels are confirmed, under the soak's faults, on a
        # shared machine; how long it took is said.)
        cancelled = engine.cancel_orphans().result(600)
        say("note", f"cancel_orphans took {time.monotonic() - asked:.1f} s")
        refused = sum(1 for _, f in adopted if f.done() and f.exception() is not None)
        say(label, f"orphans={len(orphans)}", f"adopted={len(adopted) - refused}",
            f"refused={refused}", f"cancelled={len(cancelled)}",
            f"open_orders={len(report.open_orders)}",
            f"unknown={len(report.unknown_orders)}")

    if restart:
        now = time.time()
        day = unfinished_today(read_today(journal, now, end) if end else [], now)
        report = engine.recover(day, str(journal)).result(600)
        if report.error:
            say("recovery-error", report.error)
        settle_orphans(report, "recovered")

    def after_session_loss() -> None:
        say("session-lost", engine.session_lost)
        while True:
            try:
                report = engine.resume_session("t").result(30)
            except Exception as exc:
                say("note", "resume", type(exc).__name__)
                time.sleep(0.5)
                continue
            if report.error is None:
                break
            time.sleep(0.5)
        settle_orphans(report, "resumed")

    index = start
    while index < len(items):
        if engine.session_lost is not None:
            after_session_loss()
            continue
        with lock:
            busy = len(working)
        if busy >= plan.max_working:
            time.sleep(0.05)
            continue
        item = items[index]
        try:
            if item["kind"] == "kill_switch":
                engine.cancel_all()
                say("kill-switch", busy)
            elif item["kind"] == "basket":
                basket = BasketRequest.model_validate({"legs": item["legs"]})
                _, ids, bfuture = engine.submit_basket(basket)
                track(ids, bfuture)
            else:
                request = ExecutionRequest.model_validate(item["request"])
                parent_id, future = engine.submit(request)
                track([parent_id], future)
                if item["action"] == "pause":
                    later(plan.pause_after_s, functools.partial(engine.pause, parent_id))
                    later(plan.resume_after_s, functools.partial(engine.resume, parent_id))
                elif item["action"] == "cancel":
                    later(plan.cancel_after_s, functools.partial(engine.cancel, parent_id))
        except (SessionExpired, RuntimeError) as exc:
            if engine.session_lost is not None:
                continue  # sent again after the new login
            say("refused", index, type(exc).__name__, str(exc).replace("\n", " ")[:200])
        except (RiskRefusal, ValueError) as exc:
            say("refused", index, type(exc).__name__, str(exc).replace("\n", " ")[:200])
        say("sent", index)
        index += 1
    deadline = time.monotonic() + plan.tail_s
    while time.monotonic() < deadline:
        if engine.session_lost is not None:
            after_session_loss()
        with lock:
            if not working:
                break
        time.sleep(0.2)
    with lock:
        left = len(working)
    if left:
        say("tail-kill-switch", left)
        engine.cancel_all()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if not working:
                break
        time.sleep(0.2)
    # An order a fault held back turns up at the fake a fixed time after its placement was
    # answered (and the engine looked for it: its reconciling row): like a desk left open
    # after the kill switch, wait that long, so that the shutdown's last book read sees it
    # and the engine names its order (a watch still blind then only says its tag may be
    # live).
    time.sleep(max(0.0, ambiguous_at[0] + plan.settle_s - time.monotonic()))
    engine.shutdown(30.0)
    tracker.close()
    say("done")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(desk_main(sys.argv[1:]))
