"""Vendor-level claims ("powered by DeepSeek", no model named) through the event log: filed
under the vendor, flagged, a separate event from a model of the same name, and stored."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from adoptwatch.extractors.claims import Claim, Extraction
from adoptwatch.pipeline.rows import event_id, event_key, extraction_rows
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.records import ArticleRow

NOW = datetime(2026, 11, 20, 12)


def claim(model: str, family: str, vendor_level: bool, relation: str = "adopts") -> Claim:
    return Claim(
        adopter="Fernwood Logistics",
        adopter_named=True,
        model=model,
        model_family=family,
        vendor="DeepSeek",
        origin_country="CN",
        open_weights=True if family else None,
        relation=relation,
        confidence=0.9,
        evidence=f"Fernwood Logistics runs on {model}.",
        sentence_index=0,
        vendor_level=vendor_level,
    )


def test_a_vendor_level_claim_is_filed_under_the_vendor_and_flagged() -> None:
    extraction = Extraction(
        claims=[claim("DeepSeek", "", True), claim("DeepSeek-V3.2", "DeepSeek", False)]
    )
    events, _ = extraction_rows("a1", "https://news.example/a1", NOW, extraction, "t-1", NOW)
    by_level = {e.vendor_level: e for e in events}
    assert set(by_level) == {True, False}
    vendor = by_level[True]
    assert (vendor.model, vendor.model_family, vendor.vendor) == (
        "DeepSeek",
        "DeepSeek",
        "DeepSeek",
    )
    # "adopts DeepSeek" (the vendor) and "adopts DeepSeek-V3.2" are two events
    assert vendor.event_id != by_level[False].event_id
    assert vendor.event_id == event_id(
        event_key("a1", "fernwood logistics", "deepseek", "adopts", vendor_level=True)
    )


def test_model_level_event_ids_are_what_they_were_before_the_flag() -> None:
    old_key = ("a1", "acme", "qwen", "adopts")  # the four-part key of earlier releases
    assert event_key("a1", "Acme", "Qwen", "adopts") == old_key


def test_the_flag_is_stored_and_queryable(tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    extraction = Extraction(claims=[claim("DeepSeek", "", True, relation="drops")])
    events, _ = extraction_rows("a1", "https://news.example/a1", NOW, extraction, "t-1", NOW)
    article = ArticleRow(
        "a1", "https://news.example/a1", "https://news.example/a1", "s", "Story", NOW, NOW,
        "h1", "text", "test", "t-1", b"raw",
    )  # fmt: skip
    with write_session(db) as con:
        store.write_batch(con, store.WriteBatch(articles=[article], events=events))
    with read_session(db) as con:
        rows = con.execute(
            "SELECT adopter, model_family, relation FROM adoption_events WHERE vendor_level"
        ).fetchall()
    assert rows == [("Fernwood Logistics", "DeepSeek", "drops")]
