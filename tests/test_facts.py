"""adoption_facts: one row per (adopter, model family, vendor-level), kept at write time.

Each rule of storage.facts is checked on a small log written through storage.store, on a
DuckDB file and on both kinds of DuckLake, and the stored facts must always equal a
rebuild from the whole log (facts_drift).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, transaction, write_session
from adoptwatch.storage.facts import facts_drift, rebuild_facts
from adoptwatch.storage.migrations import MIGRATIONS, migrate
from adoptwatch.storage.records import ArticleRow, EventRow

WEEK1 = datetime(2026, 10, 5, 9)
WEEK2 = WEEK1 + timedelta(days=7)
WEEK3 = WEEK1 + timedelta(days=14)
WEEK4 = WEEK1 + timedelta(days=21)


def article(article_id: str, outlet: str, at: datetime, story: str | None = None) -> ArticleRow:
    return ArticleRow(
        article_id=article_id, canonical_url=f"https://{outlet}/{article_id}",
        url=f"https://{outlet}/{article_id}", source="s", title=article_id, published_at=at,
        fetched_at=at, content_hash=f"h-{article_id}", text="text", extraction_method="x",
        extractor_version="v1", outlet=outlet, story_cluster=story or article_id,
    )  # fmt: skip


def event(
    n: int,
    article_id: str,
    family: str,
    relation: str,
    at: datetime | None,
    *,
    adopter: str = "Quillfeather",
    confidence: float = 0.8,
    switch_id: str | None = None,
    vendor_level: bool = False,
) -> EventRow:
    return EventRow(
        event_id=f"e{n}", article_id=article_id, article_url=f"https://x.example/{article_id}",
        adopter=adopter, adopter_named=True, model=family, model_family=family,
        vendor="Alibaba" if family == "Qwen" else "V", origin_country="CN", open_weights=True,
        relation=relation, switch_id=switch_id, confidence=confidence,
        evidence=f"{adopter} {relation} {family} (e{n}).", published_at=at,
        extracted_at=WEEK4 + timedelta(days=7), extractor_version="v1",
        vendor_level=vendor_level,
    )  # fmt: skip


def facts(con: Any) -> dict[tuple[str, str], dict[str, Any]]:
    cursor = con.execute("SELECT * FROM adoption_facts")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {(r["adopter"], r["model_family"]): r for r in rows}


@pytest.fixture(params=["file", "sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str]:
    if request.param == "file":
        return tmp_path / "facts.duckdb", ""
    url, data = request.getfixturevalue(f"{request.param}_lake")
    return url, str(data)


def test_a_fact_follows_adoption_evaluation_drop_and_switch(db: tuple[Any, str]) -> None:
    url, data = db
    with write_session(url, data_path=data) as con:
        first = store.write_batch(
            con,
            store.WriteBatch(
                articles=[article("a1", "wire.example", WEEK1)],
                events=[event(1, "a1", "Qwen", "adopts", WEEK1, confidence=0.6)],
            ),
        )
        [change] = first.fact_changes
        assert change.previous_status is None and change.fact["status"] == "current"
        # The same story syndicated by two more outlets, and an independent report.
        second = store.write_batch(
            con,
            store.WriteBatch(
                articles=[
                    article("a2", "daily.example.co.uk", WEEK1 + timedelta(hours=3), "a1"),
                    article("a3", "news.example.com", WEEK1 + timedelta(hours=5), "a1"),
                    article("a4", "other.example.org", WEEK2),
                ],
                events=[
                    event(2, "a2", "Qwen", "adopts", WEEK1 + timedelta(hours=3), confidence=0.7),
                    event(3, "a3", "Qwen", "adopts", WEEK1 + timedelta(hours=5)),
                    event(4, "a4", "Qwen", "adopts", WEEK2, confidence=0.5),
                ],
            ),
        )
        assert second.fact_changes == []  # still current: no change to report
        qwen = facts(con)[("Quillfeather", "Qwen")]
        assert qwen["status"] == "current"
        assert qwen["status_since"] == qwen["first_reported"] == WEEK1
        assert qwen["last_reported"] == WEEK2
        assert (qwen["articles"], qwen["outlets"]) == (4, 2)  # one story, one other report
        # Noisy-OR over stories, each story's best claim: 1 - (1 - 0.8) * (1 - 0.5).
        assert qwen["confidence"] == pytest.approx(0.9)
        assert qwen["evidence"] == "Quillfeather adopts Qwen (e3)."
        assert qwen["dropped_at"] is None and qwen["replaced_by"] is None

        # Week 3 it tests Kimi; week 4 it switches from Qwen to Kimi.
        store.write_batch(
            con,
            store.WriteBatch(
                articles=[article("a5", "wire.example", WEEK3)],
                events=[event(5, "a5", "Kimi", "evaluates", WEEK3)],
            ),
        )
        assert facts(con)[("Quillfeather", "Kimi")]["status"] == "evaluating"
        switched = store.write_batch(
            con,
            store.WriteBatch(
                articles=[article("a6", "other.example.org", WEEK4)],
                events=[
                    event(6, "a6", "Qwen", "drops", WEEK4, switch_id="s1"),
                    event(7, "a6", "Kimi", "adopts", WEEK4, switch_id="s1"),
                ],
            ),
        )
        changed = {(c.fact["model_family"], c.previous_status, c.fact["status"]) for c in
                   switched.fact_changes}  # fmt: skip
        assert changed == {("Qwen", "current", "dropped"), ("Kimi", "evaluating", "current")}
        now = facts(con)
        assert now[("Quillfeather", "Qwen")]["status"] == "dropped"
        assert now[("Quillfeather", "Qwen")]["dropped_at"] == WEEK4
        assert now[("Quillfeather", "Qwen")]["replaced_by"] == "Kimi"
        assert now[("Quillfeather", "Qwen")]["first_reported"] == WEEK1
        assert now[("Quillfeather", "Qwen")]["evidence"] == "Quillfeather drops Qwen (e6)."
        kimi = now[("Quillfeather", "Kimi")]
        assert (kimi["status"], kimi["status_since"], kimi["first_reported"]) == (
            "current", WEEK4, WEEK3,
        )  # fmt: skip
        assert kimi["confidence"] == pytest.approx(0.8)

        # Re-running the same writes adds nothing and changes nothing.
        again = store.write_batch(
            con,
            store.WriteBatch(
                articles=[article("a6", "other.example.org", WEEK4)],
                events=[event(6, "a6", "Qwen", "drops", WEEK4, switch_id="s1")],
            ),
        )
        assert again.fact_changes == [] and again.events == 0
        assert {k: {c: v for c, v in f.items() if c != "refreshed_at"}
                for k, f in facts(con).items()} == {
            k: {c: v for c, v in f.items() if c != "refreshed_at"} for k, f in now.items()
        }  # fmt: skip
        assert facts_drift(con) == []

        # Re-extraction that finds the drop was a misreading brings Qwen back.
        changes = store.replace_extraction(con, ["a6"], [event(8, "a6", "Kimi", "adopts",
                                           WEEK4)], [], "v2")  # fmt: skip
        assert [(c.fact["model_family"], c.fact["status"]) for c in changes] == [
            ("Qwen", "current")
        ]
        assert facts(con)[("Quillfeather", "Qwen")]["status_since"] == WEEK1
        assert facts_drift(con) == []
    with read_session(url, data_path=data) as con:
        assert len(facts(con)) == 2


def test_ties_rank_adoption_over_drop_over_evaluation(tmp_path: Path) -> None:
    with write_session(tmp_path / "t.duckdb") as con:
        store.write_batch(
            con,
            store.WriteBatch(
                events=[
                    event(1, "a1", "GPT", "drops", WEEK1),
                    event(2, "a1", "GPT", "adopts", WEEK1),
                    event(3, "a1", "GPT", "evaluates", WEEK1),
                    event(4, "a2", "Llama", "evaluates", WEEK2),
                    event(5, "a2", "Llama", "drops", WEEK2),
                ]
            ),
        )
        got = facts(con)
        assert got[("Quillfeather", "GPT")]["status"] == "current"
        assert got[("Quillfeather", "Llama")]["status"] == "dropped"
        # No article rows stored: each article counts as its own outlet.
        assert got[("Quillfeather", "GPT")]["outlets"] == 1


def test_undated_events_count_from_extraction_and_vendor_level_is_its_own_fact(
    tmp_path: Path,
) -> None:
    with write_session(tmp_path / "u.duckdb") as con:
        store.write_batch(
            con,
            store.WriteBatch(
                events=[
                    event(1, "a1", "Qwen", "adopts", None),
                    event(2, "a2", "Qwen", "adopts", WEEK1, vendor_level=True),
                ]
            ),
        )
        rows = con.execute(
            "SELECT vendor_level, first_reported FROM adoption_facts ORDER BY vendor_level"
        ).fetchall()
        assert rows == [(False, WEEK4 + timedelta(days=7)), (True, WEEK1)]


def test_a_database_with_events_before_facts_gets_them_on_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    import duckdb

    con = duckdb.connect(str(path))
    migrate_to = [m for m in MIGRATIONS if m.version < 8]
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP DEFAULT (now()::TIMESTAMP))"
    )
    for m in migrate_to:
        con.execute(m.sql)
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [m.version, m.name])  # fmt: skip
    con.execute(
        "INSERT INTO adoption_events (event_id, article_id, article_url, adopter, model, "
        "model_family, vendor, origin_country, relation, confidence, evidence, published_at, "
        "extracted_at, extractor_version) VALUES ('e1', 'a1', 'https://x.example/a1', "
        "'Quillfeather', 'Qwen3', 'Qwen', 'Alibaba', 'CN', 'adopts', 0.9, 'It uses Qwen3.', "
        "?, ?, 'v1')",
        [WEEK1, WEEK2],
    )
    migrate(con)
    assert [(r["status"], r["first_reported"]) for r in facts(con).values()] == [("current", WEEK1)]
    con.close()


def _random_history(con: Any, rng: Any) -> None:
    """Batches of articles as an ingest writes them, in any time order: syndicated copies,
    several relations in one article (same moment), switches, repeated outlets; now and
    then events written alone for stored articles, or an article re-extracted."""
    families = ["Qwen", "Kimi", "GLM", "GPT"]
    outlets = ["wire.example", "daily.example.co.uk", "news.example.com", "blog.example.org"]
    stored: list[ArticleRow] = []
    n = 0
    for batch_no in range(rng.randint(4, 14)):
        articles, events = [], []
        for a in range(rng.randint(1, 4)):
            at = WEEK1 + timedelta(hours=rng.randint(0, 24 * 40))
            copy_of = rng.choice(stored) if stored and rng.random() < 0.3 else None
            aid = f"b{batch_no}a{a}"
            articles.append(
                article(aid, rng.choice(outlets), at, copy_of.story_cluster if copy_of else None)
            )
            dated = rng.random() > 0.1
            for _ in range(rng.randint(1, 3)):
                n += 1
                family = rng.choice(families)
                relation = rng.choice(["adopts", "adopts", "drops", "evaluates"])
                switch = None
                if relation == "drops" and rng.random() < 0.5:
                    switch = f"s{n}"
                    n += 1
                    other = rng.choice([f for f in families if f != family])
                    events.append(event(n, aid, other, "adopts", at if dated else None,
                                        switch_id=switch, confidence=rng.random()))  # fmt: skip
                events.append(
                    event(n + 1000, aid, family, relation, at if dated else None,
                          adopter=rng.choice(["Quillfeather", "Orchard Labs"]),
                          confidence=rng.choice([0.4, 0.7, 0.9, rng.random()]),
                          switch_id=switch)
                )  # fmt: skip
        stored += articles
        store.write_batch(con, store.WriteBatch(articles=articles, events=events))
        if rng.random() < 0.2:  # events alone, for an article stored earlier
            n += 1
            old = rng.choice(stored)
            store.write_batch(con, store.WriteBatch(events=[
                event(n + 5000, old.article_id, rng.choice(families), "evaluates",
                      old.published_at)]))  # fmt: skip
        if rng.random() < 0.2:  # re-extraction finds something else
            old = rng.choice(stored)
            n += 1
            store.replace_extraction(con, [old.article_id], [
                event(n + 9000, old.article_id, rng.choice(families), "adopts",
                      old.published_at)], [], "v2")  # fmt: skip


@pytest.mark.parametrize("seed", range(25))
def test_incremental_facts_equal_a_rebuild(tmp_path: Path, seed: int) -> None:
    import random

    with write_session(tmp_path / f"r{seed}.duckdb") as con:
        _random_history(con, random.Random(seed))
        assert facts_drift(con) == []
        strip = lambda rows: {k: {c: v for c, v in r.items() if c != "refreshed_at"}  # noqa: E731
                              for k, r in rows.items()}  # fmt: skip
        incremental = strip(facts(con))
        with transaction(con):
            rebuild_facts(con)
        assert strip(facts(con)) == incremental
        assert len(incremental) >= 2
