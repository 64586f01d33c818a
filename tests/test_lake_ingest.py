"""Many writers, readers that never wait: real `adoptwatch ingest` processes on a DuckLake.

A PostgreSQL-catalog lake (the session's own server) takes four ingests started together
over overlapping feeds, and ends with exactly what one sequential run writes into a DuckDB
file, while a reader process queries every 100 ms without an error. A writer killed with
SIGKILL mid-run loses nothing it committed, and the next run completes the set. On a
SQLite catalog a second writer is refused (or waits), and readers never wait.
`adoptwatch migrate` copies a whole log from a file to a lake and back.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.site_server import SiteServer
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.maintenance import log_tables
from tests import sites

pytestmark = pytest.mark.slow

FEEDS = ("alpha", "beta", "gamma", "delta")
PER_FEED = 12

# A reader as any Python client would write one: the library's read session, every 100
# ms, recording each query's time and any error, until told to stop.
READER = r"""
import json, sys, time
from pathlib import Path
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.maintenance import log_tables

db, stop = sys.argv[1], Path(sys.argv[2])
reads, errors = [], []
while not stop.exists():
    started = time.perf_counter()
    try:
        with read_session(db) as con:
            n = con.execute("SELECT count(*) FROM adoption_events").fetchall()[0][0]
        reads.append([n, time.perf_counter() - started])
    except Exception as exc:  # any error at all is what the test looks for
        errors.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.1)
