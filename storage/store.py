"""All reads and writes of the event log. Every SQL statement of adoptwatch lives in storage/.

Writes are bulk (one Arrow table per table) and idempotent: keys are derived from
content, and rows whose key exists are left alone, so re-running an ingest over the
same content adds nothing.

The same statements run on a DuckDB file and on a DuckLake, which has no PRIMARY KEY or
UNIQUE constraints: no ``INSERT OR IGNORE``, ``ON CONFLICT`` or ``RETURNING``. Each write
checks its keys itself (anti-joins, ``MERGE INTO``) inside :func:`~adoptwatch.storage.db.atomic`,
which makes overlapping writers take turns. The article is the unit of exactly-once: an
article is stored when no stored article has its id (canonical URL) or its content
hash, and its events and mentions are written in the same transaction or never, so an
event key (:func:`adoptwatch.pipeline.rows.event_key`, however many columns it gets)
needs no check of its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from adoptwatch.storage.alerts import queue_alerts
from adoptwatch.storage.clusters import StoryClustering, cluster_new_articles
from adoptwatch.storage.db import QueryError, atomic
from adoptwatch.storage.facts import (
    FactChange,
    fold_new_events,
    keys_of_articles,
    keys_of_events,
    recompute_facts,
)
from adoptwatch.storage.leases import renew_leases
from adoptwatch.storage.records import (
    ArticleRow,
    EntryRow,
    EventRow,
    FetchRow,
    MentionRow,
    SourceSpec,
    SourceState,
    SourceUpdate,
    StorySignatureRow,
    dict_rows,
    to_arrow,
)
from adoptwatch.storage.records import registered as _registered


def _dedupe(rows: Iterable[Any], key: Any, keep: str = "last") -> list[Any]:
    # INSERT OR REPLACE keeps the *first* of duplicate keys inside one batch, and
    # INSERT OR IGNORE would too; decide here, explicitly.
    out: dict[Any, Any] = {}
    for row in rows:
        k = key(row)
        if keep == "first" and k in out:
            continue
        out[k] = row
    return list(out.values())


def _unstored(
    con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, key: Sequence[str]
) -> pa.Table:
    """The rows of ``rows`` whose ``key`` columns match no stored row of ``table``."""
    match = " AND ".join(f"t.{k} = b.{k}" for k in key)
    with _registered(con, f"_check_{table}", rows) as view:
        return con.sql(
            f"SELECT b.* FROM {view} b WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
        ).to_arrow_table()


def _append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    row_type: type,
    rows: Sequence[Any],
    key: Sequence[str] = (),
) -> int:
    """Insert rows, leaving out those whose ``key`` columns match a stored row; returns
    how many were inserted. Rows must be unique on ``key`` already (:func:`_dedupe`)."""
    if not rows:
        return 0
    arrow = to_arrow(row_type, list(rows))
    if key:
        arrow = _unstored(con, table, arrow, key)
    return _insert_arrow(con, table, arrow)


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, arrow: pa.Table) -> int:
    if not arrow.num_rows:
        return 0
    cols = ", ".join(arrow.schema.names)
    with _registered(con, f"_batch_{table}", arrow) as view:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {view}")
    return arrow.num_rows


def _upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    row_type: type,
    rows: Sequence[Any],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows, or update the stored row with the same ``key`` (``update``: the
    columns to set; all but the key by default)."""
    if not rows:
        return
    arrow = to_arrow(row_type, list(rows))
    names = arrow.schema.names
    setting = update if update is not None else [n for n in names if n not in key]
    match = " AND ".join(f"t.{k} = b.{k}" for k in key)
    with _registered(con, f"_batch_{table}", arrow) as view:
        con.execute(
            f"""
            MERGE INTO {table} t USING {view} b ON ({match})
            WHEN MATCHED THEN UPDATE SET {", ".join(f"{c} = b.{c}" for c in setting)}
            WHEN NOT MATCHED THEN INSERT ({", ".join(names)})
                VALUES ({", ".join(f"b.{c}" for c in names)})
            """
        )


# The first adoption of each (adopter, model family) among some events: what the
# first_adoptions table (migration 3) holds for the whole log.
_FIRST_ADOPTIONS_OF = """
    SELECT adopter, model_family,
           min(coalesce(published_at, extracted_at)) AS first_at,
           min(coalesce(published_at, extracted_at)) FILTER (WHERE adopter_named)
               AS first_named_at
    FROM {events}
    WHERE relation = 'adopts'
    GROUP BY adopter, model_family
"""


