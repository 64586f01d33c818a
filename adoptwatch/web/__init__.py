"""The explorer: a read-only web site over the event log (``adoptwatch web``).

:mod:`adoptwatch.web.app` holds the pages, the JSON endpoints under ``/api/`` (listed in
docs/explorer.md) and the security headers; the SQL is in :mod:`adoptwatch.storage.explorer`
(and the digest's, :mod:`adoptwatch.storage.digest`, for "This week"). :func:`serve`
runs it under uvicorn.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from adoptwatch.settings import Settings
from adoptwatch.web.app import ExplorerError, InvalidParameter, create_app

__all__ = ["ExplorerError", "InvalidParameter", "create_app", "listening_socket", "serve"]


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (0: a free port), or an error that says what to do."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ExplorerError(f"cannot listen on {host!r}: {exc.strerror}; pass --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ExplorerError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass --port with a free "
            "port (0 picks one)"
        ) from None
    sock.listen(128)
    return sock


def serve(settings: Settings, ready: Callable[[str], None] | None = None) -> None:
    """Serve the explorer on ``settings.web_host:web_port`` until Ctrl-C or SIGTERM;
    ``ready`` gets the site's URL once it listens."""
    import uvicorn

    from adoptwatch.storage.db import read_session

    # A log that cannot be read is one line now, not an error page on every request.
    with read_session(settings.db, settings.db_lock_timeout):
        pass
    sock = listening_socket(settings.web_host, settings.web_port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app = create_app(settings, host=settings.web_host)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if ready is not None:
        ready(f"http://{shown}:{port}/")
    with sock:
        server.run(sockets=[sock])
