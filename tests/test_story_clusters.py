"""Outlets and story clusters (docs/corroboration.md): the outlet rule, clusters at write
time and by the backfill on both storage backends, a real ingest of a story syndicated
across loopback outlets, and the threshold's floors on the real-article benchmark."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from adoptwatch.extractors.outlets import outlet_of
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.pipeline.rows import article_id_for, content_hash, signature_row
from adoptwatch.pipeline.story_clusters import backfill_story_clusters
from adoptwatch.settings import SettingsError, load_settings
from adoptwatch.storage import store
from adoptwatch.storage.clusters import StoryClustering, story_clusters
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.facts import facts_drift
from adoptwatch.storage.records import ArticleRow, EventRow
from tests.conftest import make_settings
from tests.syndication import CLAIM, STORIES, SyndicatedArticle, syndication_sites

DEFAULTS = load_settings(env={}, overrides={"db": "unused.duckdb"})
CLUSTERING = StoryClustering(DEFAULTS.story_cluster_threshold, DEFAULTS.story_cluster_window_days)


@pytest.mark.parametrize(
    ("url", "outlet"),
    [
        ("https://news.bbc.co.uk/world/1", "bbc.co.uk"),
        ("https://www.bbc.co.uk/news", "bbc.co.uk"),
        ("http://blog.example.com:8080/post", "example.com"),
        ("https://a.b.example.co.jp/x", "example.co.jp"),
        ("https://WWW.Example.COM./x", "example.com"),
        # Private suffixes: each blog on a hosting domain is its own publisher.
        ("https://alice.github.io/post", "alice.github.io"),
        ("https://bob.github.io/post", "bob.github.io"),
        # No registrable domain: the host is its own outlet; the port never counts.
        ("http://127.0.0.2:8001/a", "127.0.0.2"),
        ("http://127.0.0.2:9002/b", "127.0.0.2"),
        ("http://[::1]:8080/a", "::1"),
        ("http://localhost:5000/a", "localhost"),
        ("https://co.uk/", "co.uk"),
    ],
)
def test_an_outlet_is_the_registrable_domain(url: str, outlet: str) -> None:
    assert outlet_of(url) == outlet


def test_signatures_are_deterministic_and_tell_copies_from_other_stories() -> None:
    from adoptwatch.storage.clusters import estimated_jaccard

    by_key = {a.key: signature_row(a.key, a.text()) for a in STORIES}
    again = signature_row("original", STORIES[0].text())
    assert again == by_key["original"]  # the same in any process: a fixed seed and hash
    original = by_key["original"].minhash
    for key in ("syndicated-2", "syndicated-3", "edited-copy"):
        assert estimated_jaccard(original, by_key[key].minhash) >= CLUSTERING.threshold, key
    assert estimated_jaccard(original, by_key["independent"].minhash) < 0.1


# --- storage, both backends --------------------------------------------------------------


@pytest.fixture(params=["file", "sqlite-lake", "postgres-lake"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(db, data path): a DuckDB file, or a DuckLake on a SQLite or PostgreSQL catalog."""
    if request.param == "file":
        yield str(tmp_path / "x.duckdb"), ""
    else:
        url, data = request.getfixturevalue(request.param.replace("-", "_"))
        yield url, str(data)


def row(article: SyndicatedArticle, host: str | None = None, **changes: object) -> ArticleRow:
    url = f"https://{host or f'outlet{article.outlet + 1}.example'}/news/{article.slug}"
    return dataclasses.replace(
        ArticleRow(
            article_id=article_id_for(url), canonical_url=url, url=url, source="s",
            title=article.headline, published_at=article.published, fetched_at=article.published,
            content_hash=content_hash(article.text()), text=article.text(),
            extraction_method="test", extractor_version="v1", outlet=outlet_of(url),
        ),
        **changes,
    )  # fmt: skip


