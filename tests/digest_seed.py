"""A small event log, written through storage.store.write_batch into a real DuckDB file.

The digest week is 2026-W48 (Mon 23 Nov – Sun 29 Nov 2026); W47 is the week before.
Sentences are written for these tests.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from adoptwatch.storage.db import write_session
from adoptwatch.storage.records import ArticleRow, EventRow, MentionRow
from adoptwatch.storage.store import WriteBatch, write_batch

WEEK = "2026-W48"
EXTRACTOR = "claims-test"

CATALOG = {
    "Qwen": ("Alibaba", "CN", True),
    "DeepSeek": ("DeepSeek", "CN", True),
    "Kimi": ("Moonshot AI", "CN", True),
    "GLM": ("Zhipu AI", "CN", True),
    "GPT": ("OpenAI", "US", False),
    "Claude": ("Anthropic", "US", False),
    "Llama": ("Meta", "US", True),
    "Mistral": ("Mistral AI", "FR", True),
}

SCRIPT_SENTENCE = (
    'Canva said <script>alert("x")</script> it now runs DeepSeek for design drafts.\r\n'
    "Bcc: evil@example.com"
)


def article(article_id: str, title: str, published: datetime | None) -> ArticleRow:
    return ArticleRow(
        article_id=article_id,
        canonical_url=f"https://news.example.com/{article_id}",
        url=f"https://news.example.com/{article_id}?utm_source=feed",
        source="example-news",
        title=title,
        published_at=published,
        fetched_at=published or datetime(2026, 11, 26, 12, 0),
        content_hash=hashlib.sha256(article_id.encode()).hexdigest(),
        text=f"Body of {article_id}.",
        extraction_method="test",
        extractor_version=EXTRACTOR,
    )


def event(
    article_id: str,
    adopter: str,
    family: str,
    relation: str,
    evidence: str,
    published: datetime | None,
    *,
    extracted: datetime = datetime(2026, 12, 1, 8, 0),
    switch_id: str | None = None,
    named: bool = True,
    confidence: float = 0.9,
    url: str | None = None,
) -> EventRow:
    vendor, origin, open_weights = CATALOG[family]
    key = f"{article_id}|{adopter}|{family}|{relation}"
    return EventRow(
        event_id=hashlib.sha256(key.encode()).hexdigest()[:20],
        article_id=article_id,
        article_url=url or f"https://news.example.com/{article_id}",
        adopter=adopter,
        adopter_named=named,
        model=f"{family}-model",
        model_family=family,
        vendor=vendor,
        origin_country=origin,
        open_weights=open_weights,
        relation=relation,
        switch_id=switch_id,
        confidence=confidence,
        evidence=evidence,
        published_at=published,
        extracted_at=extracted,
        extractor_version=EXTRACTOR,
    )


def mention(article_id: str, family: str, sentences: int, published: datetime | None) -> MentionRow:
    vendor, origin, open_weights = CATALOG[family]
    return MentionRow(
        article_id=article_id,
        model_family=family,
        model=f"{family}-model",
        vendor=vendor,
        origin_country=origin,
        open_weights=open_weights,
        sentences=sentences,
        published_at=published,
        extractor_version=EXTRACTOR,
    )


def seed(db: Path) -> None:
    """The event log most tests read. Expected figures for 2026-W48 are in the tests."""
    w40 = datetime(2026, 10, 1, 10, 0)
    w47 = datetime(2026, 11, 18, 9, 0)
    w48 = datetime(2026, 11, 24, 15, 30)
    w49 = datetime(2026, 12, 1, 9, 0)
    articles = [
        article("a-old", "Stripe picks Claude for support", w40),
        article("a-prev", "Notion and Shopify pick their models", w47),
        article("a-airbnb", "Airbnb <b>swaps</b> its assistant model", w48),
        article("a-stripe", "Stripe expands Claude use", w48),
        article("a-canva", "Canva's new design drafts", w48),
        article("a-canva2", "Canva retires Llama", w48),
        article("a-misc", "A week of model news", w48),
        article("a-undated", "Duolingo on Mistral", None),
        article("a-next", "Next week's story", w49),
    ]
    events = [
        event(
            "a-old", "Stripe", "Claude", "adopts", "Stripe moved its support bot to Claude.", w40
        ),
        event("a-prev", "Notion", "GPT", "adopts", "Notion built its AI writer on GPT.", w47),
        event("a-prev", "Shopify", "Qwen", "adopts", "Shopify now serves Qwen to merchants.", w47),
        # The case that started the project: one sentence, two linked events.
        event(
            "a-airbnb",
            "Airbnb",
            "GPT",
            "drops",
            "Airbnb replaced ChatGPT with Qwen in its customer-service agent.",
            w48,
            switch_id="sw-airbnb",
        ),
        event(
            "a-airbnb",
            "Airbnb",
            "Qwen",
            "adopts",
            "Airbnb replaced ChatGPT with Qwen in its customer-service agent.",
            w48,
            switch_id="sw-airbnb",
        ),
        event(
            "a-stripe",
            "Stripe",
            "Claude",
            "adopts",
            "Stripe now routes refunds through Claude.",
            w48,
        ),
        event("a-canva", "Canva", "DeepSeek", "adopts", SCRIPT_SENTENCE, w48, confidence=0.8),
        # A drop with no switch_id, the same week: a switch Llama -> DeepSeek by week rule.
        event("a-canva2", "Canva", "Llama", "drops", "Canva stopped hosting Llama models.", w48),
        event(
            "a-misc",
            "Zapier",
            "Qwen",
            "adopts",
            "Zapier added Qwen as its default model.",
            w48,
            confidence=0.95,
        ),
        event("a-misc", "Shopify", "Qwen", "adopts", "Shopify doubled its Qwen usage.", w48),
        event(
            "a-misc",
            "many US startups",
            "Kimi",
            "adopts",
            "Many US startups are quietly adopting Kimi.",
            w48,
            named=False,
        ),
        event("a-misc", "Figma", "GLM", "evaluates", "Figma is testing GLM for layout hints.", w48),
        # No published date: counted in the week it was extracted (W48).
        event(
            "a-undated",
            "Duolingo",
            "Mistral",
            "adopts",
            "Duolingo serves lesson hints with Mistral.",
            None,
            extracted=datetime(2026, 11, 27, 6, 0),
        ),
        # Published in W49 although extracted in W48: belongs to W49.
        event(
            "a-next",
            "Lyft",
            "GPT",
            "adopts",
            "Lyft moved dispatch notes to GPT.",
            w49,
            extracted=datetime(2026, 11, 28, 6, 0),
        ),
    ]
    mentions = [
        mention("a-airbnb", "Qwen", 4, w48),
        mention("a-airbnb", "GPT", 2, w48),
        mention("a-misc", "Qwen", 1, w48),
        mention("a-misc", "GPT", 6, w48),
        mention("a-misc", "Kimi", 2, w48),
        mention("a-canva", "DeepSeek", 3, w48),
        mention("a-stripe", "GPT", 1, w48),
        mention("a-undated", "Mistral", 2, None),  # dated by the article's fetch time (W48)
        mention("a-prev", "GPT", 9, w47),
    ]
    with write_session(db) as con:
        write_batch(con, WriteBatch(articles=articles, events=events, mentions=mentions))
