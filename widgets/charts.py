"""ExecutionCharts (pyqtgraph): latency distribution, expected vs realized slippage over time,
errors and retries by bucket. Each plot is redrawn from :class:`~.stats.ExecutionStats` only
when its figures changed, and the dock throttles that to a few times a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QTabWidget, QWidget

from .stats import BUCKETS, LATENCY_EDGES_MS, ROLLING_POINTS, ExecutionStats
from .theme import LIGHT, Theme

#: Offset for pyqtgraph's DateAxisItem (seconds *west* of UTC): axis times in IST.
IST_AXIS_OFFSET = -19800


def _ms_label(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g}"


def _latency_ticks() -> list[list[tuple[float, str]]]:
    """Decades as major ticks, 2 and 5 of each decade as minor ticks (x is log10 of ms)."""
    major = [10.0 ** e for e in range(-1, 6)]
    minor = [m * d for d in major[:-1] for m in (2.0, 5.0)]
    return [[(float(np.log10(v)), _ms_label(v)) for v in major],
            [(float(np.log10(v)), _ms_label(v)) for v in minor]]


def _count_step(top: int) -> float:
    """Whole-number tick spacing giving at most about five ticks up to ``top``."""
    step = 1
    while top / step > 5:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if top / step <= 5:
                break
    return float(step)


class Plot(pg.PlotWidget):  # type: ignore[misc]
    """A static (no mouse zoom) plot in the dock's theme."""

    def __init__(self, parent: QWidget | None, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=False, y=True, alpha=0.25)
        self.setMinimumHeight(150)

    def apply_theme(self, theme: Theme, font: QFont) -> None:
        self.setBackground(theme.plot_background)
        pen = pg.mkPen(theme.plot_foreground)
        small = QFont(font)
        small.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.enableAutoSIPrefix(False)  # no "(x0.001)" on log-scale or bps axes
            axis.setPen(pen)
            axis.setTextPen(pen)
            axis.setTickFont(small)
            axis.label.setFont(small)


