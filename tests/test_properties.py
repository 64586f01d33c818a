"""Property tests (hypothesis): URL canonicalisation, and parsing of arbitrary bytes.

Whatever the input, only the project's own error types come out: InvalidURL,
FeedParseError, ArticleExtractionError.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adoptwatch.extractors.article import ArticleExtractionError, extract_article
from adoptwatch.extractors.feeds import FeedParseError, parse_feed
from adoptwatch.extractors.urls import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    InvalidURL,
    canonicalize_url,
)

QUICK = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# --- URLs ------------------------------------------------------------------------------------

URL_PIECES = st.sampled_from([
    "a", "B", "0", "-", ".", "_", "~", "/", "//", "./", "../", "%", "%2e", "%2E", "%2F", "%7e",
    "%41", "%zz", "%25", "?", "&", "=", "#", ":", "@", "[", "]", "::1", "é", "ß", "。", " ",
    "\t", "\x00", "+", ";", "utm_source=rss", "fbclid=x", "ref=hn", "q=1", "a=b&a=c",
])  # fmt: skip
SCHEMES = st.sampled_from([
    "http://", "https://", "HTTP://", "hTtPs://", "ftp://", "file:///", "", "//", "http:",
    "javascript:", "http://[", "http://u:p@",
])  # fmt: skip
HOSTS = st.sampled_from(["example.com", "EXAMPLE.com.", "xn--caf-dma.example", "café.example",
                         "127.0.0.1", "[::1]", "[fe80::1%25eth0]", "a..b", "", "host:80",
                         "host:443", "host:8080", "host:99999", "host:x"])  # fmt: skip
URLS = st.one_of(
    st.builds(
        lambda s, h, rest: s + h + "".join(rest), SCHEMES, HOSTS, st.lists(URL_PIECES, max_size=14)
    ),
    st.text(max_size=80),
)


def _tracking(name: str) -> bool:
    return name.lower() in TRACKING_PARAMS or name.lower().startswith(TRACKING_PREFIXES)


@QUICK
@given(URLS)
@example("http://a//%2e")  # dot segments hidden in escapes, once found by this test
@example("http://0。")  # an IDNA full stop becoming a trailing dot
def test_canonicalisation_is_idempotent_and_raises_only_invalid_url(url: str) -> None:
    try:
        canonical = canonicalize_url(url)
    except InvalidURL:
        return
    assert canonicalize_url(canonical) == canonical
    parts = urlsplit(canonical)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert parts.fragment == "" and " " not in canonical


@QUICK
@given(
    st.lists(st.tuples(st.sampled_from(["utm_source", "UTM_Medium", "fbclid", "gclid", "ref",
                                        "mc_eid", "id", "page", "q", "lang"]),
                       st.text(alphabet="abc123 %&=+", max_size=6)), max_size=8),
    st.sampled_from(["https://news.example/story", "http://News.Example:80/a/b/"]),
)  # fmt: skip
def test_tracking_parameters_are_dropped_and_the_others_kept(
    params: list[tuple[str, str]], base: str
) -> None:
    from urllib.parse import urlencode

    url = base + ("?" + urlencode(params) if params else "")
    canonical = canonicalize_url(url)
    kept = parse_qsl(urlsplit(canonical).query, keep_blank_values=True)
    assert not any(_tracking(k) for k, _ in kept)
    assert sorted(kept) == sorted((k, v) for k, v in params if not _tracking(k))


@QUICK
@given(st.text(max_size=40), st.text(max_size=40))
def test_relative_links_resolve_or_raise_invalid_url(link: str, path: str) -> None:
    try:
        canonical = canonicalize_url(link, base="https://feeds.example/" + path)
    except InvalidURL:
        return
    assert canonicalize_url(canonical) == canonical


# --- feeds -----------------------------------------------------------------------------------

FEED_PIECES = st.sampled_from([
    b'<?xml version="1.0" encoding="utf-8"?>', b"<?xml version='1.0' encoding='utf-16'?>",
    b'<rss version="2.0">', b"<channel>", b"</channel>", b"<item>", b"</item>", b"<title>",
    b"</title>", b"<link>", b"</link>", b"http://e.example/a", b"http://[::1", b"file:///x",
    b"<guid>", b"</guid>", b"<pubDate>", b"</pubDate>", b"Tue, 31 Feb 2026 25:61:00 GMT",
    b"Mon, 01 Jan 9999 00:00:00 GMT", b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"<entry>",
    b"</entry>", b"<id>", b"</id>", b"<link href='/rel'/>", b"<![CDATA[", b"]]>", b"&amp;",
    b"&#0;", b"&#x110000;", b"&undefined;", b"<!DOCTYPE rss>", b"<!-- c -->", b"\x00", b"\xff\xfe",
    b"\xef\xbb\xbf", b"\x80\x81", b"<rdf:RDF>", b"<updated>2026-13-45T99:99:99Z</updated>",
])  # fmt: skip
FEED_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(FEED_PIECES, st.binary(max_size=6)), max_size=40).map(b"".join),
)
CONTENT_TYPES = st.sampled_from([
    None, "application/rss+xml", "text/xml; charset=utf-16",
    "application/xml; charset=no-such-codec", "text/html",
])  # fmt: skip


@QUICK
@given(FEED_BYTES, CONTENT_TYPES)
def test_feed_parsing_of_arbitrary_bytes_raises_only_feed_parse_error(
    body: bytes, content_type: str | None
) -> None:
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    try:
        parsed = parse_feed(body, "https://feeds.example/rss", content_type, now=now)
    except FeedParseError:
        return
    keys = [e.key for e in parsed.entries]
    assert len(keys) == len(set(keys)) and len(keys) <= parsed.total_entries
    for entry in parsed.entries:
        assert entry.url and entry.key
        assert entry.published_at is None or entry.published_at <= now + dt.timedelta(days=1)


# --- pages -----------------------------------------------------------------------------------

PAGE_PIECES = st.sampled_from([
    b"<!DOCTYPE html>", b"<html>", b"<head>", b"</head>", b"<body>", b"</body>", b"<article>",
    b"</article>", b"<p>", b"</p>", b"<div>", b"<script>var a = '</p>';</script>", b"<style>",
    b"<title>T</title>", b"<meta charset='utf-16'>", b"<meta charset='no-such-codec'>",
    b'<meta http-equiv="content-type" content="text/html; charset=shift_jis">',
    b"<link rel='canonical' href='http://[::1'>", b"<link rel=canonical href=//>",
    b"<meta property='og:url' content='javascript:x'>", b"<time datetime='99999-99-99'>",
    b'<meta property="article:published_time" content="2026-02-30T10:00:00Z">',
    b"The company said it adopted a new model for search last week. ", b"\x00", b"\xff\xfe",
    b"\xef\xbb\xbf", b"\xe9\xe8", b"&nbsp;", b"&#0;", b"<![CDATA[x]]>", b"<?xml version='1.0'?>",
    b"<svg><text>x</text></svg>", b"<table><tr><td>cell</td></tr></table>",
])  # fmt: skip
PAGE_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(PAGE_PIECES, st.binary(max_size=6)), max_size=40).map(b"".join),
)


@SLOW
@given(PAGE_BYTES, st.sampled_from([None, "utf-8", "utf-16", "latin-1", "no-such-codec"]))
@example(b"<link rel='canonical'href=h://['>", None)  # a broken canonical link
def test_page_extraction_of_arbitrary_bytes_raises_only_article_extraction_error(
    body: bytes, encoding: str | None
) -> None:
    try:
        content = extract_article(body, "https://news.example/story", encoding=encoding)
    except ArticleExtractionError:
        return
    assert content.text.strip()
