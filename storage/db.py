"""Opening the event log: a DuckDB file or a DuckLake, the same sessions for both.

A DuckDB file (the default): DuckDB lets one process open it read-write, and while it
does no other process can open it at all, not even read-only. So:

* writers hold the file only for short write transactions (:func:`write_session`);
* readers (:func:`read_session`) retry for ``lock_timeout`` seconds when the file is
  busy, which a short write never outlasts;
* a whole ingest run also takes :func:`ingest_lock`, an advisory lock on a file beside
  the database, so two ingests never interleave their writes.

A DuckLake (``ducklake:sqlite:PATH``, ``ducklake:postgres:CONNINFO``, see
:mod:`adoptwatch.storage.lake`): readers attach it read-only and never wait (snapshot
isolation); writers never lock anyone out. DuckLake lets concurrent inserts into one
table both commit, and there are no PRIMARY KEY or UNIQUE constraints, so the ingest's
write transactions go through :func:`atomic`, which also updates the one row of
``write_fence``: two writes that overlap in time then conflict at commit, the later one
is rolled back and runs again on the newer snapshot, where its anti-joins see what the
other wrote. Writes are short and the slow work (fetching, extraction) happens outside
them, so serialising commits costs little. On a SQLite catalog the ingest lock also
holds, one writer at a time (README: the SQLite catalog).

The errors (:class:`StorageError` and its subclasses) are drawn in :mod:`adoptwatch.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from adoptwatch.errors import AdoptwatchError
from adoptwatch.storage.lake import Location, connect_lake, locate, migrated_lakes
from adoptwatch.storage.migrations import migrate

T = TypeVar("T")


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


class WriteConflict(StorageError):
    """Concurrent writers kept conflicting for longer than the timeout (DuckLake)."""


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _is_newer_format(exc: BaseException) -> bool:
    return "created with an newer version of DuckDB" in str(exc) or (
        "Trying to read a database file with version number" in str(exc)
    )


def _newer_format_message(path: Path) -> str:
    return (
        f"{path} was written by a newer DuckDB (2.x) than this adoptwatch uses "
        f"({duckdb.__version__}, the version its DuckLake extensions are built for); "
        "convert it once with DuckDB 2.x to the 1.5 storage format, as the README says "
        "under 'Files written by DuckDB 2'"
    )


def _connect(
    path: Path, read_only: bool, lock_timeout: float, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if _is_newer_format(exc):
                raise StorageError(_newer_format_message(path)) from exc
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


def _lake(db: Path | str | Location, data_path: str) -> Location:
    return db if isinstance(db, Location) else locate(db, data_path)


@contextlib.contextmanager
def write_session(
    db: Path | str | Location, lock_timeout: float = 30.0, data_path: str = ""
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the event log read-write (creating and migrating it), yield, close.

    ``db`` is a file path or a DuckLake URL (``data_path``: the lake's data path). Keep
    the body short on a file: every other process is locked out until it returns.
    """
    location = _lake(db, data_path)
    if location.is_lake:
        con = connect_lake(location, read_only=False)
        try:
            if location not in migrated_lakes:  # once per process: each check asks the catalog
                migrate(
                    con, lake=True, retry=lambda work: atomic(con, work, lock_timeout, fence=False)
                )
                migrated_lakes.add(location)
            yield con
        finally:
            con.close()
        return
    path = location.path
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
    db: Path | str | Location,
    lock_timeout: float = 30.0,
    data_path: str = "",
    private: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the event log read-only; on a file, wait while a writer holds it.

    For SQL a user typed, seal the connection too (:func:`adoptwatch.storage.sandbox.seal`),
    on a ``private`` one: a lake session is otherwise a cursor of the process's shared
    instance, whose settings a seal would change for every session. Close the session
    promptly: while it is open on a file, the ingest cannot write (a lake reader blocks
    nobody and sees one snapshot throughout).
    """
    location = _lake(db, data_path)
    if location.is_lake:
        if location.kind == "sqlite" and not location.path.exists():
            raise DatabaseMissing(_missing_message(location.path))
        con = connect_lake(location, read_only=True, private=private)
        try:
            yield con
        finally:
            con.close()
        return
    path = location.path
    if not path.exists():
        raise DatabaseMissing(_missing_message(path))
    con = _connect(path, read_only=True, lock_timeout=lock_timeout)
    try:
        yield con
    finally:
        con.close()


def _missing_message(path: Path) -> str:
    return (
        f"no database at {path}; run `adoptwatch ingest` (or `adoptwatch demo`) first, "
        "or point --db / ADOPTWATCH_DB at an existing file or DuckLake"
    )


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _is_write_conflict(exc: BaseException) -> bool:
    text = str(exc)
    # DuckLake's optimistic check at commit; a SQLite catalog busy with another commit.
    return "Transaction conflict" in text or "database is locked" in text


def atomic(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    timeout: float = 60.0,
    fence: bool = True,
) -> T:
    """Run ``work(con)`` in one transaction that commits whole or not at all, and again
    on a fresh snapshot when a concurrent writer got there first.

    ``fence``: also update ``write_fence`` (migration 5), so that any two overlapping
    writes conflict (DuckLake lets overlapping inserts both commit). ``work`` must only
    read and write the database: it may run more than once.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        con.execute("BEGIN TRANSACTION")
        try:
            result = work(con)
            if fence:
                con.execute("UPDATE write_fence SET writes = writes + 1")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error) and _is_write_conflict(exc):
                delay = _wait_for_retry(exc, deadline, delay, timeout)
                continue
            raise
        try:
            con.execute("COMMIT")
            return result
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if not _is_write_conflict(exc):
                raise
            delay = _wait_for_retry(exc, deadline, delay, timeout)


def _wait_for_retry(exc: BaseException, deadline: float, delay: float, timeout: float) -> float:
    if time.monotonic() >= deadline:
        raise WriteConflict(
            f"other writers kept committing first for {timeout:.0f}s; the write was rolled "
            "back whole, so run again (raise db_lock_timeout, ADOPTWATCH_DB_LOCK_TIMEOUT, "
            f"to wait longer): {str(exc).splitlines()[0]}"
        ) from exc
    # Jitter so that the writers that lost do not collide again in lock-step.
    time.sleep(delay * (0.5 + random.random()))
    return min(delay * 1.6, 1.0)


def ingest_lock_path(db_path: Path | str) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".ingest.lock")


@contextlib.contextmanager
def ingest_lock(db: Path | str | Location, wait: float = 0.0) -> Iterator[None]:
    """Hold the advisory ingest lock for ``db``; wait up to ``wait`` seconds for it.

    The lock is released by the kernel when the process dies, so a killed ingest
    never leaves a stale lock behind. A file and a SQLite-catalog lake take one writer
    at a time (the lock file is beside the file or the catalog); a PostgreSQL-catalog
    lake takes any number, which divide the sources between them (source leases).
    """
    location = _lake(db, "")
    if location.multi_writer:
        yield
        return
    db_path = location.path
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
