"""Watchlist alerts: the outbox (storage.alerts) on every backend, and delivery
(digest.alerts) to a real SMTP server (aiosmtpd) and a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from adoptwatch.digest.alerts import alert_text, deliver_alerts
from adoptwatch.settings import Settings
from adoptwatch.storage import alerts
from adoptwatch.storage.db import atomic, write_session
from adoptwatch.storage.facts import FactChange as Change
from adoptwatch.storage.store import WriteBatch, write_batch
from tests.conftest import make_settings
from tests.httpserver import RouteServer, respond
from tests.smtp_helpers import free_port, smtp_server

NOW = datetime(2026, 11, 25, 9, 0)
SINCE = datetime(2026, 11, 24, 15, 30)


def fact(
    adopter: str = "Airbnb",
    family: str = "Qwen",
    status: str = "current",
    since: datetime = SINCE,
    outlets: int = 2,
    vendor: str = "Alibaba",
    origin: str = "CN",
) -> dict[str, Any]:
    return {
        "adopter": adopter,
        "model_family": family,
        "vendor_level": False,
        "vendor": vendor,
        "origin_country": origin,
        "open_weights": True,
        "adopter_named": True,
        "status": status,
        "status_since": since,
        "first_reported": SINCE,
        "last_reported": since,
        "dropped_at": since if status == "dropped" else None,
        "replaced_by": "Claude" if status == "dropped" else None,
        "articles": outlets + 1,
        "outlets": outlets,
        "confidence": 0.9,
        "evidence": f"{adopter} put {family} behind its help centre, the company wrote.",
        "evidence_url": f"https://news.example.com/{adopter.lower()}-{family.lower()}",
        "evidence_at": since,
        "refreshed_at": NOW,
    }


@pytest.fixture(params=["file", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(db, lake data path) for a DuckDB file, a SQLite-catalog and a PostgreSQL lake."""
    if request.param == "file":
        return str(tmp_path / "alerts.duckdb"), ""
    url, data = request.getfixturevalue(f"{request.param}_lake")
    return url, str(data)


def queue(db: str, data: str, *changes: Change) -> int:
    with write_session(db, data_path=data) as con:
        return int(atomic(con, lambda c: alerts.queue_alerts(c, list(changes), now=NOW)))


def stored(db: str, data: str) -> list[dict[str, Any]]:
    with write_session(db, data_path=data) as con:
        return alerts.list_alerts(con)


def watch(db: str, data: str, kind: str, value: str, min_outlets: int = 1) -> alerts.Watch:
    with write_session(db, data_path=data) as con:
        return alerts.add_watch(con, kind, value, min_outlets, NOW)[0]


def test_a_matching_change_is_queued_once_whoever_sees_it(backend: tuple[str, str]) -> None:
    db, data = backend
    assert queue(db, data, Change(fact(), None)) == 0  # no watches: nothing to match
    company = watch(db, data, "company", "Airbnb")
    watch(db, data, "origin", "US")  # matches nothing below

    assert queue(db, data, Change(fact(), None), Change(fact("Stripe"), None)) == 1
    # The same change seen again (a re-run, a second writer): no second alert.
    assert queue(db, data, Change(fact(), None)) == 0
    # More reports, same status: not news.
    assert queue(db, data, Change(fact(outlets=5), "current")) == 0
    # Dropped: a status change is.
    dropped = datetime(2026, 12, 2, 8, 0)
    assert queue(db, data, Change(fact(status="dropped", since=dropped), "current")) == 1

    rows = stored(db, data)
    assert [(r["watch_id"], r["status"], r["previous_status"]) for r in rows] == [
        (company.watch_id, "current", None),
        (company.watch_id, "dropped", "current"),
    ]
    assert {r["delivery"] for r in rows} == {"pending"}
    assert rows[1]["replaced_by"] == "Claude"


def test_min_outlets_holds_an_alert_until_the_fact_reaches_it(backend: tuple[str, str]) -> None:
    db, data = backend
    watch(db, data, "model", "Qwen", min_outlets=3)
    assert queue(db, data, Change(fact(outlets=2), None)) == 0
    # Same status, now corroborated enough: told once, then never again for it.
    assert queue(db, data, Change(fact(outlets=3), "current")) == 1
    assert queue(db, data, Change(fact(outlets=4), "current")) == 0
    assert [r["outlets"] for r in stored(db, data)] == [3]


