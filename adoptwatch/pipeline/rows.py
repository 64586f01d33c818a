"""Row mapping: what a batch of pages becomes in the event log, and the identity rules.

Each identity is spelled once: an article is its canonical URL (:func:`article_id_for`),
a text its normalised content (:func:`content_hash`), an event its
(article, adopter, model family, relation, vendor-level) (:func:`event_key`, :func:`event_id`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adoptwatch.extractors.claims import Claim, Extraction
from adoptwatch.extractors.outlets import outlet_of
from adoptwatch.extractors.story_signatures import story_signature
from adoptwatch.fetch import FetchRecord
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.pipeline.crawl import FeedOutcome, PageOutcome, PendingEntry
from adoptwatch.plain_text import clean_text
from adoptwatch.storage import store
from adoptwatch.storage.records import (
    ArticleRow,
    EntryRow,
    EventRow,
    FetchRow,
    MentionRow,
    SourceUpdate,
    StorySignatureRow,
)


def _digest(text: str, length: int | None = 24) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def stored_title(title: str | None) -> str | None:
    """A title as stored: one line without control characters (a page's ``&#27;[5m``
    would otherwise be a real ESC in the database and on a terminal), or None."""
    return clean_text(title) or None


def article_id_for(canonical_url: str) -> str:
    """An article is its canonical URL."""
    return _digest(canonical_url)


def content_hash(text: str) -> str:
    """A text is its words: whitespace and case do not make another story."""
    return _digest(re.sub(r"\s+", " ", text).strip().lower(), None)


EventKey = tuple[str, ...]


def event_key(
    article_id: str, adopter: str, model_family: str, relation: str, vendor_level: bool = False
) -> EventKey:
    """An event is (article, adopter, model family, relation, vendor-level), names compared
    casefolded: an article reporting one adoption twice is one event. "Adopts DeepSeek"
    (the vendor) and "adopts DeepSeek-V3" (the family) are two events. A model-level key
    keeps the four parts it always had, so stored event ids stay what they were."""
    key = (article_id, adopter.casefold(), model_family.casefold(), relation)
    return (*key, "vendor") if vendor_level else key


def event_family(claim: Claim) -> str:
    """The model family an event is filed under: the vendor's name when no model is named."""
    return claim.vendor if claim.vendor_level else claim.model_family


def event_id(key: EventKey) -> str:
    return _digest("\x1f".join(key))


def switch_id(article_id: str, adopter: str, switch: int) -> str:
    """The drop and the adoption of one switch share this id."""
    return _digest(f"{article_id}\x1f{adopter.casefold()}\x1f{switch}")


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


def extraction_rows(
    article_id: str,
    article_url: str,
    published_at: datetime | None,
    extraction: Extraction,
    version: str,
    extracted_at: datetime,
) -> tuple[list[EventRow], list[MentionRow]]:
    """Events and mentions of one article.

    One event per (article, adopter, model family, relation): the most confident claim. A
    claim that names only the vendor ("powered by OpenAI") is stored with the vendor's name
    as its model family, so every view that groups by family shows it as the vendor.
    """
    best: dict[str, Any] = {}
    for claim in extraction.claims:
        family = event_family(claim)
        key = event_key(article_id, claim.adopter, family, claim.relation, claim.vendor_level)
        eid = event_id(key)
        if eid not in best or claim.confidence > best[eid].confidence:
            best[eid] = claim
    events = []
    for eid, claim in best.items():
        switch = None
        if claim.switch is not None:
            switch = switch_id(article_id, claim.adopter, claim.switch)
        events.append(
            EventRow(
                event_id=eid,
                article_id=article_id,
                article_url=article_url,
                adopter=claim.adopter,
                adopter_named=claim.adopter_named,
                model=claim.model,
                model_family=event_family(claim),
                vendor=claim.vendor,
                origin_country=claim.origin_country,
                open_weights=claim.open_weights,
                relation=claim.relation,
                switch_id=switch,
                confidence=round(float(claim.confidence), 4),
                evidence=claim.evidence,
                published_at=published_at,
                extracted_at=extracted_at,
                extractor_version=version,
                vendor_level=claim.vendor_level,
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
        title=stored_title(p.title),
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
        art = dataclasses.replace(
            draft.article, extractor_version=version, outlet=outlet_of(draft.article.canonical_url)
        )
        batch.articles.append(art)
        batch.signatures[art.article_id] = signature_row(art.article_id, art.text)
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


def signature_row(article_id: str, text: str) -> StorySignatureRow:
    """The article's near-duplicate signature, as storage.clusters stores it."""
    signature = story_signature(text)
    return StorySignatureRow(article_id, signature.minhash, signature.band_hashes)


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
