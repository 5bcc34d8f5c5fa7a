"""ExecutionStack: the QObject facade the desk embeds. The only core module that imports Qt.

It owns an :class:`~.engine.execution_engine.ExecutionEngine` (its own thread and asyncio loop) and
re-emits every telemetry row as Qt signals **on the GUI thread**: the engine thread emits an
internal signal whose receiver lives on the GUI thread, so Qt queues it across. A slot connected
to ``child_placed`` therefore runs on the GUI thread whether it is a method, a lambda or a plain
function, with plain ``QApplication.exec()`` or a qasync loop.

``execute()`` validates and plans on the calling thread (microseconds, no broker call), hands the
parent to the engine and returns an :class:`ExecutionHandle` at once. No command of the stack
calls the broker on the caller's thread (the protocol's ``session_seconds``, pure arithmetic by
its contract, is the one member a VWAP's plan reads there): whether the broker lists a symbol
is read from what the engine learned on its loop, and a symbol not known yet is checked there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from .algos.planner import ExecutionAlgoPlanner
from .baskets.request import BasketRequest
from .baskets.runner import BasketResult
from .brokers.base import Broker, BrokerPosition, MarginCheck, checked_capabilities
from .calibration.slippage_fit import FitInUse, choose_slippage_fit
from .calibration.volume_fit import volume_curves_for
from .clock import Clock
from .engine.execution_engine import EngineConfig, ExecutionEngine, ExecutionResult
from .engine.market_data import MarketQuote
from .events import EventKind, read_event
from .recovery.journal import read_today, unfinished_today
from .recovery.report import RecoveryReport
from .request import ExecutionRequest
from .retry import RetryPolicy
from .risk import Breach
from .telemetry import FillQualityTracker, Mode, history_end
from .volume_curve import VolumeCurveBook

log = logging.getLogger(__name__)


class ExecutionHandle:
    """The caller's view of one parent: its id, and its result when it finishes."""

    def __init__(self, parent_id: str,
                 future: concurrent.futures.Future[ExecutionResult]) -> None:
        self.parent_id = parent_id
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> ExecutionResult:
        """Block until the parent finishes (never call this on the GUI thread without a
        short timeout; connect to ``parent_finished`` or ``await`` the handle instead)."""
        return self._future.result(timeout)

    def add_done_callback(self, fn: Callable[[ExecutionResult], object]) -> None:
        """Call ``fn(result)`` when the parent finishes. It runs on the engine thread: to touch
        widgets, connect to ``parent_finished`` instead."""
        self._future.add_done_callback(lambda f: fn(f.result()))

    def __await__(self) -> Generator[Any, None, ExecutionResult]:
        """``await handle`` under qasync (or any asyncio loop running on the caller's thread)."""
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"ExecutionHandle({self.parent_id!r}, {state})"


class BasketHandle:
    """The caller's view of one basket: its id, its legs' parent ids, and its result."""

    def __init__(self, basket_id: str, parent_ids: list[str],
                 future: concurrent.futures.Future[BasketResult]) -> None:
        self.basket_id = basket_id
        self.parent_ids = tuple(parent_ids)
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> BasketResult:
        """Block until every leg has ended (on the GUI thread only with a short timeout;
        connect to ``basket_finished`` or ``await`` the handle instead)."""
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, BasketResult]:
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"BasketHandle({self.basket_id!r}, {len(self.parent_ids)} legs, {state})"


_SIGNAL_FOR_EVENT = {
    EventKind.ACCEPTED: "parent_accepted",
    EventKind.PLACED: "child_placed",  # also after a reconcile (the engine emits both rows)
    EventKind.ERROR: "child_error",
    EventKind.REJECTED: "child_error",
    EventKind.RETRY: "child_retry",
    EventKind.RECONCILING: "child_reconciling",
    EventKind.FILLED: "child_filled",
    EventKind.CANCELLED: "child_cancelled",
    EventKind.MODIFIED: "child_modified",
    EventKind.FINISHED: "parent_finished",
    EventKind.SESSION: "session_expired",
    EventKind.BASKET_ACCEPTED: "basket_accepted",
    EventKind.BASKET_FINISHED: "basket_finished",
}


