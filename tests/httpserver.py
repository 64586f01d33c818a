"""A programmable HTTP server on 127.0.0.1 for tests: each path answers with a handler.

Handlers get the request handler object and write whatever they like, byte by byte if
need be, which is how the error paths (5xx, 429, dripping bodies, resets, redirect
loops, gzip bombs) are exercised against a real socket instead of a mock.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Handler = Callable[[BaseHTTPRequestHandler], None]


def respond(
    req: BaseHTTPRequestHandler,
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    content_type: str = "text/html; charset=utf-8",
) -> None:
    req.send_response(status)
    hdrs = {"Content-Type": content_type, "Content-Length": str(len(body))}
    hdrs.update(headers or {})
    for k, v in hdrs.items():
        req.send_header(k, v)
    req.end_headers()
    if body and req.command != "HEAD":
        req.wfile.write(body)


def static(
    body: bytes | str,
    status: int = 200,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Handler:
    data = body.encode() if isinstance(body, str) else body

    def handle(req: BaseHTTPRequestHandler) -> None:
        respond(req, status, data, headers, content_type)

    return handle


@dataclass
class Hit:
    path: str
    query: str
    headers: dict[str, str]
    time: float = field(default_factory=time.monotonic)
    method: str = "GET"
    body: bytes = b""  # a POST's body


class _CountingServer(ThreadingHTTPServer):
    """Counts accepted TCP connections (so a test can prove none was made) and keeps
    the resets and garbage that hostile tests provoke out of the test output."""

    connections = 0
    tls_context: ssl.SSLContext | None = None

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = super().get_request()
        self.connections += 1
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass


@dataclass
class RouteServer:
    """Routes map a path (or ``"/prefix/*"``) to a handler. ``tls``: an SSL context to
    serve HTTPS with (the handshake happens on the first read)."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                body = b""
                if self.command == "POST":
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.hits.append(
                    Hit(
                        parts.path,
                        parts.query,
                        dict(self.headers.items()),
                        method=self.command,
                        body=body,
                    )
                )
                handler = server.routes.get(parts.path) or server.route_prefix(parts.path)
                if handler is None:
                    respond(self, 404, b"not found", content_type="text/plain")
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    handler(self)

            do_POST = do_GET  # the handler sees self.command; the hit keeps the body

        self._httpd = _CountingServer((self.host, 0), _Handler)
        self._httpd.tls_context = self.tls
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (requests or not)."""
        return self._httpd.connections

    def url(self, path: str) -> str:
        return self.base_url + path

    def route_prefix(self, path: str) -> Handler | None:
        """The handler of the longest ``"/prefix/*"`` route matching ``path``, if any."""
        matches = [k for k in self.routes if k.endswith("*") and path.startswith(k[:-1])]
        return self.routes[max(matches, key=len)] if matches else None

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def __enter__(self) -> RouteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