def test_each_kind_of_watch_matches_its_own_column(tmp_path: Path) -> None:
    db = str(tmp_path / "kinds.duckdb")
    for kind, value in [
        ("company", "Canva"),
        ("model", "Claude"),
        ("vendor", "Alibaba"),
        ("origin", "FR"),
    ]:
        watch(db, "", kind, value)
    changes = [
        Change(fact("Canva", "GPT", vendor="OpenAI", origin="US"), None),  # company
        Change(fact("Zapier", "Claude", vendor="Anthropic", origin="US"), None),  # model
        Change(fact("Zapier", "Qwen"), None),  # vendor Alibaba
        Change(fact("Zapier", "Mistral", vendor="Mistral AI", origin="FR"), None),  # origin
        Change(fact("Zapier", "GPT", vendor="OpenAI", origin="US"), None),  # nothing
    ]
    assert queue(db, "", *changes) == 4
    matched = {(r["watch_kind"], r["adopter"], r["model_family"]) for r in stored(db, "")}
    assert matched == {
        ("company", "Canva", "GPT"),
        ("model", "Zapier", "Claude"),
        ("vendor", "Zapier", "Qwen"),
        ("origin", "Zapier", "Mistral"),
    }


def test_alert_ids_are_deterministic() -> None:
    one = alerts.alert_id("w1", "Airbnb", "Qwen", False, "current", SINCE)
    assert one == alerts.alert_id("w1", "Airbnb", "Qwen", False, "current", SINCE)
    assert one != alerts.alert_id("w1", "Airbnb", "Qwen", True, "current", SINCE)
    assert one != alerts.alert_id("w1", "Airbnb", "Qwen", False, "dropped", SINCE)
    assert one != alerts.alert_id("w2", "Airbnb", "Qwen", False, "current", SINCE)


def test_two_claims_at_once_share_nothing(backend: tuple[str, str]) -> None:
    db, data = backend
    watch(db, data, "company", "Airbnb")
    queue(db, data, Change(fact(), None))
    with write_session(db, data_path=data) as con:
        first = alerts.claim_alerts(con, "run-a", 5, NOW, datetime(2026, 11, 25, 8, 45))
        second = alerts.claim_alerts(con, "run-b", 5, NOW, datetime(2026, 11, 25, 8, 45))
        # A claim older than the cut-off is of a dead run: due again.
        later = datetime(2026, 11, 25, 10, 0)
        third = alerts.claim_alerts(con, "run-c", 5, later, datetime(2026, 11, 25, 9, 45))
    assert (len(first), len(second), len(third)) == (1, 0, 1)


# --- delivery -------------------------------------------------------------------------------


def _hook(status: int) -> Any:
    def handle(req: BaseHTTPRequestHandler) -> None:
        respond(
            req, status, b"ok" if status < 300 else b"receiver broke", content_type="text/plain"
        )

    return handle


@pytest.fixture
def receivers() -> Iterator[tuple[Any, Any, RouteServer]]:
    with smtp_server() as (controller, handler), RouteServer() as http:
        http.routes["/hook"] = _hook(200)
        http.routes["/broken"] = _hook(500)
        yield controller, handler, http


def delivery_settings(tmp_path: Path, controller: Any, url: str, **extra: Any) -> Settings:
    return make_settings(
        tmp_path,
        smtp_host=controller.hostname,
        smtp_port=controller.port,
        smtp_timeout=5.0,
        mail_from="adoptwatch <alerts@example.org>",
        mail_to=("analyst@example.org",),
        alert_webhook_url=url,
        alert_webhook_timeout=3.0,
        alert_webhook_retries=2,
        alert_webhook_backoff=0.01,
        **extra,
    )


