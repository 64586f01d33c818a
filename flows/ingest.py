"""The ingest flow: sources → feeds → articles → claims → DuckDB, once.

The flow is a table of contents: ``adoptwatch.pipeline.ingest.run_ingest`` drives the
steps and this module hands it the same plain functions wrapped as Prefect tasks.

Retries: HTTP retries (timeouts, connection errors, 5xx, 429 with Retry-After) happen
per request inside the fetcher, which alone knows Retry-After and per-host politeness;
404s and parse errors are never retried. Task-level retries cover the one transient
failure a task itself can hit: the database file being held by another process, or on
a DuckLake, other writers committing first for longer than ``db_lock_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from adoptwatch.digest import alerts
from adoptwatch.errors import AdoptwatchError
from adoptwatch.flows import run_settings
from adoptwatch.pipeline import crawl, ingest, pages, rows
from adoptwatch.pipeline.progress import Progress
from adoptwatch.settings import Settings
from adoptwatch.storage.db import DatabaseBusy, WriteConflict


def retry_if_database_busy(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the DuckDB file was locked by another process, or other writers
    of a DuckLake kept committing first."""
    try:
        state.result()
    except (DatabaseBusy, WriteConflict):
        return True
    except Exception:
        return False
    return False


DB_TASK_OPTIONS: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 5, 15],
    "retry_condition_fn": retry_if_database_busy,
    "cache_policy": NO_CACHE,
}

prepare_run = task(name="prepare-run", **DB_TASK_OPTIONS)(ingest.prepare_run)
claim_round = task(name="claim-sources", **DB_TASK_OPTIONS)(ingest.claim_round)
fetch_feeds = task(name="fetch-feeds", cache_policy=NO_CACHE)(crawl.fetch_feeds)
fetch_pages = task(name="fetch-articles", cache_policy=NO_CACHE)(crawl.fetch_pages)
extract_pages = task(name="extract-articles", cache_policy=NO_CACHE)(pages.extract_pages)
write_batch = task(name="write-batch", **DB_TASK_OPTIONS)(ingest.write)
finish_run = task(name="finish-run", **DB_TASK_OPTIONS)(ingest.finish_run)
deliver_alerts = task(name="deliver-alerts", cache_policy=NO_CACHE)(alerts.deliver_alerts)

PREFECT_STEPS = ingest.IngestSteps(
    prepare=prepare_run,
    claim=claim_round,
    fetch_feeds=fetch_feeds,
    fetch_pages=fetch_pages,
    extract=extract_pages,
    write=write_batch,
    finish=finish_run,
    alerts=deliver_alerts,
)


class DaskUnavailable(AdoptwatchError):
    """The Dask cluster asked for could not be reached or started, or has no workers."""


@contextlib.asynccontextmanager
async def extraction_steps(settings: Settings) -> AsyncIterator[ingest.IngestSteps]:
    """The flow's steps, with extraction fanned out to Dask when the settings ask for it
    (``dask_address``, ``dask_workers``) or the flow runs with a ``DaskTaskRunner``
    (``ingest_flow.with_options(task_runner=DaskTaskRunner(...))``).

    Only ``extract_pages`` goes to Dask: the flow keeps fetching in its own event loop,
    deduplicates the results in batch order and stays the single database writer.
    """
    context = FlowRunContext.get()
    runner = context.task_runner if context is not None else None
    owned = False
    if not _is_dask_runner(runner):
        if not (settings.dask_address or settings.dask_workers):
            yield PREFECT_STEPS
            return
        runner = dask_task_runner(settings.dask_address, settings.dask_workers)
        await asyncio.to_thread(runner.__enter__)
        owned = True
    try:
        # Connect (or start the local cluster) off the event loop.
        try:
            client = await asyncio.to_thread(lambda: runner.client)
            threads = sum((await asyncio.to_thread(client.nthreads)).values())
        except (OSError, TimeoutError) as exc:
            where = settings.dask_address or f"a local cluster of {settings.dask_workers}"
            raise DaskUnavailable(
                f"cannot reach the Dask scheduler at {where}: {exc}. Start one "
                "(`dask scheduler`, then `dask worker tcp://HOST:8786` on each machine, "
                "from this project's venv) or drop --dask-address"
            ) from exc
        if threads < 1:
            raise DaskUnavailable(
                f"the Dask scheduler at {settings.dask_address} has no workers; start "
                "some with `dask worker ADDRESS` from this project's venv"
            )

        async def dispatch(
            pages: Any, known_urls: Any, known_hashes: Any, pipeline: str, **limits: Any
        ) -> rows.ProcessedBatch:
            future = runner.submit(
                extract_pages,
                {
                    "pages": pages,
                    "known_urls": known_urls,
                    "known_hashes": known_hashes,
                    "extractor_pipeline": pipeline,
                    **limits,
                },
            )
            return await asyncio.to_thread(future.result)

        # One batch per worker thread, and one more ready for whichever is done first.
        yield dataclasses.replace(
            PREFECT_STEPS, dispatch_extract=dispatch, extract_in_flight=max(1, threads) + 1
        )
    finally:
        if owned:
            await asyncio.to_thread(runner.__exit__, None, None, None)


def _is_dask_runner(runner: Any) -> bool:
    if runner is None:
        return False
    from prefect_dask import DaskTaskRunner

    return isinstance(runner, DaskTaskRunner)


def dask_task_runner(address: str = "", workers: int = 0) -> Any:
    """A prefect-dask ``DaskTaskRunner`` for a running scheduler, or for a local cluster
    of ``workers`` processes (one thread each: spaCy work holds the GIL)."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True},
    )


@flow(name="adoptwatch-ingest", log_prints=True)
async def ingest_flow(
    config: str | None = None,
    sources: str | None = None,
    db: str | None = None,
    allow_networks: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    dask_address: str | None = None,
    dask_workers: int | None = None,
    lock_held: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Crawl every enabled source once and store new articles and adoption events.

    ``settings``: the caller's (the CLI passes its own); without them, the worker's
    environment and ``config`` file. The other parameters override them
    (``allow_networks`` adds to the configured networks). ``dask_address``
    (tcp://HOST:PORT) or ``dask_workers`` (a local cluster) fan the text and claim
    extraction out to Dask. ``lock_held``: the caller already holds the database's ingest
    lock (the CLI takes it before starting the flow, so that a second ingest is refused
    before Prefect starts). ``progress`` is told how far the run is.
    """
    # One way to reach Dask at a time: naming one replaces the other from the settings.
    if dask_address is not None and dask_workers is None:
        dask_workers = 0
    if dask_workers is not None and dask_address is None:
        dask_address = ""
    settings = run_settings(
        settings,
        config,
        overrides,
        sources=sources,
        db=db,
        dask_address=dask_address,
        dask_workers=dask_workers,
    ).allowing(allow_networks or ())
    async with extraction_steps(settings) as steps:
        summary = await ingest.run_ingest(
            settings, steps=steps, progress=progress, lock_held=lock_held
        )
    return summary.as_dict()
