"""first_adoptions: the first adoption of each (adopter, model family), kept at write time.

new_adopters reads it instead of grouping the whole event log, so it must agree with the
log after every kind of write: new events, events already stored, re-extraction, and
databases that had events before the table existed.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from adoptwatch.storage import store
from adoptwatch.storage.db import write_session
from adoptwatch.storage.digest import new_adopters
from adoptwatch.storage.migrations import MIGRATIONS, migrate
from adoptwatch.storage.records import EventRow
from adoptwatch.storage.synthetic import new_adopter_pairs_naive

MONDAY = datetime(2026, 11, 23)
WEEK = (MONDAY, MONDAY + timedelta(days=7))


def event(
    n: int,
    adopter: str,
    family: str,
    at: datetime | None,
    *,
    article_id: str = "a1",
    relation: str = "adopts",
    named: bool = True,
    extracted: datetime = MONDAY + timedelta(days=8),
) -> EventRow:
    return EventRow(
        event_id=f"e{n}", article_id=article_id, article_url=f"https://e.example/{article_id}",
        adopter=adopter, adopter_named=named, model=family + "-1", model_family=family,
        vendor="V", origin_country="CN", open_weights=True, relation=relation,
        switch_id=None, confidence=0.9, evidence=f"{adopter} {relation} {family}.",
        published_at=at, extracted_at=extracted, extractor_version="v1",
    )  # fmt: skip


def stored(
    con: duckdb.DuckDBPyConnection,
) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
    rows = con.execute(
        "SELECT adopter, model_family, first_at, first_named_at FROM first_adoptions"
    ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_writes_keep_the_earliest_adoption_per_pair(tmp_path: Path) -> None:
    with write_session(tmp_path / "x.duckdb") as con:
        store.write_batch(
            con,
            store.WriteBatch(
                events=[
                    event(1, "Acme", "Qwen", MONDAY + timedelta(days=2)),
                    event(2, "Acme", "Qwen", MONDAY + timedelta(days=1), article_id="a2"),
                    event(3, "Acme", "GPT", MONDAY, relation="drops"),  # not an adoption
                    event(4, "some startups", "Kimi", MONDAY, named=False),
                    # Undated: its time is when it was extracted.
                    event(5, "Globex", "GLM", None, extracted=MONDAY + timedelta(days=3)),
                ]
            ),
        )
        # A later batch with an earlier report moves the first adoption back; a later
        # report does not.
        store.write_batch(
            con,
            store.WriteBatch(
                events=[
                    event(6, "Acme", "Qwen", MONDAY - timedelta(days=30), article_id="a3"),
                    event(7, "Globex", "GLM", MONDAY + timedelta(days=5), article_id="a3"),
                ]
            ),
        )
        assert stored(con) == {
            ("Acme", "Qwen"): (MONDAY - timedelta(days=30), MONDAY - timedelta(days=30)),
            ("some startups", "Kimi"): (MONDAY, None),
            ("Globex", "GLM"): (MONDAY + timedelta(days=3), MONDAY + timedelta(days=3)),
        }
        assert store.first_adoptions_drift(con) == []


def test_an_event_already_stored_does_not_move_the_first_adoption(tmp_path: Path) -> None:
    first = event(1, "Acme", "Qwen", MONDAY + timedelta(days=2))
    with write_session(tmp_path / "x.duckdb") as con:
        store.write_batch(con, store.WriteBatch(events=[first]))
        # The same event id again, claiming an earlier date: the stored row wins, so the
        # first adoption must not follow the ignored twin.
        twin = dataclasses.replace(first, published_at=MONDAY - timedelta(days=90))
        result = store.write_batch(con, store.WriteBatch(events=[twin]))
        assert result.events == 0
        assert stored(con)[("Acme", "Qwen")][0] == MONDAY + timedelta(days=2)
        assert store.first_adoptions_drift(con) == []


def test_re_extraction_recomputes_the_pairs_it_touches(tmp_path: Path) -> None:
    with write_session(tmp_path / "x.duckdb") as con:
        store.write_batch(
            con,
            store.WriteBatch(
                events=[
                    event(1, "Acme", "Qwen", MONDAY - timedelta(days=20), article_id="old"),
                    event(2, "Acme", "Qwen", MONDAY + timedelta(days=1), article_id="new"),
                    event(3, "Initech", "GPT", MONDAY - timedelta(days=10), article_id="old"),
                ]
            ),
        )
        assert new_adopters(con, *WEEK) == []  # Acme adopted Qwen weeks ago
        # The old article, read again, turns out not to report those adoptions at all.
        store.replace_extraction(con, ["old"], [], [], "v2")
        assert stored(con) == {
            ("Acme", "Qwen"): (MONDAY + timedelta(days=1), MONDAY + timedelta(days=1))
        }
        assert [(r["adopter"], r["model_family"]) for r in new_adopters(con, *WEEK)] == [
            ("Acme", "Qwen")
        ]
        # And read once more, it reports Acme's adoption under the other family name.
        store.replace_extraction(
            con, ["old"], [event(9, "Acme", "Kimi", MONDAY - timedelta(days=20))], [], "v3"
        )
        assert ("Acme", "Kimi") in stored(con)
        assert store.first_adoptions_drift(con) == []


def test_the_migration_fills_the_table_from_events_already_stored(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    try:
        # A database as the release before this table left it.
        for migration in MIGRATIONS:
            if migration.name == "first_adoptions":
                break
            con.execute(migration.sql)
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
            "applied_at TIMESTAMP DEFAULT (now()::TIMESTAMP))"
        )
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (1, 'a'), (2, 'b')")
        con.execute(
            "INSERT INTO adoption_events (event_id, article_id, article_url, adopter, model, "
            "model_family, vendor, origin_country, relation, confidence, evidence, "
            "published_at, extracted_at, extractor_version) VALUES "
            "('e1', 'a', 'u', 'Acme', 'Qwen3', 'Qwen', 'V', 'CN', 'adopts', 0.9, 's', "
            "TIMESTAMP '2026-11-24 10:00', TIMESTAMP '2026-12-01', 'v1'), "
            "('e2', 'b', 'u', 'Acme', 'Qwen3', 'Qwen', 'V', 'CN', 'adopts', 0.9, 's', "
            "TIMESTAMP '2026-10-01 10:00', TIMESTAMP '2026-12-01', 'v1')"
        )
        applied = migrate(con)
        assert [m.name for m in applied] == [m.name for m in MIGRATIONS[2:]]
        assert stored(con) == {
            ("Acme", "Qwen"): (datetime(2026, 10, 1, 10), datetime(2026, 10, 1, 10))
        }
        assert store.first_adoptions_drift(con) == []
    finally:
        con.close()


def test_new_adopters_agrees_with_a_group_by_over_the_whole_log(tmp_path: Path) -> None:
    rng = random.Random(3)
    events = [
        event(
            i,
            f"Co{rng.randrange(30)}",
            rng.choice(["Qwen", "GPT", "GLM"]),
            None
            if rng.random() < 0.1
            else MONDAY + timedelta(hours=rng.randrange(-24 * 60, 24 * 10)),
            article_id=f"a{i // 3}",
            relation=rng.choice(["adopts", "adopts", "drops"]),
            named=rng.random() > 0.1,
            extracted=MONDAY + timedelta(hours=rng.randrange(-24 * 60, 24 * 10)),
        )
        for i in range(400)
    ]
    with write_session(tmp_path / "x.duckdb") as con:
        for start in range(0, len(events), 50):
            store.write_batch(con, store.WriteBatch(events=events[start : start + 50]))
        got = {(r["adopter"], r["model_family"]) for r in new_adopters(con, *WEEK)}
        assert got == set(new_adopter_pairs_naive(con, *WEEK))
        assert got  # the data has some, so the comparison means something
        assert store.first_adoptions_drift(con) == []