def _fold_first_adoptions(con: duckdb.DuckDBPyConnection, events: pa.Table) -> None:
    """Move first adoptions earlier (or add them) for newly written events."""
    with _registered(con, "_new_adoption_events", events) as new:
        con.execute(
            f"""
            MERGE INTO first_adoptions f
            USING ({_FIRST_ADOPTIONS_OF.format(events=new)}) n
               ON (f.adopter = n.adopter AND f.model_family = n.model_family)
            WHEN MATCHED THEN UPDATE SET
                first_at = least(f.first_at, n.first_at),
                first_named_at = least(f.first_named_at, n.first_named_at)
            WHEN NOT MATCHED THEN INSERT (adopter, model_family, first_at, first_named_at)
                VALUES (n.adopter, n.model_family, n.first_at, n.first_named_at)
            """
        )


def _insert_events(
    con: duckdb.DuckDBPyConnection, rows: Sequence[EventRow], check_keys: bool = True
) -> pa.Table:
    """Insert the events not stored yet and fold them into first_adoptions; returns
    those that were new.

    ``check_keys=False``: the events of articles this transaction stores, which cannot be
    stored already (an article's events are written with it), so no lookup is needed.
    """
    arrow = to_arrow(EventRow, list(rows))
    if check_keys and rows:
        arrow = _unstored(con, "adoption_events", arrow, ("event_id",)).cast(arrow.schema)
    if _insert_arrow(con, "adoption_events", arrow):
        _fold_first_adoptions(con, arrow)
    return arrow


def _refresh_first_adoptions(
    con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]
) -> None:
    """Recompute first_adoptions for some (adopter, model family) pairs from the events
    (after events were deleted: a first adoption can only be recomputed, not patched)."""
    unique = sorted(set(pairs))
    if not unique:
        return
    affected = pa.table({"adopter": [p[0] for p in unique], "model_family": [p[1] for p in unique]})
    with _registered(con, "_affected_pairs", affected) as view:
        con.execute(
            f"""
            DELETE FROM first_adoptions f USING {view} p
            WHERE f.adopter = p.adopter AND f.model_family = p.model_family
            """
        )
        events = (
            f"(SELECT e.* FROM adoption_events e SEMI JOIN {view} p "
            "ON e.adopter = p.adopter AND e.model_family = p.model_family)"
        )
        con.execute(
            "INSERT INTO first_adoptions (adopter, model_family, first_at, first_named_at) "
            + _FIRST_ADOPTIONS_OF.format(events=events)
        )


def first_adoptions_drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Pairs whose stored first adoption differs from what the event log says (a
    consistency check: empty when every write went through this module)."""
    return dict_rows(
        con.execute(
            f"""
            WITH truth AS ({_FIRST_ADOPTIONS_OF.format(events="adoption_events")})
            SELECT coalesce(t.adopter, f.adopter) AS adopter,
                   coalesce(t.model_family, f.model_family) AS model_family,
                   t.first_at, f.first_at AS stored_first_at,
                   t.first_named_at, f.first_named_at AS stored_first_named_at
            FROM truth t
            FULL OUTER JOIN first_adoptions f
              ON f.adopter = t.adopter AND f.model_family = t.model_family
            WHERE t.first_at IS DISTINCT FROM f.first_at
               OR t.first_named_at IS DISTINCT FROM f.first_named_at
            ORDER BY 1, 2
            """
        )
    )


def rebuild_first_adoptions(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute first_adoptions from the whole event log (after events were written by
    other means than this module, such as storage.synthetic)."""

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM first_adoptions")
        con.execute(
            "INSERT INTO first_adoptions (adopter, model_family, first_at, first_named_at) "
            + _FIRST_ADOPTIONS_OF.format(events="adoption_events")
            + " ORDER BY first_at"
        )

    atomic(con, work)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    # fetchall, not fetchone: DuckDB refuses further work on a connection while a
    # result is only partly fetched.
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(_scalar(con, f"SELECT count(*) FROM {table}") or 0)


# --- sources -----------------------------------------------------------------


