"""Feed entries from RSS/Atom bytes that we fetched ourselves.

feedparser never fetches here: it gets a file object (given raw bytes that look like a
path, it would open a local file). Documents declaring entities are refused before
parsing: feedparser's loose parser expands internal entities, so a small feed can
become hundreds of megabytes (billion laughs), and external entities can name files.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.dates import parse_date


class FeedParseError(AdoptwatchError):
    """The bytes are not a usable RSS/Atom feed."""

    error_class = "parse_error"


class UnsafeFeed(FeedParseError):
    """The document declares XML entities (entity expansion or external entity attack)."""

    error_class = "unsafe_xml"


@dataclass(frozen=True)
class FeedEntry:
    key: str  # guid / id, else the link
    url: str  # absolute link, as the feed gives it
    title: str | None
    published_at: datetime | None  # UTC; None when missing or in the future
    summary: str | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    version: str
    entries: list[FeedEntry]
    total_entries: int  # before de-duplication and the cap
    warning: str | None = None  # feedparser's complaint about a malformed but usable feed


_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_ENTITY_DECL_TEXT = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(r"""<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
# feedparser also reads UTF-16/32 (BOM or NUL pattern) and EBCDIC ("<?xm" in cp037).
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"


def _declares_entities(body: bytes, content_type: str | None) -> bool:
    """Whether the document declares an entity in any encoding feedparser would read it in.

    A bytes search alone misses ``<!ENTITY`` written in UTF-16, UTF-32, EBCDIC or a
    declared encoding such as UTF-7, all of which feedparser decodes.
    """
    if _ENTITY_DECL.search(body):
        return True
    head = body[:4096]
    candidates: list[str] = []
    if b"\x00" in head:
        candidates.extend(_WIDE)
    if head.startswith(_EBCDIC_XML):
        candidates.append("cp037")
    for text in [head.decode("latin-1")] + [
        head.decode(enc, errors="ignore") for enc in candidates
    ]:
        declared = _XML_ENCODING.search(text)
        if declared:
            candidates.append(declared.group(1))
    if content_type:
        charset = _CHARSET.search(content_type)
        if charset:
            candidates.append(charset.group(1))
    for encoding in dict.fromkeys(c.lower() for c in candidates):
        try:
            text = body.decode(encoding, errors="ignore")
        except (LookupError, TypeError, ValueError):
            continue  # not a text codec feedparser could use either
        if _ENTITY_DECL_TEXT.search(text):
            return True
    return False


MAX_KEY_CHARS = 1000
# A date this far ahead of now is a feed bug, not a scheduled post.
FUTURE_TOLERANCE = timedelta(days=1)


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    max_entries: int | None = None,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse feed bytes; raises :class:`FeedParseError` (or :class:`UnsafeFeed`)."""
    if not isinstance(body, bytes | bytearray):
        raise FeedParseError("feed body must be bytes")
    if _declares_entities(bytes(body), content_type):
        raise UnsafeFeed("the feed declares XML entities (<!ENTITY>); refusing to parse it")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(io.BytesIO(bytes(body)), response_headers=headers)
    except Exception as exc:  # feedparser is defensive, but arbitrary bytes reach C code
        raise FeedParseError(f"the feed could not be parsed: {type(exc).__name__}: {exc}") from None

    version = parsed.get("version") or ""
    raw_entries = parsed.get("entries") or []
    if not version and not raw_entries:
        reason = parsed.get("bozo_exception")
        detail = f" ({type(reason).__name__}: {reason})" if reason else ""
        raise FeedParseError(f"not an RSS or Atom feed{detail}")

    now = now or datetime.now(UTC)
    seen: set[str] = set()
    entries: list[FeedEntry] = []
    for raw in raw_entries:
        link = _text(raw.get("link"), 4000)
        if not link:
            for candidate in raw.get("links") or []:
                if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
                    link = _text(candidate["href"], 4000)
                    break
        if not link:
            continue
        # An unparseable link (e.g. "http://[::1") is kept as written; the fetcher refuses it.
        with contextlib.suppress(ValueError):
            link = urljoin(url, link)
        key = _text(raw.get("id"), MAX_KEY_CHARS) or link[:MAX_KEY_CHARS]
        if key in seen:
            continue
        seen.add(key)
        published = None
        for field_name in ("published_parsed", "updated_parsed", "created_parsed"):
            # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed
            # (with a DeprecationWarning), which would only repeat the first field.
            published = parse_date(dict.get(raw, field_name))
            if published is not None:
                break
        if published is not None and published > now + FUTURE_TOLERANCE:
            published = None
        entries.append(
            FeedEntry(
                key=key,
                url=link,
                title=_text(raw.get("title"), 1000),
                published_at=published,
                summary=_text(raw.get("summary"), 5000),
            )
        )
    total = len(raw_entries)
    # Newest first, so a capped run takes the freshest stories.
    entries.sort(key=lambda e: e.published_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    if max_entries is not None:
        entries = entries[:max_entries]
    warning = None
    if parsed.get("bozo") and parsed.get("bozo_exception") is not None:
        warning = f"{type(parsed['bozo_exception']).__name__}: {parsed['bozo_exception']}"[:500]
    return ParsedFeed(
        title=_text(parsed.get("feed", {}).get("title"), 500),
        version=version,
        entries=entries,
        total_entries=total,
        warning=warning,
    )
