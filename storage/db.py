"""Opening the DuckDB file: short write sessions, patient readers, one ingest at a time.

DuckDB lets one process open a database file read-write, and while it does no other
process can open the file at all, not even read-only. So:

* writers hold the file only for short write transactions (:func:`write_session`);
* readers (:func:`read_session`) retry for ``lock_timeout`` seconds when the file is
  busy, which a short write never outlasts;
* a whole ingest run also takes :func:`ingest_lock`, an advisory lock on a file beside
  the database, so two ingests never interleave their writes.

The errors (:class:`StorageError` and its subclasses) are drawn in :mod:`adoptwatch.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from adoptwatch.errors import AdoptwatchError
from adoptwatch.storage.migrations import migrate


class StorageError(AdoptwatchError):
    """Base class for storage errors."""


class DatabaseBusy(StorageError):
    """Another process held the database file for longer than the lock timeout."""


class DatabaseMissing(StorageError):
    """The database file does not exist."""


class IngestAlreadyRunning(StorageError):
    """Another ingest run holds the ingest lock for this database."""


class QueryError(StorageError):
    """DuckDB refused a statement a user typed (a syntax error, a write, file access)."""


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _connect(
    path: Path, read_only: bool, lock_timeout: float, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise StorageError(f"cannot open {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"{path} stayed locked by another process for {lock_timeout:.0f}s; "
                    "an ingest holds it only for short writes, so try again, or raise "
                    "db_lock_timeout (ADOPTWATCH_DB_LOCK_TIMEOUT)"
                ) from exc
            # Jitter so that several waiting readers do not retry in lock-step.
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.6, 0.5)


@contextlib.contextmanager
def write_session(
    path: Path | str, lock_timeout: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database read-write (creating and migrating it), yield, close.

    Keep the body short: every other process is locked out until it returns.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the folder of {path}: {exc.strerror}; point --db / "
            "ADOPTWATCH_DB at a file in a writable folder"
        ) from None
    con = _connect(path, read_only=False, lock_timeout=lock_timeout)
    try:
        migrate(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def read_session(
    path: Path | str, lock_timeout: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database read-only, waiting while a writer holds it.

    For SQL a user typed, seal the connection too (:func:`adoptwatch.storage.sandbox.seal`).
    Close the session promptly: while it is open, the ingest cannot write.
    """
    path = Path(path)
    if not path.exists():
        raise DatabaseMissing(
            f"no database at {path}; run `adoptwatch ingest` (or `adoptwatch demo`) first, "
            "or point --db / ADOPTWATCH_DB at an existing file"
        )
    con = _connect(path, read_only=True, lock_timeout=lock_timeout)
    try:
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def ingest_lock_path(db_path: Path | str) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".ingest.lock")


@contextlib.contextmanager
def ingest_lock(db_path: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold the advisory ingest lock for ``db_path``; wait up to ``wait`` seconds for it.

    The lock is released by the kernel when the process dies, so a killed ingest
    never leaves a stale lock behind.
    """
    lock_path = ingest_lock_path(db_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot create the ingest lock {lock_path} beside the database: "
            f"{exc.strerror}; point --db / ADOPTWATCH_DB at a file in a writable folder"
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(lock_path)
                    raise IngestAlreadyRunning(
                        f"another ingest is already writing to {db_path}{holder}; "
                        "wait for it to finish, or pass --wait SECONDS to queue behind it"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid else ""
