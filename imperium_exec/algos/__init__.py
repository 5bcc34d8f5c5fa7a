"""The execution algorithms, one module each, behind one interface (:class:`Algorithm`).

:func:`algorithm_for` gives the algorithm a request names: the planner asks it for slice counts,
weights and warnings; the engine asks it for the plan to run and each slice's size.
"""

from __future__ import annotations

from types import MappingProxyType

from ..request import ExecutionAlgo
from .base import Algorithm, DueSlice, PlanInputs, Replanner, SessionSeconds
from .immediate import Immediate
from .implementation_shortfall import ImplementationShortfall
from .pov import Pov
from .twap import Twap
from .vwap import Vwap

ALGORITHMS = MappingProxyType({algorithm.algo: algorithm for algorithm in (
    Immediate(), Twap(), Vwap(), Pov(), ImplementationShortfall())})


def algorithm_for(algo: ExecutionAlgo) -> Algorithm:
    """The algorithm ``algo`` names."""
    return ALGORITHMS[algo]


__all__ = ["ALGORITHMS", "Algorithm", "DueSlice", "PlanInputs", "Replanner", "SessionSeconds",
           "algorithm_for"]
