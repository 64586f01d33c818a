"""The SQL of ``adoptwatch company`` and ``adoptwatch model``: one company's history, one
model family's (or vendor's) adopters and share of voice. A company's stack is the
explorer's (storage.explorer.company_stack).

Facts come from ``adoption_facts`` (storage.facts), events from ``adoption_events``
with their time as ``coalesce(published_at, extracted_at)``, mentions from
``model_mentions`` (a mention's time as the digest takes it). docs/glossary.md defines
every figure. Functions return plain dicts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from adoptwatch.storage.facts import PUBLIC_FACT_COLUMNS
from adoptwatch.storage.records import dict_rows

_AT = "coalesce(e.published_at, e.extracted_at)"
_FACT_SELECT = ", ".join(f"f.{c}" for c in PUBLIC_FACT_COLUMNS if c != "refreshed_at")


def fact_outlets(
    con: duckdb.DuckDBPyConnection, adopter: str | None = None, family: str | None = None
) -> dict[tuple[str, str, bool], list[str]]:
    """(adopter, model family, vendor level) -> the independent outlets that reported it."""
    rows = con.execute(
        """
        SELECT adopter, model_family, vendor_level, list(outlet ORDER BY outlet)
        FROM fact_outlets
        WHERE ($adopter IS NULL OR adopter = $adopter)
          AND ($family IS NULL OR model_family = $family)
        GROUP BY ALL
        """,
        {"adopter": adopter, "family": family},
    ).fetchall()
    return {(r[0], r[1], bool(r[2])): list(r[3]) for r in rows}


def company_timeline(
    con: duckdb.DuckDBPyConnection, adopter: str, since: datetime | None
) -> list[dict[str, Any]]:
    """The company's events, oldest first, with their article's title and outlet."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_AT} AS reported_at, e.relation, e.model, e.model_family, e.vendor,
                   coalesce(e.vendor_level, false) AS vendor_level, e.confidence,
                   e.evidence, e.article_url, a.title, a.outlet, e.switch_id
            FROM adoption_events e
            LEFT JOIN articles a ON a.article_id = e.article_id
            WHERE e.adopter = $adopter AND ($since IS NULL OR {_AT} >= $since)
            ORDER BY reported_at, e.model_family, e.relation, e.event_id
            """,
            {"adopter": adopter, "since": since},
        )
    )


def company_switches(
    con: duckdb.DuckDBPyConnection, adopter: str, since: datetime | None
) -> list[dict[str, Any]]:
    """The company's switches: a drop and an adoption of another family read together
    (one ``switch_id``), oldest first."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_AT.replace("e.", "d.")} AS reported_at, d.model_family AS from_family,
                   a.model_family AS to_family, d.evidence, d.article_url
            FROM adoption_events d
            JOIN adoption_events a
              ON a.switch_id = d.switch_id AND a.relation = 'adopts'
             AND a.model_family <> d.model_family
            WHERE d.adopter = $adopter AND d.relation = 'drops'
              AND ($since IS NULL OR {_AT.replace("e.", "d.")} >= $since)
            ORDER BY reported_at, from_family, to_family
            """,
            {"adopter": adopter, "since": since},
        )
    )


def _scope(column: str) -> str:
    if column not in ("model_family", "vendor"):
        raise ValueError(f"a model view is of a model_family or a vendor, not {column!r}")
    return column


def model_facts(con: duckdb.DuckDBPyConnection, column: str, value: str) -> list[dict[str, Any]]:
    """The facts of a model family or of a vendor (every family it makes, and the
    vendor-level facts), current first, newest first."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_FACT_SELECT} FROM adoption_facts f
            WHERE f.{_scope(column)} = $value
            ORDER BY CASE f.status WHEN 'current' THEN 0 WHEN 'evaluating' THEN 1 ELSE 2 END,
                     f.status_since DESC, f.adopter
            """,
            {"value": value},
        )
    )


def model_weeks(
    con: duckdb.DuckDBPyConnection, column: str, value: str, start: datetime, stop: datetime
) -> list[dict[str, Any]]:
    """Per ISO week (Monday, UTC) in [start, stop): adopters reporting an adoption, new
    adopters (first adoption ever that week, from first_adoptions), adopters dropping,
    articles mentioning it, all articles with a mention, and its share of voice."""
    scope = _scope(column)
    return dict_rows(
        con.execute(
            f"""
            WITH weeks AS (
                SELECT unnest(generate_series(date_trunc('week', $start::TIMESTAMP),
                                              $stop::TIMESTAMP - INTERVAL 1 MICROSECOND,
                                              INTERVAL 7 DAY)) AS week
            ),
            ev AS (
                SELECT date_trunc('week', {_AT}) AS week, e.adopter, e.relation
                FROM adoption_events e
                WHERE e.{scope} = $value AND e.adopter_named
                  AND {_AT} >= $start AND {_AT} < $stop
            ),
            firsts AS (
                SELECT date_trunc('week', f.first_named_at) AS week, count(*) AS new_adopters
                FROM first_adoptions f
                WHERE f.first_named_at >= $start AND f.first_named_at < $stop
                  AND f.model_family IN (SELECT DISTINCT model_family FROM adoption_facts
                                         WHERE {scope} = $value)
                GROUP BY ALL
            ),
            mentions AS (
                SELECT date_trunc('week', coalesce(m.published_at, a.fetched_at)) AS week,
                       count(DISTINCT m.article_id) FILTER (WHERE m.{scope} = $value)
                           AS mentioning,
                       count(DISTINCT m.article_id) AS all_mentioning
                FROM model_mentions m JOIN articles a USING (article_id)
                WHERE coalesce(m.published_at, a.fetched_at) >= $start
                  AND coalesce(m.published_at, a.fetched_at) < $stop
                GROUP BY ALL
            )
            SELECT w.week::DATE AS week,
                   count(DISTINCT ev.adopter) FILTER (WHERE ev.relation = 'adopts')
                       AS adopters,
                   coalesce(any_value(fi.new_adopters), 0) AS new_adopters,
                   count(DISTINCT ev.adopter) FILTER (WHERE ev.relation = 'drops')
                       AS dropping,
                   coalesce(any_value(m.mentioning), 0) AS mentioning_articles,
                   coalesce(any_value(m.all_mentioning), 0) AS articles_with_mentions,
                   CASE WHEN coalesce(any_value(m.all_mentioning), 0) > 0
                        THEN round(any_value(m.mentioning) / any_value(m.all_mentioning), 4)
                        ELSE 0 END AS share_of_voice
            FROM weeks w
            LEFT JOIN ev ON ev.week = w.week
            LEFT JOIN firsts fi ON fi.week = w.week
            LEFT JOIN mentions m ON m.week = w.week
            GROUP BY w.week
            ORDER BY w.week
            """,
            {"value": value, "start": start, "stop": stop},
        )
    )


def model_top_evidence(
    con: duckdb.DuckDBPyConnection, column: str, value: str, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """The most confident claims about it by named adopters, newest first on ties."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_AT} AS reported_at, e.adopter, e.relation, e.model, e.model_family,
                   e.confidence, e.evidence, e.article_url, a.outlet
            FROM adoption_events e LEFT JOIN articles a ON a.article_id = e.article_id
            WHERE e.{_scope(column)} = $value AND e.adopter_named
              AND ($since IS NULL OR {_AT} >= $since)
            ORDER BY e.confidence DESC, reported_at DESC, e.event_id
            LIMIT $limit
            """,
            {"value": value, "since": since, "limit": limit},
        )
    )
