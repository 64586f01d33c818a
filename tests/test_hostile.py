"""Hostile sources against real servers on loopback: each attack gets a clear error class,
nothing outside the allowlist is ever contacted, and an ingest over a mix of hostile and
good sources stores the good ones.

Sizes and deadlines are small (settings overrides) to keep the suite fast; the memory test
in tests/test_memory.py runs the worst of these at the default caps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import tracemalloc
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from adoptwatch.extractors.feeds import FeedParseError, UnsafeFeed, parse_feed
from adoptwatch.fetch import (
    BadEncoding,
    BlockedURL,
    ConnectionFailed,
    DNSFailure,
    Fetcher,
    FetchError,
    FetchRecord,
    FetchResult,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    TLSFailure,
    TooManyRedirects,
)
from adoptwatch.settings import Settings
from tests import hostile
from tests.conftest import make_settings
from tests.httpserver import RouteServer, static

MB = hostile.MB


def fetch(settings: Settings, url: str, **kwargs: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings) as f:
            return await f.fetch(url, **kwargs)

    return asyncio.run(go())


def fetch_error(settings: Settings, url: str, **kwargs: Any) -> tuple[FetchError, FetchRecord]:
    """The error a fetch raises, and the fetch_log record the fetcher made of it."""

    async def go() -> tuple[FetchError, FetchRecord]:
        async with Fetcher(settings) as f:
            with pytest.raises(FetchError) as info:
                await f.fetch(url, **kwargs)
            records = [r for r in f.take_records() if r.url == url]
        assert len(records) == 1
        return info.value, records[0]

    return asyncio.run(go())


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    """Fast failure: no retries, short deadline, no robots.txt round trip."""
    return make_settings(tmp_path, max_retries=0, request_deadline=3.0, respect_robots=False)


@pytest.fixture
def elsewhere() -> Iterator[RouteServer]:
    """A server on 127.0.0.2: a loopback address the tests keep outside the allowlist."""
    with RouteServer(host="127.0.0.2") as srv:
        srv.routes["/secret"] = static("the private network's secret")
        yield srv


# --- bodies: size, time, compression -----------------------------------------------------


def test_endless_body_is_streamed_and_aborted_at_the_cap(tmp_path: Path, server: RouteServer):
    stopped = threading.Event()
    server.routes["/endless"] = hostile.endless(stopped=stopped)
    settings = make_settings(tmp_path, max_body_bytes=2 * MB, max_retries=0, respect_robots=False)
    started = time.monotonic()
    exc, record = fetch_error(settings, server.url("/endless"), kind="feed")
    assert isinstance(exc, ResponseTooLarge) and record.error_class == "too_large"
    assert "2,000,000" in str(exc)
    # We hung up: the server's writes start failing long before its own 60 s loop ends.
    assert stopped.wait(10), "the endless body was not abandoned"
    assert time.monotonic() - started < 10


def test_a_declared_oversize_body_is_refused_before_reading(quick: Settings, server: RouteServer):
    server.routes["/huge"] = hostile.lying_length(50_000_000_000)
    exc, record = fetch_error(quick, server.url("/huge"))
    assert isinstance(exc, ResponseTooLarge) and "declares 50,000,000,000 bytes" in str(exc)
    assert record.error_class == "too_large" and record.bytes == 0


def test_page_cap_is_lower_than_the_feed_cap(tmp_path: Path, server: RouteServer):
    server.routes["/page"] = static(b"<p>" + b"x" * 300_000)
    settings = make_settings(tmp_path, max_page_bytes=100_000, respect_robots=False)
    assert len(fetch(settings, server.url("/page")).body) > 300_000  # the feed cap: fine
    exc, _ = fetch_error(settings, server.url("/page"), max_bytes=settings.max_page_bytes)
    assert isinstance(exc, ResponseTooLarge) and "100,000" in str(exc)


def test_one_byte_every_two_seconds_hits_the_total_deadline(tmp_path: Path, server: RouteServer):
    server.routes["/drip"] = hostile.drip(interval=2.0)
    # The read timeout alone would never fire: every read gets a byte within 2 s.
    settings = make_settings(
        tmp_path, request_deadline=3.0, read_timeout=5.0, max_retries=0, respect_robots=False
    )
    started = time.monotonic()
    exc, record = fetch_error(settings, server.url("/drip"), kind="feed")
    elapsed = time.monotonic() - started
    assert isinstance(exc, FetchTimeout) and "total deadline" in str(exc)
    assert record.error_class == "timeout"
    assert 2.9 < elapsed < 6, elapsed


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", lambda: hostile.gzip_bomb(50 * MB)),
        ("deflate", lambda: hostile.deflate_bomb(50 * MB)),
        ("deflate", lambda: hostile.deflate_bomb(50 * MB, raw=True)),
        ("gzip, gzip", lambda: hostile.gzip_bomb(200 * MB, layers=2)),
        ("x-gzip", lambda: hostile.gzip_bomb(50 * MB)),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "gzip-gzip", "x-gzip"],
)
def test_compression_bombs_stop_at_the_cap_without_inflating_in_memory(
    tmp_path: Path, server: RouteServer, encoding: str, body: Any
) -> None:
    bomb = body()
    assert len(bomb) < 250_000  # tiny on the wire
    server.routes["/bomb"] = hostile.encoded(bomb, encoding)
    settings = make_settings(tmp_path, max_body_bytes=MB, max_retries=0, respect_robots=False)
    tracemalloc.start()
    try:
        exc, record = fetch_error(settings, server.url("/bomb"), kind="feed")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(exc, ResponseTooLarge) and "after decompression" in str(exc)
    assert record.error_class == "too_large"
    # httpx's own decoder inflates each 64 KiB network chunk without limit (~64 MB for a
    # deflate bomb, the whole 200 MB for stacked gzip); ours holds at most the cap plus
    # one 64 KiB piece.
    assert peak < 6 * MB, f"peak traced memory {peak:,} bytes"


def test_compressed_bodies_within_the_cap_are_decoded(quick: Settings, server: RouteServer):
    import gzip
    import zlib

    text = b"<rss>" + b"hello world " * 10_000 + b"</rss>"
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies = {
        "/gz": (gzip.compress(text), "gzip"),
        "/zlib": (zlib.compress(text), "deflate"),
        "/raw": (raw_deflate.compress(text) + raw_deflate.flush(), "deflate"),
        "/twice": (gzip.compress(gzip.compress(text)), "gzip, gzip"),
        "/members": (gzip.compress(text[:100]) + gzip.compress(text[100:]), "gzip"),
        "/identity": (text, "identity"),
    }
    for path, (body, encoding) in bodies.items():
        server.routes[path] = hostile.encoded(body, encoding)
        assert fetch(quick, server.url(path)).body == text, path


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"\x1b\x00\x00", "only gzip and deflate"),
        ("gzip", hostile.garbage(5000), "corrupt gzip"),
        ("deflate", b"\x78\x9c" + hostile.garbage(5000), "corrupt deflate"),
        ("gzip, gzip, gzip", b"", "at most 2"),
    ],
    ids=["brotli-unasked", "garbage-gzip", "garbage-deflate", "three-layers"],
)
def test_bad_content_encodings_are_bad_encoding(
    quick: Settings, server: RouteServer, encoding: str, body: bytes, message: str
) -> None:
    server.routes["/x"] = hostile.encoded(body, encoding)
    exc, record = fetch_error(quick, server.url("/x"))
    assert isinstance(exc, BadEncoding) and message in str(exc)
    assert record.error_class == "bad_encoding"


# --- redirects and the network allowlist ---------------------------------------------------


def test_redirect_loops_and_long_chains(tmp_path: Path, server: RouteServer) -> None:
    settings = make_settings(tmp_path, max_redirects=4, respect_robots=False)
    server.routes["/a"] = hostile.redirect("/b")
    server.routes["/b"] = hostile.redirect(server.url("/a"), 301)
    exc, record = fetch_error(settings, server.url("/a"))
    assert isinstance(exc, TooManyRedirects) and "loop" in str(exc)
    assert record.error_class == "too_many_redirects"
    for i in range(20):
        server.routes[f"/chain{i}"] = hostile.redirect(f"/chain{i + 1}", 307)
    exc, _ = fetch_error(settings, server.url("/chain0"))
    assert isinstance(exc, TooManyRedirects) and "more than 4" in str(exc)
    assert len(server.hits_for("/chain5")) == 0  # stopped after 4 redirects (5 requests)


def test_redirects_outside_the_allowlist_are_never_contacted(
    tmp_path: Path, server: RouteServer, elsewhere: RouteServer
) -> None:
    settings = make_settings(
        tmp_path, allow_networks=("127.0.0.1/32",), max_retries=0, respect_robots=False
    )
    targets = {
        "/to-private": elsewhere.url("/secret"),
        "/to-ftp": f"ftp://127.0.0.2:{elsewhere.port}/secret",
        "/to-file": "file:///etc/passwd",
        "/to-gopher": f"gopher://127.0.0.2:{elsewhere.port}/1",
        "/to-scheme-relative": f"//127.0.0.2:{elsewhere.port}/secret",
        "/to-broken": "http://[::1/secret",
    }
    for path, target in targets.items():
        server.routes[path] = hostile.redirect(target)
        exc, record = fetch_error(settings, server.url(path))
        assert isinstance(exc, BlockedURL), (path, exc)
        assert record.error_class == "blocked"
    assert elsewhere.connections == 0 and elsewhere.hits == []


def test_a_name_resolving_to_a_private_address_is_refused(tmp_path: Path, elsewhere: RouteServer):
    # A name, not an address: what it resolves to (loopback) is checked after resolution,
    # and with no allowed networks at all, loopback is refused.
    settings = make_settings(tmp_path, allow_networks=(), respect_robots=False)
    exc, record = fetch_error(settings, f"http://localhost:{elsewhere.port}/secret")
    assert isinstance(exc, BlockedURL) and "outside the allowed networks" in str(exc)
    assert record.error_class == "blocked"
    assert elsewhere.connections == 0


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.2/x", "javascript:alert(1)", "http://[::1/x",
     "http://127.0.0.2:99999/", "http:///nohost", "data:text/html,hi"],
)  # fmt: skip
def test_bad_urls_are_blocked_without_a_connection(
    quick: Settings, elsewhere: RouteServer, url: str
) -> None:
    exc, record = fetch_error(quick, url)
    assert isinstance(exc, BlockedURL) and record.error_class == "blocked"
    assert elsewhere.connections == 0


# --- status codes, DNS, TLS, resets ---------------------------------------------------------


def test_5xx_is_retried_then_reported(tmp_path: Path, server: RouteServer) -> None:
    handler, times = hostile.status_sequence([503])
    server.routes["/down"] = handler
    settings = make_settings(tmp_path, max_retries=2, respect_robots=False)
    exc, record = fetch_error(settings, server.url("/down"))
    assert isinstance(exc, HTTPStatusError) and exc.status == 503
    assert (record.error_class, record.status) == ("http_status", 503)
    assert len(times) == 3


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_waits_for_retry_after(tmp_path: Path, server: RouteServer, form: str) -> None:
    # An HTTP date has whole seconds: three from now is at least two away.
    value = "2" if form == "seconds" else formatdate(time.time() + 3, usegmt=True)
    handler, times = hostile.status_sequence([429, 200], headers={"Retry-After": value})
    server.routes["/limited"] = handler
    settings = make_settings(tmp_path, max_retries=1, retry_backoff=0.01, respect_robots=False)
    assert fetch(settings, server.url("/limited")).body == b"ok"
    assert len(times) == 2
    assert times[1] - times[0] >= 1.9


def test_429_with_a_long_retry_after_is_given_up(tmp_path: Path, server: RouteServer) -> None:
    handler, times = hostile.status_sequence([429], headers={"Retry-After": "86400"})
    server.routes["/limited"] = handler
    settings = make_settings(tmp_path, max_retries=3, max_retry_after=10, respect_robots=False)
    exc, record = fetch_error(settings, server.url("/limited"))
    assert isinstance(exc, HTTPStatusError) and exc.status == 429
    assert exc.retry_after is not None and exc.retry_after > 80_000
    assert record.error_class == "http_status" and len(times) == 1


def test_dns_failure(quick: Settings) -> None:
    exc, record = fetch_error(quick, "http://feeds.adoptwatch-test.invalid/rss")
    assert isinstance(exc, DNSFailure) and isinstance(exc, ConnectionFailed)
    assert record.error_class == "dns" and "DNS lookup failed" in str(exc)


def test_https_to_a_plain_http_server_is_a_tls_failure(quick: Settings, server: RouteServer):
    server.routes["/feed"] = static("<rss/>")
    exc, record = fetch_error(quick, server.url("/feed").replace("http://", "https://"))
    assert isinstance(exc, TLSFailure) and record.error_class == "tls"


def test_self_signed_certificate_is_a_tls_failure(tmp_path: Path, quick: Settings) -> None:
    with RouteServer(tls=hostile.self_signed_context(tmp_path)) as tls_server:
        tls_server.routes["/feed"] = static("<rss/>")
        exc, record = fetch_error(quick, tls_server.url("/feed"))
        assert tls_server.hits == []  # the handshake failed: no request was sent
    assert isinstance(exc, TLSFailure) and "CERTIFICATE_VERIFY_FAILED" in str(exc)
    assert record.error_class == "tls"


def test_tls_failures_are_not_retried(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_retries=3, respect_robots=False)
    with RouteServer(tls=hostile.self_signed_context(tmp_path)) as tls_server:
        exc, _ = fetch_error(settings, tls_server.url("/feed"))
        assert tls_server.connections == 1
    assert isinstance(exc, TLSFailure)


@pytest.mark.parametrize(
    ("handler", "error_class"),
    [(hostile.reset_mid_body, "connection"), (hostile.not_http, "connection")],
    ids=["tcp-reset", "garbage-instead-of-http"],
)
def test_resets_and_garbage_answers(
    quick: Settings, server: RouteServer, handler: Any, error_class: str
) -> None:
    server.routes["/x"] = handler()
    exc, record = fetch_error(quick, server.url("/x"))
    assert isinstance(exc, ConnectionFailed) and record.error_class == error_class


def test_a_refused_connection(quick: Settings) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exc, record = fetch_error(quick, f"http://127.0.0.1:{port}/feed")
    assert isinstance(exc, ConnectionFailed) and record.error_class == "connection"


# --- feed documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be", "utf-32", "cp037", "utf-7"])
def test_billion_laughs_is_refused_in_every_encoding(encoding: str) -> None:
    body = hostile.billion_laughs(encoding)
    assert len(body) < 5000
    with pytest.raises(UnsafeFeed) as info:
        parse_feed(body, "http://laughs.example/feed")
    assert info.value.error_class == "unsafe_xml"


def test_external_entities_are_refused(tmp_path: Path, server: RouteServer) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    for target in (secret.as_uri(), server.url("/leak.txt")):
        with pytest.raises(UnsafeFeed):
            parse_feed(hostile.external_entity(target), "http://leak.example/feed")
    assert server.connections == 0


def test_an_external_dtd_is_never_fetched(server: RouteServer) -> None:
    server.routes["/evil.dtd"] = static('<!ENTITY leak "LEAKED">', content_type="text/plain")
    parsed = parse_feed(hostile.external_dtd(server.url("/evil.dtd")), "http://dtd.example/f")
    assert [e.url for e in parsed.entries] == ["http://dtd.example/1"]
    assert "LEAKED" not in (parsed.entries[0].title or "")
    assert server.connections == 0


@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml; charset=utf-8", None])
def test_binary_garbage_is_a_parse_error(content_type: str | None) -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(hostile.garbage(20_000), "http://g.example/feed", content_type)
    assert info.value.error_class == "parse_error"


def test_wrong_and_missing_charsets_still_give_entries() -> None:
    title = "Café Zürich adopts Qwen: naïve résumé"
    items = [("g1", "http://c.example/1", title, None)]
    utf8 = hostile.rss(items)
    latin1 = utf8.decode().replace('encoding="utf-8"', 'encoding="iso-8859-1"').encode("latin-1")
    undeclared_latin1 = utf8.decode().replace(' encoding="utf-8"', "").encode("latin-1")
    cases = [
        (utf8, "application/rss+xml; charset=iso-8859-1"),  # header says Latin-1, bytes UTF-8
        (latin1, "application/rss+xml; charset=utf-8"),  # header says UTF-8, bytes Latin-1
        (undeclared_latin1, None),  # no charset anywhere, not UTF-8
        (utf8, "application/rss+xml; charset=no-such-charset"),
    ]
    for body, content_type in cases:
        parsed = parse_feed(body, "http://c.example/feed", content_type)
        assert [e.url for e in parsed.entries] == ["http://c.example/1"]
        assert parsed.entries[0].title and "Z" in parsed.entries[0].title


def test_thousands_of_entries_duplicate_guids_missing_and_future_dates() -> None:
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    items: list[tuple[str | None, str | None, str | None, dt.datetime | None]] = [
        (f"id-{i}", f"http://t.example/{i}", f"story {i}", now - dt.timedelta(minutes=i))
        for i in range(5000)
    ]
    items.append(("id-7", "http://t.example/dup", "a second entry with guid id-7", now))
    items.append(
        ("future", "http://t.example/future", "from next year", now + dt.timedelta(days=400))
    )
    items.append((None, "http://t.example/undated", "no guid, no date", None))
    items.append(("nolink", None, "no link at all", now))
    parsed = parse_feed(hostile.rss(items), "http://t.example/feed", now=now)
    keys = [e.key for e in parsed.entries]
    assert parsed.total_entries == 5004
    assert len(keys) == len(set(keys)) == 5002  # one duplicate guid and one link-less entry
    by_key = {e.key: e for e in parsed.entries}
    assert by_key["id-7"].url == "http://t.example/7"  # the first of a duplicated guid wins
    assert by_key["future"].published_at is None  # a date next year is a feed bug
    assert by_key["http://t.example/undated"].published_at is None
    assert keys[0] == "id-0" and keys[4999] == "id-4999"  # newest first, undated last
    assert keys[-2:] == ["future", "http://t.example/undated"]


def test_broken_and_foreign_entry_links_do_not_break_the_feed() -> None:
    items = [
        ("a", "http://[::1/broken", "unparseable", None),
        ("b", "http://ok.example/1", "ok", None),
        ("c", "ftp://127.0.0.2/x", "another scheme", None),
        ("d", "/relative/2", "relative", None),
    ]
    parsed = parse_feed(hostile.rss(items), "http://ok.example/feed")
    # feedparser drops the unparseable link; the others are kept for the fetcher to judge.
    assert {e.key: e.url for e in parsed.entries} == {
        "b": "http://ok.example/1",
        "c": "ftp://127.0.0.2/x",
        "d": "http://ok.example/relative/2",
    }


def test_retry_after_dates_in_the_past_mean_now(tmp_path: Path, server: RouteServer) -> None:
    past = formatdate(time.time() - 3600, usegmt=True)
    handler, times = hostile.status_sequence([503, 200], headers={"Retry-After": past})
    server.routes["/x"] = handler
    settings = make_settings(tmp_path, max_retries=1, retry_backoff=0.01, respect_robots=False)
    assert fetch(settings, server.url("/x")).body == b"ok"
    assert times[1] - times[0] < 1.0


# --- the run goes on: an ingest over hostile and good sources ------------------------------

SITE = Path(__file__).parent / "fixtures" / "site"
GOOD_ARTICLE = hostile.article_html(
    "Brightwater Tools moves its help desk to Mistral",
    [
        "Brightwater Tools, a maker of garden hardware in Zürich, said on Tuesday that it "
        "replaced GPT-4o with Mistral Large in the assistant that answers its customers.",
        "The company's support lead said the switch halved response times for the café and "
        "nursery owners who make up most of its customers.",
        "Brightwater expects to move its internal search to the same model next year.",
    ],
)


def rows(settings: Settings, sql: str) -> list[tuple]:
    from adoptwatch.storage import store
    from adoptwatch.storage.db import read_session

    with read_session(settings.db) as con:
        return store.run_query(con, sql).rows


def hostile_feeds(bad: RouteServer, elsewhere: RouteServer, tmp_path: Path) -> dict[str, str]:
    """Route one hostile feed per case on ``bad``; returns source name -> expected error_class."""
    plain = RouteServer()  # spoken to with https:// below
    routes: dict[str, tuple[Any, str]] = {
        "laughs": (static(hostile.billion_laughs(), content_type="application/rss+xml"),
                   "unsafe_xml"),
        "laughs-utf16": (static(hostile.billion_laughs("utf-16"),
                                content_type="application/rss+xml"), "unsafe_xml"),
        "xxe": (static(hostile.external_entity("file:///etc/passwd"),
                       content_type="application/rss+xml"), "unsafe_xml"),
        "garbage": (static(hostile.garbage(50_000), content_type="application/rss+xml"),
                    "parse_error"),
        "endless": (hostile.endless(), "too_large"),
        "lying-length": (hostile.lying_length(10**12), "too_large"),
        "drip": (hostile.drip(interval=1.5), "timeout"),
        "gzip-bomb": (hostile.encoded(hostile.gzip_bomb(20 * MB), "gzip"), "too_large"),
        "deflate-bomb": (hostile.encoded(hostile.deflate_bomb(20 * MB), "deflate"), "too_large"),
        "stacked-bomb": (hostile.encoded(hostile.gzip_bomb(100 * MB, 2), "gzip, gzip"),
                         "too_large"),
        "brotli": (hostile.encoded(b"\x1b\x00", "br"), "bad_encoding"),
        "loop": (hostile.redirect("/feeds/loop"), "too_many_redirects"),
        "chain": (hostile.redirect("/chain/1"), "too_many_redirects"),
        "to-private": (hostile.redirect(elsewhere.url("/secret")), "blocked"),
        "to-ftp": (hostile.redirect(f"ftp://127.0.0.2:{elsewhere.port}/feed"), "blocked"),
        "to-file": (hostile.redirect("file:///etc/passwd"), "blocked"),
        "down": (hostile.status_sequence([503])[0], "http_status"),
        "limited": (hostile.status_sequence([429], headers={"Retry-After": "3600"})[0],
                    "http_status"),
        "reset": (hostile.reset_mid_body(), "connection"),
        "not-http": (hostile.not_http(), "connection"),
    }  # fmt: skip
    for i in range(10):
        bad.routes[f"/chain/{i}"] = hostile.redirect(f"/chain/{i + 1}")
    expected = {}
    for name, (handler, error_class) in routes.items():
        bad.routes[f"/feeds/{name}"] = handler
        expected[name] = error_class
    del plain
    return expected


def test_an_ingest_over_hostile_and_good_sources_stores_the_good_ones(tmp_path: Path) -> None:
    from adoptwatch.pipeline.ingest import run_ingest
    from adoptwatch.site_server import SiteServer

    now = dt.datetime.now(dt.UTC)
    with (
        SiteServer(SITE) as site,
        RouteServer() as bad,
        RouteServer(host="127.0.0.2") as elsewhere,
        RouteServer() as plain,
    ):
        elsewhere.routes["/*"] = static("secret")
        expected = hostile_feeds(bad, elsewhere, tmp_path)
        # Feeds that parse, with hostile entries: the links are judged one by one.
        entry_links = {
            "file": ("file:///etc/passwd", "blocked"),
            "ftp": (f"ftp://127.0.0.2:{elsewhere.port}/x", "blocked"),
            "private": (elsewhere.url("/secret"), "blocked"),
            "redirect-private": (bad.url("/pages/redirect-private"), "blocked"),
            "endless": (bad.url("/pages/endless"), "too_large"),
            "tags": (bad.url("/pages/tags"), "too_many_elements"),
            "binary": (bad.url("/pages/binary"), "binary"),
            "novel": (bad.url("/pages/novel"), "text_too_long"),
            "empty": (bad.url("/pages/empty"), "extraction"),
            "gone": (bad.url("/pages/gone"), "http_status"),
        }
        bad.routes["/pages/redirect-private"] = hostile.redirect(elsewhere.url("/secret"))
        bad.routes["/pages/endless"] = hostile.endless("text/html")
        bad.routes["/pages/tags"] = static(hostile.tag_bomb(60_000))
        bad.routes["/pages/binary"] = static(hostile.garbage(30_000))
        chapters = [f"Chapter {i}: " + f"all work and no play makes part {i} dull. " * 50
                    for i in range(40)]  # fmt: skip
        bad.routes["/pages/novel"] = static(hostile.article_html("A very long story", chapters))
        bad.routes["/pages/empty"] = static("<html><body><nav>Home</nav></body></html>")
        bad.routes["/pages/latin1"] = static(
            GOOD_ARTICLE.encode("latin-1"), content_type="text/html; charset=utf-8"
        )  # a wrong charset: the bytes are Latin-1
        items: list[tuple[str | None, str | None, str | None, dt.datetime | None]] = [
            (key, url, key, now - dt.timedelta(hours=i))
            for i, (key, (url, _)) in enumerate(entry_links.items())
        ]
        items += [
            ("latin1", bad.url("/pages/latin1"), "wrong charset", None),  # and no date
            ("latin1", bad.url("/pages/gone"), "the same guid again", now),
            ("future", bad.url("/pages/gone?f"), "dated next year", now + dt.timedelta(days=365)),
        ]
        bad.routes["/feeds/entries"] = static(
            hostile.rss(items), content_type="application/rss+xml; charset=iso-8859-1"
        )  # the header's charset is wrong too: the feed is UTF-8
        plain.routes["/feed"] = static("<rss/>")

        sources = (site.render("sources.toml") or b"").decode()
        for name in [*expected, "entries"]:
            sources += f'\n[[sources]]\nname = "{name}"\nurl = "{bad.url("/feeds/" + name)}"\n'
        sources += '\n[[sources]]\nname = "dns"\nurl = "http://feed.adoptwatch-test.invalid/rss"\n'
        sources += f'\n[[sources]]\nname = "tls"\nurl = "{plain.url("/feed").replace("http:", "https:")}"\n'  # noqa: E501
        expected |= {"dns": "dns", "tls": "tls"}
        (tmp_path / "sources.toml").write_text(sources)
        settings = make_settings(
            tmp_path,
            allow_networks=("127.0.0.1/32",),
            request_deadline=2.0,
            max_retries=1,
            max_retry_after=5.0,
            max_body_bytes=MB,
            max_page_bytes=300_000,
            max_page_elements=5_000,
            max_article_chars=50_000,
            max_redirects=4,
            write_batch_size=3,  # refusals in later batches are logged against their rows too
        )
        started = time.monotonic()
        summary = asyncio.run(run_ingest(settings))
        elapsed = time.monotonic() - started

    assert elsewhere.connections == 0, "an address outside the allowlist was contacted"
    assert elapsed < 60, elapsed
    # Every hostile feed failed with its own error class, recorded against its source.
    assert {f["source"]: f["error_class"] for f in summary.failed_sources} == expected
    feed_log = {
        r[0]: r[1]
        for r in rows(settings, "SELECT source, error_class FROM fetch_log WHERE kind = 'feed'")
    }
    assert {k: v for k, v in feed_log.items() if k in expected} == expected
    assert feed_log["entries"] is None and feed_log["fixture-news"] is None
    health_sql = "SELECT name, consecutive_failures, last_error_class, enabled FROM sources"
    health = {r[0]: r[1:] for r in rows(settings, health_sql)}
    for name, error_class in expected.items():
        assert health[name] == (1, error_class, True), name
    assert health["entries"] == (0, None, True) and health["fixture-news"] == (0, None, True)

    # Hostile entry links: each article fetch logged against the source with its class.
    article_log = dict(rows(settings,
        "SELECT e.entry_key, f.error_class FROM feed_entries e JOIN fetch_log f "
        "ON f.url = e.url AND f.kind = 'article' AND f.source = e.source "
        "WHERE e.source = 'entries'"))  # fmt: skip
    for key, (_url, error_class) in entry_links.items():
        assert article_log.get(key) == error_class, (key, sorted(article_log.items()))
    entry_sql = "SELECT entry_key, status, published_at FROM feed_entries"
    entries = {r[0]: r[1:] for r in rows(settings, entry_sql + " WHERE source = 'entries'")}
    assert set(entries) == {*entry_links, "latin1", "future"}  # the repeated guid: once
    assert entries["future"][1] is None and entries["latin1"][1] is None
    assert all(entries[k][0] == "rejected" for k in entry_links)  # permanent: not retried

    # ... and the good sources were stored, the wrongly labelled page too.
    stored = {r[0] for r in rows(settings, "SELECT canonical_url FROM articles")}
    assert site.url("articles/airbnb-qwen.html") in stored
    assert site.url("articles/notion-claude.html") in stored
    assert bad.url("/pages/latin1") in stored
    assert summary.articles_new == 4


def test_thousands_of_entries_are_taken_a_capped_batch_per_run(tmp_path: Path) -> None:
    from adoptwatch.pipeline.ingest import run_ingest

    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    def feed(n: int, prefix: str) -> bytes:
        return hostile.rss([(f"{prefix}-{i}", f"/articles/{prefix}/{i}", f"story {i}",
                             now - dt.timedelta(minutes=i)) for i in range(n)])  # fmt: skip

    def conditional(body: bytes) -> Any:
        def handle(req: Any) -> None:
            from tests.httpserver import respond

            if req.headers.get("If-None-Match") == '"v1"':
                respond(req, 304)
            else:
                respond(req, 200, body, {"ETag": '"v1"'}, "application/rss+xml")

        return handle

    with RouteServer() as srv:
        srv.routes["/huge.xml"] = conditional(feed(2000, "huge"))
        srv.routes["/small.xml"] = conditional(feed(30, "small"))
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "huge"\nurl = "{srv.url("/huge.xml")}"\n'
            f'[[sources]]\nname = "small"\nurl = "{srv.url("/small.xml")}"\n'
        )
        # Article pages 404: cheap, and with one attempt each they are not retried.
        settings = make_settings(tmp_path, max_entries_per_feed=20, max_article_attempts=1)
        summaries = [asyncio.run(run_ingest(settings)) for _ in range(3)]
        feed_requests = {p: srv.hits_for(p) for p in ("/huge.xml", "/small.xml")}

    assert [s.entries_new for s in summaries] == [40, 30, 20]
    assert [s.entries_backlog for s in summaries] == [1980 + 10, 1960, 1940]
    keys = rows(settings, "SELECT source, entry_key FROM feed_entries")
    huge = sorted(int(k.split("-")[1]) for s, k in keys if s == "huge")
    assert huge == list(range(60))  # newest first, twenty per run, none twice
    assert sorted(int(k.split("-")[1]) for s, k in keys if s == "small") == list(range(30))
    # The capped feed is read in full every run; once the small one is done it is a 304.
    assert all("If-None-Match" not in h.headers for h in feed_requests["/huge.xml"])
    assert ["If-None-Match" in h.headers for h in feed_requests["/small.xml"]] == [
        False, False, True]  # fmt: skip
    article_fetches = rows(settings,
        "SELECT count(*), count(DISTINCT url) FROM fetch_log WHERE kind = 'article'")  # fmt: skip
    assert article_fetches == [(90, 90)]


def test_refused_pages_of_later_batches_are_logged_against_their_fetch(tmp_path: Path) -> None:
    """Pages of the next batch are fetched while this one is extracted; their fetch_log
    rows must still get the refusal that their own batch finds later."""
    from adoptwatch.pipeline.ingest import run_ingest

    with RouteServer() as srv:
        srv.routes["/good"] = static(GOOD_ARTICLE)  # slow: text and claims extraction
        srv.routes["/empty"] = static("<html><body><nav>Home</nav></body></html>")
        srv.routes["/binary"] = static(hostile.garbage(5000))
        now = dt.datetime.now(dt.UTC)
        srv.routes["/feed"] = static(hostile.rss([
            ("good", srv.url("/good"), "good", now),
            ("empty", srv.url("/empty"), "empty", now - dt.timedelta(hours=1)),
            ("binary", srv.url("/binary"), "binary", now - dt.timedelta(hours=2)),
        ]), content_type="application/rss+xml")  # fmt: skip
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "s"\nurl = "{srv.url("/feed")}"\n'
        )
        settings = make_settings(tmp_path, write_batch_size=1)
        asyncio.run(run_ingest(settings))
    log = dict(rows(settings, "SELECT url, error_class FROM fetch_log WHERE kind = 'article'"))
    assert log == {srv.url("/good"): None, srv.url("/empty"): "extraction",
                   srv.url("/binary"): "binary"}  # fmt: skip
