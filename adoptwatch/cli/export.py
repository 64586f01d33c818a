"""``adoptwatch export``: events, facts, mentions and articles' metadata as files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from adoptwatch.cli.commands import CliState, db_option, main


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "jsonl"]),
    default="parquet",
    show_default=True,
    help="File format: Parquet (zstd), CSV with a header row, or JSON Lines.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (created when missing; files of an earlier export there "
    "are replaced).",
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Only rows from this UTC date on: events and articles by publication date, "
    "facts by their latest report.",
)
@db_option
@click.pass_obj
def export(
    state: CliState, fmt: str, out_dir: Path, since: datetime | None, db: str | None
) -> None:
    """Write events, facts, mentions and articles' metadata (no article text) to files,
    with a manifest.json: snapshot time, extractor versions, row counts, column
    descriptions and the licence note for the quoted evidence sentences.

    Reads one snapshot through a read-only session, so it runs beside an ingest.

    Example: adoptwatch export --format parquet --out exports/2026-12 --since 2026-11-01
    """
    from adoptwatch.pipeline.export import MANIFEST
    from adoptwatch.pipeline.export import export as run_export

    manifest = run_export(state.settings(db=db), out_dir, fmt, since)
    for f in manifest["files"]:
        click.echo(f"{out_dir / f['name']}: {f['rows']} row(s)")
    click.echo(f"{out_dir / MANIFEST}: snapshot {manifest['snapshot_at']}")
