from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adoptwatch.extractors.feeds import FeedParseError, UnsafeFeed, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Tech Wire</title>
<item><title>Airbnb swaps models</title><link>/2026/11/airbnb</link>
  <guid isPermaLink="false">tw-1</guid><pubDate>Tue, 10 Nov 2026 09:00:00 GMT</pubDate>
  <description>Short &amp; sweet</description></item>
<item><title>Same guid again</title><link>/2026/11/dup</link>
  <guid isPermaLink="false">tw-1</guid></item>
<item><title>No guid</title><link>https://other.example/story?utm_source=rss</link>
  <pubDate>Wed, 11 Nov 2026 10:00:00 +0100</pubDate></item>
<item><title>From the future</title><link>/future</link><guid isPermaLink="false">tw-3</guid>
  <pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>
<item><title>No link at all</title><guid isPermaLink="false">tw-4</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>China AI Daily</title>
<entry><id>urn:cad:1</id><title>Kimi K2 wins a bank</title>
  <link rel="alternate" href="https://cad.example/kimi"/>
  <updated>2026-11-12T08:30:00Z</updated><summary>Banking on Kimi</summary></entry>
</feed>"""

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_rss_entries_are_resolved_deduplicated_and_dated() -> None:
    feed = parse_feed(RSS, "https://techwire.example/feed.xml", now=NOW)
    assert feed.title == "Tech Wire" and feed.version.startswith("rss")
    assert feed.total_entries == 5
    by_key = {e.key: e for e in feed.entries}
    assert set(by_key) == {"tw-1", "https://other.example/story?utm_source=rss", "tw-3"}
    first = by_key["tw-1"]
    assert first.url == "https://techwire.example/2026/11/airbnb"  # relative link resolved
    assert first.title == "Airbnb swaps models"  # the first of two entries sharing a guid
    assert first.published_at == datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    assert first.summary == "Short & sweet"
    assert by_key["https://other.example/story?utm_source=rss"].published_at == datetime(
        2026, 11, 11, 9, 0, tzinfo=UTC
    )
    assert by_key["tw-3"].published_at is None  # a date in 2100 is a feed bug
    # Newest first.
    assert feed.entries[0].key == "https://other.example/story?utm_source=rss"


def test_atom_entries() -> None:
    feed = parse_feed(ATOM, "https://cad.example/atom", now=NOW)
    assert feed.version == "atom10"
    [entry] = feed.entries
    assert entry.key == "urn:cad:1" and entry.url == "https://cad.example/kimi"
    assert entry.published_at == datetime(2026, 11, 12, 8, 30, tzinfo=UTC)


def test_cap_on_entries() -> None:
    items = "".join(
        f"<item><title>t{i}</title><link>https://e.example/{i}</link></item>" for i in range(3000)
    )
    body = f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    feed = parse_feed(body, "https://e.example/feed", max_entries=100)
    assert feed.total_entries == 3000 and len(feed.entries) == 100


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b'<rss version="2.0"><channel><title>&lol2;</title></channel></rss>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>&xxe;</title></channel></rss>',
        b'<!DOCTYPE r [<!entity  x "y">]><feed/>',
    ],
)
def test_entity_declarations_are_refused(body: bytes) -> None:
    with pytest.raises(UnsafeFeed):
        parse_feed(body, "https://e.example/feed")


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\x01\x02\xff" * 1000, b"<html><body>not a feed</body></html>", b"/etc/passwd"],
)
def test_non_feeds_are_parse_errors(body: bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_feed(body, "https://e.example/feed")


def test_a_path_looking_body_is_not_opened_as_a_file(tmp_path) -> None:
    target = tmp_path / "feed.xml"
    target.write_bytes(RSS)
    with pytest.raises(FeedParseError):
        parse_feed(str(target).encode(), "https://e.example/feed")
