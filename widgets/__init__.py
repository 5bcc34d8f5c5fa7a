"""Qt widgets shipped as ``imperium_exec.widgets``: the execution dock and the desk demo.

``ExecutionDock(tracker_or_path, stack=None)`` is the public entry point; the table models, the
row store, the order book and the stats are importable for hosts that want their own views of
the telemetry.
"""

from .dock import ExecutionDock
from .events_model import COLUMNS, ChildEventStore, RowFilter
from .events_view import RAW_ROLE, ROW_ROLE, ChildEventTableModel
from .orders_model import OrderBook
from .orders_view import ChildOrderTableModel
from .stats import ExecutionStats, TileFigures

__all__ = [
    "COLUMNS",
    "RAW_ROLE",
    "ROW_ROLE",
    "ChildEventStore",
    "ChildEventTableModel",
    "ChildOrderTableModel",
    "ExecutionDock",
    "ExecutionStats",
    "OrderBook",
    "RowFilter",
    "TileFigures",
]