def test_one_email_and_one_post_per_alert_and_none_the_next_time(
    tmp_path: Path, receivers: tuple[Any, Any, RouteServer]
) -> None:
    controller, handler, http = receivers
    settings = delivery_settings(tmp_path, controller, http.url("/hook"))
    db = str(settings.db)
    watch(db, "", "company", "Airbnb")
    queue(db, "", Change(fact(), None))

    report = asyncio.run(deliver_alerts(settings))
    assert (report.due, report.sent, report.failed) == (1, 1, 0)
    assert len(handler.received) == 1
    mail = handler.received[0].message
    assert handler.received[0].rcpt_tos == ["analyst@example.org"]
    assert "Airbnb" in mail["Subject"] and "Qwen" in mail["Subject"]
    body = mail.get_content()
    assert "Airbnb uses Qwen (Alibaba, CN) since 2026-11-24" in body
    assert "reported by 2 independent outlets" in body
    assert "https://news.example.com/airbnb-qwen" in body

    (post,) = http.hits_for("/hook")
    assert post.method == "POST"
    assert post.headers["Content-Type"].startswith("application/json")
    payload = json.loads(post.body)
    assert payload["text"].startswith("adoptwatch: [company Airbnb] Airbnb uses Qwen")
    assert payload["alert"]["adopter"] == "Airbnb"
    assert payload["alert"]["status"] == "current"
    assert payload["alert"]["outlets"] == 2

    (row,) = stored(db, "")
    assert (row["delivery"], row["delivered_via"], row["attempts"]) == ("sent", "email,webhook", 1)
    assert row["sent_at"] is not None

    again = asyncio.run(deliver_alerts(settings))
    assert again.due == 0
    assert len(handler.received) == 1 and len(http.hits_for("/hook")) == 1


def test_a_webhook_answering_500_is_retried_then_recorded_as_failed(
    tmp_path: Path, receivers: tuple[Any, Any, RouteServer]
) -> None:
    controller, handler, http = receivers
    settings = delivery_settings(tmp_path, controller, http.url("/broken"), alert_max_attempts=2)
    db = str(settings.db)
    watch(db, "", "company", "Airbnb")
    queue(db, "", Change(fact(), None))

    report = asyncio.run(deliver_alerts(settings))
    assert (report.due, report.sent, report.failed) == (1, 0, 1)
    assert len(http.hits_for("/broken")) == 3  # one try and alert_webhook_retries more
    (row,) = stored(db, "")
    assert (row["delivery"], row["delivered_via"], row["attempts"]) == ("failed", "email", 1)
    assert "HTTP 500" in row["last_error"] and "/broken" not in row["last_error"]
    assert len(handler.received) == 1

    # The next run tries the webhook again, never the email that went out.
    asyncio.run(deliver_alerts(settings))
    assert len(http.hits_for("/broken")) == 6 and len(handler.received) == 1
    # alert_max_attempts reached: it stays failed, and nothing more is tried.
    assert asyncio.run(deliver_alerts(settings)).due == 0
    (row,) = stored(db, "")
    assert (row["delivery"], row["attempts"]) == ("failed", 2)

    # Once the receiver is fixed, a new alert goes out on both channels.
    http.routes["/broken"] = _hook(200)
    queue(db, "", Change(fact("Airbnb", "Qwen", status="dropped", since=NOW), "current"))
    fixed = asyncio.run(deliver_alerts(settings))
    assert (fixed.due, fixed.sent) == (1, 1)


def test_a_refused_post_is_not_retried_within_the_run(
    tmp_path: Path, receivers: tuple[Any, Any, RouteServer]
) -> None:
    controller, _handler, http = receivers
    http.routes["/gone"] = _hook(404)
    settings = delivery_settings(tmp_path, controller, http.url("/gone"), alert_email=False)
    watch(str(settings.db), "", "company", "Airbnb")
    queue(str(settings.db), "", Change(fact(), None))
    report = asyncio.run(deliver_alerts(settings))
    assert report.failed == 1 and len(http.hits_for("/gone")) == 1
    assert "HTTP 404" in stored(str(settings.db), "")[0]["last_error"]


def test_without_a_channel_alerts_are_kept_but_not_sent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # no mail_to, no webhook
    watch(str(settings.db), "", "company", "Airbnb")
    queue(str(settings.db), "", Change(fact(), None))
    report = asyncio.run(deliver_alerts(settings))
    assert (report.due, report.no_channel) == (1, 1)
    assert stored(str(settings.db), "")[0]["delivery"] == "no-channel"
    assert asyncio.run(deliver_alerts(settings)).due == 0


