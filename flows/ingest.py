"""The ingest flow: sources → feeds → articles → claims → DuckDB, once.

The flow is a table of contents: ``adoptwatch.ingest.run_ingest`` drives the steps and
this module hands it the same plain functions wrapped as Prefect tasks.

Retries: HTTP retries (timeouts, connection errors, 5xx, 429 with Retry-After) happen
per request inside the fetcher, which alone knows Retry-After and per-host politeness;
404s and parse errors are never retried. Task-level retries cover the one transient
failure a task itself can hit: the database file being held by another process.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from adoptwatch import ingest
from adoptwatch.settings import load_settings
from storage.db import DatabaseBusy


def retry_if_database_busy(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the DuckDB file was locked by another process."""
    try:
        state.result()
    except DatabaseBusy:
        return True
    except Exception:
        return False
    return False


_db_task = {
    "retries": 3,
    "retry_delay_seconds": [2, 5, 15],
    "retry_condition_fn": retry_if_database_busy,
    "cache_policy": NO_CACHE,
}

prepare_run = task(name="prepare-run", **_db_task)(ingest.prepare_run)
fetch_feeds = task(name="fetch-feeds", cache_policy=NO_CACHE)(ingest.fetch_feeds)
fetch_pages = task(name="fetch-articles", cache_policy=NO_CACHE)(ingest.fetch_pages)
extract_pages = task(name="extract-articles", cache_policy=NO_CACHE)(ingest.extract_pages)
write_batch = task(name="write-batch", **_db_task)(ingest.write)
finish_run = task(name="finish-run", **_db_task)(ingest.finish_run)

PREFECT_STEPS = ingest.IngestSteps(
    prepare=prepare_run,
    fetch_feeds=fetch_feeds,
    fetch_pages=fetch_pages,
    extract=extract_pages,
    write=write_batch,
    finish=finish_run,
)


@flow(name="adoptwatch-ingest", log_prints=True)
async def ingest_flow(
    config: str | None = None,
    sources: str | None = None,
    db: str | None = None,
    allow_networks: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    lock_held: bool = False,
) -> dict[str, Any]:
    """Crawl every enabled source once and store new articles and adoption events.

    Settings come from the worker's environment and ``config`` file; the parameters
    override them (``allow_networks`` adds to the configured networks). ``lock_held``:
    the caller already holds the database's ingest lock (the CLI takes it before
    starting the flow, so that a second ingest is refused before Prefect starts).
    """
    explicit = {k: v for k, v in {"sources": sources, "db": db}.items() if v is not None}
    settings = load_settings(config, overrides={**(overrides or {}), **explicit})
    if allow_networks:
        settings = settings.replace(
            allow_networks=tuple(dict.fromkeys((*settings.allow_networks, *allow_networks)))
        )
    summary = await ingest.run_ingest(
        settings, steps=PREFECT_STEPS, progress=ingest.current_progress(), lock_held=lock_held
    )
    return summary.as_dict()