def write(db: tuple[str, str], rows: Sequence[ArticleRow]) -> store.WriteResult:
    batch = store.WriteBatch(
        articles=list(rows),
        signatures={r.article_id: signature_row(r.article_id, r.text) for r in rows},
        story_clustering=CLUSTERING,
    )
    with write_session(db[0], data_path=db[1]) as con:
        return store.write_batch(con, batch)


def clusters(db: tuple[str, str]) -> dict[str, tuple[str | None, str | None]]:
    with write_session(db[0], data_path=db[1]) as con:
        return {a: (outlet, cluster) for a, outlet, cluster in story_clusters(con)}


ROWS = {a.key: row(a) for a in STORIES}
ID = {key: r.article_id for key, r in ROWS.items()}
EXPECTED = {
    ID["original"]: ("outlet1.example", ID["original"]),
    ID["syndicated-2"]: ("outlet2.example", ID["original"]),
    ID["syndicated-3"]: ("outlet3.example", ID["original"]),
    ID["edited-copy"]: ("outlet4.example", ID["original"]),
    ID["independent"]: ("outlet2.example", ID["independent"]),
}


def test_copies_across_batches_join_the_first_stored_story(db: tuple[str, str]) -> None:
    write(db, [ROWS["original"]])
    write(db, [ROWS["syndicated-2"], ROWS["independent"]])
    write(db, [ROWS["syndicated-3"]])
    write(db, [ROWS["edited-copy"]])
    assert clusters(db) == EXPECTED


def test_copies_within_one_batch_cluster_with_the_earliest(db: tuple[str, str]) -> None:
    # The batch's order says nothing: the earliest story (published first) starts it.
    write(db, [ROWS[k] for k in ("edited-copy", "independent", "syndicated-3", "original")])
    write(db, [ROWS["syndicated-2"]])
    assert clusters(db) == EXPECTED


def test_writing_a_batch_again_changes_no_cluster(db: tuple[str, str]) -> None:
    write(db, list(ROWS.values()))
    before = clusters(db)
    again = write(db, list(ROWS.values()))
    assert again.articles == 0
    assert clusters(db) == before == EXPECTED
    with read_session(db[0], data_path=db[1]) as con:
        signatures = con.execute("SELECT count(*) FROM story_signatures").fetchall()[0][0]
        bands = con.execute("SELECT count(DISTINCT article_id) FROM story_bands").fetchall()[0][0]
    assert (signatures, bands) == (5, 5)


def test_facts_count_the_outlets_of_first_articles(db: tuple[str, str]) -> None:
    """The integrator's rule (adoption_facts.outlets): distinct outlets among the first
    articles of the clusters that report a fact. Five articles, four outlets, two
    independent reports."""
    write(db, list(ROWS.values()))
    with read_session(db[0], data_path=db[1]) as con:
        outlets = con.execute(
            """
            SELECT count(DISTINCT first.outlet) FROM articles a
            JOIN articles first ON first.article_id = a.story_cluster
            """
        ).fetchall()[0][0]
    assert outlets == 2


def test_copies_further_apart_than_the_window_are_separate_stories(
    db: tuple[str, str],
) -> None:
    late = STORIES[1].published + timedelta(days=CLUSTERING.window_days + 1)
    write(db, [ROWS["original"]])
    write(db, [row(STORIES[1], published_at=late, fetched_at=late)])
    assert clusters(db)[ID["syndicated-2"]] == ("outlet2.example", ID["syndicated-2"])


def claim_event(article: ArticleRow) -> EventRow:
    adopter, family, relation = CLAIM
    return EventRow(
        event_id=f"e-{article.article_id}", article_id=article.article_id,
        article_url=article.canonical_url, adopter=adopter, adopter_named=True, model=family,
        model_family=family, vendor="Alibaba", origin_country="CN", open_weights=True,
        relation=relation, switch_id=None, confidence=0.9, evidence=article.text[:80],
        published_at=article.published_at, extracted_at=article.fetched_at,
        extractor_version="v1",
    )  # fmt: skip


