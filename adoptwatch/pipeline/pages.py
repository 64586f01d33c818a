"""The page gate and the CPU work of an ingest: article text and claims from fetched pages.

:func:`read_page` is the gate every stored page passes, in an ingest and in a
re-extraction alike: binary content, too many tags and too much text are refused before
or after :func:`~adoptwatch.extractors.article.extract_article`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.article import (
    ArticleContent,
    ArticleExtractionError,
    extract_article,
    looks_binary,
)
from adoptwatch.extractors.claims import ClaimExtractor, get_extractor
from adoptwatch.extractors.urls import InvalidURL, canonicalize_url
from adoptwatch.pipeline.clock import naive_utc, utcnow
from adoptwatch.pipeline.crawl import PageOutcome
from adoptwatch.pipeline.rows import (
    ArticleDraft,
    ProcessedBatch,
    article_id_for,
    content_hash,
    stored_title,
)
from adoptwatch.storage.records import ArticleRow

_TAG_START = re.compile(rb"<[A-Za-z!?/]")


class PageRefused(AdoptwatchError):
    """A fetched page is no article we keep; ``error_class`` says why, for fetch_log."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def count_elements(body: bytes) -> int:
    """Tags in a page: a bound on the nodes a parser builds from it."""
    return sum(1 for _ in _TAG_START.finditer(body))


def read_page(
    body: bytes,
    url: str,
    *,
    encoding: str | None = None,
    feed_published: datetime | None = None,
    max_elements: int = 0,
    max_chars: int = 0,
) -> ArticleContent:
    """The page gate: the article in a page, or :class:`PageRefused`.

    Binary pages, pages with more than ``max_elements`` tags and texts longer than
    ``max_chars`` characters (0: no limit) are refused: they are not articles, and
    holding or parsing them is what would make memory grow with what a source sends.
    """
    if looks_binary(body, encoding):
        raise PageRefused("binary", f"{url} is not HTML (binary content)")
    if max_elements and (elements := count_elements(body)) > max_elements:
        raise PageRefused(
            "too_many_elements",
            f"{url} has {elements:,} tags, more than max_page_elements ({max_elements:,}); "
            "not parsed",
        )
    try:
        content = extract_article(body, url, encoding=encoding, feed_published=feed_published)
    except ArticleExtractionError as exc:
        raise PageRefused("extraction", str(exc)) from None
    if max_chars and len(content.text) > max_chars:
        raise PageRefused(
            "text_too_long",
            f"{url} gave {len(content.text):,} characters of text, more than "
            f"max_article_chars ({max_chars:,})",
        )
    return content


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

    Pages the gate (:func:`read_page`) refuses are rejected for good.
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
        # The page's own metadata wins over the feed's date (feeds often give the time of
        # an update); the feed's date fills in when the page states none.
        feed_date = next((e.published_at for e in page.entries if e.published_at), None)
        try:
            content = read_page(
                body,
                result.final_url,
                encoding=result.charset,
                feed_published=feed_date.replace(tzinfo=UTC) if feed_date else None,
                max_elements=max_elements,
                max_chars=max_chars,
            )
        except PageRefused as exc:
            batch.fail_page(page, exc.error_class, str(exc))
            continue
        except Exception as exc:  # an extractor bug must cost this page, not the run
            batch.fail_page(page, "internal_error", f"{type(exc).__name__}: {exc}", False)
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
            title=stored_title(content.title or page.entries[0].title),
            published_at=naive_utc(content.published_at) or feed_date,
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
    titles = [d.article.title or "" for d in batch.drafts]
    try:
        extractions = list(extractor.extract_many(texts, titles))
    except Exception:
        extractions = []  # find the culprit(s) one article at a time, below
    if len(extractions) == len(batch.drafts):
        for draft, extraction in zip(batch.drafts, extractions, strict=True):
            draft.extraction = extraction
        return
    kept = []
    for draft in batch.drafts:
        try:
            draft.extraction = extractor.extract(draft.article.text, draft.article.title or "")
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
