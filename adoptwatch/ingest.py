"""The ingest pipeline as plain functions: sources → feeds → pages → text → claims → DuckDB.

``run_ingest`` drives the steps; ``flows/ingest.py`` runs the same driver with each step
wrapped as a Prefect task. A failed feed or article becomes a row (fetch_log,
feed_entries, the summary), never an exception that ends the run.

Write safety: articles, their events, their feed entries and the fetches behind them
are written per batch in one transaction. A feed's validators (ETag, Last-Modified) are
stored only after all of its new entries are, so a crash part-way means the next run
fetches the feed again and finishes the work; entries already stored are skipped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import re
import threading
import uuid
import zlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from adoptwatch.extractors.article import ArticleExtractionError, extract_article
from adoptwatch.extractors.claims import ClaimExtractor, Extraction, get_extractor
from adoptwatch.extractors.feeds import FeedEntry, FeedParseError, ParsedFeed, parse_feed
from adoptwatch.extractors.urls import InvalidURL, canonicalize_url
from adoptwatch.fetch import Fetcher, FetchError, FetchRecord, FetchResult, is_transient
from adoptwatch.settings import Settings
from adoptwatch.sources import load_sources
from adoptwatch.storage import store
from adoptwatch.storage.db import ingest_lock, write_session
from adoptwatch.storage.records import (
    ArticleRow,
    EntryRow,
    EventRow,
    FetchRow,
    MentionRow,
    SourceSpec,
    SourceState,
    SourceUpdate,
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive(dt: datetime | None) -> datetime | None:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt and dt.tzinfo else dt


def article_id_for(canonical_url: str) -> str:
    return hashlib.sha256(canonical_url.encode()).hexdigest()[:24]


def content_hash(text: str) -> str:
    normalised = re.sub(r"\s+", " ", text).strip().lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


# --- progress -------------------------------------------------------------------------


class Progress(Protocol):
    def stage(self, name: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


_progress: Progress | None = None


def set_progress(progress: Progress | None) -> None:
    """Register a progress display for ingests run in this process (the CLI does)."""
    global _progress
    _progress = progress


def current_progress() -> Progress | None:
    return _progress


# --- step outputs ------------------------------------------------------------------------


@dataclass
class RunContext:
    run_id: str
    started_at: datetime
    sources: list[SourceState]  # enabled sources to fetch this run
    skipped_sources: list[str]  # disabled ones
    state: store.CrawlState


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


@dataclass
class ArticleDraft:
    """An extracted article, not yet stored."""

    article: ArticleRow
    entries: list[PendingEntry]
    extraction: Extraction | None = None


@dataclass
class ProcessedBatch:
    drafts: list[ArticleDraft]
    failed: list[tuple[PendingEntry, str]]  # entry, error: worth another try next run
    duplicates: list[tuple[PendingEntry, str]]  # entry, existing article_id
    rejected: list[tuple[PendingEntry, str]] = field(default_factory=list)  # never retried
    extractor_version: str | None = None  # of the extractor that made the drafts' claims
    # Pages fetched fine whose content was refused: (url fetched, source, error_class,
    # error), folded into their fetch_log rows.
    page_errors: list[tuple[str, str, str, str]] = field(default_factory=list)

    def fail_page(
        self, page: PageOutcome, error_class: str, error: str, permanent: bool = True
    ) -> None:
        target = self.rejected if permanent else self.failed
        target.extend((e, f"{error_class}: {error}") for e in page.entries)
        self.page_errors.append((page.entries[0].url, page.entries[0].source, error_class, error))


@dataclass
class IngestSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    feeds_total: int = 0
    feeds_fetched: int = 0
    feeds_unchanged: int = 0
    feeds_failed: int = 0
    sources_disabled_skipped: int = 0
    entries_new: int = 0
    entries_backlog: int = 0  # new entries left for later runs by max_entries_per_feed
    articles_new: int = 0
    articles_duplicate: int = 0
    articles_failed: int = 0
    events_new: int = 0
    mentions_new: int = 0
    failed_sources: list[dict[str, str]] = field(default_factory=list)
    failed_articles: list[dict[str, str]] = field(default_factory=list)
    disabled_sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(self).items()}


# --- steps ---------------------------------------------------------------------------------


def prepare_run(settings: Settings, specs: Sequence[SourceSpec]) -> RunContext:
    """Register sources, open a run, and read what earlier runs already stored."""
    now = utcnow()
    run_id = uuid.uuid4().hex
    with write_session(settings.db, settings.db_lock_timeout) as con:
        store.sync_sources(con, specs, now)
        store.start_run(con, run_id, now)
        state = store.load_crawl_state(con, settings.max_article_attempts)
    names = {s.name for s in specs}
    listed = [state.sources[n] for n in (s.name for s in specs) if n in state.sources]
    return RunContext(
        run_id=run_id,
        started_at=now,
        sources=[s for s in listed if s.enabled],
        skipped_sources=sorted(s.name for s in listed if not s.enabled and s.name in names),
        state=state,
    )


EntrySelector = Callable[[SourceState, ParsedFeed], tuple[ParsedFeed, int]]


def keep_new_entries(known: Container[tuple[str, str]], limit: int) -> EntrySelector:
    """A selector keeping a feed's first ``limit`` entries not in ``known`` (newest first);
    it also returns how many new entries it left for later runs.

    A feed of a hundred thousand entries then costs memory for ``limit`` of them only.
    """

    def select(source: SourceState, parsed: ParsedFeed) -> tuple[ParsedFeed, int]:
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
                outcome.parsed, outcome.backlog = select(source, parsed)
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
    progress = progress or _NoProgress()
    progress.stage("feeds", len(sources))
    parse_slot = asyncio.Semaphore(1)

    async def one(source: SourceState) -> FeedOutcome:
        outcome = await fetch_feed(fetcher, source, parse_slot, select)
        progress.advance()
        return outcome

    return list(await asyncio.gather(*(one(s) for s in sources)))


def plan_entries(
    outcomes: Sequence[FeedOutcome], ctx: RunContext, settings: Settings
) -> list[PendingEntry]:
    """New entries of this run's feeds (capped per feed), then earlier failures to retry."""
    now = utcnow()
    planned: list[PendingEntry] = []
    taken: set[tuple[str, str]] = set()
    for outcome in outcomes:
        if outcome.parsed is None:
            continue
        name = outcome.source.name
        fresh = 0
        for entry in outcome.parsed.entries:
            if fresh >= settings.max_entries_per_feed:
                break
            if (name, entry.key) in ctx.state.entries or (name, entry.key) in taken:
                continue
            pending = _pending(name, entry, now)
            if pending is None:
                continue
            planned.append(pending)
            taken.add((name, entry.key))
            fresh += 1
    for row in ctx.state.retry_entries:
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
        published_at=_naive(entry.published_at),
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
    progress = progress or _NoProgress()

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


