"""Main text, title, publication date and canonical URL of an article page.

trafilatura first; beautifulsoup4 where trafilatura finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import trafilatura
from bs4 import BeautifulSoup

from extractors.dates import parse_date


class ArticleExtractionError(ValueError):
    """No article text could be found in the page."""


@dataclass(frozen=True)
class ArticleContent:
    text: str
    title: str | None
    published_at: datetime | None  # timezone-aware UTC
    canonical_url: str | None  # absolute, from <link rel=canonical> or og:url
    method: str  # which extractor produced the text


MIN_TEXT_CHARS = 40


def _decode(html: bytes | str, encoding: str | None) -> str:
    if isinstance(html, str):
        return html
    for enc in (encoding, "utf-8"):
        if not enc:
            continue
        try:
            return html.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    return html.decode("utf-8", errors="replace")


def _canonical(soup: BeautifulSoup, url: str) -> str | None:
    for link in soup.find_all("link", href=True):
        rel = link.get("rel") or []
        rels = rel if isinstance(rel, list) else str(rel).split()
        if "canonical" in [r.lower() for r in rels]:
            return urljoin(url, str(link["href"]).strip())
    og = soup.find("meta", attrs={"property": "og:url"})
    if og and og.get("content"):
        return urljoin(url, str(og["content"]).strip())
    return None


def _bs4_text(soup: BeautifulSoup) -> str:
    root = soup.find("article") or soup.find("main") or soup.body or soup
    for tag in root.find_all(["script", "style", "nav", "aside", "footer", "header", "form"]):
        tag.decompose()
    paragraphs = [p.get_text(" ", strip=True) for p in root.find_all(["p", "h2", "h3", "li"])]
    return "\n".join(p for p in paragraphs if p)


def extract_article(html: bytes | str, url: str, encoding: str | None = None) -> ArticleContent:
    """Extract an article; raises :class:`ArticleExtractionError` when there is no body text."""
    markup = _decode(html, encoding)
    soup = BeautifulSoup(markup, "lxml")
    canonical = _canonical(soup, url)

    text = trafilatura.extract(
        markup, url=url, include_comments=False, include_tables=False, favor_precision=False
    )
    method = "trafilatura"
    if not text or len(text) < MIN_TEXT_CHARS:
        text = _bs4_text(BeautifulSoup(markup, "lxml"))
        method = "bs4"
    if not text or len(text.strip()) < MIN_TEXT_CHARS:
        raise ArticleExtractionError(f"no article text found in {url}")

    meta = trafilatura.extract_metadata(markup, default_url=url)
    title = meta.title if meta and meta.title else None
    if not title and soup.title and soup.title.string:
        title = soup.title.string.strip()
    published = parse_date(meta.date) if meta and meta.date else None
    if published and published > datetime.now(UTC):
        published = None
    return ArticleContent(
        text=text.strip(), title=title, published_at=published, canonical_url=canonical, method=method
    )
