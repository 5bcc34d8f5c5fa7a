"""IMMEDIATE: the whole parent at once, in one slice (split only at the freeze quantity)."""

from __future__ import annotations

import numpy as np

from .base import Algorithm, DueSlice, PlanInputs, RunningParent, Weights
from .names import ExecutionAlgo


class Immediate(Algorithm):
    """One slice at the start; a child given back is not sent again."""

    algo = ExecutionAlgo.IMMEDIATE
    scheduled = False
    sends_as_ticketed = True

    def slice_count(self, inputs: PlanInputs, length_s: float) -> int:
        return 1

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return np.ones(1, dtype=np.float64)

    def size_slice(self, parent: RunningParent, due: DueSlice) -> int:
        return due.planned_quantity
