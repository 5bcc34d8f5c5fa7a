"""DoubleEnded: a 1-D numpy array that grows and shrinks at either end in place (the
views' display order and sort keys: live rows on top, history below)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from .events_model import lazy_buffer


class DoubleEnded:
    """A 1-D array with room at both ends: inserting at the top or the bottom costs what is
    inserted (a newest-first view takes live rows on top and history below), elsewhere a
    copy of the whole.

    ``room`` values of room are kept on each side of what :meth:`reset` puts in: a view of a
    store of ``max_rows`` rows given ``max_rows`` of room never needs a bigger buffer, only
    (when rows dropped at one end let the values drift to the other) a move within it. The
    room is address space, committed page by page as values are written (``lazy_buffer``):
    a fresh buffer cost ~15 ms per array at a million rows, paid inside one refresh."""

    def __init__(self, values: npt.NDArray[Any], room: int = 0) -> None:
        self._room = room
        self.reset(values)

    def reset(self, values: npt.NDArray[Any]) -> None:
        if self._room <= 0:
            self._buffer, self._low, self._high = values, 0, len(values)
            return
        self._buffer = lazy_buffer(len(values) + 2 * self._room, values.dtype)
        self._low, self._high = self._room, self._room + len(values)
        self._buffer[self._low:self._high] = values

    @property
    def array(self) -> npt.NDArray[Any]:
        return self._buffer[self._low:self._high]

    def remove_end(self, top: bool, count: int) -> None:
        """Drop ``count`` values from the top (or the bottom) end."""
        if top:
            self._low += count
        else:
            self._high -= count

    def insert(self, place: int, values: npt.NDArray[Any]) -> None:
        """Insert ``values`` before position ``place``: the shorter side moves over (within
        the buffer while there is room), the values are written in."""
        size, count = self._high - self._low, len(values)
        if count == 0:
            return
        if place <= size - place and self._low >= count:  # the part above moves up
            low = self._low - count
            self._buffer[low:low + place] = self._buffer[self._low:self._low + place]
            self._buffer[low + place:low + place + count] = values
            self._low = low
            return
        if place > size - place and len(self._buffer) - self._high >= count:  # below: down
            at = self._low + place
            self._buffer[at + count:self._high + count] = self._buffer[at:self._high]
            self._buffer[at:at + count] = values
            self._high += count
            return
        spare = len(self._buffer) - size
        if spare >= count + max(1024, size // 8):
            # Room, but at the other end: centre the values within the buffer (a memmove over
            # pages already in memory) rather than copy them into a new one (fresh pages:
            # ~15 ms at 1M).
            low = (spare - count) // 2 + (count if place <= size - place else 0)
            self._buffer[low:low + size] = self._buffer[self._low:self._high]
            self._low, self._high = low, low + size
            self.insert(place, values)
            return
        new_size = size + count
        room = max(1024, new_size // 2)  # on each side: amortised, inserts at the ends are O(1)
        grown = lazy_buffer(new_size + 2 * room, self._buffer.dtype)  # 4 KB pages: see there
        old = self.array
        grown[room:room + place] = old[:place]
        grown[room + place:room + place + count] = values
        grown[room + place + count:room + new_size] = old[place:]
        self._buffer, self._low, self._high = grown, room, room + new_size

    def remove(self, first: int, last: int) -> None:
        """Drop positions ``first..last`` (inclusive): the shorter side moves over."""
        count = last - first + 1
        size = self._high - self._low
        if first <= size - 1 - last:
            self._buffer[self._low + count:self._low + count + first] = \
                self._buffer[self._low:self._low + first]
            self._low += count
        else:
            at = self._low + first
            self._buffer[at:self._high - count] = self._buffer[at + count:self._high]
            self._high -= count


__all__ = ["DoubleEnded"]