_TAG_START = re.compile(rb"<[A-Za-z!?/]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def count_elements(body: bytes) -> int:
    """Tags in a page: a bound on the nodes a parser builds from it."""
    return sum(1 for _ in _TAG_START.finditer(body))


def looks_binary(body: bytes) -> bool:
    """Images, archives, PDFs or noise served as HTML: control bytes in the first 4 KiB.

    Decoded, such bytes become megabytes of replacement characters that an extractor
    would happily call article text.
    """
    head = body[:4096]
    if not head or head.startswith(_UTF16_BOMS):
        return False
    return len(_CONTROL_BYTES.findall(head)) > len(head) * 0.02


def extract_pages(
    pages: Sequence[PageOutcome],
    known_urls: Mapping[str, str],
    known_hashes: Mapping[str, str],
    extractor_pipeline: str = "",
    max_elements: int = 0,
    max_chars: int = 0,
) -> ProcessedBatch:
    """Article text and claims for fetched pages (the CPU work of an ingest).

    ``known_urls`` / ``known_hashes`` map canonical URL / content hash to article_id for
    articles stored so far. They are only read, never changed: this function may run in
    another process (a Dask worker), where changes would be lost. A page that matches
    them, or an earlier page of the same batch, is a duplicate and skips claim
    extraction; :func:`deduplicate` then settles duplicates across batches in the flow.

    Binary pages, pages with more than ``max_elements`` tags and texts longer than
    ``max_chars`` characters (0: no limit) are rejected: they are not articles, and
    holding or parsing them is what would make memory grow with what a source sends.
    """
    batch = ProcessedBatch(drafts=[], failed=[], duplicates=[], rejected=[])
    now = utcnow()
    batch_urls: dict[str, str] = {}
    batch_hashes: dict[str, str] = {}
    for page in pages:
        if page.result is None or page.error_class:
            # robots.txt, 404s, blocked addresses and oversized pages will say the same
            # next time; only transient failures are worth another attempt.
            target = batch.failed if page.transient else batch.rejected
            target.extend((e, f"{page.error_class}: {page.error}") for e in page.entries)
            continue
        result = page.result
        body = page.body()
        compressed, page.compressed = page.compressed, None  # the draft keeps it, if any
        if looks_binary(body):
            batch.fail_page(page, "binary", f"{result.final_url} is not HTML (binary content)")
            continue
        if max_elements and (elements := count_elements(body)) > max_elements:
            batch.fail_page(
                page,
                "too_many_elements",
                f"{result.final_url} has {elements:,} tags, more than max_page_elements "
                f"({max_elements:,}); not parsed",
            )
            continue
        # The page's own metadata wins over the feed's date (feeds often give the time of
        # an update); the feed's date fills in when the page states none.
        feed_date = next((e.published_at for e in page.entries if e.published_at), None)
        try:
            content = extract_article(
                body,
                result.final_url,
                encoding=result.charset,
                feed_published=feed_date.replace(tzinfo=UTC) if feed_date else None,
            )
        except ArticleExtractionError as exc:
            batch.fail_page(page, "extraction", str(exc))
            continue
        except Exception as exc:  # an extractor bug must cost this page, not the run
            batch.fail_page(page, "internal_error", f"{type(exc).__name__}: {exc}", False)
            continue
        if max_chars and len(content.text) > max_chars:
            batch.fail_page(
                page,
                "text_too_long",
                f"{result.final_url} gave {len(content.text):,} characters of text, more "
                f"than max_article_chars ({max_chars:,})",
            )
            continue
        canonical = page.canonical_url
        if content.canonical_url:
            with contextlib.suppress(InvalidURL):  # a broken rel=canonical: keep our URL
                canonical = canonicalize_url(content.canonical_url)
        digest = content_hash(content.text)
        existing = (
            known_urls.get(canonical)
            or known_hashes.get(digest)
            or batch_urls.get(canonical)
            or batch_hashes.get(digest)
        )
        if existing:
            batch.duplicates.extend((e, existing) for e in page.entries)
            continue
        article = ArticleRow(
            article_id=article_id_for(canonical),
            canonical_url=canonical,
            url=result.final_url,
            source=page.entries[0].source,
            title=content.title or page.entries[0].title,
            published_at=_naive(content.published_at) or feed_date,
            fetched_at=now,
            content_hash=digest,
            text=content.text,
            extraction_method=content.method,
            extractor_version=None,
            raw_html=compressed if compressed is not None else zlib.compress(body, 6),
        )
        batch_urls[canonical] = article.article_id
        batch_hashes[digest] = article.article_id
        batch.drafts.append(ArticleDraft(article=article, entries=list(page.entries)))

    if batch.drafts:
        extractor = shared_extractor(extractor_pipeline)
        batch.extractor_version = extractor.version
        _extract_claims(batch, extractor)
    return batch


def _extract_claims(batch: ProcessedBatch, extractor: Any) -> None:
    """Claims for every draft; a draft whose extraction raises becomes a failed entry
    (retried next run), and so do the entries of this batch that duplicate it."""
    texts = [d.article.text for d in batch.drafts]
    try:
        extractions = list(extractor.extract_many(texts))
    except Exception:
        extractions = []  # find the culprit(s) one article at a time, below
    if len(extractions) == len(batch.drafts):
        for draft, extraction in zip(batch.drafts, extractions, strict=True):
            draft.extraction = extraction
        return
    kept = []
    for draft in batch.drafts:
        try:
            draft.extraction = extractor.extract(draft.article.text)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            batch.failed.extend((e, f"claims: {message}") for e in draft.entries)
            batch.page_errors.append(
                (draft.entries[0].url, draft.entries[0].source, "claims", message)
            )
            continue
        kept.append(draft)
    lost = {d.article.article_id for d in batch.drafts} - {d.article.article_id for d in kept}
    batch.drafts = kept
    for entry, _existing in [d for d in batch.duplicates if d[1] in lost]:
        batch.failed.append((entry, "claims: the article this entry duplicates failed"))
    batch.duplicates = [d for d in batch.duplicates if d[1] not in lost]


_extractor_lock = threading.Lock()


def shared_extractor(pipeline: str = "") -> ClaimExtractor:
    """The claims extractor of this process, loaded once (a Dask worker with several
    threads must not load the spaCy pipeline once per thread)."""
    with _extractor_lock:
        return get_extractor(pipeline)


def deduplicate(
    processed: ProcessedBatch, known_urls: dict[str, str], known_hashes: dict[str, str]
) -> ProcessedBatch:
    """Settle duplicates against everything stored or drafted so far, then record the
    batch's articles in ``known_urls`` / ``known_hashes``.

    Runs in the flow, in batch order, so the first page of a story wins however the
    batches were extracted (in this process or on Dask workers, in any order). When the
    maps were current at extraction (a sequential run) this finds nothing new.
    """
    drafts: list[ArticleDraft] = []
    duplicates = list(processed.duplicates)
    for draft in processed.drafts:
        art = draft.article
        existing = known_urls.get(art.canonical_url) or known_hashes.get(art.content_hash)
        if existing:
            duplicates.extend((e, existing) for e in draft.entries)
            continue
        known_urls[art.canonical_url] = art.article_id
        known_hashes[art.content_hash] = art.article_id
        drafts.append(draft)
    return dataclasses.replace(processed, drafts=drafts, duplicates=duplicates)


def known_for(pages: Sequence[PageOutcome], known_urls: Mapping[str, str]) -> dict[str, str]:
    """The part of ``known_urls`` that can match these pages before their text is read:
    what a remote extraction is sent instead of the whole map."""
    return {
        p.canonical_url: known_urls[p.canonical_url] for p in pages if p.canonical_url in known_urls
    }


# --- rows ------------------------------------------------------------------------------------


def _event_id(article_id: str, adopter: str, family: str, relation: str) -> str:
    key = f"{article_id}\x1f{adopter.casefold()}\x1f{family.casefold()}\x1f{relation}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def extraction_rows(
    article_id: str,
    article_url: str,
    published_at: datetime | None,
    extraction: Extraction,
    version: str,
    extracted_at: datetime,
) -> tuple[list[EventRow], list[MentionRow]]:
    """Events and mentions of one article.

    One event per (article, adopter, model family, relation): the most confident claim.
    """
    best: dict[str, Any] = {}
    for claim in extraction.claims:
        eid = _event_id(article_id, claim.adopter, claim.model_family, claim.relation)
        if eid not in best or claim.confidence > best[eid].confidence:
            best[eid] = claim
    events = []
    for eid, claim in best.items():
        switch_id = None
        if claim.switch is not None:
            switch_id = hashlib.sha256(
                f"{article_id}\x1f{claim.adopter.casefold()}\x1f{claim.switch}".encode()
            ).hexdigest()[:24]
        events.append(
            EventRow(
                event_id=eid,
                article_id=article_id,
                article_url=article_url,
                adopter=claim.adopter,
                adopter_named=claim.adopter_named,
                model=claim.model,
                model_family=claim.model_family,
                vendor=claim.vendor,
                origin_country=claim.origin_country,
                open_weights=claim.open_weights,
                relation=claim.relation,
                switch_id=switch_id,
                confidence=round(float(claim.confidence), 4),
                evidence=claim.evidence,
                published_at=published_at,
                extracted_at=extracted_at,
                extractor_version=version,
            )
        )
    mentions = [
        MentionRow(
            article_id=article_id,
            model_family=m.model_family,
            model=m.model,
            vendor=m.vendor,
            origin_country=m.origin_country,
            open_weights=m.open_weights,
            sentences=m.sentences,
            published_at=published_at,
            extractor_version=version,
        )
        for m in extraction.mentions
    ]
    return events, mentions


