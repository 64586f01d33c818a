"""The ingest pipeline end to end, without Prefect, against a fixture site on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from adoptwatch.pipeline.ingest import IngestSummary, run_ingest
from adoptwatch.settings import Settings
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests.conftest import make_settings
from tests.httpserver import RouteServer, static

SITE = Path(__file__).parent / "fixtures" / "site"


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer(SITE) as server:
        yield server


@pytest.fixture
def site_settings(tmp_path: Path, site: SiteServer) -> Settings:
    sources = tmp_path / "sources.toml"
    sources.write_bytes(site.render("sources.toml") or b"")
    return make_settings(tmp_path, sources=sources)


def ingest(settings: Settings) -> IngestSummary:
    return asyncio.run(run_ingest(settings))


def rows(settings: Settings, sql: str) -> list[tuple]:
    with read_session(settings.db) as con:
        return store.run_query(con, sql).rows


def test_first_run_stores_articles_events_and_every_fetch(
    site: SiteServer, site_settings: Settings
) -> None:
    summary = ingest(site_settings)
    assert (summary.feeds_fetched, summary.feeds_failed) == (2, 0)
    # news: 4 entries, blog: 2 (one of them the Airbnb story again, with tracking params)
    assert summary.entries_new == 6
    assert summary.articles_new == 3
    assert summary.articles_failed == 2  # the robots-disallowed page and the 404

    urls = [r[0] for r in rows(site_settings, "SELECT canonical_url FROM articles ORDER BY 1")]
    assert urls == [
        site.url("articles/airbnb-qwen.html"),
        site.url("articles/ledgerly-deepseek.html"),
        site.url("articles/notion-claude.html"),
    ]
    # The story reached through two feeds is one article, fetched once.
    assert len(site.requests_for("/articles/airbnb-qwen.html")) == 1
    linked = rows(
        site_settings,
        "SELECT source, status FROM feed_entries WHERE url LIKE '%airbnb-qwen%' ORDER BY 1",
    )
    assert linked == [("fixture-blog", "stored"), ("fixture-news", "stored")]
    assert (
        len(
            {
                r[0]
                for r in rows(
                    site_settings,
                    "SELECT article_id FROM feed_entries WHERE url LIKE '%airbnb-qwen%'",
                )
            }
        )
        == 1
    )

    events = set(
        rows(
            site_settings,
            "SELECT adopter, relation, model_family, origin_country FROM adoption_events",
        )
    )
    assert ("Airbnb", "adopts", "Qwen", "CN") in events
    assert ("Airbnb", "drops", "GPT", "US") in events
    assert ("Ledgerly", "evaluates", "DeepSeek", "CN") in events
    assert ("Notion", "drops", "GPT", "US") in events
    assert ("Notion", "adopts", "Claude", "US") in events
    # Nothing from the "Related stories" boilerplate.
    assert not {e for e in events if e[0] in ("Globex", "Initech")}

    evidence = rows(
        site_settings,
        "SELECT evidence, article_url, extractor_version FROM adoption_events "
        "WHERE adopter = 'Airbnb' AND relation = 'adopts'",
    )
    assert "replaced ChatGPT with Alibaba's Qwen" in evidence[0][0]
    assert evidence[0][1] == site.url("articles/airbnb-qwen.html")
    assert evidence[0][2]

    log = rows(site_settings, "SELECT kind, url, status, error_class FROM fetch_log")
    kinds = {r[0] for r in log}
    assert kinds == {"robots", "feed", "article"}
    by_url = {r[1]: r for r in log}
    assert by_url[site.url("private/roadmap.html")][3] == "robots_disallowed"
    assert by_url[site.url("articles/gone.html")][2:] == (404, "http_status")
    assert site.requests_for("/private/roadmap.html") == []


def test_second_run_is_all_304s_and_adds_nothing(site: SiteServer, site_settings: Settings) -> None:
    ingest(site_settings)
    before = rows(site_settings, "SELECT count(*) FROM adoption_events")[0][0]
    article_hits = len([r for r in site.requests if r.path.startswith("/articles/")])
    second = ingest(site_settings)
    assert (second.feeds_unchanged, second.feeds_fetched) == (2, 0)
    assert (second.articles_new, second.events_new) == (0, 0)
    assert rows(site_settings, "SELECT count(*) FROM adoption_events")[0][0] == before
    feed_requests = site.requests_for("/feeds/news.xml")
    assert [r.status for r in feed_requests] == [200, 304]
    assert "If-None-Match" in feed_requests[1].headers
    # No article is fetched again: the 404 and the robots-disallowed page are final
    # (only transient failures such as timeouts and 5xx are retried on later runs).
    new_article_hits = [r for r in site.requests if r.path.startswith("/articles/")][article_hits:]
    assert new_article_hits == []
    statuses = rows(
        site_settings, "SELECT status, count(*) FROM feed_entries GROUP BY 1 ORDER BY 1"
    )
    assert statuses == [("rejected", 2), ("stored", 4)]


def test_a_broken_feed_is_a_row_and_the_run_goes_on(tmp_path: Path, site: SiteServer) -> None:
    with RouteServer() as broken:
        broken.routes["/feed"] = static(b"\x00\xffnot xml at all", content_type="application/xml")
        broken.routes["/down"] = static(b"oops", status=500)
        sources = tmp_path / "sources.toml"
        sources.write_text(
            (site.render("sources.toml") or b"").decode()
            + f'\n[[sources]]\nname = "garbage"\nurl = "{broken.url("/feed")}"\n'
            + f'\n[[sources]]\nname = "down"\nurl = "{broken.url("/down")}"\n'
        )
        settings = make_settings(tmp_path, sources=sources)
        summary = ingest(settings)
    assert summary.feeds_fetched == 2 and summary.feeds_failed == 2
    assert summary.articles_new == 3
    failures = {f["source"]: f["error_class"] for f in summary.failed_sources}
    assert failures == {"garbage": "parse_error", "down": "http_status"}
    health = {
        r[0]: r[1:]
        for r in rows(settings, "SELECT name, consecutive_failures, last_error_class FROM sources")
    }
    assert health["garbage"] == (1, "parse_error") and health["down"] == (1, "http_status")
    assert health["fixture-news"] == (0, None)


def test_a_failed_article_is_retried_next_run(tmp_path: Path) -> None:
    state = {"up": False}
    with RouteServer() as srv:
        body = (SITE / "articles" / "notion-claude.html").read_text().replace("{{BASE}}", "")

        def article(req):  # type: ignore[no-untyped-def]
            from tests.httpserver import respond

            if state["up"]:
                respond(req, 200, body.encode())
            else:
                respond(req, 503, b"maintenance")

        feed = (
            '<rss version="2.0"><channel><title>t</title><item><title>Notion</title>'
            f"<link>{srv.url('/notion')}</link><guid>n1</guid></item></channel></rss>"
        )
        srv.routes["/feed"] = static(feed, content_type="application/rss+xml")
        srv.routes["/notion"] = article
        sources = tmp_path / "sources.toml"
        sources.write_text(f'[[sources]]\nname = "s"\nurl = "{srv.url("/feed")}"\n')
        settings = make_settings(tmp_path, sources=sources, max_retries=0)
        first = ingest(settings)
        assert (first.articles_new, first.articles_failed) == (0, 1)
        state["up"] = True
        second = ingest(settings)
        assert second.articles_new == 1
        assert ("Notion", "adopts", "Claude") in set(
            rows(settings, "SELECT adopter, relation, model_family FROM adoption_events")
        )
