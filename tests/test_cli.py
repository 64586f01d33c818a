"""The real `adoptwatch` command: subprocesses for the ingest path, CliRunner for the rest."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import write_session
from adoptwatch.storage.records import EventRow
from tests.conftest import REPO

SITE = Path(__file__).parent / "fixtures" / "site"
# The console script the package installs, next to this interpreter.
ADOPTWATCH = [str(Path(sys.executable).with_name("adoptwatch"))]


def run_cli(
    *args: str, input: str | None = None, cwd: Path = REPO, api_url: str | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [*ADOPTWATCH, *args], capture_output=True, text=True, input=input, cwd=cwd, env=env,
        timeout=300,
    )  # fmt: skip


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer(SITE) as server:
        yield server


def test_ingest_then_query_through_the_real_command(
    tmp_path: Path, site: SiteServer, prefect_harness: str
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_bytes(site.render("sources.toml") or b"")
    db = tmp_path / "events.duckdb"
    args = ["ingest", "--sources", str(sources), "--db", str(db), "--allow-network", "127.0.0.1/32"]
    done = run_cli(*args, "--json", api_url=prefect_harness)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["articles_new"] == 3 and summary["feeds_failed"] == 0
    assert summary["events_new"] >= 5

    again = run_cli(*args, "--json", api_url=prefect_harness)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["events_new"] == 0

    sql = "SELECT adopter, relation, model_family FROM adoption_events ORDER BY 1, 2, 3"
    as_csv = run_cli("query", sql, "--db", str(db), "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert table[0] == ["adopter", "relation", "model_family"]
    assert ["Airbnb", "adopts", "Qwen"] in table


def test_ingest_without_the_network_allowance_fails_every_feed_but_exits_0(
    tmp_path: Path, site: SiteServer, prefect_harness: str
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_bytes(site.render("sources.toml") or b"")
    done = run_cli(
        "ingest",
        "--sources",
        str(sources),
        "--db",
        str(tmp_path / "x.duckdb"),
        api_url=prefect_harness,
    )
    assert done.returncode == 0, done.stderr
    assert "feed failed" in done.stdout and "blocked" in done.stdout
    assert site.requests == []


def seed(db: Path) -> None:
    from datetime import datetime

    now = datetime(2026, 11, 20)
    event = EventRow(
        event_id="e1", article_id="a1", article_url="https://e.example/1", adopter="Airbnb",
        adopter_named=True, model="Qwen3", model_family="Qwen", vendor="Alibaba",
        origin_country="CN", open_weights=True, relation="adopts", switch_id=None,
        confidence=0.93, evidence='Airbnb said "Qwen, obviously".', published_at=now,
        extracted_at=now, extractor_version="v1",
    )  # fmt: skip
    with write_session(db) as con:
        store.write_batch(con, store.WriteBatch(events=[event]))


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_formats(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "q.duckdb"
    seed(db)
    sql = "SELECT adopter, model, confidence, published_at FROM adoption_events"
    result = CliRunner().invoke(main, ["query", sql, "--db", str(db), "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.output) == [
            {"adopter": "Airbnb", "model": "Qwen3", "confidence": 0.93,
             "published_at": "2026-11-20T00:00:00"}
        ]  # fmt: skip
    elif fmt == "csv":
        assert result.output.splitlines() == [
            "adopter,model,confidence,published_at",
            "Airbnb,Qwen3,0.93,2026-11-20 00:00:00",
        ]
    else:
        assert "Airbnb" in result.output and "Qwen3" in result.output


def test_query_is_read_only(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    seed(db)
    result = CliRunner().invoke(main, ["query", "DELETE FROM adoption_events", "--db", str(db)])
    assert result.exit_code == 1
    assert "read-only" in result.output
    out = CliRunner().invoke(
        main,
        ["query", "SELECT count(*) AS n FROM adoption_events", "--db", str(db), "--format", "csv"],
    )
    assert out.output.splitlines()[1] == "1"


def test_bad_sql_and_missing_db_are_clean_errors(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    seed(db)
    bad = CliRunner().invoke(main, ["query", "SELEC nonsense", "--db", str(db)])
    assert bad.exit_code == 1 and bad.output.startswith("Error: ")
    assert "Traceback" not in bad.output
    missing = CliRunner().invoke(main, ["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 1 and "adoptwatch ingest" in missing.output


def test_extract_jsonl_keeps_order_and_reports_bad_lines() -> None:
    lines = [
        {"id": 1, "text": "Airbnb replaced ChatGPT with Qwen in its support agent."},
        "this line is not json",
        {"id": "b", "text": "Alibaba released Qwen3 on Monday."},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    done = run_cli("extract", "--jsonl", input=stdin)
    assert done.returncode == 1, done.stderr  # one line failed
    assert "1 of 3 line(s) failed" in done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, None, "b"]
    got = {(c["adopter"], c["relation"], c["model_family"]) for c in out[0]["claims"]}
    assert got == {("Airbnb", "adopts", "Qwen"), ("Airbnb", "drops", "GPT")}
    claim = next(c for c in out[0]["claims"] if c["relation"] == "adopts")
    assert set(claim) == {"adopter", "adopter_as_written", "model", "model_family", "vendor",
                          "origin_country", "relation", "confidence", "vendor_level", "switch",
                          "evidence"}  # fmt: skip
    assert claim["origin_country"] == "CN" and claim["vendor"] == "Alibaba"
    assert out[1]["error"].startswith("line 2: not JSON") and "claims" not in out[1]
    assert out[2]["claims"] == []  # a vendor releasing its own model is no adoption


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        names.append(full)
        if isinstance(command, click.Group):
            names.extend(_commands(command, full + " "))
    return names


@pytest.mark.parametrize("command", _commands(main))
def test_every_command_has_help_and_is_documented(command: str) -> None:
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    readme = (REPO / "README.md").read_text()
    assert f"adoptwatch {command}" in readme, f"`adoptwatch {command}` is not in the README"
