"""TcaBook: the dock's TCA tab's figures, from the same rows as everything else (Qt-free).

- Each finished parent's implementation shortfall in parts (the ``finished`` row's
  ``is_delay``, ``is_spread``, ``is_drift``, ``is_opportunity`` and ``fees``, in rupees;
  see :mod:`imperium_exec.costs.shortfall`), also in bps of the ordered value at the decision price.
  The newest :data:`KEEP_PARENTS` are kept; the aggregate covers every one seen.
- Markouts: the quantity-weighted mean ``markout_bps`` per horizon over every fill, split by
  whether the fill took liquidity or rested (:mod:`imperium_exec.events.liquidity`: its price
  against the touch when it was sent; resting fills that keep costing were picked off), and
  per kept parent.

Positive is a cost throughout, as in the journal.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..events import Event, EventKind
from ..events.liquidity import fill_liquidity
from ..tca.scales import signed_text
from ..timeutil import ist_day_start

#: Parents whose waterfall can be picked (the newest finished ones).
KEEP_PARENTS = 500
#: The parts of the waterfall, in order: (field of ParentCost, label).
PARTS: tuple[tuple[str, str], ...] = (
    ("delay", "Delay"), ("spread", "Spread"), ("drift", "Drift"),
    ("opportunity", "Opportunity"), ("fees", "Fees"))


@dataclass(frozen=True, slots=True)
class ParentCost:
    """One parent's shortfall parts in rupees (positive = cost)."""

    parent_id: str
    ts: float
    tradingsymbol: str
    side: str
    execution_algo: str
    quantity: int
    filled: int
    status: str
    ordered_value: float  # quantity * decision price, rupees
    delay: float
    spread: float
    drift: float
    opportunity: float
    fees: float

    @property
    def total(self) -> float:
        return self.delay + self.spread + self.drift + self.opportunity + self.fees

    def bps(self, rupees: float) -> float:
        return rupees / self.ordered_value * 1e4 if self.ordered_value > 0 else 0.0

    @property
    def label(self) -> str:
        return (f"{self.side} {self.quantity} {self.tradingsymbol} {self.execution_algo} · "
                f"{self.status} {self.filled}/{self.quantity} · "
                f"shortfall {signed_text(self.bps(self.total), 1, thousands=False)} bps, "
                "fees in")


@dataclass
class _Mean:
    total: float = 0.0
    weight: float = 0.0

    def add(self, value: float, weight: float) -> None:
        self.total += value * weight
        self.weight += weight

    def mean(self) -> float | None:
        return self.total / self.weight if self.weight > 0 else None


@dataclass
class Markouts:
    """Quantity-weighted mean markout (bps) per horizon (seconds)."""

    by_horizon: dict[float, _Mean] = field(default_factory=dict)

    def add(self, horizon: float, bps: float, units: float) -> None:
        self.by_horizon.setdefault(horizon, _Mean()).add(bps, units)

    def curve(self) -> list[tuple[float, float]]:
        """(horizon, mean bps) by horizon."""
        points = [(h, m.mean()) for h, m in sorted(self.by_horizon.items())]
        return [(h, v) for h, v in points if v is not None]

    def fills(self, horizon: float) -> float:
        mean = self.by_horizon.get(horizon)
        return mean.weight if mean is not None else 0.0


