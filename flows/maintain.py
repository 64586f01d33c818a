"""The maintain flow: DuckLake upkeep on a schedule (``maintain_cron``, daily by default).

Merges the small files ingest writes leave, expires snapshots older than
``keep_snapshots_days`` and deletes the files no snapshot needs; on a DuckDB file, a
checkpoint. Writers and readers may go on meanwhile. Without Prefect: ``adoptwatch
maintain``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import flow, task

from adoptwatch.flows import run_settings
from adoptwatch.flows.ingest import DB_TASK_OPTIONS
from adoptwatch.pipeline.maintain import run_maintenance
from adoptwatch.settings import Settings

maintain_task = task(name="maintain", **DB_TASK_OPTIONS)(run_maintenance)


@flow(name="adoptwatch-maintain", log_prints=True)
def maintain_flow(
    config: str | None = None,
    db: str | None = None,
    overrides: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Compact the event log's lake; returns the files before and after."""
    settings = run_settings(settings, config, overrides, db=db)
    return dataclasses.asdict(maintain_task(settings))
