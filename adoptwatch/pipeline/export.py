"""``adoptwatch export``: the event log's public part as files, with a manifest.

Read through a read session (a lake reader never waits; on a file, the ingest's short
writes wait for the export, up to db_lock_timeout), from one snapshot; the files are
written by DuckDB's COPY (``storage.export``), then ``manifest.json`` last, so a
directory with a manifest holds a complete export.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from adoptwatch.errors import AdoptwatchError
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.settings import Settings
from adoptwatch.storage.db import read_session
from adoptwatch.storage.export import FORMATS, export_tables
from adoptwatch.storage.lake import locate

MANIFEST = "manifest.json"

LICENCE_NOTE = (
    "The evidence columns (events.evidence, facts.evidence) quote single sentences from "
    "the articles whose URLs sit beside them; those sentences remain the copyright of "
    "their publishers and are included as short quotations for reference and "
    "attribution. Keep the URL with any sentence you reuse, and check that your use is "
    "within quotation or fair-use limits where you publish. Article text and page bytes "
    "are not exported. The rest of the data (who adopted which model, when, counts) is "
    "adoptwatch's own derivation."
)


class ExportError(AdoptwatchError):
    """The export directory cannot be written."""


def export(settings: Settings, out_dir: Path, fmt: str, since: datetime | None) -> dict[str, Any]:
    """Write events, facts, mentions and articles' metadata into ``out_dir`` as ``fmt``
    (parquet, csv or jsonl), then the manifest; returns the manifest."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"cannot create the export folder {out_dir}: {exc.strerror}; pass --out DIR "
            "in a writable place"
        ) from None
    snapshot_at = utcnow()
    with read_session(
        settings.db, settings.db_lock_timeout, data_path=settings.lake_data_path
    ) as con:
        files, versions = export_tables(con, out_dir, fmt, since)
    manifest = {
        "snapshot_at": snapshot_at.isoformat() + "Z",
        "database": locate(settings.db).describe(),
        "format": fmt,
        "since": since.isoformat() if since else None,
        "extractor_versions": versions,
        "files": [asdict(f) for f in files],
        "licence": LICENCE_NOTE,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
