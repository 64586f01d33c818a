"""The fetcher's errors: every one has ``.url`` and ``.error_class``, the string stored
in fetch_log. Their place in the tree is drawn in :mod:`adoptwatch.errors`."""

from __future__ import annotations

from adoptwatch.errors import AdoptwatchError


class FetchError(AdoptwatchError):
    """One request failed; ``error_class`` names how, for fetch_log."""

    error_class = "fetch_error"

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class BlockedURL(FetchError):
    error_class = "blocked"


class RobotsDisallowed(FetchError):
    error_class = "robots_disallowed"


class TooManyRedirects(FetchError):
    error_class = "too_many_redirects"


class ResponseTooLarge(FetchError):
    error_class = "too_large"


class BadEncoding(FetchError):
    error_class = "bad_encoding"


class TLSFailure(FetchError):
    error_class = "tls"


class HTTPStatusError(FetchError):
    error_class = "http_status"

    def __init__(
        self, message: str, url: str, status: int, retry_after: float | None = None
    ) -> None:
        super().__init__(message, url, status)
        self.retry_after = retry_after


class TransientError(FetchError):
    error_class = "transient"


class FetchTimeout(TransientError):
    error_class = "timeout"


class ConnectionFailed(TransientError):
    error_class = "connection"


class DNSFailure(ConnectionFailed):
    error_class = "dns"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, connection errors, 5xx and 429. Not 404s or parse errors."""
    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, HTTPStatusError) and (exc.status == 429 or (exc.status or 0) >= 500)
