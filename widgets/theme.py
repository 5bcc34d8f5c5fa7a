"""Colours of the execution widgets, legible on the host's light or dark palette.

The dock lives in someone else's window, so it never sets a global style: it picks the light or
dark variant of these colours from the palette it is given. The desk demo applies the dark
palette below to its own application.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette

from ..events import ErrorBucket, EventKind, Status


@dataclass(frozen=True)
class Theme:
    dark: bool
    good: QColor  # fills, price improvement
    bad: QColor  # errors, rejections, slippage cost
    warn: QColor  # retries, reconciles, pauses
    info: QColor  # placed, working
    muted: QColor  # cancelled, blanks
    buy: QColor
    sell: QColor
    live: QColor  # the LIVE banner
    row_bad: QColor  # translucent row tints
    row_warn: QColor
    row_good: QColor
    plot_background: QColor
    plot_foreground: QColor

    @classmethod
    def for_palette(cls, palette: QPalette) -> Theme:
        return DARK if palette.color(QPalette.ColorRole.Base).lightness() < 128 else LIGHT

    def status(self, status: str | None) -> QColor | None:
        """Text colour of a child or parent status (a :class:`Status` value)."""
        tone = _STATUS_TONES.get(status) if status is not None else None
        return None if tone is None else getattr(self, tone)

    def row_tint(self, event: str | None) -> QColor | None:
        """Row tint of an event (an :class:`EventKind` value)."""
        tone = _EVENT_TINTS.get(event) if event is not None else None
        return None if tone is None else getattr(self, tone)

    def bucket(self, bucket: str | None) -> QColor | None:
        if bucket in (ErrorBucket.RISK, ErrorBucket.FATAL):
            return self.bad
        if bucket in (ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE):
            return self.warn
        return None

    def side(self, side: str | None) -> QColor | None:
        return self.buy if side == "BUY" else self.sell if side == "SELL" else None

    def cost(self, value: float) -> QColor | None:
        """Slippage colour: a cost is bad, an improvement good."""
        if value > 0:
            return self.bad
        if value < 0:
            return self.good
        return None


#: Which of the theme's colours each status is written in (by attribute name).
_STATUS_TONES: dict[str, str] = {
    Status.FILLED: "good", Status.COMPLETE: "good",
    Status.PARTIALLY_FILLED: "info", Status.PLACED: "info", Status.WORKING: "info",
    Status.OPEN: "info", Status.PENDING: "info",
    Status.ERROR: "bad", Status.REJECTED: "bad", Status.FAILED: "bad",
    Status.RELOGIN_NEEDED: "bad", Status.UNKNOWN: "bad",
    Status.RETRY: "warn", Status.RECONCILING: "warn", Status.PAUSED: "warn",
    Status.PARTIAL: "warn",
    Status.CANCELLED: "muted", Status.NOT_PLACED: "muted",
}
_EVENT_TINTS: dict[str, str] = {
    EventKind.ERROR: "row_bad", EventKind.REJECTED: "row_bad",
    EventKind.RETRY: "row_warn", EventKind.RECONCILING: "row_warn",
    EventKind.GHOST: "row_warn",
    EventKind.FILLED: "row_good",
}


def _tint(hex_colour: str, alpha: int) -> QColor:
    colour = QColor(hex_colour)
    colour.setAlpha(alpha)
    return colour


LIGHT = Theme(
    dark=False, good=QColor("#1b7f3b"), bad=QColor("#c62828"), warn=QColor("#b26a00"),
    info=QColor("#1f5fbf"), muted=QColor("#7a7f87"), buy=QColor("#1f5fbf"),
    sell=QColor("#c62828"), live=QColor("#d32f2f"), row_bad=_tint("#e53935", 40),
    row_warn=_tint("#fb8c00", 36), row_good=_tint("#43a047", 26),
    plot_background=QColor("#ffffff"), plot_foreground=QColor("#303840"),
)
DARK = Theme(
    dark=True, good=QColor("#4cc07a"), bad=QColor("#ff6b6b"), warn=QColor("#f0b429"),
    info=QColor("#6ab0ff"), muted=QColor("#8b949e"), buy=QColor("#6ab0ff"),
    sell=QColor("#ff6b6b"), live=QColor("#d32f2f"), row_bad=_tint("#ff5252", 46),
    row_warn=_tint("#ffab40", 40), row_good=_tint("#4cc07a", 30),
    plot_background=QColor("#161b22"), plot_foreground=QColor("#c9d1d9"),
)


def dark_palette() -> QPalette:
    """The desk demo's palette (Fusion style): a dark trading-terminal look."""
    p = QPalette()
    window, base, alt, text = QColor("#1c2128"), QColor("#0d1117"), QColor("#161b22"), \
        QColor("#d7dde4")
    role = QPalette.ColorRole
    for r, c in ((role.Window, window), (role.WindowText, text), (role.Base, base),
                 (role.AlternateBase, alt), (role.ToolTipBase, QColor("#2d333b")),
                 (role.ToolTipText, text), (role.Text, text), (role.Button, QColor("#2d333b")),
                 (role.ButtonText, text), (role.BrightText, QColor("#ff6b6b")),
                 (role.Highlight, QColor("#2f6fbd")), (role.HighlightedText, QColor("#ffffff")),
                 (role.Link, QColor("#6ab0ff")), (role.PlaceholderText, QColor("#7d8590")),
                 (role.Mid, QColor("#30363d")), (role.Dark, QColor("#0b0e13")),
                 (role.Light, QColor("#3b424c")), (role.Midlight, QColor("#30363d")),
                 (role.Shadow, QColor("#000000"))):
        p.setColor(r, c)
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.Text, role.ButtonText, role.WindowText):
        p.setColor(disabled, r, QColor("#6e7681"))
    return p
