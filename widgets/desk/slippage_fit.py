"""The slippage fit in use, in the desk's status bar, and the question before a newer one replaces
it.

The label reads the stack's ``slippage_fit`` (:class:`~imperium_exec.calibration.slippage_fit
.FitInUse`): the calibration file in use with its fills, parents and held-out slope, or the
broker's own costs, or the equity defaults; its tooltip lists every fit found and not used, and
why. A live stack never switches fits on its own: when a newer fit passes its checks it waits
(``slippage_fit.pending``) and the button "Use newer fit…" asks the trader; a Yes records it as
accepted (:func:`~imperium_exec.calibration.slippage_fit.accept_fit`), and the stack uses it
from its next start (the parents running now keep the estimates they started with).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ...calibration.slippage_fit import FitInUse, LoadedFit, accept_fit
from ..questions import ask_yes_no

#: Asks the trader (parent, text) whether the newer fit may replace the one in use.
ConfirmFit = Callable[[QWidget, str], bool]


def confirm_fit_with_dialog(parent: QWidget, text: str) -> bool:
    """A Yes/No question; No is the default (Enter keeps the fit in use)."""
    return ask_yes_no(parent, "Use a new slippage fit", text,
                      name="slippage_fit_confirmation", default_yes=False)


def _fit_facts(fit: LoadedFit) -> str:
    e = fit.evidence
    if e is None:
        return fit.path.name
    held = e.held_out
    dates = fit.journal_dates
    return (f"{fit.path.name}: {e.observations} fills of {e.parents} parents"
            + (f" ({dates[0]} to {dates[-1]})" if dates else "")
            + (f", held-out slope {held.slope:.2f}, gain over no impact {held.gain:+.2f}"
               if held is not None and held.slope is not None else ""))


class SlippageFitStatus(QWidget):
    """The fit in use, and (live) the trader's choice of a newer one."""

    #: The trader accepted a newer fit: the accepted-fit record's path (used from next start).
    accepted = Signal(str)

    def __init__(self, fit: FitInUse | None, mode: str, *,
                 confirm: ConfirmFit = confirm_fit_with_dialog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("slippage_fit_status")
        self.fit = fit
        self.mode = mode
        self.confirm = confirm
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self)
        self.label.setObjectName("slippage_fit")
        self.button = QPushButton("Use newer fit…", self)
        self.button.setObjectName("slippage_fit_review")
        self.button.clicked.connect(self.review)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self._accepted: LoadedFit | None = None
        self.refresh()

    def refresh(self) -> None:
        fit = self.fit
        if fit is None:
            self.label.setText("Slippage fit: not known")
            self.button.setVisible(False)
            return
        if fit.fit is not None:
            text = f"Slippage fit: {fit.fit.path.name}"
        elif fit.source == "broker":
            text = "Slippage: the broker's own costs"
        else:
            text = "Slippage: equity defaults (no fit in use)"
        waiting = fit.pending if self._accepted is None else None
        if self._accepted is not None:
            text += f" — {self._accepted.path.name} accepted: used from the next start"
        elif waiting is not None:
            text += f" — newer fit {waiting.path.name} waits"
        self.label.setText(text)
        tips = [_fit_facts(fit.fit) if fit.fit is not None else fit.describe()]
        tips += [f"Not used: {note}" for note in fit.notes]
        self.label.setToolTip("\n".join(tips))
        self.button.setVisible(waiting is not None)

    def review(self) -> bool:
        """Ask before the waiting fit replaces the one in use; True when it was accepted."""
        fit = self.fit
        if fit is None or fit.pending is None or self._accepted is not None:
            return False
        in_use = _fit_facts(fit.fit) if fit.fit is not None else fit.describe()
        text = (f"In use: {in_use}.\n\nNewer: {_fit_facts(fit.pending)}.\n\n"
                "Use the newer fit from the next start? Parents running now keep their "
                "estimates.")
        if not self.confirm(self, text):
            return False
        try:
            record = accept_fit(fit.pending.path, mode=self.mode)
        except (ValueError, OSError) as exc:
            self.label.setText(f"Slippage fit: {fit.pending.path.name} not accepted: {exc}")
            return False
        self._accepted = fit.pending
        self.refresh()
        self.accepted.emit(str(record))
        return True


__all__ = ["ConfirmFit", "SlippageFitStatus", "confirm_fit_with_dialog"]
