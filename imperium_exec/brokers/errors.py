"""What a broker's failures mean to the engine, and the exceptions of the simulated brokers.

- :class:`ErrorClass`: a failure in the broker-neutral terms the :class:`~..retry.RetryPolicy`
  acts on: its bucket (transient, throttle, risk, fatal), whether the order may exist at the
  broker (ambiguous: reconcile by tag before sending again) and a short reason.
- :class:`BrokerErrors`: how one broker's failures are read (its dialect). Each broker declares
  its own in its capabilities; Kite's is :class:`~.kite.errors.KiteErrors`.
- The exceptions below are raised by the paper exchange and the in-memory broker. Both play a
  Kite account (the desk trades through Kite), so they are named after Kite Connect's and
  carry Kite's ``code`` and texts: Kite's dialect reads them as it reads kiteconnect's own.
  The Kite adapter raises them too, for what kiteconnect cannot name: the ``error_type`` Kite
  documents and the client has no class for (``MarginException``, ``HoldingException``,
  ``UserException``), a Kite error without an ``error_type``, and an answer that is not Kite's
  JSON at all (:class:`UnreadableAnswer`).
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


class MarginException(BrokerError):
    """Kite's ``MarginException``: insufficient funds for the order (kiteconnect has no class
    for it and raises ``GeneralException``)."""

    default_code = 400


class HoldingException(BrokerError):
    """Kite's ``HoldingException``: insufficient holdings to sell (no class in kiteconnect)."""

    default_code = 400


class UserException(BrokerError):
    """Kite's ``UserException``: the user's account refuses (no class in kiteconnect)."""

    default_code = 400


class UnreadableAnswer(BrokerError):
    """An answer that is not Kite's JSON envelope (a gateway's HTML page, plain text, an empty
    body, JSON of another shape, a success the client could not read): only its HTTP status
    (``code``) says anything. ``content_type`` is the answer's, None when it had none."""

    default_code = 502

    def __init__(self, message: str, code: int | None = None, *,
                 content_type: str | None = None) -> None:
        super().__init__(message, code)
        self.content_type = content_type


#: Kite's documented ``error_type`` names -> the class raised for them here.
KITE_ERROR_TYPES: dict[str, type[BrokerError]] = {
    cls.__name__: cls for cls in (
        TokenException, UserException, OrderException, InputException, MarginException,
        HoldingException, NetworkException, DataException, GeneralException,
        PermissionException)
}


class BrokerTimeout(BrokerError):
    """The call timed out. ``sent`` says whether the request may have reached the broker.

    ``sent=True`` is the ghost-order case: the order may exist although no answer came back.
    """

    default_code = 504

    def __init__(self, message: str, *, sent: bool, code: int | None = None) -> None:
        super().__init__(message, code)
        self.sent = sent
