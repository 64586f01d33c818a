"""Outlets: who published an article, as the registrable domain of its canonical URL.

``news.bbc.co.uk`` and ``www.bbc.co.uk`` are one outlet, ``bbc.co.uk``; ``alice.github.io``
and ``bob.github.io`` are two (``github.io`` is on the private part of the Public Suffix
List: each name under it belongs to someone else). The list is the one bundled with the
``publicsuffixlist`` package, read from the installed files: nothing is downloaded, so an
outlet only changes when that dependency is upgraded.

A host that has no registrable domain is its own outlet: an IP address (``127.0.0.2``),
a single label (``localhost``, an intranet name) or a public suffix itself. The port is
never part of an outlet: who publishes a page does not change with the port it is served
on (tests that need several outlets on one machine use several loopback addresses,
127.0.0.2, 127.0.0.3, ...).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _suffix_list() -> PublicSuffixList:
    # Parsing the bundled list takes ~80 ms: once per process, on first use.
    return PublicSuffixList()


def outlet_of(url: str) -> str:
    """The outlet of an (absolute, canonical) URL: its host's registrable domain, in lower
    case without a trailing dot, or the host itself when it has none (see the module).
    A URL without a host gives ``""``."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    return _suffix_list().privatesuffix(host) or host
