"""What a broker's failures mean to the engine, and the exceptions of the simulated brokers.

- :class:`ErrorClass`: a failure in the broker-neutral terms the :class:`~..retry.RetryPolicy`
  acts on: its bucket (transient, throttle, risk, fatal), whether the order may exist at the
  broker (ambiguous: reconcile by tag before sending again) and a short reason.
- :class:`BrokerErrors`: how one broker's failures are read (its dialect). Each broker declares
  its own in its capabilities; Kite's is :class:`~.kite.errors.KiteErrors`.
- The exceptions below are raised by the paper exchange and the in-memory broker. Both play a
  Kite account (the desk trades through Kite), so they are named after Kite Connect's and
  carry Kite's ``code`` and texts: Kite's dialect reads them as it reads kiteconnect's own.
  :class:`BrokerTimeout` is broker-neutral: any adapter may raise it for a call that timed
  out, saying whether the request may have been sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..events import ErrorBucket


@dataclass(frozen=True, slots=True)
class ErrorClass:
    bucket: ErrorBucket
    ambiguous: bool  # the order may exist at the broker: reconcile by tag before retrying
    reason: str  # short, for telemetry and the trader


class BrokerErrors(Protocol):
    """One broker's dialect: how its exceptions and rejection texts map to the engine's terms.

    ``classify`` returns None for an exception it does not know (the retry policy then applies
    the transport rules every broker shares)."""

    def classify(self, exc: BaseException) -> ErrorClass | None: ...

    def classify_rejection(self, status_message: str | None) -> ErrorClass:
        """An order the broker accepted and then rejected, by its status message."""
        ...

    def is_throttle(self, exc: BaseException) -> bool:
        """The broker refused the request for its rate (retry after a pause), not for a
        limit of the day."""
        ...

    def is_session_expired(self, exc: BaseException) -> bool:
        """The session is gone: every request fails until the trader logs in again."""
        ...

    def cancel_refused_as_ended(self, exc: BaseException) -> bool:
        """A cancel was refused because the order already ended (not "try later")."""
        ...


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
