"""adoption_facts: refreshing after an ingest against rebuilding from the whole log.

    .venv/bin/python -m benchmarks.facts                  # 10,000,000 events
    .venv/bin/python -m benchmarks.facts --quick          # 200,000 events
    .venv/bin/python -m benchmarks.facts --db big.duckdb  # keep the event log, reuse it

A synthetic event log (storage/synthetic.py: about three years, three events per
article, a long tail of adopters and families, 400 outlets) is generated into a fresh
DuckDB file, with its facts. Then ``--articles`` new articles (three events each, drawn
like the log's, so most touch facts that exist; dated after the log, and a tenth of
them back in its last month) are stored without their facts, in a transaction rolled
back after each figure, and:

* the refresh the issue asks for: folding the new articles' events into the facts
  (``fold_new_events``, what ``write_batch`` runs in its transaction), in one
  transaction that is rolled back, best of ``--repeat``; target under 2 s at 10
  million events;
* the baseline, in the same run: recomputing the facts those events touch from all
  their events (``recompute_facts``), and rebuilding every fact from the whole log
  (``rebuild_facts``), each rolled back, best of ``--repeat``;
* a check that the folded facts equal a rebuild (``facts_drift``; skipped above
  1 million events unless ``--check``: it computes the whole log twice).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb

from adoptwatch.storage import synthetic
from adoptwatch.storage.db import transaction, write_session
from adoptwatch.storage.facts import (
    facts_drift,
    fold_new_events,
    keys_of_events,
    rebuild_facts,
    recompute_facts,
)
from adoptwatch.storage.records import ArticleRow, EventRow, to_arrow

TARGET_SECONDS = 2.0  # issue 14: refresh after 1,000 new articles at 10 million events
QUICK_ARGS = ["--events", "200000", "--repeat", "2"]


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def new_articles(count: int, seed: int = 5) -> tuple[list[ArticleRow], list[EventRow]]:
    """Articles with three events each, shaped like the synthetic log's (same adopter
    and family names, Pareto-distributed); a tenth dated in the log's last month."""
    rng = random.Random(seed)
    end = synthetic.START + timedelta(seconds=synthetic.SPAN_SECONDS)
    articles, events = [], []
    for n in range(count):
        aid = f"new-{n:020d}"
        outlet = f"outlet-{rng.randrange(400)}.example.com"
        url = f"https://{outlet}/story-{n}"
        late = rng.random() < 0.1
        when = end - timedelta(days=rng.uniform(0, 30)) if late else end + timedelta(minutes=n)
        articles.append(
            ArticleRow(
                article_id=aid, canonical_url=url, url=url, source="bench",
                title=f"Story {n}", published_at=when, fetched_at=when,
                content_hash=f"new-hash-{n}", text=f"Text of new story {n}.",
                extraction_method="bench", extractor_version="bench",
                outlet=outlet, story_cluster=aid,
            )
        )  # fmt: skip
        for k in range(3):
            family = min(int(rng.paretovariate(1.2)) - 1, synthetic.FAMILIES - 1)
            adopter = int(rng.paretovariate(0.6)) % synthetic.ADOPTERS
            relation = rng.choices(("adopts", "drops", "evaluates"), (60, 15, 25))[0]
            events.append(
                EventRow(
                    event_id=f"new-{n:020d}-{k}", article_id=aid, article_url=url,
                    adopter=f"company-{adopter}", adopter_named=True,
                    model=f"family-{family:02d}", model_family=f"family-{family:02d}",
                    vendor=f"vendor-{family}", origin_country="CN", open_weights=True,
                    relation=relation, switch_id=None, confidence=rng.random(),
                    evidence=f"Company {adopter} {relation} family-{family}.",
                    published_at=when, extracted_at=when, extractor_version="bench",
                )
            )  # fmt: skip
    return articles, events


def rolled_back(
    con: duckdb.DuckDBPyConnection, setup: Callable[[], object], work: Callable[[], object]
) -> float:
    """Seconds ``work`` takes after ``setup``, both in a transaction then rolled back."""
    con.execute("BEGIN TRANSACTION")
    try:
        setup()
        start = time.perf_counter()
        work()
        return time.perf_counter() - start
    finally:
        con.execute("ROLLBACK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.facts",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events (10,000,000)")
    parser.add_argument("--articles", type=int, default=1000, help="new articles (1,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--quick", action="store_true", help="200,000 events, 2 runs")
    parser.add_argument("--db", type=Path, help="keep the event log here (reused if present)")
    parser.add_argument("--check", action="store_true", help="check against a rebuild")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeat = 200_000, 2

    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "facts.duckdb"
        reuse = path.exists()
        with write_session(path) as con:
            if not reuse:
                start = time.perf_counter()
                counts = synthetic.generate_event_log(con, args.events)
                print(
                    f"generated {counts['adoption_events']:,} events, "
                    f"{counts['adoption_facts']:,} facts in {time.perf_counter() - start:.1f} s"
                )
            events = synthetic.event_count(con)
            articles, new_events = new_articles(args.articles)
            keys = keys_of_events(new_events)
            arrow = to_arrow(EventRow, new_events)
            new_ids = {a.article_id for a in articles}
            print(f"{load()}: {events:,} events; {args.articles:,} new articles with "
                  f"{len(new_events):,} events touching {len(keys):,} facts")  # fmt: skip

            def store_them() -> None:
                synthetic.append_unfolded(con, articles, new_events)

            def best(work: Callable[[], object]) -> float:
                return min(rolled_back(con, store_them, work) for _ in range(args.repeat))

            folded = best(lambda: fold_new_events(con, arrow, new_ids))
            recomputed = best(lambda: recompute_facts(con, keys))
            rebuilt = best(lambda: rebuild_facts(con))
            verdict = "meets" if folded < TARGET_SECONDS else "MISSES"
            print(
                f"{load()}: fold of the new events into the facts: {folded:.3f} s "
                f"({verdict} the {TARGET_SECONDS:.0f} s target)"
            )
            print(
                f"{load()}: baseline, recompute of the {len(keys):,} touched facts from all "
                f"their events: {recomputed:.3f} s ({recomputed / folded:.0f}x)"
            )
            print(
                f"{load()}: baseline, full rebuild of every fact: {rebuilt:.3f} s "
                f"({rebuilt / folded:.0f}x)"
            )
            if args.check or events <= 1_000_000:
                with transaction(con):
                    store_them()
                    fold_new_events(con, arrow, new_ids)
                drift = facts_drift(con)
                print(f"folded facts equal a rebuild: {'yes' if not drift else 'NO'}")
                if drift:
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
