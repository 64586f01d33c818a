"""Dates as feeds and pages write them, to timezone-aware UTC datetimes.

Four sources of an article's publication date, from most to least trusted:

1. the page's own machine-readable metadata (JSON-LD ``datePublished``,
   ``article:published_time`` and friends): the publisher says which date is the
   publication date, usually to the second with a time zone;
2. the feed entry's date (passed in by the crawler): also the publisher's word,
   but feeds sometimes carry the last update instead of the first publication;
3. a date the visible text labels as the publication ("Published 7:07 PM EST Nov 19");
4. htmldate's heuristics over the page (dates in the URL, in visible text, in
   markup not meant for machines): a good guess, to the day only.

:func:`choose_published` applies that order and says which source won.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from dateutil import parser as dateutil_parser
from lxml.html import HtmlElement

# Nothing on the web we read was published before this; later than now plus a day is a
# misparse or a time-zone accident.
EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
# A feed date and a page date at most this far apart name the same publication (time zones
# and "date only" pages put honest dates up to a day apart).
SAME_PUBLICATION = timedelta(hours=36)

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_HAS_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")
# Common zone abbreviations (dateutil knows only UTC and GMT by name; "IST" is India's).
_ZONES = {
    name: int(hours * 3600)
    for name, hours in {
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
        "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "BST": 1, "CET": 1, "CEST": 2,
        "EET": 2, "EEST": 3, "WET": 0, "WEST": 1, "IST": 5.5, "JST": 9, "KST": 9,
        "AEST": 10, "AEDT": 11,
    }.items()
}  # fmt: skip


@dataclass(frozen=True)
class PageDate:
    """A date found in a page, and whether it carried a time of day."""

    value: datetime
    has_time: bool


def parse_date(value: str | time.struct_time | datetime | None) -> datetime | None:
    """ISO 8601, RFC 822, common written forms or a ``time.struct_time`` (as feedparser
    gives, in UTC); else None. Naive values are taken as UTC."""
    parsed = _parse(value)
    return parsed.value if parsed else None


def _parse(value: str | time.struct_time | datetime | None) -> PageDate | None:
    if value is None:
        return None
    has_time = True
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, time.struct_time):
        try:
            dt = datetime(*value[:6], tzinfo=UTC)
        except (TypeError, ValueError):
            return None
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 100:
            return None
        has_time = not _DATE_ONLY.match(text)
        dt = _parse_text(text)
        if dt is None:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return PageDate(dt.astimezone(UTC), has_time)
    except (OverflowError, ValueError):
        return None


def _parse_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    # RFC 822 and written forms ("March 5, 2025 10:30 PM EST"). dateutil fills missing parts
    # from today, so insist on a year before trusting it. (The e-mail parser comes last: it
    # reads "2:05 PM" as 02:05.)
    if _HAS_YEAR.search(text):
        try:
            return dateutil_parser.parse(text, tzinfos=_ZONES)
        except (ValueError, OverflowError, TypeError):
            pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def plausible(dt: datetime | None, now: datetime | None = None) -> bool:
    """A publication date that is neither before the web we read nor in the future."""
    if dt is None:
        return False
    now = now or datetime.now(UTC)
    return EARLIEST_PLAUSIBLE <= dt <= now + FUTURE_TOLERANCE


# --- dates in page metadata ----------------------------------------------------------

# <meta> names and properties that carry the publication date (lower-cased).
_META_PUBLISHED = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "publishdate",
    "publish-date",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "article.published",
    "published_time",
    "date",
)
_ARTICLE_TYPES = ("article", "posting", "report", "blog")


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = (script.text or "").strip()
        if not raw or len(raw) > 2_000_000:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        stack: list[Any] = [data]
        seen = 0
        while stack and seen < 500:
            item = stack.pop(0)
            seen += 1
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                graph = item.get("@graph")
                if isinstance(graph, list | dict):
                    stack.append(graph)
                main = item.get("mainEntity") or item.get("mainEntityOfPage")
                if isinstance(main, dict):
                    stack.append(main)


def _types(obj: dict[str, Any]) -> list[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [str(k).lower() for k in kinds if k]


def json_ld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD blocks (``@graph`` flattened), articles first."""
    objects = list(_json_ld_objects(tree))

    def rank(obj: dict[str, Any]) -> int:
        kinds = _types(obj)
        return 0 if any(a in k for k in kinds for a in _ARTICLE_TYPES) else 1

    return sorted(objects, key=rank)


