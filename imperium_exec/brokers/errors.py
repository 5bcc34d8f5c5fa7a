"""Broker exceptions, named after Kite Connect's so one classifier serves every broker.

The paper exchange and the in-memory broker raise these; the Kite adapter lets kiteconnect's own
exceptions (same class names, same ``code`` attribute) and requests' transport errors through.
:mod:`imperium_exec.retry` classifies all of them by class name, ``code`` and message text.
"""

from __future__ import annotations


class BrokerError(Exception):
    """An order request the broker refused or could not answer. ``code`` is the HTTP status."""

    default_code = 500

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = self.default_code if code is None else code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class GeneralException(BrokerError):
    """Kite's catch-all; margin (RMS) rejections arrive as this with code 400."""


class TokenException(BrokerError):
    default_code = 403


class PermissionException(BrokerError):
    default_code = 403


class OrderException(BrokerError):
    pass


class InputException(BrokerError):
    default_code = 400


class DataException(BrokerError):
    default_code = 502


class NetworkException(BrokerError):
    """Kite sends 429 "Too many requests" and OMS 5xx failures as this class."""

    default_code = 503


class BrokerTimeout(BrokerError):
    """The call timed out. ``sent`` says whether the request may have reached the broker.

    ``sent=True`` is the ghost-order case: the order may exist although no answer came back.
    """

    default_code = 504

    def __init__(self, message: str, *, sent: bool, code: int | None = None) -> None:
        super().__init__(message, code)
        self.sent = sent