def _entry_row(p: PendingEntry, status: str, article_id: str | None, error: str | None) -> EntryRow:
    attempts = p.attempts + (1 if status in ("stored", "failed", "rejected") else 0)
    return EntryRow(
        source=p.source,
        entry_key=p.key,
        url=p.url,
        title=p.title,
        published_at=p.published_at,
        first_seen_at=p.first_seen_at,
        status=status,
        attempts=attempts,
        last_error=error[:2000] if error else None,
        article_id=article_id,
    )


def fetch_rows(records: Sequence[FetchRecord], run_id: str) -> list[FetchRow]:
    return [
        FetchRow(
            fetch_id=uuid.uuid4().hex,
            run_id=run_id,
            fetched_at=datetime.fromtimestamp(r.started_at, UTC).replace(tzinfo=None),
            source=r.source,
            kind=r.kind,
            url=r.url[:4000],
            final_url=r.final_url,
            status=r.status,
            bytes=r.bytes,
            duration_ms=round(r.duration_ms, 3),
            error_class=r.error_class,
            error=r.error,
        )
        for r in records
    ]


def build_write_batch(processed: ProcessedBatch, version: str | None = None) -> store.WriteBatch:
    """Rows for one batch; ``version`` defaults to the extractor version that made it."""
    batch = store.WriteBatch()
    version = version or processed.extractor_version or ""
    now = utcnow()
    for draft in processed.drafts:
        art = dataclasses.replace(draft.article, extractor_version=version)
        batch.articles.append(art)
        for entry in draft.entries:
            batch.entries.append(_entry_row(entry, "stored", art.article_id, None))
        if draft.extraction is not None:
            events, mentions = extraction_rows(
                art.article_id, art.canonical_url, art.published_at, draft.extraction, version, now
            )
            batch.events.extend(events)
            batch.mentions.extend(mentions)
    for entry, existing in processed.duplicates:
        batch.entries.append(_entry_row(entry, "duplicate", existing, None))
    for entry, error in processed.failed:
        batch.entries.append(_entry_row(entry, "failed", None, error))
    for entry, error in processed.rejected:
        batch.entries.append(_entry_row(entry, "rejected", None, error))
    return batch


