"""Alerts end to end: a real ingest of the loopback fixture site refreshes the facts,
queues the alerts a watch calls for in the same transaction, and delivers them after
the writes, to a real SMTP server and a real HTTP server, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from adoptwatch.digest.alerts import deliver_alerts
from adoptwatch.pipeline.ingest import IngestSteps, IngestSummary, run_ingest
from adoptwatch.pipeline.watches import add_watch
from adoptwatch.settings import Settings
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import alerts, store
from adoptwatch.storage.db import read_session, write_session
from tests.conftest import make_settings
from tests.httpserver import RouteServer, respond
from tests.smtp_helpers import smtp_server

SITE = Path(__file__).parent / "fixtures" / "site"


def _hook(status: int) -> Any:
    def handle(req: BaseHTTPRequestHandler) -> None:
        respond(req, status, b"answer", content_type="text/plain")

    return handle


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[SiteServer, Any, RouteServer]]:
    with SiteServer(SITE) as site, smtp_server() as (controller, handler), RouteServer() as http:
        (tmp_path / "sources.toml").write_bytes(site.render("sources.toml") or b"")
        http.routes["/hook"] = _hook(200)
        http.routes["/broken"] = _hook(500)
        yield site, (controller, handler), http


@pytest.fixture(params=["file", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "alerts.duckdb")
    return f"ducklake:sqlite:{tmp_path / 'alerts.sqlite'}"


def settings_for(tmp_path: Path, db: str, smtp: Any, hook: str) -> Settings:
    controller, _handler = smtp
    return make_settings(
        tmp_path,
        db=db,
        smtp_host=controller.hostname,
        smtp_port=controller.port,
        smtp_timeout=5.0,
        mail_from="adoptwatch <alerts@example.org>",
        mail_to=("analyst@example.org",),
        alert_webhook_url=hook,
        alert_webhook_timeout=3.0,
        alert_webhook_retries=1,
        alert_webhook_backoff=0.01,
    )


def ingest(settings: Settings) -> IngestSummary:
    return asyncio.run(run_ingest(settings, steps=IngestSteps(alerts=deliver_alerts)))


def test_a_watch_on_a_new_fact_sends_one_email_and_one_post_once(
    tmp_path: Path, db: str, world: tuple[SiteServer, Any, RouteServer]
) -> None:
    _site, smtp, http = world
    settings = settings_for(tmp_path, db, smtp, http.url("/hook"))
    add_watch(settings, "model", "Qwen2.5")  # the Qwen family: Airbnb's switch adopts it

    first = ingest(settings)
    assert first.alerts_queued == 1
    assert first.alerts == {"due": 1, "sent": 1, "failed": 0, "no_channel": 0, "errors": []}
    handler = smtp[1]
    assert len(handler.received) == 1
    body = handler.received[0].message.get_content()
    assert "[model Qwen] Airbnb uses Qwen (Alibaba, CN)" in body
    (post,) = http.hits_for("/hook")
    payload = json.loads(post.body)
    assert (payload["alert"]["adopter"], payload["alert"]["model_family"]) == ("Airbnb", "Qwen")
    assert payload["alert"]["previous_status"] is None
    assert "Airbnb uses Qwen" in payload["text"]

    second = ingest(settings)
    assert (second.alerts_queued, second.alerts["due"]) == (0, 0)
    assert len(handler.received) == 1 and len(http.hits_for("/hook")) == 1
    with read_session(settings.db) as con:
        (row,) = alerts.list_alerts(con)
    assert (row["delivery"], row["delivered_via"]) == ("sent", "email,webhook")


def test_a_webhook_answering_500_fails_the_alert_not_the_ingest(
    tmp_path: Path, world: tuple[SiteServer, Any, RouteServer]
) -> None:
    _site, smtp, http = world
    settings = settings_for(tmp_path, str(tmp_path / "broken.duckdb"), smtp, http.url("/broken"))
    add_watch(settings, "model", "Claude")  # Notion switches to it

    summary = ingest(settings)
    assert summary.articles_new == 3  # the ingest went on
    assert summary.alerts["failed"] == 1 and "HTTP 500" in summary.alerts["errors"][0]
    assert len(http.hits_for("/broken")) == 2  # one try, one retry
    with read_session(settings.db) as con:
        runs = store.run_query(con, "SELECT status FROM runs").rows
        (row,) = alerts.list_alerts(con)
    assert runs == [("completed",)]
    assert (row["adopter"], row["status"], row["delivery"]) == ("Notion", "current", "failed")
    assert row["delivered_via"] == "email"  # the email went out; only the webhook is owed

    # The next run retries the webhook, and the email is not sent again.
    again = ingest(settings)
    assert again.alerts["due"] == 1 and len(http.hits_for("/broken")) == 4
    assert len(smtp[1].received) == 1


def test_the_ingest_flow_delivers_alerts(
    prefect_harness: None, tmp_path: Path, world: tuple[SiteServer, Any, RouteServer]
) -> None:
    from adoptwatch.flows.ingest import ingest_flow

    _site, smtp, http = world
    settings = settings_for(tmp_path, str(tmp_path / "flow.duckdb"), smtp, http.url("/hook"))
    add_watch(settings, "company", "Notion")
    summary = asyncio.run(ingest_flow(settings=settings))
    assert summary["alerts"]["sent"] == 2
    notion = [json.loads(h.body)["alert"] for h in http.hits_for("/hook")]
    assert sorted((a["adopter"], a["model_family"], a["status"]) for a in notion) == [
        ("Notion", "Claude", "current"),
        ("Notion", "GPT", "dropped"),
    ]


def test_a_fact_that_reextraction_finds_is_alerted_after_it(
    tmp_path: Path, world: tuple[SiteServer, Any, RouteServer]
) -> None:
    from click.testing import CliRunner

    from adoptwatch.cli import main

    _site, smtp, http = world
    settings = settings_for(tmp_path, str(tmp_path / "re.duckdb"), smtp, http.url("/hook"))
    asyncio.run(run_ingest(settings))  # no watch yet, and no delivery step
    add_watch(settings, "model", "Claude")
    # As if an older extractor had missed Notion's switch: its events and facts gone.
    with write_session(settings.db) as con:
        con.execute("DELETE FROM adoption_events WHERE adopter = 'Notion'")
        con.execute("DELETE FROM adoption_facts WHERE adopter = 'Notion'")

    config = tmp_path / "adoptwatch.toml"
    config.write_text(
        f'db = "{settings.db}"\n'
        f'smtp_host = "{smtp[0].hostname}"\nsmtp_port = {smtp[0].port}\n'
        'mail_to = ["analyst@example.org"]\n'
        f'alert_webhook_url = "{http.url("/hook")}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "reextract", "--all", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["alerts"]["sent"] == 1
    (post,) = http.hits_for("/hook")
    assert json.loads(post.body)["alert"]["adopter"] == "Notion"
    assert len(smtp[1].received) == 1
