"""Main text, title, publication date and canonical URL of an article page.

CONTRACT (the crawler relies on exactly this):
``extract_article(html, url, encoding=None, *, feed_published=None, strategy="ensemble")``
returns an :class:`ArticleContent`, or raises :class:`ArticleExtractionError` (a
``ValueError``) when the page holds no article text. It raises nothing else, whatever the
bytes: binary garbage, broken markup, a wrong charset and huge pages all end as
:class:`ArticleExtractionError`.

How the text is found (``strategy="ensemble"``, the default): three boilerplate removers
that work in different ways each extract the page -- trafilatura (precision mode, without
its own fallbacks, which are the other two), readability-lxml (arc90's scoring of
text-dense nodes) and jusText (stop-word density per paragraph, in the page's language) --
and a paragraph is kept when a majority of those that found any text found it. One
extractor's mistake (a "related stories" box, a cookie banner, an article split over
several containers that it only half took) is outvoted by the other two. Paragraphs keep
trafilatura's order; those only the others found go where they stand in the page.
``text`` keeps the headline when the page repeats it atop the body (it often states the
claim); ``body`` drops it, as the ``title`` holds it.

``strategy="trafilatura"`` is trafilatura alone (precision mode), ``"fast"`` trafilatura
without its fallbacks; ``benchmarks/article_extraction.py`` measures all three.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import html as html_entities
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urldefrag, urljoin, urlsplit

import justext
import justext.core
import lxml.html
import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from readability import Document as ReadabilityDocument
from trafilatura.settings import JUSTEXT_LANGUAGES

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.dates import (
    choose_published,
    heuristic_published,
    json_ld_objects,
    labelled_published,
    metadata_published,
)

LOG = logging.getLogger(__name__)
T = TypeVar("T")

STRATEGIES = ("ensemble", "trafilatura", "fast")

# Text shorter than this is not an article (a teaser, an error page, a consent wall).
MIN_TEXT_CHARS = 40
# An extractor whose output is shorter than this abstains from the vote: it found
# nothing, and nothing cannot outvote the others.
MIN_VOTER_CHARS = 100
# A paragraph counts as found by another extractor when at least this share of its word
# trigrams is in that extractor's text (extractors split and trim paragraphs differently).
PARAGRAPH_AGREEMENT = 0.5
# Pages are cut to this many characters before extraction: nothing readable is longer,
# and the extractors' cost grows with the page.
MAX_MARKUP_CHARS = 4_000_000
# Readability and jusText vote only on pages up to this size; beyond, their cost (jusText's
# grows faster than linearly) buys little, and trafilatura alone extracts.
ENSEMBLE_MAX_CHARS = 2_000_000
# jusText abstains on pages cut into more blocks than this (a table of thousands of cells).
JUSTEXT_MAX_PARAGRAPHS = 3000
# Bytes that look binary: share of control characters in the first BINARY_WINDOW bytes
# beyond which the body is not text at all (images, archives, PDFs served as text/html).
# The ingest's page gate and extract_article both ask looks_binary.
BINARY_WINDOW = 4096
MAX_CONTROL_SHARE = 0.02
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")


class ArticleExtractionError(AdoptwatchError):
    """No article text could be found in the page (or the page is not HTML at all)."""


@dataclass(frozen=True)
class ArticleContent:
    # The main text claims are read from: the article's paragraphs in page order, led by
    # its headline when the page repeats the headline atop the body.
    text: str
    title: str | None
    published_at: datetime | None  # timezone-aware UTC
    canonical_url: str | None  # absolute, from <link rel=canonical> or og:url
    method: str  # which extractor(s) produced the text, e.g. "vote:trafilatura+readability+justext"
    # "page-metadata", "feed", "page-text", "page-heuristic" (see extractors.dates) or None
    date_source: str | None = None
    language: str | None = None  # the page's declared language (ISO 639-1), if any
    encoding: str | None = None  # the charset the bytes were decoded with
    extractors: tuple[str, ...] = field(default=())  # extractors that produced text
    # ``text`` without a first line that repeats the headline: the article body proper (what
    # the article-extraction benchmark scores as "articleBody")
    body: str = ""


# --- decoding --------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
# C0 controls other than tab, newline, carriage return; lone surrogates. lxml refuses both.
_UNPARSEABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels browsers read as windows-1252 (the WHATWG Encoding Standard).
_WINDOWS_1252_LABELS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "ascii", "us-ascii"}


def _codec(label: str | bytes | None) -> str | None:
    if not label:
        return None
    name = label.decode("ascii", "ignore") if isinstance(label, bytes) else label
    name = name.strip().strip("\"'").lower()
    if name in _WINDOWS_1252_LABELS:
        name = "cp1252"
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # Only real text encodings (not rot13, base64 and other codecs that "decode" bytes).
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _valid_utf8_beyond_ascii(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_multibyte(codec_name: str) -> bool:
    """Whether a codec can write CJK text at all (no single-byte code page can)."""
    try:
        return bool("\u4e00".encode(codec_name, errors="ignore"))
    except LookupError:
        return False


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if ord(c) > 127 and c.isalpha()]
    latin = sum(1 for c in letters if "\u00c0" <= c <= "\u024f")
    return latin * 2 >= len(letters)


def decode_html(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode page bytes: byte-order mark, then the charset declared by HTTP (``encoding``),
    then ``<meta charset>``, then UTF-8, then detection; returns ``(text, codec name)``.

    A page declared as Latin-1/windows-1252 whose bytes are valid UTF-8 beyond ASCII is
    read as UTF-8: servers default to the former, and such bytes are UTF-8 in practice.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace"), name
    declared = _codec(encoding)
    match = _META_CHARSET.search(data[:8192])
    in_page = _codec(match.group(1)) if match else None
    for name in (declared, in_page, "utf-8"):
        if not name:
            continue
        if name in ("cp1252", "iso8859-1") and _valid_utf8_beyond_ascii(data):
            name = "utf-8"
        try:
            return data.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    # Mostly UTF-8 with a few broken bytes (truncated or spliced pages).
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") <= max(3, len(text) // 1000):
        return text, "utf-8"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        if best is not None and best.encoding:
            guess = data.decode(best.encoding, errors="replace")
            # Detection cannot tell the single-byte Latin code pages apart on little text;
            # Latin text in one of them is windows-1252 on the web (browsers' default too).
            if not _is_multibyte(best.encoding) and _mostly_latin(guess):
                with contextlib.suppress(UnicodeDecodeError):
                    return data.decode("cp1252"), "cp1252"
            return guess, best.encoding
    except Exception:  # detection is best effort; windows-1252 below never fails
        LOG.debug("charset detection failed", exc_info=True)
    return data.decode("cp1252", errors="replace"), "cp1252"


def looks_binary(data: bytes, encoding: str | None = None) -> bool:
    """Images, archives, PDFs or noise served as HTML: control bytes (other than tab, LF,
    FF, CR) make up more than ``MAX_CONTROL_SHARE`` of the first ``BINARY_WINDOW`` bytes.

    Decoded, such bytes become megabytes of replacement characters that an extractor
    would happily call article text. UTF-16 and UTF-32 (a byte-order mark, or the
    ``encoding`` declared) are full of NUL bytes and are not binary.
    """
    wide = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        _codec(encoding) or ""
    ).startswith(("utf-16", "utf-32"))
    head = data[:BINARY_WINDOW]
    if wide or not head:
        return False
    return len(_CONTROL_BYTES.findall(head)) > len(head) * MAX_CONTROL_SHARE


def _clean_markup(markup: str) -> str:
    markup = _XML_DECLARATION.sub("", markup[:MAX_MARKUP_CHARS], count=1)
    return _UNPARSEABLE.sub("", markup)


# --- the page's own statements: canonical URL, title, language --------------------------


def _http_url(candidate: str | None, base: str) -> str | None:
    if not candidate or not candidate.strip():
        return None
    try:
        absolute = urldefrag(urljoin(base, candidate.strip())).url
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _canonical(tree: HtmlElement, url: str) -> str | None:
    base = url
    base_href = tree.xpath("//base/@href")
    if base_href:
        base = _http_url(str(base_href[0]), url) or url
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels:
            found = _http_url(link.get("href"), base)
            if found:
                return found
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").strip().lower() == "og:url":
            found = _http_url(meta.get("content"), base)
            if found:
                return found
    return None


def _words(text: str | None) -> str:
    return " ".join(re.findall(r"\w+", (text or "").lower()))


def _meta_content(tree: HtmlElement, *keys: str) -> str | None:
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").strip().lower()
        if key in keys and (meta.get("content") or "").strip():
            return " ".join(meta.get("content").split())
    return None


_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—·:»]+\s+")


def _without_site_name(title: str, site_names: set[str], *, guess: bool) -> str:
    """ "Headline | Site" -> "Headline" when the site's name is known; with ``guess``, the
    longest part when it is not."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    kept = [p for p in parts if _words(p) not in site_names]
    if kept and len(kept) < len(parts):
        return " - ".join(kept)
    return max(parts, key=len) if guess else title


