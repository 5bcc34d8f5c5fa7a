"""One way to ask the trader a yes/no question before something is sent or changed."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_yes_no(parent: QWidget, title: str, text: str, *, name: str, default_yes: bool,
               warning: bool = False) -> bool:
    """A modal Yes/No box: Enter answers the default, Esc is always No. ``name`` is its
    object name (tests find the box by it)."""
    icon = QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Question
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    box = QMessageBox(icon, title, text, yes | no, parent)
    box.setDefaultButton(yes if default_yes else no)
    box.setEscapeButton(no)
    box.setObjectName(name)
    return box.exec() == yes
