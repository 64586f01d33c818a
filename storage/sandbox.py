"""The query sandbox: SQL a user typed, on a sealed connection, within limits, streamed.

``adoptwatch query`` runs whatever SQL it is given, so the connection it runs on is
sealed before the first statement (:func:`seal`):

* no file access beyond the event log itself: with ``readable`` empty (a DuckDB file)
  the local file system is switched off altogether, so ``COPY ... TO``, ``ATTACH``,
  ``read_blob`` and ``read_csv`` fail whatever folders exist, even the ``<db>.tmp/``
  spill folder DuckDB would otherwise allow; with ``readable`` paths (a lake's catalog
  and data path) only those may be read;
* no spilling: ``temp_directory`` is empty, and ``memory_limit`` bounds the query;
* no extension installs or loads, no progress bar unless asked (it would corrupt csv
  and json), and the configuration locked so no statement can undo any of this;
* reading statements only (:data:`READING_STATEMENTS`): COPY, EXPORT, ATTACH and the
  like are refused before they run, on any backend.

:func:`seal` works on any open connection, after whatever attaching the backend needs,
so the same limits hold for a DuckDB file and for a lake. A lake is opened on an
instance of its own (its extensions loaded from their installed files before the seal,
never installed), attached read-only, and only its data path stays readable; the
DuckLake functions that change a lake (:data:`LAKE_CHANGING_FUNCTIONS`) are refused too,
since some write Parquet files into the data path before the read-only commit fails.

A :class:`QuerySession` stops the query at its deadline (``timeout``) or when asked to
(Ctrl-C), and hands the result over in batches of rows, never whole.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from adoptwatch.storage.db import QueryError, read_session
from adoptwatch.storage.lake import Location, lake_data_path, locate


class QueryTimeout(QueryError):
    """The query ran past ``query_timeout`` and was stopped."""


class QueryCancelled(QueryError):
    """The query was stopped on request (Ctrl-C, SIGTERM)."""


@dataclass(frozen=True)
class QueryLimits:
    """What one query may spend. ``timeout``: seconds from the moment the database is
    open until the last row is handed over (0: no limit)."""

    timeout: float = 20.0
    memory_limit: str = "1GB"
    progress_bar: bool = False


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def seal(
    con: duckdb.DuckDBPyConnection, limits: QueryLimits, readable: Sequence[str | Path] = ()
) -> None:
    """Seal ``con`` for SQL a user typed (see the module's docstring). Call it after the
    backend has attached what it needs; nothing can be attached or read afterwards but
    ``readable`` (files or folders; empty: no file at all)."""
    statements = [
        f"SET memory_limit = {_literal(limits.memory_limit)}",
        "SET temp_directory = ''",
        f"SET enable_progress_bar = {str(limits.progress_bar).lower()}",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
    ]
    if readable:
        paths = [str(p) if "://" in str(p) else str(Path(p).resolve()) for p in readable]
        folders = [p for p in paths if "://" in p or Path(p).is_dir()]
        files = [p for p in paths if p not in folders]
        statements += [
            f"SET allowed_directories = [{', '.join(map(_literal, folders))}]",
            f"SET allowed_paths = [{', '.join(map(_literal, files))}]",
            "SET enable_external_access = false",
        ]
    else:
        # The database's own file stays readable through the handle DuckDB holds; a
        # new open of any local file (the database's included) is refused.
        statements += [
            "SET enable_external_access = false",
            "SET disabled_filesystems = 'LocalFileSystem'",
        ]
    statements.append("SET lock_configuration = true")
    for statement in statements:
        con.execute(statement)


# Statement kinds a query may hold: reads. Everything else (COPY, EXPORT, ATTACH, LOAD,
# SET, CREATE, INSERT ...) is refused before it runs, whatever the backend would allow:
# a lake's data path must stay readable, so the file system cannot be switched off there.
# (MULTI is what PIVOT becomes.)
READING_STATEMENTS = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.CALL,
        duckdb.StatementType.MULTI,
    }
)


# DuckLake's functions that change a lake or write into its data path (merging and
# rewriting write new Parquet files before the commit on a read-only attach fails).
# Reading ones (ducklake_snapshots, ducklake_table_changes ...) stay allowed.
LAKE_CHANGING_FUNCTIONS = frozenset(
    {
        "ducklake_add_data_files",
        "ducklake_cleanup_old_files",
        "ducklake_commit",
        "ducklake_delete_orphaned_files",
        "ducklake_expire_snapshots",
        "ducklake_flush_inlined_data",
        "ducklake_merge_adjacent_files",
        "ducklake_rewrite_data_files",
        "ducklake_set_commit_message",
        "ducklake_set_option",
    }
)
# Table functions that run SQL given as text, where a name could be spelled in pieces.
_SQL_FROM_TEXT = re.compile(r"\bquery(_table)?\s*\(", re.IGNORECASE)


def _lake_refusal(sql: str) -> str | None:
    """Why ``sql`` may not run over a lake, or None. Names are looked for with quotes,
    spaces, commas and ``||`` taken out, so a name in a string in pieces is found too."""
    flat = re.sub(r"[\s'\"|,]", "", sql.lower())
    named = sorted(name for name in LAKE_CHANGING_FUNCTIONS if name in flat)
    if named:
        return (
            f"adoptwatch query only reads: it does not run {', '.join(named)} (the lake's "
            "upkeep is `adoptwatch maintain`)"
        )
    if _SQL_FROM_TEXT.search(sql):
        return "adoptwatch query over a DuckLake does not run SQL given as text (query())"
    return None


@dataclass
class StreamedResult:
    """A result's column names, and its rows in batches as DuckDB produces them."""

    columns: list[str]
    batches: Iterator[list[tuple[Any, ...]]]


class QuerySession:
    """One sealed read-only connection with a deadline. :meth:`stop` may be called from
    another thread or a signal handler; the query then ends with :class:`QueryCancelled`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timeout: float, lake: bool = False) -> None:
        self._con = con
        self._timeout = timeout
        self._lake = lake
        self._reason: str | None = None
        self._timer: threading.Timer | None = None

    def _start_clock(self) -> None:
        if self._timeout > 0:
            self._timer = threading.Timer(self._timeout, self.stop, args=("timeout",))
            self._timer.daemon = True
            self._timer.start()

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def stop(self, reason: str = "cancelled") -> None:
        """Interrupt the running query (or the next fetch)."""
        if self._reason is None:
            self._reason = reason
        self._con.interrupt()

    def _error(self, exc: duckdb.Error) -> QueryError:
        if self._reason == "timeout":
            return QueryTimeout(
                f"the query was stopped after {self._timeout:g} s (query_timeout): add a "
                "LIMIT or a WHERE, or raise query_timeout (ADOPTWATCH_QUERY_TIMEOUT; 0 "
                "for no limit)"
            )
        if self._reason is not None or isinstance(exc, duckdb.InterruptException):
            return QueryCancelled("the query was stopped before it finished")
        if isinstance(exc, duckdb.OutOfMemoryException):
            return QueryError(
                "the query needs more memory than query_memory_limit allows (nothing "
                "spills to disk): add a LIMIT or a WHERE, or raise query_memory_limit "
                f"(ADOPTWATCH_QUERY_MEMORY_LIMIT). DuckDB said: {_first_line(exc)}"
            )
        if isinstance(exc, duckdb.InvalidInputException | duckdb.PermissionException) and (
            "read-only" in str(exc) or "disabled" in str(exc) or "locked" in str(exc)
        ):
            return QueryError(
                "adoptwatch query is read-only (no writes, no file access, no settings): "
                f"{_first_line(exc)}"
            )
        return QueryError(_first_line(exc))

    def stream(self, sql: str, batch_rows: int = 10_000) -> StreamedResult:
        """Run ``sql`` (reading statements only, see :data:`READING_STATEMENTS`); the last
        statement's rows come in batches of ``batch_rows`` as they are read, so a large
        result is never held whole. Errors are :class:`QueryError`."""
        try:
            kinds = [s.type for s in self._con.extract_statements(sql)]
        except duckdb.Error as exc:
            raise self._error(exc) from exc
        refused = sorted({k.name for k in kinds} - {k.name for k in READING_STATEMENTS})
        if refused:
            raise QueryError(
                "adoptwatch query is read-only: it runs SELECT (and EXPLAIN, PRAGMA, CALL) "
                f"statements, not {', '.join(refused)}"
            )
        refusal = _lake_refusal(sql) if self._lake else None
        if refusal:
            raise QueryError(refusal)
        try:
            cursor = self._con.execute(sql)
        except duckdb.Error as exc:
            raise self._error(exc) from exc
        if cursor.description is None:
            return StreamedResult([], iter(()))
        columns = [d[0] for d in cursor.description]

        def batches() -> Iterator[list[tuple[Any, ...]]]:
            while True:
                try:
                    rows = cursor.fetchmany(batch_rows)
                except duckdb.Error as exc:
                    raise self._error(exc) from exc
                if not rows:
                    return
                yield rows

        return StreamedResult(columns, batches())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def query_session(
    db: Path | str | Location,
    lock_timeout: float,
    limits: QueryLimits,
    readable: Sequence[str | Path] = (),
) -> Iterator[QuerySession]:
    """Open the event log read-only (a file: waiting while an ingest writes; a lake: on an
    instance of its own, its data path readable too), seal it (``readable``: see
    :func:`seal`), and start the query's clock; everything is closed on the way out."""
    location = db if isinstance(db, Location) else locate(db)
    with read_session(location, lock_timeout, private=True) as con:
        if location.is_lake:
            readable = [*readable, lake_data_path(con)]
        seal(con, limits, readable)
        session = QuerySession(con, limits.timeout, lake=location.is_lake)
        session._start_clock()
        try:
            yield session
        finally:
            session._stop_clock()
