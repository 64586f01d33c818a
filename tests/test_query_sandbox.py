"""`adoptwatch query` as an attacker and a careless user would run it (issue 17, cases 1-3
and 6): the real command in its own process against a real DuckDB file.

Limits: a deadline (exit 2), a memory cap with nothing spilled, rows streamed instead of
held, a bounded table, Ctrl-C as one line. The sandbox: no file written or read beyond the
event log, whatever folders exist. Machine-readable output: never a progress bar.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from adoptwatch.storage.db import QueryError, write_session
from adoptwatch.storage.sandbox import QueryLimits, query_session, seal
from tests import peak_rss
from tests.test_cli import seed

ADOPTWATCH = str(Path(sys.executable).with_name("adoptwatch"))


def env(**settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    return base | {f"ADOPTWATCH_{k.upper()}": v for k, v in settings.items()}


def run_measured(
    args: list[str], tmp_path: Path, timeout: float = 120, **settings: str
) -> tuple[int, str, str, float]:
    """Run the command with stdout and stderr in files; returns (status, stdout, stderr,
    peak RSS in MiB of that process alone, see tests/peak_rss.py)."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as o, err.open("wb") as e:
        status, peak_mib = peak_rss.run_measured(
            args, tmp_path / "peak-rss", timeout, stdout=o, stderr=e, env=env(**settings)
        )
    return status, out.read_text(errors="replace"), err.read_text(errors="replace"), peak_mib


def query(db: Path, sql: str, *args: str, timeout: float = 120, **settings: str):
    return subprocess.run(
        [ADOPTWATCH, "query", sql, "--db", str(db), *args],
        capture_output=True, text=True, env=env(**settings), timeout=timeout,
    )  # fmt: skip


def one_clean_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.duckdb"
    seed(path)
    return path


# --- case 1: time, memory and rows ------------------------------------------------------


def test_a_query_past_query_timeout_is_stopped_with_exit_status_2(db: Path) -> None:
    done = query(db, "SELECT count(*) FROM range(1000000000000)", timeout=60, query_timeout="1")
    assert done.returncode == 2, done.stderr
    assert "query_timeout" in one_clean_line(done.stderr)


def test_the_deadline_also_stops_a_long_export(db: Path, tmp_path: Path) -> None:
    args = [ADOPTWATCH, "query", "SELECT * FROM range(1000000000)", "--db", str(db)]
    status, out, err, _ = run_measured([*args, "--format", "csv"], tmp_path, query_timeout="2")
    assert status == 2 and "query_timeout" in one_clean_line(err)
    assert out.startswith("range\n0\n1\n")  # rows streamed out before the deadline


def test_csv_and_json_stream_rows_instead_of_holding_them(db: Path, tmp_path: Path) -> None:
    # Held whole as Python tuples (and, for json, dicts and one string), these results
    # take about half a gigabyte; streamed, the process stays near its size at rest.
    for fmt, n in (("csv", 3_000_000), ("json", 1_000_000)):
        sql = f"SELECT i, i * 2 AS j FROM range({n}) t(i)"
        status, out, err, peak_mib = run_measured(
            [ADOPTWATCH, "query", sql, "--db", str(db), "--format", fmt],
            tmp_path,
            query_timeout="0",
        )
        assert status == 0, err
        assert peak_mib < 250, f"{fmt}: peak RSS {peak_mib:.0f} MiB"
        last = n - 1
        if fmt == "csv":
            assert out.count("\n") == n + 1 and out.endswith(f"\n{last},{2 * last}\n")
        else:
            rows = json.loads(out)
            assert len(rows) == n and rows[-1] == {"i": last, "j": 2 * last}


def test_json_output_is_the_same_text_as_before_streaming(db: Path) -> None:
    sql = "SELECT adopter, confidence, published_at, NULL AS nothing FROM adoption_events"
    done = query(db, sql, "--format", "json")
    assert done.returncode == 0, done.stderr
    expected = [{"adopter": "Airbnb", "confidence": 0.93,
                 "published_at": "2026-11-20T00:00:00", "nothing": None}]  # fmt: skip
    assert done.stdout == json.dumps(expected, ensure_ascii=False, indent=1) + "\n"
    empty = query(db, "SELECT 1 AS x WHERE false", "--format", "json")
    assert empty.stdout == "[]\n"


def test_query_memory_limit_bounds_a_query_and_nothing_spills(db: Path) -> None:
    (db.parent / f"{db.name}.tmp").mkdir()
    sql = "SELECT count(*) FROM (SELECT * FROM range(30000000) ORDER BY random())"
    done = query(db, sql, query_memory_limit="100MB")
    assert done.returncode == 1
    assert "query_memory_limit" in one_clean_line(done.stderr)
    assert list((db.parent / f"{db.name}.tmp").iterdir()) == []


