"""Synthetic event logs and the row-by-row write baseline, for benchmarks and load tests.

Kept in storage/ because it is SQL. Nothing in the product calls it.

:func:`generate_event_log` fills a freshly migrated database with ``events`` adoption
events in one ``INSERT ... SELECT`` over ``range()`` (seconds for ten million rows,
where building Python row objects and writing them through ``write_batch`` takes half
an hour), plus their articles and model mentions. The shape follows what a crawl
writes: about three years of events in rough publication order, three events per
article, a long tail of adopters (Pareto), 60 model families of very unequal
popularity, 60% adoptions, 15% drops (5% of events share a switch_id with a neighbour),
25% evaluations, 3% unnamed adopters, 5% without a published date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

import duckdb

from adoptwatch.storage import store
from adoptwatch.storage.db import transaction
from adoptwatch.storage.facts import rebuild_facts
from adoptwatch.storage.records import registered, to_arrow

START = datetime(2024, 1, 1)
SPAN_SECONDS = 3 * 365 * 24 * 3600
FAMILIES = 60
ADOPTERS = 200_000
ORIGINS = ["CN", "US", "US", "FR", "CN", "GB"]

# Per event i: uniform random numbers, then the columns derived from them. Pareto(alpha)
# is drawn as 1 / u^(1/alpha), as Python's random.paretovariate does. An article (three
# consecutive events) has one time and is undated as a whole, as the ingest writes it:
# events and mentions carry their article's published_at.
_ARTICLE_AT = """
    $start::TIMESTAMP + to_seconds(CAST(least(greatest(
        {a} * 3 * ($span / $events) + ((hash({a}) % 1000) / 1000.0 - 0.5) * 86400, 0),
        $span - 1) AS BIGINT))
