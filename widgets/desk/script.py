"""A scripted trading session for the headless demo: orders through both panels, like a trader.

Each step sets the panel's fields and clicks its buttons (``QAbstractButton.click``: the same
signal path as a mouse click), spaced out by timers so the window keeps repainting and the
stack's confirmations arrive in between. The steps start once the option chain has loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from .basket_confirm import BasketChoice
from .tickets import ChainSnapshot, ExecutionPolicy
from .window import DeskWindow


class DemoScript(QObject):
    """Drives a DeskWindow through a short, varied session."""

    step_done = Signal(str)
    finished = Signal()

    def __init__(self, window: DeskWindow, *, pace_ms: int = 700,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.pace_ms = pace_ms
        self.done: list[str] = []
        self._started = False
        self._twap_parent: str | None = None
        window.order_submitted.connect(self._remember_twap)
        # The scripted trader reads the basket confirmation and sends (hedge-first kept).
        window.confirm_basket = lambda _parent, _text: BasketChoice()

    def start(self) -> None:
        """Run the steps once the chain is there (now, if it already is)."""
        if self.window.snapshot is not None:
            self._begin(self.window.snapshot)
        else:
            self.window.poller.snapshot_ready.connect(self._begin)

    def _begin(self, snapshot: ChainSnapshot) -> None:
        if self._started:
            return
        self._started = True
        steps = self.steps(snapshot)
        for i, (name, action) in enumerate(steps):
            QTimer.singleShot(300 + i * self.pace_ms, self,
                              lambda n=name, a=action: self._run(n, a))
        QTimer.singleShot(300 + len(steps) * self.pace_ms, self, self.finished.emit)

    def _run(self, name: str, action: Callable[[], None]) -> None:
        action()
        self.done.append(name)
        self.step_done.emit(name)

    def steps(self, snapshot: ChainSnapshot) -> list[tuple[str, Callable[[], None]]]:
        strikes = snapshot.strikes
        atm = strikes.index(snapshot.view.atm_strike)

        def strike(offset: int) -> float:
            return strikes[max(0, min(len(strikes) - 1, atm + offset))]

        w = self.window
        quick, basket = w.quick, w.basket

        def quick_order(offset: int, kind: str, lots: int, policy: ExecutionPolicy,
                        side: str) -> Callable[[], None]:
            def act() -> None:
                quick.select(strike(offset), "CE" if kind == "CE" else "PE")
                quick.lots.setValue(lots)
                quick.policy_form.set_policy(policy)
                (quick.buy_button if side == "BUY" else quick.sell_button).click()
            return act

        def basket_order(legs: list[tuple[int, str, int]], policy: ExecutionPolicy,
                         side: str) -> Callable[[], None]:
            def act() -> None:
                basket.model.clear()
                for offset, kind, lots in legs:
                    basket.strike.set_strike(strike(offset))
                    basket.option_type.setCurrentText(kind)
                    basket.lots.setValue(lots)
                    basket.add_button.click()
                basket.policy_form.set_policy(policy)
                (basket.buy_all_button if side == "BUY" else basket.exit_all_button).click()
            return act

        def pause_twap() -> None:
            row = w.dock.parents_panel.rows.get(self._twap_parent or "")
            if row is not None and row.pause_button.isEnabled():
                row.pause_button.click()

        return [
            ("quick IMMEDIATE buy", quick_order(0, "CE", 2, ExecutionPolicy(), "BUY")),
            ("quick TWAP buy", quick_order(1, "PE", 6, ExecutionPolicy(
                algo="TWAP", slices=6, horizon_s=120), "BUY")),
            ("basket VWAP buy all", basket_order(
                [(-1, "CE", 2), (2, "CE", 3), (0, "PE", 1)],
                ExecutionPolicy(algo="VWAP", slices=4, horizon_s=90), "BUY")),
            ("quick POV buy", quick_order(3, "CE", 8, ExecutionPolicy(
                algo="POV", slices=8, horizon_s=180, participation=0.10), "BUY")),
            ("quick IS sell", quick_order(-2, "PE", 3, ExecutionPolicy(
                algo="IS", urgency="high", slices=3, horizon_s=30), "SELL")),
            ("pause the TWAP", pause_twap),
            ("basket IMMEDIATE exit all", basket_order(
                [(-1, "CE", 1), (0, "PE", 1)], ExecutionPolicy(), "SELL")),
        ]

    def _remember_twap(self, parent_id: str, payload: dict[str, object]) -> None:
        if payload.get("execution_algo") == "TWAP" and self._twap_parent is None:
            self._twap_parent = parent_id
