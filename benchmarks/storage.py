"""Storage speed: bulk writes against row-by-row inserts, and the digest's weekly rollups.

    .venv/bin/python -m benchmarks.storage                  # 10,000,000 events
    .venv/bin/python -m benchmarks.storage --quick          # 200,000 events, fewer batches
    .venv/bin/python -m benchmarks.storage --db big.duckdb  # keep the event log, reuse it

Writes, on fresh DuckDB files, the same rows each way:

* ``write_batch`` with the batches an ingest writes (50 articles with their text and
  compressed page, their events, model mentions, feed entries and fetches), each batch
  in its own ``write_session`` as the ingest does it, and all in one open connection;
* ``write_batch`` with one large batch of events (a backfill or re-extraction);
* the baseline, in the same run: one ``INSERT`` per row (``executemany``) of the same rows.

Rollups: ``--events`` synthetic events (storage/synthetic.py: SQL over ``range()``,
about three years, three events per article, a long tail of adopters) are generated
into a fresh database; then every rollup of storage/digest.py the weekly digest runs,
for week 2026-W48, best of ``--repeat``, and ``build_digest`` as a whole. The baseline,
in the same run: one GROUP BY over the relation of every event, the least any rollup
of the whole log costs. ``new_adopters`` is checked against an independent spelling
of the same question (a GROUP BY over the whole log).

Each figure is printed with the load average of the machine when it was taken.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adoptwatch import digest as dg
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage import synthetic
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.records import ArticleRow, EntryRow, EventRow, FetchRow, MentionRow
from adoptwatch.storage.store import WriteBatch, write_batch

WEEK = dg.IsoWeek(2026, 48)  # inside the generated span, near its end
TARGET_SECONDS = 1.0  # issue 7: each rollup under a second at 10 million events


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# --- writes --------------------------------------------------------------------------

# Words for filler text; a story's text is a random walk over them.
WORD_LIST = (
    "the company said its engineers moved the support assistant to a new model after a "
    "long trial and customers noticed faster answers while costs fell by a third"
)
WORDS = WORD_LIST.split(" ")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def ingest_batches(count: int, articles_per_batch: int = 50, seed: int = 11) -> list[WriteBatch]:
    """What an ingest writes per batch: articles with text and page, 2 events and 2
    mentions each, a feed entry and a fetch per article."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 30, 12, 0)
    batches = []
    for b in range(count):
        batch = WriteBatch()
        for a in range(articles_per_batch):
            n = b * articles_per_batch + a
            aid = f"{n:024x}"
            url = f"https://news{n % 20}.example.com/2026/11/story-{n}"
            published = now - timedelta(minutes=17 * n)
            text = _text(rng, 350)
            batch.articles.append(
                ArticleRow(
                    article_id=aid,
                    canonical_url=url,
                    url=url + "?utm_source=feed",
                    source=f"source-{n % 20}",
                    title=_text(rng, 9),
                    published_at=published,
                    fetched_at=now,
                    content_hash=f"{rng.getrandbits(256):064x}",
                    text=text,
                    extraction_method="trafilatura",
                    extractor_version="bench",
                    raw_html=zlib.compress(
                        f"<html><body><article>{text}</article></body></html>".encode() * 3, 6
                    ),
                )
            )
            for k, relation in enumerate(("adopts", "drops")):
                family = rng.choice(("Qwen", "DeepSeek", "GPT", "Claude", "Llama", "GLM"))
                batch.events.append(
                    EventRow(
                        event_id=f"{n:020x}{k:04x}",
                        article_id=aid,
                        article_url=url,
                        adopter=f"Company {rng.randrange(5000)}",
                        adopter_named=True,
                        model=family + "-2",
                        model_family=family,
                        vendor="Vendor",
                        origin_country=rng.choice(("CN", "US")),
                        open_weights=True,
                        relation=relation,
                        switch_id=f"{n:024x}",
                        confidence=0.9,
                        evidence=_text(rng, 25),
                        published_at=published,
                        extracted_at=now,
                        extractor_version="bench",
                    )
                )
                batch.mentions.append(
                    MentionRow(
                        article_id=aid,
                        model_family=family + str(k),
                        model=family,
                        vendor="Vendor",
                        origin_country="CN",
                        open_weights=True,
                        sentences=2,
                        published_at=published,
                        extractor_version="bench",
                    )
                )
            batch.entries.append(
                EntryRow(
                    source=f"source-{n % 20}",
                    entry_key=url,
                    url=url,
                    title=None,
                    published_at=published,
                    first_seen_at=now,
                    status="stored",
                    attempts=1,
                    last_error=None,
                    article_id=aid,
                )
            )
            batch.fetches.append(
                FetchRow(
                    fetch_id=f"f{n:023x}",
                    run_id="bench",
                    fetched_at=now,
                    source=f"source-{n % 20}",
                    kind="article",
                    url=url,
                    final_url=url,
                    status=200,
                    bytes=40_000,
                    duration_ms=51.0,
                    error_class=None,
                    error=None,
                )
            )
        batches.append(batch)
    return batches


