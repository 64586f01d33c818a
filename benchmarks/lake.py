"""The event log on DuckLake: ingest speed with 1 and 4 writers, files, reader latency.

    .venv/bin/python -m benchmarks.lake            # 8 hosts x 60 articles
    .venv/bin/python -m benchmarks.lake --quick    # 4 hosts x 20 articles

A generated site (benchmarks/_site.py) on loopback hosts, crawled by real ingest
processes (``run_ingest``, no Prefect) into:

* a DuckDB file, one writer: the baseline, measured in the same run, first and last;
* a DuckLake on a SQLite catalog, one writer (the supported shape), and four writers with
  the ingest lock bypassed, to measure what the catalog does with them;
* a DuckLake on PostgreSQL (a server of the run's own, as the tests start it), one writer
  and four writers started together.

For each: articles per second (articles stored / time from the first run's start to the
last run's end), Parquet files per 1,000 articles in the current snapshot and on disk,
before and after ``maintain`` (with no snapshot kept), and the latency of a reader process
querying every 100 ms throughout (p50 / p95 / p99 / max, and errors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# What a reader asks every 100 ms: a count, and a digest-like rollup of one week.
READER_SQL = (
    "SELECT count(*) FROM adoption_events",
    "SELECT model_family, count(DISTINCT adopter) FROM adoption_events "
    "WHERE relation = 'adopts' GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
)


# --- children --------------------------------------------------------------------------


def child_writer(overrides: dict[str, Any], cwd: str, bypass_lock: bool) -> dict[str, Any]:
    from adoptwatch.pipeline.ingest import run_ingest
    from adoptwatch.settings import load_settings

    settings = load_settings(env={}, overrides=overrides, cwd=Path(cwd))
    began = time.time()
    try:
        summary = asyncio.run(run_ingest(settings, lock_held=bypass_lock)).as_dict()
        error = None
    except Exception as exc:  # measured, not hidden: the parent reports it
        summary, error = {}, f"{type(exc).__name__}: {exc}"
    return {"began": began, "ended": time.time(), "summary": summary, "error": error}


def child_reader(db: str, stop: str) -> dict[str, Any]:
    from adoptwatch.storage.db import read_session

    latencies: list[float] = []
    errors: list[str] = []
    while not Path(stop).exists():
        started = time.perf_counter()
        try:
            with read_session(db, lock_timeout=30.0) as con:
                for sql in READER_SQL:
                    con.execute(sql).fetchall()
            latencies.append(time.perf_counter() - started)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        time.sleep(0.1)
    return {"latencies": latencies, "errors": errors}


def spawn(mode: str, payload: dict[str, Any], tmp: Path, name: str) -> tuple[Any, Path]:
    request = tmp / f"{name}-request.json"
    answer = tmp / f"{name}-answer.json"
    request.write_text(json.dumps(payload), encoding="utf-8")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    with (tmp / f"{name}.err").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.lake", "--child", mode, str(request), str(answer)],
            cwd=ROOT,
            env=env,
            stderr=err,
        )
    return proc, answer


def child_main(mode: str, request: Path, answer: Path) -> int:
    payload = json.loads(request.read_text(encoding="utf-8"))
    if mode == "writer":
        result = child_writer(payload["overrides"], payload["cwd"], payload["bypass_lock"])
    elif mode == "reader":
        result = child_reader(payload["db"], payload["stop"])
    else:
        raise SystemExit(f"unknown child mode {mode!r}")
    answer.write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


# --- one case -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_case(
    name: str,
    db: str,
    data_path: str,
    writers: int,
    sources: Path,
    tmp: Path,
    bypass_lock: bool = False,
    timeout: float = 900.0,
) -> dict[str, Any]:
    from adoptwatch.storage.db import read_session, write_session
    from adoptwatch.storage.lake import close_lakes, locate
    from adoptwatch.storage.maintenance import files_on_disk, lake_files, maintain

    overrides = {
        "db": db,
        "lake_data_path": data_path,
        "sources": str(sources),
        "allow_networks": ["127.0.0.0/8"],
        "per_host_delay": 0.02,
        "per_host_concurrency": 4,
        "db_lock_timeout": 120.0,
        "ingest_concurrency": writers,
    }
    with write_session(db, data_path=data_path):
        pass  # the schema, so that the reader has tables from its first query
    case_dir = tmp / name
    case_dir.mkdir()
    stop = case_dir / "stop"
    reader, reader_answer = spawn("reader", {"db": db, "stop": str(stop)}, case_dir, "reader")
    procs = [
        spawn(
            "writer",
            {"overrides": overrides, "cwd": str(case_dir), "bypass_lock": bypass_lock},
            case_dir,
            f"writer{i}",
        )
        for i in range(writers)
    ]
    hung = 0
    deadline = time.monotonic() + timeout
    for proc, _answer in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            hung += 1
    stop.touch()
    reader.wait(timeout=120)
    results = [json.loads(a.read_text()) for p, a in procs if a.exists()]
    read = json.loads(reader_answer.read_text()) if reader_answer.exists() else {}
    errors = [r["error"] for r in results if r["error"]]

    location = locate(db)
    with read_session(db) as con:
        articles = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
        events = con.execute("SELECT count(*) FROM adoption_events").fetchall()[0][0]
        twice = con.execute(
            "SELECT count(*) - count(DISTINCT canonical_url) FROM articles"
        ).fetchall()[0][0]
    began = min((r["began"] for r in results), default=0.0)
    ended = max((r["ended"] for r in results), default=0.0)
    out: dict[str, Any] = {
        "case": name,
        "writers": writers,
        "articles": articles,
        "events": events,
        "duplicate_articles": twice,
        "seconds": round(ended - began, 2),
        "articles_per_second": round(articles / (ended - began), 2) if ended > began else 0.0,
        "writer_errors": errors,
        "writers_hung": hung,
        "writers_ok": len(results) - len(errors),
        "reads": len(read.get("latencies", [])),
        "read_errors": len(read.get("errors", [])),
        "read_error_sample": read.get("errors", [])[:3],
    }
    lat = read.get("latencies", [])
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        out[f"read_{label}_ms"] = round(1000 * percentile(lat, q), 1)
    out["read_max_ms"] = round(1000 * max(lat), 1) if lat else float("nan")
    if location.is_lake and articles:
        per_k = 1000 / articles
        with write_session(db, data_path=data_path) as con:
            snapshot_before = sum(lake_files(con).values())
            disk_before = files_on_disk(data_path)
            started = time.perf_counter()
            maintain(con, True, expire_before=_now())
            out["maintain_seconds"] = round(time.perf_counter() - started, 2)
            snapshot_after = sum(lake_files(con).values())
            disk_after = files_on_disk(data_path)
        out["files_per_1000_snapshot"] = [
            round(snapshot_before * per_k),
            round(snapshot_after * per_k),
        ]
        out["files_per_1000_disk"] = [round(disk_before * per_k), round(disk_after * per_k)]
    close_lakes()
    return out


def _now() -> Any:
    from adoptwatch.pipeline.clock import utcnow

    return utcnow()


# --- the benchmark ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lake", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="4 hosts x 20 articles")
    parser.add_argument("--hosts", type=int, default=None)
    parser.add_argument("--articles", type=int, default=None, help="articles per host")
    parser.add_argument(
        "--cases",
        default="file,sqlite-1,sqlite-4-nolock,postgres-1,postgres-4,file-again",
        help="comma-separated cases to run",
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "REQUEST", "ANSWER"))
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child[0], Path(args.child[1]), Path(args.child[2]))

    from benchmarks._site import SiteShape, build_site
    from benchmarks.crawl import start_servers, write_sources

    hosts = args.hosts or (4 if args.quick else 8)
    per_host = args.articles or (20 if args.quick else 60)
    cases = args.cases.split(",")
    print(f"load average: {os.getloadavg()[0]:.2f}; {hosts} hosts x {per_host} articles")
    results = []
    with tempfile.TemporaryDirectory(prefix="adoptwatch-lake-bench-") as name:
        tmp = Path(name)
        folders = build_site(tmp / "site", SiteShape(hosts=hosts, articles_per_host=per_host))
        servers = start_servers(folders, latency=0.02)
        postgres = None
        try:
            sources = tmp / "sources.toml"
            write_sources(sources, servers)
            for case in cases:
                if case.startswith("file"):  # "file", and "file-again" to bracket the run
                    db, data, writers, bypass = str(tmp / f"{case}.duckdb"), "", 1, False
                elif case.startswith("sqlite"):
                    db = f"ducklake:sqlite:{tmp / case}.sqlite"
                    data = str(tmp / f"{case}-data")
                    writers, bypass = int(case.split("-")[1]), case.endswith("nolock")
                elif case.startswith("postgres"):
                    if postgres is None:
                        from tests.postgres import start_server

                        postgres = start_server()
                    conninfo = postgres.create_database(case.replace("-", "_"))
                    db, data = f"ducklake:postgres:{conninfo}", str(tmp / f"{case}-data")
                    writers, bypass = int(case.split("-")[1]), False
                else:
                    raise SystemExit(f"unknown case {case!r}")
                result = run_case(case, db, data, writers, sources, tmp, bypass_lock=bypass)
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            for server in servers:
                server.stop()
            if postgres is not None:
                postgres.stop()
    print()
    print(
        f"{'case':<18}{'art/s':>7}{'articles':>9}{'dup':>5}{'ok/hung':>9}"
        f"{'files/1k snap':>15}{'files/1k disk':>15}{'read p50/p95/p99/max ms':>28}{'errs':>6}"
    )
    for r in results:
        snap = "/".join(map(str, r.get("files_per_1000_snapshot", ["-"])))
        disk = "/".join(map(str, r.get("files_per_1000_disk", ["-"])))
        lat = "/".join(str(r[f"read_{k}_ms"]) for k in ("p50", "p95", "p99", "max"))
        print(
            f"{r['case']:<18}{r['articles_per_second']:>7}{r['articles']:>9}"
            f"{r['duplicate_articles']:>5}{r['writers_ok']:>5}/{r['writers_hung']:<3}"
            f"{snap:>15}{disk:>15}{lat:>28}{r['read_errors']:>6}"
        )
    files = [r["articles_per_second"] for r in results if r["case"].startswith("file")]
    if files and min(files) > 0:
        base = sum(files) / len(files)
        print(f"  baseline: the DuckDB file's articles/s, mean of {files}: {base:.2f}")
        for r in results:
            print(f"  {r['case']}: {r['articles_per_second'] / base:.2f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
