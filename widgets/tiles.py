"""SummaryTiles: the dock's headline figures, one small tile each.

:func:`tile_texts` turns :class:`~.stats.TileFigures` into what the tiles say (plain data, tested
without Qt); the widgets only show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from .stats import BUCKETS, TileFigures
from .theme import LIGHT, Theme


class Tone(Enum):
    NEUTRAL = "neutral"
    GOOD = "good"
    BAD = "bad"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class TileText:
    key: str
    caption: str
    value: str
    detail: str
    tooltip: str
    tone: Tone = Tone.NEUTRAL


def _bps(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f} bps"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _cost_tone(bps: float | None) -> Tone:
    """A cost is bad, a saving good, everywhere (the blotter's slippage cells agree)."""
    if bps is None or abs(bps) < 0.05:
        return Tone.NEUTRAL
    return Tone.BAD if bps > 0 else Tone.GOOD


def _slippage_details(f: TileFigures) -> tuple[str, str]:
    """The detail lines of the realized and expected tiles: the like-for-like comparison (at
    send) and the mid's move since arrival that the whole figures differ by."""
    expected = "mean, qty-weighted"
    if f.expected_at_send_bps is not None and f.expected_bps is not None:
        expected = f"at send {f.expected_at_send_bps:+.1f}\n" \
                   f"earlier fills' impact {f.expected_bps - f.expected_at_send_bps:+.1f}"
    if f.realized_bps is None:
        return "–", expected
    if f.realized_at_send_bps is None or f.fills_expected_at_send_bps is None \
            or f.mid_move_bps is None:
        if f.expected_bps is None:
            return "–", expected
        gap = f.realized_bps - f.expected_bps
        return (f"expected {f.expected_bps:+.1f}: as expected" if abs(gap) < 0.05
                else f"expected {f.expected_bps:+.1f}: {abs(gap):.1f} bps "
                     f"{'worse' if gap > 0 else 'better'}"), expected
    return (f"at send {f.realized_at_send_bps:+.1f}, est. {f.fills_expected_at_send_bps:+.1f}\n"
            f"mid moved {f.mid_move_bps:+.1f} since arrival"), expected


def tile_texts(f: TileFigures) -> list[TileText]:
    """The eight tiles, in display order."""
    errors = f.errors
    by_bucket = f.errors_by_bucket
    bucket_lines = " · ".join(f"{b} {by_bucket.get(b, 0)}" for b in BUCKETS[:2]) + "\n" + \
        " · ".join(f"{b} {by_bucket.get(b, 0)}" for b in BUCKETS[2:])
    others = {k: v for k, v in by_bucket.items() if k not in BUCKETS and v}
    if others:
        bucket_lines += " · " + " · ".join(f"{k} {v}" for k, v in others.items())
    realized_detail, expected_detail = _slippage_details(f)
    fill_rate = "–" if f.fill_rate is None else f"{f.fill_rate:.1%}"
    return [
        TileText("placed", "Children placed", f"{f.children_placed:,}",
                 f"{f.placed_quantity:,} units",
                 "Child orders the broker accepted (placed or found after an ambiguous error)"),
        TileText("fill_rate", "Fill rate", fill_rate,
                 f"{f.filled_quantity:,} of {f.placed_quantity:,}",
                 "Quantity filled / quantity placed"),
        TileText("errors", "Errors", f"{errors:,}", bucket_lines,
                 "Children that could not be placed or were rejected, by error bucket",
                 Tone.BAD if errors else Tone.NEUTRAL),
        TileText("retries", "Retries", f"{f.retries:,}", "attempts retried after backoff",
                 "Placement attempts that failed and were retried (transient and throttle "
                 "errors only)", Tone.WARN if f.retries else Tone.NEUTRAL),
        TileText("latency_p50", "Latency p50", _ms(f.latency_p50_ms), "placement round trip",
                 "Median broker round trip of placements"),
        TileText("latency_p95", "Latency p95", _ms(f.latency_p95_ms), "placement round trip",
                 "95th percentile broker round trip of placements"),
        TileText("expected_bps", "Expected slippage", _bps(f.expected_bps), expected_detail,
                 "Pre-trade cost estimate of placed children, basis points of the arrival "
                 "price, quantity-weighted (positive = cost: red; a saving is green), over "
                 "the units filled or still working: a child rejected or cancelled counts "
                 "only what it filled, an order refused before sending not at all. At send: "
                 "without the impact of the parent's earlier fills, which is already in the "
                 "mid each child is priced from", _cost_tone(f.expected_bps)),
        TileText("realized_bps", "Realized slippage", _bps(f.realized_bps), realized_detail,
                 "Fills against the arrival price, quantity-weighted, basis points "
                 "(positive = cost: red; a saving is green). It is the cost at send (each fill "
                 "against the mid its child was priced from: what the estimate predicts) plus "
                 "how far the mid moved from the parent's arrival to the send (the market "
                 "and our own earlier fills; timing risk the estimate leaves out, tens of bps "
                 "a second on an option premium)", _cost_tone(f.realized_bps)),
    ]


class Tile(QFrame):
    """One figure: a caption, a big value and a detail line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 5)
        layout.setSpacing(0)
        self.caption = QLabel(self)
        self.value = QLabel(self)
        self.detail = QLabel(self)
        caption_font = QFont(self.font())
        caption_font.setPointSizeF(max(6.5, caption_font.pointSizeF() * 0.85))
        self.caption.setFont(caption_font)
        self.detail.setFont(caption_font)
        value_font = QFont(self.font())
        value_font.setPointSizeF(value_font.pointSizeF() * 1.45)
        value_font.setBold(True)
        self.value.setFont(value_font)
        for label in (self.caption, self.value, self.detail):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            layout.addWidget(label)
        self.detail.setWordWrap(False)
        layout.addStretch(1)

    def show_text(self, text: TileText, theme: Theme) -> None:
        self.setObjectName(f"tile_{text.key}")
        self.caption.setText(text.caption)
        self.value.setText(text.value)
        self.detail.setText(text.detail)
        self.setToolTip(text.tooltip)
        colour: QColor | None = {Tone.GOOD: theme.good, Tone.BAD: theme.bad,
                                 Tone.WARN: theme.warn}.get(text.tone)
        self.value.setStyleSheet(f"color: {colour.name()};" if colour is not None else "")
        muted = theme.muted.name()
        self.caption.setStyleSheet(f"color: {muted};")
        self.detail.setStyleSheet(f"color: {muted};")


class SummaryTiles(QWidget):
    """Eight tiles in two rows of four."""

    COLUMNS = 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme: Theme = LIGHT
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.tiles: dict[str, Tile] = {}
        self._texts: list[TileText] = []
        self.show_figures(TileFigures(0, 0, 0, None, {}, 0, None, None, None, None))
        for i, text in enumerate(self._texts):
            layout.addWidget(self.tiles[text.key], i // self.COLUMNS, i % self.COLUMNS)
        # Two lines of bucket counts set the height; every tile gets the same.
        height = max(tile.sizeHint().height() for tile in self.tiles.values())
        for tile in self.tiles.values():
            tile.setFixedHeight(height)

    def show_figures(self, figures: TileFigures) -> None:
        self._texts = tile_texts(figures)
        for text in self._texts:
            tile = self.tiles.get(text.key)
            if tile is None:
                tile = self.tiles[text.key] = Tile(self)
            tile.show_text(text, self.theme)

    def text(self, key: str) -> TileText:
        return next(t for t in self._texts if t.key == key)
