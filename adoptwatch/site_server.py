"""A static fixture site on loopback: the demo's "internet", and the tests' and benchmarks'.

Serves a folder over HTTP on 127.0.0.1 (an ephemeral port by default), replacing
``{{BASE}}`` in text files with the server's own base URL, with ETag and Last-Modified
validators and 304 answers to conditional requests, like a well-behaved news site.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

TEMPLATED_SUFFIXES = {".xml", ".atom", ".rss", ".html", ".htm", ".txt", ".toml", ".json"}
CONTENT_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
# A fixed modification time keeps validators stable across server restarts.
SITE_MTIME = 1_793_491_200  # 2026-11-01T00:00:00Z


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    time: float


class SiteServer:
    """``with SiteServer(folder) as site: site.base_url ...``

    ``latency`` delays every response (seconds), to model a remote site.
    """

    def __init__(
        self,
        root: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.latency = latency
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def start(self) -> SiteServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def render(self, relative: str) -> bytes | None:
        """The bytes served for a path (with ``{{BASE}}`` replaced), or None if absent."""
        target = (self.root / relative.lstrip("/")).resolve()
        if self.root not in target.parents and target != self.root:
            return None
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return None
        data = target.read_bytes()
        if target.suffix in TEMPLATED_SUFFIXES:
            data = data.replace(b"{{BASE}}", self.base_url.encode())
        return data

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if server.latency:
                    time.sleep(server.latency)
                path = unquote(urlsplit(self.path).path)
                body = server.render(path)
                if body is None:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8", path)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                last_modified = formatdate(SITE_MTIME, usegmt=True)
                if self._not_modified(etag):
                    self._send(304, b"", None, path, etag, last_modified)
                    return
                suffix = Path(path).suffix or ".html"
                ctype = CONTENT_TYPES.get(suffix) or (
                    mimetypes.guess_type(path)[0] or "application/octet-stream"
                )
                self._send(200, body, ctype, path, etag, last_modified)

            def _not_modified(self, etag: str) -> bool:
                inm = self.headers.get("If-None-Match")
                if inm is not None:
                    return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
                ims = self.headers.get("If-Modified-Since")
                if ims:
                    try:
                        return parsedate_to_datetime(ims).timestamp() >= SITE_MTIME
                    except (TypeError, ValueError):
                        return False
                return False

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str | None,
                path: str,
                etag: str | None = None,
                last_modified: str | None = None,
            ) -> None:
                with server._lock:
                    server.requests.append(
                        RequestRecord("GET", path, dict(self.headers.items()), status, time.time())
                    )
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                if etag:
                    self.send_header("ETag", etag)
                if last_modified:
                    self.send_header("Last-Modified", last_modified)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        return Handler
