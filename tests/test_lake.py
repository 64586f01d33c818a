"""The event log on a DuckLake: the same storage code on a SQLite and a PostgreSQL catalog.

Real catalogs (a SQLite file; the session's own PostgreSQL server, tests/postgres.py) and
real Parquet files. DuckLake has no key constraints and lets overlapping inserts both
commit; these tests show that the writes still store each thing once.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from adoptwatch.pipeline import ingest
from adoptwatch.storage import leases, migrations, store
from adoptwatch.storage.db import (
    DatabaseMissing,
    atomic,
    read_session,
    write_session,
)
from adoptwatch.storage.lake import LakeError, close_lakes, extension_file, locate
from adoptwatch.storage.records import ArticleRow, EntryRow, EventRow, FetchRow, MentionRow
from adoptwatch.storage.sandbox import QueryLimits, QueryTimeout, query_session

NOW = datetime(2026, 11, 20, 12)


@pytest.fixture(params=["sqlite", "postgres"])
def lake(request: pytest.FixtureRequest) -> tuple[str, str]:
    url, data = request.getfixturevalue(f"{request.param}_lake")
    return url, str(data)


def article(n: int, text_hash: str | None = None) -> ArticleRow:
    url = f"https://news.example/{n}"
    return ArticleRow(
        f"a{n}", url, url, "s", f"Story {n}", NOW, NOW, text_hash or f"h{n}", "text",
        "test", "v1", b"raw",
    )  # fmt: skip


def event(n: int, article_id: str, adopter: str = "Acme") -> EventRow:
    return EventRow(
        f"e{n}", article_id, f"https://news.example/{article_id}", adopter, True, "Qwen3",
        "Qwen", "Alibaba", "CN", True, "adopts", None, 0.9, f"{adopter} adopts Qwen.", NOW,
        NOW, "v1",
    )  # fmt: skip


def mention(article_id: str) -> MentionRow:
    return MentionRow(article_id, "Qwen", "Qwen3", "Alibaba", "CN", True, 1, NOW, "v1")


def entry(key: str, article_id: str | None, status: str = "stored") -> EntryRow:
    return EntryRow("s", key, f"https://news.example/{key}", "t", NOW, NOW, status, 1, None,
                    article_id)  # fmt: skip


def batch(n: int, text_hash: str | None = None) -> store.WriteBatch:
    a = article(n, text_hash)
    return store.WriteBatch(
        articles=[a],
        events=[event(n, a.article_id)],
        mentions=[mention(a.article_id)],
        entries=[entry(f"k{n}", a.article_id)],
    )


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("articles", "adoption_events", "model_mentions", "feed_entries")
    }


def test_the_lake_gets_the_newest_schema_without_keys(lake: tuple[str, str]) -> None:
    url, data = lake
    with write_session(url, data_path=data) as con:
        version = migrations.current_version(con)
        lake_columns = con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = 'lake' ORDER BY ALL"
        ).fetchall()
    assert version == migrations.MIGRATIONS[-1].version
    # The same tables and columns as a DuckDB file made by the migrations one by one.
    with duckdb.connect() as scratch:
        migrations.migrate(scratch)
        file_columns = scratch.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND NOT internal ORDER BY ALL"
        ).fetchall()
    assert lake_columns == file_columns
    assert Path(data).is_dir()


def test_writes_are_idempotent_and_readers_see_them(lake: tuple[str, str]) -> None:
    url, data = lake
    with write_session(url, data_path=data) as con:
        first = store.write_batch(con, batch(1))
        again = store.write_batch(con, batch(1))
        assert (first.articles, first.events, first.mentions) == (1, 1, 1)
        assert (again.articles, again.events, again.mentions) == (0, 0, 0)
        assert again.duplicates == {"a1": "a1"}
        # The same text under another URL is the stored article, not a second one.
        twin = store.write_batch(con, batch(2, text_hash="h1"))
        assert (twin.articles, twin.events) == (0, 0) and twin.duplicates == {"a2": "a1"}
        assert store.first_adoptions_drift(con) == []
        store.replace_extraction(con, ["a1"], [event(9, "a1", "Globex")], [], "v2")
    with read_session(url) as con:
        assert counts(con) == {
            "articles": 1,
            "adoption_events": 1,
            "model_mentions": 0,
            "feed_entries": 2,
        }
        sql = "SELECT entry_key, status || ' ' || article_id FROM feed_entries"
        entries = dict(con.execute(sql).fetchall())
        assert entries == {"k1": "stored a1", "k2": "duplicate a1"}
        assert con.execute("SELECT adopter FROM first_adoptions").fetchall() == [("Globex",)]


def test_a_query_over_a_lake_runs_in_the_sandbox(lake: tuple[str, str]) -> None:
    """adoptwatch query's sandbox holds on a lake as on a file: reading statements only,
    no file but the lake's own data, no upkeep function, a deadline and a memory cap; and
    it leaves the process's shared lake instance as it was."""
    url, data = lake
    with write_session(url, data_path=data) as con:
        store.write_batch(con, batch(1))
        # Enough rows that the lake writes them to a Parquet file (not inlined).
        con.execute(
            "INSERT INTO fetch_log (fetch_id, fetched_at, kind, url) "
            "SELECT 'f' || i, now()::TIMESTAMP, 'feed', 'u' FROM range(5000) t(i)"
        )
    files = sorted(Path(data).rglob("*.parquet"))
    assert files
    with query_session(url, 5, QueryLimits(memory_limit="64MB")) as session:
        assert list(session.stream("SELECT count(*) FROM fetch_log").batches) == [[(5000,)]]
        assert list(session.stream("SELECT count(*) FROM articles").batches) == [[(1,)]]
        for sql in (
            "DELETE FROM articles",
            "COPY articles TO 'out.csv'",
            "ATTACH 'other.duckdb'",
            "SET enable_external_access = true",
            "CALL ducklake_merge_adjacent_files('lake')",
            "SELECT * FROM ducklake_rewrite_data_files('lake')",
            "CALL ducklake_expire_snapshots('lake', older_than => now())",
            "SELECT * FROM query('SELECT * FROM ducklake_' || 'cleanup_old_files(''lake'')')",
        ):
            with pytest.raises(store.QueryError, match=r"read-only|only reads|as text"):
                list(session.stream(sql).batches)
        with pytest.raises(store.QueryError, match="file system operations are disabled"):
            list(session.stream("SELECT * FROM read_csv('/etc/passwd')").batches)
        with pytest.raises(store.QueryError, match="query_memory_limit"):
            list(session.stream("SELECT list(range(i)) FROM range(100000) t(i)").batches)
        # Reading functions of the lake stay open.
        snapshots = list(session.stream("SELECT count(*) FROM ducklake_snapshots('lake')").batches)
        assert snapshots[0][0][0] >= 2
    assert sorted(Path(data).rglob("*.parquet")) == files, "the query wrote into the lake"
    with query_session(url, 0.5, QueryLimits()) as session, pytest.raises(QueryTimeout):
        list(session.stream("SELECT count(*) FROM range(1000000000000)").batches)
    # The shared instance of this process is not sealed: writes and settings still work.
    with write_session(url, data_path=data) as con:
        store.write_batch(con, batch(2))
        con.execute("SET memory_limit = '2GB'")
    with read_session(url) as con:
        assert counts(con)["articles"] == 2


