"""The desk's exits: what a basket's legs hold, or what one instrument holds, traded back to flat.

An exit never trades past flat and never twice: it first cancels what still works (the basket,
or this desk's parents in the instrument), waits until their final rows are in, then sends what
is held, by the symbols captured when Exit was pressed (a chain changed meanwhile does not
matter). What a basket's legs hold counts its own baskets (entries, completions, unwinds, exits)
and the Positions exits of those instruments (a leg already flattened from Positions is not
traded again); another order's holding in the same instrument (a separate POV, say) is its
own. One exit per basket structure or instrument is on its way at a time; the wait gives up
after :data:`WAIT_LIMIT_S`, saying so.

What the broker holds of an instrument this session never traded (an earlier session's
position, another app's) is exited from the Positions tab in its own product, an order per
product; the holding is then the session's (:meth:`PositionBook.adopt`), so the instrument's
next exit counts that order's fills against it and finds it flat instead of trading it again.
Those orders are not a basket leg's exit: a basket of the instrument traded later is exited
whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QStatusBar

from ...baskets.request import BasketRequest
from ...brokers.base import BrokerPosition
from ...stack import BasketHandle, ExecutionStack
from ..positions_model import PositionBook
from .confirmations import ConfirmationLog
from .tickets import ChainSnapshot, ExecutionPolicy, quote_fields


class ExitHost(Protocol):
    """What the exits need of the desk window."""

    stack: ExecutionStack
    positions: PositionBook
    baskets: dict[str, BasketHandle]
    snapshot: ChainSnapshot | None
    confirmations: ConfirmationLog

    def statusBar(self) -> QStatusBar: ...

    def refuse_basket(self, reason: str, payloads: list[dict[str, Any]]) -> None: ...

    def send_basket(self, basket: BasketRequest, title: str,
                    payloads: list[dict[str, Any]] | None = None) -> BasketHandle | None: ...

    def execute_payload(self, payload: dict[str, Any]) -> str | None: ...

#: How long an exit waits for what it cancelled to end before it gives up (nothing sent).
WAIT_LIMIT_S = 60.0
StructureKey = tuple[tuple[str, str], ...]


def structure_key(payloads: list[dict[str, Any]]) -> StructureKey:
    """A basket's legs as entered (symbol, side): its entries and exits share it."""
    return tuple(sorted((str(p["tradingsymbol"]), str(p["transaction_type"])) for p in payloads))


