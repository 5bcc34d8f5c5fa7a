"""The report's charts, drawn as inline SVG text: no scripts, no fonts or files fetched.

Every chart has labelled axes with units; costs are red and savings green (positive = cost),
counts and neutral quantities grey-blue. Each function returns one ``<svg>`` element (without
the XML namespace, which inline SVG in HTML does not need: :func:`standalone` adds it for a
file of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .scales import nice_step

COST = "#c0392b"
SAVING = "#1e8449"
NEUTRAL = "#5b7083"
TOTAL_COST = "#7b241c"
TOTAL_SAVING = "#145a32"
GRID = "#e3e6ea"
AXIS = "#4a4f55"
#: Line colours: none red or green, which mean cost and saving here.
SERIES = ("#34495e", "#2e86c1", "#8e44ad", "#d68910")

_FONT = "font-family=\"DejaVu Sans, Arial, sans-serif\""


def sign_colour(value: float, *, total: bool = False) -> str:
    if total:
        return TOTAL_COST if value > 0 else TOTAL_SAVING
    return COST if value > 0 else SAVING if value < 0 else NEUTRAL


def standalone(svg: str) -> str:
    """The chart as an SVG document of its own (with the namespace)."""
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)


def fmt(value: float) -> str:
    """A compact number: 1,234 / 12.3 / 0.123 / -4.5k."""
    magnitude = abs(value)
    if value == 0:
        return "0"  # never "-0"
    if magnitude >= 1e7:
        return f"{value / 1e7:.3g} Cr"
    if magnitude >= 1e5:
        return f"{value / 1e5:.3g} L"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10 or value == 0:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1.0
    step = nice_step((high - low) / count)
    first = math.floor(low / step) * step
    out: list[float] = []
    value = first
    while value <= high + step * 1e-9:
        out.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
        if len(out) > 50:
            break
    return out


class _Frame:
    """A plot area with a y axis (values) inside an SVG of the given size."""

    def __init__(self, width: int, height: int, low: float, high: float, *,
                 left: int = 70, right: int = 20, top: int = 34, bottom: int = 62) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.ticks = ticks(low, high)
        self.low = min(self.ticks[0], low)
        self.high = max(self.ticks[-1], high)
        if self.high <= self.low:
            self.high = self.low + 1.0
        self.parts: list[str] = []

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float) -> float:
        return self.top + (self.high - value) / (self.high - self.low) * self.plot_height

    def text(self, x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11,
             colour: str = AXIS, weight: str = "normal", rotate: float | None = None) -> None:
        transform = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'font-weight="{weight}" fill="{colour}" {_FONT}{transform}>{escape(text)}</text>')

    def rect(self, x: float, y0: float, width: float, y1: float, colour: str,
             title: str = "") -> None:
        top, bottom = min(y0, y1), max(y0, y1)
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(width, 0.5):.1f}" '
            f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}">{tip}</rect>')

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str = AXIS, *,
             width: float = 1.0, dash: str = "") -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" '
                          f'stroke="{colour}" stroke-width="{width:g}"{dashed}/>')

    def y_axis(self, label: str) -> None:
        for value in self.ticks:
            y = self.y(value)
            self.line(self.left, y, self.width - self.right, y, GRID)
            self.text(self.left - 6, y + 4, fmt(value), anchor="end")
        if self.low < 0 < self.high:
            self.line(self.left, self.y(0), self.width - self.right, self.y(0), AXIS)
        self.line(self.left, self.top, self.left, self.height - self.bottom, AXIS)
        self.text(16, self.top + self.plot_height / 2, label, rotate=-90)

    def x_title(self, label: str) -> None:
        self.text(self.left + self.plot_width / 2, self.height - 8, label)

    def title(self, text: str) -> None:
        self.text(self.left, 18, text, anchor="start", size=13, weight="bold")

    def svg(self, description: str) -> str:
        return (f'<svg width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" role="img" '
                f'aria-label="{escape(description)}">'
                f'<rect width="{self.width}" height="{self.height}" fill="white"/>'
                + "".join(self.parts) + "</svg>")


def _bar_label(frame: _Frame, x: float, start: float, end: float, text: str, *,
               weight: str = "normal") -> None:
    """A bar's value just past its far end: above a cost, below a saving."""
    if end >= start:
        frame.text(x, frame.y(max(start, end)) - 4, text, size=10, weight=weight)
    else:
        frame.text(x, frame.y(min(start, end)) + 12, text, size=10, weight=weight)


