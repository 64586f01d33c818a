"""Re-run the current claims extractor over stored article text (no re-crawl), and with
``from_pages`` the article extractor first, over the stored page bytes, through the same
page gate as an ingest (:func:`adoptwatch.pipeline.pages.read_page`)."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from adoptwatch.extractors.claims import get_extractor
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.pipeline.crawl import chunks
from adoptwatch.pipeline.pages import PageRefused, read_page
from adoptwatch.pipeline.progress import NoProgress, Progress
from adoptwatch.pipeline.rows import (
    EventKey,
    content_hash,
    event_key,
    extraction_rows,
    stored_title,
)
from adoptwatch.settings import Settings
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, write_session


@dataclass
class ReextractReport:
    extractor_version: str
    articles: int = 0
    events_before: int = 0
    events_after: int = 0
    added: Counter[str] = field(default_factory=Counter)  # by relation
    removed: Counter[str] = field(default_factory=Counter)
    examples_added: list[dict[str, Any]] = field(default_factory=list)
    examples_removed: list[dict[str, Any]] = field(default_factory=list)
    texts_changed: int = 0  # with from_pages: articles whose text the pages now give differently
    pages_failed: int = 0  # with from_pages: pages that gave no text (the old text is kept)

    @property
    def unchanged(self) -> int:
        return self.events_after - sum(self.added.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "extractor_version": self.extractor_version,
            "articles": self.articles,
            "events_before": self.events_before,
            "events_after": self.events_after,
            "added": dict(self.added),
            "removed": dict(self.removed),
            "unchanged": self.unchanged,
            "texts_changed": self.texts_changed,
            "pages_failed": self.pages_failed,
        }


def reextract(
    settings: Settings,
    include_current: bool = False,
    batch_size: int = 200,
    progress: Progress | None = None,
    examples: int = 10,
    from_pages: bool = False,
) -> ReextractReport:
    """Replace events and mentions that older extractor versions produced.

    With ``include_current`` every article is re-extracted. With ``from_pages`` (which
    implies it) the article text is first extracted again from the stored page bytes
    (``articles.raw_html``), for when the article extractor improved. The database is
    opened only for short reads and one write transaction per batch.
    """
    progress = progress or NoProgress()
    extractor = get_extractor(settings.spacy_pipeline)
    report = ReextractReport(extractor_version=extractor.version)
    with read_session(settings.db, settings.db_lock_timeout) as con:
        ids = store.article_ids_for_reextract(con, extractor.version, include_current or from_pages)
    report.articles = len(ids)
    progress.stage("re-extracting", len(ids))
    for part in chunks(ids, batch_size):
        with read_session(settings.db, settings.db_lock_timeout) as con:
            rows = store.article_texts(con, part)
            titles = store.article_titles(con, part)
            old = store.events_of_articles(con, part)
            pages = store.article_pages(con, part) if from_pages else {}
        texts: list[store.TextUpdate] = []
        if from_pages:
            rows, texts = _texts_from_pages(rows, pages, report, settings)
        now = utcnow()
        new_events, new_mentions = [], []
        for (article_id, url, _text, published_at), extraction in zip(
            rows,
            extractor.extract_many((r[2] for r in rows), (titles.get(r[0], "") for r in rows)),
            strict=True,
        ):
            events, mentions = extraction_rows(
                article_id, url, published_at, extraction, extractor.version, now
            )
            new_events.extend(events)
            new_mentions.extend(mentions)
        with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
            store.replace_extraction(
                con, part, new_events, new_mentions, extractor.version, texts=texts
            )

        before: dict[EventKey, Any] = {
            event_key(
                e["article_id"], e["adopter"], e["model_family"], e["relation"], e["vendor_level"]
            ): e
            for e in old
        }
        after = {
            event_key(e.article_id, e.adopter, e.model_family, e.relation, e.vendor_level): e
            for e in new_events
        }
        report.events_before += len(before)
        report.events_after += len(after)
        for k in after.keys() - before.keys():
            report.added[k[3]] += 1
            if len(report.examples_added) < examples:
                e = after[k]
                report.examples_added.append(
                    {
                        "adopter": e.adopter,
                        "model": e.model,
                        "relation": e.relation,
                        "evidence": e.evidence,
                        "article_url": e.article_url,
                    }
                )
        for k in before.keys() - after.keys():
            report.removed[k[3]] += 1
            if len(report.examples_removed) < examples:
                e = before[k]
                report.examples_removed.append(
                    {
                        "adopter": e["adopter"],
                        "model": e["model"],
                        "relation": e["relation"],
                        "evidence": e["evidence"],
                        "article_url": e["article_url"],
                    }
                )
        progress.advance(len(part))
    return report


def _texts_from_pages(
    rows: list[tuple[str, str, str, Any]],
    pages: dict[str, tuple[str, bytes | None]],
    report: ReextractReport,
    settings: Settings,
) -> tuple[list[tuple[str, str, str, Any]], list[store.TextUpdate]]:
    """Article text extracted again from each stored page; the old text where the page is
    missing or the gate refuses it now."""
    out, updates = [], []
    for article_id, url, old_text, published_at in rows:
        final_url, raw = pages.get(article_id, (url, None))
        text = old_text
        try:
            if raw is None:
                raise PageRefused("extraction", "no stored page")
            content = read_page(
                zlib.decompress(raw),
                final_url,
                max_elements=settings.max_page_elements,
                max_chars=settings.max_article_chars,
            )
        except (PageRefused, zlib.error):
            report.pages_failed += 1
        else:
            text = content.text
            if text != old_text:
                report.texts_changed += 1
                updates.append(
                    store.TextUpdate(
                        article_id,
                        text,
                        stored_title(content.title),
                        content_hash(text),
                        content.method,
                    )
                )
        out.append((article_id, url, text, published_at))
    return out, updates
