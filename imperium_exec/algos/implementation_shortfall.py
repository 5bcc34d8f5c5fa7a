"""IS (implementation shortfall): the Almgren–Chriss trajectory, front-loaded by urgency.

The urgency ``kappa * T`` per :class:`~imperium_exec.request.Urgency` is a planner tunable
(``PlannerParams.is_kappa_t``): 0 is TWAP, larger values trade more of the parent early.
"""

from __future__ import annotations

from ..costs.almgren_chriss import optimal_trades
from .base import Algorithm, PlanInputs, Weights
from .names import ExecutionAlgo


class ImplementationShortfall(Algorithm):
    """Slice weights are the Almgren–Chriss optimal trades for the request's urgency."""

    algo = ExecutionAlgo.IS

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        kappa_t = inputs.params.is_kappa_t[inputs.request.execution_urgency]
        return optimal_trades(1.0, 1.0, len(bounds) - 1, kappa_t)