def _title(tree: HtmlElement, json_ld: list[dict]) -> str | None:
    """The headline: the article's <h1> when the page's metadata agrees with it, else the
    metadata headline (JSON-LD, og:title), else <title>; without the site name."""
    headlines = [
        str(obj["headline"]).strip()
        for obj in json_ld
        if isinstance(obj.get("headline"), str) and obj["headline"].strip()
    ]
    declared = headlines[:1] + [t for t in [_meta_content(tree, "og:title", "twitter:title")] if t]
    # metadata is often escaped twice ("&amp;#8217;"): unescape what the parser left
    declared = [" ".join(html_entities.unescape(t).split()) for t in declared]
    page_title = " ".join(html_entities.unescape(tree.findtext(".//title") or "").split()) or None
    # The site's name: og:site_name, and the parts of "Headline | Site" in <title> that the
    # declared headline lacks (a logo in an <h1> matches <title> too, but is no headline).
    site_names = {_words(_meta_content(tree, "og:site_name", "application-name"))} - {""}
    if page_title and declared:
        headline_words = f" {_words(declared[0])} "
        site_names |= {
            _words(part)
            for part in _TITLE_SEPARATORS.split(page_title)
            if _words(part) and f" {_words(part)} " not in headline_words
        }
    h1s = [" ".join(h.text_content().split()) for h in tree.iter("h1")]
    h1s = [h for h in h1s if h and _words(h) not in site_names]
    # The <h1> that covers most of a stated title (a logo <h1> covers only the site's part).
    best, best_share = None, 0.0
    for h1 in h1s:
        words = _words(h1)
        for stated in (_words(t) for t in [*declared, page_title] if t):
            if words and f" {words} " in f" {stated} ":
                share = len(words) / len(stated)
                if share > best_share:
                    best, best_share = h1, share
    if best is not None:
        return best
    if declared:
        return _without_site_name(declared[0], site_names, guess=False)
    if page_title:
        return _without_site_name(page_title, site_names, guess=True)
    return h1s[0] if h1s else None


