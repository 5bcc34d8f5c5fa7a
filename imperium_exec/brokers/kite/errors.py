"""Kite Connect's failures in the engine's terms (:class:`KiteErrors`, Kite's dialect), and how
an error answer is read (:func:`read_error_answer`).

kiteconnect raises its own exceptions, the class picked from the JSON ``error_type`` and the
HTTP status in ``code``; requests' transport errors come through unwrapped. Where the client
cannot name an answer, :class:`~.broker.KiteBroker` reads the answer itself
(:func:`read_error_answer`) and raises the exception Kite meant (:mod:`..errors`):

- an ``error_type`` Kite documents that the client has no class for (``MarginException``,
  ``HoldingException``, ``UserException``: the client says ``GeneralException``) is raised as
  that type;
- Kite's envelope without an ``error_type`` (the client raises ``TypeError``) is a
  ``GeneralException`` with the answer's status, as the client itself intends;
- anything that is not Kite's JSON envelope (HTML, plain text, an empty body, other JSON, a
  missing content type; the client raises ``DataException(502)`` or ``KeyError``) is an
  :class:`~..errors.UnreadableAnswer` carrying the real HTTP status.

:class:`KiteErrors` then reads every exception by class *name*, ``code`` and, for Kite's own
readable refusals only, message text: it needs neither library, and it reads the paper
exchange's and the in-memory broker's exceptions (which use Kite's names and texts) the same
way. The rules, in order (the README's table lists them):

1. a connection never established: transient, not ambiguous;
2. an unreadable answer: 429 is throttle; any other status is transient and ambiguous (the
   request reached something, and a gateway's page says nothing about the order);
3. the day's order cap or the modification cap (by text): fatal;
4. HTTP 429 in any type, or "too many requests": throttle, not ambiguous;
5. ``TokenException``: fatal, and the session is lost (log in again);
6. ``MarginException``, ``HoldingException``: risk;
7. any other 5xx: transient (retried after the reconcile);
8. ``NetworkException``, ``DataException``: transient and ambiguous, whatever the status;
9. Kite's "Order request timed out... confirm before placing again": transient and ambiguous;
10. ``PermissionException``, ``UserException``: fatal (the key or the account, not the order);
11. ``InputException``, ``OrderException``, ``GeneralException``: risk when the text is an RMS
    refusal (funds, freeze, circuit, price band, lot size), else fatal;
12. requests' transport errors after sending: transient and ambiguous.

Every 5xx is ambiguous whatever its type (5, 6 and 7 included): the order may exist, so the
engine looks its tag up in the order book before anything else happens.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...events import ErrorBucket
from ..errors import KITE_ERROR_TYPES, ErrorClass, GeneralException, UnreadableAnswer

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
#: Kite's exception names (and the client's base class).
_KITE_NAMES = frozenset({*KITE_ERROR_TYPES, "KiteException"})
_RISK_TYPES = frozenset({"MarginException", "HoldingException"})
_REFUSED_TYPES = frozenset({"InputException", "OrderException", "GeneralException"})
#: How much of an unreadable body a message quotes.
_EXCERPT = 160


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class KiteErrors:
    """Kite's dialect (see the module docstring for the rules)."""

    def classify(self, exc: BaseException) -> ErrorClass | None:
        names = _type_names(exc)
        lower = _message(exc).lower()
        status = _status(exc)
        server_error = status is not None and status >= 500
        # The text says "never connected" only of a transport error: an answer (any status,
        # Kite-named or not) came from a server, which may have placed the order.
        answered = status is not None or "UnreadableAnswer" in names or bool(names & _KITE_NAMES)
        if names & set(_TRANSPORT_NEVER_SENT) or (
                not answered and any(t in lower for t in _NEVER_SENT_TEXT)):
            return ErrorClass(ErrorBucket.TRANSIENT, False, "connection not established")
        if "UnreadableAnswer" in names:
            if status == 429:
                return ErrorClass(ErrorBucket.THROTTLE, False, "rate limited")
            return ErrorClass(ErrorBucket.TRANSIENT, True,
                              f"unreadable answer (HTTP {status}); order may exist")
        if names & _KITE_NAMES:
            # The daily cap may come with HTTP 429 too: its text decides, before the code.
            if "maximum allowed order requests" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "daily order limit reached")
            if "maximum allowed order modifications" in lower:
                return ErrorClass(ErrorBucket.FATAL, False, "modification limit reached")
            if status == 429 or "too many requests" in lower:
                return ErrorClass(ErrorBucket.THROTTLE, False, "rate limited")
            if "TokenException" in names:
                return ErrorClass(ErrorBucket.FATAL, server_error, "session expired")
            if names & _RISK_TYPES:
                return ErrorClass(ErrorBucket.RISK, server_error, "risk check")
            if server_error:
                return ErrorClass(ErrorBucket.TRANSIENT, True,
                                  f"broker server error (HTTP {status}); order may exist")
            if names & {"NetworkException", "DataException"}:
                return ErrorClass(ErrorBucket.TRANSIENT, True, "broker network error")
            if any(t in lower for t in _AMBIGUOUS_TEXT):
                return ErrorClass(ErrorBucket.TRANSIENT, True,
                                  "broker timed out; order may exist")
            if "PermissionException" in names:
                return ErrorClass(ErrorBucket.FATAL, False, "permission refused")
            if "UserException" in names:
                return ErrorClass(ErrorBucket.FATAL, False, "refused for the account")
            if names & _REFUSED_TYPES:
                if any(t in lower for t in _RISK_TEXT):
                    return ErrorClass(ErrorBucket.RISK, False, "risk check")
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
        """Refused for the rate (HTTP 429 in any shape, "Too many requests"), not for the
        day's order cap ("Maximum allowed order ...")."""
        error = self.classify(exc)
        return error is not None and error.bucket is ErrorBucket.THROTTLE

    def is_session_expired(self, exc: BaseException) -> bool:
        """Kite's ``TokenException`` (not a 429: a throttled request says nothing of the
        session)."""
        return "TokenException" in _type_names(exc) and not self.is_throttle(exc)

    def cancel_refused_as_ended(self, exc: BaseException) -> bool:
        """"Order cannot be cancelled as it is complete." (not "being processed. Try later.")."""
        text = _message(exc).lower()
        return any(f"it is {state}" in text for state in ("complete", "cancelled", "rejected"))


