"""HTTP plumbing: the threaded server on 127.0.0.1, its request handler, and Kite's reply
envelope (``{"status": "success", "data": ...}`` / ``{"status": "error", "message",
"error_type", "data": null}``, JSON unless a route says otherwise).

The handler parses the request (query, form or JSON body) and hands it to ``answer`` (the
fake's :meth:`FakeKiteServer.handle`); a reply that a fault delays sleeps here, outside the
server's lock, and is dropped when the server stops.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault

#: The only address the fake ever binds.
HOST = "127.0.0.1"


@dataclass
class Reply:
    """One HTTP reply; ``delay_s`` holds it back (a fault). ``content_type`` None sends no
    Content-Type header."""

    status: int
    body: bytes
    content_type: str | None = "application/json"
    delay_s: float = 0.0


#: Answers one request: (method, path, query, form, Authorization header, JSON body) -> reply.
Answer = Callable[[str, str, dict[str, list[str]], dict[str, str], str | None, Any], Reply]


def ok(data: Any) -> Reply:
    """Kite's success envelope around ``data``."""
    return Reply(200, json.dumps({"status": "success", "data": data}).encode())


def error(status: int, error_type: str, message: str) -> Reply:
    """Kite's error envelope."""
    body = {"status": "error", "message": message, "error_type": error_type, "data": None}
    return Reply(status, json.dumps(body).encode())


def fault_reply(fault: Fault) -> Reply:
    """What a fault answers instead: its own body, a gateway's HTML page or a Kite JSON
    error."""
    if fault.body is not None:
        return Reply(fault.status, fault.body, fault.content_type)
    if fault.html:
        return Reply(fault.status, fault.message.encode(), "text/html")
    return error(fault.status, fault.error_type or "GeneralException", fault.message)


class HTTPServer(ThreadingHTTPServer):
    """The threaded server; it remembers its connections so :meth:`close_connections` can drop
    kept-alive ones."""

    daemon_threads = True

    def __init__(self, answer: Answer, stopping: threading.Event) -> None:
        self.answer = answer
        self.stopping = stopping
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((HOST, 0), Handler)

    def close_connections(self) -> None:
        """Drop kept-alive client connections, so a stopped server is really gone."""
        with self.connections_lock:
            open_ = list(self.connections)
        for conn in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); a fake needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])


class Handler(BaseHTTPRequestHandler):
    """One connection's requests (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"
    # One buffered write per reply and no Nagle: otherwise header and body go out as two
    # segments and delayed ACKs add ~40 ms to every request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        form: dict[str, str] = {}
        body: Any = None
        if raw and "json" in (self.headers.get("Content-Type") or ""):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None  # answered as an invalid request by the route
        elif raw:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            form = {key: values[-1] for key, values in parsed.items()}
        query = parse_qs(split.query, keep_blank_values=True)
        reply = self.server.answer(method, split.path, query, form,
                                   self.headers.get("Authorization"), body)
        if reply.delay_s > 0 and self.server.stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            if reply.content_type is not None:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) and closed the connection
            self.close_connection = True
            self.wfile = io.BytesIO()  # drop what could not be sent; nothing left to flush

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on :attr:`FakeKiteServer.requests` instead."""

