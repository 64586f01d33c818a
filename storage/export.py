"""The export's SQL: events, facts, mentions and articles' metadata written to files by
DuckDB's ``COPY`` (streamed: no table is held in memory), from one snapshot.

Articles go out without ``text`` and ``raw_html`` (the publishers' content): every other
column of ``articles`` does, so a column added by a later migration is exported too (and
needs a line in :data:`COLUMN_DESCRIPTIONS`; tests/test_export.py holds this).
``since`` keeps the rows whose time is at or after it, with the digest's clock: an
event's ``coalesce(published_at, extracted_at)``, an article's ``coalesce(published_at,
fetched_at)`` (its mentions follow their article), a fact's ``last_reported``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

FORMATS = {
    "parquet": ("parquet", "(FORMAT parquet, COMPRESSION zstd)"),
    "csv": ("csv", "(FORMAT csv, HEADER)"),
    "jsonl": ("jsonl", "(FORMAT json)"),  # one object per line
}

# Left out of the articles' file: the text and page bytes are the publishers' content.
ARTICLE_CONTENT = ("text", "raw_html")

_ARTICLE_AT = "coalesce(a.published_at, a.fetched_at)"


def _articles_since(columns: str) -> str:
    return f"SELECT {columns} FROM articles a WHERE $since IS NULL OR {_ARTICLE_AT} >= $since"


def _queries(article_columns: list[str]) -> dict[str, tuple[str, str]]:
    """file stem -> (table, query); ``$since`` is the one parameter. No ORDER BY: a sort
    holds the whole table before the first row is written, where a scan streams (rows
    come out in the order they were stored)."""
    kept = ", ".join(f"a.{c}" for c in article_columns)
    return {
        "events": (
            "adoption_events",
            "SELECT * FROM adoption_events e WHERE $since IS NULL "
            "OR coalesce(e.published_at, e.extracted_at) >= $since",
        ),
        "facts": (
            "adoption_facts",
            "SELECT * FROM adoption_facts f WHERE $since IS NULL OR f.last_reported >= $since",
        ),
        "mentions": (
            "model_mentions",
            "SELECT m.* FROM model_mentions m "
            f"SEMI JOIN ({_articles_since('a.article_id')}) a ON m.article_id = a.article_id",
        ),
        "articles": (
            "articles",
            _articles_since(kept),
        ),
    }


COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "adoption_events": {
        "event_id": "id of the event: hash of article, adopter, model family, relation, "
        "vendor level",
        "article_id": "the article it was read from (articles.article_id)",
        "article_url": "the article's canonical URL",
        "adopter": "the organisation, normalised through the company gazetteer",
        "adopter_named": "false when the adopter is a phrase, not a named organisation",
        "model": "the model as named (catalog name when known)",
        "model_family": "the model family (the vendor's name for a vendor-level claim)",
        "vendor": "the model's vendor",
        "origin_country": "the vendor's country, ISO 3166 alpha-2",
        "open_weights": "whether the model's weights are published (NULL: unknown)",
        "relation": "adopts | drops | evaluates",
        "switch_id": "shared by the drop and the adoption of one switch",
        "confidence": "the claims classifier's probability for the relation",
        "evidence": "the sentence the claim was read from (a quotation: see licence)",
        "published_at": "when the article was published, UTC (NULL: no date given)",
        "extracted_at": "when the claim was extracted, UTC",
        "extractor_version": "the claims extractor that produced it",
        "vendor_level": "the claim names the vendor but no model",
    },
    "adoption_facts": {
        "adopter": "the organisation",
        "model_family": "the model family (the vendor's name when vendor_level)",
        "vendor_level": "the fact is about the vendor's models in general",
        "vendor": "the model's vendor",
        "origin_country": "the vendor's country, ISO 3166 alpha-2",
        "open_weights": "whether the family's weights are published (NULL: unknown)",
        "adopter_named": "the adopter is a named organisation",
        "status": "current | dropped | evaluating: the latest relation in time",
        "status_since": "when the latest relation was reported, UTC",
        "first_reported": "the earliest report, UTC",
        "last_reported": "the latest report, UTC",
        "dropped_at": "when it was dropped (status dropped), UTC",
        "replaced_by": "the model family adopted in the switch that dropped it",
        "articles": "articles reporting it",
        "outlets": "independent outlets reporting it (distinct publishers of distinct "
        "story clusters: syndicated copies count once)",
        "confidence": "the fact's confidence, combined from its claims",
        "evidence": "the best evidence sentence (a quotation: see licence)",
        "evidence_url": "the article the evidence is from",
        "evidence_at": "when that article was published, UTC",
        "refreshed_at": "when the fact was last recomputed, UTC",
        "last_other_report": "the latest report of a relation other than the status's, "
        "UTC (what keeping the fact incrementally needs)",
        "evidence_confidence": "the confidence of the evidence claim",
        "evidence_event_id": "the event the evidence comes from (events.event_id)",
        "last_relations": "the relations reported at last_reported, comma-separated (what "
        "keeping the fact incrementally needs)",
    },
    "model_mentions": {
        "article_id": "the article (articles.article_id)",
        "model_family": "the model family mentioned",
        "model": "the model as first named in the article",
        "vendor": "the model's vendor",
        "origin_country": "the vendor's country, ISO 3166 alpha-2",
        "open_weights": "whether the model's weights are published (NULL: unknown)",
        "sentences": "sentences of the article that mention the family",
        "published_at": "when the article was published, UTC",
        "extractor_version": "the extractor that found it",
    },
    "articles": {
        "article_id": "id of the article: hash of its canonical URL",
        "canonical_url": "the article's URL, canonicalised (tracking parameters removed)",
        "url": "the URL it was fetched from",
        "source": "the source (sources.toml) whose feed led to it",
        "title": "the article's title",
        "published_at": "when it was published, UTC (NULL: no date given)",
        "fetched_at": "when it was fetched, UTC",
        "content_hash": "hash of its extracted text (duplicates share it)",
        "extraction_method": "how its text was extracted from the page",
        "extractor_version": "the claims extractor its events come from",
        "outlet": "its publisher: the registrable domain of its canonical URL",
        "story_cluster": "the article_id of the earliest article of its near-duplicate "
        "cluster (its own when it starts one)",
    },
}


@dataclass(frozen=True)
class ExportedFile:
    name: str  # file name inside the export directory
    table: str  # the table it comes from
    rows: int
    columns: list[dict[str, str]]  # name, type, description


def _quoted_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _article_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'articles' "
        "AND database_name = current_database() ORDER BY column_index"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in ARTICLE_CONTENT]


def export_tables(
    con: duckdb.DuckDBPyConnection, out_dir: Path, fmt: str, since: datetime | None
) -> tuple[list[ExportedFile], list[str]]:
    """Write the four files into ``out_dir`` (which exists) from one snapshot; returns
    them and the extractor versions behind the exported events."""
    extension, options = FORMATS[fmt]
    params: dict[str, Any] = {"since": since}
    files: list[ExportedFile] = []
    con.execute("BEGIN TRANSACTION")  # one snapshot for every file (a lake moves on)
    try:
        for stem, (table, query) in _queries(_article_columns(con)).items():
            described = con.execute(f"DESCRIBE {query}", params).fetchall()
            target = out_dir / f"{stem}.{extension}"
            copied = con.execute(
                f"COPY ({query}) TO {_quoted_path(target)} {options}", params
            ).fetchall()
            notes = COLUMN_DESCRIPTIONS.get(table, {})
            files.append(
                ExportedFile(
                    target.name,
                    table,
                    int(copied[0][0]) if copied else 0,
                    [
                        {"name": d[0], "type": d[1], "description": notes.get(d[0], "")}
                        for d in described
                    ],
                )
            )
        versions = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT extractor_version FROM adoption_events e WHERE $since IS NULL "
                "OR coalesce(e.published_at, e.extracted_at) >= $since ORDER BY 1",
                params,
            ).fetchall()
        ]
    finally:
        con.execute("COMMIT")
    return files, versions
