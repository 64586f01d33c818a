"""URL canonicalisation: one spelling per page, so one story is one article.

Drops tracking parameters and fragments, lower-cases scheme and host, removes default
ports, sorts the remaining query parameters and normalises percent-encoding.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from adoptwatch.errors import AdoptwatchError

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "igshid",
        "ref_src",
        "ref_url",
        "cmpid",
        "ncid",
        "sr_share",
        "spm",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "__twitter_impression",
        "smid",
        "taid",
        "ref",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "oly_", "vero_", "hmb_")

DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_PATH = "/!$&'()*+,;=:@~-._"


# Host names after IDNA encoding: labels of letters, digits, "-" and "_" (seen in the
# wild), separated by single dots.
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


class InvalidURL(AdoptwatchError):
    """The string is not an absolute http(s) URL."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalise_percent(path: str) -> str:
    """RFC 3986 normalisation: decode escaped unreserved characters, upper-case the other
    escapes, escape what may not appear literally. Escaped reserved characters (``%2F``)
    stay escaped: decoding them would change which resource the URL names."""

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    path = _PERCENT.sub(unescape, path)
    # Whatever is left that may not appear literally (a lone "%", spaces, non-ASCII)
    # is escaped; existing "%XX" escapes are kept as they are.
    return re.sub(
        r"%(?![0-9A-F]{2})|[^A-Za-z0-9%" + re.escape(_SAFE_PATH) + "]",
        lambda m: quote(m.group(0), safe=""),
        path,
    )


def _remove_dot_segments(path: str) -> str:
    # Resolve "." and ".." the way a browser would (RFC 3986, 5.2.4).
    segments: list[str] = []
    parts = path.split("/")
    for index, seg in enumerate(parts):
        last = index == len(parts) - 1
        if seg == "..":
            if len(segments) > 1:
                segments.pop()
            if last:
                segments.append("")
        elif seg == ".":
            if last:
                segments.append("")
        else:
            segments.append(seg)
    return "/".join(segments)


def _normalise_path(path: str) -> str:
    if not path:
        return "/"
    path = _normalise_percent(path)
    if not path.startswith("/"):
        path = "/" + path
    path = re.sub(r"/{2,}", "/", path)
    path = _remove_dot_segments(path)
    return path if path.startswith("/") else "/" + path


def canonicalize_url(url: str, base: str | None = None) -> str:
    """The canonical spelling of ``url`` (resolved against ``base`` when relative).

    >>> canonicalize_url("HTTPS://Example.com:443/a/./b?utm_source=rss&b=2&a=1#top")
    'https://example.com/a/b?a=1&b=2'
    """
    if not isinstance(url, str):
        raise InvalidURL(f"not a URL: {url!r}")
    raw = url.strip()
    if base:
        raw = urljoin(base, raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a valid URL: {url!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    try:
        host = host.lower() if host.isascii() else host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidURL(f"URL has an invalid host name: {url!r}") from None
    host = host.rstrip(".")  # IDNA maps "。" and other full stops to "."
    if not host:
        raise InvalidURL(f"URL has no host: {url!r}")
    if ":" in host:  # IPv6 literal
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURL(f"URL has an invalid IPv6 host: {url!r}") from None
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        raise InvalidURL(f"URL has an invalid host name: {url!r}")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query_pairs = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, _normalise_path(parts.path), query, ""))
