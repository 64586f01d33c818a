"""A real `adoptwatch ingest` (the CLI, with its own temporary Prefect server) stopped by real
signals (issue 17, case 5).

SIGTERM and Ctrl-C: the batch being written commits, the run row is closed as
interrupted, the temporary Prefect server stops, one line says so. SIGKILL: nothing can
run, so the next ingest of the database stops the server the dead one left behind, closes
its run row, and says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from adoptwatch.ingest_run import reap_leftovers, server_record_path
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.settings import load_settings
from adoptwatch.site_server import SiteServer
from tests import sites
from tests.test_crash import (
    ARTICLES,
    LATENCY,
    article_requests,
    check_consistent,
    configure,
    events,
    query,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    root = sites.build(tmp_path_factory.mktemp("signal-site"), ARTICLES)
    with SiteServer(root, latency=LATENCY) as server:
        yield server


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, site: SiteServer) -> set[tuple]:
    """The events of one uninterrupted run (in-process, without Prefect)."""
    config, db = configure(tmp_path_factory.mktemp("reference"), site, "reference")
    summary = asyncio.run(run_ingest(load_settings(config)))
    assert summary.articles_new == ARTICLES
    return events(db)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_and_wait_for_pages(
    config: Path, db: Path, site: SiteServer, log: Path, pages: int
) -> tuple[subprocess.Popen[bytes], int]:
    """The real CLI, with its own temporary server (no PREFECT_API_URL), once it has fetched
    ``pages`` article pages; returns the process and its server's pid."""
    before = len(article_requests(site))
    proc = sites.start_ingest(config, None, log)
    deadline = time.monotonic() + 240
    while len(article_requests(site)) - before < pages:
        assert proc.poll() is None, log.with_suffix(".err").read_text()[-3000:]
        assert time.monotonic() < deadline, "the ingest never reached its article pages"
        time.sleep(0.02)
    [server] = [
        child
        for child in psutil.Process(proc.pid).children()
        if "prefect.server.api.server:create_app" in " ".join(child.cmdline())
    ]
    assert json.loads(server_record_path(db).read_text())["pid"] == server.pid
    return proc, server.pid


def runs(db: Path) -> list[tuple]:
    return query(db, "SELECT run_id, status, finished_at IS NOT NULL, summary->>'interrupted' "
                     "FROM runs ORDER BY started_at")  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stop_an_ingest_cleanly(
    tmp_path: Path, site: SiteServer, reference: set[tuple], prefect_harness: str, signum: int
) -> None:
    config, db = configure(tmp_path, site, "stopped")
    log = tmp_path / "stopped.log"
    proc, server_pid = start_and_wait_for_pages(config, db, site, log, pages=3)
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum

    err = log.with_suffix(".err").read_text()
    assert "Traceback" not in err and "Crash detected" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    name = signal.Signals(signum).name
    assert lines[-1].startswith(f"Error: ingest stopped by {name}"), err
    assert "Error logging to API" not in err
    assert not alive(server_pid), "the temporary Prefect server outlived the ingest"
    assert not server_record_path(db).exists()
    [(_run, status, finished, why)] = runs(db)
    assert (status, finished) == ("interrupted", True) and "signal" in why
    stored = check_consistent(db, reference)
    assert len(stored) < ARTICLES

    # The next run goes on from there and ends where one uninterrupted run would.
    final = sites.start_ingest(config, prefect_harness, tmp_path / "final.log")
    assert final.wait(timeout=300) == 0
    summary = json.loads((tmp_path / "final.log").read_text())
    assert summary["articles_new"] == ARTICLES - len(stored) and summary["runs_closed"] == []
    assert events(db) == reference
    assert [r[1] for r in runs(db)] == ["interrupted", "completed"]


def test_after_sigkill_the_next_run_reaps_the_server_and_the_run_row(
    tmp_path: Path, site: SiteServer, reference: set[tuple], prefect_harness: str
) -> None:
    config, db = configure(tmp_path, site, "killed")
    proc, server_pid = start_and_wait_for_pages(config, db, site, tmp_path / "k.log", pages=1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1)
    assert alive(server_pid), "nothing runs on SIGKILL: the server is left behind"
    [(killed_run,)] = query(db, "SELECT run_id FROM runs WHERE finished_at IS NULL")

    final = sites.start_ingest(config, prefect_harness, tmp_path / "final.log")
    assert final.wait(timeout=300) == 0
    err = (tmp_path / "final.err").read_text()
    assert f"stopped the temporary Prefect server (process {server_pid})" in " ".join(err.split())
    assert not alive(server_pid)
    summary = json.loads((tmp_path / "final.log").read_text())
    assert summary["runs_closed"] == [killed_run]
    assert [r[:3] for r in runs(db)] == [
        (killed_run, "interrupted", True),
        (summary["run_id"], "completed", True),
    ]
    assert events(db) == reference


def test_ingests_of_a_postgres_lake_note_their_servers_apart(tmp_path: Path) -> None:
    """Several ingests write one PostgreSQL-catalog lake at once and there is no file to
    note a server beside: each notes its own in the temporary folder, and the next ingest
    stops only the servers of ingests that are gone."""
    url = f"ducklake:postgres:dbname=x{tmp_path.name} host=127.0.0.1 user=u password=secret"
    assert server_record_path(url).parent == Path(tempfile.gettempdir())
    assert server_record_path(url) != server_record_path(url, pid=1)
    assert "secret" not in str(server_record_path(url))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    servers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
               for _ in range(2)]  # fmt: skip
    running_ingest = os.getppid()  # alive: pytest's parent
    records = {}
    for server, ingest_pid in zip(servers, [running_ingest, int(gone.stdout)], strict=True):
        records[ingest_pid] = server_record_path(url, pid=ingest_pid)
        created = psutil.Process(server.pid).create_time()
        records[ingest_pid].write_text(
            json.dumps({"pid": server.pid, "create_time": created, "ingest_pid": ingest_pid})
        )
    try:
        note = reap_leftovers(url)
        assert note and f"(process {servers[1].pid})" in note
        assert servers[1].wait(timeout=30) is not None
        assert servers[0].poll() is None, "the server of a running ingest was stopped"
        assert records[running_ingest].exists() and not records[int(gone.stdout)].exists()
    finally:
        for server in servers:
            server.kill()
            server.wait()
        for record in records.values():
            record.unlink(missing_ok=True)
