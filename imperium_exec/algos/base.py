"""The interface every execution algorithm implements, and what the planner and engine hand it.

An algorithm answers two kinds of question. Before anything is sent, the planner asks how many
time slices the parent's window is cut into, how the parent's lots are weighted across them,
and what the trader should be warned about. While the parent runs, the engine asks for the plan
to run once the first price is in hand, and how large each slice really is when it falls due.

The defaults are those of a scheduled algorithm sized by its plan: ``max_child_orders`` slices,
the plan as made, and each slice sends what the plan left for it plus what earlier children
gave back. An algorithm that sizes at run time (``sizes_at_run_time``) is handed the market as
of the moment the slice falls due.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from ..request import ExecutionAlgo, ExecutionRequest

if TYPE_CHECKING:
    from ..brokers.base import Quote
    from ..engine.state import ChildState, ParentState
    from ..volume_curve import VolumeCurve
    from .planner import ExecutionAlgoPlanner, ExecutionPlan, PlannerParams

#: Maps epoch seconds to seconds since the session open (the volume curve's time).
SessionSeconds = Callable[[float], float]
Weights = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What the planner knows when it asks an algorithm for its slices."""

    request: ExecutionRequest
    params: PlannerParams
    volume_curve: VolumeCurve
    session_seconds: SessionSeconds
    #: Forecast market volume over the window, in units, when one is known.
    expected_market_volume: float | None
    #: The plan's pre-trade warnings so far; an algorithm may add its own.
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class DueSlice:
    """A slice that fell due, as the engine hands it to the algorithm to size."""

    #: Its planned children, with those of later slices that fell due while it waited.
    planned: list[ChildState]
    #: Children of later slices, still scheduled.
    later: list[ChildState]
    #: The parent's remaining quantity not planned for later slices: this slice's plan plus
    #: the quantity earlier children gave back.
    free: int
    #: The market as the slice falls due; None unless the algorithm sizes at run time (or no
    #: fresh quote came).
    quote: Quote | None

    @property
    def planned_quantity(self) -> int:
        return sum(child.quantity for child in self.planned)

    @property
    def later_quantity(self) -> int:
        return sum(child.quantity for child in self.later)


@dataclass(frozen=True, slots=True)
class Replanner:
    """The planner as a running parent sees it: plan the parent again from what the market
    showed, from the same start and with the same seed."""

    planner: ExecutionAlgoPlanner
    session_seconds: SessionSeconds
    seed: int

    @property
    def volume_curve(self) -> VolumeCurve:
        return self.planner.volume_curve

    def plan_again(self, parent: ParentState, *,
                   expected_market_volume: float | None) -> ExecutionPlan:
        return self.planner.plan(parent.request, now=parent.plan.start_at, seed=self.seed,
                                 session_seconds=self.session_seconds,
                                 expected_market_volume=expected_market_volume)


class Algorithm(ABC):
    """One execution algorithm: its slices before the parent starts, its sizes while it runs."""

    #: The algorithm a request names.
    algo: ClassVar[ExecutionAlgo]
    #: The plan's slice sizes are provisional: each slice is sized from the market when it
    #: falls due (the plan's ``dynamic_sizing``; the engine then hands :meth:`size_slice` a
    #: fresh quote).
    sizes_at_run_time: ClassVar[bool] = False
    #: The plan follows the intraday volume curve (the plan names the curve it used).
    uses_volume_curve: ClassVar[bool] = False

    # ------------------------------------------------------------------ planning

    def slice_count(self, inputs: PlanInputs, length_s: float) -> int:
        """How many time slices a window of ``length_s`` seconds is cut into: the slices
        asked for, never more than the parent's lots."""
        request = inputs.request
        lots = request.lots
        asked = request.max_child_orders
        n = min(asked, lots)
        if n < asked:
            inputs.warnings.append(f"only {lots} lot{'s' if lots != 1 else ''}: "
                                   f"{n} slice{'s' if n != 1 else ''} instead of {asked}")
        return n

    @abstractmethod
    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        """The weight of each slice ``[bounds[k], bounds[k+1]]`` (epoch seconds): finite,
        non-negative, with a positive sum; the planner allocates whole lots by them."""

    def pre_trade_warnings(self, inputs: PlanInputs, length_s: float) -> list[str]:
        """Warnings about this parent that the trader sees before anything is sent."""
        return []

    # ------------------------------------------------------------------ running

    def before_first_slice(self, parent: ParentState, quote: Quote | None,
                           replanner: Replanner) -> ExecutionPlan:
        """The plan to run, once the parent holds its first price (``quote``, None when none
        came): by default, the plan as made."""
        return parent.plan

    def size_slice(self, parent: ParentState, due: DueSlice) -> int:
        """The quantity this slice sends (0: nothing), a lot multiple: by default, everything
        not planned for later slices, so quantity given back rolls into this slice."""
        return max(0, due.free)
