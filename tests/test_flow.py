"""The ingest flow under Prefect's own test harness (one temporary API per session)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests.conftest import TEST_OVERRIDES

SITE = Path(__file__).parent / "fixtures" / "site"


def test_ingest_flow_runs_the_pipeline(prefect_harness: None, tmp_path: Path) -> None:
    from adoptwatch.flows.ingest import ingest_flow

    db = tmp_path / "flow.duckdb"
    with SiteServer(SITE) as site:
        sources = tmp_path / "sources.toml"
        sources.write_bytes(site.render("sources.toml") or b"")
        overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in TEST_OVERRIDES.items()}
        summary = asyncio.run(ingest_flow(sources=str(sources), db=str(db), overrides=overrides))
        again = asyncio.run(ingest_flow(sources=str(sources), db=str(db), overrides=overrides))
    assert summary["articles_new"] == 3 and summary["feeds_fetched"] == 2
    assert again["feeds_unchanged"] == 2 and again["events_new"] == 0
    with read_session(db) as con:
        events = store.run_query(
            con, "SELECT adopter, relation, model_family FROM adoption_events"
        ).rows
        runs = store.run_query(con, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").rows
    assert ("Airbnb", "adopts", "Qwen") in events
    assert runs == [(2,)]
