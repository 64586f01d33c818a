"""Named, ordered schema migrations.

Each migration runs in one transaction together with the row that records it in
``schema_migrations``, so a crash leaves the schema either before or after a
migration, never half-way. Append new migrations to ``MIGRATIONS``; never edit
one that has shipped.

Timestamps are stored as UTC ``TIMESTAMP`` values (no time zone attached).

A DuckLake has no PRIMARY KEY or UNIQUE constraints (nothing in ``storage/`` relies on
them: every write checks its keys itself, see :mod:`adoptwatch.storage.store`). A new
lake is created at the newest version in one step: the migrations run in an in-memory
DuckDB, and each table is created in the lake from the columns they left (types,
NOT NULL, defaults; DuckLake takes no default on a list column), with the rows they
inserted. A lake made at an older version gets the newer migrations' own SQL, so a
migration must be plain DDL that DuckLake accepts, or carry a ``lake_sql`` of its own:
``CREATE TABLE`` without keys; ``ALTER TABLE ... ADD COLUMN`` with no constraint and
a literal default only (``vendor_level BOOLEAN DEFAULT 'false'``, the boolean as a
string: ``DEFAULT false`` is refused as an expression). tests/test_lake.py runs such a
migration on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from adoptwatch.storage.facts import rebuild_facts


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    # The same change for a DuckLake, where ``sql`` does not run there as it is.
    lake_sql: str | None = None
    # Fills what the change adds from the rows already stored, in the same transaction
    # (for derived tables whose rule lives in code, such as storage.facts).
    backfill: Callable[[duckdb.DuckDBPyConnection], Any] | None = None


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
    Migration(
        5,
        "concurrent_writers",
        """
        -- Every ingest write transaction adds one to this single row (storage.db.atomic),
        -- so that on a DuckLake two writes that overlap in time conflict and the later
        -- one runs again on the newer snapshot: exactly-once without key constraints.
        CREATE TABLE write_fence (writes BIGINT NOT NULL);
        INSERT INTO write_fence VALUES (0);

        -- Which ingest run fetches which source now: several runs may write one
        -- DuckLake at once (PostgreSQL catalog), and each source is fetched by one of
        -- them at a time. One row per live run with source NULL (runs count each other
        -- to take a fair share), and one per source it holds. A run renews its rows with
        -- every write; rows past expires_at, or of a process gone from this host, are free.
        CREATE TABLE ingest_leases (
            run_id VARCHAR NOT NULL,
            holder VARCHAR NOT NULL,        -- host:pid
            source VARCHAR,                 -- NULL: the run itself
            expires_at TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "vendor_level_claims",
        # A claim that names the vendor but no model ("powered by OpenAI") is filed under
        # the vendor's name as its model family, with this flag set; it is part of the
        # event key. DuckLake takes a literal default only: the boolean as a string.
        "ALTER TABLE adoption_events ADD COLUMN vendor_level BOOLEAN DEFAULT 'false'",
    ),
    Migration(
        7,
        "story_clusters",
        """
        -- Who published an article and which story it tells: outlet is the registrable
        -- domain of its canonical URL (public-suffix aware), story_cluster the article_id
        -- of the earliest stored article whose text it nearly duplicates (its own id when
        -- it starts a story). Syndicated copies share a cluster, so a wire story copied
        -- by fifty sites counts as one independent report (adoption_facts.outlets).
        ALTER TABLE articles ADD COLUMN outlet VARCHAR;
        ALTER TABLE articles ADD COLUMN story_cluster VARCHAR;
        """,
    ),
    Migration(
        8,
        "adoption_facts",
        """
        -- One fact per (adopter, model family, vendor-level or not): what the event log
        -- says about it as a whole. Kept at write time (storage.facts) in the transaction
        -- that writes or replaces its events; docs/glossary.md defines each column.
        CREATE TABLE adoption_facts (
            adopter VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            vendor_level BOOLEAN NOT NULL,
            vendor VARCHAR NOT NULL,
            origin_country VARCHAR NOT NULL,
            open_weights BOOLEAN,
            adopter_named BOOLEAN NOT NULL,
            status VARCHAR NOT NULL,        -- current | dropped | evaluating
            status_since TIMESTAMP NOT NULL,
            first_reported TIMESTAMP NOT NULL,
            last_reported TIMESTAMP NOT NULL,
            dropped_at TIMESTAMP,
            replaced_by VARCHAR,
            articles INTEGER NOT NULL,
            outlets INTEGER NOT NULL,
            confidence DOUBLE NOT NULL,
            evidence VARCHAR NOT NULL,
            evidence_url VARCHAR NOT NULL,
            evidence_at TIMESTAMP,
            refreshed_at TIMESTAMP NOT NULL,
            -- What keeping the fact incrementally needs (storage.facts): the latest
            -- report of another relation than the status's, and the best claim's key.
            last_other_report TIMESTAMP,
            evidence_confidence DOUBLE NOT NULL,
            evidence_event_id VARCHAR NOT NULL,
            last_relations VARCHAR NOT NULL  -- reported at last_reported: 'adopts,drops'
        );
        -- The independent publishers of each fact (adoption_facts.outlets counts them).
        CREATE TABLE fact_outlets (
            adopter VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            vendor_level BOOLEAN NOT NULL,
            outlet VARCHAR NOT NULL
        );
        -- The story clusters reporting each fact's current status, with their most
        -- confident claim (adoption_facts.confidence combines them).
        CREATE TABLE fact_stories (
            adopter VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            vendor_level BOOLEAN NOT NULL,
            story VARCHAR NOT NULL,
            confidence DOUBLE NOT NULL
        );
        """,
        backfill=rebuild_facts,
    ),
    Migration(
        9,
        "story_signatures",
        """
        -- Near-duplicate signatures of stored articles (storage.clusters): what a new
        -- article is compared with to find its story cluster. story_signatures holds each
        -- article's MinHash (126 little-endian uint32 values); story_bands one row per
        -- locality-sensitive band of it, so that the stored articles sharing a band with
        -- a new one are one join away. story_at: published_at, else fetched_at (the
        -- time window of storage.clusters). Rows are written with the article's
        -- story_cluster, by the ingest or by the backfill of older articles.
        CREATE TABLE story_signatures (
            article_id VARCHAR NOT NULL,
            story_at TIMESTAMP NOT NULL,
            minhash BLOB NOT NULL
        );
        CREATE TABLE story_bands (
            band_hash BIGINT NOT NULL,
            story_at TIMESTAMP NOT NULL,
            article_id VARCHAR NOT NULL
        );
        """,
    ),
    Migration(
        10,
        "watchlists_and_alerts",
        """
        -- What a user asked to be told about (adoptwatch watch add): facts whose adopter,
        -- model family, vendor or origin country is value, once they have min_outlets
        -- independent outlets. value is the canonical name the extraction stores.
        CREATE TABLE watches (
            watch_id VARCHAR NOT NULL,      -- hash of kind and value: one watch per target
            kind VARCHAR NOT NULL,          -- company | model | vendor | origin
            value VARCHAR NOT NULL,
            min_outlets INTEGER NOT NULL DEFAULT 1,
            created_at TIMESTAMP NOT NULL
        );

        -- One row per fact change a watch matched (storage.alerts), written in the
        -- transaction that refreshed the fact (an outbox) and delivered after it commits.
        -- alert_id hashes the watch, the fact's key, its status and status_since, so a
        -- change is alerted once however many runs or writers see it.
        CREATE TABLE alerts (
            alert_id VARCHAR NOT NULL,
            watch_id VARCHAR NOT NULL,
            adopter VARCHAR NOT NULL,
            model_family VARCHAR NOT NULL,
            vendor_level BOOLEAN NOT NULL,
            vendor VARCHAR NOT NULL,
            origin_country VARCHAR NOT NULL,
            status VARCHAR NOT NULL,        -- the fact's: current | dropped | evaluating
            previous_status VARCHAR,        -- NULL: a new fact
            status_since TIMESTAMP NOT NULL,
            replaced_by VARCHAR,
            articles INTEGER NOT NULL,
            outlets INTEGER NOT NULL,
            evidence VARCHAR NOT NULL,
            evidence_url VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            delivery VARCHAR NOT NULL,      -- pending | sent | failed | no-channel
            delivered_via VARCHAR,          -- channels done, comma-separated: email,webhook
            attempts INTEGER NOT NULL DEFAULT 0,
            last_attempt_at TIMESTAMP,
            sent_at TIMESTAMP,
            last_error VARCHAR
        );
        """,
    ),
]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    # duckdb_tables(), not information_schema: the first look at information_schema on a
    # connection costs tens of milliseconds, paid by every write session.
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE table_name = 'schema_migrations' AND database_name = current_database()"
    ).fetchall()
    if not exists[0][0]:
        return 0
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0])