def source_update(outcome: FeedOutcome) -> SourceUpdate:
    """The feed's new health and validators. A feed whose new entries passed the per-run
    cap gets no validators: with them the server would answer 304 next time, and the
    entries left over would never be read."""
    result = outcome.result
    keep = result is not None and not outcome.failed and not outcome.backlog
    return SourceUpdate(
        name=outcome.source.name,
        fetched_at=outcome.fetched_at,
        status=result.status if result else None,
        failed=outcome.failed,
        etag=result.etag if keep and result else None,
        last_modified=result.last_modified if keep and result else None,
        error_class=outcome.error_class,
        error=(outcome.error or "")[:2000] or None,
        clear_validators=bool(outcome.backlog),
    )


def write(settings: Settings, batch: store.WriteBatch) -> store.WriteResult:
    with write_session(settings.db, settings.db_lock_timeout) as con:
        return store.write_batch(con, batch, settings.max_consecutive_failures)


def finish_run(settings: Settings, summary: IngestSummary) -> None:
    with write_session(settings.db, settings.db_lock_timeout) as con:
        store.finish_run(con, summary.run_id, summary.finished_at or utcnow(), summary.as_dict())


# --- the driver ---------------------------------------------------------------------------------


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


@dataclass
class IngestSteps:
    """The steps ``run_ingest`` calls; the Prefect flow swaps in task-wrapped versions."""

    prepare: Callable[[Settings, Sequence[SourceSpec]], RunContext] = prepare_run
    fetch_feeds: Callable[..., Awaitable[list[FeedOutcome]]] = fetch_feeds
    fetch_pages: Callable[..., Awaitable[list[PageOutcome]]] = fetch_pages
    extract: Callable[..., Any] = extract_pages
    write: Callable[[Settings, store.WriteBatch], store.WriteResult] = write
    finish: Callable[[Settings, IngestSummary], None] = finish_run
    # Where ``extract`` runs. None: in a thread of this process, given the live dedup
    # maps. Otherwise an awaitable call ``(pages, known_urls, known_hashes, pipeline)``
    # that runs it elsewhere (a Dask cluster), given only :func:`known_for`'s excerpt.
    dispatch_extract: Callable[..., Awaitable[ProcessedBatch]] | None = None
    # Batches extracted at once; more than one only makes sense with a dispatcher.
    extract_in_flight: int = 1


