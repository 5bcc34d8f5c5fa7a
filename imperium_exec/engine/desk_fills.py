"""The desk's fills on each instrument, any parent, as the engine took them in.

A child's pre-trade estimate counts the linear impact of what the desk already traded on its
instrument (:meth:`~..costs.slippage.SlippageModel.linear_impact`): its own parent's fills, and
other parents' too. A parent that bought the contract a minute ago left a temporary impact
that is still decaying (the price drifts back under the next buyer), and a parent working
beside it moves the price as its own fills do. The calibration fits the impact from all of
them (``calibration.slippage_observations``); the estimate must count the same fills.

A restarted engine starts from the day's fills in the journal (:meth:`DeskFills.seed`): the
crashed session's last fills are the ones whose temporary impact is still decaying.

Kept for a day at most: a day's fills are a few per order, and Kite caps a day's orders at
5,000, so tens of thousands at most.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

#: Fills older than this are forgotten (their temporary impact is long gone; a parent working
#: longer than a session would still lose the permanent part of fills this old).
KEEP_S = 86_400.0


@dataclass(frozen=True, slots=True)
class DeskFill:
    at: float  # when the engine took the fill in (clock seconds)
    parent_id: str
    units: int  # signed: + bought, - sold
    #: Its place among all the desk's fills (0 the first): whether a parent's arrival price
    #: came after it, when both happened at the same clock time.
    number: int


class DeskFills:
    """Fills per instrument key, oldest first. Used on the engine's loop only."""

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.keep_s = keep_s
        #: Per instrument, oldest first (a list: bisected and sliced by position).
        self._by_instrument: dict[str, list[DeskFill]] = {}
        #: Fills recorded so far: the next fill's number.
        self.count = 0

    def record(self, instrument: str, parent_id: str, at: float, units: int) -> None:
        fills = self._by_instrument.setdefault(instrument, [])
        fills.append(DeskFill(at, parent_id, units, self.count))
        self.count += 1
        if fills[0].at < at - self.keep_s:
            del fills[:bisect.bisect_left(fills, at - self.keep_s, key=lambda f: f.at)]

    def seed(self, fills: Iterable[tuple[str, str, float, int]]) -> None:
        """Take in earlier fills, (instrument, parent id, at, units) each, as
        :meth:`record` would have (a restart, from the day's journal), in time order among
        those already recorded. They are numbered as taken in: a parent that arrived while
        the journal was read tells them apart by their time."""
        for instrument, parent_id, at, units in fills:
            known = self._by_instrument.setdefault(instrument, [])
            if known and known[-1].at > at:
                bisect.insort(known, DeskFill(at, parent_id, units, self.count),
                              key=lambda f: f.at)
                self.count += 1
            else:
                self.record(instrument, parent_id, at, units)

    def others_since(self, instrument: str, parent_id: str, since: float) -> list[DeskFill]:
        """The fills on ``instrument`` from ``since`` on of parents other than ``parent_id``."""
        fills = self._by_instrument.get(instrument)
        if not fills:
            return []
        start = bisect.bisect_left(fills, since, key=lambda f: f.at)
        return [f for f in fills[start:] if f.parent_id != parent_id]


__all__ = ["KEEP_S", "DeskFill", "DeskFills"]
