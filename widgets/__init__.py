"""Qt widgets shipped as ``imperium_exec.widgets``: the execution dock and the desk demo.

``ExecutionDock(tracker_or_path, stack=None)`` is the public entry point; the table models, the
row store, the order book and the stats are importable for hosts that want their own views of
the telemetry.

File names pair: ``<part>_model.py`` holds a part's state and imports no Qt (testable without a
view), ``<part>_view.py`` shows it in Qt. The parts: ``events`` (every child event: the
blotter), ``orders`` (one row per child order), ``parents`` (working parents and baskets),
``tca`` (the TCA tab), and ``table``, what the Events and Orders tables share (one column
description, one numpy-backed Qt model base). ``dock`` puts them together; ``feed`` brings the
rows; ``stats`` (Qt-free) feeds ``tiles`` and ``charts``; ``desk/`` is the desk demo.
"""

from .dock import ExecutionDock
from .events_model import COLUMNS, ChildEventStore
from .events_view import ChildEventTableModel
from .orders_model import OrderBook
from .orders_view import ChildOrderTableModel
from .stats import ExecutionStats, TileFigures
from .table_model import RowFilter
from .table_view import RAW_ROLE, ROW_ROLE

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
