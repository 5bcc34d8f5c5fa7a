"""The dock's "re-login needed" banner: the broker refused the session (a ``session`` row), and
nothing more is sent until the trader logs in again.

It shows while the newest session row is newer than the newest accepted parent, whatever order
rows arrive in (a journal's history comes newest first), and goes once the trader logged in
again (:meth:`SessionBanner.resumed`) or orders flow again. Beside it, the host's own way to log
in again (:meth:`SessionBanner.set_action`: a button that triggers the host's action).
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ..events import Event, EventKind


class SessionBanner(QWidget):
    """The banner (``label``) and the host's log-in button (``button``), in one row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.label = QLabel(self)
        self.label.setObjectName("session_banner")
        self.label.setWordWrap(True)
        self.label.setStyleSheet("QLabel { background: #d32f2f; color: white; "
                                 "font-weight: bold; padding: 4px 6px; }")
        row.addWidget(self.label, 1)
        self.button = QPushButton(self)
        self.button.setObjectName("session_action")
        self.button.setAutoDefault(False)
        row.addWidget(self.button)
        self._action: QAction | None = None
        self._session_ts = float("-inf")  # the newest session row
        self._accepted_ts = float("-inf")  # the newest accepted parent (or new login)
        self._text = ("", "")
        self._show(False)

    def note(self, events: list[Event]) -> None:
        """Rows arrived (new ones, or older ones from the journal's history)."""
        changed = False
        for e in events:
            if e.event is EventKind.SESSION and e.ts >= self._session_ts:
                self._session_ts = e.ts
                self._text = (f"Broker session lost: re-login needed. Nothing more is "
                              f"sent. {e.message or ''}", e.error or "")
                changed = True
            elif e.event is EventKind.ACCEPTED and e.ts > self._accepted_ts:
                self._accepted_ts = e.ts
                changed = True
        if changed:
            lost = self._session_ts > self._accepted_ts
            if lost:
                self.label.setText(self._text[0])
                self.label.setToolTip(self._text[1])
            self._show(lost)

    def resumed(self) -> None:
        """The trader logged in again: the banner goes (a later lost session shows it)."""
        self._accepted_ts = max(self._accepted_ts, self._session_ts)
        self._show(False)

    def reset(self) -> None:
        """The journal started over (truncated or replaced): nothing lost yet."""
        self._session_ts = self._accepted_ts = float("-inf")
        self._show(False)

    def set_action(self, action: QAction | None) -> None:
        """A host's "Log in again…": the button beside the banner, shown with it, triggers
        ``action`` (None: no button)."""
        self._action = action
        if action is not None:
            self.button.setText(action.text().replace("&", ""))
            self.button.setToolTip(action.toolTip())
            self.button.clicked.connect(action.trigger)
        self.button.setVisible(action is not None and not self.label.isHidden())

    def _show(self, visible: bool) -> None:
        self.label.setVisible(visible)
        self.button.setVisible(visible and self._action is not None)
        self.setVisible(visible)


__all__ = ["SessionBanner"]
