"""Named, ordered schema migrations.

Each migration runs in one transaction together with the row that records it in
``schema_migrations``, so a crash leaves the schema either before or after a
migration, never half-way. Append new migrations to ``MIGRATIONS``; never edit
one that has shipped.

Timestamps are stored as UTC ``TIMESTAMP`` values (no time zone attached).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "initial_schema",
        """
        CREATE TABLE sources (
            name VARCHAR PRIMARY KEY,
            url VARCHAR NOT NULL,
            tags VARCHAR[] NOT NULL DEFAULT [],
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            etag VARCHAR,
            last_modified VARCHAR,
            last_fetched_at TIMESTAMP,
            last_status INTEGER,
            last_error_class VARCHAR,
            last_error VARCHAR,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            disabled_reason VARCHAR,
            added_at TIMESTAMP NOT NULL
        );

        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            summary JSON
        );

        -- One row per HTTP fetch (feeds, articles, robots.txt), successful or not.
        CREATE TABLE fetch_log (
            fetch_id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            fetched_at TIMESTAMP NOT NULL,
            source VARCHAR,
            kind VARCHAR NOT NULL,          -- feed | article | robots
            url VARCHAR NOT NULL,
            final_url VARCHAR,
            status INTEGER,                 -- HTTP status; NULL when no response
            bytes BIGINT NOT NULL DEFAULT 0,
            duration_ms DOUBLE NOT NULL DEFAULT 0,
            error_class VARCHAR,            -- NULL on success
            error VARCHAR
        );

        CREATE TABLE articles (
            article_id VARCHAR PRIMARY KEY,
            canonical_url VARCHAR NOT NULL UNIQUE,
            url VARCHAR NOT NULL,
            source VARCHAR,
            title VARCHAR,
            published_at TIMESTAMP,
            fetched_at TIMESTAMP NOT NULL,
            content_hash VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            extraction_method VARCHAR,
            extractor_version VARCHAR,      -- claims extractor that produced its events
            raw_html BLOB                   -- zlib-compressed page bytes, for re-extraction
        );

        -- Every entry seen in a feed, and what became of it. The same story reached
        -- through two feeds is two entries pointing at one article.
        CREATE TABLE feed_entries (
            source VARCHAR NOT NULL,
            entry_key VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            title VARCHAR,
            published_at TIMESTAMP,
            first_seen_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL,        -- stored | duplicate | failed (retried) | rejected
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error VARCHAR,
            article_id VARCHAR,
            PRIMARY KEY (source, entry_key)
        );

        CREATE TABLE adoption_events (
            event_id VARCHAR PRIMARY KEY,
            article_id VARCHAR NOT NULL,
            article_url VARCHAR NOT NULL,
            adopter VARCHAR NOT NULL,
            adopter_named BOOLEAN NOT NULL DEFAULT TRUE,
            model VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            vendor VARCHAR NOT NULL,
            origin_country VARCHAR NOT NULL,
            open_weights BOOLEAN,
            relation VARCHAR NOT NULL,      -- adopts | drops | evaluates
            switch_id VARCHAR,              -- shared by the drop and the adoption of one switch
            confidence DOUBLE NOT NULL,
            evidence VARCHAR NOT NULL,
            published_at TIMESTAMP,
            extracted_at TIMESTAMP NOT NULL,
            extractor_version VARCHAR NOT NULL
        );

        -- Every model mentioned in an article (share of voice), adopted or not.
        CREATE TABLE model_mentions (
            article_id VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            vendor VARCHAR NOT NULL,
            origin_country VARCHAR NOT NULL,
            open_weights BOOLEAN,
            sentences INTEGER NOT NULL,
            published_at TIMESTAMP,
            extractor_version VARCHAR NOT NULL,
            PRIMARY KEY (article_id, model_family)
        );
        """,
    ),
    Migration(
        2,
        "digest_log",
        """
        -- One row per attempt to send a weekly digest (dry runs are not recorded).
        -- A week counts as sent once it has a row with status 'sent'.
        CREATE TABLE digest_log (
            digest_id VARCHAR PRIMARY KEY,
            week VARCHAR NOT NULL,          -- ISO week, '2026-W48'
            week_start DATE NOT NULL,       -- Monday, in digest_timezone
            week_end DATE NOT NULL,         -- Sunday, in digest_timezone
            timezone VARCHAR NOT NULL,
            recipients VARCHAR[] NOT NULL,  -- envelope recipients asked for
            refused VARCHAR[] NOT NULL DEFAULT [],  -- recipients the server refused
            sender VARCHAR NOT NULL,
            subject VARCHAR NOT NULL,
            message_id VARCHAR NOT NULL,
            transport VARCHAR NOT NULL,     -- 'smtp host:port (starttls)' or 'block NAME'
            status VARCHAR NOT NULL,        -- sent | failed
            error_class VARCHAR,
            error VARCHAR,                  -- never holds credentials
            forced BOOLEAN NOT NULL DEFAULT FALSE,
            new_adoptions INTEGER NOT NULL DEFAULT 0,
            adoption_events INTEGER NOT NULL DEFAULT 0,
            attempted_at TIMESTAMP NOT NULL,
            sent_at TIMESTAMP               -- NULL unless status = 'sent'
        );
        """,
    ),
    Migration(
        3,
        "first_adoptions",
        """
        -- The first adoption of each (adopter, model family): what "new adopter this
        -- week" asks, kept at write time (storage.store) in the transaction that writes
        -- the events, so the digest reads a week's worth of pairs instead of grouping
        -- the whole event log. first_named_at only counts events whose adopter is a
        -- named company (adopter_named); NULL when there is none.
        CREATE TABLE first_adoptions (
            adopter VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            first_at TIMESTAMP NOT NULL,    -- min(coalesce(published_at, extracted_at))
            first_named_at TIMESTAMP,
            PRIMARY KEY (adopter, model_family)
        );
        INSERT INTO first_adoptions
        SELECT adopter, model_family,
               min(coalesce(published_at, extracted_at)),
               min(coalesce(published_at, extracted_at)) FILTER (WHERE adopter_named)
        FROM adoption_events
        WHERE relation = 'adopts'
        GROUP BY adopter, model_family
        ORDER BY 3;
        """,
    ),
    Migration(
        4,
        "runs_status",
        """
        -- How each ingest run ended: running (or its process died: the next run closes
        -- it), completed, interrupted (SIGTERM, Ctrl-C, or closed by the next run after
        -- the process died) or failed.
        ALTER TABLE runs ADD COLUMN status VARCHAR;
        UPDATE runs SET status = CASE WHEN finished_at IS NULL THEN 'running'
                                      ELSE 'completed' END;
        """,
    ),
]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    # duckdb_tables(), not information_schema: the first look at information_schema on a
    # connection costs tens of milliseconds, paid by every write session.
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists[0][0]:
        return 0
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Apply every migration newer than the database; returns those applied."""
    if current_version(con) >= MIGRATIONS[-1].version:
        return []  # the usual case, on every write session: nothing to create or change
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL,
            applied_at TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
        )
        """
    )
    applied: list[Migration] = []
    have = current_version(con)
    for migration in MIGRATIONS:
        if migration.version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied
