"""The ids a row carries that are made from other ids: a child's id and its attempt's tag."""

from __future__ import annotations

import string

_DIGITS = string.digits + string.ascii_uppercase


def base36(value: int, width: int) -> str:
    """``value`` in base 36, zero-padded to ``width`` digits (its last ``width`` if longer)."""
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = _DIGITS[rem] + out
    return out.rjust(width, "0")[-width:]


def child_tag(parent_id: str, child_index: int, attempt: int) -> str:
    """Kite tag (<= 20 alphanumerics): parent id, child index (0-based) and attempt in base
    36."""
    return f"{parent_id}{base36(child_index, 3)}{base36(attempt, 2)}"


def child_id(parent_id: str, child_number: int) -> str:
    """A child's id: its parent's and its number (from 1), ``parent_id-child_number``."""
    return f"{parent_id}-{child_number}"


__all__ = ["base36", "child_id", "child_tag"]
