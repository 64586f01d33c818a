"""The ingest with its CPU work on a real local Dask cluster gives the sequential run's events.

The demo corpus (31 articles, syndicated copies, one story reached through two feeds) is
cut into small batches so that several are extracted at once on two worker processes,
and duplicates meet across batches: the flow, not the workers, must settle them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adoptwatch.demo import DEMO_SITE
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests.conftest import TEST_OVERRIDES, make_settings

pytestmark = pytest.mark.slow

Event = tuple[str, str, str, str]


def events(db: Path) -> set[Event]:
    with read_session(db) as con:
        rows = store.run_query(
            con, "SELECT article_url, adopter, model_family, relation FROM adoption_events"
        ).rows
    return {tuple(r) for r in rows}


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with read_session(db) as con:
        return store.run_query(con, sql).rows


def extractor_cache() -> dict[str, int]:
    from adoptwatch.extractors.claims import get_extractor

    info = get_extractor.cache_info()
    return {"misses": info.misses, "hits": info.hits}


def test_dask_cluster_gives_the_sequential_runs_events(
    prefect_harness: str, tmp_path: Path
) -> None:
    from distributed import Client, LocalCluster
    from rich.progress import Progress

    from adoptwatch.cli.commands import RichProgress
    from adoptwatch.extractors.claims import get_extractor
    from adoptwatch.flows.ingest import ingest_flow

    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in TEST_OVERRIDES.items()}
    overrides["write_batch_size"] = 3
    with SiteServer(DEMO_SITE) as site:
        sources = tmp_path / "sources.toml"
        sources.write_bytes(site.render("sources.toml") or b"")
        common = {"sources": str(sources), "overrides": overrides}
        # The sequential path: run_ingest in this process, no Prefect.
        settings = make_settings(
            tmp_path, sources=sources, db=tmp_path / "seq.duckdb", write_batch_size=3
        )
        sequential = asyncio.run(run_ingest(settings)).as_dict()

        get_extractor.cache_clear()
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
            Progress(disable=True) as bars,
        ):
            # With the progress display `adoptwatch ingest` passes: Prefect ships the
            # flow's parameters to the workers with each task, so it must survive that.
            fanned = asyncio.run(
                ingest_flow(
                    db=str(tmp_path / "dask.duckdb"),
                    dask_address=cluster.scheduler_address,
                    progress=RichProgress(bars),
                    **common,
                )
            )
            per_worker = client.run(extractor_cache)
        # Again, on a local cluster the flow starts (and stops) itself.
        again = asyncio.run(ingest_flow(db=str(tmp_path / "dask.duckdb"), dask_workers=2, **common))

    seq_events, dask_events = events(tmp_path / "seq.duckdb"), events(tmp_path / "dask.duckdb")
    assert len(seq_events) >= 20
    # ... and the display in this process still counted every page.
    stages = {t.description: (t.completed, t.total) for t in bars.tasks}
    assert stages["articles"][0] == stages["articles"][1] >= 20, stages
    assert dask_events == seq_events
    for key in ("articles_new", "articles_duplicate", "articles_failed", "events_new"):
        assert fanned[key] == sequential[key], key
    # The syndicated copy (rel=canonical to an article of an earlier batch) is only found
    # to be a duplicate after its text is read: on a worker that did not know the
    # original, so the flow settled it.
    copy_sql = (
        "SELECT status, article_id FROM feed_entries WHERE url LIKE '%/dragon-stack/partner/%'"
    )
    original_sql = "SELECT article_id FROM articles WHERE canonical_url LIKE '%lumenary%'"
    [(original,)] = table(tmp_path / "dask.duckdb", original_sql)
    assert table(tmp_path / "dask.duckdb", copy_sql) == [("duplicate", original)]
    article_sql = "SELECT canonical_url, content_hash, extractor_version FROM articles ORDER BY 1"
    assert table(tmp_path / "dask.duckdb", article_sql) == table(
        tmp_path / "seq.duckdb", article_sql
    )
    entry_sql = "SELECT source, entry_key, status, article_id FROM feed_entries ORDER BY 1, 2"
    assert table(tmp_path / "dask.duckdb", entry_sql) == table(tmp_path / "seq.duckdb", entry_sql)

    # The CPU work ran on the workers: both took batches, each loaded spaCy once and
    # reused it; the flow's own process never loaded the extractor.
    assert len(per_worker) == 2
    assert all(c["misses"] == 1 for c in per_worker.values()), per_worker
    assert sum(c["hits"] + c["misses"] for c in per_worker.values()) >= 8, per_worker
    assert get_extractor.cache_info().misses == 0

    # Re-running adds nothing, with Dask as without.
    assert again["feeds_unchanged"] == sequential["feeds_fetched"]
    assert (again["articles_new"], again["events_new"]) == (0, 0)
    assert events(tmp_path / "dask.duckdb") == seq_events


def test_an_unreachable_dask_scheduler_is_a_clear_error_and_writes_nothing(
    prefect_harness: str, tmp_path: Path
) -> None:
    import dask

    from adoptwatch.flows.ingest import DaskUnavailable, ingest_flow
    from adoptwatch.serve import free_port

    (tmp_path / "sources.toml").write_text("")
    nowhere = f"tcp://127.0.0.1:{free_port()}"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(DaskUnavailable, match=f"cannot reach the Dask scheduler at {nowhere}"),
    ):
        asyncio.run(
            ingest_flow(
                sources=str(tmp_path / "sources.toml"),
                db=str(tmp_path / "never.duckdb"),
                dask_address=nowhere,
            )
        )
    assert not (tmp_path / "never.duckdb").exists()