def sync_sources(
    con: duckdb.DuckDBPyConnection, specs: Sequence[SourceSpec], now: datetime
) -> None:
    """Add new sources and update URL/tags of known ones; health and state are kept."""
    specs = _dedupe(specs, lambda s: s.name)
    if not specs:
        return
    table = pa.table(
        {
            "name": [s.name for s in specs],
            "url": [s.url for s in specs],
            "tags": pa.array([list(s.tags) for s in specs], pa.list_(pa.string())),
            "added_at": pa.array([now.replace(tzinfo=None)] * len(specs), pa.timestamp("us")),
        }
    )

    def work(con: duckdb.DuckDBPyConnection) -> None:
        with _registered(con, "_batch_sources", table) as view:
            con.execute(
                f"""
                MERGE INTO sources t USING {view} b ON (t.name = b.name)
                WHEN MATCHED AND (t.url IS DISTINCT FROM b.url OR t.tags IS DISTINCT FROM b.tags)
                    THEN UPDATE SET url = b.url, tags = b.tags
                WHEN NOT MATCHED THEN INSERT (name, url, tags, enabled, consecutive_failures,
                                              added_at)
                    VALUES (b.name, b.url, b.tags, TRUE, 0, b.added_at)
                """
            )

    atomic(con, work)


def source_states(con: duckdb.DuckDBPyConnection) -> dict[str, SourceState]:
    rows = con.execute(
        "SELECT name, url, enabled, etag, last_modified, consecutive_failures FROM sources"
    ).fetchall()
    return {r[0]: SourceState(*r) for r in rows}