TABLES = [
    ("articles", ArticleRow),
    ("adoption_events", EventRow),
    ("model_mentions", MentionRow),
    ("feed_entries", EntryRow),
    ("fetch_log", FetchRow),
]


def rows_of(batch: WriteBatch) -> int:
    return sum(
        len(x) for x in (batch.articles, batch.events, batch.mentions, batch.entries, batch.fetches)
    )


def _row_lists(batch: WriteBatch) -> list[list[Any]]:
    return [batch.articles, batch.events, batch.mentions, batch.entries, batch.fetches]


def bench_writes(
    tmp: Path, batches_count: int, bulk_events: int, baseline_batches: int = 10
) -> dict[str, Any]:
    batches = ingest_batches(batches_count)
    rows = sum(rows_of(b) for b in batches)
    out: dict[str, Any] = {"batches": batches_count, "rows": rows}
    print(
        f"\nwrites: {batches_count} ingest batches of 50 articles = {rows:,} rows "
        f"({rows // batches_count} per batch)"
    )

    # As the ingest writes: one write session (open, migrate check, write, close) per batch.
    db = tmp / "writes-sessions.duckdb"
    with write_session(db):
        pass
    before = load()
    began = time.perf_counter()
    for batch in batches:
        with write_session(db) as con:
            write_batch(con, batch)
    took = time.perf_counter() - began
    out["sessions_rows_per_second"] = rows / took
    out["sessions_ms_per_batch"] = took / batches_count * 1000
    print(
        f"  write_batch, a write session per batch: {rows / took:>10,.0f} rows/s "
        f"({took / batches_count * 1000:.0f} ms per batch)  [{before}]"
    )

    # Storage alone: every batch through write_batch on one open connection.
    db = tmp / "writes-open.duckdb"
    with write_session(db) as con:
        before = load()
        began = time.perf_counter()
        for batch in batches:
            write_batch(con, batch)
        took = time.perf_counter() - began
    out["open_rows_per_second"] = rows / took
    print(
        f"  write_batch, one open connection:       {rows / took:>10,.0f} rows/s "
        f"({took / batches_count * 1000:.0f} ms per batch)  [{before}]"
    )

    # Baseline: the same rows (of the first few batches: it is slow), one INSERT each.
    db = tmp / "writes-rowwise.duckdb"
    sample = batches[:baseline_batches]
    sample_rows = sum(rows_of(b) for b in sample)
    with write_session(db) as con:
        before = load()
        began = time.perf_counter()
        for batch in sample:
            for (table, row_type), items in zip(TABLES, _row_lists(batch), strict=True):
                synthetic.insert_row_by_row(con, table, row_type, items)
        took = time.perf_counter() - began
    out["rowwise_rows_per_second"] = sample_rows / took
    print(
        f"  baseline, one INSERT per row:           {sample_rows / took:>10,.0f} rows/s "
        f"({out['open_rows_per_second'] / (sample_rows / took):.0f}x slower than "
        f"write_batch; {len(sample)} of the batches)  [{before}]"
    )

    # One large batch of events, and its row-by-row baseline on a sample of it.
    events = [
        EventRow(
            **{
                **{f.name: getattr(e, f.name) for f in fields(EventRow)},
                "event_id": f"{i:024x}",
            }
        )
        for i, e in enumerate(
            ev for b in ingest_batches(max(1, bulk_events // 100), seed=5) for ev in b.events
        )
    ][:bulk_events]
    db = tmp / "writes-bulk.duckdb"
    with write_session(db) as con:
        before = load()
        began = time.perf_counter()
        write_batch(con, WriteBatch(events=events))
        took = time.perf_counter() - began
    out["bulk_events"] = len(events)
    out["bulk_rows_per_second"] = len(events) / took
    sample = events[: max(1, min(len(events) // 50, 400 * baseline_batches))]
    with write_session(tmp / "writes-bulk-rowwise.duckdb") as con:
        began = time.perf_counter()
        synthetic.insert_row_by_row(con, "adoption_events", EventRow, sample)
        base = time.perf_counter() - began
    out["bulk_rowwise_rows_per_second"] = len(sample) / base
    print(
        f"  write_batch, one batch of {len(events):,} events: {len(events) / took:>10,.0f} "
        f"rows/s; baseline (one INSERT per row, {len(sample):,} of them): "
        f"{len(sample) / base:,.0f} rows/s  [{before}]"
    )
    return out


# --- crawl state ---------------------------------------------------------------------

# VmHWM, not getrusage: ru_maxrss survives exec, so a child would report at least the
# parent's size at fork time.
_LOAD_STATE = """
import json, re, sys, time
from pathlib import Path
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
with read_session(sys.argv[1]) as con:
    con.execute("SET enable_progress_bar = false")
    # A feed of 100 entries, half of them stored before, and their 100 article links.
    stored = [r[0] for r in con.execute(
        "SELECT entry_key FROM feed_entries WHERE source = 'source-1' LIMIT 50").fetchall()]
    keys = stored + [f"new-{i}" for i in range(100 - len(stored))]
    urls = [k.removesuffix("#entry") for k in keys]
    began = time.perf_counter()
    state = store.load_crawl_state(con, 3)
    known = store.stored_entry_keys(con, "source-1", keys)
    ids = store.article_ids_for_urls(con, urls)
    took = time.perf_counter() - began
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])
held = len(state.retry_entries) + len(known) + len(ids)
print(json.dumps({"seconds": took, "entries": held, "maxrss_bytes": peak * 1024}))
"""


def bench_crawl_state(tmp: Path, articles: int) -> dict[str, Any]:
    """What an ingest reads of earlier runs for one feed of 100 entries (the sources and
    retries, which of its keys are stored, which of its links are stored articles), on a
    database holding ``articles`` articles and their feed entries; time and peak memory
    of a process doing only that."""
    db = tmp / "history.duckdb"
    with write_session(db) as con:
        synthetic.generate_crawl_history(con, articles)
    before = load()
    empty = tmp / "empty.duckdb"
    with write_session(empty):
        pass
    runs = {}
    for name, path in (("empty", empty), ("history", db)):
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_STATE, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        runs[name] = json.loads(done.stdout)
    grown = runs["history"]["maxrss_bytes"] - runs["empty"]["maxrss_bytes"]
    print(
        f"\ncrawl state for one feed of 100: {runs['history']['entries']:,} stored entries and "
        "articles found in "
        f"{runs['history']['seconds']:.2f}s, {grown / 2**20:.0f} MiB more peak memory "
        f"than on an empty database  [{before}]"
    )
    return {"articles": articles, "seconds": runs["history"]["seconds"], "extra_rss": grown}


# --- rollups ---------------------------------------------------------------------------


def timed(repeat: int, fn: Callable[[], object]) -> tuple[float, float, object]:
    """(best, median, last result) of ``repeat`` runs."""
    times = []
    result: object = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times), result


def bench_rollups(db: Path, events: int, repeat: int) -> dict[str, Any]:
    if db.exists():
        print(f"\nrollups: reusing {db}")
    else:
        before = load()
        began = time.perf_counter()
        with write_session(db) as con:
            counts = synthetic.generate_event_log(con, events)
        print(
            f"\nrollups: generated {counts['adoption_events']:,} events, "
            f"{counts['articles']:,} articles, {counts['model_mentions']:,} mentions in "
            f"{time.perf_counter() - began:.0f}s (SQL over range())  [{before}]"
        )
    tz = ZoneInfo("UTC")
    start, stop = WEEK.bounds_utc(tz)
    prev_start, _ = WEEK.previous().bounds_utc(tz)
    spans = [(w.label, *w.bounds_utc(tz)) for w in (WEEK.shift(-i) for i in range(11, -1, -1))]
    out: dict[str, Any] = {"events": events, "week": WEEK.label, "rollups": {}}
    with read_session(db) as con:
        total = synthetic.event_count(con)
        new = digest_sql.new_adopters(con, start, stop)
        check = synthetic.new_adopter_pairs_naive(con, start, stop)
        got = {(r["adopter"], r["model_family"]) for r in new}
        if got != set(check):
            raise SystemExit(
                f"new_adopters disagrees with the independent query: {len(got)} pairs "
                f"against {len(check)}"
            )
        print(
            f"{total:,} events; {WEEK.label}: {len(new):,} new adopters (the independent "
            "query agrees)"
        )
        cases: list[tuple[str, Callable[[], object]]] = [
            ("week_totals", lambda: digest_sql.week_totals(con, start, stop)),
            ("new_adopters", lambda: digest_sql.new_adopters(con, start, stop)),
            ("switches", lambda: digest_sql.switches(con, start, stop)),
            ("model_ranking", lambda: digest_sql.model_ranking(con, start, stop, prev_start)),
            ("most_discussed", lambda: digest_sql.most_discussed(con, start, stop)),
            ("origin_share (12 weeks)", lambda: digest_sql.origin_share(con, spans)),
            ("build_digest (all of it)", lambda: dg.build_digest(con, WEEK, tz)),
            ("baseline: count by relation", lambda: synthetic.scan_baseline(con)),
            (
                "baseline: new adopters, naive",
                lambda: synthetic.new_adopter_pairs_naive(con, start, stop),
            ),
        ]
        print(f"{'rollup':<32}{'best':>10}{'median':>10}{'vs scan':>9}  load")
        rows = []
        for name, fn in cases:
            best, median, _ = timed(repeat, fn)
            rows.append((name, best, median, load()))
        scan = next(r[1] for r in rows if r[0].startswith("baseline: count"))
        for name, best, median, when in rows:
            mark = ""
            if not name.startswith(("baseline", "build_digest")):
                mark = "  ok" if best < TARGET_SECONDS else "  OVER 1s"
            print(
                f"{name:<32}{best * 1000:>8.0f}ms{median * 1000:>8.0f}ms"
                f"{best / scan:>8.1f}x  {when}{mark}"
            )
            out["rollups"][name] = {"best": best, "median": median, "load": when}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.storage", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events (10,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per rollup (best is kept)")
    parser.add_argument("--batches", type=int, default=40, help="ingest batches to write (40)")
    parser.add_argument(
        "--bulk-events", type=int, default=200_000, help="events in the large batch (200,000)"
    )
    parser.add_argument(
        "--db", type=Path, help="keep the generated event log here and reuse it next time"
    )
    parser.add_argument(
        "--baseline-batches", type=int, default=10, help="batches written row by row (10)"
    )
    parser.add_argument(
        "--state-articles",
        type=int,
        default=1_000_000,
        help="stored articles for the crawl-state load (1,000,000)",
    )
    parser.add_argument(
        "--only",
        choices=["writes", "crawl_state", "rollups"],
        action="append",
        help="run only this part (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="200,000 events, 3 batches")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.batches, args.bulk_events = 200_000, 3, 20_000
        args.baseline_batches = 1
        args.state_articles = 20_000
        args.repeat = min(args.repeat, 3)

    with tempfile.TemporaryDirectory(prefix="adoptwatch-storage-") as tmp_name:
        tmp = Path(tmp_name)
        parts = {
            "writes": lambda: bench_writes(
                tmp, args.batches, args.bulk_events, args.baseline_batches
            ),
            "crawl_state": lambda: bench_crawl_state(tmp, args.state_articles),
            "rollups": lambda: bench_rollups(
                args.db or tmp / "events.duckdb", args.events, args.repeat
            ),
        }
        figures = {name: run() for name, run in parts.items() if name in (args.only or parts)}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
