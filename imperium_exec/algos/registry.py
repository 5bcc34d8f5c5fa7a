"""Which algorithm a request's ``execution_algo`` names: the five built-ins, and any registered
from outside the package with :func:`register_algorithm`.

An algorithm is one subclass of :class:`~.base.Algorithm` with its own ``algo`` name; the
planner asks it for its slices, the engine asks it for each slice's size and, while the parent
works, what to send next (:meth:`~.base.Algorithm.react`). Registering it is the only step
outside its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import Algorithm
from .immediate import Immediate
from .implementation_shortfall import ImplementationShortfall
from .names import AlgoName, ExecutionAlgo, forget_algorithm, note_algorithm
from .pov import Pov
from .twap import Twap
from .vwap import Vwap

_ALGORITHMS: dict[str, Algorithm] = {}
#: Every registered algorithm by name, read-only.
ALGORITHMS: Mapping[str, Algorithm] = MappingProxyType(_ALGORITHMS)


def register_algorithm(algorithm: Algorithm) -> None:
    """Make ``algorithm`` the one a request's ``execution_algo`` (its ``algo``, upper case)
    names. Registering a name again replaces the algorithm."""
    name = str(algorithm.algo)
    if not name or name != name.strip().upper():
        raise ValueError(f"algo: {name!r} must be a non-empty upper-case name")
    _ALGORITHMS[name] = algorithm
    note_algorithm(name, scheduled=algorithm.scheduled)


def unregister_algorithm(name: str) -> None:
    """Remove an algorithm registered from outside (a built-in stays)."""
    if name in ExecutionAlgo.__members__:
        raise ValueError(f"algo: {name} is built in and cannot be removed")
    _ALGORITHMS.pop(name, None)
    forget_algorithm(name)


def algorithm_for(algo: AlgoName) -> Algorithm:
    """The algorithm ``algo`` names."""
    try:
        return _ALGORITHMS[str(algo)]
    except KeyError:
        raise ValueError(f"execution_algo: no algorithm is registered as {algo!r}") from None


for _builtin in (Immediate(), ImplementationShortfall(), Twap(), Vwap(), Pov()):  # enum order
    register_algorithm(_builtin)
