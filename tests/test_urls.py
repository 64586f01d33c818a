from __future__ import annotations

import pytest

from adoptwatch.extractors.urls import InvalidURL, canonicalize_url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Example.COM:443/a/b", "https://example.com/a/b"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?fbclid=xyz&gclid=1", "https://example.com/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com//a//b", "https://example.com/a/b"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
    ],
)
def test_canonical_spelling(raw: str, canonical: str) -> None:
    assert canonicalize_url(raw) == canonical


def test_canonicalisation_is_idempotent() -> None:
    once = canonicalize_url("HTTP://A.example/x/../y?utm_campaign=z&q=1#f")
    assert canonicalize_url(once) == once


def test_relative_urls_resolve_against_a_base() -> None:
    assert canonicalize_url("../b", base="https://e.com/x/y/z") == "https://e.com/x/b"


@pytest.mark.parametrize("bad", ["", "not a url", "ftp://e.com/x", "file:///etc/passwd",
                                 "http://", "javascript:alert(1)", "http://[::1"])  # fmt: skip
def test_non_http_urls_are_refused(bad: str) -> None:
    with pytest.raises(InvalidURL):
        canonicalize_url(bad)
