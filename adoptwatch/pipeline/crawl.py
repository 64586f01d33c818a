"""Crawl planning: feeds fetched and parsed, the entries worth a page fetch, the pages.

A failed feed or page is an outcome with an error class, never an exception that ends the
run. Fetching stays in the caller's event loop; parsing runs in threads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import zlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from adoptwatch.extractors.feeds import FeedEntry, FeedParseError, ParsedFeed, parse_feed
from adoptwatch.extractors.urls import InvalidURL, canonicalize_url
from adoptwatch.fetch import Fetcher, FetchError, FetchResult, is_transient
from adoptwatch.pipeline.clock import naive_utc, utcnow
from adoptwatch.pipeline.progress import NoProgress, Progress
from adoptwatch.storage.records import EntryRow, SourceState


@dataclass
class FeedOutcome:
    source: SourceState
    fetched_at: datetime
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    error_class: str | None = None
    error: str | None = None
    # New entries left for later runs by the per-run cap (max_entries_per_feed).
    backlog: int = 0

    @property
    def failed(self) -> bool:
        return self.error_class is not None

    @property
    def unchanged(self) -> bool:
        return self.result is not None and self.result.not_modified


@dataclass
class PendingEntry:
    source: str
    key: str
    url: str
    canonical_url: str
    title: str | None
    published_at: datetime | None  # from the feed
    first_seen_at: datetime
    attempts: int  # attempts before this run


@dataclass
class PageOutcome:
    canonical_url: str  # the URL we fetched, canonicalised
    entries: list[PendingEntry]
    result: FetchResult | None = None  # once fetched, its body moves to `compressed`
    error_class: str | None = None
    error: str | None = None
    transient: bool = False  # the failure may go away (timeouts, 5xx): retry next run
    # The page bytes, zlib-compressed as soon as they arrive: a batch of pages waiting for
    # extraction costs their compressed size, and articles.raw_html keeps these bytes.
    compressed: bytes | None = None

    def body(self) -> bytes:
        if self.compressed is not None:
            return zlib.decompress(self.compressed)
        return self.result.body if self.result is not None else b""


EntrySelector = Callable[[SourceState, ParsedFeed], tuple[ParsedFeed, int]]


class KnownEntries(Container[tuple[str, str]]):
    """The (source, entry key) pairs earlier runs stored, asked of the database one feed
    at a time (``lookup(source, keys)``: the stored ones among ``keys``), so a run holds
    the pairs of the feeds it reads, not every entry ever seen."""

    def __init__(self, lookup: Callable[[str, list[str]], set[str]]) -> None:
        self._lookup = lookup
        self._known: set[tuple[str, str]] = set()

    def check(self, source: str, keys: list[str]) -> None:
        self._known.update((source, k) for k in self._lookup(source, keys))

    def __contains__(self, pair: object) -> bool:
        return pair in self._known


def keep_new_entries(known: Container[tuple[str, str]], limit: int) -> EntrySelector:
    """A selector keeping a feed's first ``limit`` entries not in ``known`` (newest first);
    it also returns how many new entries it left for later runs.

    A feed of a hundred thousand entries then costs memory for ``limit`` of them only.
    ``known`` may be :class:`KnownEntries`, asked about each feed's keys as it comes.
    """

    def select(source: SourceState, parsed: ParsedFeed) -> tuple[ParsedFeed, int]:
        if isinstance(known, KnownEntries):
            known.check(source.name, [e.key for e in parsed.entries])
        fresh = [e for e in parsed.entries if (source.name, e.key) not in known]
        return dataclasses.replace(parsed, entries=fresh[:limit]), max(len(fresh) - limit, 0)

    return select


async def fetch_feed(
    fetcher: Fetcher,
    source: SourceState,
    parse_slot: asyncio.Semaphore | None = None,
    select: EntrySelector | None = None,
) -> FeedOutcome:
    """Fetch and parse one feed; failures come back as an outcome, not an exception.

    Parsing runs in a thread (a large feed takes seconds, which would stall every other
    download's deadline clock on the event loop), one feed at a time under
    ``parse_slot`` so that memory holds one parse tree, not one per source.
    """
    outcome = FeedOutcome(source=source, fetched_at=utcnow())
    try:
        result = await fetcher.fetch(
            source.url,
            source=source.name,
            kind="feed",
            etag=source.etag,
            last_modified=source.last_modified,
            accept="application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        )
    except FetchError as exc:
        outcome.error_class, outcome.error = exc.error_class, str(exc)
        return outcome
    # The body is not needed once parsed; keep the headers (validators) only.
    outcome.result = dataclasses.replace(result, body=b"")
    if result.not_modified:
        return outcome
    async with parse_slot or contextlib.nullcontext():
        try:
            parsed = await asyncio.to_thread(
                parse_feed, result.body, result.final_url, result.content_type
            )
            if select is None:
                outcome.parsed = parsed
            else:
                # In a thread too: the selector may ask the database what is stored.
                outcome.parsed, outcome.backlog = await asyncio.to_thread(select, source, parsed)
        except FeedParseError as exc:
            outcome.error_class, outcome.error = exc.error_class, f"{source.url}: {exc}"
        except Exception as exc:  # a parser bug must cost this feed, not the run
            outcome.error_class = "internal_error"
            outcome.error = f"{source.url}: {type(exc).__name__}: {exc}"
    if outcome.error_class:
        fetcher.annotate(source.url, source.name, "feed", outcome.error_class, outcome.error)
    return outcome


async def fetch_feeds(
    fetcher: Fetcher,
    sources: Sequence[SourceState],
    progress: Progress | None = None,
    select: EntrySelector | None = None,
) -> list[FeedOutcome]:
    progress = progress or NoProgress()
    progress.stage("feeds", len(sources))
    parse_slot = asyncio.Semaphore(1)

    async def one(source: SourceState) -> FeedOutcome:
        outcome = await fetch_feed(fetcher, source, parse_slot, select)
        progress.advance()
        return outcome

    return list(await asyncio.gather(*(one(s) for s in sources)))


def plan_entries(
    outcomes: Sequence[FeedOutcome],
    known: Container[tuple[str, str]],
    retry: Sequence[EntryRow],
    limit: int,
) -> list[PendingEntry]:
    """New entries of this run's feeds, at most ``limit`` per feed, then the earlier
    failures worth another try (``retry``). ``known``: the (source, entry key) pairs that
    earlier runs stored."""
    now = utcnow()
    planned: list[PendingEntry] = []
    taken: set[tuple[str, str]] = set()
    for outcome in outcomes:
        if outcome.parsed is None:
            continue
        name = outcome.source.name
        fresh = 0
        for entry in outcome.parsed.entries:
            if fresh >= limit:
                break
            if (name, entry.key) in known or (name, entry.key) in taken:
                continue
            pending = _pending(name, entry, now)
            if pending is None:
                continue
            planned.append(pending)
            taken.add((name, entry.key))
            fresh += 1
    for row in retry:
        if (row.source, row.entry_key) in taken:
            continue
        try:
            canonical = canonicalize_url(row.url)
        except InvalidURL:
            continue
        planned.append(
            PendingEntry(
                source=row.source,
                key=row.entry_key,
                url=row.url,
                canonical_url=canonical,
                title=row.title,
                published_at=row.published_at,
                first_seen_at=row.first_seen_at,
                attempts=row.attempts,
            )
        )
    return planned


def _pending(source: str, entry: FeedEntry, now: datetime) -> PendingEntry | None:
    try:
        canonical = canonicalize_url(entry.url)
    except InvalidURL:
        # Not http(s) (file:, ftp:, javascript:): keep the raw link so the fetcher refuses
        # it and the refusal is logged against the source.
        canonical = entry.url
    return PendingEntry(
        source=source,
        key=entry.key,
        url=entry.url,
        canonical_url=canonical,
        title=entry.title,
        published_at=naive_utc(entry.published_at),
        first_seen_at=now,
        attempts=0,
    )


def group_by_url(entries: Sequence[PendingEntry]) -> dict[str, list[PendingEntry]]:
    groups: dict[str, list[PendingEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.canonical_url, []).append(entry)
    return groups


async def fetch_pages(
    fetcher: Fetcher, entries: Sequence[PendingEntry], progress: Progress | None = None
) -> list[PageOutcome]:
    """Fetch each distinct article URL once (two feeds linking one story: one request)."""
    progress = progress or NoProgress()

    async def one(canonical: str, group: list[PendingEntry]) -> PageOutcome:
        page = PageOutcome(canonical_url=canonical, entries=group)
        try:
            page.result = await fetcher.fetch(
                group[0].url,
                source=group[0].source,
                kind="article",
                accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                max_bytes=fetcher.settings.max_page_bytes,
            )
            if page.result.not_modified:
                page.error_class, page.error = "not_modified", "unexpected 304 for an article"
            else:
                page.compressed = await asyncio.to_thread(zlib.compress, page.result.body, 6)
                page.result = dataclasses.replace(page.result, body=b"")
        except FetchError as exc:
            page.error_class, page.error = exc.error_class, str(exc)
            page.transient = is_transient(exc)
        progress.advance(len(group))
        return page

    groups = group_by_url(entries)
    return list(await asyncio.gather(*(one(url, g) for url, g in groups.items())))


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def interleave_hosts(groups: Iterable[list[PendingEntry]]) -> list[list[PendingEntry]]:
    """URL groups in round-robin order over their hosts, each host's own order kept.

    Politeness spaces requests to one host ``per_host_delay`` apart, so a batch of fifty
    links from one feed would take fifty delays while every other host sits idle; taking
    one link per host in turn keeps every host busy.
    """
    by_host: dict[str, list[list[PendingEntry]]] = {}
    for group in groups:
        # The host as the fetcher's politeness gate names it: the hostname, not the port.
        by_host.setdefault((urlsplit(group[0].url).hostname or "").lower(), []).append(group)
    queues = list(by_host.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


# Batches of pages fetched, or being fetched, ahead of the one being extracted: enough
# to keep every host's politeness slot busy while a batch is extracted, few enough
# that memory holds a handful of batches of pages, not the whole run's.
FETCH_AHEAD_BATCHES = 3


async def fetch_ahead(
    fetch_pages: Callable[..., Awaitable[list[PageOutcome]]],
    fetcher: Fetcher,
    batches: Sequence[Sequence[PendingEntry]],
    progress: Progress,
    ahead: int = FETCH_AHEAD_BATCHES,
) -> AsyncIterator[list[PageOutcome]]:
    """Each batch's pages, in order, with the fetches of up to ``ahead`` later batches
    already running while the caller works on the current one."""
    running: collections.deque[asyncio.Future[list[PageOutcome]]] = collections.deque()
    upcoming = iter(batches)
    try:
        while True:
            while len(running) <= ahead:
                batch = next(upcoming, None)
                if batch is None:
                    break
                running.append(asyncio.ensure_future(fetch_pages(fetcher, batch, progress)))
            if not running:
                return
            yield await running.popleft()
    finally:
        for future in running:
            future.cancel()
