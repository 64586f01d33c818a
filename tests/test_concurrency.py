"""Readers while writing, and one ingest at a time: real processes on one DuckDB file.

While a real ingest runs, a reader process runs `adoptwatch query` over and over and another
reads with a plain DuckDB client following the README's contract (open read-only, retry
briefly on a lock conflict, close promptly). Neither sees a lock error; a second ingest is
refused with a clear message, and one given --wait queues behind the first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, write_session
from tests import sites

PER_FEED = 16

# The reader contract of the README ("Reading while ingesting"), as a standalone client.
PLAIN_READER = r"""
import json, random, sys, time
from pathlib import Path
import duckdb

def connect_read_only(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.6, 0.5)

db, stop = sys.argv[1], Path(sys.argv[2])
reads = []
while not stop.exists():
    if not Path(db).exists():
        time.sleep(0.05)
        continue
    con = connect_read_only(db)
    try:
        count = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    finally:
        con.close()  # promptly: an open reader keeps the writer out
    reads.append(count)
    time.sleep(0.02)
print(json.dumps(reads))
"""


def query_loop(db: Path, stop: Path, log: Path) -> subprocess.Popen[bytes]:
    """A shell loop running `adoptwatch query` until ``stop`` exists; one line per query."""
    script = (
        f'while [ ! -e "{stop}" ]; do '
        f'if [ -e "{db}" ]; then "{sites.ADOPTWATCH}" query --db "{db}" --format csv '
        '"SELECT count(*) AS n FROM articles" || echo "EXIT $?"; fi; sleep 0.05; done'
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", "-c", script], stdout=out, stderr=subprocess.STDOUT, env=sites.cli_env(None)
        )


def test_readers_never_see_a_lock_error_and_ingests_take_turns(
    tmp_path: Path, prefect_harness: str
) -> None:
    root = sites.build(tmp_path / "site", PER_FEED, feeds=("first", "second"))
    with SiteServer(root, latency=0.4) as site:
        db = tmp_path / "events.duckdb"
        one, both = tmp_path / "one.toml", tmp_path / "both.toml"
        one.write_text(f'[[sources]]\nname = "first"\nurl = "{site.url("feeds/first.xml")}"\n')
        both.write_text(
            one.read_text()
            + f'[[sources]]\nname = "second"\nurl = "{site.url("feeds/second.xml")}"\n'
        )
        # One write transaction per article: as many chances for a reader to collide.
        common = {"write_batch_size": 1, "per_host_concurrency": 1, "max_concurrency": 1}
        first_config = sites.write_config(tmp_path / "first.toml", db, one, **common)
        both_config = sites.write_config(tmp_path / "both.toml.cfg", db, both, **common)

        stop = tmp_path / "stop"
        cli_reader = query_loop(db, stop, tmp_path / "cli-reader.log")
        plain_reader = subprocess.Popen(
            [sys.executable, "-c", PLAIN_READER, str(db), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = sites.start_plain_ingest(first_config, tmp_path / "first.log")
            # Wait until the first ingest holds the lock and is fetching articles.
            deadline = time.monotonic() + 120
            while not any(r.path.startswith("/articles/") for r in site.requests):
                assert first.poll() is None, (tmp_path / "first.err").read_text()[-2000:]
                assert time.monotonic() < deadline
                time.sleep(0.05)

            refused = subprocess.run(
                [sites.ADOPTWATCH, "--config", str(both_config), "ingest"],
                capture_output=True, text=True, env=sites.cli_env(prefect_harness), timeout=120,
            )  # fmt: skip
            assert first.poll() is None, "the first ingest ended before the second was tried"
            assert refused.returncode == 1
            assert "another ingest is already writing to" in refused.stderr
            assert f"(process {first.pid})" in refused.stderr and "--wait" in refused.stderr
            assert "Traceback" not in refused.stderr + refused.stdout

            queued = sites.start_ingest(both_config, prefect_harness, tmp_path / "queued.log",
                                        "--wait", "300")  # fmt: skip
            assert first.wait(timeout=300) == 0, (tmp_path / "first.err").read_text()[-2000:]
            assert queued.wait(timeout=300) == 0, (tmp_path / "queued.err").read_text()[-2000:]
        finally:
            stop.touch()
            cli_reader.wait(timeout=120)
            plain_out, plain_err = plain_reader.communicate(timeout=120)

    queued_summary = json.loads((tmp_path / "queued.log").read_text())
    assert queued_summary["articles_new"] == PER_FEED  # the second feed's; the first was done
    with read_session(db) as con:
        runs = store.run_query(con, "SELECT started_at, finished_at FROM runs ORDER BY 1").rows
        total = store.run_query(con, "SELECT count(*) FROM articles").rows[0][0]
    assert total == 2 * PER_FEED
    assert len(runs) == 2 and runs[1][0] >= runs[0][1], "the two ingests overlapped"

    # The plain DuckDB client: no errors, counts only ever grow, reads during the writes.
    assert plain_reader.returncode == 0, plain_err
    reads = json.loads(plain_out)
    assert reads == sorted(reads)
    assert any(0 < n < total for n in reads), "no read happened while the ingests ran"
    # `adoptwatch query`: every invocation printed a count, none failed.
    output = (tmp_path / "cli-reader.log").read_text()
    assert "lock" not in output.lower() and "EXIT" not in output and "Error" not in output
    counts = [int(line) for line in output.splitlines() if line.strip().isdigit()]
    assert len(counts) >= 3 and counts == sorted(counts)
    assert any(0 < n < total for n in counts), "no query ran while the ingests ran"


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM articles",
        "UPDATE sources SET enabled = false",
        "INSERT INTO runs (run_id, started_at) VALUES ('x', now())",
        "DROP TABLE adoption_events",
        "CREATE TABLE evil (a INT)",
        "SELECT 1; DELETE FROM articles",
        "ATTACH '{tmp}/new.duckdb' AS n",
        "COPY articles TO '{tmp}/dump.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_query_cannot_change_anything(tmp_path: Path, sql: str) -> None:
    db = tmp_path / "x.duckdb"
    with write_session(db) as con:
        con.execute("INSERT INTO runs (run_id, started_at) VALUES ('r1', now())")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, ["query", sql.format(tmp=tmp_path), "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file written
    with read_session(db) as con:
        assert store.run_query(con, "SELECT run_id FROM runs").rows == [("r1",)]
        assert store.counts(con)["articles"] == 0


def test_a_write_waits_for_a_reader_then_succeeds(tmp_path: Path) -> None:
    """The writer side of the contract: a reader holding the file briefly only delays it."""
    db = tmp_path / "x.duckdb"
    with write_session(db):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time\n"
         "con = duckdb.connect(sys.argv[1], read_only=True)\n"
         "print('open', flush=True); time.sleep(1.5); con.close()", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    started = time.monotonic()
    with write_session(db, lock_timeout=20) as con:
        waited = time.monotonic() - started
        con.execute("INSERT INTO runs (run_id, started_at) VALUES ('r1', now())")
    holder.wait(timeout=10)
    assert 0.5 < waited < 10