def test_two_lake_writers_seeing_one_change_queue_one_alert(
    postgres_lake: tuple[str, Path],
) -> None:
    """Two writers of a PostgreSQL-catalog lake queue the alert in overlapping
    transactions; the write fence makes the later one run again on the newer snapshot,
    where the alert is already there (a file and a SQLite catalog take one writer)."""
    db, data = postgres_lake[0], str(postgres_lake[1])
    watch(db, data, "company", "Airbnb")
    overlap = threading.Barrier(2, timeout=3)

    def writer() -> int:
        def work(con: Any) -> int:
            queued = alerts.queue_alerts(con, [Change(fact(), None)], now=NOW)
            # Both first tries hold their transaction open here; a retry waits alone
            # and goes on when the barrier gives up.
            with contextlib.suppress(threading.BrokenBarrierError):
                overlap.wait()
            return queued

        with write_session(db, data_path=data) as con:
            return int(atomic(con, work, timeout=60))

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(lambda _: writer(), range(2)))
    assert results == [0, 1]
    assert len(stored(db, data)) == 1


def test_an_unreachable_smtp_server_fails_the_email_only(
    tmp_path: Path, receivers: tuple[Any, Any, RouteServer]
) -> None:
    controller, handler, http = receivers
    settings = delivery_settings(tmp_path, controller, http.url("/hook")).replace(
        smtp_port=free_port()  # nothing listens there
    )
    watch(str(settings.db), "", "company", "Airbnb")
    queue(str(settings.db), "", Change(fact(), None))
    report = asyncio.run(deliver_alerts(settings))
    assert (report.sent, report.failed) == (0, 1)
    (row,) = stored(str(settings.db), "")
    assert (row["delivery"], row["delivered_via"]) == ("failed", "webhook")
    assert row["last_error"].startswith("email: smtp 127.0.0.1:")
    assert len(http.hits_for("/hook")) == 1 and handler.received == []


def test_a_fact_reaching_min_outlets_in_a_later_write_is_alerted_then(tmp_path: Path) -> None:
    """Through the real write path: the second report of Airbnb's Qwen, from another
    outlet, changes no status but takes the fact to the watch's two outlets."""
    from tests.digest_seed import article, event

    db = str(tmp_path / "corroborated.duckdb")
    watch(db, "", "model", "Qwen", min_outlets=2)
    first = datetime(2026, 11, 24, 9, 0)
    second = datetime(2026, 11, 26, 9, 0)
    sentence = "Airbnb answers guests with Qwen now, the company said."

    def write(article_id: str, at: datetime) -> int:
        batch = WriteBatch(
            articles=[article(article_id, "Airbnb and Qwen", at)],
            events=[event(article_id, "Airbnb", "Qwen", "adopts", sentence, at)],
        )
        with write_session(db) as con:
            return write_batch(con, batch).alerts

    assert write("a-first", first) == 0  # one outlet: not yet
    assert write("a-second", second) == 1  # two: told now
    assert write("a-third", datetime(2026, 11, 27, 9, 0)) == 0  # and only once
    (row,) = stored(db, "")
    assert (row["status"], row["previous_status"], row["outlets"]) == ("current", "current", 2)
    assert "(now corroborated)" in alert_text(row)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("ADOPTWATCH_ALERT_WEBHOOK_URL", "ftp://hooks.example.org/x", "must be an http(s) URL"),
        ("ADOPTWATCH_ALERT_WEBHOOK_TIMEOUT", "0", "more than 0"),
        ("ADOPTWATCH_ALERT_WEBHOOK_RETRIES", "11", "at most 10"),
        ("ADOPTWATCH_ALERT_WEBHOOK_BACKOFF", "-1", "at least 0"),
        ("ADOPTWATCH_ALERT_MAX_ATTEMPTS", "0", "at least 1"),
    ],
)
def test_alert_settings_are_range_checked(key: str, value: str, says: str) -> None:
    from adoptwatch.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=re.escape(says)) as caught:
        load_settings(env={key: value})
    assert key in str(caught.value)


def test_the_webhook_url_is_a_secret_in_printed_settings() -> None:
    from adoptwatch.settings import load_settings

    url = "https://hooks.example.org/services/T000/B000/secretpart"
    settings = load_settings(env={"ADOPTWATCH_ALERT_WEBHOOK_URL": url})
    assert settings.alert_webhook_url == url
    assert "secretpart" not in repr(settings)
    assert "secretpart" not in str(settings.redacted())
    assert "alert_webhook_url" not in settings.model_dump()  # what Prefect would store