@pytest.mark.parametrize("fence", [True, False])
def test_overlapping_writers_take_turns_through_the_fence(
    lake: tuple[str, str], fence: bool
) -> None:
    """Two transactions read, then both insert the same key. With the fence the later
    commit conflicts and runs again on the newer snapshot; without it DuckLake lets both
    commit, which is why every ingest write goes through it."""
    url, data = lake
    if not fence and url.startswith("ducklake:sqlite:"):
        pytest.skip("a SQLite catalog's own write lock already refuses the stale commit")
    with write_session(url, data_path=data):
        pass
    both_read = threading.Barrier(2, timeout=60)
    attempts: collections.Counter[str] = collections.Counter()

    def writer(name: str) -> None:
        with write_session(url, 30, data) as con:

            def work(c: duckdb.DuckDBPyConnection) -> None:
                attempts[name] += 1
                missing = not c.execute(
                    "SELECT count(*) FROM fetch_log WHERE fetch_id = 'f1'"
                ).fetchall()[0][0]
                if attempts[name] == 1:
                    both_read.wait()
                if missing:
                    c.execute(
                        "INSERT INTO fetch_log (fetch_id, fetched_at, kind, url) "
                        "VALUES ('f1', now()::TIMESTAMP, 'feed', ?)",
                        [name],
                    )

            atomic(con, work, timeout=60, fence=fence)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with read_session(url) as con:
        stored = con.execute("SELECT count(*) FROM fetch_log").fetchall()[0][0]
    if fence:
        assert stored == 1
        assert sorted(attempts.values()) == [1, 2]  # the loser ran again, and inserted nothing
    else:
        assert stored == 2