def waterfall(steps: Sequence[tuple[str, float]], *, title: str, unit: str,
              total_label: str = "Total", width: int = 560, height: int = 300) -> str:
    """Floating bars from 0, one per part, then the total from 0: a cost goes up (red), a
    saving down (green)."""
    running, spans = 0.0, []
    for _, value in steps:
        spans.append((running, running + value))
        running += value
    total = running
    values = [v for span in spans for v in span] + [0.0, total]
    pad = (max(values) - min(values)) * 0.08
    frame = _Frame(width, height, min(values) - pad, max(values) + pad)
    frame.title(title)
    frame.y_axis(unit)
    labels = [label for label, _ in steps] + [total_label]
    slot = frame.plot_width / len(labels)
    bar = slot * 0.62
    for i, (label, value) in enumerate(steps):
        x = frame.left + i * slot + (slot - bar) / 2
        start, end = spans[i]
        frame.rect(x, frame.y(start), bar, frame.y(end), sign_colour(value),
                   f"{label}: {fmt(value)} {unit}")
        _bar_label(frame, x + bar / 2, start, end, fmt(value))
        if i + 1 < len(labels):  # the connector to the next bar
            frame.line(x + bar, frame.y(end), x + slot, frame.y(end), "#9aa3ab", dash="3 2")
    x = frame.left + len(steps) * slot + (slot - bar) / 2
    frame.rect(x, frame.y(0), bar, frame.y(total), sign_colour(total, total=True),
               f"{total_label}: {fmt(total)} {unit}")
    _bar_label(frame, x + bar / 2, 0.0, total, fmt(total), weight="bold")
    for i, label in enumerate(labels):
        frame.text(frame.left + i * slot + slot / 2, frame.height - frame.bottom + 16, label)
    frame.x_title("red: a cost, green: a saving")
    return frame.svg(f"{title}: waterfall in {unit}")


def histogram(edges: Sequence[float], counts: Sequence[int], *, title: str, x_label: str,
              y_label: str = "parents", width: int = 560, height: int = 300,
              mark: float | None = None, mark_label: str = "") -> str:
    """Equal bins: red right of zero (a cost), green left (a saving)."""
    frame = _Frame(width, height, 0.0, float(max(counts, default=0) or 1))
    frame.title(title)
    frame.y_axis(y_label)
    low, high = edges[0], edges[-1]

    def x_of(value: float) -> float:
        return frame.left + (value - low) / (high - low) * frame.plot_width

    for i, count in enumerate(counts):
        left, right = edges[i], edges[i + 1]
        colour = COST if left >= 0 else SAVING if right <= 0 else NEUTRAL
        if count:
            frame.rect(x_of(left) + 0.5, frame.y(0), x_of(right) - x_of(left) - 1,
                       frame.y(count), colour, f"{fmt(left)} to {fmt(right)}: {count}")
    base = frame.height - frame.bottom
    for value in ticks(low, high, 6):
        if low - 1e-9 <= value <= high + 1e-9:
            frame.line(x_of(value), base, x_of(value), base + 4)
            frame.text(x_of(value), base + 16, fmt(value))
    frame.line(frame.left, base, frame.width - frame.right, base)
    if low < 0 < high:
        frame.line(x_of(0), frame.top, x_of(0), base, AXIS, dash="4 3")
    if mark is not None and low <= mark <= high:
        frame.line(x_of(mark), frame.top, x_of(mark), base, TOTAL_COST if mark > 0 else
                   TOTAL_SAVING, width=1.5)
        frame.text(x_of(mark) + 4, frame.top - 4, mark_label, anchor="start", size=10)
    frame.x_title(x_label)
    return frame.svg(f"{title}: histogram of {x_label}")


def line_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
               *, title: str, x_label: str, y_label: str, width: int = 560,
               height: int = 300) -> str:
    """Series over evenly spaced categories (e.g. markout horizons), a point per value, with
    a legend; the zero line drawn."""
    values = [v for _, ys in series for v in ys if v is not None] + [0.0]
    frame = _Frame(width, height, min(values), max(values))
    frame.title(title)
    frame.y_axis(y_label)
    slot = frame.plot_width / max(1, len(categories))
    base = frame.height - frame.bottom
    for i, category in enumerate(categories):
        frame.text(frame.left + slot * (i + 0.5), base + 16, category)
    for n, (name, ys) in enumerate(series):
        colour = SERIES[n % len(SERIES)]
        points = [(frame.left + slot * (i + 0.5), frame.y(v)) for i, v in enumerate(ys)
                  if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            frame.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                               'stroke-width="2"/>')
        known = [v for v in ys if v is not None]
        for (x, y), value in zip(points, known, strict=True):
            frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                               f"<title>{escape(name)}: {fmt(value)} {escape(y_label)}</title>"
                               "</circle>")
        legend_x = frame.left + 10 + n * 150
        frame.rect(legend_x, base + 30, 12, base + 40, colour)
        frame.text(legend_x + 16, base + 39, name, anchor="start", size=10)
    frame.x_title(x_label)
    return frame.svg(f"{title}: {y_label} by {x_label}")