class DeskExits(QObject):
    """Exits of the desk window (its child: no wait outlives it)."""

    def __init__(self, window: ExitHost, parent: QObject) -> None:
        super().__init__(parent)
        self.window = window
        #: The baskets sent for each set of legs (entries, exits, completions, unwinds).
        self.structures: dict[StructureKey, list[str]] = {}
        self._pending: set[object] = set()  # structure keys and symbols being exited
        #: The orders an exit sent, by symbol, until their rows show them ended (the rows
        #: come later than the order: until then the book still shows the old holding).
        self._sent: dict[str, set[str]] = {}
        #: Those of them that exit a holding from outside this session (the broker's).
        self._outside: set[str] = set()
        #: The product of such a holding, by symbol (when it was held in one product).
        self._outside_product: dict[str, str] = {}

    def record(self, payloads: list[dict[str, Any]], basket_id: str) -> None:
        self.structures.setdefault(structure_key(payloads), []).append(basket_id)

    def record_follow_up(self, original: str, basket_id: str) -> None:
        """A Complete or Unwind of ``original`` trades the same legs' position."""
        for baskets in self.structures.values():
            if original in baskets:
                baskets.append(basket_id)

    # ------------------------------------------------------------------ a basket's legs

    def exit_structure(self, payloads: list[dict[str, Any]], policy: ExecutionPolicy) -> None:
        """Exit what the legs of ``payloads`` (as entered) hold."""
        w = self.window
        key = structure_key(payloads)
        baskets = self.structures.get(key, [])
        if not baskets:
            w.refuse_basket("exit: these legs were not traded from this desk in this "
                            "session; nothing is held to exit", [])
            return
        if key in self._pending:
            w.refuse_basket("exit: an exit of these legs is already on its way", [])
            return
        self._pending.add(key)
        for basket_id in baskets:
            if not w.baskets[basket_id].done():
                w.stack.cancel_basket(basket_id)
        legs = [(str(p["tradingsymbol"]), str(p["exchange"])) for p in payloads]

        def settled() -> bool:  # (a Positions exit of a leg still on its way counts too)
            return all(w.baskets[b].done() for b in self.structures[key]) and \
                not w.positions.working(w.positions.of_baskets(self.structures[key])) and \
                not any(self._unfinished(symbol) for symbol, _ in legs)

        self._when(settled, key, lambda: self._send_structure(key, legs, policy))

    def _send_structure(self, key: StructureKey, legs: list[tuple[str, str]],
                        policy: ExecutionPolicy) -> None:
        w = self.window
        held = w.positions.of_baskets(self.structures[key])
        payloads = []
        for symbol, exchange in legs:
            exited = [w.positions.parents[pid] for pid in self._sent.get(symbol, set())
                      if pid in w.positions.parents and pid not in self._outside]
            units = w.positions.net(symbol, [*held, *exited])
            if units:
                payloads.append(self._payload(symbol, exchange, units) | policy.payload_keys())
        if not payloads:
            w.statusBar().showMessage("Exit: every leg is flat; nothing sent", 8000)
            w.confirmations.refuse("exit: every leg is flat: nothing sent")
            return
        try:
            basket = BasketRequest.from_payloads(payloads)
        except ValueError as exc:
            w.refuse_basket(str(exc).replace("\n", "; "), payloads)
            return
        handle = w.send_basket(basket, "Exit (what each leg holds, reversed)", payloads)
        if handle is not None:
            self.structures[key].append(handle.basket_id)

    # ------------------------------------------------------------------ one instrument

    def exit_position(self, tradingsymbol: str, exchange: str) -> None:
        """Trade what this session holds in ``tradingsymbol`` back to flat, as one order,
        after this desk's parents still working in it have ended (what it holds: its fills
        and a holding from outside it that an exit took over)."""
        w = self.window
        if tradingsymbol in self._pending:
            w.refuse_basket(f"exit: an exit of {tradingsymbol} is already on its way", [])
            return
        self._pending.add(tradingsymbol)

        def working() -> set[str]:
            return self._unfinished(tradingsymbol) | {
                p.parent_id for p in w.positions.parents.values()
                if p.tradingsymbol == tradingsymbol and p.working}

        for parent_id in working():
            w.stack.cancel(parent_id)

        def send() -> None:
            units = w.positions.held(tradingsymbol)
            if not units:
                w.statusBar().showMessage(f"Exit: {tradingsymbol} is flat; nothing sent", 8000)
                return
            parent_id = w.execute_payload(self._payload(
                tradingsymbol, exchange, units, product=self._product(tradingsymbol)))
            if parent_id is not None:
                self._sent.setdefault(tradingsymbol, set()).add(parent_id)

        self._when(lambda: not working(), tradingsymbol, send)

    def exit_broker_position(self, held: Sequence[BrokerPosition]) -> None:
        """Trade what the broker holds of an instrument this session never traded back to
        flat: one order per product held, in that product. Sent once: the holding becomes the
        session's as each order is sent, and once the session has traded the instrument its
        own exit (:meth:`exit_position`) acts instead."""
        held = [p for p in held if p.quantity]
        if not held:
            return
        w = self.window
        symbol, exchange = held[0].tradingsymbol, held[0].exchange
        if symbol in self._pending:
            w.refuse_basket(f"exit: an exit of {symbol} is already on its way", [])
            return
        if w.positions.traded(symbol) or self._sent.get(symbol):
            self.exit_position(symbol, exchange)
            return
        self._pending.add(symbol)
        if len({p.product for p in held}) == 1:
            self._outside_product[symbol] = held[0].product
        try:  # (pending while a confirmation is open: a second Exit is refused)
            for position in held:
                parent_id = w.execute_payload(self._payload(
                    symbol, exchange, position.quantity, product=position.product))
                if parent_id is not None:
                    w.positions.adopt(symbol, position.quantity)
                    self._sent.setdefault(symbol, set()).add(parent_id)
                    self._outside.add(parent_id)
        finally:
            self._pending.discard(symbol)

    # ------------------------------------------------------------------ shared

    def _product(self, symbol: str) -> str:
        """What an exit of ``symbol`` trades in: the product of a holding from outside the
        session when all the session did there is exit it (what is left of it, e.g. after a
        rejection, closes in its own product), else the desk's NRML."""
        product = self._outside_product.get(symbol)
        if product is None or any(p.parent_id not in self._outside
                                  for p in self.window.positions.parents.values()
                                  if p.tradingsymbol == symbol):
            return "NRML"
        return product

    def _unfinished(self, symbol: str) -> set[str]:
        """The orders an exit of ``symbol`` sent whose rows do not show them ended yet."""
        book = self.window.positions.parents
        return {pid for pid in self._sent.get(symbol, set())
                if pid not in book or book[pid].working}

    def _payload(self, symbol: str, exchange: str, units: int, *,
                 product: str = "NRML") -> dict[str, Any]:
        """One MARKET order trading ``units`` (+ held long) back in ``product`` (the desk's
        orders are NRML), with the chain's quote of the symbol when it is shown."""
        payload: dict[str, Any] = {
            "tradingsymbol": symbol, "exchange": exchange,
            "transaction_type": "SELL" if units > 0 else "BUY", "quantity": abs(units),
            "order_type": "MARKET", "product": product, "variety": "regular"}
        snapshot = self.window.snapshot
        quote = snapshot.quote_of(symbol) if snapshot is not None else None
        if quote is not None:
            payload.update(quote_fields(quote))
        return payload

    def _when(self, ready: Callable[[], bool], pending: object,
              action: Callable[[], None]) -> None:
        """Run ``action`` once ``ready()``, asked every 50 ms, for at most WAIT_LIMIT_S."""
        deadline = time.monotonic() + WAIT_LIMIT_S
        w = self.window

        def poll() -> None:
            if ready():
                try:  # (still pending while its confirmation is open: a second Exit waits)
                    action()
                finally:
                    self._pending.discard(pending)
            elif time.monotonic() > deadline:
                self._pending.discard(pending)
                w.refuse_basket(f"exit: what it cancelled did not end within "
                                f"{WAIT_LIMIT_S:g} s; nothing sent", [])
            else:
                QTimer.singleShot(50, self, poll)

        if not ready():
            w.statusBar().showMessage("Exit: cancelling what still works, then exiting what "
                                      "filled…", 8000)
        poll()