def _metadata_values(tree: HtmlElement, json_ld: list[dict[str, Any]] | None) -> Iterator[str]:
    """Publication dates the page states for machines, most explicit first."""
    for obj in json_ld if json_ld is not None else json_ld_objects(tree):
        for key in ("datePublished", "dateCreated"):
            if isinstance(obj.get(key), str):
                yield obj[key]
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
        key = key.strip().lower()
        content = (meta.get("content") or "").strip()
        if key and content and key not in metas:
            metas[key] = content
    for key in _META_PUBLISHED:
        if key in metas:
            yield metas[key]
    for element in tree.xpath(
        '//*[@itemprop="datePublished"]|//time[@pubdate]'
        '|//time[contains(concat(" ", normalize-space(@class), " "), " published ")]'
    ):
        yield element.get("datetime") or element.get("content") or element.text_content()


def metadata_published(
    tree: HtmlElement, json_ld: list[dict[str, Any]] | None = None
) -> PageDate | None:
    """The publication date the page states for machines, or None.

    The most explicit statement wins; when it gives only the day, a later statement of the
    same publication with a time of day refines it."""
    now = datetime.now(UTC)
    first: PageDate | None = None
    for value in _metadata_values(tree, json_ld):
        found = _parse(value)
        if found is None or not plausible(found.value, now):
            continue
        if first is None:
            first = found
            if first.has_time:
                return first
        elif found.has_time and abs(found.value - first.value) <= SAME_PUBLICATION:
            return found
    return first


# Visible "Published 7:07 PM EST Nov 19, 2019" / "Posted on March 3, 2025" labels: the
# publisher's own statement, in the page's text rather than its metadata.
_LABELLED = re.compile(
    r"^\s*(?:first\s+)?(?:published|posted)(?:\s+on)?\s*:?\s*(?P<date>.{6,60}?)\s*"
    r"(?:$|[|·•]|\bupdated\b|\bby\b)",
    re.IGNORECASE,
)
_SKIP_TEXT_OF = {"script", "style", "noscript", "template", "head", "title"}


def labelled_published(tree: HtmlElement) -> PageDate | None:
    """A date the visible text labels as the publication ("Published ...", "Posted on
    ..."), or None."""
    now = datetime.now(UTC)
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in _SKIP_TEXT_OF:
            continue
        for text in (element.text, element.tail):
            if not text or len(text) > 200:
                continue
            match = _LABELLED.match(text)
            if not match or not _HAS_YEAR.search(match.group("date")):
                continue
            try:
                value = dateutil_parser.parse(match.group("date"), tzinfos=_ZONES, fuzzy=True)
            except (ValueError, OverflowError, TypeError):
                continue
            found = _parse(value)
            if found and plausible(found.value, now):
                has_time = bool(re.search(r"\d:\d\d", match.group("date")))
                return PageDate(found.value, has_time)
    return None


def heuristic_published(
    tree: HtmlElement, url: str | None = None, *, extensive: bool = True
) -> PageDate | None:
    """htmldate's best guess at the original publication date (to the day), or None.
    ``extensive=False`` skips its search of the visible text (4x faster)."""
    from htmldate import find_date  # imported here: loading it costs ~0.3 s

    now = datetime.now(UTC)
    try:
        # A parsed tree, never a string: htmldate fetches strings that look like URLs.
        found = find_date(
            tree,
            extensive_search=extensive,
            original_date=True,
            url=url,
            max_date=(now + FUTURE_TOLERANCE).strftime("%Y-%m-%d"),
        )
    except Exception:  # htmldate is heuristic code over arbitrary markup
        return None
    parsed = _parse(found) if found else None
    return parsed if parsed and plausible(parsed.value, now) else None


def choose_published(
    page_metadata: PageDate | None,
    feed: datetime | None,
    page_heuristic: PageDate | None = None,
    page_text: PageDate | None = None,
) -> tuple[datetime | None, str | None]:
    """The publication date and its source (``"page-metadata"``, ``"feed"``,
    ``"page-text"``, ``"page-heuristic"``), or ``(None, None)``.

    The page's own metadata wins; when it gives only a day and the feed's timestamp falls on
    that publication, the feed's timestamp adds the time of day. The feed comes next, then a
    date the visible text labels as the publication, then htmldate's guess.
    """
    if feed is not None:
        feed = feed.replace(tzinfo=UTC) if feed.tzinfo is None else feed.astimezone(UTC)
        if not plausible(feed):
            feed = None
    if page_metadata is not None:
        if (
            not page_metadata.has_time
            and feed is not None
            and abs(feed - page_metadata.value) <= SAME_PUBLICATION
        ):
            return feed, "feed"
        return page_metadata.value, "page-metadata"
    if feed is not None:
        return feed, "feed"
    if page_text is not None:
        return page_text.value, "page-text"
    if page_heuristic is not None:
        return page_heuristic.value, "page-heuristic"
    return None, None
