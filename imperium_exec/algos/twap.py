"""TWAP: equal slices across the window."""

from __future__ import annotations

import numpy as np

from .base import Algorithm, PlanInputs, Weights
from .names import ExecutionAlgo


class Twap(Algorithm):
    """Every slice weighs the same."""

    algo = ExecutionAlgo.TWAP

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return np.ones(len(bounds) - 1, dtype=np.float64)