"""
_ARTICLE_DATED = "(hash({a} + 7) % 100 >= 5)"
_ARTICLE_ID = "substr(md5('art-' || {a}), 1, 24)"

_EVENTS = f"""
WITH draws AS (
    SELECT i, i // 3 AS a, random() AS r_family, random() AS r_adopter,
           random() AS r_relation, random() AS r_named, random() AS r_switch,
           random() AS r_conf
    FROM range($events) t(i)
),
shaped AS (
    SELECT *,
           least(CAST(floor(pow(r_family, -1.0 / 1.2)) AS BIGINT) - 1, $families - 1)
               AS family_index,
           CAST(floor(pow(r_adopter, -1.0 / 0.6)) AS BIGINT) % $adopters AS adopter_index,
           CASE WHEN r_relation < 0.60 THEN 'adopts'
                WHEN r_relation < 0.75 THEN 'drops'
                ELSE 'evaluates' END AS relation,
           {_ARTICLE_AT.format(a="a")} AS event_at
    FROM draws
)
SELECT printf('%024x', i),
       {_ARTICLE_ID.format(a="a")},
       'https://news.example.com/art-' || a,
       'company-' || adopter_index,
       r_named > 0.03,
       'family-' || lpad(CAST(family_index AS VARCHAR), 2, '0'),
       'family-' || lpad(CAST(family_index AS VARCHAR), 2, '0'),
       'vendor-' || family_index,
       $origins[1 + family_index % len($origins)],
       family_index % 2 = 0,
       relation,
       CASE WHEN r_switch < 0.05 THEN 'sw-' || (i // 2) END,
       r_conf,
       'Company ' || adopter_index || ' ' || relation || ' family-' || family_index
           || ' for its product line.',
       CASE WHEN {_ARTICLE_DATED.format(a="a")} THEN event_at END,
       event_at + INTERVAL 6 HOUR,
       'synthetic'
FROM shaped
ORDER BY i
"""

_ARTICLES = f"""
SELECT {_ARTICLE_ID.format(a="a")},
       'https://news.example.com/art-' || a, 'https://news.example.com/art-' || a,
       'synthetic-news', 'Story ' || a || ' about AI models',
       CASE WHEN {_ARTICLE_DATED.format(a="a")} THEN {_ARTICLE_AT.format(a="a")} END,
       {_ARTICLE_AT.format(a="a")} + INTERVAL 6 HOUR,
       md5('art-' || a), 'Text of story ' || a || '.', 'synthetic', 'synthetic',
       'outlet-' || (hash(a) % 400) || '.example.com', {_ARTICLE_ID.format(a="a")}
FROM range(($events + 2) // 3) t(a)
ORDER BY a
"""

# About one mention per two events: the event's family, once per article and family, in
# the order the events were written.
_MENTIONS = """
SELECT article_id, model_family, any_value(model), any_value(vendor),
       any_value(origin_country), any_value(open_weights),
       1 + CAST(floor(max(confidence) * 6) AS INTEGER), any_value(published_at), 'synthetic'
FROM adoption_events
WHERE extractor_version = 'synthetic' AND hash(event_id) % 2 = 0
GROUP BY article_id, model_family
ORDER BY min(event_id)
"""


def generate_event_log(con: duckdb.DuckDBPyConnection, events: int) -> dict[str, int]:
    """Fill a migrated, empty database; returns the row counts written per table."""
    params = {
        "events": events,
        "families": FAMILIES,
        "adopters": ADOPTERS,
        "start": START,
        "span": float(SPAN_SECONDS),
        "origins": ORIGINS,
    }
    with transaction(con):
        con.execute(
            "INSERT INTO adoption_events (event_id, article_id, article_url, adopter, "
            "adopter_named, model, model_family, vendor, origin_country, open_weights, "
            "relation, switch_id, confidence, evidence, published_at, extracted_at, "
            "extractor_version) " + _EVENTS,
            params,
        )
        con.execute(
            "INSERT INTO articles (article_id, canonical_url, url, source, title, "
            "published_at, fetched_at, content_hash, text, extraction_method, "
            "extractor_version, outlet, story_cluster) " + _ARTICLES,
            {k: params[k] for k in ("events", "start", "span")},
        )
        con.execute(
            "INSERT INTO model_mentions (article_id, model_family, model, vendor, "
            "origin_country, open_weights, sentences, published_at, extractor_version) " + _MENTIONS
        )
    # Derived from the events, which bypassed the store.
    store.rebuild_first_adoptions(con)
    with transaction(con):
        rebuild_facts(con)
    return {
        table: int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        for table in (
            "adoption_events",
            "articles",
            "model_mentions",
            "first_adoptions",
            "adoption_facts",
        )
    }


def generate_crawl_history(con: duckdb.DuckDBPyConnection, articles: int) -> None:
    """Articles and one stored feed entry each, as years of crawling leave them: what an
    ingest loads before its first request (storage.store.load_crawl_state)."""
    with transaction(con):
        con.execute(
            "INSERT INTO articles (article_id, canonical_url, url, source, title, "
            "published_at, fetched_at, content_hash, text, extraction_method, "
            "extractor_version, outlet, story_cluster) " + _ARTICLES,
            {"events": articles * 3, "start": START, "span": float(SPAN_SECONDS)},
        )
        con.execute(
            """
            INSERT INTO feed_entries (source, entry_key, url, title, published_at,
                                      first_seen_at, status, attempts, article_id)
            SELECT 'source-' || (hash(article_id) % 40), url || '#entry', url, title,
                   published_at, fetched_at, 'stored', 1, article_id
            FROM articles
            """
        )


def append_unfolded(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Any], events: Sequence[Any]
) -> None:
    """Store articles and events (storage.records rows) without folding the events into
    the facts, in the caller's transaction: what a write holds just before its fold
    (benchmarks.facts times the fold alone)."""
    for table, rows in (("articles", articles), ("adoption_events", events)):
        arrow = to_arrow(type(rows[0]), list(rows))
        with registered(con, "_unfolded", arrow) as view:
            con.execute(f"INSERT INTO {table} ({', '.join(arrow.schema.names)}) "
                        f"SELECT * FROM {view}")  # fmt: skip


def event_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM adoption_events").fetchall()[0][0])


def scan_baseline(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """The least any rollup of the whole log costs: one GROUP BY over one column."""
    return con.execute(
        "SELECT relation, count(*) FROM adoption_events GROUP BY relation"
    ).fetchall()


def new_adopter_pairs_naive(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime
) -> list[tuple[str, str]]:
    """(adopter, model family) pairs first adopted in [start, stop), named adopters only:
    an independent spelling of storage.digest.new_adopters, one GROUP BY over the log."""
    return con.execute(
        """
        SELECT adopter, model_family
        FROM adoption_events
        WHERE relation = 'adopts' AND adopter_named
        GROUP BY adopter, model_family
        HAVING min(coalesce(published_at, extracted_at)) >= $start
           AND min(coalesce(published_at, extracted_at)) < $stop
        """,
        {"start": start, "stop": stop},
    ).fetchall()


def insert_row_by_row(
    con: duckdb.DuckDBPyConnection, table: str, row_type: type, rows: Sequence[Any]
) -> None:
    """The naive write, for comparison: one parameterised INSERT per row (executemany)."""
    names = [f.name for f in fields(row_type)]
    sql = (
        f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    with transaction(con):
        con.executemany(sql, [_plain_row(r) for r in rows])


def _plain_row(row: Any) -> list[Any]:
    return [list(v) if isinstance(v, tuple) else v for v in astuple(row)]


def generate_story_signatures(con: duckdb.DuckDBPyConnection) -> int:
    """Give every article without one an outlet, a story of its own and a signature
    (random band hashes, a constant MinHash): the size of ``story_bands`` and
    ``story_signatures`` a log of that many articles has, for the clustering benchmark.
    Returns how many articles got one."""
    with transaction(con):
        filled = con.execute(
            """
            SELECT count(*) FROM articles WHERE story_cluster IS NULL
            """
        ).fetchall()[0][0]
        con.execute(
            """
            INSERT INTO story_signatures (article_id, story_at, minhash)
            SELECT article_id, coalesce(published_at, fetched_at), encode(repeat('s', 504))
            FROM articles WHERE story_cluster IS NULL
            """
        )
        con.execute(
            """
            INSERT INTO story_bands (band_hash, story_at, article_id)
            SELECT (hash(a.article_id, b.range) >> 1)::BIGINT,
                   coalesce(a.published_at, a.fetched_at), a.article_id
            FROM articles a, range(42) b WHERE a.story_cluster IS NULL
            """
        )
        con.execute(
            "UPDATE articles SET story_cluster = article_id, "
            "outlet = 'outlet' || (hash(article_id) % 5000) || '.example' "
            "WHERE story_cluster IS NULL"
        )
    return int(filled)
