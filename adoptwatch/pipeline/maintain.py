"""Upkeep of the event log: DuckLake maintenance and copying a log between backends.

``adoptwatch maintain`` and the maintain deployment run :func:`run_maintenance`;
``adoptwatch migrate`` runs :func:`migrate_log`. The SQL is in
:mod:`adoptwatch.storage.maintenance`.
"""

from __future__ import annotations

from datetime import timedelta

from adoptwatch.pipeline.clock import utcnow
from adoptwatch.settings import Settings
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.lake import locate
from adoptwatch.storage.maintenance import MaintenanceReport, copy_log, maintain


def run_maintenance(settings: Settings) -> MaintenanceReport:
    """Merge small files, expire snapshots older than ``keep_snapshots_days`` and delete
    the files no snapshot needs (a DuckDB file: a checkpoint)."""
    location = locate(settings.db, settings.lake_data_path)
    expire_before = utcnow() - timedelta(days=settings.keep_snapshots_days)
    with write_session(location, settings.db_lock_timeout) as con:
        return maintain(con, location.is_lake, expire_before, settings.db_lock_timeout)


def migrate_log(
    source: str, target: str, data_path: str = "", lock_timeout: float = 30.0
) -> dict[str, int]:
    """Copy a whole event log from ``source`` to a new, empty ``target`` (each a file path
    or a DuckLake URL; ``data_path``: the new lake's); returns the rows copied per table.

    The source is brought to the newest schema first (a write session), then read; the
    target is created at the newest schema and filled in one transaction, and the counts
    are compared.
    """
    with write_session(source, lock_timeout):
        pass
    with (
        read_session(source, lock_timeout) as src,
        write_session(locate(target, data_path), lock_timeout) as dst,
    ):
        return copy_log(src, dst)
