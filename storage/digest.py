"""Every SQL statement of the weekly digest: rollups of the event log and the send log.

Conventions shared by all rollups:

* an event's time is ``coalesce(published_at, extracted_at)`` (``published_at`` is
  NULL when neither the feed nor the page gave a date); a mention's time is
  ``coalesce(model_mentions.published_at, articles.fetched_at)``;
* a week is passed in as a half-open UTC interval ``[start, stop)`` of naive
  ``TIMESTAMP`` values, the caller having turned the ISO week in the digest's time
  zone into UTC (so daylight-saving changes are handled once, in Python, and the
  filters stay plain range predicates);
* only ``relation = 'adopts'`` counts as an adoption; with ``named_only`` (the
  default) only named companies count (``adopter_named``), not phrases such as
  "many US startups";
* every statement is set-based: a scan, a hash join and an aggregation at most,
  and the rows returned are the small result, never the events;
* nothing scans the whole log or every article: "first adoption ever" comes from
  ``first_adoptions`` (kept at write time), and article titles are looked up by id
  after the rollup (:func:`_articles_by_id`), not joined into it.

Functions return plain dicts (column name to value); the digest module turns them
into its own types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from adoptwatch.storage.db import StorageError, atomic
from adoptwatch.storage.records import dict_rows

# Spelled once so every rollup uses the same clock.
_AT = "coalesce(e.published_at, e.extracted_at)"

_EVENT_COLUMNS = (
    "e.event_id, e.article_id, e.article_url, e.adopter, e.adopter_named, e.model, "
    "e.model_family, e.vendor, e.origin_country, e.open_weights, e.relation, e.switch_id, "
    "e.confidence, e.evidence"
)


def _events_between(where: str, start: str = "$start", stop: str = "$stop") -> str:
    """Events whose time lies in [start, stop), with that time as ``event_at``.

    Two branches instead of one filter on ``coalesce(...)``: a plain range on a column
    is pushed into the scan (and skips row groups by their min/max), so the wide
    columns (evidence, URLs) are read only for the week's rows, not for every event.
    """
    return f"""
        SELECT {_EVENT_COLUMNS}, e.published_at AS event_at
        FROM adoption_events e
        WHERE e.published_at >= {start} AND e.published_at < {stop} AND ({where})
        UNION ALL
        SELECT {_EVENT_COLUMNS}, e.extracted_at AS event_at
        FROM adoption_events e
        WHERE e.published_at IS NULL AND e.extracted_at >= {start} AND e.extracted_at < {stop}
          AND ({where})
    """


_NAMED = "e.adopter_named OR NOT $named_only"


# DuckDB answers ``article_id IN (?, ?, ...)`` from the primary-key index while the list
# has at most index_scan_max_count (2048) values; a join reads every article instead.
_INDEX_LOOKUP_CHUNK = 1000
_INDEX_LOOKUP_MAX = 8 * _INDEX_LOOKUP_CHUNK


def _articles_by_id(
    con: duckdb.DuckDBPyConnection, article_ids: Iterable[str | None], start: Any, stop: Any
) -> dict[str, tuple[str, str | None]]:
    """(canonical_url, title) of some articles, by article_id.

    Called with the article ids of a result (a few hundred rows), not joined into the
    rollup: a join reads article_id and title of every article ever stored, which costs
    more than the rollup itself. An event carries its article's published_at, so the
    articles of a week's events are found by one range scan of published_at (pruned to
    the week's row groups); the others (undated ones) by index lookups.
    """
    wanted = sorted({i for i in article_ids if i})
    if not wanted:
        return {}
    found: dict[str, tuple[str, str | None]] = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            """
            SELECT a.article_id, a.canonical_url, a.title
            FROM articles a
            SEMI JOIN (SELECT unnest($ids::VARCHAR[]) AS article_id) w
                ON w.article_id = a.article_id
            WHERE a.published_at >= $start AND a.published_at < $stop
            """,
            {"ids": wanted, "start": start, "stop": stop},
        ).fetchall()
    }
    missing = [i for i in wanted if i not in found]
    if len(missing) > _INDEX_LOOKUP_MAX:  # so many that one scan of all articles is cheaper
        rows = con.execute(
            """
            SELECT a.article_id, a.canonical_url, a.title
            FROM articles a
            SEMI JOIN (SELECT unnest($ids::VARCHAR[]) AS article_id) w
                ON w.article_id = a.article_id
            """,
            {"ids": missing},
        ).fetchall()
        found.update((r[0], (r[1], r[2])) for r in rows)
        return found
    for at in range(0, len(missing), _INDEX_LOOKUP_CHUNK):
        chunk = missing[at : at + _INDEX_LOOKUP_CHUNK]
        rows = con.execute(
            "SELECT article_id, canonical_url, title FROM articles "
            f"WHERE article_id IN ({', '.join('?' for _ in chunk)})",
            chunk,
        ).fetchall()
        found.update((r[0], (r[1], r[2])) for r in rows)
    return found


def _title(articles: dict[str, tuple[str, str | None]], article_id: str | None) -> str | None:
    return articles[article_id][1] if article_id in articles else None


def week_totals(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime, named_only: bool = True
) -> dict[str, int]:
    """Counts for one week.

    ``adoption_reports``: adopts events (one per article that reports it);
    ``adoptions``: distinct (adopter, model family) pairs adopted;
    ``companies``: distinct adopters; ``drops``/``evaluations``: events of those
    relations; ``articles``: articles with any event; ``unnamed_adoption_reports``:
    adopts events whose adopter is a phrase, not a company (never counted elsewhere
    when ``named_only``).
    """
    counted = "(adopter_named OR NOT $named_only)"
    rows = dict_rows(
        con.execute(
            f"""
            WITH week_events AS ({_events_between("TRUE")})
            SELECT
                count(*) FILTER (WHERE relation = 'adopts' AND {counted}) AS adoption_reports,
                count(DISTINCT (adopter, model_family))
                    FILTER (WHERE relation = 'adopts' AND {counted}) AS adoptions,
                count(DISTINCT adopter)
                    FILTER (WHERE relation = 'adopts' AND {counted}) AS companies,
                count(*) FILTER (WHERE relation = 'drops' AND {counted}) AS drops,
                count(*) FILTER (WHERE relation = 'evaluates' AND {counted}) AS evaluations,
                count(DISTINCT article_id) AS articles,
                count(*) FILTER (WHERE relation = 'adopts' AND NOT adopter_named)
                    AS unnamed_adoption_reports
            FROM week_events
            """,
            {"start": start, "stop": stop, "named_only": named_only},
        )
    )
    return {k: int(v or 0) for k, v in rows[0].items()}


def new_adopters(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime, named_only: bool = True
) -> list[dict[str, Any]]:
    """(adopter, model family) pairs adopted this week and never before.

    "Before" means an earlier adopts event of the same pair; earlier drops or
    evaluations do not make an adoption old news. One row per pair, with the
    week's first report of it as evidence and the number of reports this week.
    The history is not read: ``first_adoptions`` (kept at write time) holds each
    pair's first adoption, so this reads the pairs first adopted this week and the
    week's events (see benchmarks/storage.py).
    """
    first = "first_named_at" if named_only else "first_at"
    rows = dict_rows(
        con.execute(
            f"""
            WITH week_adopts AS (
                {_events_between(f"e.relation = 'adopts' AND ({_NAMED})")}
            ),
            first_seen AS (  -- pairs whose first adoption ever is this week
                SELECT adopter, model_family
                FROM first_adoptions
                WHERE {first} >= $start AND {first} < $stop
            ),
            firsts AS (
                SELECT w.*, count(*) OVER (PARTITION BY w.adopter, w.model_family) AS reports
                FROM week_adopts w
                SEMI JOIN first_seen s
                    ON s.adopter = w.adopter AND s.model_family = w.model_family
                QUALIFY row_number() OVER (
                    PARTITION BY w.adopter, w.model_family
                    ORDER BY w.event_at, w.confidence DESC, w.event_id
                ) = 1
            )
            SELECT f.adopter, f.model, f.model_family, f.vendor, f.origin_country,
                   f.open_weights, f.confidence, f.evidence, f.article_url,
                   f.article_id, f.event_at, f.reports
            FROM firsts f
            ORDER BY f.event_at, f.adopter, f.model_family
            """,
            {"start": start, "stop": stop, "named_only": named_only},
        )
    )
    articles = _articles_by_id(con, (r["article_id"] for r in rows), start, stop)
    for r in rows:
        r["article_title"] = _title(articles, r.pop("article_id"))
    return rows


# One drop (d) and one adoption (a) of the same adopter, side by side.
_SWITCH_PAIR = """
    d.adopter,
    d.model AS from_model, d.model_family AS from_family, d.vendor AS from_vendor,
    d.origin_country AS from_origin, d.open_weights AS from_open_weights,
    a.model AS to_model, a.model_family AS to_family, a.vendor AS to_vendor,
    a.origin_country AS to_origin, a.open_weights AS to_open_weights,
    least(d.confidence, a.confidence) AS confidence,
    greatest(d.event_at, a.event_at) AS event_at,
    d.evidence AS drop_evidence, d.article_url AS drop_url, d.article_id AS drop_article_id,
    a.evidence AS adopt_evidence, a.article_url AS adopt_url, a.article_id AS adopt_article_id,
    d.event_id AS drop_event_id, a.event_id AS adopt_event_id
