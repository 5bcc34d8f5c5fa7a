"""The desk after a lost broker session: "Log in again…" with a new access token.

When the broker refuses the session (Kite: the access token expired or was revoked), the stack
halts its working parents (each waits, its orders as they were) and says ``session_expired``.
:class:`SessionLogin` then offers *Log in again…* (in the File menu, and beside the dock's
re-login banner): a small dialog takes the new access token (shown as dots) and hands it to
``stack.resume_session``, which logs in and reads the order book on the engine's thread; the
dialog polls its future (the GUI thread never waits) and says the outcome. The halted parents
come back as a report the dock's orphans panel lists, to cancel or adopt: nothing is sent until
the trader chooses. A broker whose session never expires (the paper exchange) gets no action.
"""

from __future__ import annotations

import concurrent.futures

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...recovery.report import RecoveryReport
from ...stack import ExecutionStack
from ..dock import ExecutionDock
from ..theme import Theme
from .confirmations import Confirmation, ConfirmationLog, Level

#: How often the dialog looks at the login's future (ms).
POLL_MS = 100


class LoginDialog(QDialog):
    """Asks for a new access token and logs in with it, off the GUI thread."""

    def __init__(self, login: SessionLogin, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.login = login
        self.setObjectName("login_dialog")
        self.setWindowTitle("Log in again")
        layout = QVBoxLayout(self)
        intro = QLabel("The broker refused the session: nothing more is sent. Paste the "
                       "access token of a new login. The halted parents are then listed in "
                       "the dock to cancel or adopt; nothing is sent until you choose.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.token = QLineEdit(self)
        self.token.setObjectName("access_token")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("access token")
        layout.addWidget(self.token)
        self.status = QLabel(self)
        self.status.setObjectName("login_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setVisible(False)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(self)
        self.login_button = QPushButton("Log in", self)
        self.login_button.setObjectName("log_in")
        self.login_button.setDefault(True)
        buttons.addButton(self.login_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.login_button.clicked.connect(self.submit)
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.future: concurrent.futures.Future[RecoveryReport] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.setMinimumWidth(460)
        self.adjustSize()

    def accept(self) -> None:  # Enter in the token box: log in, do not close
        self.submit()

    def submit(self) -> bool:
        """Log in with the token typed; False when nothing was started (said why)."""
        if self.future is not None and not self.future.done():
            return False
        token = self.token.text().strip()
        if not token:
            self._say("Paste the access token of a new login first.", bad=True)
            return False
        try:
            self.future = self.login.stack.resume_session(token)
        except (ValueError, RuntimeError) as exc:
            self._say(f"Cannot log in: {exc}", bad=True)
            return False
        self.token.clear()
        self.token.setEnabled(False)
        self.login_button.setEnabled(False)
        self._say("Logging in and reading the order book…")
        self._timer.start()
        return True

    def _poll(self) -> None:
        future = self.future
        if future is None or not future.done():
            return
        self._timer.stop()
        self.token.setEnabled(True)
        self.login_button.setEnabled(True)
        try:
            report = future.result(0)
        except Exception as exc:  # the broker refused the token, the engine is down, ...
            self._say(f"Not logged in: {exc or type(exc).__name__}", bad=True)
            self.token.setFocus()
            return
        if report.error is not None:  # (a refused token reads so: the book stays closed)
            self._say(f"Login not confirmed: {report.error}. Check the token and try again.",
                      bad=True)
            self.token.setFocus()
        else:
            self._say(f"Logged in. {report.summary()}")
            self.login_button.setEnabled(False)
            self.close_button.setFocus()
        self.login.logged_in(report)

    def _say(self, text: str, *, bad: bool = False) -> None:
        theme = Theme.for_palette(self.palette())
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.bad.name()};" if bad else "")
        self.status.setVisible(True)
        self.adjustSize()  # room for the wrapped outcome


class SessionLogin(QObject):
    """The desk's *Log in again…* (see the module docstring); :meth:`for_window` builds it
    only for a broker whose session can be renewed."""

    def __init__(self, window: QMainWindow, stack: ExecutionStack, dock: ExecutionDock,
                 confirmations: ConfirmationLog) -> None:
        super().__init__(window)
        self.window = window
        self.stack = stack
        self.dock = dock
        self.confirmations = confirmations
        self.action = QAction("Log in again…", window)
        self.action.setObjectName("log_in_again")
        self.action.setToolTip("The broker refused the session: log in with a new access "
                               "token (the halted parents are then listed to cancel or adopt)")
        self.action.setEnabled(False)
        self.action.triggered.connect(self.open_dialog)
        self.dialog: LoginDialog | None = None
        stack.session_expired.connect(self._session_lost)
        dock.set_session_action(self.action)

    @classmethod
    def offered(cls, window: QMainWindow, stack: ExecutionStack, dock: ExecutionDock,
                confirmations: ConfirmationLog) -> SessionLogin | None:
        """The action for ``stack``, or None when its broker's session never expires (no
        re-login: the paper exchange)."""
        if stack.broker.capabilities.relogin is None:
            return None
        return cls(window, stack, dock, confirmations)

    def open_dialog(self) -> LoginDialog:
        """Show the dialog (not modal: the desk keeps updating behind it)."""
        if self.dialog is None:
            self.dialog = LoginDialog(self, self.window)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        self.dialog.token.setFocus()
        return self.dialog

    def _session_lost(self, _row: object) -> None:
        self.action.setEnabled(True)
        self.window.statusBar().showMessage(
            "Broker session lost: File > Log in again… with a new access token")

    def logged_in(self, report: RecoveryReport) -> None:
        """A login's report: the dock shows what is held; once the order book could be read
        with it, the banner goes and the action is put away."""
        dock = self.dock
        dock.show_recovery(report)
        if report.error is None:
            dock.note_session_resumed()
            self.action.setEnabled(False)
        if report.error is not None:
            text, level = f"Login not confirmed: {report.error}", Level.BAD
        else:
            text = f"Logged in again: {report.summary()}"
            level = Level.WARN if report.orphans else Level.GOOD
        self.confirmations.add(Confirmation(level, text))
        self.window.statusBar().showMessage(text, 15000)