def outlets_of_the_fact(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT outlets FROM adoption_facts").fetchall()
    assert len(rows) == 1
    return int(rows[0][0])


def test_the_backfill_fills_articles_stored_without_clusters(db: tuple[str, str]) -> None:
    # Stored as before migration 7: no outlet, no cluster, no signature; one event each.
    with write_session(db[0], data_path=db[1]) as con:
        store.write_batch(
            con,
            store.WriteBatch(
                articles=[dataclasses.replace(r, outlet=None) for r in ROWS.values()],
                events=[claim_event(r) for r in ROWS.values()],
            ),
        )
        assert {v for v in (o for _, o, c in story_clusters(con)) if v} == set()
        assert outlets_of_the_fact(con) == 5  # each article its own publisher, for now
        assert backfill_story_clusters(con, CLUSTERING, batch_size=2) == 5
        assert backfill_story_clusters(con, CLUSTERING) == 0  # idempotent
        # The fact now counts the independent outlets (storage.facts, recomputed).
        assert outlets_of_the_fact(con) == 2
        assert facts_drift(con) == []
    assert clusters(db) == EXPECTED
    # New copies written later join the backfilled story.
    copy = row(dataclasses.replace(STORIES[1], credit="Via Northgate."), host="outlet5.example")
    write(db, [copy])
    assert clusters(db)[copy.article_id] == ("outlet5.example", ID["original"])


# --- a real ingest of the loopback outlets ---------------------------------------------------


def test_an_ingest_clusters_a_story_syndicated_across_loopback_outlets(tmp_path: Path) -> None:
    with syndication_sites() as sites:
        sources = tmp_path / "sources.toml"
        sources.write_text(sites.sources_toml())
        settings = make_settings(tmp_path, sources=sources)
        asyncio.run(run_ingest(settings))
        ids = {a.key: article_id_for(sites.url(a.key)) for a in STORIES}
        with read_session(settings.db) as con:
            first = {a: (o, c) for a, o, c in story_clusters(con)}
        assert first == {
            ids["original"]: ("127.0.0.1", ids["original"]),
            ids["syndicated-2"]: ("127.0.0.2", ids["original"]),
            ids["syndicated-3"]: ("127.0.0.3", ids["original"]),
            ids["edited-copy"]: ("127.0.0.4", ids["original"]),
            ids["independent"]: ("127.0.0.2", ids["independent"]),
        }
        with read_session(settings.db) as con:
            claims = con.execute(
                "SELECT DISTINCT article_id, adopter, model_family, relation FROM adoption_events"
            ).fetchall()
        assert sorted(claims) == sorted((i, *CLAIM) for i in ids.values())
        asyncio.run(run_ingest(settings))  # nothing new: the clusters stay as they are
        with read_session(settings.db) as con:
            assert {a: (o, c) for a, o, c in story_clusters(con)} == first


# --- the threshold, on real syndicated copies ----------------------------------------------


def test_the_default_threshold_holds_its_floors_on_real_articles() -> None:
    from benchmarks.story_clusters import default_bench_dir, run

    bench = default_bench_dir()
    if not (bench / "ground-truth.json").is_file():
        pytest.skip(f"no article-extraction benchmark at {bench} (../shared/ is absent)")
    report = run(bench)
    assert report.chosen.threshold == DEFAULTS.story_cluster_threshold
    assert report.chosen.false_positives == 0
    assert report.chosen.recall >= 0.93


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("story_cluster_threshold", 0.2),  # below what the LSH bands find reliably
        ("story_cluster_threshold", 1.5),
        ("story_cluster_window_days", 0),
        ("story_cluster_window_days", float("nan")),
    ],
)
def test_story_cluster_settings_are_range_checked(key: str, value: float) -> None:
    with pytest.raises(SettingsError, match=key):
        load_settings(env={}, overrides={"db": "unused.duckdb", key: value})
