"""TcaPanel: the dock's TCA tab: a parent's implementation shortfall as a waterfall, and the
markout curve, both from :class:`~.tca_model.TcaBook` (the journal's rows).

The picker lists the newest finished parents newest first (type to search, arrows to move),
after "Today: N finished parents added up" (today's parts added up). Bars are costs in red
and savings in green, in bps of the ordered value at the decision price, each labelled with
its value; the total is its own bar. The markout curve shows today's fills (taking and
resting apart) and the picked parent's, in bps of the fill price, positive = the market moved
against the fill. Both redraw only when their figures changed and the tab is visible.
**What-if** (Ctrl+Shift+W) shows, in the charts' place, the picked parent replayed under every
algorithm (:class:`~.whatif_view.WhatIfPanel`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..tca.scales import signed_text
from .charts import Plot
from .tca_model import PARTS, Markouts, ParentCost, TcaBook
from .theme import LIGHT, Theme
from .whatif_view import WhatIfPanel

#: Parents listed in the picker (the newest finished ones).
PICKER_ROWS = 200
TODAY = ""  # the picker's data for the aggregate entry
#: Shows the what-if in the charts' place and back, anywhere in the tab.
WHAT_IF_SHORTCUT = "Ctrl+Shift+W"
#: From anywhere in the dock's window: the TCA tab to the front, the focus in its picker.
#: (Not Alt+P: in the desk that is the quick order's PE, an order field.)
PICKER_SHORTCUT = "Ctrl+Shift+T"


def waterfall(parts_bps: list[float]) -> tuple[list[float], list[float]]:
    """Bottoms and heights of a waterfall's bars: each part starts where the running total
    stands; the last bar (the total) starts at 0."""
    bottoms, heights, running = [], [], 0.0
    for value in parts_bps:
        bottoms.append(running if value >= 0 else running + value)
        heights.append(abs(value))
        running += value
    bottoms.append(min(0.0, running))
    heights.append(abs(running))
    return bottoms, heights


class TcaPanel(QWidget):
    """Shortfall waterfall and markout curve for a picked parent or today's aggregate."""

    def __init__(self, book: TcaBook, parent: QWidget | None = None, *,
                 journal: Path | None = None) -> None:
        super().__init__(parent)
        self.book = book
        self.theme: Theme = LIGHT
        self._drawn = (-1, "\0")  # (book version, picked parent) drawn
        #: The waterfall's bars as drawn, bps: the parts in PARTS order, then the total.
        self.values: list[float] = []
        self._listed = -1  # book version the picker lists
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(3)
        top = QHBoxLayout()
        picker_label = QLabel("Parent", self)
        self.picker = QComboBox(self)
        self.picker.setObjectName("tca_parent")
        self.picker.setEditable(True)  # type to find a symbol or parent id
        picker_text = self.picker.lineEdit()
        assert picker_text is not None  # (editable)
        self.picker.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.picker.setMinimumContentsLength(30)
        self.picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setToolTip(f"The newest finished parents, newest first (type to search; "
                               f"{PICKER_SHORTCUT} from anywhere in the window); the first "
                               f"line adds up today's")
        picker_label.setBuddy(self.picker)
        top.addWidget(picker_label)
        top.addWidget(self.picker, 1)
        #: Shows the picked parent's what-if in the plots' place (and back).
        # (Its letters are all other fields' mnemonics in the desk: a shortcut of its own.)
        self.what_if_toggle = QPushButton("What-if", self)
        self.what_if_toggle.setObjectName("tca_what_if")
        self.what_if_toggle.setCheckable(True)
        self.what_if_toggle.setToolTip(f"The picked parent replayed under every algorithm on "
                                       f"the market its journal recorded, in the charts' "
                                       f"place ({WHAT_IF_SHORTCUT})")
        toggle = QShortcut(QKeySequence(WHAT_IF_SHORTCUT), self)
        toggle.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        toggle.activated.connect(self.what_if_toggle.toggle)
        top.addWidget(self.what_if_toggle)
        layout.addLayout(top)
        self.summary = QLabel(self)
        self.summary.setObjectName("tca_summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        # The plots are built when the tab is first shown (two pyqtgraph plots cost ~25 ms:
        # not part of opening the dock).
        plots = QWidget(self)
        self._plots = QHBoxLayout(plots)
        self._plots.setContentsMargins(0, 0, 0, 0)
        #: The picked parent replayed under every algorithm (on demand, off the GUI thread).
        self.what_if = WhatIfPanel(journal, self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(plots)
        self.pages.addWidget(self.what_if)
        layout.addWidget(self.pages, 1)
        self.what_if_toggle.toggled.connect(self._show_what_if)
        self._built = False
        self.picker.currentIndexChanged.connect(lambda _i: self.redraw())
        self.picker.currentIndexChanged.connect(
            lambda _i: self.what_if.set_parent(self.picked))
        # A parent's line starts with its side and quantity: show its start, not its end.
        self.picker.currentIndexChanged.connect(lambda _i: picker_text.setCursorPosition(0))
        # Picked with Enter while the what-if shows: Space replays it next.
        picker_text.returnPressed.connect(self._picked_with_enter)

    # ------------------------------------------------------------------ public
    @property
    def picked(self) -> str:
        """The picked parent's id, or "" for today's aggregate."""
        data = self.picker.currentData()
        return data if isinstance(data, str) else TODAY

    def pick(self, parent_id: str) -> bool:
        """Show ``parent_id``'s waterfall (if it is listed); True when it is."""
        if self._listed != self.book.parents_version:
            self._list_parents()
        index = self.picker.findData(parent_id)
        if index >= 0:
            self.picker.setCurrentIndex(index)
        return index >= 0

    def _picked_with_enter(self) -> None:
        if self.pages.currentWidget() is self.what_if and self.what_if.button.isEnabled():
            self.what_if.button.setFocus()

    def focus_picker(self) -> None:
        """The picker takes the focus (its tab brought to the front by the dock)."""
        self.picker.setFocus(Qt.FocusReason.ShortcutFocusReason)
        text = self.picker.lineEdit()
        if text is not None:
            text.selectAll()

    def _show_what_if(self, on: bool) -> None:
        self.pages.setCurrentIndex(self.pages.indexOf(self.what_if) if on else 0)
        self.summary.setVisible(not on)  # the what-if's table has the realized line
        if on:
            self.what_if.button.setFocus()
        else:
            self._drawn = (-1, "\0")
            self.redraw()

    def refresh(self) -> None:
        """Bring the picker and the charts up to the book: nothing while hidden (showing
        the tab refreshes), the picker only when the finished parents changed."""
        if not self.isVisible():
            return
        if self._listed != self.book.parents_version:
            self._list_parents()
        self.redraw()

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.what_if.apply_theme(theme)
        if not self._built:
            return  # applied when the plots are built
        font = self.font()
        for plot in (self.shortfall, self.markout):
            plot.apply_theme(theme, font)
        for key, colour in (("taking", theme.warn), ("resting", theme.info),
                            ("parent", theme.plot_foreground)):
            self._curves[key].setPen(pg.mkPen(colour, width=2))
            self._curves[key].setSymbolBrush(pg.mkBrush(colour))
            self._curves[key].setSymbolPen(None)
        self._legend.setLabelTextColor(theme.plot_foreground)
        for _sample, label in self._legend.items:
            label.setText(label.text)
        self._drawn = (-1, "\0")
        self.redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._built:
            self._build_plots()
        self.refresh()

    def _build_plots(self) -> None:
        self.shortfall = Plot(self)
        self.shortfall.setLabel("left", "bps (+ = cost)")
        self.shortfall.setMinimumHeight(120)
        names = [label for _, label in PARTS] + ["Total"]
        self.shortfall.getAxis("bottom").setTicks([list(enumerate(names))])
        self._bars = pg.BarGraphItem(x=[], height=[], y0=[], width=0.7)
        self.shortfall.addItem(self._bars)
        self._bar_labels: list[pg.TextItem] = []
        for _ in names:
            label = pg.TextItem(anchor=(0.5, 1.0))
            self._bar_labels.append(label)
            self.shortfall.addItem(label)
        self.shortfall.addItem(pg.InfiniteLine(pos=0, angle=0, movable=False,
                                               pen=pg.mkPen((128, 128, 128))))
        self.markout = Plot(self)
        self.markout.setMinimumHeight(120)
        self.markout.setLabel("bottom", "seconds after the fill")
        self.markout.setLabel("left", "markout bps (+ = cost)")
        self.markout.setLogMode(x=True, y=False)
        self._horizons: tuple[float, ...] = ()
        self._legend = self.markout.addLegend(offset=(4, 2), labelTextSize="7pt",
                                              verSpacing=-6)
        self._curves = {key: pg.PlotDataItem(name=name, symbol="o", symbolSize=6)
                        for key, name in (("taking", "taking fills"),
                                          ("resting", "resting fills"),
                                          ("parent", "this parent"))}
        for curve in self._curves.values():
            self.markout.addItem(curve)
        self.markout.addItem(pg.InfiniteLine(pos=0, angle=0, movable=False,
                                             pen=pg.mkPen((128, 128, 128),
                                                          style=Qt.PenStyle.DashLine)))
        self._plots.addWidget(self.shortfall, 3)
        self._plots.addWidget(self.markout, 2)
        self._built = True
        self.apply_theme(self.theme)

    # ------------------------------------------------------------------ drawing
    def _list_parents(self) -> None:
        picked = self.picked
        today = self.book.today()
        self.picker.blockSignals(True)
        try:
            self.picker.clear()
            self.picker.addItem(f"Today: {len(today.parents):,} finished parents added up",
                                TODAY)
            for cost in self.book.newest(PICKER_ROWS):
                self.picker.addItem(cost.label, cost.parent_id)
            index = self.picker.findData(picked)
            self.picker.setCurrentIndex(max(0, index))
        finally:
            self.picker.blockSignals(False)
        self._listed = self.book.parents_version

    def redraw(self) -> None:
        key = (self.book.version, self.picked)
        if key == self._drawn or not self.isVisible() or not self._built:
            return
        self._drawn = key
        cost = self.book.get(self.picked) if self.picked else None
        if cost is not None:
            parts = [cost.bps(getattr(cost, name)) for name, _ in PARTS]
            self.summary.setText(_describe(cost))
        else:
            today = self.book.today()
            by_part = today.bps()
            parts = [by_part[name] for name, _ in PARTS]
            self.summary.setText(
                f"Today: {len(today.parents):,} finished parents, ordered value "
                f"₹{today.ordered_value:,.0f}; shortfall "
                f"{signed_text(sum(parts), 1, thousands=False)} bps "
                f"(₹{signed_text(sum(today.rupees.values()), 0)}), positive = cost"
                if today.parents else "No finished parent today yet.")
        self._draw_waterfall(parts)
        self._draw_markouts(cost)

    def _draw_waterfall(self, parts: list[float]) -> None:
        bottoms, heights = waterfall(parts)
        values = self.values = [*parts, sum(parts)]
        brushes = [pg.mkBrush(_cost_colour(self.theme, v)) for v in values]
        self._bars.setOpts(x=np.arange(len(values), dtype=np.float64), y0=bottoms,
                           height=heights, brushes=brushes, pen=pg.mkPen(None))
        for i, (label, value) in enumerate(zip(self._bar_labels, values, strict=True)):
            label.setText(signed_text(value, 1, thousands=False), color=self.theme.plot_foreground)
            label.setPos(float(i), bottoms[i] + heights[i])
        low = min(0.0, *bottoms)
        high = max(0.0, *(b + h for b, h in zip(bottoms, heights, strict=True)))
        span = max(high - low, 1.0)
        self.shortfall.setYRange(low - 0.05 * span, high + 0.25 * span, padding=0)
        self.shortfall.setXRange(-0.6, len(values) - 0.4, padding=0)

    def _draw_markouts(self, cost: ParentCost | None) -> None:
        today = self.book.today().markouts
        for key in ("taking", "resting"):
            _set_curve(self._curves[key], today[key])
        parent = self.book.parent_markouts(cost.parent_id) if cost is not None else Markouts()
        _set_curve(self._curves["parent"], parent)
        horizons = tuple(sorted(today["all"].by_horizon))
        if horizons != self._horizons:  # ticks at the horizons measured, not every decade
            self._horizons = horizons
            self.markout.getAxis("bottom").setTicks(
                [[(math.log10(h), f"{h:g} s") for h in horizons if h > 0], []])


def _set_curve(curve: pg.PlotDataItem, markouts: Markouts) -> None:
    points = markouts.curve()
    if points:
        curve.setData([h for h, _ in points], [v for _, v in points])
    else:
        curve.setData([], [])


def _cost_colour(theme: Theme, value: float) -> QColor:
    colour = theme.cost(value)
    return colour if colour is not None else QColor(theme.plot_foreground)


def _describe(cost: ParentCost) -> str:
    rupees = ", ".join(f"{label.lower()} ₹{signed_text(getattr(cost, name), 0)}"
                       for name, label in PARTS)
    return (f"{cost.side} {cost.tradingsymbol} {cost.execution_algo}: {cost.status}, "
            f"{cost.filled:,}/{cost.quantity:,} filled; shortfall "
            f"{signed_text(cost.bps(cost.total), 1, thousands=False)} bps "
            f"(₹{signed_text(cost.total, 0)}: {rupees}), "
            f"positive = cost")


__all__ = ["PICKER_ROWS", "TcaPanel", "waterfall"]
