"""ActiveParentsPanel: working parents with progress, pause/resume/cancel, and the kill switch.

The panel only shows a :class:`~.parents_model.ParentBook` and emits requests; the dock connects
them to the stack. Parents this session's stack does not run (rows from another process, or left
unfinished in the journal by an earlier run) are shown without controls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QPainter, QPaintEvent, QPalette, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..events import ParentStatus
from .parents_model import BasketProgress, PanelView, ParentProgress
from .questions import ask_yes_no
from .theme import LIGHT, Theme

#: Kill switch shortcut, active in every window of the application (the host window, and the
#: dock while it floats) once a stack is attached.
CANCEL_ALL_SHORTCUT = "Ctrl+Shift+K"

Confirm = Callable[[QWidget, str], bool]


def confirm_with_dialog(parent: QWidget, text: str) -> bool:
    """Ask before the kill switch fires: Enter kills (Yes is the default: Ctrl+Shift+K, Enter
    is the whole gesture), Esc or No dismisses."""
    return ask_yes_no(parent, "Cancel all working orders", text,
                      name="cancel_all_confirmation", default_yes=True, warning=True)


class ElidedLabel(QLabel):
    """A one-line label that gives up width before the row's buttons do: it shrinks to fit
    and ends its text with an ellipsis (the full text is its tooltip)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                              self.contentsRect().width())
        painter.drawText(self.contentsRect(), int(self.alignment()), shown)


