"""The shipped font: DejaVu Sans from ``imperium_exec.resources/fonts``.

Qt renders every glyph as a box ("tofu") when the machine has no fonts at all, with no warning,
which is what a bare CI container or a headless server looks like. Registering the shipped TTF
with ``QFontDatabase.addApplicationFont`` makes text render everywhere. The dock only registers
it (the host's font stays in charge); the desk demo also makes it the application font.
"""

from __future__ import annotations

from importlib import resources

from PySide6.QtGui import QFont, QFontDatabase

FAMILY = "DejaVu Sans"
_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
_loaded: list[str] = []


def ensure_fonts() -> str:
    """Register the shipped fonts once (needs a QGuiApplication); returns the family name."""
    if not _loaded:
        folder = resources.files("imperium_exec.resources").joinpath("fonts")
        for name in _FILES:
            data = folder.joinpath(name).read_bytes()
            font_id = QFontDatabase.addApplicationFontFromData(data)
            if font_id >= 0:
                _loaded.extend(QFontDatabase.applicationFontFamilies(font_id))
        if not _loaded:
            _loaded.append("")  # could not load (no GUI app?): keep Qt's default
    return _loaded[0] or QFont().family()


def desk_font(point_size: float = 9.0) -> QFont:
    """The desk's UI font: the shipped family at ``point_size``."""
    font = QFont(ensure_fonts())
    font.setPointSizeF(point_size)
    font.setHintingPreference(QFont.HintingPreference.PreferFullHinting)
    return font
