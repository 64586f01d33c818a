"""The digest flow under Prefect's test harness, with a credentials block and real SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from adoptwatch import digest as dg
from adoptwatch.flows.digest import digest_flow
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage.db import read_session
from tests.digest_seed import WEEK, seed
from tests.smtp_helpers import RecordingHandler, smtp_server

PASSWORD = "flow-Secret-9"


def write_config(tmp_path: Path, db: Path, block: str) -> Path:
    config = tmp_path / "adoptwatch.toml"
    config.write_text(
        f'db = "{db}"\n'
        'mail_from = "adoptwatch <digest@adoptwatch.example>"\n'
        'mail_to = ["team@example.com"]\n'
        f'email_credentials_block = "{block}"\n'
        "smtp_timeout = 5.0\n"
    )
    return config


def save_block(name: str, port: int) -> None:
    from prefect_email import EmailServerCredentials

    EmailServerCredentials(
        username="digest-bot",
        password=PASSWORD,
        smtp_server="127.0.0.1",
        smtp_type="INSECURE",
        smtp_port=port,
    ).save(name, overwrite=True)


def statuses(db: Path) -> list[str]:
    with read_session(db) as con:
        return [r["status"] for r in digest_sql.digest_log(con)]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_flow_sends_once_with_a_credentials_block(prefect_harness, tmp_path):
    db = tmp_path / "events.duckdb"
    seed(db)
    with smtp_server(user="digest-bot", password=PASSWORD) as (controller, handler):
        save_block("digest-flow-mail", controller.port)
        config = write_config(tmp_path, db, "digest-flow-mail")
        summary = digest_flow(week=WEEK, config=str(config))
        assert summary["status"] == "sent" and summary["week"] == WEEK
        assert summary["subject"] == "adoptwatch weekly — 2026-W48: 4 new adoptions"
        assert summary["recipients"] == ["team@example.com"]
        assert handler.logins == [("digest-bot", PASSWORD)]
        assert len(handler.received) == 1
        again = digest_flow(week=WEEK, config=str(config))
        assert again["status"] == "skipped" and len(handler.received) == 1
    assert statuses(db) == ["sent"]
    with read_session(db) as con:
        assert PASSWORD not in repr(con.execute("SELECT * FROM digest_log").fetchall())
        assert "block digest-flow-mail" in digest_sql.digest_log(con)[0]["transport"]
    # Prefect stores flow parameters: the password must not be among them.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        task_runs = client.read_task_runs()
    assert len(runs) >= 2 and task_runs
    assert PASSWORD not in repr([r.parameters for r in runs])
    assert PASSWORD not in repr(task_runs)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_flow_retries_transient_failures_but_not_refused_logins(prefect_harness, tmp_path):
    db = tmp_path / "events.duckdb"
    seed(db)
    handler = RecordingHandler(data_replies=["421 4.3.2 busy, try later"])
    with smtp_server(handler, user="digest-bot", password=PASSWORD) as (controller, _):
        save_block("digest-retry-mail", controller.port)
        config = write_config(tmp_path, db, "digest-retry-mail")
        summary = digest_flow(week=WEEK, config=str(config), retry_delay_seconds=0)
        assert summary["status"] == "sent" and len(handler.received) == 1
        assert statuses(db) == ["failed", "sent"]  # the 421, then the retry

        from prefect_email import EmailServerCredentials

        EmailServerCredentials(
            username="digest-bot",
            password="not-the-password",
            smtp_server="127.0.0.1",
            smtp_type="INSECURE",
            smtp_port=controller.port,
        ).save("digest-retry-mail", overwrite=True)
        with pytest.raises(dg.SmtpAuthFailed):
            digest_flow(week="2026-W47", config=str(config), retry_delay_seconds=0)
    assert statuses(db) == ["failed", "sent", "failed"]  # one attempt only: not retried


def test_flow_refuses_a_password_parameter(prefect_harness, tmp_path):
    with pytest.raises(dg.DigestConfigError, match="flow parameter"):
        digest_flow(week=WEEK, overrides={"smtp_password": "x"})
