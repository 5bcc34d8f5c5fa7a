"""The paper exchange as a broker: :class:`PaperBroker` drives the simulator in ``sim/``."""

from .broker import PaperBroker

__all__ = ["PaperBroker"]
