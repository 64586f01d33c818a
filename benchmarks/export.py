"""Export and alert-outbox speed on a synthetic event log.

    .venv/bin/python -m benchmarks.export            # 2,000,000 events
    .venv/bin/python -m benchmarks.export --quick    # 100,000 events

``--events`` synthetic events (storage/synthetic.py, with their articles, mentions and
facts) go into a fresh DuckDB file; then:

* ``adoptwatch export --format parquet`` (pipeline.export: DuckDB ``COPY``, streamed)
  against the baseline, in the same run: the same four queries fetched whole into
  Arrow and written with ``pyarrow.parquet.write_table`` (everything in memory first).
  Each runs in a process of its own, so that each peak RSS is its own;
* ``storage.alerts.queue_alerts``, what each ingest write adds to its transaction, for
  ``--changes`` fact changes and the facts of 150 new events against 100 watches,
  against the same call with no watch (its one count query), best of five, in a
  transaction rolled back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

QUICK_ARGS = ["--quick"]


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _child(mode: str, db: str, out: str) -> None:
    """Run one export way in this process and print its figures as JSON."""
    from adoptwatch.pipeline.export import export
    from adoptwatch.settings import load_settings

    settings = load_settings(env={}, overrides={"db": db})
    started = time.perf_counter()
    if mode == "copy":
        manifest = export(settings, Path(out), "parquet", None)
        rows = sum(f["rows"] for f in manifest["files"])
    else:
        import pyarrow.parquet as pq

        from adoptwatch.storage.db import read_session
        from adoptwatch.storage.export import _article_columns, _queries

        rows = 0
        with read_session(db) as con:
            for stem, (_table, query) in _queries(_article_columns(con)).items():
                table = con.execute(query, {"since": None}).to_arrow_table()
                pq.write_table(table, Path(out) / f"{stem}.parquet", compression="zstd")
                rows += table.num_rows
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows}))


def measure_export(mode: str, db: Path, out: Path) -> dict[str, Any]:
    """One way, in a process of its own, started through a fork launcher
    (tests/peak_rss.py: ru_maxrss survives exec, so a plain child would report at least
    this process's peak, which holds the generated log)."""
    from tests.peak_rss import run_measured

    out.mkdir()
    figures_file = out.with_suffix(".json")
    with figures_file.open("w") as stdout:
        code, peak_mib = run_measured(
            [sys.executable, "-m", "benchmarks.export", "--child", mode, str(db), str(out)],
            out.with_suffix(".rss"),
            timeout=1800,
            stdout=stdout,
        )
    if code != 0:
        raise SystemExit(f"the {mode} export failed (exit {code})")
    figures: dict[str, Any] = json.loads(figures_file.read_text().strip().splitlines()[-1])
    figures["peak_rss_mib"] = peak_mib
    figures["load"] = load()
    return figures


def measure_outbox(db: Path, changes: int) -> dict[str, Any]:
    from adoptwatch.storage import alerts
    from adoptwatch.storage.db import write_session
    from adoptwatch.storage.facts import FACT_COLUMNS, FactChange

    with write_session(db) as con:
        cursor = con.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM adoption_facts USING SAMPLE {changes} ROWS"
        )
        names = [d[0] for d in cursor.description]
        sample = [FactChange(dict(zip(names, r, strict=True)), None) for r in cursor.fetchall()]
        adopters = [c.fact["adopter"] for c in sample[:97]]
        now = datetime(2026, 12, 1)

        # A write's worth of new events (50 articles, three events each), whose facts
        # queue_alerts reads for watches waiting on min_outlets.
        batch_events = con.execute(
            "SELECT adopter, model_family, vendor_level FROM adoption_events USING SAMPLE 150 ROWS"
        ).to_arrow_table()

        def best(with_watches: bool) -> tuple[float, int]:
            times, queued = [], 0
            for _ in range(5):
                con.execute("BEGIN TRANSACTION")
                if with_watches:
                    for name in adopters:
                        con.execute(
                            "INSERT INTO watches VALUES (?, 'company', ?, 1, ?)",
                            [alerts.watch_id("company", name), name, now],
                        )
                    for kind, value in (("model", "family-1"), ("origin", "CN"), ("vendor", "x")):
                        con.execute(
                            "INSERT INTO watches VALUES (?, ?, ?, 1, ?)",
                            [alerts.watch_id(kind, value), kind, value, now],
                        )
                started = time.perf_counter()
                queued = alerts.queue_alerts(con, sample, batch_events, now=now)
                times.append(time.perf_counter() - started)
                con.execute("ROLLBACK")
            return min(times), queued

        with_watches, queued = best(True)
        without, _ = best(False)
    return {
        "changes": len(sample),
        "watches": 100,
        "alerts_queued": queued,
        "ms_with_watches": with_watches * 1000,
        "ms_without_watches": without * 1000,
        "load": load(),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export", description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100,000 events, 200 changes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.events, args.changes = 100_000, 200

    from adoptwatch.storage import synthetic
    from adoptwatch.storage.db import write_session

    figures: dict[str, Any] = {"events": args.events}
    with tempfile.TemporaryDirectory(prefix="adoptwatch-export-") as tmp:
        db = Path(tmp) / "log.duckdb"
        started = time.perf_counter()
        with write_session(db) as con:
            figures["tables"] = synthetic.generate_event_log(con, args.events)
        print(f"generated {figures['tables']} in {time.perf_counter() - started:.1f}s")
        # Each way twice, alternating, the second run counted: the first pays for a
        # cold page cache.
        for rnd in (1, 2):
            figures["baseline"] = measure_export("arrow", db, Path(tmp) / f"arrow{rnd}")
            figures["copy"] = measure_export("copy", db, Path(tmp) / f"copy{rnd}")
        figures["outbox"] = measure_outbox(db, args.changes)

    for name, label in (("copy", "export (COPY)"), ("baseline", "fetch + write_table")):
        f = figures[name]
        print(
            f"{label:<22} {f['rows']:>10,} rows  {f['seconds']:6.2f}s  "
            f"{f['rows'] / f['seconds']:>12,.0f} rows/s  peak RSS {f['peak_rss_mib']:7.1f} MiB"
            f"  ({f['load']})"
        )
    o = figures["outbox"]
    print(
        f"queue_alerts: {o['changes']} fact changes + 150 events' facts, {o['watches']} watches: "
        f"{o['ms_with_watches']:.1f} ms ({o['alerts_queued']} alerts); no watch: "
        f"{o['ms_without_watches']:.2f} ms  ({o['load']})"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
