"""`adoptwatch export`: the files round-trip through DuckDB's readers with the manifest's
counts, on a DuckDB file and on a DuckLake."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.storage.db import read_session
from adoptwatch.storage.export import ARTICLE_CONTENT
from tests import digest_seed

READERS = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}
TABLES = {
    "events.{}": "adoption_events",
    "facts.{}": "adoption_facts",
    "mentions.{}": "model_mentions",
    "articles.{}": "articles",
}


@pytest.fixture(params=["file", "sqlite"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    db = (
        str(tmp_path / "export.duckdb")
        if request.param == "file"
        else f"ducklake:sqlite:{tmp_path / 'export.sqlite'}"
    )
    digest_seed.seed(db)  # type: ignore[arg-type]
    return db


def export(db: str, out: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["export", "--db", db, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text())


def counts(db: str, where: dict[str, str] | None = None) -> dict[str, int]:
    with read_session(db) as con:
        return {
            table: con.execute(
                f"SELECT count(*) FROM {table} {(where or {}).get(table, '')}"
            ).fetchall()[0][0]
            for table in TABLES.values()
        }


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_the_export_round_trips_with_the_manifests_counts(
    seeded: str, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    manifest = export(seeded, out, "--format", fmt)
    expected = counts(seeded)
    assert expected["adoption_events"] == 14 and expected["articles"] == 9
    assert expected["adoption_facts"] > 0

    reader = READERS[fmt]
    by_name = {f["name"]: f for f in manifest["files"]}
    assert set(by_name) == {name.format(fmt) for name in TABLES}
    for name, table in TABLES.items():
        entry = by_name[name.format(fmt)]
        path = out / entry["name"]
        read_back = duckdb.sql(f"SELECT count(*) FROM {reader}('{path}')").fetchall()[0][0]
        assert entry["table"] == table
        assert entry["rows"] == read_back == expected[table], name
        # Every column says what it holds.
        assert all(c["description"] for c in entry["columns"]), [
            c["name"] for c in entry["columns"] if not c["description"]
        ]

    articles = out / f"articles.{fmt}"
    columns = [
        r[0] for r in duckdb.sql(f"DESCRIBE SELECT * FROM {reader}('{articles}')").fetchall()
    ]
    assert "canonical_url" in columns and "title" in columns
    assert not set(ARTICLE_CONTENT) & set(columns)  # no article text, no page bytes
    assert manifest["extractor_versions"] == [digest_seed.EXTRACTOR]
    assert manifest["format"] == fmt and manifest["since"] is None
    assert "copyright" in manifest["licence"]
    assert manifest["snapshot_at"].endswith("Z")


def test_since_keeps_the_rows_from_that_date_on(seeded: str, tmp_path: Path) -> None:
    manifest = export(seeded, tmp_path / "out", "--since", "2026-11-23")
    rows = {f["table"]: f["rows"] for f in manifest["files"]}
    expected = counts(
        seeded,
        {
            "adoption_events": "WHERE coalesce(published_at, extracted_at) >= '2026-11-23'",
            "adoption_facts": "WHERE last_reported >= '2026-11-23'",
            "articles": "WHERE coalesce(published_at, fetched_at) >= '2026-11-23'",
            "model_mentions": "WHERE article_id IN (SELECT article_id FROM articles "
            "WHERE coalesce(published_at, fetched_at) >= '2026-11-23')",
        },
    )
    assert rows == expected
    # The seed has events in W40 and W47, before that date.
    assert rows["adoption_events"] == 11
    events = duckdb.sql(
        f"SELECT min(coalesce(published_at, extracted_at)) FROM "
        f"read_parquet('{tmp_path / 'out' / 'events.parquet'}')"
    ).fetchall()[0][0]
    assert events.isoformat() >= "2026-11-23"


def test_a_folder_that_cannot_be_made_is_a_clean_error(seeded: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["export", "--db", seeded, "--out", str(blocker / "x")])
    assert result.exit_code == 1
    assert "cannot create the export folder" in result.output


def test_the_export_benchmark_runs_both_ways_over_the_same_rows(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "export.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.export", "--quick", "--json", str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    tables = figures["tables"]
    exported = (
        tables["adoption_events"]
        + tables["adoption_facts"]
        + tables["model_mentions"]
        + tables["articles"]
    )
    assert figures["copy"]["rows"] == figures["baseline"]["rows"] == exported
    assert figures["copy"]["peak_rss_mib"] > 0 and figures["baseline"]["peak_rss_mib"] > 0
    assert figures["outbox"]["alerts_queued"] > 0  # the watches did match
