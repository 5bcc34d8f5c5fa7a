"""VWAP: slices weighted by the intraday volume curve's share of each."""

from __future__ import annotations

import numpy as np

from .base import Algorithm, PlanInputs, Weights
from .names import ExecutionAlgo


def volume_curve_weights(inputs: PlanInputs, bounds: Weights) -> Weights:
    """The volume curve's share of each slice ``[bounds[k], bounds[k+1]]``.

    Epoch times map to session seconds with ``inputs.session_seconds``; time outside the
    session trades at the curve's edge rates (with a warning). A curve with no volume in the
    window gives equal weights (with a warning).
    """
    curve = inputs.volume_curve
    positions = [float(inputs.session_seconds(float(t))) for t in bounds]
    weights = np.empty(len(bounds) - 1, dtype=np.float64)
    outside = False
    for k in range(len(weights)):
        s0, s1 = positions[k], positions[k + 1]
        if s1 < s0:  # the mapping wrapped (a window across midnight): keep the duration
            s1 = s0 + float(bounds[k + 1] - bounds[k])
        outside = outside or s0 < 0.0 or s1 > curve.session_length_s
        weights[k] = curve.extended_fraction(s0, s1)
    if outside:
        inputs.warnings.append("window runs outside the 09:15-15:30 session: the volume "
                               "curve's opening and closing rates are used there")
    if float(weights.sum()) <= 0:  # a custom curve with empty bins: fall back to time
        inputs.warnings.append("volume curve has no volume in the window: equal slices")
        return np.ones_like(weights)
    return weights


class Vwap(Algorithm):
    """Each slice weighs the market volume the curve expects in it."""

    algo = ExecutionAlgo.VWAP
    uses_volume_curve = True

    def weights(self, inputs: PlanInputs, bounds: Weights) -> Weights:
        return volume_curve_weights(inputs, bounds)
