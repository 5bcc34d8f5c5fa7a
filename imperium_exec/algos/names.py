"""The algorithms' names, and what a request needs to know of each before any is loaded.

The five built-in algorithms are :class:`ExecutionAlgo` members; an algorithm registered from
outside the package (:func:`~.registry.register_algorithm`) is named by its plain upper-case
string. This module imports nothing, so :mod:`imperium_exec.request` can validate a name
without loading the algorithms (which themselves read requests).
"""

from __future__ import annotations

from enum import StrEnum
from importlib import import_module


class ExecutionAlgo(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    IS = "IS"
    TWAP = "TWAP"
    VWAP = "VWAP"
    POV = "POV"


#: What a request holds in ``execution_algo``: a built-in member, or a registered name.
AlgoName = ExecutionAlgo | str

#: Every registered name and whether that algorithm runs a schedule over a window (its
#: ``Algorithm.scheduled``); filled by the registry as algorithms register.
_SCHEDULED: dict[str, bool] = {}


def note_algorithm(name: str, *, scheduled: bool) -> None:
    """Record a registered algorithm's name (the registry calls this)."""
    _SCHEDULED[name] = scheduled


def forget_algorithm(name: str) -> None:
    """Forget a registered name (the registry calls this)."""
    _SCHEDULED.pop(name, None)


def _registered() -> dict[str, bool]:
    """The registered names, the built-ins registered on first use (the registry imports the
    algorithms, which read requests: it cannot be imported while ``request`` loads). Asked of
    the import system every time (a dictionary lookup once loaded): a thread that asks while
    another is still importing the registry waits for it, never sees half the built-ins."""
    import_module(f"{__package__}.registry")
    return _SCHEDULED


def algorithm_name(value: str) -> AlgoName:
    """``value`` as a request holds it: the member for a built-in name, the name itself for a
    registered one. Raises ValueError listing the known names otherwise."""
    name = value.strip().upper()
    known = _registered()
    if name in ExecutionAlgo.__members__:
        return ExecutionAlgo(name)
    if name in known:
        return name
    raise ValueError(f"not an execution algorithm (known: {', '.join(known)})")


def runs_a_schedule(name: AlgoName) -> bool:
    """Whether the algorithm ``name`` spreads its children over a window (its
    ``Algorithm.scheduled``). Raises ValueError for a name not registered."""
    known = _registered()
    if name not in known:
        raise ValueError(f"{name!r}: not an execution algorithm (known: {', '.join(known)})")
    return known[name]
