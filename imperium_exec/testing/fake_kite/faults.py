"""Scripted faults: :class:`Fault`, what happens to the next request on a route.

Queue them with :meth:`FakeKiteServer.fail_next`; the server pops one per request on that route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus

from .errors import (
    BAD_SESSION,
    OMS_DOWN,
    ORDER_TIMED_OUT,
    TOO_MANY_REQUESTS,
    margin_message,
    margin_raw,
)


class BodyShape(StrEnum):
    """The shapes an error answer comes in (:meth:`Fault.answer`)."""

    JSON = "json"  # Kite's envelope: {"status": "error", "message", "error_type", "data": null}
    JSON_UNTYPED = "json_untyped"  # Kite's envelope without its error_type
    JSON_GATEWAY = "json_gateway"  # JSON that is not Kite's envelope: {"message": ...}
    TEXT = "text"  # text/plain
    HTML = "html"  # a gateway's HTML page
    EMPTY = "empty"  # no body and no Content-Type
    EMPTY_JSON = "empty_json"  # no body, Content-Type: application/json


#: A gateway's error page (nginx-like; its stylesheet says "margin", which is no RMS refusal).
_GATEWAY_PAGE = ("<html>\r\n<head><title>{status} {phrase}</title>\r\n"
                 "<style>body {{ margin: 0 auto; width: 35em; }}</style></head>\r\n"
                 "<body>\r\n<center><h1>{status} {phrase}</h1></center>\r\n"
                 "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to the next request on a route, instead of or on top of normal handling.

    ``status`` other than 200 replaces the reply with a Kite JSON error (``error_type``,
    ``message``), with ``html`` a gateway HTML page, or with ``body`` exactly that body under
    ``content_type`` (None: no Content-Type header at all; :meth:`answer` builds every shape).
    ``record`` still carries the request out (the order is placed, the cancel applied) before
    the reply is replaced or delayed.
    ``delay_s`` holds the reply back: longer than the client timeout, the client raises
    ``ReadTimeout``. For orders: ``appear_after_s`` hides the recorded order from the book for
    that long, ``pending_status`` / ``pending_s`` hold it in a transient state before it reaches
    the exchange, and ``reject_with`` (message, raw) makes it end REJECTED.
    """

    status: int = 200
    error_type: str | None = None
    message: str = ""
    html: bool = False
    record: bool = False
    delay_s: float = 0.0
    appear_after_s: float = 0.0
    pending_status: str | None = None
    pending_s: float = 0.0
    reject_with: tuple[str, str] | None = None
    body: bytes | None = None
    content_type: str | None = "application/json"

    @property
    def replaces_reply(self) -> bool:
        """The reply is the fault's (an error status, or a body of its own), not the route's."""
        return self.status != 200 or self.body is not None

    @classmethod
    def ghost(cls, delay_s: float = 2.0) -> Fault:
        """The order is placed at once, but the reply comes ``delay_s`` later (ReadTimeout)."""
        return cls(record=True, delay_s=delay_s)

    @classmethod
    def order_timed_out(cls, appear_after_s: float = 8.0, *,
                        error_type: str = "InputException") -> Fault:
        """Kite's 400 "Order request timed out..."; the order shows up ``appear_after_s`` later.

        The error_type of the real reply is not documented; the text is what matters.
        """
        return cls(status=400, error_type=error_type, message=ORDER_TIMED_OUT, record=True,
                   appear_after_s=appear_after_s)

    @classmethod
    def error(cls, status: int, error_type: str, message: str, *,
              record: bool = False) -> Fault:
        """Any Kite JSON error (nothing is recorded unless ``record``)."""
        return cls(status=status, error_type=error_type, message=message, record=record)

    @classmethod
    def answer(cls, status: int, shape: BodyShape | str, *, error_type: str | None = None,
               message: str = "", record: bool = False, delay_s: float = 0.0) -> Fault:
        """HTTP ``status`` with a body of ``shape``: Kite's JSON envelope (``error_type`` and
        ``message``; without ``error_type`` for ``json_untyped``), another JSON, plain text
        (``message``), a gateway's HTML page, or nothing (with or without a JSON content type).
        ``record``: the request is carried out first (the order exists at the exchange)."""
        shape = BodyShape(shape)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        text = message or f"{status} {phrase}".strip()
        body: bytes
        content_type: str | None = "application/json"
        if shape is BodyShape.JSON:
            body = json.dumps({"status": "error", "message": message,
                               "error_type": error_type or "GeneralException",
                               "data": None}).encode()
        elif shape is BodyShape.JSON_UNTYPED:
            body = json.dumps({"status": "error", "message": message, "data": None}).encode()
        elif shape is BodyShape.JSON_GATEWAY:
            body = json.dumps({"message": text}).encode()
        elif shape is BodyShape.TEXT:
            body, content_type = text.encode(), "text/plain; charset=utf-8"
        elif shape is BodyShape.HTML:
            body = _GATEWAY_PAGE.format(status=status, phrase=phrase).encode()
            content_type = "text/html"
        elif shape is BodyShape.EMPTY:
            body, content_type = b"", None
        else:
            body = b""
        return cls(status=status, error_type=error_type, message=message, record=record,
                   delay_s=delay_s, body=body, content_type=content_type)

    @classmethod
    def throttled(cls) -> Fault:
        return cls.error(429, "NetworkException", TOO_MANY_REQUESTS)

    @classmethod
    def oms_down(cls, status: int = 503) -> Fault:
        return cls.error(status, "NetworkException", OMS_DOWN)

    @classmethod
    def session_expired(cls) -> Fault:
        return cls.error(403, "TokenException", BAD_SESSION)

    @classmethod
    def gateway_html(cls, status: int = 502, *, record: bool = False) -> Fault:
        """An HTML gateway page (the client raises DataException 502 whatever the status)."""
        return cls(status=status, html=True, record=record,
                   message=f"<html><body><h1>{status} Bad Gateway</h1></body></html>")

    @classmethod
    def margin_shortfall(cls, required: float = 95417.84, available: float = 74251.80) -> Fault:
        """Synchronous MarginException (the client has no such class: GeneralException 400)."""
        return cls.error(400, "MarginException", margin_message(required, available))

    @classmethod
    def rejected(cls, message: str | None = None, raw: str | None = None, *,
                 after_s: float = 0.0) -> Fault:
        """Accepted (order id returned), then REJECTED asynchronously; RMS margin text default."""
        if message is None:
            message = margin_message(95417.84, 74251.80)
            raw = raw or margin_raw(95417.84, 74251.80)
        return cls(reject_with=(message, raw or message), pending_status="VALIDATION PENDING",
                   pending_s=after_s)

    @classmethod
    def stuck(cls, status: str = "OPEN PENDING", for_s: float = 5.0) -> Fault:
        """Accepted, but held in a transient state for ``for_s`` before reaching the exchange."""
        return cls(pending_status=status, pending_s=for_s)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Carried out normally, answered ``delay_s`` late."""
        return cls(record=True, delay_s=delay_s)
