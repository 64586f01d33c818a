"""HTTP fetching, polite and guarded: the only code of adoptwatch that talks to the network.

:class:`Fetcher` (in :mod:`adoptwatch.fetch.client`) does each request; the network policy
(:mod:`~adoptwatch.fetch.network`) and the bounded decompression
(:mod:`~adoptwatch.fetch.decode`) are its parts. The errors (:mod:`~adoptwatch.fetch.errors`)
are drawn in :mod:`adoptwatch.errors`.
"""

from adoptwatch.fetch.client import Fetcher, FetchRecord, FetchResult
from adoptwatch.fetch.errors import (
    BadEncoding,
    BlockedURL,
    ConnectionFailed,
    DNSFailure,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TLSFailure,
    TooManyRedirects,
    TransientError,
    is_transient,
)
from adoptwatch.fetch.network import NetworkPolicy

__all__ = [
    "BadEncoding",
    "BlockedURL",
    "ConnectionFailed",
    "DNSFailure",
    "FetchError",
    "FetchRecord",
    "FetchResult",
    "FetchTimeout",
    "Fetcher",
    "HTTPStatusError",
    "NetworkPolicy",
    "ResponseTooLarge",
    "RobotsDisallowed",
    "TLSFailure",
    "TooManyRedirects",
    "TransientError",
    "is_transient",
]
