"""Kite Connect's failures in the engine's terms (:class:`KiteErrors`, Kite's dialect).

kiteconnect raises its own exceptions (``NetworkException`` for 429 and OMS 5xx,
``DataException`` for an unreadable reply, ``TokenException``, ``InputException``,
``GeneralException``, ``OrderException``, ...) with the HTTP status in ``code``; Kite's RMS
refusals (margin, freeze, circuit, price band) arrive as ``InputException`` or
``GeneralException`` and are told apart only by their text; requests' transport errors come
through unwrapped. This reads all of them by class *name*, ``code`` and message text, so it
needs neither library, and it reads the paper exchange's and the in-memory broker's
exceptions (:mod:`..errors`, which use Kite's names and texts) the same way.
"""

from __future__ import annotations

from ...events import ErrorBucket
from ..errors import ErrorClass

_RISK_TEXT = (
    "insufficient funds", "margin", "rms", "holding", "freeze", "maximum quantity",
    "circuit", "price band", "lpp", "price range", "lot size", "multiple of lot",
)
#: Kite's "Order request timed out. Please check the order book and confirm before placing
#: again." Not "check the orderbook" alone: margin rejections end "Check the orderbook for open
#: orders." and are risk, not ambiguity.
_AMBIGUOUS_TEXT = ("timed out", "confirm before placing")
_TRANSPORT_NEVER_SENT = ("ConnectTimeout", "NewConnectionError")
#: requests wraps a refused connection in a plain ConnectionError; only its text says the
#: request never left this machine.
_NEVER_SENT_TEXT = ("newconnectionerror", "failed to establish a new connection",
                    "connection refused")
_TRANSPORT_MAYBE_SENT = ("ReadTimeout", "Timeout", "ConnectionError", "ChunkedEncodingError",
                         "RemoteDisconnected", "ProtocolError")


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


class KiteErrors:
    """Kite's dialect (see the module docstring)."""

    def classify(self, exc: BaseException) -> ErrorClass | None:
        names = _type_names(exc)
        lower = _message(exc).lower()
        code = getattr(exc, "code", None)
        if names & set(_TRANSPORT_NEVER_SENT) or any(t in lower for t in _NEVER_SENT_TEXT):
            return ErrorClass(ErrorBucket.TRANSIENT, False, "connection not established")
        if "NetworkException" in names:
            # The daily cap may come with HTTP 429 too: its text decides, before the code.
            if "maximum allowed order requests" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "daily order limit reached")
            if "maximum allowed order modifications" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "modification limit reached")
            if code == 429 or "too many requests" in lower:
                return ErrorClass(ErrorBucket.THROTTLE, False, "rate limited")
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker network error")
        if "DataException" in names:
            return ErrorClass(ErrorBucket.TRANSIENT, True, "unreadable broker response")
        if any(t in lower for t in _AMBIGUOUS_TEXT):
            return ErrorClass(ErrorBucket.TRANSIENT, True, "broker timed out; order may exist")
        if names & {"TokenException", "PermissionException"}:
            return ErrorClass(ErrorBucket.FATAL, False, "session or permission")
        if names & {"InputException", "GeneralException", "OrderException"}:
            if any(t in lower for t in _RISK_TEXT):
                return ErrorClass(ErrorBucket.RISK, False, "risk check")
            if "GeneralException" in names and isinstance(code, int) and code >= 500:
                return ErrorClass(ErrorBucket.TRANSIENT, True, "broker server error")
            return ErrorClass(ErrorBucket.FATAL, False, "order refused")
        if names & set(_TRANSPORT_MAYBE_SENT):
            return ErrorClass(ErrorBucket.TRANSIENT, True, "transport error; order may exist")
        return None

    def classify_rejection(self, status_message: str | None) -> ErrorClass:
        lower = (status_message or "").lower()
        if any(t in lower for t in _RISK_TEXT):
            return ErrorClass(ErrorBucket.RISK, False, "rejected by risk check")
        return ErrorClass(ErrorBucket.FATAL, False, "rejected")

    def is_throttle(self, exc: BaseException) -> bool:
        """HTTP 429 for the rate, not the day's order cap ("Maximum allowed order ...")."""
        lower = _message(exc).lower()
        if "maximum allowed order" in lower:
            return False
        return ("NetworkException" in _type_names(exc) and getattr(exc, "code", None) == 429) \
            or "too many requests" in lower

    def is_session_expired(self, exc: BaseException) -> bool:
        """Kite's ``TokenException``."""
        return "TokenException" in _type_names(exc)

    def cancel_refused_as_ended(self, exc: BaseException) -> bool:
        """"Order cannot be cancelled as it is complete." (not "being processed. Try later.")."""
        text = _message(exc).lower()
        return any(f"it is {state}" in text for state in ("complete", "cancelled", "rejected"))


#: The one instance every Kite-speaking broker declares.
KITE_ERRORS = KiteErrors()
