"""`adoptwatch digest`: the real CLI, settings from the environment, a real SMTP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage.db import read_session
from tests.digest_seed import WEEK, seed
from tests.smtp_helpers import RecordingHandler, smtp_server


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.duckdb"
    seed(path)
    return path


def env_for(port: int) -> dict[str, str]:
    return {
        "ADOPTWATCH_SMTP_HOST": "127.0.0.1",
        "ADOPTWATCH_SMTP_PORT": str(port),
        "ADOPTWATCH_SMTP_TIMEOUT": "5",
        "ADOPTWATCH_MAIL_FROM": "adoptwatch <digest@adoptwatch.example>",
        "ADOPTWATCH_MAIL_TO": "team@example.com",
    }


def run(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(main, args, env=env or {}, catch_exceptions=False)


def test_help():
    result = run(["digest", "--help"])
    assert result.exit_code == 0
    for option in ("--week", "--db", "--to", "--dry-run", "--force"):
        assert option in result.output


def test_send_once_then_skip_then_force(db):
    with smtp_server() as (controller, handler):
        env = env_for(controller.port)
        first = run(["digest", "--week", WEEK, "--db", str(db)], env)
        assert first.exit_code == 0, first.output
        assert "sent" in first.output and "2026-W48: 4 new adoptions" in first.output
        again = run(["digest", "--week", WEEK, "--db", str(db)], env)
        assert again.exit_code == 0
        assert "already sent" in again.output and "--force" in again.output
        assert len(handler.received) == 1
        forced = run(["digest", "--week", WEEK, "--db", str(db), "--force"], env)
        assert forced.exit_code == 0 and len(handler.received) == 2
    assert handler.received[0].rcpt_tos == ["team@example.com"]


def test_to_replaces_mail_to_and_refuses_injection(db):
    with smtp_server() as (controller, handler):
        env = env_for(controller.port)
        bad = run(
            [
                "digest",
                "--week",
                WEEK,
                "--db",
                str(db),
                "--to",
                "a@example.com\r\nBcc: x@evil.test",
            ],
            env,
        )
        assert bad.exit_code == 1
        assert bad.output.startswith("Error: ") and "Traceback" not in bad.output
        assert handler.received == []
        ok = run(
            [
                "digest",
                "--week",
                WEEK,
                "--db",
                str(db),
                "--to",
                "a@example.com",
                "--to",
                "Bee <b@example.com>",
            ],
            env,
        )
        assert ok.exit_code == 0, ok.output
    assert handler.received[0].rcpt_tos == ["a@example.com", "b@example.com"]


def test_refused_send_is_a_clean_error_and_is_recorded(db):
    handler = RecordingHandler(data_replies=["554 5.7.1 no thanks"])
    with smtp_server(handler) as (controller, _):
        result = run(["digest", "--week", WEEK, "--db", str(db)], env_for(controller.port))
    assert result.exit_code == 1
    assert "digest not sent" in result.output and "554" in result.output
    assert "digest_log" in result.output
    with read_session(db) as con:
        assert [r["status"] for r in digest_sql.digest_log(con)] == ["failed"]


def test_dry_run_and_json(db, tmp_path):
    out = tmp_path / "digest.eml"
    result = run(["digest", "--week", WEEK, "--db", str(db), "--dry-run", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert '"status": "dry-run"' in result.output
    assert out.exists() and out.with_suffix(".html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-W60"], "does not exist"),
        (["--week", "soon"], "not an ISO week"),
        (["--db", "missing.duckdb"], "no database at"),
    ],
)
def test_bad_input_is_a_clean_error(tmp_path, args, message):
    result = run(["digest", *args, "--dry-run", str(tmp_path / "x.eml")])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
