"""The paper exchange: a seeded, lazily simulated NSE/BSE index-options market.

Modules, each with one job: :mod:`.config` (every knob), :mod:`.chain` (instruments,
tradingsymbols, Kite CSV), :mod:`.pricing` (Black-76), :mod:`.session` (market time),
:mod:`.paths` (seeded index walk and option series), :mod:`.market` (live books, impact,
quotes), :mod:`.matching` (fills, queue, IOC/DAY, cancels), :mod:`.rules` (validation, throttle,
margin), :mod:`.faults` (latency and failures), :mod:`.exchange` (ties them together).
The broker front is :class:`imperium_exec.brokers.paper.broker.PaperBroker`.
"""

from .config import (
    AccountConfig,
    AdverseSelectionConfig,
    FaultConfig,
    FaultKind,
    ImpactConfig,
    LatencyConfig,
    MarketConfig,
    PaperConfig,
    RulesConfig,
    SessionConfig,
    UnderlyingMarket,
)

__all__ = [
    "AccountConfig",
    "AdverseSelectionConfig",
    "FaultConfig",
    "FaultKind",
    "ImpactConfig",
    "LatencyConfig",
    "MarketConfig",
    "PaperConfig",
    "RulesConfig",
    "SessionConfig",
    "UnderlyingMarket",
]
