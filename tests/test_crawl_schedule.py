"""How the ingest orders and overlaps its page fetches: round-robin over hosts, a few
batches fetched ahead of extraction, and nothing left running when the caller stops."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from adoptwatch.pipeline.crawl import PendingEntry, fetch_ahead, interleave_hosts
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.site_server import SiteServer
from benchmarks._site import SiteShape, build_site
from benchmarks.crawl import politeness_bound, start_servers, write_sources
from tests.conftest import make_settings


def entry(url: str) -> PendingEntry:
    return PendingEntry(
        source="s", key=url, url=url, canonical_url=url, title=None, published_at=None,
        first_seen_at=datetime(2026, 11, 30), attempts=0,
    )  # fmt: skip


def test_links_are_taken_one_host_at_a_time_in_each_hosts_order() -> None:
    groups = [[entry(f"http://a.example/{i}")] for i in range(3)]
    groups += [[entry(f"http://B.example/{i}")] for i in range(1)]
    groups += [[entry(f"http://c.example:8080/{i}")] for i in range(2)]
    order = [g[0].url for g in interleave_hosts(groups)]
    assert order == [
        "http://a.example/0",
        "http://B.example/0",
        "http://c.example:8080/0",
        "http://a.example/1",
        "http://c.example:8080/1",
        "http://a.example/2",
    ]
    assert interleave_hosts([]) == []


def test_fetch_ahead_yields_in_order_and_keeps_a_few_batches_running() -> None:
    running: set[int] = set()
    most = 0
    # Later batches finish first: the order must still be the batches' order.
    delays = {0: 0.05, 1: 0.03, 2: 0.02, 3: 0.01, 4: 0.0, 5: 0.0}

    async def fetch_pages(fetcher: object, batch: list[int], progress: object) -> list[int]:
        nonlocal most
        running.add(batch[0])
        most = max(most, len(running))
        await asyncio.sleep(delays[batch[0]])
        running.discard(batch[0])
        return batch

    async def go() -> list[list[int]]:
        out = []
        batches = [[i] for i in range(6)]
        async for pages in fetch_ahead(fetch_pages, None, batches, None, ahead=2):  # type: ignore[arg-type]
            out.append(pages)
            await asyncio.sleep(0.02)  # the caller's own work on the batch
        return out

    assert asyncio.run(go()) == [[i] for i in range(6)]
    assert most == 3  # the batch being waited for and two ahead of it


def test_fetch_ahead_cancels_what_runs_when_the_caller_stops() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def fetch_pages(fetcher: object, batch: list[int], progress: object) -> list[int]:
        started.append(batch[0])
        try:
            await asyncio.sleep(0 if batch[0] == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(batch[0])
            raise
        return batch

    async def go() -> None:
        batches = [[i] for i in range(10)]
        pages = fetch_ahead(fetch_pages, None, batches, None, ahead=3)  # type: ignore[arg-type]
        async for _ in pages:
            break
        await pages.aclose()
        await asyncio.sleep(0)

    asyncio.run(go())
    assert started == [0, 1, 2, 3]  # never more than the window
    assert sorted(cancelled) == [1, 2, 3]


def test_every_host_gets_its_first_article_request_before_any_host_gets_its_last(
    tmp_path: Path,
) -> None:
    # Three hosts, eight articles each, batches of four links: taken feed by feed, the
    # first batches would be one host's and the other hosts would wait their turn.
    folders = build_site(tmp_path / "site", SiteShape(hosts=3, articles_per_host=8))
    servers: list[SiteServer] = start_servers(folders, latency=0.0)
    try:
        write_sources(tmp_path / "sources.toml", servers)
        settings = make_settings(
            tmp_path, write_batch_size=4, per_host_delay=0.02, per_host_concurrency=1
        )
        summary = asyncio.run(run_ingest(settings))
        assert summary.articles_new == 24
        firsts, lasts = [], []
        for server in servers:
            times = [r.time for r in server.requests if r.path.startswith("/articles/")]
            assert len(times) == 8
            firsts.append(min(times))
            lasts.append(max(times))
        assert max(firsts) < min(lasts)
    finally:
        for server in servers:
            server.stop()


def test_the_politeness_bound() -> None:
    # Default politeness: a request start per second to each host, robots.txt and the
    # feed before 100 articles; latency is hidden behind the delay.
    b = politeness_bound(20, 100, delay=1.0, concurrency=2, latency=0.05, max_concurrency=16)
    assert round(b.seconds, 6) == round(101 * 1.0 + 0.05, 6)
    # No delay: two in flight per host, each 50 ms, after robots.txt and the feed.
    b = politeness_bound(1, 10, delay=0.0, concurrency=2, latency=0.05, max_concurrency=16)
    assert round(b.per_host_seconds, 6) == round(0.05 + 0.05 + 5 * 0.05, 6)
    # Many hosts: the shared cap on requests in flight is what binds.
    b = politeness_bound(100, 10, delay=0.0, concurrency=2, latency=0.05, max_concurrency=16)
    assert b.seconds == b.shared_seconds == 100 * 12 * 0.05 / 16
    # A re-crawl: robots.txt and the feed only.
    b = politeness_bound(
        20, 100, delay=1.0, concurrency=2, latency=0.05, max_concurrency=16, with_articles=False
    )
    assert round(b.seconds, 6) == 1.05