def list_sources(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return dict_rows(
        con.execute(
            """
            SELECT s.name, s.url, s.enabled, s.consecutive_failures, s.last_status,
                   s.last_fetched_at, s.last_error_class, s.last_error, s.disabled_reason,
                   (SELECT count(*) FROM feed_entries e
                     WHERE e.source = s.name AND e.status = 'stored') AS articles
            FROM sources s ORDER BY s.name
            """
        )
    )


def set_source_enabled(con: duckdb.DuckDBPyConnection, name: str, enabled: bool) -> bool:
    """Enable or disable a source; enabling resets its failure counter. False if unknown."""

    def work(con: duckdb.DuckDBPyConnection) -> bool:
        if not _scalar(con, "SELECT count(*) FROM sources WHERE name = ?", [name]):
            return False
        if enabled:
            con.execute(
                "UPDATE sources SET enabled = TRUE, consecutive_failures = 0, "
                "disabled_reason = NULL WHERE name = ?",
                [name],
            )
        else:
            con.execute(
                "UPDATE sources SET enabled = FALSE, disabled_reason = 'disabled by user' "
                "WHERE name = ?",
                [name],
            )
        return True

    return bool(atomic(con, work))


def _apply_source_updates(
    con: duckdb.DuckDBPyConnection, updates: Sequence[SourceUpdate], max_failures: int
) -> list[str]:
    """Fold fetch outcomes into source health; returns names of sources just disabled."""
    disabled: list[str] = []
    for u in updates:
        if u.failed:
            con.execute(
                """
                UPDATE sources SET last_fetched_at = ?, last_status = ?, last_error_class = ?,
                       last_error = ?, consecutive_failures = consecutive_failures + 1
                WHERE name = ?
                """,
                [u.fetched_at, u.status, u.error_class, u.error, u.name],
            )
            if max_failures > 0 and _scalar(
                con,
                "SELECT count(*) FROM sources WHERE name = ? AND enabled "
                "AND consecutive_failures >= ?",
                [u.name, max_failures],
            ):
                con.execute(
                    """
                    UPDATE sources SET enabled = FALSE,
                           disabled_reason = 'disabled after ' || consecutive_failures
                                             || ' consecutive failures'
                    WHERE name = ?
                    """,
                    [u.name],
                )
                disabled.append(u.name)
        else:
            # A 304 carries no validators: keep the ones we had (unless told to forget them).
            con.execute(
                """
                UPDATE sources SET last_fetched_at = ?, last_status = ?, last_error_class = NULL,
                       last_error = NULL, consecutive_failures = 0,
                       etag = CASE WHEN ? THEN NULL ELSE coalesce(?, etag) END,
                       last_modified = CASE WHEN ? THEN NULL
                                            ELSE coalesce(?, last_modified) END
                WHERE name = ?
                """,
                [
                    u.fetched_at,
                    u.status,
                    u.clear_validators,
                    u.etag,
                    u.clear_validators,
                    u.last_modified,
                    u.name,
                ],
            )
    return disabled


# --- crawl state ---------------------------------------------------------------


@dataclass
class CrawlState:
    """What a run must know before its first request: the sources and the failed entries
    worth another try. Everything else is looked up for the entries a run meets
    (:func:`stored_entry_keys`, :func:`article_ids_for_urls`), so memory does not grow
    with the articles stored."""

    sources: dict[str, SourceState]
    retry_entries: list[EntryRow] = field(default_factory=list)


def load_crawl_state(
    con: duckdb.DuckDBPyConnection, max_attempts: int, sources: Sequence[str] | None = None
) -> CrawlState:
    """The sources, and the failed entries of ``sources`` (all: None) worth a retry."""
    retry = [
        EntryRow(*r)
        for r in con.execute(
            """
            SELECT source, entry_key, url, title, published_at, first_seen_at, status,
                   attempts, last_error, article_id
            FROM feed_entries
            WHERE status = 'failed' AND attempts < ?
              AND (? IS NULL OR list_contains(?, source))
            ORDER BY first_seen_at
            """,
            [max_attempts, sources is None, list(sources or [])],
        ).fetchall()
    ]
    return CrawlState(source_states(con), retry)


def stored_entry_keys(con: duckdb.DuckDBPyConnection, source: str, keys: Sequence[str]) -> set[str]:
    """Which of a feed's entry keys earlier runs stored (in any status)."""
    if not keys:
        return set()
    wanted = pa.table({"entry_key": pa.array(list(keys), pa.string())})
    with _registered(con, "_feed_keys", wanted) as view:
        rows = con.execute(
            f"SELECT e.entry_key FROM feed_entries e SEMI JOIN {view} k "
            "ON e.entry_key = k.entry_key WHERE e.source = ?",
            [source],
        ).fetchall()
    return {r[0] for r in rows}


def article_ids_for_urls(
    con: duckdb.DuckDBPyConnection, canonical_urls: Iterable[str]
) -> dict[str, str]:
    """canonical URL -> article_id for the stored articles among ``canonical_urls``."""
    urls = sorted(set(canonical_urls))
    if not urls:
        return {}
    wanted = pa.table({"canonical_url": pa.array(urls, pa.string())})
    with _registered(con, "_planned_urls", wanted) as view:
        rows = con.execute(
            f"SELECT a.canonical_url, a.article_id FROM articles a SEMI JOIN {view} u "
            "ON a.canonical_url = u.canonical_url"
        ).fetchall()
    return dict(rows)


# --- the ingest write ------------------------------------------------------------


@dataclass
class WriteBatch:
    """Everything one write transaction stores. Empty lists are fine."""

    articles: list[ArticleRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    mentions: list[MentionRow] = field(default_factory=list)
    entries: list[EntryRow] = field(default_factory=list)
    fetches: list[FetchRow] = field(default_factory=list)
    source_updates: list[SourceUpdate] = field(default_factory=list)
    # Near-duplicate signatures of the articles (article_id ->), and how to cluster them
    # into stories (storage.clusters); None: store the articles without a story cluster.
    signatures: dict[str, StorySignatureRow] = field(default_factory=dict)
    story_clustering: StoryClustering | None = None
    # Renew this run's leases until then, in the same transaction (None: no run).
    run_id: str | None = None
    leases_until: datetime | None = None


@dataclass
class WriteResult:
    articles: int = 0
    events: int = 0
    mentions: int = 0
    disabled_sources: list[str] = field(default_factory=list)
    alerts: int = 0  # watchlist alerts queued with the facts (storage.alerts)
    # Articles of the batch that another writer had stored first (by canonical URL or
    # content hash): article_id in the batch -> the stored one.
    duplicates: dict[str, str] = field(default_factory=dict)
    # Facts (storage.facts) that this write made new or changed the status of.
    fact_changes: list[FactChange] = field(default_factory=list)


def _stored_twins(con: duckdb.DuckDBPyConnection, articles: pa.Table) -> dict[str, str]:
    """article_id in ``articles`` -> the stored article with its id or its content hash."""
    with _registered(con, "_batch_articles", articles) as view:
        rows = con.execute(
            f"""
            SELECT b.article_id, a.article_id, 0 AS rank FROM {view} b
            JOIN articles a ON a.article_id = b.article_id
            UNION ALL
            SELECT b.article_id, a.article_id, 1 FROM {view} b
            JOIN articles a ON a.content_hash = b.content_hash
            ORDER BY 3, 2
            """
        ).fetchall()
    twins: dict[str, str] = {}
    for ours, stored, _rank in rows:
        twins.setdefault(ours, stored)  # same URL first, then the same text
    return twins


def write_batch(
    con: duckdb.DuckDBPyConnection, batch: WriteBatch, max_failures: int = 0
) -> WriteResult:
    """Write a batch in one transaction: all of it lands, or none of it.

    An article another writer stored first (same canonical URL or content hash) is not
    stored again: its events and mentions are dropped, and its feed entries become
    duplicates of the stored article (:attr:`WriteResult.duplicates`).
    """
    articles = _dedupe(batch.articles, lambda a: a.canonical_url, "first")
    arrow = to_arrow(ArticleRow, articles)
    batch_ids = {a.article_id for a in articles}
    entries = _dedupe(batch.entries, lambda e: (e.source, e.entry_key))
    fetches = _dedupe(batch.fetches, lambda f: f.fetch_id)

    def work(con: duckdb.DuckDBPyConnection) -> WriteResult:
        result = WriteResult()
        twins = _stored_twins(con, arrow) if articles else {}
        result.duplicates = dict(twins)
        new = [a for a in articles if a.article_id not in twins]
        new_ids = {a.article_id for a in new}
        new = cluster_new_articles(con, new, batch.signatures, batch.story_clustering)
        result.articles = _append(con, "articles", ArticleRow, new)
        # Events and mentions of the batch's new articles go in as they are; of its
        # articles stored first elsewhere, not at all; of articles outside the batch
        # (a write of events alone), when their keys are not stored yet.
        events = _dedupe(batch.events, lambda e: e.event_id, "first")
        inserted = pa.concat_tables(
            [
                _insert_events(
                    con, [e for e in events if e.article_id in new_ids], check_keys=False
                ),
                _insert_events(con, [e for e in events if e.article_id not in batch_ids]),
            ]
        )
        result.events = inserted.num_rows
        mentions = _dedupe(batch.mentions, lambda m: (m.article_id, m.model_family), "first")
        result.mentions = _append(
            con, "model_mentions", MentionRow, [m for m in mentions if m.article_id in new_ids]
        ) + _append(
            con,
            "model_mentions",
            MentionRow,
            [m for m in mentions if m.article_id not in batch_ids],
            key=("article_id", "model_family"),
        )
        _upsert(
            con,
            "feed_entries",
            EntryRow,
            [_as_duplicate(e, twins) for e in entries],
            key=("source", "entry_key"),
        )
        _append(con, "fetch_log", FetchRow, fetches)
        result.disabled_sources = _apply_source_updates(con, batch.source_updates, max_failures)
        result.fact_changes = fold_new_events(con, inserted, new_ids)
        result.alerts = queue_alerts(con, result.fact_changes, inserted)  # outbox, same commit
        if batch.run_id and batch.leases_until:
            renew_leases(con, batch.run_id, batch.leases_until)
        return result

    return atomic(con, work)


def _as_duplicate(entry: EntryRow, twins: Mapping[str, str]) -> EntryRow:
    """A stored entry whose text another writer stored first under another URL points
    there, as a duplicate (the same URL stored first: the entry led to that article)."""
    if entry.status != "stored" or twins.get(entry.article_id or "", entry.article_id) == (
        entry.article_id
    ):
        return entry
    return dataclasses.replace(entry, status="duplicate", article_id=twins[entry.article_id])


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    finished_at: datetime,
    summary: dict[str, Any],
    status: str = "completed",
) -> None:
    """Close a run: how it ended (``status``), its summary, and its leases given back."""

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "UPDATE runs SET finished_at = ?, summary = ?, status = ? WHERE run_id = ?",
            [finished_at, json.dumps(summary, default=str), status, run_id],
        )
        con.execute("DELETE FROM ingest_leases WHERE run_id = ?", [run_id])

    atomic(con, work)