def _language(tree: HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        lang = _meta_content(tree, "content-language", "og:locale", "language")
    if not lang:
        return None
    code = re.split(r"[-_]", lang.strip().lower())[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


# --- the extractors --------------------------------------------------------------------


def _trafilatura(markup: str, url: str, *, precision: bool, fallbacks: bool) -> str:
    text = trafilatura.extract(
        markup,
        url=url,
        include_comments=False,
        favor_precision=precision,
        fast=not fallbacks,
        with_metadata=False,
    )
    return text or ""


_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd"}
    | {"blockquote", "pre", "table", "tr", "td", "th", "br", "hr", "section", "article"}
    | {"header", "footer", "figure", "figcaption", "aside", "main"}
)


def _block_text(root: HtmlElement) -> str:
    """Text of an element, one line per block (paragraph, heading, list item, cell)."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCK_TAGS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def _readability(markup: str) -> str:
    # no url: readability would spend a fifth of its time making links absolute
    summary = ReadabilityDocument(markup).summary(html_partial=True)
    if not summary or not summary.strip():
        return ""
    return _block_text(lxml.html.fragment_fromstring(summary, create_parent="div"))


@lru_cache(maxsize=1)
def _all_stopwords() -> frozenset[str]:
    return frozenset(w for lang in justext.get_stoplists() for w in justext.get_stoplist(lang))


@lru_cache(maxsize=64)
def _stopwords(language: str | None) -> frozenset[str]:
    if language in JUSTEXT_LANGUAGES:
        return frozenset(justext.get_stoplist(JUSTEXT_LANGUAGES[language]))
    return _all_stopwords()


# What jusText's own preprocessor removes (scripts, styles, the head, embedded objects,
# form controls), without its lxml Cleaner pass, which costs more than the classification.
_JUSTEXT_DROP = ("script", "style", "head", "noscript", "embed", "object", "applet", "iframe")
_JUSTEXT_DROP_FORMS = ("param", "button", "input", "select", "textarea")


def _justext(tree: HtmlElement, language: str | None) -> str:
    dom = copy.deepcopy(tree)
    etree.strip_elements(dom, etree.Comment, *_JUSTEXT_DROP, *_JUSTEXT_DROP_FORMS, with_tail=False)
    etree.strip_tags(dom, "form")
    paragraphs = justext.core.ParagraphMaker.make_paragraphs(dom)
    if len(paragraphs) > JUSTEXT_MAX_PARAGRAPHS:
        return ""
    justext.core.classify_paragraphs(paragraphs, _stopwords(language))
    justext.core.revise_paragraph_classification(paragraphs)
    texts = (p.text for p in paragraphs if not p.is_boilerplate)
    return "\n".join(t for t in texts if t.strip())


# --- the vote --------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _fingerprint(text: str) -> frozenset[tuple[str, ...]]:
    """Word trigrams of a paragraph (the whole paragraph when it is shorter)."""
    tokens = _tokens(text)
    if len(tokens) < 3:
        return frozenset([tuple(tokens)]) if tokens else frozenset()
    return frozenset(tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2))


class _Extraction:
    """One extractor's text, split into paragraphs, with its word trigrams."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
        self.fingerprints = [_fingerprint(p) for p in self.paragraphs]
        tokens = _tokens(text)
        self.trigrams = {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}
        self.joined = f" {' '.join(tokens)} "

    def contains(self, fingerprint: frozenset[tuple[str, ...]]) -> bool:
        if len(fingerprint) == 1:
            (gram,) = fingerprint
            if len(gram) < 3:  # a paragraph of one or two words
                return f" {' '.join(gram)} " in self.joined
        return bool(fingerprint) and (
            len(fingerprint & self.trigrams) >= PARAGRAPH_AGREEMENT * len(fingerprint)
        )


def majority_vote(extractions: Iterable[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """Merge extractor outputs ``(name, text)``, the first being the backbone: keep each
    paragraph that a majority of the extractors with text found. Returns the merged text
    and the names of the extractors that voted."""
    voters = [_Extraction(n, t) for n, t in extractions if len(t.strip()) >= MIN_VOTER_CHARS]
    if not voters:
        return "", ()
    names = tuple(v.name for v in voters)
    if len(voters) == 1:
        return voters[0].text.strip(), names
    need = len(voters) // 2 + 1
    backbone = voters[0]

    def votes(fingerprint: frozenset[tuple[str, ...]]) -> int:
        return sum(1 for v in voters if v.contains(fingerprint))

    # (position in the backbone, order of discovery, paragraph)
    kept: list[tuple[float, int, str]] = [
        (i, 0, p)
        for i, (p, fp) in enumerate(zip(backbone.paragraphs, backbone.fingerprints, strict=True))
        if votes(fp) >= need
    ]
    # Where a trigram first occurs in the backbone, to place paragraphs it lacks.
    first_paragraph: dict[tuple[str, ...], int] = {}
    for i, fp in enumerate(backbone.fingerprints):
        for gram in fp:
            first_paragraph.setdefault(gram, i)
    added: list[frozenset[tuple[str, ...]]] = []
    order = 0
    for other in voters[1:]:
        anchor = -1.0
        for paragraph, fp in zip(other.paragraphs, other.fingerprints, strict=True):
            if not fp:
                continue
            if backbone.contains(fp):
                places = Counter(first_paragraph[g] for g in fp if g in first_paragraph)
                if places:
                    anchor = float(places.most_common(1)[0][0])
                continue
            if votes(fp) < need or any(len(fp & a) >= 0.8 * len(fp) for a in added):
                continue
            order += 1
            added.append(fp)
            kept.append((anchor + 0.5, order, paragraph))
    kept.sort(key=lambda item: (item[0], item[1]))
    return "\n".join(p for _, _, p in kept), names


def _drop_headline(text: str, headlines: Iterable[str | None]) -> str:
    """Drop a first line that repeats the headline (it is the title, not the body)."""
    first, _, rest = text.partition("\n")
    wanted = {_words(h) for h in headlines if h and _words(h)}
    if _words(first) in wanted and len(rest.strip()) >= MIN_TEXT_CHARS:
        return rest.strip()
    return text


def _paragraphs_fallback(tree: HtmlElement) -> str:
    """Last resort: the paragraphs of <article>, <main> or <body>, without navigation,
    asides, headers, footers and forms."""
    root = next(
        (found[0] for found in (tree.xpath("//article"), tree.xpath("//main")) if found),
        tree.find("body") if tree.find("body") is not None else tree,
    )
    root = copy.deepcopy(root)
    etree.strip_elements(
        root, "script", "style", "nav", "aside", "footer", "header", "form", with_tail=False
    )
    texts = (" ".join(e.text_content().split()) for e in root.iter("p", "h2", "h3", "li"))
    return "\n".join(t for t in texts if t)


def _attempt(name: str, function: Callable[..., str], *args: object, **kwargs: object) -> str:
    """Run one extractor; a failure is that extractor's abstention, not the page's."""
    try:
        return function(*args, **kwargs) or ""
    except Exception as exc:  # third-party heuristics over arbitrary markup
        LOG.debug("%s failed: %r", name, exc)
        return ""


# --- the public function ---------------------------------------------------------------


def extract_article(
    html: bytes | str,
    url: str,
    encoding: str | None = None,
    *,
    feed_published: datetime | None = None,
    strategy: str = "ensemble",
) -> ArticleContent:
    """Extract an article's text, title, publication date and canonical URL.

    ``encoding`` is the charset of the HTTP Content-Type header, if any. ``feed_published``
    is the feed entry's date: used when the page states no date (and to add the time of
    day to a page that gives only the day). Raises :class:`ArticleExtractionError` when the
    page has no article text, and nothing else.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    try:
        return _extract(html, url, encoding, feed_published, strategy)
    except ArticleExtractionError:
        raise
    except (Exception, RecursionError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise ArticleExtractionError(f"could not extract {url}: {reason}") from exc


@dataclass(frozen=True)
class _Page:
    markup: str
    tree: HtmlElement
    encoding: str | None


def _load(html: bytes | str, url: str, encoding: str | None) -> _Page:
    if isinstance(html, bytes | bytearray | memoryview):
        data = bytes(html)
        if looks_binary(data, encoding):
            raise ArticleExtractionError(f"not an HTML page (binary content): {url}")
        markup, used_encoding = decode_html(data, encoding)
    elif isinstance(html, str):
        markup, used_encoding = html, None
    else:
        raise ArticleExtractionError(f"expected bytes or str, got {type(html).__name__}")
    markup = _clean_markup(markup)
    if not markup.strip():
        raise ArticleExtractionError(f"empty page: {url}")
    try:
        tree = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise ArticleExtractionError(f"not an HTML page: {url}: {exc}") from exc
    return _Page(markup, tree, used_encoding)


def _published(
    page: _Page, url: str | None, json_ld: list[dict], feed_published: datetime | None
) -> tuple[datetime | None, str | None]:
    page_date = _attempt_value(metadata_published, page.tree, json_ld)
    in_text = heuristic = None
    # htmldate's search costs ~20 ms a page: only when nothing more explicit has a date
    if page_date is None and feed_published is None:
        in_text = _attempt_value(labelled_published, page.tree)
        if in_text is None:
            extensive = len(page.markup) <= ENSEMBLE_MAX_CHARS
            heuristic = _attempt_value(heuristic_published, page.tree, url, extensive=extensive)
    return choose_published(page_date, feed_published, heuristic, in_text)


def published_date(
    html: bytes | str,
    url: str | None = None,
    encoding: str | None = None,
    *,
    feed_published: datetime | None = None,
) -> tuple[datetime | None, str | None]:
    """Only the publication date (UTC) and its source, as :func:`extract_article` finds
    them; ``(None, None)`` when there is none or the page cannot be read."""
    try:
        page = _load(html, url or "", encoding)
        json_ld = _attempt_list(json_ld_objects, page.tree)
        return _published(page, url, json_ld, feed_published)
    except (Exception, RecursionError):
        return None, None


def _extract(
    html: bytes | str,
    url: str,
    encoding: str | None,
    feed_published: datetime | None,
    strategy: str,
) -> ArticleContent:
    page = _load(html, url, encoding)
    markup, tree = page.markup, page.tree
    json_ld = _attempt_list(json_ld_objects, tree)
    language = _language(tree)
    title = _title(tree, json_ld)

    if strategy == "ensemble" and len(markup) > ENSEMBLE_MAX_CHARS:
        strategy = "fast"
    if strategy == "ensemble":
        outputs = [
            # Precision mode without trafilatura's own fallbacks: they are readability and
            # jusText, which vote here in their own right.
            (
                "trafilatura",
                _attempt("trafilatura", _trafilatura, markup, url, precision=True, fallbacks=False),
            ),
            ("readability", _attempt("readability", _readability, markup)),
            ("justext", _attempt("justext", _justext, tree, language)),
        ]
        text, voters = majority_vote(outputs)
        if len(text) < MIN_TEXT_CHARS:
            # the voters share too little: trust the first that found something
            found = [(n, t) for n, t in outputs if len(t.strip()) >= MIN_TEXT_CHARS]
            text, voters = (found[0][1].strip(), (found[0][0],)) if found else ("", ())
        method = "vote:" + "+".join(voters) if len(voters) > 1 else "".join(voters)
    else:
        # Alone, precision mode needs its fallbacks (it misses text without them); the fast
        # strategy keeps the default balance and skips them.
        precise = strategy == "trafilatura"
        text = _attempt(
            "trafilatura", _trafilatura, markup, url, precision=precise, fallbacks=precise
        )
        voters = ("trafilatura",) if text else ()
        method = "trafilatura"
    if len(text.strip()) < MIN_TEXT_CHARS:
        text = _attempt("paragraphs", _paragraphs_fallback, tree)
        voters, method = ("paragraphs",), "paragraphs"
    if len(text.strip()) < MIN_TEXT_CHARS:
        raise ArticleExtractionError(f"no article text found in {url}")
    h1 = next((" ".join(h.text_content().split()) for h in tree.iter("h1")), None)
    text = text.strip()
    body = _drop_headline(text, [title, h1])
    published, date_source = _published(page, url, json_ld, feed_published)

    return ArticleContent(
        text=text,
        body=body,
        title=title,
        published_at=published,
        canonical_url=_canonical(tree, url),
        method=method,
        date_source=date_source,
        language=language,
        encoding=page.encoding,
        extractors=voters,
    )


def _attempt_list(function: Callable[..., Iterable[T]], *args: object) -> list[T]:
    try:
        return list(function(*args))
    except Exception:
        LOG.debug("%s failed", function.__name__, exc_info=True)
        return []


def _attempt_value(function: Callable[..., T | None], *args: object, **kwargs: object) -> T | None:
    try:
        return function(*args, **kwargs)
    except Exception:
        LOG.debug("%s failed", function.__name__, exc_info=True)
        return None