class ExecutionStack(QObject):
    """Non-blocking execution for the desk. Signals carry the telemetry row (a dict)."""

    # --- Signals (all emitted on the thread this object lives on: the GUI thread).
    # Declared ``object``, not ``dict``: PySide converts a ``dict`` payload to a QVariantMap
    # and back on every emit (~35 us a row per signal, stalls of 0.7 s at 10,000 rows/s in the
    # dock); ``object`` hands every slot the very row that was written to the journal.
    telemetry_row = Signal(object)  # every row
    #: The same, read once into a typed :class:`~imperium_exec.events.Event` (emitted first):
    #: the dock and the desk listen here rather than each reading the row again.
    telemetry_event = Signal(object)
    parent_accepted = Signal(object)
    child_placed = Signal(object)  # placed (also when found by tag after an ambiguous error)
    child_error = Signal(object)  # terminal: could not be placed, or rejected after placing
    child_retry = Signal(object)
    #: An ambiguous attempt (timeout after sending, 5xx): the engine is looking its tag up in
    #: the order book for up to ``RetryPolicy.reconcile_window_s`` before anything is re-sent.
    #: Not a retry and not terminal: ``child_placed`` (found), ``child_retry`` (absent, sent
    #: again) or ``child_error`` follows for the same child.
    child_reconciling = Signal(object)
    child_filled = Signal(object)
    child_cancelled = Signal(object)
    #: A resting child re-priced in place (the broker's modify): same order, tag and
    #: attempt; the row carries its new limit price and quantity. Not terminal.
    child_modified = Signal(object)
    parent_finished = Signal(object)
    #: The broker refused the session (token expired): nothing more is sent until the trader
    #: logs in again; the row's message lists the orders that may still be live. Once.
    session_expired = Signal(object)
    #: A basket was accepted: its row's message says the order its legs go in, and why. Its
    #: legs are parents (``parent_accepted`` ... ``parent_finished``) whose rows carry its
    #: ``basket_id`` and their ``leg_role``.
    basket_accepted = Signal(object)
    #: A basket ended: filled, partial (stopped: the message lists per leg what filled and
    #: what is left), cancelled, or failed (refused up front, e.g. margin: risk bucket).
    basket_finished = Signal(object)
    #: The restart check is done: its :class:`~imperium_exec.recovery.report.RecoveryReport`
    #: (parents an earlier session left working, their open orders; nothing sent). Once.
    recovery_ready = Signal(object)

    _row_from_engine = Signal(object)  # engine thread -> GUI thread hop

    def __init__(self, broker: Broker | None = None, mode: Mode = "paper", *,
                 tracker: FillQualityTracker | None = None, clock: Clock | None = None,
                 retry_policy: RetryPolicy | None = None, config: EngineConfig | None = None,
                 telemetry_dir: str | os.PathLike[str] | None = None,
                 calibration: str | os.PathLike[str] | None = None,
                 calibration_dir: str | os.PathLike[str] | None = None,
                 volume_curves: str | os.PathLike[str] | None = None,
                 recover: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if broker is None:
            from .brokers.paper.broker import PaperBroker

            broker = PaperBroker(clock=clock) if clock is not None else PaperBroker()
        self.broker = broker
        self.mode: Mode = mode
        self.tracker = tracker or FillQualityTracker(mode=mode, directory=telemetry_dir)
        # The slippage model (imperium_exec.calibration.slippage_fit.choose_slippage_fit): a
        # calibration file when told to, else the broker's own true costs (the paper
        # exchange), else from calibration_dir (by default "calibration" beside the journal:
        # where `imperium-exec calibrate` writes) the newest fit for paper, the fit the trader
        # accepted for live (a newer one waits: `slippage_fit.pending`), else the live
        # defaults. A fit is used only if it passes the checks `calibrate` applies; one that
        # fails (or does not read) is not used, with a warning and a note in
        # `slippage_fit.notes`: it never keeps the desk from starting (a file the caller named
        # that does not read still raises). The accepted rows name the fit in use.
        offers = checked_capabilities(broker)
        found = calibration_dir is None
        if found:
            calibration_dir = self.tracker.path.parent / "calibration"
        #: The slippage fit in use and why (and any fit not used, and why).
        self.slippage_fit: FitInUse = choose_slippage_fit(
            offers.slippage_params, mode, calibration=calibration,
            calibration_dir=calibration_dir)
        slippage = self.slippage_fit.model()
        # The volume curves the planner chooses from: a volume-curve file when told to, else
        # the newest for the mode in calibration_dir, else the packaged profiles; per parent,
        # the one of its underlying and day kind (imperium_exec.calibration.volume_fit).
        # A broker that knows the curve its market trades (the paper exchange) is planned
        # with that one unless a file is named (as its true costs win over a calibration).
        if volume_curves is None and offers.volume_curve is not None:
            planner = ExecutionAlgoPlanner(volume_curve=offers.volume_curve)
        else:
            try:
                book = volume_curves_for(mode, volume_curves=volume_curves,
                                         calibration_dir=calibration_dir)
            except (ValueError, OSError) as exc:
                if not found or volume_curves is not None:
                    raise
                log.warning("volume curves in %s skipped (packaged profiles used): %s",
                            calibration_dir, exc)
                book = VolumeCurveBook()
            if book.fitted:
                log.info("volume curves fitted for %s", ", ".join(
                    sorted(c.name for c in book.fitted.values())))
            planner = ExecutionAlgoPlanner(volume_curves=book)
        self.engine = ExecutionEngine(broker, mode=mode, clock=clock, tracker=self.tracker,
                                      retry_policy=retry_policy, config=config,
                                      slippage=slippage, planner=planner)
        self._row_from_engine.connect(self._dispatch)
        self.engine.add_listener(self._row_from_engine.emit)
        self._closed = False
        #: When this stack started, by its clock: parents of its journal with nothing
        #: written since are an earlier session's (a crash, a kill), not working.
        self.started_ts = self.now()
        self._recovery: concurrent.futures.Future[RecoveryReport] = concurrent.futures.Future()
        if recover:
            self._start_recovery()
        else:
            self._recovery.set_result(RecoveryReport((), (), None, self.started_ts,
                                                     error="not checked (recover=False)"))

    # --- Commands (GUI thread; none of them waits on the broker)
    def execute(self, request: ExecutionRequest, *,
                override_limits: bool = False) -> ExecutionHandle:
        """Start executing ``request``. Raises ``ValueError`` (naming the field) for a request
        or schedule that cannot be executed, and :class:`~imperium_exec.risk.RiskRefusal` (a
        ``ValueError`` in the ``risk`` bucket, naming each limit) for one a pre-trade limit
        refuses; nothing reaches the broker then. ``override_limits``: the trader confirmed
        going past the size limits (the hard ones still hold).

        Never calls the broker: a symbol the engine has learned the broker does not list
        raises here (``tradingsymbol``); one it has not asked about yet (``check_limits`` and
        ``watch_quotes`` ask ahead) is checked on the engine's loop, and if not listed the
        parent fails there before anything is sent: ``parent_finished`` with status
        ``failed``, bucket ``fatal`` and an error naming ``tradingsymbol``."""
        parent_id, future = self.engine.submit(request, override_limits=override_limits)
        return ExecutionHandle(parent_id, future)

    def recovery(self) -> concurrent.futures.Future[RecoveryReport]:
        """The restart check started with the stack: its ``result(timeout)`` is the
        :class:`~imperium_exec.recovery.report.RecoveryReport` (also sent as
        ``recovery_ready``). Parents it found are held: nothing is sent until the trader calls
        :meth:`cancel_orphans` or :meth:`adopt`."""
        return self._recovery

    def cancel_orphans(self) -> concurrent.futures.Future[list[ExecutionResult]]:
        """Cancel every open order of the parents the restart found (sells before buys) and
        write their final rows; a future of their results."""
        return self.engine.cancel_orphans()

    def adopt(self, parent_id: str, *, window_s: float | None = None) -> ExecutionHandle:
        """Send the rest of a parent the restart found under its algorithm over what is left of
        its window, or over ``window_s`` seconds (its open orders are cancelled first): the new
        parent's handle (its result raises if it could not be adopted)."""
        new_parent_id, future = self.engine.adopt(parent_id, window_s=window_s)
        return ExecutionHandle(new_parent_id, future)

    def resume_session(self, access_token: str) -> concurrent.futures.Future[RecoveryReport]:
        """After ``session_expired``: log in again with ``access_token`` (no new stack). The
        halted parents are reconciled by tag (what filled meanwhile is written once) and
        reported, also as ``recovery_ready``; they stay held until :meth:`cancel_orphans` or
        :meth:`adopt`. Raises ``ValueError`` for a broker whose session never expires."""
        future = self.engine.resume_session(access_token)

        def tell(done: concurrent.futures.Future[RecoveryReport]) -> None:
            if done.exception() is None:
                with contextlib.suppress(RuntimeError):  # (the stack was deleted meanwhile)
                    self.recovery_ready.emit(done.result())

        future.add_done_callback(tell)
        return future

    def check_limits(self, request: ExecutionRequest) -> list[Breach]:
        """The pre-trade limits ``request`` would break now (see ``RiskLimits``): the desk
        shows them in its confirmation; a hard one cannot be confirmed past. Also asks the
        broker, on the engine's loop, whether it lists the symbol, so that ``execute()``
        after the confirmation refuses an unlisted one at once."""
        return self.engine.check_limits(request)

    def margin_of(self, request: ExecutionRequest,
                  ) -> concurrent.futures.Future[MarginCheck] | None:
        """The margin the broker says ``request`` needs against what the account has, asked
        in the background under the rate budget (a confirmation shows it when it comes);
        None where the broker has no margin check."""
        return self.engine.margin_of(request)

    def execute_payload(self, payload: dict[str, Any]) -> ExecutionHandle:
        """Convenience for the desk's existing Kite-style order dicts."""
        return self.execute(ExecutionRequest.from_payload(payload))

    def execute_basket(self, basket: BasketRequest, *,
                       override_limits: bool = False) -> BasketHandle:
        """Start executing ``basket``: its legs as parents, shorts only as far as their hedges
        have filled, legs in step. Raises ``RequestError`` (naming ``legs[i]``) for a leg that
        cannot be executed; nothing reaches the broker then. The margin check (where the broker
        offers one) runs on the engine; a shortfall ends the basket with ``basket_finished``,
        and so does a leg whose symbol the broker turns out not to list (checked on the
        engine before any leg starts: ``legs[i].tradingsymbol``, bucket ``fatal``)."""
        basket_id, parent_ids, future = self.engine.submit_basket(
            basket, override_limits=override_limits)
        return BasketHandle(basket_id, parent_ids, future)

    def cancel_basket(self, basket_id: str) -> None:
        """Stop a basket hedge-safe: the sells' working orders are cancelled (and confirmed)
        before the buys'."""
        self.engine.cancel_basket(basket_id)

    def cancel(self, parent_id: str) -> None:
        self.engine.cancel(parent_id)

    def cancel_all(self) -> None:
        """Kill switch: cancel every working parent and its resting children."""
        self.engine.cancel_all()

    def pause(self, parent_id: str) -> None:
        """Stop sending new children (resting ones stay up); the schedule shifts on resume."""
        self.engine.pause(parent_id)

    def resume(self, parent_id: str) -> None:
        self.engine.resume(parent_id)

    # --- Market data for the desk (any thread; never waits on the broker)
    def watch_quotes(self, keys: list[str]) -> None:
        """Keep ``keys`` (``"NFO:SYMBOL"``) fresh for the desk, e.g. its option chain: from the
        stream, or coalesced into the one REST quote call a second, at the lowest priority."""
        self.engine.watch_quotes(keys)

    def unwatch_quotes(self, keys: list[str]) -> None:
        self.engine.unwatch_quotes(keys)

    def instrument_dump(self, exchange: str) -> list[dict[str, Any]]:
        """The broker's instruments dump of ``exchange`` (Kite only), loaded once and shared
        with the engine's ticker, under the account's rate budget. Blocks: call it from a
        worker thread (the desk's chain poller does)."""
        dump = self.broker.capabilities.instrument_dump
        if dump is None:
            raise TypeError(f"{type(self.broker).__name__} has no instruments dump")
        result: list[dict[str, Any]] = self.engine.desk_request(dump, exchange)
        return result

    def broker_positions(self) -> concurrent.futures.Future[list[BrokerPosition]] | None:
        """The account's net positions as the broker reports them (per instrument and product,
        whoever traded them: earlier sessions and other apps included), asked in the
        background under the account's rate budget at the desk's priority; any thread, never
        waits. None where the broker reports no positions. One read request each call: a
        host polls it every few seconds at most (Kite allows 10 reads a second in all)."""
        read = self.broker.capabilities.positions
        if read is None:
            return None
        return self.engine.desk_read(read)

    def now(self) -> float:
        """The engine's clock: wall time live, virtual time in tests and benchmarks."""
        return self.engine.clock.now()

    def quotes(self, keys: list[str]) -> dict[str, MarketQuote]:
        """The newest quotes held for ``keys``, each with its source and arrival time."""
        return self.engine.quotes(keys)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop sending, cancel working children, settle their state from the stream or a
        final order-book read, write the final rows, stop the engine thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        # A restart check still running holds what it finds before the engine stops (so the
        # shutdown cancels those like any parent).
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._recovery.result(min(timeout, 10.0))
        self.engine.shutdown(timeout)
        self.tracker.close()

    # --- internals
    def _start_recovery(self) -> None:
        """Read the journal as it was when the stack started (today's rows: off the GUI
        thread) and hand the unfinished parents to the engine (one order-book read)."""
        path = self.tracker.path
        end, _ = history_end(path)
        now = self.started_ts

        def check() -> None:
            try:
                day = unfinished_today(read_today(path, now, end) if end else [], now)
                report = self.engine.recover(day, str(path)).result(60.0)
            except Exception as exc:  # said in the report: the trader must look by hand
                log.exception("restart check failed")
                report = RecoveryReport((), (), str(path), now,
                                        error=f"{type(exc).__name__}: {exc}")
            if report.orphans or report.unknown_orders or report.error:
                log.warning("%s", report.summary())
            self._recovery.set_result(report)
            with contextlib.suppress(RuntimeError):  # (the stack was deleted meanwhile)
                self.recovery_ready.emit(report)

        threading.Thread(target=check, name="imperium-restart-check", daemon=True).start()

    @Slot(object)
    def _dispatch(self, row: dict[str, Any]) -> None:
        event = read_event(row)
        self.telemetry_event.emit(event)
        self.telemetry_row.emit(row)
        name = _SIGNAL_FOR_EVENT.get(event.event)
        if name is not None:
            getattr(self, name).emit(row)