"""


def switches(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime, named_only: bool = True
) -> list[dict[str, Any]]:
    """Switches this week: an adopter drops family X and adopts family Y (X != Y).

    A drop and an adoption are one switch when they share a ``switch_id`` (the
    extractor read them in one sentence, "replaced X with Y"), or, failing that,
    when the same adopter dropped one family and adopted another in the same week.
    One row per (adopter, from, to); ``linked`` tells which rule found it, and a
    linked pair is preferred as evidence. The week rule pairs one representative
    event per (adopter, family) on each side, so an adopter with many reports
    costs families x families, not reports x reports.
    """
    rows = dict_rows(
        con.execute(
            f"""
            WITH week_events AS MATERIALIZED (
                {_events_between(f"e.relation IN ('adopts', 'drops') AND ({_NAMED})")}
            ),
            best AS (  -- the most confident report of each (adopter, family, relation)
                SELECT * FROM week_events
                QUALIFY row_number() OVER (
                    PARTITION BY adopter, model_family, relation
                    ORDER BY confidence DESC, event_at, event_id
                ) = 1
            ),
            linked AS (
                SELECT {_SWITCH_PAIR}, TRUE AS linked
                FROM week_events d
                JOIN week_events a
                  ON a.switch_id = d.switch_id AND a.adopter = d.adopter
                WHERE d.relation = 'drops' AND a.relation = 'adopts'
                  AND a.model_family <> d.model_family
            ),
            by_week AS (
                SELECT {_SWITCH_PAIR}, FALSE AS linked
                FROM best d
                JOIN best a ON a.adopter = d.adopter
                WHERE d.relation = 'drops' AND a.relation = 'adopts'
                  AND a.model_family <> d.model_family
            ),
            candidates AS (
                SELECT * FROM linked UNION ALL BY NAME SELECT * FROM by_week
            ),
            pairs AS (
                SELECT * FROM candidates
                QUALIFY row_number() OVER (
                    PARTITION BY adopter, from_family, to_family
                    ORDER BY linked DESC, confidence DESC, event_at, drop_event_id,
                             adopt_event_id
                ) = 1
            )
            SELECT p.* EXCLUDE (drop_event_id, adopt_event_id)
            FROM pairs p
            ORDER BY p.linked DESC, p.event_at, p.adopter, p.from_family, p.to_family
            """,
            {"start": start, "stop": stop, "named_only": named_only},
        )
    )
    articles = _articles_by_id(
        con,
        [r["drop_article_id"] for r in rows] + [r["adopt_article_id"] for r in rows],
        start,
        stop,
    )
    for r in rows:
        r["drop_title"] = _title(articles, r.pop("drop_article_id"))
        r["adopt_title"] = _title(articles, r.pop("adopt_article_id"))
    return rows


def model_ranking(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    stop: datetime,
    prev_start: datetime,
    named_only: bool = True,
) -> list[dict[str, Any]]:
    """Model families ranked by distinct adopting companies this week, against last week.

    ``[prev_start, start)`` is the previous week. Every family adopted in either
    week is a row: ``companies`` and ``prev_companies``, ``change``, ``rank`` and
    ``prev_rank`` (NULL when the family had no adopter that week), and this week's
    most confident report as evidence (NULL evidence for families only adopted
    last week). Ordered by this week's rank.
    """
    rows = dict_rows(
        con.execute(
            f"""
            WITH two_weeks AS MATERIALIZED (
                {_events_between(f"e.relation = 'adopts' AND ({_NAMED})", start="$prev_start")}
            ),
            per_family AS (
                SELECT model_family,
                       count(DISTINCT adopter) FILTER (WHERE event_at >= $start) AS companies,
                       count(DISTINCT adopter) FILTER (WHERE event_at < $start)
                           AS prev_companies,
                       count(*) FILTER (WHERE event_at >= $start) AS reports,
                       mode(vendor) AS vendor,
                       mode(origin_country) AS origin_country,
                       bool_or(open_weights) AS open_weights
                FROM two_weeks
                GROUP BY model_family
            ),
            ranked AS (
                SELECT *,
                       companies - prev_companies AS change,
                       CASE WHEN companies > 0
                            THEN rank() OVER (ORDER BY companies DESC) END AS rank,
                       CASE WHEN prev_companies > 0
                            THEN rank() OVER (ORDER BY prev_companies DESC) END AS prev_rank
                FROM per_family
            ),
            example AS (
                SELECT * FROM two_weeks
                WHERE event_at >= $start
                QUALIFY row_number() OVER (
                    PARTITION BY model_family ORDER BY confidence DESC, event_at DESC, event_id
                ) = 1
            )
            SELECT r.model_family, r.vendor, r.origin_country, r.open_weights,
                   r.companies, r.prev_companies, r.change, r.rank, r.prev_rank, r.reports,
                   x.adopter AS example_adopter, x.model AS example_model,
                   x.evidence, x.article_url, x.article_id
            FROM ranked r
            LEFT JOIN example x ON x.model_family = r.model_family
            ORDER BY r.companies DESC, r.reports DESC, r.prev_companies DESC, r.model_family
            """,
            {"start": start, "stop": stop, "prev_start": prev_start, "named_only": named_only},
        )
    )
    articles = _articles_by_id(con, (r["article_id"] for r in rows), start, stop)
    for r in rows:
        r["article_title"] = _title(articles, r.pop("article_id"))
    return rows


def most_discussed(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime, limit: int = 10
) -> list[dict[str, Any]]:
    """Model families by articles mentioning them this week (then by sentences).

    Mentions count every model an article talks about, adopted or not (share of
    voice). The article with the most sentences on the family is the evidence.
    """
    rows = dict_rows(
        con.execute(
            """
            WITH week_mentions AS MATERIALIZED (
                -- Dated mentions are filtered on their own column; only undated ones
                -- need the article's fetch time, so the join stays small.
                SELECT m.article_id, m.model_family, m.model, m.vendor, m.origin_country,
                       m.open_weights, m.sentences
                FROM model_mentions m
                WHERE m.published_at >= $start AND m.published_at < $stop
                UNION ALL
                SELECT m.article_id, m.model_family, m.model, m.vendor, m.origin_country,
                       m.open_weights, m.sentences
                FROM model_mentions m
                JOIN articles a ON a.article_id = m.article_id
                WHERE m.published_at IS NULL
                  AND a.fetched_at >= $start AND a.fetched_at < $stop
            ),
            per_family AS (
                SELECT model_family,
                       count(DISTINCT article_id) AS articles,
                       sum(sentences) AS sentences,
                       mode(vendor) AS vendor,
                       mode(origin_country) AS origin_country,
                       bool_or(open_weights) AS open_weights,
                       arg_max(article_id, sentences) AS top_article_id,
                       max(sentences) AS top_article_sentences
                FROM week_mentions
                GROUP BY model_family
            )
            SELECT f.model_family, f.vendor, f.origin_country, f.open_weights, f.articles,
                   CAST(f.sentences AS BIGINT) AS sentences, f.top_article_sentences,
                   f.top_article_id
            FROM per_family f
            ORDER BY f.articles DESC, f.sentences DESC, f.model_family
            LIMIT $limit
            """,
            {"start": start, "stop": stop, "limit": limit},
        )
    )
    articles = _articles_by_id(con, (r["top_article_id"] for r in rows), start, stop)
    for r in rows:
        url, title = articles.get(r.pop("top_article_id") or "", (None, None))
        r["article_url"], r["article_title"] = url, title
    return rows


def origin_share(
    con: duckdb.DuckDBPyConnection,
    weeks: Sequence[tuple[str, datetime, datetime]],
    named_only: bool = True,
) -> list[dict[str, Any]]:
    """Adoptions per week by the adopted model's origin: CN, US, other.

    ``weeks`` is a list of (label, start, stop) in chronological order; every week
    is a row, with zeros when nothing was adopted. An adoption is a distinct
    (adopter, model family) pair within the week.
    """
    if not weeks:
        return []
    labels = [w[0] for w in weeks]
    starts = [w[1] for w in weeks]
    stops = [w[2] for w in weeks]
    return dict_rows(
        con.execute(
            f"""
            WITH weeks AS (
                SELECT unnest($labels::VARCHAR[]) AS week,
                       unnest($starts::TIMESTAMP[]) AS start,
                       unnest($stops::TIMESTAMP[]) AS stop
            ),
            span AS (
                {_events_between(f"e.relation = 'adopts' AND ({_NAMED})", "$first", "$last")}
            ),
            adoptions AS (
                SELECT w.week, e.adopter, e.model_family,
                       upper(mode(e.origin_country)) AS origin
                FROM span e
                JOIN weeks w ON e.event_at >= w.start AND e.event_at < w.stop
                GROUP BY w.week, e.adopter, e.model_family
            )
            SELECT w.week, w.start, w.stop,
                   count(x.origin) FILTER (WHERE x.origin = 'CN') AS cn,
                   count(x.origin) FILTER (WHERE x.origin = 'US') AS us,
                   count(x.origin) FILTER (WHERE x.origin NOT IN ('CN', 'US')) AS other,
                   count(x.origin) AS total
            FROM weeks w
            LEFT JOIN adoptions x ON x.week = w.week
            GROUP BY w.week, w.start, w.stop
            ORDER BY w.start
            """,
            {
                "labels": labels,
                "starts": starts,
                "stops": stops,
                "first": min(starts),
                "last": max(stops),
                "named_only": named_only,
            },
        )
    )


# --- the send log ----------------------------------------------------------------


@dataclass(frozen=True)
class DigestLogRow:
    """One attempt to send a digest. ``error`` must already be free of credentials."""

    digest_id: str
    week: str
    week_start: Any  # date
    week_end: Any  # date
    timezone: str
    recipients: tuple[str, ...]
    refused: tuple[str, ...]
    sender: str
    subject: str
    message_id: str
    transport: str
    status: str  # sent | failed
    error_class: str | None
    error: str | None
    forced: bool
    new_adoptions: int
    adoption_events: int
    attempted_at: datetime
    sent_at: datetime | None


_LOG_COLUMNS = (
    "digest_id, week, week_start, week_end, timezone, recipients, refused, sender, subject, "
    "message_id, transport, status, error_class, error, forced, new_adoptions, "
    "adoption_events, attempted_at, sent_at"
)


def _has_digest_log(con: duckdb.DuckDBPyConnection) -> bool:
    # A read-only session on a database made before migration 2 has no such table.
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'digest_log'"
    ).fetchall()
    return bool(rows[0][0])


def claim_week(
    con: duckdb.DuckDBPyConnection, row: DigestLogRow, force: bool, busy_after: datetime
) -> list[dict[str, Any]]:
    """Record that ``row``'s attempt is sending its week now (status 'sending'), unless the
    week was sent already (and not ``force``): then the 'sent' rows come back and nothing
    is written. Raises :class:`SendInProgress` while another attempt of the week, begun
    after ``busy_after``, is still sending. One transaction among all writers, so two
    machines never both send a week."""

    def work(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        sent = digest_log(con, week=row.week, status="sent")
        if sent and not force:
            return sent
        busy = con.execute(
            "SELECT attempted_at FROM digest_log WHERE week = ? AND status = 'sending' "
            "AND attempted_at > ? ORDER BY attempted_at DESC",
            [row.week, busy_after],
        ).fetchall()
        if busy:
            raise SendInProgress(
                f"the digest for {row.week} is being sent by another run, which began at "
                f"{busy[0][0]:%Y-%m-%d %H:%M:%S} UTC; nothing sent (once that run has ended, "
                "`adoptwatch digest` says whether it was sent)"
            )
        _insert_row(con, row)
        return []

    return list(atomic(con, work))


class SendInProgress(StorageError):
    """Another attempt (on this machine or another) is sending the week's digest now."""


