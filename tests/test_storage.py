from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from adoptwatch.storage import store
from adoptwatch.storage.db import (
    DatabaseBusy,
    DatabaseMissing,
    IngestAlreadyRunning,
    ingest_lock,
    read_session,
    write_session,
)
from adoptwatch.storage.migrations import MIGRATIONS
from adoptwatch.storage.records import ArticleRow, EntryRow, EventRow, SourceSpec, SourceUpdate

NOW = datetime(2026, 11, 20, 12, 0)


def article(n: int) -> ArticleRow:
    return ArticleRow(
        article_id=f"a{n}", canonical_url=f"https://e.example/{n}", url=f"https://e.example/{n}",
        source="s", title=f"t{n}", published_at=NOW, fetched_at=NOW, content_hash=f"h{n}",
        text=f"text {n}", extraction_method="test", extractor_version="v1", raw_html=b"<p>",
    )  # fmt: skip


def event(n: int, article_id: str = "a1", version: str = "v1") -> EventRow:
    return EventRow(
        event_id=f"e{n}", article_id=article_id, article_url="https://e.example/1",
        adopter=f"Co{n}", adopter_named=True, model="Qwen3", model_family="Qwen",
        vendor="Alibaba", origin_country="CN", open_weights=True, relation="adopts",
        switch_id=None, confidence=0.9, evidence="Co adopts Qwen.", published_at=NOW,
        extracted_at=NOW, extractor_version=version,
    )  # fmt: skip


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    for _ in range(2):
        with write_session(db) as con:
            rows = con.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.name) for m in MIGRATIONS]


def test_writes_are_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    batch = store.WriteBatch(
        articles=[article(1), article(2), article(1)],
        events=[event(1), event(2), event(1)],
    )
    with write_session(db) as con:
        first = store.write_batch(con, batch)
        second = store.write_batch(con, batch)
        assert (first.articles, first.events) == (2, 2)
        assert (second.articles, second.events) == (0, 0)
        assert store.counts(con)["adoption_events"] == 2


def test_a_failing_batch_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    bad_entry = EntryRow(
        source="s", entry_key="k", url="u", title=None, published_at=None,
        first_seen_at=NOW, status="stored", attempts=1, last_error=None, article_id="a1",
    )  # fmt: skip
    with write_session(db) as con:
        # A NULL in a NOT NULL column fails the batch after the article was inserted.
        broken = EntryRow(**{**bad_entry.__dict__, "url": None})  # type: ignore[arg-type]
        with pytest.raises(Exception, match="NOT NULL"):
            store.write_batch(con, store.WriteBatch(articles=[article(1)], entries=[broken]))
        assert store.counts(con)["articles"] == 0


def test_source_health_counts_failures_and_disables(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with write_session(db) as con:
        store.sync_sources(con, [SourceSpec("s", "https://e.example/feed")], NOW)
        fail = SourceUpdate("s", NOW, 500, failed=True, error_class="http_status", error="500")
        for _ in range(2):
            r = store.write_batch(con, store.WriteBatch(source_updates=[fail]), max_failures=3)
            assert r.disabled_sources == []
        r = store.write_batch(con, store.WriteBatch(source_updates=[fail]), max_failures=3)
        assert r.disabled_sources == ["s"]
        [row] = store.list_sources(con)
        assert row["enabled"] is False and row["consecutive_failures"] == 3
        assert "3 consecutive failures" in row["disabled_reason"]
        assert store.set_source_enabled(con, "s", True)
        [row] = store.list_sources(con)
        assert row["enabled"] is True and row["consecutive_failures"] == 0
        ok = SourceUpdate("s", NOW, 200, failed=False, etag='"e1"')
        store.write_batch(con, store.WriteBatch(source_updates=[ok]))
        store.write_batch(
            con, store.WriteBatch(source_updates=[SourceUpdate("s", NOW, 304, False)])
        )
        assert store.source_states(con)["s"].etag == '"e1"'  # a 304 keeps the validators


def test_replace_extraction_swaps_events(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with write_session(db) as con:
        store.write_batch(con, store.WriteBatch(articles=[article(1)], events=[event(1)]))
        assert store.article_ids_for_reextract(con, "v2") == ["a1"]
        store.replace_extraction(
            con, ["a1"], [event(1, version="v2"), event(3, version="v2")], [], "v2"
        )
        versions = con.execute("SELECT DISTINCT extractor_version FROM adoption_events").fetchall()
        assert versions == [("v2",)]
        assert store.counts(con)["adoption_events"] == 2
        assert store.article_ids_for_reextract(con, "v2") == []


def test_reading_a_missing_database_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing, match="adoptwatch ingest"), read_session(tmp_path / "no"):
        pass


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_in_other_process(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_readers_wait_for_a_short_write(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with write_session(db):
        pass
    proc = _hold_in_other_process(db, 1.0)
    started = time.monotonic()
    with read_session(db, lock_timeout=20) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(0,)]
    assert time.monotonic() - started >= 0.5  # it did wait, then got in
    proc.wait(10)


def test_readers_give_up_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with write_session(db):
        pass
    proc = _hold_in_other_process(db, 5.0)
    try:
        with pytest.raises(DatabaseBusy, match="stayed locked"), read_session(db, lock_timeout=0.5):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_one_ingest_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with ingest_lock(db):
        code = (
            "import sys; from storage.db import ingest_lock, IngestAlreadyRunning\n"
            "try:\n    with ingest_lock(sys.argv[1]): print('got it')\n"
            "except IngestAlreadyRunning as e: print('refused:', e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True
        ).stdout
        assert out.startswith("refused:") and "another ingest" in out
    with ingest_lock(db):  # released again
        pass
    with pytest.raises(IngestAlreadyRunning), ingest_lock(db), ingest_lock(db, wait=0.3):
        pass