class ParentRow(QFrame):
    """One working parent: what it is, how far it got, and its controls."""

    pause_clicked = Signal(str)
    resume_clicked = Signal(str)
    cancel_clicked = Signal(str)

    def __init__(self, parent_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parent_id = parent_id
        self.setObjectName(f"parent_{parent_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 3, 6, 3)
        outer.setSpacing(1)
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        outer.addLayout(layout)
        #: "checking the order book for tag …, 3 s" while a child waits on a reconcile: a line
        #: of its own across the row, shown only then.
        self.checking = ElidedLabel(self)
        self.checking.setObjectName("checking")
        self.checking.setVisible(False)
        outer.addWidget(self.checking)
        text = QVBoxLayout()
        text.setSpacing(1)
        self.title = ElidedLabel(self)
        bold = QFont(self.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.subtitle = ElidedLabel(self)
        text.addWidget(self.title)
        text.addWidget(self.subtitle)
        layout.addLayout(text, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        # One width for every row, so the bars line up whatever the titles say.
        self.progress.setFixedWidth(self.fontMetrics().horizontalAdvance(
            "17,550 / 17,550  (100%)") + 24)
        layout.addWidget(self.progress)
        self.pause_button = QPushButton("Pause", self)
        self.cancel_button = QPushButton("Cancel", self)
        for button in (self.pause_button, self.cancel_button):
            button.setAutoDefault(False)
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            layout.addWidget(button)
        width = max(b.fontMetrics().horizontalAdvance(t) for b in (self.pause_button,)
                    for t in ("Resume", "Pause")) + 24
        self.pause_button.setFixedWidth(width)
        self.pause_button.clicked.connect(self._toggle)
        self.cancel_button.clicked.connect(lambda: self.cancel_clicked.emit(self.parent_id))
        self._paused = False

    def show_progress(self, p: ParentProgress, controllable: bool, theme: Theme) -> None:
        self._paused = p.paused
        self.title.setText(p.describe())
        status = ParentStatus.PAUSED if p.paused else p.status
        placed = f"{p.placed}/{p.children} children placed" if p.children else "planning"
        self.subtitle.setText(f"{p.parent_id} · {status} · {placed}")
        colour = theme.status(status)
        self.subtitle.setStyleSheet(f"color: {colour.name()};" if colour is not None else "")
        self.progress.setValue(round(p.fraction * 1000))
        self.progress.setFormat(f"{p.filled:,} / {p.quantity:,}  ({p.fraction:.0%})")
        self.pause_button.setText("Resume" if p.paused else "Pause")
        self.pause_button.setToolTip(("Resume" if p.paused else "Pause") +
                                     f" {p.parent_id}: " + ("send the remaining slices, "
                                     "schedule shifted by the pause" if p.paused else
                                     "stop sending new slices (resting ones stay)"))
        self.cancel_button.setToolTip(f"Cancel {p.parent_id} and its resting child orders")
        for button in (self.pause_button, self.cancel_button):
            button.setEnabled(controllable)
        if p.halted:  # (a lost session's halt: no Resume until a new login reports it)
            self.pause_button.setEnabled(False)
            self.pause_button.setToolTip(f"{p.parent_id} is halted by the lost session: log "
                                         "in again, then cancel or adopt it")
        if not controllable:
            self.setToolTip("Not run by this session's stack (from the journal): "
                            "no controls")
        else:
            self.setToolTip("")

    def show_checking(self, text: str | None, theme: Theme) -> None:
        """Say that a child of this parent waits on the order book (None: none does)."""
        if text is None:
            if not self.checking.isHidden():
                self.checking.setVisible(False)
            return
        if text != self.checking.text():
            self.checking.setText(text)
            self.checking.setToolTip(
                f"{text}: an attempt's outcome is unknown (a timeout after sending, a 5xx); "
                "the engine looks its tag up before anything is re-sent")
        style = f"color: {theme.warn.name()};"
        if style != self.checking.styleSheet():  # a style sheet costs: set it once per theme
            self.checking.setStyleSheet(style)
        if self.checking.isHidden():
            self.checking.setVisible(True)

    def _toggle(self) -> None:
        (self.resume_clicked if self._paused else self.pause_clicked).emit(self.parent_id)


class BasketRow(QFrame):
    """One basket under one line: "Basket <id>: N legs, filled X of Y" and Cancel basket; its
    legs (role, side, net filled) below while expanded; once it stopped short, its report and
    Complete / Unwind."""

    cancel_clicked = Signal(str)
    complete_clicked = Signal(str)
    unwind_clicked = Signal(str)

    def __init__(self, basket_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.basket_id = basket_id
        self.setObjectName(f"basket_{basket_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 3, 6, 3)
        outer.setSpacing(1)
        line = QHBoxLayout()
        line.setSpacing(6)
        self.toggle = QToolButton(self)
        self.toggle.setObjectName("basket_toggle")
        self.toggle.setCheckable(True)
        self.toggle.setChecked(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.toggle.setToolTip("Show or hide the basket's legs")
        self.toggle.toggled.connect(self.set_expanded)
        line.addWidget(self.toggle)
        self.title = ElidedLabel(self)
        bold = QFont(self.font())
        bold.setBold(True)
        self.title.setFont(bold)
        line.addWidget(self.title, 1)
        self.cancel_button = QPushButton("Cancel basket", self)
        self.complete_button = QPushButton("Complete", self)
        self.unwind_button = QPushButton("Unwind", self)
        for button in (self.cancel_button, self.complete_button, self.unwind_button):
            button.setAutoDefault(False)
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            line.addWidget(button)
        self.cancel_button.setToolTip("Cancel every leg hedge-safe: the sells' working orders "
                                      "before the buys'")
        self.complete_button.setToolTip("Send the rest of every leg as a new basket "
                                        "(asks first)")
        self.unwind_button.setToolTip("Trade every filled unit back at the market, shorts "
                                      "bought back first (asks first)")
        self.cancel_button.clicked.connect(lambda: self.cancel_clicked.emit(self.basket_id))
        self.complete_button.clicked.connect(lambda: self.complete_clicked.emit(self.basket_id))
        self.unwind_button.clicked.connect(lambda: self.unwind_clicked.emit(self.basket_id))
        outer.addLayout(line)
        self.legs = QLabel(self)
        self.legs.setObjectName("basket_legs")
        self.legs.setTextFormat(Qt.TextFormat.PlainText)
        # A long line (a stopped basket's report names a tag still live) wraps: unwrapped it
        # widened the whole list past the panel and pushed every row's controls out of sight.
        self.legs.setWordWrap(True)
        self.legs.setIndent(self.toggle.sizeHint().width())
        outer.addWidget(self.legs)
        self._expanded = True
        self._stopped = False

    def show_basket(self, b: BasketProgress, controllable: bool, theme: Theme) -> None:
        self._stopped = b.stopped
        self.title.setText(b.describe() + (f" · {b.status}" if b.stopped else ""))
        if b.stopped:
            text = b.message or ""
            colour = theme.warn
        else:
            text = "\n".join(
                f"{p.leg_role or 'leg'}: {p.side} {p.tradingsymbol}  net {p.net_filled:+,}"
                f" of {p.quantity:,}" + ("" if p.status in (ParentStatus.WORKING,
                                                              ParentStatus.PAUSED)
                                         else f" ({p.status})")
                + (f"  · waiting for {p.waiting}" if p.waiting else "")
                for p in b.legs.values())
            colour = None
        if text != self.legs.text():
            self.legs.setText(text)
        style = f"color: {colour.name()};" if colour is not None else ""
        if style != self.legs.styleSheet():
            self.legs.setStyleSheet(style)
        self.cancel_button.setVisible(not b.stopped)
        self.complete_button.setVisible(b.stopped)
        self.unwind_button.setVisible(b.stopped)
        for button in (self.cancel_button, self.complete_button, self.unwind_button):
            button.setEnabled(controllable)
        self.legs.setVisible(self._expanded)

    def set_expanded(self, expanded: bool) -> None:
        """A collapsed basket shows only its line."""
        self._expanded = expanded
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded
                                 else Qt.ArrowType.RightArrow)
        self.legs.setVisible(expanded)

    def expanded(self) -> bool:
        return self._expanded


class ActiveParentsPanel(QWidget):
    """Working parents, newest last, and the cancel-all kill switch.

    Parents of other sessions (a journal another process wrote, or left open by a crash) fill
    at most :attr:`MAX_ROWS` rows with this session's, newest kept, and a line says how many
    more there are: the panel's cost is what it shows, not how many parents a journal left
    open. This session's parents always show (they can be paused and cancelled)."""

    MAX_ROWS = 40

    pause_requested = Signal(str)
    resume_requested = Signal(str)
    cancel_requested = Signal(str)
    cancel_all_requested = Signal()  # after the trader confirmed
    cancel_basket_requested = Signal(str)  # basket_id
    #: A stopped basket's follow-ups (basket_id): the host sends the rest of every leg, or
    #: trades every filled unit back (it holds the basket's result).
    complete_requested = Signal(str)
    unwind_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None, *,
                 confirm: Confirm = confirm_with_dialog) -> None:
        super().__init__(parent)
        self.theme: Theme = LIGHT
        self.confirm = confirm
        self.rows: dict[str, ParentRow] = {}
        #: basket id -> its line (a basket's legs show there, not as rows of their own)
        self.basket_rows: dict[str, BasketRow] = {}
        #: parent id -> "checking the order book for tag …, N s" (see :meth:`show_checking`).
        self.checking: dict[str, str] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        header = QHBoxLayout()
        self.heading = QLabel(self)
        bold = QFont(self.font())
        bold.setBold(True)
        self.heading.setFont(bold)
        header.addWidget(self.heading)
        header.addStretch(1)
        self.cancel_all_button = QPushButton("Cancel all", self)
        self.cancel_all_button.setObjectName("cancel_all")
        self.cancel_all_button.setAutoDefault(False)
        self.cancel_all_button.setFont(bold)
        self.cancel_all_button.setToolTip(
            f"Kill switch: cancel every working parent and its resting child orders "
            f"({CANCEL_ALL_SHORTCUT}); asks first")
        self.cancel_all_button.clicked.connect(self.request_cancel_all)
        header.addWidget(self.cancel_all_button)
        layout.addLayout(header)

        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(self.scroll_area)
        self._list = QVBoxLayout(body)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(3)
        self.placeholder = QLabel("No working parents", body)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._list.addWidget(self.placeholder)
        self.more_label = QLabel(body)
        self.more_label.setObjectName("more_parents")
        self.more_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.more_label.setVisible(False)
        self._list.addWidget(self.more_label)
        self.interrupted_label = QLabel(body)
        self.interrupted_label.setObjectName("interrupted_parents")
        self.interrupted_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.interrupted_label.setVisible(False)
        self._list.addWidget(self.interrupted_label)
        self._list.addStretch(1)
        self.scroll_area.setWidget(body)
        layout.addWidget(self.scroll_area, 1)

        # Application-wide: a floating dock is its own window, and the trader's focus may be in
        # the host window either way. Hosts show the key in menus without binding it again.
        self.shortcut = QShortcut(QKeySequence(CANCEL_ALL_SHORTCUT), self)
        self.shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        self.shortcut.activated.connect(self.request_cancel_all)
        self._controllable_count = 0
        self._stack_attached = False
        self.set_stack_attached(False)
        self.sync(PanelView(shown=[], working=0, paused=0, interrupted=0,
                            interrupted_sample=[]), lambda _: False)

    def sync(self, view: PanelView, controllable: Callable[[str], bool]) -> None:
        """Show the view's parents (oldest first, at most :attr:`MAX_ROWS`: the book chose
        them), updating rows in place; interrupted parents (no final row, the writer gone)
        get one line."""
        n = view.interrupted
        self.interrupted_label.setText(
            f"{n:,} interrupted parent{'s' if n != 1 else ''}: no final row (the writer "
            "stopped), not working")
        ids = ", ".join(view.interrupted_sample) + (
            " …" if n > len(view.interrupted_sample) else "")
        # After a restart check the day's are held (the orphans panel): these are older.
        self.interrupted_label.setToolTip(
            ("Left open on an earlier day (the restart check holds only today's): their DAY "
             "orders have expired; what they filled is in that day's order book: "
             if view.checked else "Check these in the broker's order book: ") + ids)
        self.interrupted_label.setVisible(n > 0)
        parents = view.shown
        total = view.working
        hidden = total - len(parents)
        self.more_label.setText(f"+{hidden:,} more working parent{'s' if hidden != 1 else ''}"
                                " not shown (the oldest of other sessions)")
        self.more_label.setVisible(hidden > 0)
        # A basket's legs show under its one line (at its first leg's place); stopped baskets
        # (their report, Complete / Unwind) after the working parents.
        singles = [p for p in parents if p.basket_id not in view.baskets]
        order: list[ParentProgress | BasketProgress] = []
        placed: set[str] = set()
        for p in parents:
            if p.basket_id in view.baskets and p.basket_id is not None:
                if p.basket_id not in placed:
                    placed.add(p.basket_id)
                    order.append(view.baskets[p.basket_id])
            else:
                order.append(p)
        order += [b for b in view.stopped if b.basket_id not in placed]
        wanted = {p.parent_id for p in singles}
        for parent_id in [k for k in self.rows if k not in wanted]:
            gone = self.rows.pop(parent_id)
            self._list.removeWidget(gone)
            gone.deleteLater()
        wanted_baskets = {b.basket_id for b in order if isinstance(b, BasketProgress)}
        for basket_id in [k for k in self.basket_rows if k not in wanted_baskets]:
            gone_basket = self.basket_rows.pop(basket_id)
            self._list.removeWidget(gone_basket)
            gone_basket.deleteLater()
        for i, item in enumerate(order):
            widget: QWidget
            if isinstance(item, BasketProgress):
                basket_row = self._basket_row(item.basket_id)
                basket_row.show_basket(item, any(controllable(leg) for leg in item.legs),
                                       self.theme)
                widget = basket_row
            else:
                row = self._row(item.parent_id)
                row.show_progress(item, controllable(item.parent_id), self.theme)
                row.show_checking(self.checking.get(item.parent_id), self.theme)
                widget = row
            if self._list.indexOf(widget) != i:
                self._list.insertWidget(i, widget)
        self._controllable_count = sum(1 for p in parents if controllable(p.parent_id))
        self.placeholder.setVisible(not order)
        self.heading.setText(f"Working parents ({total:,})" +
                             (f", {view.paused} paused" if view.paused else ""))
        palette = QPalette()  # only ButtonText set: every other role follows the parent
        palette.setColor(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText,
                         self.theme.bad)
        palette.setColor(QPalette.ColorGroup.Inactive, QPalette.ColorRole.ButtonText,
                         self.theme.bad)
        self.cancel_all_button.setPalette(palette)

    def _row(self, parent_id: str) -> ParentRow:
        row = self.rows.get(parent_id)
        if row is None:
            row = ParentRow(parent_id, self._list.parentWidget())
            row.pause_clicked.connect(self.pause_requested)
            row.resume_clicked.connect(self.resume_requested)
            row.cancel_clicked.connect(self.cancel_requested)
            self.rows[parent_id] = row
        return row

    def _basket_row(self, basket_id: str) -> BasketRow:
        row = self.basket_rows.get(basket_id)
        if row is None:
            row = BasketRow(basket_id, self._list.parentWidget())
            row.cancel_clicked.connect(self.cancel_basket_requested)
            row.complete_clicked.connect(self.complete_requested)
            row.unwind_clicked.connect(self.unwind_requested)
            self.basket_rows[basket_id] = row
        return row

    def show_checking(self, texts: Mapping[str, str]) -> None:
        """Show, on each parent's row, that one of its children waits on the order book
        (``texts``: parent id -> "checking the order book for tag …, N s"); rows of parents
        no longer in ``texts`` drop their line. Touches only the rows whose line changes."""
        for parent_id in texts.keys() | self.checking.keys():
            text = texts.get(parent_id)
            row = self.rows.get(parent_id)
            if row is not None and text != self.checking.get(parent_id):
                row.show_checking(text, self.theme)
        self.checking = dict(texts)

    def set_stack_attached(self, attached: bool) -> None:
        """Arm the kill switch (button and shortcut) when a stack can act on it.

        It does not wait for the panel to show a controllable parent: a parent sent a moment
        ago may not be drawn yet, and the stack cancels whatever it holds."""
        self._stack_attached = attached
        self.cancel_all_button.setEnabled(attached)
        self.shortcut.setEnabled(attached)

    def request_cancel_all(self) -> None:
        """The kill switch: asks for confirmation, then emits :attr:`cancel_all_requested`."""
        if not self._stack_attached:
            return
        n = self._controllable_count
        if n:
            text = (f"Cancel {n} working parent{'s' if n != 1 else ''} and every resting child "
                    "order now?")
        else:  # a parent just sent may not be on the panel yet: the stack knows
            text = "Cancel every working parent of this session and every resting child order now?"
        if self.confirm(self, text):
            self.cancel_all_requested.emit()