# --- re-extraction -------------------------------------------------------------


def article_ids_for_reextract(
    con: duckdb.DuckDBPyConnection, extractor_version: str, include_current: bool = False
) -> list[str]:
    """Articles whose events came from another extractor version (or all of them)."""
    sql = "SELECT article_id FROM articles"
    params: list[Any] = []
    if not include_current:
        sql += " WHERE extractor_version IS DISTINCT FROM ?"
        params.append(extractor_version)
    return [r[0] for r in con.execute(sql + " ORDER BY article_id", params).fetchall()]


def article_texts(
    con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]
) -> list[tuple[str, str, str, datetime | None]]:
    """(article_id, canonical_url, text, published_at) for the given articles."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in con.execute(
            "SELECT article_id, canonical_url, text, published_at FROM articles "
            "WHERE list_contains(?, article_id) ORDER BY article_id",
            [list(article_ids)],
        ).fetchall()
    ]


def article_titles(con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]) -> dict[str, str]:
    """article_id -> title, for the articles that have one (the claims extractor reads it)."""
    return dict(
        con.execute(
            "SELECT article_id, title FROM articles "
            "WHERE list_contains(?, article_id) AND title IS NOT NULL",
            [list(article_ids)],
        ).fetchall()
    )


def article_pages(
    con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]
) -> dict[str, tuple[str, bytes | None]]:
    """article_id -> (url fetched, zlib-compressed page bytes) for the given articles."""
    return {
        r[0]: (r[1], r[2])
        for r in con.execute(
            "SELECT article_id, url, raw_html FROM articles WHERE list_contains(?, article_id)",
            [list(article_ids)],
        ).fetchall()
    }


@dataclass(frozen=True)
class TextUpdate:
    """New text of a stored article, extracted again from its stored page."""

    article_id: str
    text: str
    title: str | None
    content_hash: str
    extraction_method: str | None


def events_of_articles(
    con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]
) -> list[dict[str, Any]]:
    if not article_ids:
        return []
    return dict_rows(
        con.execute(
            "SELECT * FROM adoption_events WHERE list_contains(?, article_id) ORDER BY event_id",
            [list(article_ids)],
        )
    )


def replace_extraction(
    con: duckdb.DuckDBPyConnection,
    article_ids: Sequence[str],
    events: Sequence[EventRow],
    mentions: Sequence[MentionRow],
    extractor_version: str,
    texts: Sequence[TextUpdate] = (),
) -> list[FactChange]:
    """Swap the events and mentions of some articles for new ones, in one transaction,
    together with new texts for some of them (``texts``); returns the facts made new or
    changed in status."""
    ids = list(article_ids)
    kept = _dedupe(events, lambda e: e.event_id, "first")
    new_texts = pa.table(
        {
            "article_id": [t.article_id for t in texts],
            "text": [t.text for t in texts],
            "title": pa.array([t.title for t in texts], pa.string()),
            "content_hash": [t.content_hash for t in texts],
            "extraction_method": pa.array([t.extraction_method for t in texts], pa.string()),
        }
    )

    def work(con: duckdb.DuckDBPyConnection) -> list[FactChange]:
        if texts:
            with _registered(con, "_new_texts", new_texts) as view:
                con.execute(
                    f"""
                    UPDATE articles SET text = n.text, title = coalesce(n.title, articles.title),
                           content_hash = n.content_hash, extraction_method = n.extraction_method
                    FROM {view} n WHERE articles.article_id = n.article_id
                    """
                )
        con.execute(
            "UPDATE articles SET extractor_version = ? WHERE list_contains(?, article_id)",
            [extractor_version, ids],
        )
        removed = con.execute(
            "SELECT adopter, model_family FROM adoption_events "
            "WHERE list_contains(?, article_id) AND relation = 'adopts'",
            [ids],
        ).fetchall()
        fact_keys = keys_of_articles(con, ids) + keys_of_events(kept)
        con.execute("DELETE FROM adoption_events WHERE list_contains(?, article_id)", [ids])
        con.execute("DELETE FROM model_mentions WHERE list_contains(?, article_id)", [ids])
        _append(con, "adoption_events", EventRow, kept)
        _refresh_first_adoptions(
            con,
            [(r[0], r[1]) for r in removed]
            + [(e.adopter, e.model_family) for e in kept if e.relation == "adopts"],
        )
        _append(
            con,
            "model_mentions",
            MentionRow,
            _dedupe(mentions, lambda m: (m.article_id, m.model_family), "first"),
        )
        changes = recompute_facts(con, fact_keys)
        queue_alerts(con, changes, to_arrow(EventRow, kept))  # delivered after the commit
        return changes

    return atomic(con, work)


# --- queries -----------------------------------------------------------------------


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def asdict_rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def run_query(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None = None) -> QueryResult:
    """Run one user SQL statement. The caller opens ``con`` read-only (and sandboxed, for
    SQL a user typed); DuckDB's refusal comes back as :class:`QueryError`."""
    try:
        cursor = con.execute(sql)
    except (duckdb.InvalidInputException, duckdb.PermissionException) as exc:
        if "read-only" in str(exc) or "disabled" in str(exc):
            raise QueryError(
                f"adoptwatch query is read-only (no writes, no file access): {exc}"
            ) from exc
        raise QueryError(str(exc)) from exc
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    if cursor.description is None:
        return QueryResult([], [])
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    return QueryResult(columns, [tuple(r) for r in rows])


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        t: _count(con, t)
        for t in ("sources", "articles", "adoption_events", "model_mentions", "fetch_log")
    }
