"""The day's order cap on the live path (:func:`run_day_cap`): what the engine admits when
the day's writes run short, against the fake Kite's own day cap; in process, no crash (the
crash and the re-login are :mod:`.day_soak`'s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.state import ExecutionResult
from .day_soak import ASK, BID
from .fake_kite import RateLimits, nifty_strip
from .soak import SoakPlan, SoakReport, check_invariants


@dataclass
class DayCapReport:
    """What the run at the day's cap showed."""

    cap: int
    reserve: int
    #: Planned placements of each parent admitted, in order.
    admitted: list[int] = field(default_factory=list)
    #: The refusal lines (the parent that no longer fits), with what it planned.
    refusals: list[tuple[int, str]] = field(default_factory=list)
    placements: int = 0
    cancels: int = 0
    cap_replies: int = 0
    invariants: SoakReport = field(default_factory=SoakReport)
    seconds: float = 0.0
    #: The error rows' texts (a child that could not be placed).
    errors: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.invariants.clean and self.cap_replies == 0 \
            and self.invariants.throttled_replies == 0


def run_day_cap(cap: int = 400, *, reserve: int = 40, slices: int = 25,
                log: Callable[[str], None] | None = None) -> DayCapReport:
    """The day's cap on both sides (the fake's ``order_writes_per_day`` and the engine's
    ``writes_per_day``, ``reserve`` of them kept for cancels): two resting 1-lot limits, then
    TWAPs of ``slices`` market slices until one no longer fits (refused: the line is kept),
    then a TWAP of exactly what is left (admitted), then a 1-lot order (refused: nothing
    left); the TWAPs run out, and the kill switch cancels the resting limits out of the
    reserve. Checks the soak's invariants over every result, and that the fake never
    answered its day cap (nor any 429). In process: nothing here needs a crash."""
    from ..clock import RealClock
    from ..engine.execution_engine import EngineConfig, ExecutionEngine
    from ..engine.rate_budget import AccountRateLimits
    from ..request import ExecutionRequest
    from ..risk import RiskRefusal
    from .soak import fast_retries, open_faulty_kite

    say = log or (lambda _: None)
    instruments = nifty_strip(8)
    quiet = SoakPlan(place_fault_rate=0.0, cancel_fault_rate=0.0, book_fault_rate=0.0)
    # A client timeout long enough that a busy machine does not make placements ambiguous:
    # a re-sent placement is a write the day's budget did not reserve (see the report).
    server, broker = open_faulty_kite(quiet, instruments, bid=BID, ask=ASK, client_timeout=5.0,
                                      rate_limits=RateLimits(order_writes_per_day=cap))
    engine = ExecutionEngine(broker, mode="live", clock=RealClock(), retry_policy=fast_retries(),
                             config=EngineConfig(rate_limits=AccountRateLimits(
                                 writes_per_day=cap, cancel_reserve_per_day=reserve)))
    rows: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(row: dict[str, Any]) -> None:
        with lock:
            rows.append(row)

    engine.add_listener(collect)
    report = DayCapReport(cap, reserve)
    started = time.monotonic()
    symbols = [i.tradingsymbol for i in instruments]
    stop = threading.Event()

    def refill() -> None:
        # The fake's touch holds 50 lots and fills take from it: without new quotes a
        # symbol's ask is gone after 50 lots and each TWAP's MARKET child rests at its
        # protection price and ends the parent partial. The market makers come back.
        while not stop.wait(0.5):
            for symbol in symbols:
                server.set_quote(symbol, bid=BID, ask=ASK)

    refiller = threading.Thread(target=refill, daemon=True)
    refiller.start()

    def request(symbol: str, **kw: Any) -> ExecutionRequest:
        return ExecutionRequest.model_validate(dict(
            tradingsymbol=symbol, exchange="NFO", side="BUY", quantity=65, lot_size=65,
            tick_size=0.05, freeze_quantity=1800, bid=BID, ask=ASK) | kw)

    futures = []

    def send(req: ExecutionRequest, planned: int) -> bool:
        try:
            futures.append(engine.submit(req))
        except RiskRefusal as exc:
            report.refusals.append((planned, str(exc)))
            say(f"refused ({planned} planned): {exc}")
            return False
        report.admitted.append(planned)
        return True

    try:
        for symbol in symbols[:2]:  # resting below the market
            send(request(symbol, order_type="LIMIT", limit_price=90.0), 1)
        # Long enough for every admitted placement: at Kite's 360 placements a minute when
        # there are more than a minute holds, else at its 10 writes a second (with room).
        placements = cap - reserve
        horizon = max(5.0, 1.2 * slices, placements / (5.5 if placements > 360 else 8.0))
        # MARKET slices: each takes liquidity (a long TWAP's limit slices would join the bid
        # of this unmoving market and rest).
        twap = dict(quantity=65 * slices, execution_algo="TWAP", max_child_orders=slices,
                    horizon_s=horizon, randomize_slices=False, order_type="MARKET")
        i = 0
        while send(request(symbols[2 + i % 6], **twap), slices):
            i += 1
        left = cap - reserve - sum(report.admitted)
        if left > 0:
            send(request(symbols[2], quantity=65 * left, execution_algo="TWAP",
                         order_type="MARKET",
                         max_child_orders=left, horizon_s=max(horizon, 1.2 * left),
                         randomize_slices=False), left)
        send(request(symbols[3]), 1)
        results: dict[str, ExecutionResult] = {}
        for parent_id, future in futures[2:]:
            results[parent_id] = future.result(horizon + 300)
        engine.cancel_all()  # the resting limits: cancels out of the day's reserve
        for parent_id, future in futures[:2]:
            results[parent_id] = future.result(60)
    finally:
        stop.set()
        refiller.join(5.0)
        engine.shutdown(20.0)
        server.stop()
    report.seconds = time.monotonic() - started
    with lock:
        all_rows = list(rows)
    check_invariants(report.invariants, results, all_rows, server)
    report.errors = [f"{r['child_id']}: {r['error']} ({r['message']})" for r in all_rows
                     if r["event"] == "error"]
    report.invariants.parents = len(results)
    report.invariants.throttled_replies = server.throttled
    report.placements = len(server.requests_to("place"))
    report.cancels = len(server.requests_to("cancel"))
    report.cap_replies = server.throttled  # (the fake answers its day cap with a 429)
    return report
