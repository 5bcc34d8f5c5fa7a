"""OrphansPanel: the parents a restart check (or a new login) holds, with Adopt and Cancel.

Shown by the dock when a :class:`~imperium_exec.recovery.report.RecoveryReport` lists parents
left working or open orders with the desk's tag (hidden on a clean report). Each held parent is
a row: what it is, what it filled (and what filled while the desk was down), its open orders,
and Adopt / Cancel; *Cancel all* cancels every one of them (``stack.cancel_orphans``). Nothing is
sent until the trader chooses. The stack's answers are futures: a timer polls them (the GUI
thread never waits) and each row says what is under way or what failed; a row goes when its
parent's finished row arrives.

Keyboard: the rows take focus (Tab, or Up / Down between rows); Enter adopts the focused
row's parent (after a confirmation), Delete cancels it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .orphans_model import ADOPT_KEY, CANCEL_KEY, OrphanBook, OrphanLine, RecoveryControl
from .parents_view import ElidedLabel
from .questions import ask_yes_no
from .theme import LIGHT, Theme

Confirm = Callable[[QWidget, str], bool]
#: How often the panel looks at the stack's futures while a choice is under way (ms).
POLL_MS = 100
#: Rows shown before the list scrolls.
ROWS_SHOWN = 4


def confirm_adopt_with_dialog(parent: QWidget, text: str) -> bool:
    """Ask before Adopt sends anything: Enter adopts (Yes is the default), Esc declines."""
    return ask_yes_no(parent, "Adopt a held parent", text, name="adopt_confirmation",
                      default_yes=True)


class OrphanRow(QFrame):
    """One held parent: two lines of what it is, its open orders, a state line, and Adopt /
    Cancel. Takes focus: Enter adopts, Delete cancels, Up / Down move to the next row."""

    adopt_clicked = Signal(str)
    cancel_clicked = Signal(str)
    move_focus = Signal(str, int)  # parent id, -1 up / +1 down

    def __init__(self, parent_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parent_id = parent_id
        self.setObjectName(f"orphan_{parent_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(6)
        text = QVBoxLayout()
        text.setSpacing(1)
        self.title = ElidedLabel(self)
        bold = QFont(self.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.detail = ElidedLabel(self)
        self.orders = ElidedLabel(self)
        self.orders.setObjectName("orphan_orders")
        #: What is under way, or why not (cut to the row's width: the tooltip has it all).
        self.state = ElidedLabel(self)
        self.state.setObjectName("orphan_state")
        for label in (self.title, self.detail, self.orders, self.state):
            text.addWidget(label)
        layout.addLayout(text, 1)
        self.adopt_button = QPushButton("Adopt", self)
        self.adopt_button.setObjectName("adopt")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancel")
        for button in (self.adopt_button, self.cancel_button):
            button.setAutoDefault(False)
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.adopt_button.clicked.connect(lambda: self.adopt_clicked.emit(self.parent_id))
        self.cancel_button.clicked.connect(lambda: self.cancel_clicked.emit(self.parent_id))
        self._tip = ""

    def show_line(self, line: OrphanLine, theme: Theme) -> None:
        self.title.setText(line.title)
        self.detail.setText(line.detail)
        self.orders.setText(line.orders)
        self.orders.setToolTip(line.orders_tip)
        self.state.setVisible(line.state is not None)
        if line.state is not None:
            self.state.setText(line.state)
            colour = theme.bad if line.state_is_error else theme.warn
            style = f"color: {colour.name()};"
            if self.state.styleSheet() != style:
                self.state.setStyleSheet(style)
        self.adopt_button.setEnabled(line.can_adopt)
        self.adopt_button.setToolTip(line.adopt_tip)
        self.cancel_button.setEnabled(line.can_cancel)
        self.cancel_button.setToolTip(line.cancel_tip)
        self._tip = (f"{line.parent_id}: {ADOPT_KEY} adopts, {CANCEL_KEY} cancels, "
                     "Up / Down move between the held parents")
        self.setToolTip(self._tip)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.hasFocus():  # the row the keys act on
            painter = QPainter(self)
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight))
            pen.setWidth(2)
            painter.setPen(pen)
            painter.drawRect(self.rect().adjusted(1, 1, -1, -1))

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.adopt_button.isEnabled():
                self.adopt_clicked.emit(self.parent_id)
            event.accept()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            if self.cancel_button.isEnabled():
                self.cancel_clicked.emit(self.parent_id)
            event.accept()
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.move_focus.emit(self.parent_id, -1 if key == Qt.Key.Key_Up else 1)
            event.accept()
        else:
            super().keyPressEvent(event)


class OrphansPanel(QFrame):
    """The held parents of a recovery report (see the module docstring)."""

    #: A choice was made (for hosts that log it): ("adopt" | "cancel" | "cancel_all", id).
    chosen = Signal(str, str)

    def __init__(self, book: OrphanBook, control: RecoveryControl | None = None, *,
                 lot_size: Callable[[str], int | None] = lambda _: None,
                 confirm_adopt: Confirm = confirm_adopt_with_dialog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book = book
        self.control = control
        self.lot_size = lot_size
        self.confirm_adopt = confirm_adopt
        self.theme: Theme = LIGHT
        self.rows: dict[str, OrphanRow] = {}
        self.setObjectName("orphans_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        top = QHBoxLayout()
        top.setSpacing(6)
        self.header = QLabel(self)
        self.header.setObjectName("orphans_header")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        # A long summary wraps: it never widens the dock.
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bold = QFont(self.font())
        bold.setBold(True)
        self.header.setFont(bold)
        top.addWidget(self.header, 1)
        self.cancel_all_button = QPushButton("Cancel all held", self)
        self.cancel_all_button.setObjectName("cancel_orphans")
        self.cancel_all_button.setAutoDefault(False)
        self.cancel_all_button.setToolTip(
            "Cancel every held parent and every open order with the desk's tag and no parent "
            "(sells before buys); nothing new is sent")
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.dismiss_button = QPushButton("Dismiss", self)
        self.dismiss_button.setObjectName("dismiss_orphans")
        self.dismiss_button.setAutoDefault(False)
        self.dismiss_button.setToolTip("Hide this panel (nothing is held any more)")
        self.dismiss_button.clicked.connect(self.dismiss)
        for button in (self.cancel_all_button, self.dismiss_button):
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.status = ElidedLabel(self)
        self.status.setObjectName("orphans_status")
        layout.addWidget(self.status)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(self.scroll_area)
        self._list = QVBoxLayout(body)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(3)
        self.loose_label = ElidedLabel(body)
        self.loose_label.setObjectName("loose_orders")
        self._list.addWidget(self.loose_label)
        self._list.addStretch(1)
        self.scroll_area.setWidget(body)
        layout.addWidget(self.scroll_area)
        self.outcomes = QLabel(self)
        self.outcomes.setObjectName("orphans_outcomes")
        self.outcomes.setWordWrap(True)
        self.outcomes.setTextFormat(Qt.TextFormat.PlainText)
        self.outcomes.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.outcomes)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._shown_version = -1
        self.setVisible(False)

    # ------------------------------------------------------------------ the trader's choices
    def adopt(self, parent_id: str) -> str | None:
        """Adopt ``parent_id`` after the trader confirmed: the new parent's id (None: not)."""
        if self.control is None or not self.book.can_adopt(parent_id):
            return None
        if not self.confirm_adopt(self, self.book.adopt_question(parent_id)):
            return None
        new_id = self.book.adopt(parent_id, self.control)
        if new_id is not None:
            self.chosen.emit("adopt", parent_id)
        self.sync()
        return new_id

    def cancel(self, parent_id: str) -> bool:
        if self.control is None:
            return False
        done = self.book.cancel(parent_id, self.control)
        if done:
            self.chosen.emit("cancel", parent_id)
        self.sync()
        return done

    def cancel_all(self) -> bool:
        if self.control is None:
            return False
        done = self.book.cancel_all(self.control)
        if done:
            self.chosen.emit("cancel_all", "")
        self.sync()
        return done

    def dismiss(self) -> None:
        self.book.dismiss()
        self.sync()

    # ------------------------------------------------------------------ drawing
    def sync(self) -> None:
        """Show the book as it is now (cheap when nothing changed)."""
        book = self.book
        if book.waiting and not self._timer.isActive():
            self._timer.start()
        if book.version == self._shown_version:
            return
        self._shown_version = book.version
        visible = book.visible
        if not visible:
            self.setVisible(False)
            self._drop_rows(set())
            return
        self.header.setText(book.header)
        self.status.setText(book.status())
        lines = book.lines(self.lot_size)
        focused = next((pid for pid, row in self.rows.items() if row.hasFocus()), None)
        self._drop_rows({line.parent_id for line in lines})
        for i, line in enumerate(lines):
            row = self._row(line.parent_id)
            row.show_line(line, self.theme)
            if self._list.indexOf(row) != i:
                self._list.insertWidget(i, row)
        if focused is not None and focused not in self.rows and self.rows:
            next(iter(self.rows.values())).setFocus()  # the focus stays in the list
        loose, loose_tip = book.loose_text()
        self.loose_label.setText(loose)
        self.loose_label.setToolTip(loose_tip)
        self.loose_label.setVisible(bool(loose))
        self.outcomes.setText("\n".join(book.outcomes))
        self.outcomes.setVisible(bool(book.outcomes))
        control = self.control is not None
        self.cancel_all_button.setVisible(not book.resolved)
        self.cancel_all_button.setEnabled(control and not book.cancelling_all
                                          and bool(book.held or book.loose))
        self.dismiss_button.setVisible(book.resolved)
        self._fit_list(len(lines) + (1 if loose else 0))
        self._apply_colours()
        self.setVisible(True)

    def _fit_list(self, entries: int) -> None:
        """Room for up to :data:`ROWS_SHOWN` rows; more scroll."""
        if not entries:
            self.scroll_area.setVisible(False)
            return
        self.scroll_area.setVisible(True)
        row_height = max((r.sizeHint().height() for r in self.rows.values()),
                         default=self.loose_label.sizeHint().height())
        shown = min(entries, ROWS_SHOWN)
        self.scroll_area.setFixedHeight(shown * row_height + (shown - 1) * 3 + 2)

    def _apply_colours(self) -> None:
        style = f"color: {self.theme.warn.name()};"
        if self.loose_label.styleSheet() != style:
            self.loose_label.setStyleSheet(style)

    def paintEvent(self, event: QPaintEvent) -> None:
        """A warm tint over whatever the host's background is (it follows a palette change):
        the panel stands out from the tiles without hiding a failure's red or the text."""
        painter = QPainter(self)
        tint = QColor(self.theme.warn)
        tint.setAlphaF(0.22 if self.theme.dark else 0.16)
        painter.fillRect(self.rect(), tint)
        painter.end()
        super().paintEvent(event)

    def _row(self, parent_id: str) -> OrphanRow:
        row = self.rows.get(parent_id)
        if row is None:
            row = OrphanRow(parent_id, self._list.parentWidget())
            row.adopt_clicked.connect(self.adopt)
            row.cancel_clicked.connect(self.cancel)
            row.move_focus.connect(self._move_focus)
            self.rows[parent_id] = row
        return row

    def _drop_rows(self, keep: set[str]) -> None:
        for parent_id in [p for p in self.rows if p not in keep]:
            gone = self.rows.pop(parent_id)
            self._list.removeWidget(gone)
            gone.deleteLater()

    def _move_focus(self, parent_id: str, step: int) -> None:
        ids = list(self.rows)
        i = ids.index(parent_id) + step
        if 0 <= i < len(ids):
            row = self.rows[ids[i]]
            row.setFocus(Qt.FocusReason.OtherFocusReason)
            self.scroll_area.ensureWidgetVisible(row)

    def _poll(self) -> None:
        self.book.poll()
        if not self.book.waiting:
            self._timer.stop()
        self.sync()

    def redraw(self) -> None:
        """Draw again though the book did not change (the lot sizes did, or the theme)."""
        self._shown_version = -1
        self.sync()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.redraw()
