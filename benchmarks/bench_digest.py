"""How long the weekly digest's rollups take on a large synthetic event log.

    .venv/bin/python -m benchmarks.bench_digest                  # 1,000,000 events
    .venv/bin/python -m benchmarks.bench_digest --events 10000000
    .venv/bin/python -m benchmarks.bench_digest --order random    # worst case for scans

Events are written through storage.store.write_batch (the real write path) into a
temporary DuckDB file: ~3 years of events, a long tail of adopters, 60 model
families, 5% without a published date. Then, best of ``--repeat`` runs:

* each rollup of storage.digest on its own, and ``build_digest`` as a whole;
* the baseline, in the same run: one GROUP BY over the relation column of every
  event (the least any rollup of the whole log costs), run through
  ``adoptwatch query``'s ``run_query``; a digest step at "3x" costs three such scans.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adoptwatch import digest as dg
from storage import digest as digest_sql
from storage.db import read_session, write_session
from storage.records import EventRow, MentionRow
from storage.store import WriteBatch, run_query, write_batch

FAMILIES = [f"family-{i:02d}" for i in range(60)]
ORIGINS = ["CN", "US", "US", "FR", "CN", "GB"]
START = datetime(2024, 1, 1)
SPAN_SECONDS = 3 * 365 * 24 * 3600
WEEK = dg.IsoWeek(2026, 48)  # inside the generated span, near its end

# The baseline: the least any rollup of the whole log costs, one scan of two columns.
BASELINE = "SELECT relation, count(*) FROM adoption_events GROUP BY relation"

# An independent spelling of "first-time adopters this week", to check the answer.
CHECK_NEW_ADOPTERS = """
SELECT adopter, model_family
FROM adoption_events
WHERE relation = 'adopts' AND adopter_named
GROUP BY adopter, model_family
HAVING min(coalesce(published_at, extracted_at)) >= TIMESTAMP '{start}'
   AND min(coalesce(published_at, extracted_at)) < TIMESTAMP '{stop}'
"""


def generate(
    db: Path, events: int, ordered: bool = True, chunk: int = 200_000, seed: int = 7
) -> float:
    """``ordered``: events arrive roughly in publication order, as a crawl writes them
    (row groups then cover short time spans); else in random order (the worst case
    for the range filters: every row group spans the whole three years)."""
    rng = random.Random(seed)
    began = time.perf_counter()
    offsets = [rng.randrange(SPAN_SECONDS) for _ in range(events)]
    if ordered:
        offsets.sort()
    written = 0
    while written < events:
        n = min(chunk, events - written)
        rows: list[EventRow] = []
        mentions: list[MentionRow] = []
        for i in range(written, written + n):
            family_index = min(int(rng.paretovariate(1.2)) - 1, len(FAMILIES) - 1)
            family = FAMILIES[family_index]
            origin = ORIGINS[family_index % len(ORIGINS)]
            at = START + timedelta(seconds=offsets[i])
            relation = rng.choices(("adopts", "drops", "evaluates"), (60, 15, 25))[0]
            article = f"art-{i // 3}"
            rows.append(
                EventRow(
                    event_id=f"ev-{i}",
                    article_id=article,
                    article_url=f"https://news.example.com/{article}",
                    adopter=f"company-{int(rng.paretovariate(0.6)) % 200_000}",
                    adopter_named=rng.random() > 0.03,
                    model=family,
                    model_family=family,
                    vendor=f"vendor-{family_index}",
                    origin_country=origin,
                    open_weights=family_index % 2 == 0,
                    relation=relation,
                    switch_id=f"sw-{i // 2}" if rng.random() < 0.05 else None,
                    confidence=rng.random(),
                    evidence=f"Company {i} {relation} {family} for its product line.",
                    published_at=None if rng.random() < 0.05 else at,
                    extracted_at=at + timedelta(hours=6),
                    extractor_version="bench",
                )
            )
            if i % 2 == 0:
                mentions.append(
                    MentionRow(
                        article_id=article,
                        model_family=family,
                        model=family,
                        vendor=f"vendor-{family_index}",
                        origin_country=origin,
                        open_weights=family_index % 2 == 0,
                        sentences=1 + rng.randrange(6),
                        published_at=at,
                        extractor_version="bench",
                    )
                )
        with write_session(db) as con:
            write_batch(con, WriteBatch(events=rows, mentions=mentions))
        written += n
    return time.perf_counter() - began


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--order",
        choices=("time", "random"),
        default="time",
        help="Insertion order of the generated events (default: time, as a crawl writes).",
    )
    parser.add_argument(
        "--db", type=Path, help="Keep the generated log here and reuse it on the next run."
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        if db.exists():
            print(f"reusing {db}")
        else:
            took = generate(db, args.events, ordered=args.order == "time")
            print(
                f"generated {args.events:,} events ({args.order} order) via write_batch "
                f"in {took:.1f}s"
            )
        tz = ZoneInfo("UTC")
        start, stop = WEEK.bounds_utc(tz)
        prev_start, _ = WEEK.previous().bounds_utc(tz)
        weeks = [WEEK.shift(-i) for i in range(11, -1, -1)]
        spans = [(w.label, *w.bounds_utc(tz)) for w in weeks]
        with read_session(db) as con:
            week_events = digest_sql.week_totals(con, start, stop)["adoption_reports"]
            print(f"{WEEK.label}: {week_events:,} adoption reports\n")
            new = digest_sql.new_adopters(con, start, stop)
            check = run_query(con, CHECK_NEW_ADOPTERS.format(start=start, stop=stop)).rows
            assert len(new) == len(check), (len(new), len(check))
            cases: list[tuple[str, Callable[[], object]]] = [
                ("week_totals", lambda: digest_sql.week_totals(con, start, stop)),
                ("new_adopters", lambda: digest_sql.new_adopters(con, start, stop)),
                ("switches", lambda: digest_sql.switches(con, start, stop)),
                ("model_ranking", lambda: digest_sql.model_ranking(con, start, stop, prev_start)),
                ("most_discussed", lambda: digest_sql.most_discussed(con, start, stop)),
                ("origin_share (12 weeks)", lambda: digest_sql.origin_share(con, spans)),
                ("build_digest (all of it)", lambda: dg.build_digest(con, WEEK, tz)),
                ("baseline: count by relation", lambda: run_query(con, BASELINE)),
            ]
            results = [(name, best_of(args.repeat, fn)) for name, fn in cases]
        baseline = results[-1][1]
        print(f"{'step':<32}{'best of ' + str(args.repeat):>12}{'vs baseline':>14}")
        for name, seconds in results:
            print(f"{name:<32}{seconds * 1000:>10.1f}ms{seconds / baseline:>13.2f}x")
        print(f"\n{len(new):,} new adopters in {WEEK.label} (the check query agrees)")


if __name__ == "__main__":
    main()