print(json.dumps({"reads": reads, "errors": errors}))
"""


def build_overlapping_site(root: Path) -> Path:
    """Four feeds of their own articles, and four more that each link half of one feed's
    articles and half of the next one's: every article is in two feeds."""
    sites.build(root, PER_FEED, feeds=FEEDS)
    feeds = root / "feeds"
    for k, name in enumerate(FEEDS):
        mine = feeds.joinpath(f"{name}.xml").read_text()
        nxt = feeds.joinpath(f"{FEEDS[(k + 1) % len(FEEDS)]}.xml").read_text()
        items = mine.split("<item>")[1 : 1 + PER_FEED // 2] + nxt.split("<item>")[-PER_FEED // 2 :]
        body = "".join("<item>" + i.split("</channel>")[0] for i in items)
        feeds.joinpath(f"mix-{name}.xml").write_text(
            mine.split("<item>")[0] + body + "</channel></rss>"
        )
    return root


def sources_file(path: Path, site: SiteServer) -> Path:
    names = [*FEEDS, *(f"mix-{n}" for n in FEEDS)]
    path.write_text(
        "".join(f'[[sources]]\nname = "{n}"\nurl = "{site.url(f"feeds/{n}.xml")}"\n' for n in names)
    )
    return path


def log_content(db: str) -> dict[str, Any]:
    """What a query sees: every article and event, with their identifying columns."""
    with read_session(db) as con:
        articles = con.execute(
            "SELECT article_id, canonical_url, content_hash FROM articles ORDER BY ALL"
        ).fetchall()
        events = con.execute(
            "SELECT event_id, article_id, adopter, model_family, relation FROM adoption_events "
            "ORDER BY ALL"
        ).fetchall()
        mentions = con.execute(
            "SELECT article_id, model_family FROM model_mentions ORDER BY ALL"
        ).fetchall()
        first = con.execute(
            "SELECT adopter, model_family, first_at FROM first_adoptions ORDER BY ALL"
        ).fetchall()
        entries = con.execute(
            "SELECT source, entry_key, article_id FROM feed_entries ORDER BY ALL"
        ).fetchall()
    return {
        "articles": articles,
        "events": events,
        "mentions": mentions,
        "first_adoptions": first,
        "entries": entries,
    }


def sequential_baseline(tmp_path: Path, sources: Path) -> dict[str, Any]:
    db = tmp_path / "sequential.duckdb"
    config = sites.write_config(tmp_path / "sequential.toml", db, sources)
    run = sites.start_plain_ingest(config, tmp_path / "sequential.log")
    assert run.wait(timeout=600) == 0, (tmp_path / "sequential.err").read_text()[-3000:]
    return log_content(str(db))


def start_reader(db: str, stop: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", READER, db, str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sites.cli_env(None),
        cwd=Path(__file__).resolve().parent.parent,
    )


def lake_config(
    tmp_path: Path, name: str, db: str, data: Path, sources: Path, writers: int = 1
) -> Path:
    return sites.write_config(
        tmp_path / f"{name}.toml",
        db,  # type: ignore[arg-type]
        sources,
        lake_data_path=str(data),
        write_batch_size=4,
        ingest_concurrency=writers,
    )


def test_four_writers_on_postgres_store_what_one_sequential_run_does(
    tmp_path: Path, postgres_lake: tuple[str, Path], prefect_harness: str
) -> None:
    db, data = postgres_lake
    root = build_overlapping_site(tmp_path / "site")
    with SiteServer(root, latency=0.05) as site:
        sources = sources_file(tmp_path / "sources.toml", site)
        expected = sequential_baseline(tmp_path, sources)
        assert len(expected["articles"]) == len(FEEDS) * PER_FEED
        config = lake_config(tmp_path, "lake", db, data, sources, writers=4)
        # The lake's schema, so that the reader has tables to read from its first query.
        with write_session(db, data_path=str(data)):
            pass
        stop = tmp_path / "stop"
        reader = start_reader(db, stop)
        try:
            writers = [
                sites.start_ingest(config, prefect_harness, tmp_path / f"writer{i}.log")
                for i in range(4)
            ]
            for i, w in enumerate(writers):
                assert w.wait(timeout=600) == 0, (tmp_path / f"writer{i}.err").read_text()[-3000:]
        finally:
            stop.touch()
            out, err = reader.communicate(timeout=120)

    assert log_content(db) == expected
    summaries = [json.loads((tmp_path / f"writer{i}.log").read_text()) for i in range(4)]
    assert sum(s["articles_new"] for s in summaries) == len(expected["articles"])
    assert sum(s["events_new"] for s in summaries) == len(expected["events"])
    # The leases: no two runs that overlapped in time fetched the same feed (a run that
    # starts after another ended is a new round of crawling and may fetch it again).
    with read_session(db) as con:
        fetches = con.execute(
            "SELECT f.source, r.started_at, r.finished_at FROM fetch_log f "
            "JOIN runs r USING (run_id) WHERE f.kind = 'feed' ORDER BY 1, 2"
        ).fetchall()

    by_source: dict[str, list[tuple[Any, Any]]] = {}
    for source, started, finished in fetches:
        by_source.setdefault(source, []).append((started, finished))
    assert len(by_source) == 2 * len(FEEDS)
    for source, spans in by_source.items():
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            assert first_end <= second_start, f"{source} fetched by two runs at once"

    assert reader.returncode == 0, err
    reads = json.loads(out)
    assert reads["errors"] == []
    counts = [n for n, _seconds in reads["reads"]]
    assert len(counts) >= 10 and counts == sorted(counts)
    assert any(0 < n < len(expected["events"]) for n in counts), "no read during the writes"


def test_a_killed_writer_loses_nothing_it_committed(
    tmp_path: Path, postgres_lake: tuple[str, Path]
) -> None:
    db, data = postgres_lake
    root = build_overlapping_site(tmp_path / "site")
    with SiteServer(root, latency=0.05) as site:
        sources = sources_file(tmp_path / "sources.toml", site)
        expected = sequential_baseline(tmp_path, sources)
        config = lake_config(tmp_path, "lake", db, data, sources)
        victim = sites.start_plain_ingest(config, tmp_path / "victim.log")
        err = tmp_path / "victim.err"
        deadline = time.monotonic() + 300
        while err.read_text().count(sites.BATCH_WRITTEN) < 2:
            assert victim.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        committed = log_content(db)
        assert 0 < len(committed["articles"]) < len(expected["articles"])
        # Nothing half-written: every stored article has its events, and only those.
        stored_ids = {a[0] for a in committed["articles"]}
        assert {e[1] for e in committed["events"]} <= stored_ids
        assert set(committed["events"]) <= set(expected["events"])

        # The next run (on this host: the dead writer's leases are free at once).
        again = sites.start_plain_ingest(config, tmp_path / "again.log")
        assert again.wait(timeout=600) == 0, (tmp_path / "again.err").read_text()[-3000:]
    final = log_content(db)
    assert final["articles"] == expected["articles"]
    assert final["events"] == expected["events"]
    assert final["first_adoptions"] == expected["first_adoptions"]


def test_a_sqlite_lake_takes_one_writer_and_readers_never_wait(
    tmp_path: Path, sqlite_lake: tuple[str, Path], prefect_harness: str
) -> None:
    db, data = sqlite_lake
    root = build_overlapping_site(tmp_path / "site")
    with SiteServer(root, latency=0.1) as site:
        sources = sources_file(tmp_path / "sources.toml", site)
        config = lake_config(tmp_path, "lake", db, data, sources)
        with write_session(db, data_path=str(data)):
            pass
        stop = tmp_path / "stop"
        reader = start_reader(db, stop)
        try:
            first = sites.start_plain_ingest(config, tmp_path / "first.log")
            deadline = time.monotonic() + 300
            while sites.BATCH_WRITTEN not in (tmp_path / "first.err").read_text():
                assert first.poll() is None, (tmp_path / "first.err").read_text()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.05)
            refused = subprocess.run(
                [sites.ADOPTWATCH, "--config", str(config), "ingest"],
                capture_output=True, text=True, env=sites.cli_env(prefect_harness), timeout=300,
            )  # fmt: skip
            assert first.poll() is None, "the first ingest ended before the second was tried"
            assert refused.returncode == 1
            assert "another ingest is already writing to" in refused.stderr
            assert "--wait" in refused.stderr and "Traceback" not in refused.stderr
            assert first.wait(timeout=600) == 0, (tmp_path / "first.err").read_text()[-3000:]
        finally:
            stop.touch()
            out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    reads = json.loads(out)
    assert reads["errors"] == []
    total = len(log_content(db)["events"])
    assert any(0 < n < total for n, _s in reads["reads"]), "no read during the write"


def test_migrate_round_trips_every_table(tmp_path: Path, postgres_lake: tuple[str, Path]) -> None:
    db, data = postgres_lake
    root = build_overlapping_site(tmp_path / "site")
    with SiteServer(root) as site:
        sources = sources_file(tmp_path / "sources.toml", site)
        sequential_baseline(tmp_path, sources)
    source = tmp_path / "sequential.duckdb"
    back = tmp_path / "back.duckdb"
    runner = CliRunner()
    there = runner.invoke(
        main, ["migrate", "--from", str(source), "--to", db, "--lake-data-path", str(data)]
    )
    assert there.exit_code == 0, there.output
    again = runner.invoke(main, ["migrate", "--from", str(source), "--to", db])
    assert again.exit_code == 1 and "not empty" in again.output
    home = runner.invoke(main, ["migrate", "--from", db, "--to", str(back)])
    assert home.exit_code == 0, home.output
    import duckdb

    with (
        duckdb.connect(str(source), read_only=True) as a,
        duckdb.connect(str(back), read_only=True) as b,
    ):
        tables = log_tables(a)  # all but each database's own (schema versions, ...)
        assert {"adoption_events", "articles", "feed_entries", "digest_log"} <= set(tables)
        for table in tables:
            left = a.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            right = b.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            assert left == right, table