class ExecutionCharts(QTabWidget):
    """Three tabs of charts, fed from ExecutionStats (the dock adds its TCA tab after them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme: Theme = LIGHT
        self.setDocumentMode(True)
        self._versions: dict[int, int] = {}  # tab -> stats version drawn

        self.latency = Plot(self)
        self.latency.setLabel("bottom", "placement latency, ms (log scale)")
        self.latency.setLabel("left", "children")
        self.latency.getAxis("bottom").setTicks(_latency_ticks())
        self._latency_curve = pg.PlotDataItem(stepMode="center", fillLevel=0)
        self.latency.addItem(self._latency_curve)
        self._p50 = pg.InfiniteLine(angle=90, movable=False, label="p50",
                                    labelOpts={"position": 0.93, "anchors": [(1, 0), (1, 0)]})
        self._p95 = pg.InfiniteLine(angle=90, movable=False, label="p95",
                                    labelOpts={"position": 0.93, "anchors": [(0, 0), (0, 0)]})
        for line in (self._p50, self._p95):
            line.setVisible(False)
            self.latency.addItem(line)

        axis = pg.DateAxisItem(orientation="bottom", utcOffset=IST_AXIS_OFFSET)
        self.slippage = Plot(self, axisItems={"bottom": axis})
        self.slippage.setLabel("left", "slippage, bps (+ = cost)")
        self.slippage.setLabel("bottom", "time (IST)")
        self._legend = self.slippage.addLegend(offset=(8, 4), labelTextSize="7pt")
        self._expected_points = pg.ScatterPlotItem(size=4, name="expected (per child)")
        self._realized_points = pg.ScatterPlotItem(size=5, name="realized (per fill)")
        self._expected_mean = pg.PlotDataItem(name=f"expected, mean of last {ROLLING_POINTS}")
        self._realized_mean = pg.PlotDataItem(name=f"realized, mean of last {ROLLING_POINTS}")
        for item in (self._expected_points, self._realized_points, self._expected_mean,
                     self._realized_mean):
            self.slippage.addItem(item)
        self.slippage.addItem(pg.InfiniteLine(pos=0, angle=0, movable=False,
                                              pen=pg.mkPen((128, 128, 128),
                                                             style=Qt.PenStyle.DashLine)))

        self.errors = Plot(self)
        self.errors.setLabel("left", "events")
        self._bucket_names = list(BUCKETS)
        self._error_bars = pg.BarGraphItem(x=[], height=[], width=0.36)
        self._retry_bars = pg.BarGraphItem(x=[], height=[], width=0.36)
        self.errors.addItem(self._error_bars)
        self.errors.addItem(self._retry_bars)
        self._errors_legend = self.errors.addLegend(offset=(-8, 4), labelTextSize="7pt")

        self.addTab(self.latency, "Latency")
        self.addTab(self.slippage, "Slippage")
        self.addTab(self.errors, "Errors by bucket")
        self.setTabToolTip(0, "Distribution of placement round trips (log scale), p50 and p95")
        self.setTabToolTip(1, "Expected cost of each child and realized slippage of each fill, "
                              "in bps of the arrival price, with rolling quantity-weighted means")
        self.setTabToolTip(2, "Terminal errors and retries per error bucket")
        self._stats: ExecutionStats | None = None
        self.currentChanged.connect(self._tab_changed)
        self.apply_theme(LIGHT)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        font = self.font()
        for plot in (self.latency, self.slippage, self.errors):
            plot.apply_theme(theme, font)
        fill = QColor(theme.info)
        fill.setAlpha(110)
        self._latency_curve.setPen(pg.mkPen(theme.info, width=1.5))
        self._latency_curve.setBrush(pg.mkBrush(fill))
        self._p50.setPen(pg.mkPen(theme.good, width=1.5))
        self._p95.setPen(pg.mkPen(theme.warn, width=1.5))
        for line in (self._p50, self._p95):
            line.label.setColor(theme.plot_foreground)
        expected, realized = QColor(theme.info), QColor(theme.warn)
        self._expected_points.setBrush(pg.mkBrush(expected.red(), expected.green(),
                                                  expected.blue(), 120))
        self._expected_points.setPen(None)
        self._realized_points.setBrush(pg.mkBrush(realized))
        self._realized_points.setPen(None)
        self._expected_mean.setPen(pg.mkPen(expected, width=2))
        self._realized_mean.setPen(pg.mkPen(realized, width=2))
        self._error_bars.setOpts(brush=pg.mkBrush(theme.bad), pen=pg.mkPen(None))
        self._retry_bars.setOpts(brush=pg.mkBrush(theme.warn), pen=pg.mkPen(None))
        for legend in (self._legend, self._errors_legend):
            legend.setLabelTextColor(theme.plot_foreground)
            for _sample, label in legend.items:
                label.setText(label.text)  # a colour change shows only when the text is set
        self._versions.clear()

    def update_from(self, stats: ExecutionStats) -> None:
        """Redraw the visible chart if its figures changed (the others when shown)."""
        self._stats = stats
        draw = (self._draw_latency, self._draw_slippage, self._draw_errors)
        index = max(0, self.currentIndex())
        if index < len(draw) and self._versions.get(index) != stats.version:
            self._versions[index] = stats.version
            draw[index](stats)

    def _tab_changed(self, _index: int) -> None:
        if self._stats is not None:
            self.update_from(self._stats)

    def _draw_latency(self, stats: ExecutionStats) -> None:
        counts = stats.latency_counts
        nonzero = np.flatnonzero(counts)
        if len(nonzero) == 0:
            self._latency_curve.setData([], [])
            self._p50.setVisible(False)
            self._p95.setVisible(False)
            return
        lo, hi = max(0, int(nonzero[0]) - 2), min(len(counts), int(nonzero[-1]) + 3)
        edges = np.log10(LATENCY_EDGES_MS[lo:hi + 1])
        self._latency_curve.setData(edges, counts[lo:hi].astype(np.float64))
        p50, p95 = stats.latency_percentiles()
        for line, value, name in ((self._p50, p50, "p50"), (self._p95, p95, "p95")):
            line.setVisible(value is not None)
            if value is not None:
                line.setValue(float(np.log10(max(value, 1e-3))))
                line.label.setFormat(f"{name} {value:.1f} ms" if value < 100 else
                                     f"{name} {value:,.0f} ms")
        self.latency.setXRange(edges[0], edges[-1], padding=0.02)

    def _draw_slippage(self, stats: ExecutionStats) -> None:
        series = stats.slippage_series()
        for points, scatter, mean in ((series.expected, self._expected_points,
                                       self._expected_mean),
                                      (series.realized, self._realized_points,
                                       self._realized_mean)):
            if len(points):
                scatter.setData(points[:, 0], points[:, 1])
                mean.setData(points[:, 0], points[:, 2])
            else:
                scatter.setData([], [])
                mean.setData([], [])

    def _draw_errors(self, stats: ExecutionStats) -> None:
        names = list(BUCKETS) + sorted(
            k for k in set(stats.errors_by_bucket) | set(stats.retries_by_bucket)
            if k not in BUCKETS)
        x = np.arange(len(names), dtype=np.float64)
        self._error_bars.setOpts(x=x - 0.19, height=[stats.errors_by_bucket.get(n, 0)
                                                     for n in names])
        self._retry_bars.setOpts(x=x + 0.19, height=[stats.retries_by_bucket.get(n, 0)
                                                     for n in names])
        if names != self._bucket_names or not self._errors_legend.items:
            self._bucket_names = names
            self.errors.getAxis("bottom").setTicks([list(enumerate(names))])
            self._errors_legend.clear()
            self._errors_legend.addItem(self._error_bars, "errors")
            self._errors_legend.addItem(self._retry_bars, "retries")
        top = max([1, *stats.errors_by_bucket.values(), *stats.retries_by_bucket.values()])
        self.errors.setYRange(0, top * 1.15, padding=0)
        step = _count_step(top)
        self.errors.getAxis("left").setTickSpacing(step, step)
        self.errors.setXRange(-0.6, len(names) - 0.4, padding=0)