#: The one instance every Kite-speaking broker declares.
KITE_ERRORS = KiteErrors()


def read_error_answer(raised: BaseException, status: int, content_type: str | None,
                      body: bytes) -> BaseException:
    """What a Kite answer the client failed on means: the exception to raise instead of
    ``raised`` (``raised`` itself when the client already named it right).

    ``status``, ``content_type`` and ``body`` are the answer's (``content_type`` None when it
    had none). Kite's JSON envelope with an ``error_type`` is that type (the client's own
    class when it has one, else ours: :data:`~..errors.KITE_ERROR_TYPES`; an undocumented
    type is a ``GeneralException`` naming it); the envelope without one is a
    ``GeneralException``; anything else is an :class:`~..errors.UnreadableAnswer`.
    """
    envelope = _error_envelope(content_type, body)
    if envelope is None:
        if 200 <= status < 300 and "json" in (content_type or ""):
            what = f"{type(raised).__name__}: {_message(raised)}"
        else:
            what = _excerpt(body, content_type) or "an empty body"
        return UnreadableAnswer(f"HTTP {status} {content_type or 'without a content type'}: "
                                f"{what}", status, content_type=content_type)
    message = envelope.get("message")
    text = message if isinstance(message, str) else ""
    error_type = envelope.get("error_type")
    if not isinstance(error_type, str) or not error_type:
        return GeneralException(text, status)
    if type(raised).__name__ == error_type and _status(raised) == status:
        return raised
    known = KITE_ERROR_TYPES.get(error_type)
    if known is None:
        return GeneralException(f"{error_type}: {text}" if text else error_type, status)
    return known(text, status)


def _error_envelope(content_type: str | None, body: bytes) -> dict[str, Any] | None:
    """Kite's error envelope (``{"status": "error", "message", "error_type"}``, read as the
    client reads it: ``status`` "error" or any ``error_type``), or None."""
    if "json" not in (content_type or ""):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and (data.get("status") == "error" or data.get("error_type")):
        return data
    return None


_HTML_HIDDEN = re.compile(r"<(style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def _excerpt(body: bytes, content_type: str | None) -> str:
    """The start of a body for a message, an HTML page's text only."""
    text = body.decode("utf-8", "replace")
    if "html" in (content_type or ""):
        text = _HTML_TAG.sub(" ", _HTML_HIDDEN.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT - 1] + "…"
