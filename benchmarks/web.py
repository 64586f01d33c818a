"""The explorer's speed: every page and JSON endpoint of ``adoptwatch web``, 50 times each.

    .venv/bin/python -m benchmarks.web                      # 10,000,000 events
    .venv/bin/python -m benchmarks.web --quick              # 200,000 events, 20 requests
    .venv/bin/python -m benchmarks.web --db big.duckdb      # keep the event log, reuse it

``--events`` synthetic events (storage/synthetic.py, with their articles, mentions,
first adoptions and adoption facts) are generated into a DuckDB file unless ``--db``
names one that exists; then a real ``adoptwatch web`` process serves it, each page is
requested once to warm it, then ``--requests`` times in a row over one HTTP connection,
and its p50, p95 and worst times are printed against the target (300 ms p95, issue 15).
Default views: what a visitor sees following the site's own links (the landing week,
the first company of the companies list, the most adopted model family and its vendor,
the events view unfiltered and with an evidence search).

Baselines, in the same run: a static file from the same server (the HTTP floor), and
opening the file read-only plus one GROUP BY over every event's relation (the least a
page over the whole log can cost).

Full-text search over evidence: the events view's search is a scan
(``contains(lower(evidence), ...)``). ``--fts`` also measures DuckDB's FTS index (the
``fts`` extension from its PyPI package, loaded from the installed file) over the same
evidence, copied into memory: the time to build it, and a search through it (BM25, the
top 50 and the count) against the same search as a scan of that copy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adoptwatch.storage import synthetic
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.lake import extension_file

QUICK_ARGS = ["--events", "200000", "--requests", "20"]
TARGET_MS = 300.0  # issue 15: every page under 300 ms (p95, warm server, default views)
SEARCH_WORD = "drops"  # in about 15% of the synthetic evidence sentences


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def timed(call: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def default_views(db: Path) -> list[tuple[str, str]]:
    """(name, path) of every page and endpoint in its default view."""
    with read_session(db) as con:
        from adoptwatch.storage import explorer

        companies, _ = explorer.company_list(con, limit=1)
        first_company = companies[0]["adopter"]
        top = explorer.model_list(con)[0]
        busiest = con.execute(
            "SELECT adopter FROM adoption_facts GROUP BY adopter ORDER BY sum(articles) DESC "
            "LIMIT 1"
        ).fetchall()[0][0]
    family, vendor = top["model_family"], top["vendor"]
    q = httpx.QueryParams
    return [
        ("this week (landing)", "/"),
        ("companies", "/companies"),
        ("companies: search", "/companies?" + str(q(q="company-12"))),
        ("company (first listed)", "/company?" + str(q(name=first_company))),
        ("company (most events)", "/company?" + str(q(name=busiest))),
        ("models and vendors", "/models"),
        ("model family", "/model?" + str(q(name=family))),
        ("vendor", "/vendor?" + str(q(name=vendor))),
        ("events", "/events"),
        ("events: filtered", "/events?" + str(q(family=family, relation="adopts"))),
        ("events: evidence search", "/events?" + str(q(q=SEARCH_WORD))),
        ("sources", "/sources"),
        ("api: origin share", "/api/origin-share"),
        ("api: model adopters", "/api/model/adopters?" + str(q(name=family))),
        ("api: model voice", "/api/model/voice?" + str(q(name=family))),
        ("api: vendor adopters", "/api/vendor/adopters?" + str(q(name=vendor))),
        ("api: vendor voice", "/api/vendor/voice?" + str(q(name=vendor))),
        ("api: events", "/api/events"),
        ("api: company", "/api/company?" + str(q(name=first_company))),
    ]


def bench_pages(db: Path, requests: int) -> list[tuple[str, list[float]]]:
    from tests.webdriver import explorer

    results = []
    with explorer(db, timeout=300) as url, httpx.Client(base_url=url, timeout=120) as client:
        results.append(
            ("baseline: a static file", _measure(client, "/static/explorer.css", requests))
        )
        for name, path in default_views(db):
            results.append((name, _measure(client, path, requests)))
    return results


def _measure(client: httpx.Client, path: str, requests: int) -> list[float]:
    def get() -> None:
        answer = client.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")

    get()  # warm
    return timed(get, requests)


def bench_open_and_scan(db: Path, requests: int) -> list[float]:
    def once() -> None:
        with read_session(db) as con:
            synthetic.scan_baseline(con)

    once()
    return timed(once, requests)


def bench_fts(db: Path, repeat: int) -> list[tuple[str, float]]:
    """Build DuckDB's FTS index over the evidence (copied into memory) and search it,
    against the same search as a scan of the copy."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{extension_file('fts')}'")
    con.execute(f"ATTACH '{db}' AS log (READ_ONLY)")
    start = time.perf_counter()
    con.execute("CREATE TABLE events AS SELECT event_id, evidence FROM log.adoption_events")
    copied = time.perf_counter() - start
    con.execute("DETACH log")
    start = time.perf_counter()
    con.execute("PRAGMA create_fts_index('events', 'event_id', 'evidence', overwrite = 1)")
    built = time.perf_counter() - start
    scan = (
        "SELECT event_id FROM events WHERE contains(lower(evidence), $w) "
        "ORDER BY event_id DESC LIMIT 50",
        "SELECT count(*) FROM events WHERE contains(lower(evidence), $w)",
    )
    fts = (
        "SELECT event_id FROM (SELECT event_id, fts_main_events.match_bm25(event_id, $w) AS s "
        "FROM events) WHERE s IS NOT NULL ORDER BY event_id DESC LIMIT 50",
        "SELECT count(*) FROM (SELECT fts_main_events.match_bm25(event_id, $w) AS s "
        "FROM events) WHERE s IS NOT NULL",
    )

    def run(pair: tuple[str, str]) -> int:
        con.execute(pair[0], {"w": SEARCH_WORD}).fetchall()
        return int(con.execute(pair[1], {"w": SEARCH_WORD}).fetchall()[0][0])

    found_scan, found_fts = run(scan), run(fts)
    scan_ms = min(timed(lambda: run(scan), repeat))
    fts_ms = min(timed(lambda: run(fts), repeat))
    con.close()
    return [
        ("copy the evidence into memory (s)", copied),
        ("build the FTS index (s)", built),
        (f"scan: top 50 + count of {found_scan} matches (ms, best of {repeat})", scan_ms),
        (f"FTS index: top 50 + count of {found_fts} matches (ms, best of {repeat})", fts_ms),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--db", type=Path, help="keep (or reuse) the event log here")
    parser.add_argument("--fts", action="store_true", help="also measure the FTS index")
    parser.add_argument("--fts-repeat", type=int, default=5)
    args = parser.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="adoptwatch-web-bench-")
    db = args.db or Path(tmp.name) / "log.duckdb"
    if not db.exists():
        start = time.perf_counter()
        with write_session(db) as con:
            counts = synthetic.generate_event_log(con, args.events)
            con.execute("CHECKPOINT")
        print(f"generated {counts} in {time.perf_counter() - start:.0f} s", flush=True)
    with read_session(db) as con:
        events = synthetic.event_count(con)
        facts = con.execute("SELECT count(*) FROM adoption_facts").fetchall()[0][0]
    print(f"event log: {db} ({events:,} events, {facts:,} adoption facts); {load()}")

    floor = bench_open_and_scan(db, args.requests)
    pages = bench_pages(db, args.requests)
    print(f"\n{args.requests} requests each, warm server, one connection; {load()}")
    print(f"| page | p50 ms | p95 ms | worst ms | p95 under {TARGET_MS:.0f} ms |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| baseline: open read-only + one GROUP BY over every event | "
        f"{statistics.median(floor):.0f} | {p95(floor):.0f} | {max(floor):.0f} | |"
    )
    missed = []
    for name, times in pages:
        ok = p95(times) < TARGET_MS
        if not ok and not name.startswith("baseline"):
            missed.append(name)
        mark = "" if name.startswith("baseline") else ("yes" if ok else "**no**")
        print(
            f"| {name} | {statistics.median(times):.0f} | {p95(times):.0f} | "
            f"{max(times):.0f} | {mark} |"
        )
    if args.fts:
        print(f"\nfull-text search over evidence for {SEARCH_WORD!r}; {load()}")
        for name, value in bench_fts(db, args.fts_repeat):
            print(f"  {name}: {value:.2f}" if value < 100 else f"  {name}: {value:.0f}")
    print(f"\npages over the target: {', '.join(missed) or 'none'}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