def record_digest(con: duckdb.DuckDBPyConnection, row: DigestLogRow) -> None:
    """Write how an attempt ended: its 'sending' row (:func:`claim_week`) becomes this
    row, or the row is appended when there is none."""

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM digest_log WHERE digest_id = ?", [row.digest_id])
        _insert_row(con, row)

    atomic(con, work)


def _insert_row(con: duckdb.DuckDBPyConnection, row: DigestLogRow) -> None:
    con.execute(
        f"INSERT INTO digest_log ({_LOG_COLUMNS}) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row.digest_id,
            row.week,
            row.week_start,
            row.week_end,
            row.timezone,
            list(row.recipients),
            list(row.refused),
            row.sender,
            row.subject,
            row.message_id,
            row.transport,
            row.status,
            row.error_class,
            row.error,
            row.forced,
            row.new_adoptions,
            row.adoption_events,
            row.attempted_at,
            row.sent_at,
        ],
    )


def digest_log(
    con: duckdb.DuckDBPyConnection, week: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Attempts, oldest first; optionally of one week and/or one status."""
    if not _has_digest_log(con):
        return []
    return dict_rows(
        con.execute(
            f"""
            SELECT {_LOG_COLUMNS} FROM digest_log
            WHERE ($week IS NULL OR week = $week) AND ($status IS NULL OR status = $status)
            ORDER BY attempted_at, digest_id
            """,
            {"week": week, "status": status},
        )
    )


def latest_event_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The time (UTC) of the newest event, or None for an empty log."""
    rows = con.execute(f"SELECT max({_AT}) FROM adoption_events e").fetchall()
    return rows[0][0]
