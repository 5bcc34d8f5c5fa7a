"""imperium-exec: the execution stack an index-options desk embeds.

The core (requests, planning, routing, retries, telemetry, engine, brokers) is pure Python and
imports no Qt. ``ExecutionStack`` (the QObject facade) is imported lazily, so headless users of
the core (CLI, tests, benchmarks, notebooks) never load Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .algos.names import ExecutionAlgo
from .request import ExecutionRequest, OrderType, Side, Urgency

if TYPE_CHECKING:
    from .stack import ExecutionHandle, ExecutionStack
    from .telemetry import FillQualityTracker

__all__ = [
    "ExecutionAlgo",
    "ExecutionHandle",
    "ExecutionRequest",
    "ExecutionStack",
    "FillQualityTracker",
    "OrderType",
    "Side",
    "Urgency",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("ExecutionStack", "ExecutionHandle"):
        from . import stack

        return getattr(stack, name)
    if name == "FillQualityTracker":
        from .telemetry import FillQualityTracker

        return FillQualityTracker
    raise AttributeError(f"module 'imperium_exec' has no attribute {name!r}")
