"""What a broker declares it offers is checked when the engine is built: a broker that declares
nothing, tags too short for the engine's, or a service that cannot be called is refused at
once, naming what is wrong, before anything can be sent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from imperium_exec.brokers.base import BrokerCapabilities, TagFormat
from imperium_exec.brokers.kite.errors import KITE_ERRORS
from imperium_exec.brokers.memory import InMemoryBroker
from imperium_exec.clock import VirtualClock
from imperium_exec.engine.execution_engine import ExecutionEngine


class Undeclared(InMemoryBroker):
    """A broker written before capabilities existed."""

    def __init__(self) -> None:
        super().__init__(clock=VirtualClock())
        del self.capabilities


def test_a_broker_that_declares_nothing_is_refused_naming_what_to_declare() -> None:
    with pytest.raises(TypeError, match="Undeclared declares no capabilities"):
        ExecutionEngine(Undeclared())


def test_a_broker_whose_tags_cannot_carry_the_engines_is_refused() -> None:
    broker = InMemoryBroker(clock=VirtualClock())
    broker.capabilities = replace(broker.capabilities, tags=TagFormat(length=12))
    with pytest.raises(ValueError, match="cannot carry the engine's tags"):
        ExecutionEngine(broker)
    broker.capabilities = replace(broker.capabilities, tags=TagFormat(alphabet="0-9"))
    with pytest.raises(ValueError, match="15 letters and digits"):
        ExecutionEngine(broker)


def test_a_service_that_cannot_be_called_or_contradicts_another_is_refused() -> None:
    with pytest.raises(TypeError, match=r"capabilities\.basket_margin"):
        BrokerCapabilities(errors=KITE_ERRORS, basket_margin=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="local_market_data"):
        BrokerCapabilities(errors=KITE_ERRORS, local_market_data=True,
                           open_stream=lambda handlers, gateway: None)


def test_kites_twenty_alphanumerics_take_the_engines_tags() -> None:
    tags = TagFormat()
    assert tags.accepts("ABCDE1234500101") and not tags.accepts("A" * 21)
    assert not tags.accepts("ABC-123")


def test_a_positions_service_that_cannot_be_called_is_refused_and_none_is_allowed() -> None:
    with pytest.raises(TypeError, match=r"capabilities\.positions"):
        BrokerCapabilities(errors=KITE_ERRORS, positions=[])  # type: ignore[arg-type]
    assert BrokerCapabilities(errors=KITE_ERRORS).positions is None
    assert InMemoryBroker(clock=VirtualClock()).capabilities.positions is None


def test_modify_is_declared_as_a_callable_with_its_per_order_allowance() -> None:
    with pytest.raises(TypeError, match=r"capabilities\.modify_order"):
        BrokerCapabilities(errors=KITE_ERRORS, modify_order="PUT")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_modifications"):
        BrokerCapabilities(errors=KITE_ERRORS, max_modifications=0)
    plain = InMemoryBroker(clock=VirtualClock())
    assert (plain.capabilities.modify_order, plain.capabilities.max_modifications) == (None, None)
    offers = InMemoryBroker(clock=VirtualClock(), modify=True).capabilities
    assert callable(offers.modify_order) and offers.max_modifications == 25