def test_a_later_migration_runs_on_lakes_and_files(
    lake: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a later migration (a column of adoption_events, as vendor_level was) does:
    plain DDL that a lake made at an older version and a file both take."""
    url, data = lake
    file = tmp_path / "events.duckdb"
    for db in (url, file):
        with write_session(db, data_path=data) as con:
            store.write_batch(con, batch(1))
    later = migrations.Migration(
        migrations.MIGRATIONS[-1].version + 1,
        "reviewed",
        # DuckLake takes a literal default only, so a boolean's is written as a string.
        "ALTER TABLE adoption_events ADD COLUMN reviewed BOOLEAN DEFAULT 'false'",
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, later])
    close_lakes()  # as a new process would: this one remembers the lake as migrated
    for db in (url, file):
        with write_session(db, data_path=data) as con:
            assert migrations.current_version(con) == later.version
            assert con.execute("SELECT reviewed FROM adoption_events").fetchall() == [(False,)]


def test_bad_lake_urls_and_missing_lakes_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="ducklake:sqlite:PATH"):
        locate("ducklake:mysql:x")
    missing = f"ducklake:sqlite:{tmp_path / 'none.sqlite'}"
    with pytest.raises(DatabaseMissing, match="adoptwatch ingest"), read_session(missing):
        pass
    assert extension_file("ducklake").is_file()
    assert locate("ducklake:postgres:dbname=x password=secret").describe() == (
        "ducklake:postgres:dbname=x"
    )


def test_a_postgres_lake_needs_a_data_path(postgres: Any) -> None:
    conninfo = postgres.create_database("lake_without_data_path")
    lake = f"ducklake:postgres:{conninfo}"
    with pytest.raises(LakeError, match="lake_data_path"), write_session(lake):
        pass


def test_two_machines_never_both_send_a_week(lake: tuple[str, str]) -> None:
    """The digest's once-a-week rule across machines: two runs claim the same week at
    the same moment; one gets it, the other is refused (and a sent week is not
    claimed again)."""
    from datetime import timedelta

    from adoptwatch.storage import digest as digest_sql

    url, data = lake
    with write_session(url, data_path=data):
        pass

    def row(digest_id: str, status: str = "sending") -> digest_sql.DigestLogRow:
        return digest_sql.DigestLogRow(
            digest_id, "2026-W47", NOW.date(), NOW.date(), "UTC", ("a@example.com",), (),
            "b@example.com", "s", f"<{digest_id}@x>", "smtp", status, None, None, False, 0, 0,
            NOW, None,
        )  # fmt: skip

    outcomes: dict[str, str] = {}

    def claim(digest_id: str) -> None:
        with write_session(url, 30, data) as con:
            try:
                digest_sql.claim_week(con, row(digest_id), False, NOW - timedelta(minutes=15))
                outcomes[digest_id] = "claimed"
            except digest_sql.SendInProgress:
                outcomes[digest_id] = "refused"

    threads = [threading.Thread(target=claim, args=(d,)) for d in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes.values()) == ["claimed", "refused"]
    winner = next(d for d, o in outcomes.items() if o == "claimed")
    with write_session(url, 30, data) as con:
        digest_sql.record_digest(con, dataclasses.replace(row(winner), status="sent"))
        # The week is sent: a later claim gets the sent row back and writes nothing.
        again = digest_sql.claim_week(con, row("three"), False, NOW - timedelta(minutes=15))
        assert [r["digest_id"] for r in again] == [winner]
        assert [r["status"] for r in digest_sql.digest_log(con)] == ["sent"]


def test_a_file_written_by_duckdb_2_says_how_to_convert_it(tmp_path: Path) -> None:
    """DuckDB 1.5.5 (pinned for its DuckLake extensions) cannot open files DuckDB 2.0.1
    wrote; the error points at the README's conversion recipe instead of a format number."""
    import shutil

    from adoptwatch.storage.db import StorageError

    fixture = Path(__file__).parent / "fixtures" / "duckdb2" / "written-by-2.0.1.duckdb"
    db = tmp_path / "old.duckdb"
    shutil.copy(fixture, db)
    for session in (read_session, write_session):
        with pytest.raises(StorageError, match="Files written by DuckDB 2"), session(db):
            pass
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "### Files written by DuckDB 2" in readme
    assert db.read_bytes() == fixture.read_bytes()  # left as it was


def test_the_next_run_closes_only_the_runs_whose_process_is_gone(lake: tuple[str, str]) -> None:
    """Several ingests may write one PostgreSQL-catalog lake at once, so a run closes as
    interrupted only the open runs without a live lease: here the run of a process that
    has exited, not the run of this (live) process. Holding the ingest lock (a file, a
    SQLite catalog), every open run is gone."""
    url, data = lake
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = socket.gethostname()
    later = NOW + timedelta(hours=1)
    with write_session(url, data_path=data) as con:
        leases.register_run(con, "killed", f"{host}:{gone.stdout.strip()}", NOW, later)
        leases.register_run(con, "alive", f"{host}:{os.getpid()}", NOW, later)
        last = FetchRow("f1", "killed", NOW + timedelta(minutes=5), "s", "feed", "u", None, 200,
                        10, 1.0, None, None)  # fmt: skip
        store.write_batch(con, store.WriteBatch(fetches=[last]))
        closed = leases.close_abandoned_runs(
            con, "next", NOW, ingest._holder_is_dead, sole_writer=False
        )
        assert [run for run, _ in closed] == ["killed"]
        rows = con.execute(
            "SELECT run_id, status, finished_at, summary->>'closed_by_run' FROM runs ORDER BY 1"
        ).fetchall()
        assert rows == [
            ("alive", "running", None, None),
            ("killed", "interrupted", last.fetched_at, "next"),  # its last trace
        ]
        assert con.execute("SELECT DISTINCT run_id FROM ingest_leases").fetchall() == [("alive",)]
        closed = leases.close_abandoned_runs(
            con, "next", NOW, ingest._holder_is_dead, sole_writer=True
        )
        assert [run for run, _ in closed] == ["alive"]
        assert con.execute("SELECT count(*) FROM ingest_leases").fetchall() == [(0,)]