_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER {key},
        name VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
    )
"""

Retry = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]


def migrate(
    con: duckdb.DuckDBPyConnection, lake: bool = False, retry: Retry | None = None
) -> list[Migration]:
    """Apply every migration newer than the database; returns those applied.

    ``lake``: the database is a DuckLake (see the module's docstring). ``retry`` runs a
    unit of work in one transaction, again when a concurrent writer conflicts
    (:func:`adoptwatch.storage.db.atomic`); without it, plain BEGIN/COMMIT.
    """
    if current_version(con) >= MIGRATIONS[-1].version:
        return []  # the usual case, on every write session: nothing to create or change
    run = retry or _in_transaction(con)
    if lake:
        return list(run(_migrate_lake))
    con.execute(_MIGRATIONS_TABLE.format(key="PRIMARY KEY"))
    applied: list[Migration] = []
    have = current_version(con)
    for migration in MIGRATIONS:
        if migration.version <= have:
            continue
        run(lambda c, m=migration: _apply(c, m, m.sql))
        applied.append(migration)
    return applied


def _in_transaction(con: duckdb.DuckDBPyConnection) -> Retry:
    def run(work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        con.execute("BEGIN TRANSACTION")
        try:
            result = work(con)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        return result

    return run


def _apply(con: duckdb.DuckDBPyConnection, migration: Migration, sql: str) -> None:
    con.execute(sql)
    if migration.backfill is not None:
        migration.backfill(con)
    con.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
        [migration.version, migration.name],
    )


def _migrate_lake(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """One transaction: a new lake gets the newest schema at once, an older one the
    migrations it lacks. Run again whole if another writer migrated meanwhile."""
    have = current_version(con)
    if have == 0:
        con.execute(_MIGRATIONS_TABLE.format(key="NOT NULL"))
        _create_newest_schema(con)
        for m in MIGRATIONS:
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [m.version, m.name]
            )
        return list(MIGRATIONS)
    applied = []
    for migration in MIGRATIONS:
        if migration.version > have:
            _apply(con, migration, migration.lake_sql or migration.sql)
            applied.append(migration)
    return applied


def _create_newest_schema(lake: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the newest schema in ``lake`` (the current catalog), without
    key constraints, and copy the rows the migrations inserted."""
    scratch = duckdb.connect()
    try:
        for migration in MIGRATIONS:
            scratch.execute(migration.sql)
        tables = [
            r[0]
            for r in scratch.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY table_name"
            ).fetchall()
        ]
        for table in tables:
            columns = scratch.execute(
                "SELECT column_name, data_type, is_nullable, column_default "
                "FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            lake.execute(f"CREATE TABLE {table} ({', '.join(_column(*c) for c in columns)})")
            rows = scratch.sql(f"SELECT * FROM {table}").to_arrow_table()
            if rows.num_rows:
                lake.register("_migration_rows", rows)
                lake.execute(f"INSERT INTO {table} SELECT * FROM _migration_rows")
                lake.unregister("_migration_rows")
    finally:
        scratch.close()


def _column(name: str, data_type: str, nullable: bool, default: str | None) -> str:
    text = f"{name} {data_type}"
    if not nullable:
        text += " NOT NULL"
    if default is not None and not data_type.endswith("[]"):
        text += f" DEFAULT ({default})"
    return text
