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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from .plan import SessionSeconds

if TYPE_CHECKING:
    from ..brokers.base import Quote
    from ..request import ExecutionRequest
    from ..volume_curve import VolumeCurve
    from .names import AlgoName
    from .plan import ExecutionPlan, PlannerParams, PlansParents

Weights = npt.NDArray[np.float64]


class SliceChild(Protocol):
    """One child of a slice, as an algorithm sees it (the engine's ``ChildState``)."""

    quantity: int  # units; an algorithm may cut a later slice's child


class RunningParent(Protocol):
    """A working parent, as an algorithm sees it (the engine's ``RunningParent``, owned by the
    engine's thread: an algorithm reads it, and changes only what is documented here)."""

    @property
    def request(self) -> ExecutionRequest: ...

    @property
    def plan(self) -> ExecutionPlan: ...

    @property
    def filled(self) -> int: ...

    @property
    def working(self) -> int:
        """Units resting at the broker."""
        ...

    @property
    def remaining(self) -> int:
        """Units neither filled nor working: not yet sent, or given back by ended children."""
        ...

    @property
    def children(self) -> list[Any]:
        """Every child, in order; an algorithm may remove a later slice's child it cut to 0."""
        ...

    #: Cumulative market volume at the previous slice (POV's measure), kept by the algorithm.
    last_volume: int | None


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
    planned: Sequence[SliceChild]
    #: Children of later slices, still scheduled.
    later: Sequence[SliceChild]
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

    planner: PlansParents
    session_seconds: SessionSeconds
    seed: int

    @property
    def volume_curve(self) -> VolumeCurve:
        return self.planner.volume_curve

    def plan_again(self, parent: RunningParent, *,
                   expected_market_volume: float | None) -> ExecutionPlan:
        return self.planner.plan(parent.request, now=parent.plan.start_at, seed=self.seed,
                                 session_seconds=self.session_seconds,
                                 expected_market_volume=expected_market_volume)


@dataclass(frozen=True, slots=True)
class Reaction:
    """What an algorithm wants done now that its parent changed or its timer came due."""

    #: Units to send at once as one more slice (a lot multiple; 0: nothing). The engine splits
    #: them at the freeze quantity and sends them like any slice.
    send: int = 0
    #: When to ask again although nothing changed (epoch seconds); None: on the next change.
    wake_at: float | None = None


#: Nothing to do, no timer: what a schedule-driven algorithm answers.
NO_REACTION = Reaction()


class Algorithm(ABC):
    """One execution algorithm: its slices before the parent starts, its sizes while it runs,
    and what it sends in reaction to fills and time once its slices are out."""

    #: The name a request gives in ``execution_algo`` (an :class:`~.names.ExecutionAlgo`
    #: member for the built-ins, an upper-case string for one registered from outside).
    algo: ClassVar[AlgoName]
    #: Spreads its children over a window: a slice replaces what earlier slices left resting,
    #: the last slice takes what is left, the parent ends at the window's end, and a slice
    #: that finds no fresh quote is given up without failing the parent. False (IMMEDIATE):
    #: one slice at the start, which waits for its children however long they rest.
    scheduled: ClassVar[bool] = True
    #: Sends the ticket as the trader priced it: a MARKET order takes liquidity (and at high
    #: urgency goes out without waiting for a quote), a LIMIT order rests at its own limit.
    #: False: the router chooses the posture from the spread.
    sends_as_ticketed: ClassVar[bool] = False
    #: Trades a share of the market's volume: the request's ``participation_rate`` is its
    #: target (POV), not only the impact estimate's hint.
    targets_participation: ClassVar[bool] = False
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

    def before_first_slice(self, parent: RunningParent, quote: Quote | None,
                           replanner: Replanner) -> ExecutionPlan:
        """The plan to run, once the parent holds its first price (``quote``, None when none
        came): by default, the plan as made."""
        return parent.plan

    def size_slice(self, parent: RunningParent, due: DueSlice) -> int:
        """The quantity this slice sends (0: nothing), a lot multiple: by default, everything
        not planned for later slices, so quantity given back rolls into this slice."""
        return max(0, due.free)

    def react(self, parent: RunningParent, now: float) -> Reaction:
        """Asked after the plan's last slice went out, each time one of the parent's children
        changes (a fill, an end) and at the ``wake_at`` it last asked for: what to send now.
        ``parent.remaining`` is what is neither filled nor working. By default nothing: the
        parent waits for its working children (until its window ends, for a scheduled one)."""
        return NO_REACTION
