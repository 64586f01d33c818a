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

from storage.db import transaction

START = datetime(2024, 1, 1)
SPAN_SECONDS = 3 * 365 * 24 * 3600
FAMILIES = 60
ADOPTERS = 200_000
ORIGINS = ["CN", "US", "US", "FR", "CN", "GB"]

# Per event i: a row of uniform random numbers, then the columns derived from them.
# Pareto(alpha) as 1 / u^(1/alpha), as Python's random.paretovariate draws it.
_EVENTS = """
WITH draws AS (
    SELECT i, random() AS r_family, random() AS r_adopter, random() AS r_relation,
           random() AS r_named, random() AS r_switch, random() AS r_conf,
           random() AS r_dated, random() AS r_jitter
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
           $start::TIMESTAMP + to_seconds(
               CAST(least(greatest(i * ($span / $events) + (r_jitter - 0.5) * 86400, 0),
                          $span - 1) AS BIGINT)
           ) AS event_at
    FROM draws
)
SELECT substr(md5('ev-' || i), 1, 24),
       substr(md5('art-' || (i // 3)), 1, 24),
       'https://news.example.com/art-' || (i // 3),
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
       CASE WHEN r_dated >= 0.05 THEN event_at END,
       event_at + INTERVAL 6 HOUR,
       'synthetic'
FROM shaped
ORDER BY i
"""

_ARTICLES = """
SELECT substr(md5('art-' || a), 1, 24), 'https://news.example.com/art-' || a, 'https://news.example.com/art-' || a,
       'synthetic-news', 'Story ' || a || ' about AI models',
       $start::TIMESTAMP + to_seconds(CAST(a * 3 * ($span / $events) AS BIGINT)),
       $start::TIMESTAMP + to_seconds(CAST(a * 3 * ($span / $events) AS BIGINT))
           + INTERVAL 6 HOUR,
       md5('art-' || a), 'Text of story ' || a || '.', 'synthetic', 'synthetic'
FROM range(($events + 2) // 3) t(a)
"""

# One mention per two events: the family of the even-numbered event of each pair.
_MENTIONS = """
SELECT DISTINCT ON (article_id, model_family)
       article_id, model_family, model, vendor, origin_country, open_weights,
       1 + CAST(floor(confidence * 6) AS INTEGER), published_at, 'synthetic'
FROM adoption_events
WHERE extractor_version = 'synthetic' AND CAST(substr(event_id, 4) AS BIGINT) % 2 = 0
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
            "extractor_version) " + _ARTICLES,
            {k: params[k] for k in ("events", "start", "span")},
        )
        con.execute(
            "INSERT INTO model_mentions (article_id, model_family, model, vendor, "
            "origin_country, open_weights, sentences, published_at, extractor_version) "
            + _MENTIONS
        )
    return {
        table: int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        for table in ("adoption_events", "articles", "model_mentions")
    }


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