def bar_rows(rows: Sequence[tuple[str, float | None]], *, title: str, unit: str,
             width: int = 560, bar_height: int = 20) -> str:
    """Horizontal bars, one per row, from zero: red a cost, green a saving; a row without a
    value says so."""
    values = [v for _, v in rows if v is not None] + [0.0]
    height = 34 + len(rows) * (bar_height + 6) + 44
    frame = _Frame(width, height, 0.0, 1.0, left=170, top=34, bottom=44)
    lo, hi = min(values), max(values)
    if hi <= lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.12  # room for the value labels
    lo, hi = (lo - pad if lo < 0 else lo), (hi + pad if hi > 0 else hi)
    tick_values = ticks(lo, hi, 5)
    lo, hi = min(lo, tick_values[0]), max(hi, tick_values[-1])

    def x_of(value: float) -> float:
        return frame.left + (value - lo) / (hi - lo) * frame.plot_width

    frame.title(title)
    base = frame.height - frame.bottom
    for tick in tick_values:
        frame.line(x_of(tick), frame.top, x_of(tick), base, GRID)
        frame.text(x_of(tick), base + 16, fmt(tick))
    for i, (label, value) in enumerate(rows):
        y = frame.top + i * (bar_height + 6) + 3
        shown = label if len(label) <= 24 else label[:23] + "…"
        frame.text(frame.left - 6, y + bar_height * 0.7, shown, anchor="end")
        if value is None:
            frame.text(x_of(0) + 4, y + bar_height * 0.7, "no figure", anchor="start",
                       size=10, colour="#8a939b")
            continue
        x0, x1 = sorted((x_of(0), x_of(value)))
        frame.rect(x0, y, x1 - x0, y + bar_height, sign_colour(value),
                   f"{label}: {fmt(value)} {unit}")
        frame.text(x1 + 4 if value >= 0 else x0 - 4, y + bar_height * 0.7, fmt(value),
                   anchor="start" if value >= 0 else "end", size=10)
    frame.line(x_of(0), frame.top, x_of(0), base, AXIS)
    frame.x_title(unit)
    return frame.svg(f"{title} in {unit}")


def columns(labels: Sequence[str], counts: Sequence[int], *, title: str, x_label: str,
            y_label: str, width: int = 560, height: int = 300,
            colour: str = NEUTRAL) -> str:
    """Vertical bars of counts over labelled bins (e.g. latency ranges)."""
    frame = _Frame(width, height, 0.0, float(max(counts, default=0) or 1), bottom=78)
    frame.title(title)
    frame.y_axis(y_label)
    slot = frame.plot_width / max(1, len(labels))
    base = frame.height - frame.bottom
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        x = frame.left + i * slot
        if count:
            frame.rect(x + slot * 0.12, frame.y(0), slot * 0.76, frame.y(count), colour,
                       f"{label}: {count}")
        frame.text(x + slot / 2, base + 12, label, size=9, anchor="end",
                   rotate=-40)
    frame.line(frame.left, base, frame.width - frame.right, base)
    frame.x_title(x_label)
    return frame.svg(f"{title}: {y_label} by {x_label}")


def scatter(points: Sequence[tuple[float, float]], *, title: str, x_label: str, y_label: str,
            width: int = 560, height: int = 340) -> str:
    """Points with the y = x diagonal (dashed): above it, it cost more than expected (red);
    below, less (green)."""
    xs = [p[0] for p in points] or [0.0]
    ys = [p[1] for p in points] or [0.0]
    low = min(min(xs), min(ys), 0.0)
    high = max(max(xs), max(ys), 0.0)
    frame = _Frame(width, height, low, high)
    x_ticks = ticks(frame.low, frame.high, 5)
    lo, hi = min(frame.low, x_ticks[0]), max(frame.high, x_ticks[-1])

    def x_of(value: float) -> float:
        return frame.left + (value - lo) / (hi - lo) * frame.plot_width

    frame.title(title)
    frame.y_axis(y_label)
    base = frame.height - frame.bottom
    for value in x_ticks:
        frame.line(x_of(value), base, x_of(value), base + 4)
        frame.text(x_of(value), base + 16, fmt(value))
    frame.line(frame.left, base, frame.width - frame.right, base)
    d0, d1 = max(lo, frame.low), min(hi, frame.high)
    frame.line(x_of(d0), frame.y(d0), x_of(d1), frame.y(d1), AXIS, dash="5 3")
    opacity = 0.75 if len(points) < 300 else 0.35
    for x, y in points:
        colour = COST if y > x else SAVING
        frame.parts.append(f'<circle cx="{x_of(x):.1f}" cy="{frame.y(y):.1f}" r="2.6" '
                           f'fill="{colour}" fill-opacity="{opacity}"/>')
    frame.x_title(x_label)
    return frame.svg(f"{title}: {y_label} against {x_label}")


__all__ = ["COST", "SAVING", "TOTAL_COST", "TOTAL_SAVING", "bar_rows", "columns", "fmt",
           "histogram", "line_chart", "scatter", "sign_colour", "standalone", "ticks", "waterfall"]
