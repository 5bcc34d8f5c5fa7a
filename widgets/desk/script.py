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

        def basket_order(legs: list[tuple[int, str, int, str]], policy: ExecutionPolicy,
                         action: str) -> Callable[[], None]:
            """Legs (strike offset from ATM, CE/PE, lots, BUY/SELL), then Buy (as entered)
            or Exit (every leg reversed): one basket."""
            def act() -> None:
                basket.model.clear()
                for offset, kind, lots, side in legs:
                    basket.side.setCurrentText(side)
                    basket.strike.set_strike(strike(offset))
                    basket.option_type.setCurrentText(kind)
                    basket.lots.setValue(lots)
                    basket.add_button.click()
                basket.side.setCurrentText("BUY")
                basket.policy_form.set_policy(policy)
                (basket.buy_all_button if action == "BUY" else basket.exit_all_button).click()
            return act

        # A short strangle with its hedges (wings bought first, the shorts only as far as
        # they have filled), worked over minutes; an iron condor in and out at once.
        hedged_strangle = [(2, "CE", 2, "SELL"), (-2, "PE", 2, "SELL"),
                           (4, "CE", 2, "BUY"), (-4, "PE", 2, "BUY")]
        iron_condor = [(5, "CE", 1, "BUY"), (3, "CE", 1, "SELL"),
                       (-3, "PE", 1, "SELL"), (-5, "PE", 1, "BUY")]

        def pause_twap() -> None:
            row = w.dock.parents_panel.rows.get(self._twap_parent or "")
            if row is not None and row.pause_button.isEnabled():
                row.pause_button.click()

        return [
            ("quick IMMEDIATE buy", quick_order(0, "CE", 2, ExecutionPolicy(), "BUY")),
            ("quick TWAP buy", quick_order(1, "PE", 6, ExecutionPolicy(
                algo="TWAP", slices=6, horizon_s=120), "BUY")),
            ("basket hedged strangle (TWAP)", basket_order(
                hedged_strangle, ExecutionPolicy(algo="TWAP", slices=4, horizon_s=240),
                "BUY")),
            ("basket iron condor in", basket_order(iron_condor, ExecutionPolicy(), "BUY")),
            ("quick POV buy", quick_order(3, "CE", 8, ExecutionPolicy(
                algo="POV", slices=8, horizon_s=180, participation=0.10), "BUY")),
            ("quick IS sell", quick_order(-2, "PE", 3, ExecutionPolicy(
                algo="IS", urgency="high", slices=3, horizon_s=30), "SELL")),
            ("pause the TWAP", pause_twap),
            ("basket iron condor out", basket_order(iron_condor, ExecutionPolicy(), "EXIT")),
        ]

    def _remember_twap(self, parent_id: str, payload: dict[str, object]) -> None:
        if payload.get("execution_algo") == "TWAP" and self._twap_parent is None:
            self._twap_parent = parent_id
