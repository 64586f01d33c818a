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


def test_settings_passed_to_a_flow_are_stored_without_the_password(
    prefect_harness: None, tmp_path: Path
) -> None:
    import json

    from prefect.client.orchestration import get_client

    from adoptwatch.flows.ingest import ingest_flow
    from tests.conftest import make_settings

    (tmp_path / "sources.toml").write_text(
        '[[sources]]\nname = "nowhere"\nurl = "http://127.0.0.1:9/feed.xml"\n'
    )
    settings = make_settings(tmp_path, smtp_password="hunter2", max_retries=0)
    summary = asyncio.run(ingest_flow(settings=settings))
    assert summary["feeds_failed"] == 1  # it ran with these settings

    async def stored_parameters() -> dict:
        async with get_client() as client:
            runs = await client.read_flow_runs(sort="START_TIME_DESC", limit=20)
        run = next(r for r in runs if str(tmp_path) in json.dumps(r.parameters))
        return run.parameters

    parameters = asyncio.run(stored_parameters())
    assert parameters["settings"]["db"] == str(tmp_path / "test.duckdb")
    assert "hunter2" not in json.dumps(parameters)
