"""DeskWindow: the demo desk, wired the way ImperiumMainWindow wires the execution stack.

Option chain with live quotes on top, the two order panels below it, order confirmations at the
bottom, the ExecutionDock on the right. Both panels go through the one ExecutionStack: the quick
order as ``stack.execute(ExecutionRequest.from_payload(payload))``, the Buy/Exit panel as one
``stack.execute_basket(BasketRequest.from_payloads(payloads))`` after the trader confirmed the
order its legs go in; both return at once and confirmations come back from the stack's signals.
Live mode shows a red LIVE banner.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QEvent, QModelIndex, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...baskets.request import BasketPolicy, BasketRequest
from ...brokers.base import OptionChainSource
from ...events import Event, EventKind
from ...request import ExecutionRequest
from ...risk import Breach, RiskRefusal
from ...stack import BasketHandle, ExecutionHandle, ExecutionStack
from ..dock import ExecutionDock, default_settings
from ..parents_view import CANCEL_ALL_SHORTCUT, Confirm, confirm_with_dialog
from ..positions_model import PositionBook
from ..positions_view import PositionsView
from ..theme import Theme
from .basket_confirm import ConfirmBasket, basket_confirmation_text, confirm_basket_with_dialog
from .basket_panel import BasketPanel
from .chain import STRIKE_COLUMN, ChainChooser, ChainPoller, OptionChainModel
from .confirmations import ConfirmationLog
from .exits import DeskExits
from .order_confirm import (
    ConfirmAbove,
    ConfirmOrder,
    confirm_order_with_dialog,
    confirmation_text,
)
from .quick_order_panel import QuickOrderPanel
from .recovery import SessionLogin
from .slippage_fit import SlippageFitStatus
from .tickets import BasketLeg, ChainSnapshot, ExecutionPolicy, OrderTicket


class DeskWindow(QMainWindow):
    """A desk main window on an ExecutionStack (paper by default)."""

    #: A parent was handed to the stack: (parent_id, payload).
    order_submitted = Signal(str, dict)
    #: The stack refused an order before sending anything: (reason, payload; for a basket
    #: ``{"legs": payloads}``).
    order_refused = Signal(str, dict)
    #: A basket was handed to the stack: (basket_id, its legs' parent ids in leg order).
    basket_submitted = Signal(str, list)

    def __init__(self, stack: ExecutionStack, *, chain_broker: OptionChainSource | None = None,
                 underlying: str = "NIFTY",
                 strikes_each_side: int = 8, poll_ms: int = 1000,
                 settings: QSettings | None = None, confirm: Confirm = confirm_with_dialog,
                 confirm_basket: ConfirmBasket = confirm_basket_with_dialog,
                 confirm_order: ConfirmOrder = confirm_order_with_dialog,
                 confirm_above: ConfirmAbove | None = None,
                 dock_interval_ms: int = 75, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stack = stack
        #: Asked before every basket (Buy, Exit, Complete, Unwind) with the order it goes in.
        self.confirm_basket = confirm_basket
        #: Asked before a single-strike order above ``confirm_above`` or past a size limit.
        self.confirm_order = confirm_order
        self.confirm_above = confirm_above or ConfirmAbove()
        self.mode = stack.mode
        chain = chain_broker if chain_broker is not None else stack.broker
        if not isinstance(chain, OptionChainSource):
            raise TypeError(f"chain_broker: {type(chain).__name__} has no option chain; over "
                            "Kite pass KiteChain(quotes=stack)")
        self.setObjectName("desk_window")
        self.setWindowTitle(f"Imperium Desk — {underlying} options — "
                            f"{'LIVE' if self.mode == 'live' else 'paper exchange'}")
        self.snapshot: ChainSnapshot | None = None
        self.handles: dict[str, ExecutionHandle] = {}
        #: This session's baskets (kept after they end: Complete / Unwind read their result).
        self.baskets: dict[str, BasketHandle] = {}
        #: What this session's orders hold, from the stack's rows.
        self.positions = PositionBook()
        #: Exits that trade what is held back to flat (a basket's legs, an instrument).
        self.exits = DeskExits(self, self)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        self.live_banner = QLabel("LIVE — orders go to the exchange through Kite. "
                                  "Real money.", central)
        self.live_banner.setObjectName("live_banner")
        self.live_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.live_banner.setStyleSheet("QLabel { background: #c62828; color: white; "
                                       "font-weight: bold; font-size: 13pt; padding: 6px; }")
        self.live_banner.setVisible(self.mode == "live")
        outer.addWidget(self.live_banner)
        self.market_label = QLabel(f"{underlying}: waiting for the option chain…", central)
        self.market_label.setObjectName("market")
        font = self.market_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.market_label.setFont(font)
        header = QHBoxLayout()
        self.chooser = ChainChooser(underlying, central)
        self.chooser.chosen.connect(self.choose_chain)
        header.addWidget(self.chooser)
        header.addSpacing(12)
        header.addWidget(self.market_label, 1)
        outer.addLayout(header)

        splitter = QSplitter(Qt.Orientation.Vertical, central)
        splitter.setChildrenCollapsible(False)
        self.chain_model = OptionChainModel(self)
        self.chain_view = QTableView(splitter)
        self.chain_view.setObjectName("option_chain")
        self.chain_view.setModel(self.chain_model)
        self.chain_view.verticalHeader().setVisible(False)
        self.chain_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.chain_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.chain_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chain_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.chain_view.verticalHeader().setDefaultSectionSize(
            self.chain_view.fontMetrics().height() + 6)
        self.chain_view.setMinimumHeight(200)
        splitter.addWidget(self.chain_view)

        panels = QWidget(splitter)
        row = QHBoxLayout(panels)
        row.setContentsMargins(0, 0, 0, 0)
        self.quick = QuickOrderPanel(panels)
        self.basket = BasketPanel(panels)
        row.addWidget(self.quick, 2)
        row.addWidget(self.basket, 3)
        splitter.addWidget(panels)
        bottom = QTabWidget(splitter)
        bottom.setObjectName("desk_bottom_tabs")
        self.confirmations = ConfirmationLog(bottom)
        self.confirmations.setMinimumHeight(80)
        self.positions_view = PositionsView(self.positions, bottom,
                                            read_broker=stack.broker_positions)
        bottom.addTab(self.confirmations, "Confirmations")
        bottom.addTab(self.positions_view, "Positions")
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setStretchFactor(2, 2)
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.dock = ExecutionDock(stack.tracker, stack=stack, settings=settings or
                                  default_settings(), confirm=confirm,
                                  interval_ms=dock_interval_ms, parent=self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        #: "Log in again…" after a lost session (None: the broker's session never expires).
        self.login = SessionLogin.offered(self, stack, self.dock, self.confirmations)
        self._build_menus()
        #: The slippage fit in use; live, asks before a newer fit replaces it (slippage_fit.py).
        self.slippage_status = SlippageFitStatus(getattr(stack, "slippage_fit", None),
                                                 self.mode, parent=self)
        self.statusBar().addPermanentWidget(self.slippage_status)
        self.statusBar().showMessage("Connecting to the " +
                                     ("exchange" if self.mode == "live" else "paper exchange"))

        # --- wiring: panels -> stack, stack -> confirmations, chain -> panels
        self.quick.order_requested.connect(self.submit_ticket)
        self.quick.entry_refused.connect(self._refuse_entry)
        self.positions_view.exit_requested.connect(
            lambda symbol, exchange, _held: self.exits.exit_position(symbol, exchange))
        self.positions_view.exit_broker_requested.connect(self.exits.exit_broker_position)
        self.basket.basket_requested.connect(self.submit_basket)
        self.dock.parents_panel.complete_requested.connect(self.complete_basket)
        self.dock.parents_panel.unwind_requested.connect(self.unwind_basket)
        stack.telemetry_event.connect(self._on_event)
        self.chain_view.clicked.connect(self._chain_clicked)
        self.chain_view.doubleClicked.connect(self._chain_double_clicked)
        self.poller = ChainPoller(chain, underlying, strikes_each_side, interval_ms=poll_ms,
                                  parent=self)
        self.poller.snapshot_ready.connect(self.set_snapshot)
        self.poller.failed.connect(self._chain_failed)
        self._apply_theme()
        self.poller.start()

    # ------------------------------------------------------------------ orders
    def submit_ticket(self, ticket: OrderTicket) -> str | None:
        """Single-strike flow (``_execute_single_strike_order``): one parent."""
        if self.snapshot is None:
            self.confirmations.refuse("the option chain has not loaded yet")
            return None
        try:
            payload = self.snapshot.ticket_payload(ticket)
        except ValueError as exc:
            self.confirmations.refuse(str(exc))
            return None
        return self._execute(payload, ask_above=self.confirm_above)

    def execute_payload(self, payload: dict[str, Any]) -> str | None:
        """One order as a single-strike order is sent (confirmed above a size)."""
        return self._execute(payload, ask_above=self.confirm_above)

    def _refuse_entry(self, reason: str) -> None:
        self.confirmations.refuse(f"{reason}: nothing sent")
        self.statusBar().showMessage(f"Not sent: {reason}", 8000)

    def submit_basket(self, legs: list[BasketLeg], action: str,
                      policy: ExecutionPolicy) -> BasketHandle | None:
        """Multi-strike flow: the legs as one basket, as entered (``"BUY"``) or every leg
        reversed (``"EXIT"``), after the trader confirmed the order they go in."""
        if self.snapshot is None:
            self.confirmations.refuse("the option chain has not loaded yet")
            return None
        payloads: list[dict[str, Any]] = []
        try:
            payloads = self.snapshot.basket_payloads(legs, policy)
            if action == "EXIT":
                self.exits.exit_structure(payloads, policy)
                return None
            basket = BasketRequest.from_payloads(payloads)
        except ValueError as exc:  # RequestError names legs[i].key
            self.refuse_basket(_refusal(exc), payloads)
            return None
        handle = self.send_basket(basket, "Buy (legs as entered)", payloads)
        if handle is not None:
            self.exits.record(payloads, handle.basket_id)
        return handle

    def complete_basket(self, basket_id: str) -> BasketHandle | None:
        """The rest of every leg of a stopped basket, as a new basket (asks first)."""
        return self._follow_up(basket_id, complete=True)

    def unwind_basket(self, basket_id: str) -> BasketHandle | None:
        """Every filled unit of a stopped basket traded back, hedge-safe (asks first)."""
        return self._follow_up(basket_id, complete=False)

    def _follow_up(self, basket_id: str, *, complete: bool) -> BasketHandle | None:
        what = "complete" if complete else "unwind"
        handle = self.baskets.get(basket_id)
        if handle is None or not handle.done():
            self.refuse_basket(f"basket {basket_id}: "
                                + ("not sent from this desk" if handle is None
                                   else "still working"), [])
            return None
        result = handle.result(0)
        basket = result.completion() if complete else result.unwind()
        if basket is None:
            self.statusBar().showMessage(f"Basket {basket_id}: nothing to {what}", 8000)
            return None
        sent = self.send_basket(basket, f"{what.capitalize()} basket {basket_id}")
        if sent is not None:
            self.dock.dismiss_basket(basket_id)
            self.exits.record_follow_up(basket_id, sent.basket_id)
        return sent

    def send_basket(self, basket: BasketRequest, title: str,
                    payloads: list[dict[str, Any]] | None = None) -> BasketHandle | None:
        """Confirm (the legs, the order they go in and why; hedge-first may be turned off
        only with legging risk acknowledged), then ``stack.execute_basket``."""
        try:  # a leg past a hard limit is refused; past a size limit, the trader is told
            over = [(i, b) for i, leg in enumerate(basket.legs)
                    for b in self.stack.check_limits(leg)]
            hard = [Breach(f"legs[{i}].{b.limit}", b.reason, b.soft) for i, b in over
                    if not b.soft]
            if hard:
                raise RiskRefusal(hard)
        except ValueError as exc:
            self.refuse_basket(_refusal(exc), payloads or [])
            return None
        choice = self.confirm_basket(self, basket_confirmation_text(title, basket, over))
        if choice is None:
            self.statusBar().showMessage("Basket not sent", 8000)
            return None
        if not choice.hedge_first:
            try:
                policy = BasketPolicy.model_validate({
                    **basket.policy.model_dump(), "hedge_first": False,
                    "acknowledge_legging_risk": choice.acknowledge_legging_risk})
            except ValidationError as exc:
                self.refuse_basket("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                              for e in exc.errors()), payloads or [])
                return None
            basket = basket.model_copy(update={"policy": policy})
        try:
            handle = self.stack.execute_basket(basket, override_limits=bool(over))
        except ValueError as exc:
            self.refuse_basket(_refusal(exc), payloads or [])
            return None
        self.baskets[handle.basket_id] = handle
        self.statusBar().showMessage(
            f"Sent basket {handle.basket_id}: {len(handle.parent_ids)} legs", 8000)
        for parent_id, payload in zip(handle.parent_ids, payloads or [], strict=False):
            self.order_submitted.emit(parent_id, payload)
        self.basket_submitted.emit(handle.basket_id, list(handle.parent_ids))
        return handle

    def refuse_basket(self, reason: str, payloads: list[dict[str, Any]]) -> None:
        self.confirmations.refuse(f"basket: {reason}")
        self.statusBar().showMessage(f"Refused: {reason}", 8000)
        self.order_refused.emit(reason, {"legs": payloads})

    def _execute(self, payload: dict[str, Any], *,
                 ask_above: ConfirmAbove | None = None) -> str | None:
        """Send one order; with ``ask_above``, confirm it first when it is that large or goes
        past a size limit of the stack (a hard limit refuses it without asking). An order
        below the size is planned and checked once, by the stack, as it is sent."""
        try:
            request = ExecutionRequest.from_payload(payload)
            over: list[Breach] = []
            if ask_above is not None and ask_above.asks(request):
                over = self._confirmable(self.stack.check_limits(request))
                if not self._confirmed(request, over):
                    return None
            try:
                handle = self.stack.execute(request, override_limits=bool(over))
            except RiskRefusal as refusal:
                if ask_above is None:
                    raise
                over = self._confirmable(refusal.breaches)
                if not self._confirmed(request, over):
                    return None
                handle = self.stack.execute(request, override_limits=True)
        except ValueError as exc:  # RequestError, RiskRefusal or the planner's ScheduleError
            reason = _refusal(exc)
            self.confirmations.refuse(f"{payload.get('tradingsymbol')}: {reason}")
            self.statusBar().showMessage(f"Refused: {reason}", 8000)
            self.order_refused.emit(reason, payload)
            return None
        self.handles[handle.parent_id] = handle
        self.statusBar().showMessage(
            f"Sent {request.side} {request.quantity:,} {request.tradingsymbol} "
            f"({request.execution_algo}) as {handle.parent_id}",
            8000)
        self.order_submitted.emit(handle.parent_id, payload)
        return str(handle.parent_id)

    @staticmethod
    def _confirmable(breaches: list[Breach]) -> list[Breach]:
        """The size limits a confirmation may lift; RiskRefusal for any hard one."""
        hard = [b for b in breaches if not b.soft]
        if hard:
            raise RiskRefusal(hard)
        return breaches

    def _confirmed(self, request: ExecutionRequest, over: list[Breach]) -> bool:
        """Ask; a decline is said, nothing sent."""
        if self.confirm_order(self, confirmation_text(request, over),
                              self.stack.margin_of(request)):
            return True
        self.confirmations.refuse(f"{request.tradingsymbol}: declined at the confirmation: "
                                  "nothing sent")
        self.statusBar().showMessage("Not sent: declined", 8000)
        return False

    # ------------------------------------------------------------------ chain
    def choose_chain(self, underlying: str, expiry: dt.date | None) -> None:
        """Show ``underlying``'s ``expiry`` (its nearest when None). The basket's legs are of
        the chain they were picked from: they are cleared, never carried to another one."""
        if (self.poller.underlying, self.poller.expiry) == (underlying, expiry):
            return  # (compared with what was asked last, not with what is shown yet)
        self.poller.select(underlying, expiry)
        if self.basket.model.legs:
            self.basket.model.clear()
            self.confirmations.refuse("the basket's legs were cleared: they belonged to the "
                                      "chain shown before")
        self.statusBar().showMessage(
            f"Loading {underlying}" + (f" {expiry:%d %b %Y}" if expiry else "") + "…", 4000)

    def _chain_failed(self, reason: str) -> None:
        """A chain that does not load: said, and a new choice that failed goes back to the
        chain shown (the chooser never names a chain the desk is not trading on)."""
        self.statusBar().showMessage(reason)
        if self.snapshot is None:
            return
        view = self.snapshot.view
        if self.poller.underlying != view.underlying \
                or self.poller.expiry not in (None, view.expiry):
            self.poller.select(view.underlying, view.expiry)
            self.chooser.show_listed(view)
            self.confirmations.refuse(f"{reason}: still showing {view.underlying} "
                                      f"{view.expiry:%d %b %Y}")

    def set_snapshot(self, snapshot: ChainSnapshot) -> None:
        first = self.snapshot is None
        changed = not first and self.snapshot is not None and (
            self.snapshot.view.underlying, self.snapshot.view.expiry) != (
            snapshot.view.underlying, snapshot.view.expiry)
        self.snapshot = snapshot
        self.chooser.show_listed(snapshot.view)
        self.chain_model.update_snapshot(snapshot)
        self.quick.set_snapshot(snapshot)
        self.basket.set_snapshot(snapshot)
        view = snapshot.view
        spot = f"{view.spot:,.2f}" if math.isfinite(view.spot) else "–"  # no index quote yet
        self.market_label.setText(
            f"{view.underlying}  {spot}    expiry {view.expiry:%d %b %Y}    "
            f"ATM {view.atm_strike:,.0f}    lot {snapshot.lot_size}    "
            f"{'LIVE' if self.mode == 'live' else 'paper exchange'}")
        if first or changed:
            self.statusBar().showMessage(
                f"Option chain loaded: {view.underlying} {view.expiry:%d %b %Y}", 4000)
            row = self.chain_model.row_of(view.atm_strike)
            if row >= 0:
                self.chain_view.scrollTo(self.chain_model.index(row, STRIKE_COLUMN),
                                         QAbstractItemView.ScrollHint.PositionAtCenter)

    def _chain_clicked(self, index: QModelIndex) -> None:
        side = self.chain_model.side_at(index.column())
        strike = self.chain_model.strike_at(index.row())
        self.quick.select(strike, side or self.quick.option_type())

    def _chain_double_clicked(self, index: QModelIndex) -> None:
        side = self.chain_model.side_at(index.column())
        if side is not None:
            self.basket.add(self.chain_model.strike_at(index.row()), side,
                            self.basket.lots.value())

    def _on_event(self, event: Event) -> None:
        self.positions_view.add_event(event)  # (it feeds self.positions)
        self.confirmations.add_event(event)
        if event.event is EventKind.FINISHED:
            self.handles.pop(event.parent_id, None)

    # ------------------------------------------------------------------ window
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = QAction("Export visible child events…", self)
        export.triggered.connect(self.dock.blotter.choose_export_path)
        file_menu.addAction(export)
        # The key is shown, not bound: the dock's application-wide shortcut owns it (a second
        # binding would make the key ambiguous and fire neither).
        cancel_all = QAction(f"Cancel all working orders…\t{CANCEL_ALL_SHORTCUT}", self)
        cancel_all.triggered.connect(self.dock.parents_panel.request_cancel_all)
        file_menu.addAction(cancel_all)
        if self.login is not None:
            file_menu.addAction(self.login.action)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        window_menu = self.menuBar().addMenu("&Window")
        window_menu.addAction(self.dock.toggleViewAction())

    def _apply_theme(self) -> None:
        theme = Theme.for_palette(self.palette())
        self.chain_model.theme = theme
        self.confirmations.theme = theme
        self.quick.apply_theme(theme)
        self.basket.apply_theme(theme)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.poller.stop()
        self.dock.save_layout()
        self.dock.close_feed()
        super().closeEvent(event)


def _refusal(exc: ValueError) -> str:
    """Why an order was refused, on one line (a RequestError has a line per problem)."""
    return "; ".join(line for line in str(exc).splitlines() if line.strip())
