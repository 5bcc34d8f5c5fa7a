"""What a plan is: the schedule of one parent's children, and the planner's tunables.

The value types the planner (:mod:`.planner`) makes and the engine runs, with the freeze
split every slice goes through. Nothing here knows an algorithm, so the algorithms and the
engine's state can name these types without importing the planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from ..request import MAX_CHILD_ORDERS, MIN_SLICE_INTERVAL_S, Urgency
from .names import AlgoName

if TYPE_CHECKING:
    from ..request import ExecutionRequest
    from ..volume_curve import VolumeCurve

#: Maps epoch seconds to seconds since the session open (the volume curve's time).
SessionSeconds = Callable[[float], float]


class ScheduleError(ValueError):
    """A schedule that cannot be made. Message starts with the field name, e.g.
    ``'end_at: 2026-.. is already over'``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PlannedChild:
    """One child order of the plan."""

    index: int          #: 0-based child order number across the parent
    slice_index: int    #: 0-based time slice; freeze splits of one slice share it and send_at
    quantity: int       #: units, a lot multiple, <= request.max_order_quantity
    send_at: float      #: epoch seconds


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """The schedule for one parent: its children and the pre-trade facts behind them."""

    algo: AlgoName
    children: tuple[PlannedChild, ...]
    start_at: float                 #: epoch seconds
    end_at: float                   #: epoch seconds; == start_at for IMMEDIATE
    participation_rate: float
    #: The algorithm sizes each slice from the market when it falls due (POV): the engine
    #: hands it a fresh quote then; the slice sizes here are provisional.
    dynamic_sizing: bool
    expected_market_volume: float | None  #: forecast market volume over the window, units
    warnings: tuple[str, ...]       #: pre-trade warnings, human-readable
    #: The volume curve the plan was made with (VWAP weights, POV forecast), None when the
    #: algorithm does not use one.
    volume_curve: VolumeCurve | None = None

    @property
    def quantity(self) -> int:
        """Total planned quantity: the parent quantity."""
        return sum(child.quantity for child in self.children)

    @property
    def slice_count(self) -> int:
        """Number of time slices that carry at least one child."""
        return len({child.slice_index for child in self.children})


def _default_kappa_t() -> Mapping[Urgency, float]:
    return {Urgency.NORMAL: 1.0, Urgency.HIGH: 4.0}


@dataclass(frozen=True)
class PlannerParams:
    """Tunables of the planner, in one place.

    size_jitter:
        Randomisation moves whole lots between slices, never more than this fraction of a
        slice's nominal lots (so slices below ``1/size_jitter`` lots keep their size).
        In [0, 1).
    time_jitter:
        Send-time jitter as a fraction of the slice interval, uniform in ±this. Kept below 0.5
        so slice order is preserved; further reduced so jittered slices stay at least
        ``MIN_SLICE_INTERVAL_S`` apart.
    is_kappa_t:
        Almgren–Chriss urgency ``kappa * T`` of the IS trajectory per urgency. 0 is TWAP; 1 puts
        ~1.5x the last slice's size in the first; 4 is strongly front-loaded (~27x).
    pov_interval_s:
        POV slice spacing when the request leaves ``max_child_orders`` at 1.
    max_pov_slices:
        Cap on POV slices from ``pov_interval_s`` over a long window (the interval widens).
    """

    size_jitter: float = 0.25
    time_jitter: float = 0.30
    is_kappa_t: Mapping[Urgency, float] = field(default_factory=_default_kappa_t)
    pov_interval_s: float = 30.0
    max_pov_slices: int = MAX_CHILD_ORDERS

    def __post_init__(self) -> None:
        if not 0.0 <= self.size_jitter < 1.0:
            raise ValueError(f"size_jitter: {self.size_jitter} must be in [0, 1)")
        if not 0.0 <= self.time_jitter < 0.5:
            raise ValueError(f"time_jitter: {self.time_jitter} must be in [0, 0.5)")
        missing = [u.value for u in Urgency if u not in self.is_kappa_t]
        if missing:
            raise ValueError(f"is_kappa_t: no kappa*T for urgency {', '.join(missing)}")
        for urgency, kt in self.is_kappa_t.items():
            if not (math.isfinite(kt) and kt >= 0.0):
                raise ValueError(f"is_kappa_t: {urgency} -> {kt} must be finite and >= 0")
        if not (math.isfinite(self.pov_interval_s)
                and self.pov_interval_s >= MIN_SLICE_INTERVAL_S):
            raise ValueError(f"pov_interval_s: {self.pov_interval_s} must be at least "
                             f"{MIN_SLICE_INTERVAL_S:g} s")
        if self.max_pov_slices < 1:
            raise ValueError(f"max_pov_slices: {self.max_pov_slices} must be at least 1")
        object.__setattr__(self, "is_kappa_t", MappingProxyType(dict(self.is_kappa_t)))


def split_by_freeze(quantity: int, lot_size: int, max_order_quantity: int) -> list[int]:
    """Split one slice into the fewest orders <= max_order_quantity, near-equal whole lots, sum
    exact.

    NSE rejects an order above the freeze quantity, so a slice of 55 NIFTY lots with a
    27-lot maximum goes out as 19 + 18 + 18 lots, not 27 + 27 + 1 (a tiny tail order is the
    most visible one). Larger orders come first. ``quantity`` 0 gives no orders.
    """
    if lot_size <= 0:
        raise ValueError(f"lot_size: {lot_size} must be positive")
    if quantity < 0 or quantity % lot_size:
        raise ValueError(f"quantity: {quantity} is not a non-negative multiple of the lot size "
                         f"{lot_size}")
    max_lots = max_order_quantity // lot_size
    if max_lots < 1:
        raise ValueError(f"max_order_quantity: {max_order_quantity} is below the lot size "
                         f"{lot_size}")
    lots = quantity // lot_size
    if lots == 0:
        return []
    orders = -(-lots // max_lots)
    base, extra = divmod(lots, orders)
    return [(base + 1) * lot_size if i < extra else base * lot_size for i in range(orders)]


class PlansParents(Protocol):
    """The planner as an algorithm sees it while its parent runs (to plan it again)."""

    @property
    def volume_curve(self) -> VolumeCurve:
        """The curve of an ordinary day."""
        ...

    def plan(self, request: ExecutionRequest, *, now: float, seed: int,
             session_seconds: SessionSeconds | None = None,
             expected_market_volume: float | None = None) -> ExecutionPlan:
        ...