async def run_ingest(
    settings: Settings,
    steps: IngestSteps | None = None,
    progress: Progress | None = None,
    fetcher: Fetcher | None = None,
    lock_held: bool = False,
) -> IngestSummary:
    """One ingest run over every enabled source. Returns the summary; never raises for a
    failed feed or article (those are in the summary and in fetch_log).

    Takes the database's ingest lock (:func:`storage.db.ingest_lock`) unless the caller
    says it holds it already (``lock_held``; the CLI takes it before starting Prefect).
    """
    steps = steps or IngestSteps()
    progress = progress or _NoProgress()
    specs = load_sources(settings.sources)
    if lock_held:
        return await _run_locked(settings, steps, progress, specs, fetcher)
    with ingest_lock(settings.db, wait=settings.ingest_wait):
        return await _run_locked(settings, steps, progress, specs, fetcher)


async def _run_locked(
    settings: Settings,
    steps: IngestSteps,
    progress: Progress,
    specs: Sequence[SourceSpec],
    fetcher: Fetcher | None,
) -> IngestSummary:
    ctx = steps.prepare(settings, specs)
    summary = IngestSummary(run_id=ctx.run_id, started_at=ctx.started_at)
    summary.feeds_total = len(ctx.sources)
    summary.sources_disabled_skipped = len(ctx.skipped_sources)

    async with fetcher or Fetcher(settings) as f:
        select = keep_new_entries(ctx.state.entries, settings.max_entries_per_feed)
        outcomes = await steps.fetch_feeds(f, ctx.sources, progress, select)
        for o in outcomes:
            if o.failed:
                summary.feeds_failed += 1
                summary.failed_sources.append(
                    {
                        "source": o.source.name,
                        "error_class": o.error_class or "",
                        "error": o.error or "",
                    }
                )
            elif o.unchanged:
                summary.feeds_unchanged += 1
            else:
                summary.feeds_fetched += 1
        summary.entries_backlog = sum(o.backlog for o in outcomes)
        planned = plan_entries(outcomes, ctx, settings)
        summary.entries_new = sum(1 for p in planned if p.attempts == 0)
        progress.stage("articles", len(planned))

        # Failed feeds are final now; successful ones wait until their entries are stored.
        failed_updates = [source_update(o) for o in outcomes if o.failed]
        first = store.WriteBatch(source_updates=failed_updates)
        first.fetches = fetch_rows(f.take_records(), ctx.run_id)
        _tally(summary, steps.write(settings, first))

        known_urls = dict(ctx.state.article_ids_by_url)
        known_hashes = dict(ctx.state.article_ids_by_hash)

        # Limits on what extraction accepts (see extract_pages), passed wherever it runs.
        limits = {
            "max_elements": settings.max_page_elements,
            "max_chars": settings.max_article_chars,
        }

        def start_extract(pages: list[PageOutcome]) -> asyncio.Future[ProcessedBatch]:
            if steps.dispatch_extract is None:
                coro = asyncio.to_thread(
                    steps.extract,
                    pages,
                    known_urls,
                    known_hashes,
                    settings.spacy_pipeline,
                    **limits,
                )
            else:
                coro = steps.dispatch_extract(
                    pages, known_for(pages, known_urls), {}, settings.spacy_pipeline, **limits
                )
            return asyncio.ensure_future(coro)

        async def store_batch(extracting: asyncio.Future[ProcessedBatch], urls: set[str]) -> None:
            # In batch order: the first page of a story wins, as in a sequential run.
            processed = deduplicate(await extracting, known_urls, known_hashes)
            batch = build_write_batch(processed)
            for url, source, error_class, error in processed.page_errors:
                f.annotate(url, source, "article", error_class, error)
            # This batch's page fetches (and robots.txt); later batches' pages stay until
            # their content has been judged (annotate), so each row is written complete.
            batch.fetches = fetch_rows(
                f.take_records(lambda r: r.kind != "article" or r.url in urls), ctx.run_id
            )
            summary.articles_duplicate += len(processed.duplicates)
            failures = processed.failed + processed.rejected
            summary.articles_failed += len(failures)
            summary.failed_articles.extend(
                {"source": e.source, "url": e.url, "error": err} for e, err in failures[:50]
            )
            result = await asyncio.to_thread(steps.write, settings, batch)
            _tally(summary, result)

        groups = interleave_hosts(group_by_url(planned).values())
        batches = [
            [e for group in part for e in group]
            for part in chunks(groups, settings.write_batch_size)
        ]
        # Fetching stays in this event loop and runs a few batches ahead of extraction
        # (CPU: a thread, or Dask workers); writes happen here, one batch at a time.
        in_flight: collections.deque[tuple[asyncio.Future[ProcessedBatch], set[str]]] = (
            collections.deque()
        )
        fetched = fetch_ahead(steps.fetch_pages, f, batches, progress)
        try:
            async with contextlib.aclosing(fetched):
                async for pages in fetched:
                    urls = {p.entries[0].url for p in pages}
                    in_flight.append((start_extract(pages), urls))
                    while len(in_flight) >= max(1, steps.extract_in_flight):
                        await store_batch(*in_flight.popleft())
            while in_flight:
                await store_batch(*in_flight.popleft())
        finally:
            for pending, _urls in in_flight:
                pending.cancel()

        last = store.WriteBatch(source_updates=[source_update(o) for o in outcomes if not o.failed])
        last.fetches = fetch_rows(f.take_records(), ctx.run_id)
        _tally(summary, steps.write(settings, last))

    summary.finished_at = utcnow()
    steps.finish(settings, summary)
    return summary


def _tally(summary: IngestSummary, result: store.WriteResult) -> None:
    summary.articles_new += result.articles
    summary.events_new += result.events
    summary.mentions_new += result.mentions
    summary.disabled_sources.extend(result.disabled_sources)


__all__ = [
    "ArticleDraft",
    "FeedOutcome",
    "IngestSteps",
    "IngestSummary",
    "PageOutcome",
    "PendingEntry",
    "RunContext",
    "is_transient",
    "run_ingest",
]