def test_the_table_shows_at_most_query_max_rows(db: Path) -> None:
    done = query(db, "SELECT * FROM range(1000000000)", timeout=60, query_max_rows="5")
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert len(shown) == 5
    assert "first 5 rows" in done.stderr and "query_max_rows" in done.stderr


def open_fds(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stop_a_query_with_one_line(db: Path, signum: int) -> None:
    proc = subprocess.Popen(
        [ADOPTWATCH, "query", "SELECT count(*) FROM range(1000000000000)", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(query_timeout="0"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while str(db) not in open_fds(proc.pid):  # the query has the file open
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "stopped" in one_clean_line(err)


def test_a_write_waiting_behind_a_long_query_gets_through(db: Path) -> None:
    """The query holds the file open; its deadline, shorter than the writer's patience
    (db_lock_timeout), frees it."""
    proc = subprocess.Popen(
        [ADOPTWATCH, "query", "SELECT count(*) FROM range(1000000000000)", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(query_timeout="2"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while str(db) not in open_fds(proc.pid):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        with write_session(db, lock_timeout=20) as con:
            con.execute("INSERT INTO runs (run_id, started_at) VALUES ('after', now())")
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 2 and "query_timeout" in one_clean_line(err)


# --- case 2: the sandbox writes nothing and reads nothing else ------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 42) TO '{tmp}/x.csv'",
        "COPY adoption_events TO '{tmp}/a.parquet' (FORMAT parquet)",
        "ATTACH '{tmp}/new.duckdb' (READ_WRITE)",
        "SELECT content FROM read_blob('{db}')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('{tmp}/*')",
        "INSTALL httpfs",
        "SET disabled_filesystems = ''",
        "SET temp_directory = '{tmp}'",
    ],
)
def test_the_sandbox_writes_no_file_and_reads_none_but_the_log(db: Path, sql: str) -> None:
    spill = db.parent / f"{db.name}.tmp"  # left by a killed process, or made by anyone
    spill.mkdir()
    done = query(db, sql.format(tmp=spill, db=db))
    assert done.returncode == 1, done.stdout
    assert "read-only" in one_clean_line(done.stderr)
    assert list(spill.iterdir()) == []


# --- case 3: no progress bar in machine-readable output -----------------------------------


def test_json_and_csv_output_never_carry_a_progress_bar(db: Path) -> None:
    # Started as `python -c`, DuckDB turns its progress bar on (as in a notebook or a
    # shell); it would draw over stdout once a query runs for two seconds.
    entry = "import sys; from adoptwatch.cli import main; sys.exit(main())"
    sql = (
        "SELECT current_setting('enable_progress_bar') AS bar, count(*) AS n "
        "FROM range(20000000000)"
    )
    for fmt in ("json", "csv"):
        done = subprocess.run(
            [sys.executable, "-c", entry, "query", sql, "--db", str(db), "--format", fmt],
            capture_output=True, text=True, env=env(query_timeout="0"), timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if fmt == "json":
            assert json.loads(done.stdout) == [{"bar": False, "n": 20_000_000_000}]
        else:
            assert list(csv.reader(io.StringIO(done.stdout))) == [
                ["bar", "n"],
                ["False", "20000000000"],
            ]


# --- the seal on its own, and with readable paths (a lake's data) ------------------------


def test_the_seal_alone_refuses_file_access(db: Path) -> None:
    """Below the statement check: the sealed connection itself writes and reads nothing."""
    spill = db.parent / f"{db.name}.tmp"
    spill.mkdir()
    con = duckdb.connect(str(db), read_only=True)
    try:
        seal(con, QueryLimits())
        for sql in (
            f"COPY (SELECT 42) TO '{spill}/x.csv'",
            f"ATTACH '{spill}/new.duckdb' (READ_WRITE)",
            f"SELECT * FROM read_blob('{db}')",
            "SET lock_configuration = false",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert con.execute("SELECT count(*) FROM adoption_events").fetchall() == [(1,)]
    finally:
        con.close()
    assert list(spill.iterdir()) == []


def test_readable_paths_are_read_and_nothing_else(db: Path, tmp_path: Path) -> None:

    data = tmp_path / "lake-data"
    data.mkdir()
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 7 AS x) TO '{data}/part.parquet' (FORMAT parquet)")
    with query_session(db, 5, QueryLimits(), readable=[data]) as session:
        rows = session.stream(f"SELECT x FROM read_parquet('{data}/*.parquet')")
        assert [r for batch in rows.batches for r in batch] == [(7,)]
        for sql in (
            f"COPY (SELECT 1) TO '{data}/evil.parquet' (FORMAT parquet)",
            "SELECT * FROM read_text('/etc/hostname')",
        ):
            with pytest.raises(QueryError):
                list(session.stream(sql).batches)
    assert [p.name for p in data.iterdir()] == ["part.parquet"]
