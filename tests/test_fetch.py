"""The fetcher against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from adoptwatch.fetch import (
    BlockedURL,
    ConnectionFailed,
    Fetcher,
    FetchResult,
    FetchTimeout,
    HTTPStatusError,
    NetworkPolicy,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
    is_transient,
)
from adoptwatch.settings import Settings
from tests.conftest import make_settings
from tests.httpserver import RouteServer, respond, static


def fetch(settings: Settings, url: str, **kwargs: object) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings) as f:
            return await f.fetch(url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_plain_get_records_a_fetch(settings: Settings, server: RouteServer) -> None:
    server.routes["/a"] = static("<p>hello</p>")

    async def go() -> tuple[FetchResult, list]:
        async with Fetcher(settings) as f:
            result = await f.fetch(server.url("/a"), source="s1", kind="article")
            return result, f.take_records()

    result, records = asyncio.run(go())
    assert result.status == 200 and result.body == b"<p>hello</p>"
    article = [r for r in records if r.kind == "article"]
    assert len(article) == 1
    assert article[0].source == "s1" and article[0].status == 200 and article[0].bytes == 12
    assert article[0].error_class is None
    # robots.txt was asked for first (a 404 there allows everything) and recorded too.
    assert [r.kind for r in records] == ["robots", "article"]
    assert server.hits[0].path == "/robots.txt"
    assert "adoptwatch" in server.hits[1].headers["User-Agent"]


def test_conditional_get_sends_validators_and_returns_304(
    settings: Settings, server: RouteServer
) -> None:
    def handle(req: BaseHTTPRequestHandler) -> None:
        if req.headers.get("If-None-Match") == '"v1"':
            respond(req, 304)
        else:
            respond(req, 200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Mon, 02 Nov 2026"})

    server.routes["/feed"] = handle
    first = fetch(settings, server.url("/feed"))
    assert first.etag == '"v1"' and first.last_modified == "Mon, 02 Nov 2026"
    second = fetch(settings, server.url("/feed"), etag=first.etag, last_modified="x")
    assert second.not_modified and second.body == b""
    assert server.hits_for("/feed")[1].headers["If-None-Match"] == '"v1"'


def test_loopback_is_refused_unless_allowed(tmp_path: Path, server: RouteServer) -> None:
    server.routes["/a"] = static("x")
    strict = make_settings(tmp_path, allow_networks=())
    with pytest.raises(BlockedURL, match="outside the allowed networks") as refused:
        fetch(strict, server.url("/a"))
    assert server.hits == []  # never contacted, not even robots.txt
    assert "--allow-network CIDR" in str(refused.value)  # and how to allow it


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://a/b"])
def test_other_schemes_are_refused(settings: Settings, url: str) -> None:
    with pytest.raises(BlockedURL, match="only http"):
        fetch(settings, url)


def test_redirect_to_a_blocked_network_is_refused(tmp_path: Path, server: RouteServer) -> None:
    # The first hop is allowed (127.0.0.1/32); the redirect target 127.0.0.2 is not.
    server.routes["/hop"] = static("", 302, headers={"Location": "http://127.0.0.2:9/secret"})
    settings = make_settings(tmp_path, allow_networks=("127.0.0.1/32",), respect_robots=False)
    with pytest.raises(BlockedURL):
        fetch(settings, server.url("/hop"))


def test_redirect_to_file_scheme_is_refused(settings: Settings, server: RouteServer) -> None:
    server.routes["/hop"] = static("", 301, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(BlockedURL):
        fetch(settings, server.url("/hop"))


def test_redirects_are_followed_and_loops_stopped(settings: Settings, server: RouteServer) -> None:
    server.routes["/old"] = static("", 301, headers={"Location": "/new"})
    server.routes["/new"] = static("moved here")
    result = fetch(settings, server.url("/old"))
    assert result.final_url == server.url("/new") and result.body == b"moved here"

    server.routes["/loop-a"] = static("", 302, headers={"Location": "/loop-b"})
    server.routes["/loop-b"] = static("", 302, headers={"Location": "/loop-a"})
    with pytest.raises(TooManyRedirects, match="loop"):
        fetch(settings, server.url("/loop-a"))


def test_long_redirect_chains_stop_at_the_limit(tmp_path: Path, server: RouteServer) -> None:
    for i in range(10):
        server.routes[f"/r{i}"] = static("", 302, headers={"Location": f"/r{i + 1}"})
    settings = make_settings(tmp_path, max_redirects=3)
    with pytest.raises(TooManyRedirects, match="more than 3"):
        fetch(settings, server.url("/r0"))


def test_5xx_is_retried_then_succeeds(settings: Settings, server: RouteServer) -> None:
    calls = {"n": 0}

    def flaky(req: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            respond(req, 503, b"busy")
        else:
            respond(req, 200, b"ok")

    server.routes["/flaky"] = flaky
    result = fetch(settings, server.url("/flaky"))
    assert result.body == b"ok" and result.attempts == 3


def test_404_is_not_retried(settings: Settings, server: RouteServer) -> None:
    with pytest.raises(HTTPStatusError) as info:
        fetch(settings, server.url("/missing"))
    assert info.value.status == 404 and not is_transient(info.value)
    assert len(server.hits_for("/missing")) == 1


def test_429_honours_retry_after(settings: Settings, server: RouteServer) -> None:
    times: list[float] = []

    def limited(req: BaseHTTPRequestHandler) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            respond(req, 429, b"slow down", {"Retry-After": "1"})
        else:
            respond(req, 200, b"ok")

    server.routes["/limited"] = limited
    assert fetch(settings, server.url("/limited")).body == b"ok"
    assert times[1] - times[0] >= 0.95


def test_retry_after_beyond_the_limit_gives_up(tmp_path: Path, server: RouteServer) -> None:
    server.routes["/x"] = static("no", 429, headers={"Retry-After": "3600"})
    settings = make_settings(tmp_path, max_retry_after=5)
    with pytest.raises(HTTPStatusError) as info:
        fetch(settings, server.url("/x"))
    assert info.value.status == 429
    assert len(server.hits_for("/x")) == 1


def test_dripping_server_hits_the_total_deadline(tmp_path: Path, server: RouteServer) -> None:
    def drip(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Length", "1000")
        req.end_headers()
        for _ in range(100):
            req.wfile.write(b"x")
            req.wfile.flush()
            time.sleep(0.2)  # each read is quick; the whole body never arrives

    server.routes["/drip"] = drip
    settings = make_settings(tmp_path, request_deadline=1.0, read_timeout=5.0, max_retries=0)
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match="total deadline"):
        fetch(settings, server.url("/drip"))
    assert time.monotonic() - started < 4


def test_body_over_the_cap_is_aborted(tmp_path: Path, server: RouteServer) -> None:
    server.routes["/big"] = static(b"x" * 50_000)
    settings = make_settings(tmp_path, max_body_bytes=10_000)
    with pytest.raises(ResponseTooLarge):
        fetch(settings, server.url("/big"))


def test_gzip_bomb_is_capped_on_decompressed_bytes(tmp_path: Path, server: RouteServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    server.routes["/bomb"] = static(bomb, headers={"Content-Encoding": "gzip"})
    settings = make_settings(tmp_path, max_body_bytes=1_000_000)
    with pytest.raises(ResponseTooLarge, match="after decompression"):
        fetch(settings, server.url("/bomb"))


def test_connection_reset_is_a_connection_failure(settings: Settings, server: RouteServer) -> None:
    def reset(req: BaseHTTPRequestHandler) -> None:
        req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        req.wfile.flush()
        req.close_connection = True
        req.connection.close()

    server.routes["/reset"] = reset
    with pytest.raises(ConnectionFailed):
        fetch(settings, server.url("/reset"))


def test_dns_failure_is_a_connection_failure(settings: Settings) -> None:
    with pytest.raises(ConnectionFailed, match="DNS"):
        fetch(settings, "http://no-such-host.invalid/feed", kind="feed")


def test_robots_txt_disallow_is_respected(settings: Settings, server: RouteServer) -> None:
    server.routes["/robots.txt"] = static(
        "User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    server.routes["/private/a"] = static("secret")
    server.routes["/public/a"] = static("public")
    with pytest.raises(RobotsDisallowed):
        fetch(settings, server.url("/private/a"))
    assert fetch(settings, server.url("/public/a")).body == b"public"
    assert server.hits_for("/private/a") == []


def test_robots_txt_wildcards_and_end_anchors_are_read_as_rfc_9309_says(
    settings: Settings, server: RouteServer
) -> None:
    # What real sites write: "*" inside a path, "$" at its end, and a longer Allow that
    # wins over a shorter Disallow.
    server.routes["/robots.txt"] = static(
        "User-agent: *\nDisallow: /*.pdf$\nDisallow: /drafts\nAllow: /drafts/public\n",
        content_type="text/plain",
    )
    for path in ("/paper.pdf", "/paper.pdfx", "/drafts/a", "/drafts/public/a"):
        server.routes[path] = static("ok")
    with pytest.raises(RobotsDisallowed):
        fetch(settings, server.url("/paper.pdf"))
    with pytest.raises(RobotsDisallowed):
        fetch(settings, server.url("/drafts/a"))
    assert fetch(settings, server.url("/paper.pdfx")).body == b"ok"
    assert fetch(settings, server.url("/drafts/public/a")).body == b"ok"
    assert server.hits_for("/paper.pdf") == [] and server.hits_for("/drafts/a") == []


def test_per_host_delay_spaces_request_starts(tmp_path: Path, server: RouteServer) -> None:
    server.routes["/p"] = static("ok")
    settings = make_settings(tmp_path, per_host_delay=0.2, per_host_concurrency=1)

    async def go() -> None:
        async with Fetcher(settings) as f:
            await asyncio.gather(*(f.fetch(server.url("/p")) for _ in range(4)))

    asyncio.run(go())
    starts = [h.time for h in server.hits_for("/p")]
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.18, gaps


def test_network_policy() -> None:
    policy = NetworkPolicy.from_cidrs(["10.1.0.0/16"])
    assert policy.allows("93.184.216.34")
    assert policy.allows("10.1.2.3")
    for blocked in ["127.0.0.1", "10.2.0.1", "192.168.1.1", "169.254.169.254", "::1",
                    "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1", "fe80::1", "fc00::1"]:  # fmt: skip
        assert not policy.allows(blocked), blocked
