"""Crash safety: a real `adoptwatch ingest` killed with SIGKILL mid-run, again and again.

After every kill the database opens, holds no article without the feed entries, events
and fetches of its batch, and the next run finishes the work without doing anything
twice. The end state equals that of one uninterrupted run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.extractors.article import extract_article
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.settings import load_settings
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, write_session
from tests import sites
from tests.conftest import make_settings

ARTICLES = 14
LATENCY = 0.3  # per request: a run takes a few seconds, so kills land inside it


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    root = sites.build(tmp_path_factory.mktemp("crash-site"), ARTICLES)
    with SiteServer(root, latency=LATENCY) as server:
        yield server


def configure(tmp_path: Path, site: SiteServer, name: str) -> tuple[Path, Path]:
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[sources]]\nname = "news"\nurl = "{site.url("feeds/news.xml")}"\n')
    db = tmp_path / f"{name}.duckdb"
    config = sites.write_config(
        tmp_path / f"{name}.toml",
        db,
        sources,
        write_batch_size=2,
        per_host_concurrency=2,
        max_concurrency=2,
    )
    return config, db


def query(db: Path, sql: str) -> list[tuple]:
    with read_session(db) as con:
        return store.run_query(con, sql).rows


def events(db: Path) -> set[tuple]:
    return set(query(db, "SELECT article_url, adopter, relation, model_family, evidence "
                         "FROM adoption_events"))  # fmt: skip


def article_requests(site: SiteServer) -> list[str]:
    return [r.path for r in site.requests if r.path.startswith("/articles/") and r.status == 200]


def start(config: Path, api_url: str | None, log: Path) -> subprocess.Popen[bytes]:
    """The real CLI (with Prefect) when given an API URL, else the plain pipeline runner."""
    if api_url:
        return sites.start_ingest(config, api_url, log)
    return sites.start_plain_ingest(config, log)


def run_to_completion(config: Path, api_url: str | None, log: Path) -> dict:
    proc = start(config, api_url, log)
    assert proc.wait(timeout=300) == 0, log.with_suffix(".err").read_text()[-3000:]
    return json.loads(log.read_text())


def run_and_kill(config: Path, api_url: str | None, log: Path, when: Callable[[], bool]) -> bool:
    """Start an ingest and SIGKILL it as soon as ``when()`` holds; False if it finished first."""
    proc = start(config, api_url, log)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if when():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return True
            time.sleep(0.01)
        raise AssertionError("the ingest neither finished nor reached the kill point")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_consistent(db: Path, reference: set[tuple]) -> set[str]:
    """The invariants a crash must not break; returns the stored article URLs."""
    # The file opens for writing too (a crashed writer's WAL is replayed).
    with write_session(db) as con:
        con.execute("SELECT count(*) FROM articles").fetchall()
    articles = query(db, "SELECT article_id, canonical_url FROM articles")
    urls = {url for _, url in articles}
    assert len(urls) == len(articles), "an article was stored twice"
    # Every stored article came with its feed entry and its fetch, in its batch ...
    entry_ids = {r[0] for r in query(db, "SELECT article_id FROM feed_entries "
                                         "WHERE status = 'stored'")}  # fmt: skip
    assert {a for a, _ in articles} == entry_ids
    fetched = {r[0] for r in query(db, "SELECT final_url FROM fetch_log "
                                       "WHERE kind = 'article' AND status = 200")}  # fmt: skip
    assert urls <= fetched
    # ... and with all of its events (no article has part of them), none without it.
    stored_events = events(db)
    assert {e[0] for e in stored_events} <= urls
    assert stored_events == {e for e in reference if e[0] in urls}
    return urls


def test_kill_9_at_several_points_loses_nothing_and_doubles_nothing(
    tmp_path: Path, site: SiteServer, prefect_harness: str
) -> None:
    # The uninterrupted run everything is compared with (in-process, without Prefect).
    ref_config, ref_db = configure(tmp_path, site, "reference")
    summary = asyncio.run(run_ingest(load_settings(ref_config)))
    assert summary.articles_new == ARTICLES and summary.feeds_failed == 0
    reference = events(ref_db)
    assert len({e[0] for e in reference}) >= ARTICLES // 2, "too few events to compare"
    reference_articles = {r[0] for r in query(ref_db, "SELECT canonical_url FROM articles")}

    config, db = configure(tmp_path, site, "crashed")
    # (what, runner, article pages the run fetches before the kill; 0: right after the feed;
    # None: right after the first batch the run commits)
    kill_points: list[tuple[str, str | None, int | None]] = [
        ("the CLI, after the feed, before any article", prefect_harness, 0),
        ("the CLI, after two article pages", prefect_harness, 2),
        ("the plain runner, after its first committed batch", None, None),
    ]
    stored: set[str] = set()
    log = tmp_path / "killed.log"
    for label, runner, pages in kill_points:
        before = len(article_requests(site))
        fed = len(site.requests_for("/feeds/news.xml"))

        def reached(before: int = before, fed: int = fed, pages: int | None = pages) -> bool:
            if pages is None:
                err = log.with_suffix(".err")
                return err.exists() and sites.BATCH_WRITTEN in err.read_text()
            if pages == 0:
                return len(site.requests_for("/feeds/news.xml")) > fed
            return len(article_requests(site)) - before >= pages

        killed = run_and_kill(config, runner, log, reached)
        assert killed, f"the run finished before the kill point ({label})"
        previously = stored
        stored = check_consistent(db, reference)
        assert previously <= stored, label
        # Pages already stored were not fetched again by the run that was killed.
        fetched_now = article_requests(site)[before:]
        assert not {p for p in fetched_now if site.url(p) in previously}, label
    assert 0 < len(stored) < ARTICLES, "the kills should land mid-run"

    before = len(article_requests(site))
    final = run_to_completion(config, prefect_harness, tmp_path / "final.log")
    assert final["feeds_failed"] == 0 and final["articles_failed"] == 0
    assert final["articles_new"] == ARTICLES - len(stored)
    refetched = {p for p in article_requests(site)[before:] if site.url(p) in stored}
    assert refetched == set(), "articles stored before the crash were fetched again"
    check_consistent(db, reference)
    assert {r[0] for r in query(db, "SELECT canonical_url FROM articles")} == reference_articles
    assert events(db) == reference
    counts = query(db, "SELECT (SELECT count(*) FROM adoption_events), "
                       "(SELECT count(DISTINCT event_id) FROM adoption_events), "
                       "(SELECT count(*) FROM feed_entries)")  # fmt: skip
    assert counts == [(len(reference), len(reference), ARTICLES)]

    # A further run finds nothing to do.
    again = asyncio.run(run_ingest(load_settings(config)))
    assert (again.articles_new, again.events_new, again.feeds_unchanged) == (0, 0, 1)


def test_raw_pages_are_kept_compressed_for_re_extraction_without_a_crawl(
    tmp_path: Path,
) -> None:
    """The stored raw bytes are exactly what the site sent; extraction from them gives the
    stored text again, with the site gone."""

    root = sites.build(tmp_path / "site", 4)
    with SiteServer(root) as server:
        served = {
            server.url(f"articles/{sites.slug(i)}.html"): server.render(
                f"articles/{sites.slug(i)}.html"
            )
            for i in range(4)
        }
        sources = tmp_path / "sources.toml"
        sources.write_text(f'[[sources]]\nname = "news"\nurl = "{server.url("feeds/news.xml")}"\n')
        settings = make_settings(tmp_path, sources=sources)
        asyncio.run(run_ingest(settings))
    # The site is down now: everything below comes from the database.
    stored = query(settings.db, "SELECT url, raw_html, text, octet_length(raw_html) FROM articles")
    assert len(stored) == 4
    for url, raw, text, compressed_size in stored:
        page = zlib.decompress(raw)
        assert page == served[url]
        assert compressed_size < len(page)  # kept compressed
        assert extract_article(page, url, encoding="utf-8").text == text

    # Text and claims come back from the stored pages alone: spoil both, then re-extract.
    events_before = events(settings.db)
    texts_before = dict(query(settings.db, "SELECT article_id, text FROM articles"))
    assert events_before
    with write_session(settings.db) as con:
        con.execute("UPDATE articles SET text = 'stale text', content_hash = 'x'")
        con.execute("DELETE FROM adoption_events")
    result = CliRunner().invoke(main, ["reextract", "--pages", "--json", "--db", str(settings.db)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["articles"], report["texts_changed"], report["pages_failed"]) == (4, 4, 0)
    assert dict(query(settings.db, "SELECT article_id, text FROM articles")) == texts_before
    assert events(settings.db) == events_before


def test_a_killed_write_transaction_leaves_nothing_half_written(tmp_path: Path) -> None:
    """SIGKILL inside write_batch's transaction, after some of its inserts ran."""
    db = tmp_path / "x.duckdb"
    code = f"""
import os, signal
from datetime import datetime
from adoptwatch.storage import store
from adoptwatch.storage.db import write_session
from adoptwatch.storage.records import ArticleRow, EntryRow, EventRow
now = datetime(2026, 11, 20)
def batch(n):
    return store.WriteBatch(
        articles=[ArticleRow(f"a{{n}}", f"https://e.example/{{n}}", f"https://e.example/{{n}}",
                  "s", "t", now, now, f"h{{n}}", "text", "test", "v1", b"raw")],
        events=[EventRow(f"e{{n}}", f"a{{n}}", f"https://e.example/{{n}}", "Co", True, "Qwen3",
                "Qwen", "Alibaba", "CN", True, "adopts", None, 0.9, "Co adopts Qwen.", now,
                now, "v1")],
        entries=[EntryRow("s", f"k{{n}}", f"https://e.example/{{n}}", "t", now, now, "stored", 1,
                 None, f"a{{n}}")])
with write_session({str(db)!r}) as con:
    store.write_batch(con, batch(1))
original = store._insert_events
def insert_then_die(con, rows, **options):
    original(con, rows, **options)
    if rows:
        os.kill(os.getpid(), signal.SIGKILL)  # the article is in, its event too, no entry yet
store._insert_events = insert_then_die
with write_session({str(db)!r}) as con:
    store.write_batch(con, batch(2))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert query(db, "SELECT article_id FROM articles") == [("a1",)]
    assert query(db, "SELECT event_id FROM adoption_events") == [("e1",)]
    assert query(db, "SELECT entry_key FROM feed_entries") == [("k1",)]