class TcaBook:
    """Finished parents' shortfall parts and the fills' markouts, as rows arrive (any order:
    a journal's history comes newest first, markouts before their parent's final row).

    The aggregate and the markouts are the newest trading day's (IST), like the desk's
    "today"; the waterfall's parents are the newest :data:`KEEP_PARENTS`. Each row costs
    O(log KEEP) at most, whatever the journal's length."""

    def __init__(self, keep: int = KEEP_PARENTS) -> None:
        self._keep = keep
        self.reset()

    def reset(self) -> None:
        self._costs: dict[str, ParentCost] = {}
        self._order: list[tuple[float, str]] = []  # (ts, parent id) of the kept, oldest first
        self._days: dict[float, _Day] = {}  # IST day start -> that day's figures
        self._parent_markouts: dict[str, Markouts] = {}
        #: Finished parents not kept (older than every kept one, or pushed out): their
        #: markouts, which may come after the finished row (a history chunk is in file
        #: order), count in the day's curves only.
        self._dropped: set[str] = set()
        self.version = 0  # any figure changed
        self.parents_version = 0  # the finished parents changed (the picker's list)

    def add(self, events: list[Event]) -> bool:
        """Fold a batch in; True when a figure changed."""
        changed = False
        for e in events:
            if e.event is EventKind.FINISHED and e.is_spread is not None:
                changed = self._finished(e) or changed
            elif e.event is EventKind.MARKOUT and e.markout_bps is not None \
                    and e.markout_s is not None and e.filled_quantity:
                self._markout(e)
                changed = True
        if changed:
            self.version += 1
        return changed

    def _day(self, ts: float) -> _Day:
        start = ist_day_start(ts)
        day = self._days.get(start)
        if day is None:
            day = self._days[start] = _Day()
        return day

    def _finished(self, e: Event) -> bool:
        if e.parent_id in self._costs:
            return False
        quantity = e.parent_quantity or 0
        decision = e.decision_price or e.arrival_price or 0.0
        cost = ParentCost(
            parent_id=e.parent_id, ts=e.ts, tradingsymbol=e.tradingsymbol, side=e.side or "",
            execution_algo=e.execution_algo or "", quantity=quantity,
            filled=e.parent_filled_quantity or 0, status=e.status or "",
            ordered_value=quantity * decision, delay=e.is_delay or 0.0,
            spread=e.is_spread or 0.0, drift=e.is_drift or 0.0,
            opportunity=e.is_opportunity or 0.0, fees=e.fees or 0.0)
        day = self._day(e.ts)
        if e.parent_id in day.parents:
            return False
        day.add(cost)
        self.parents_version += 1
        key = (cost.ts, cost.parent_id)
        if len(self._order) >= self._keep and key < self._order[0]:
            self._parent_markouts.pop(cost.parent_id, None)  # older than every kept one
            self._dropped.add(cost.parent_id)
            return True
        bisect.insort(self._order, key)
        self._costs[cost.parent_id] = cost
        if len(self._order) > self._keep:
            _, dropped = self._order.pop(0)
            del self._costs[dropped]
            self._parent_markouts.pop(dropped, None)
            self._dropped.add(dropped)
        return True

    def _markout(self, e: Event) -> None:
        horizon, bps = float(e.markout_s or 0.0), float(e.markout_bps or 0.0)
        units = float(e.filled_quantity or 0)
        day = self._day(e.ts)
        day.markouts["all"].add(horizon, bps, units)
        # Taking or resting from what happened (the price against the touch when sent), not
        # the router's intent; a row that says neither counts in "all" only.
        liquidity = fill_liquidity(e.side, e.limit_price, e.touch_at_send, e.mid_at_send,
                                   e.queue_priority)
        if liquidity is not None:
            day.markouts[liquidity.value].add(horizon, bps, units)
        if e.parent_id in self._dropped:
            return  # a parent not kept: its own curve is never shown
        self._parent_markouts.setdefault(e.parent_id, Markouts()).add(horizon, bps, units)
        if len(self._parent_markouts) > 4 * self._keep:  # parents that never finished
            self._parent_markouts = {k: v for k, v in self._parent_markouts.items()
                                     if k in self._costs}

    # ------------------------------------------------------------------ reading
    def newest(self, limit: int) -> list[ParentCost]:
        """The newest ``limit`` finished parents kept, newest first."""
        return [self._costs[pid] for _, pid in reversed(self._order[-limit:])] \
            if limit > 0 else []

    def get(self, parent_id: str) -> ParentCost | None:
        return self._costs.get(parent_id)

    def parent_markouts(self, parent_id: str) -> Markouts:
        return self._parent_markouts.get(parent_id, Markouts())

    def today(self) -> _Day:
        """The newest trading day's figures (empty before any row)."""
        return self._days[max(self._days)] if self._days else _Day()


@dataclass
class _Day:
    """One trading day's finished parents (their parts added up) and its fills' markouts."""

    parents: set[str] = field(default_factory=set)
    rupees: dict[str, float] = field(default_factory=lambda: {n: 0.0 for n, _ in PARTS})
    ordered_value: float = 0.0
    markouts: dict[str, Markouts] = field(default_factory=lambda: {
        "all": Markouts(), "taking": Markouts(), "resting": Markouts()})

    def add(self, cost: ParentCost) -> None:
        self.parents.add(cost.parent_id)
        for name, _ in PARTS:
            self.rupees[name] += getattr(cost, name)
        self.ordered_value += cost.ordered_value

    def bps(self) -> dict[str, float]:
        """The day's parts added up, in bps of the parents' ordered value (positive = cost)."""
        value = self.ordered_value
        return {name: (rupees / value * 1e4 if value > 0 else 0.0)
                for name, rupees in self.rupees.items()}


__all__ = ["KEEP_PARENTS", "PARTS", "Markouts", "ParentCost", "TcaBook"]
