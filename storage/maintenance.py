"""Keeping a DuckLake lean, and moving a whole event log between backends.

:func:`maintain` is what ``adoptwatch maintain`` and the maintain deployment run. Every
ingest write adds a few small Parquet files per table (or rows inlined in the catalog);
maintenance writes inlined rows out, merges small files, rewrites files that are mostly
deletions, expires snapshots older than ``keep_snapshots_days`` and deletes the files no
snapshot needs any more. On a DuckDB file it checkpoints.

:func:`copy_log` is what ``adoptwatch migrate`` runs: every table, streamed in record
batches, in one transaction on the target, then the row counts compared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from adoptwatch.storage.db import StorageError, atomic
from adoptwatch.storage.lake import LAKE_ALIAS

# Tables whose rows belong to the database itself, not to the event log: each backend
# keeps its own (schema versions, the write fence, live ingest runs' leases).
LOCAL_TABLES = ("schema_migrations", "write_fence", "ingest_leases")


@dataclass
class MaintenanceReport:
    files_before: int = 0
    files_after: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    tables: dict[str, int] = field(default_factory=dict)  # data files per table after


def log_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The event log's tables in the current database, in name order."""
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT internal ORDER BY table_name"
        ).fetchall()
        if r[0] not in LOCAL_TABLES
    ]


def lake_files(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Parquet files (data and delete files) each table of the lake's current snapshot reads."""
    files: dict[str, int] = {}
    for table in log_tables(con) + list(LOCAL_TABLES):
        rows = con.execute(
            "SELECT count(*) + count(delete_file) FROM ducklake_list_files(?, ?)",
            [LAKE_ALIAS, table],
        ).fetchall()
        files[table] = int(rows[0][0])
    return files


def files_on_disk(data_path: str | Path) -> int:
    """Files under a local data path (everything the lake keeps: data, deletes, old)."""
    return sum(len(names) for _root, _dirs, names in os.walk(data_path))


def maintain(
    con: duckdb.DuckDBPyConnection, lake: bool, expire_before: datetime, timeout: float = 60.0
) -> MaintenanceReport:
    """Compact the lake and forget snapshots older than ``expire_before`` (a file:
    checkpoint). Each step is a transaction of its own, run again if a writer conflicts."""
    report = MaintenanceReport()
    if not lake:
        con.execute("CHECKPOINT")
        return report
    report.files_before = sum(lake_files(con).values())
    # In this order: rows inlined in the catalog out to files, files that carry deletions
    # rewritten without them, then the (now clean) small files merged.
    for step in (
        f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')",
        f"CALL ducklake_rewrite_data_files('{LAKE_ALIAS}')",
        f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')",
    ):
        atomic(con, lambda c, sql=step: c.execute(sql).fetchall(), timeout, fence=False)
    expired = atomic(
        con,
        lambda c: c.execute(
            f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => ?)", [expire_before]
        ).fetchall(),
        timeout,
        fence=False,
    )
    report.snapshots_expired = len(expired)
    # Only files that expired snapshots alone needed: a reader still on a kept snapshot,
    # and a writer's files not yet committed, are safe.
    deleted = atomic(
        con,
        lambda c: c.execute(
            f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)"
        ).fetchall(),
        timeout,
        fence=False,
    )
    report.files_deleted = len(deleted)
    report.tables = lake_files(con)
    report.files_after = sum(report.tables.values())
    return report


def copy_log(
    source: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection, batch_rows: int = 10_000
) -> dict[str, int]:
    """Copy every table of the event log from ``source`` into ``target`` (both migrated
    to the same version; the target empty) in one transaction; returns rows per table.

    Raises :class:`StorageError` when the target holds data already or the counts differ.
    """
    tables = log_tables(source)
    missing = sorted(set(tables) - set(log_tables(target)))
    if missing:
        raise StorageError(f"the target has no table(s) {', '.join(missing)}")
    filled = [t for t in tables if target.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]]
    if filled:
        raise StorageError(
            f"the target is not empty ({', '.join(filled)} hold rows); migrate into a new "
            "file or lake"
        )

    def work(con: duckdb.DuckDBPyConnection) -> None:
        for table in tables:
            columns = [
                r[0]
                for r in source.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = "
                    "current_database() AND table_name = ? ORDER BY column_index",
                    [table],
                ).fetchall()
            ]
            names = ", ".join(columns)
            reader = source.execute(f"SELECT {names} FROM {table}").to_arrow_reader(batch_rows)
            for part in reader:
                con.register("_migrate_rows", pa.Table.from_batches([part]))
                try:
                    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _migrate_rows")
                finally:
                    con.unregister("_migrate_rows")

    atomic(target, work, fence=False)
    copied: dict[str, int] = {}
    for table in tables:
        want = source.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        got = target.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if want != got:
            raise StorageError(f"{table}: {want} row(s) in the source, {got} in the target")
        copied[table] = int(got)
    return copied
