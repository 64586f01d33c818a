"""Where the event log lives: a DuckDB file, or a DuckLake (SQLite or PostgreSQL catalog).

The ``db`` setting is either a file path (the embedded default) or a DuckLake URL in
DuckDB's own syntax, ``ducklake:sqlite:PATH`` or ``ducklake:postgres:CONNINFO``; the
lake's Parquet files go to ``lake_data_path``. :func:`locate` reads the two into a
:class:`Location`, and :func:`connect_lake` opens a DuckDB connection with the lake
attached as the default catalog, so every statement in ``storage/`` runs unchanged on
both backends.

The DuckLake, SQLite and PostgreSQL extensions are loaded from the files their PyPI
packages install (``duckdb-extension-ducklake`` ...), built for exactly this DuckDB
version; nothing is installed or downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from adoptwatch.errors import AdoptwatchError

LAKE_PREFIX = "ducklake:"
# The name the lake is attached under; USE makes it the default, so SQL names tables
# without a catalog.
LAKE_ALIAS = "lake"

# Extension name -> the PyPI package (import name) that ships its file.
_EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    # Only benchmarks.web, measuring an FTS index over evidence (a dev dependency).
    "fts": "duckdb_extension_fts",
}
_CATALOG_EXTENSION = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}

# No extension is ever fetched or loaded behind our back.
OFFLINE_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class LakeError(AdoptwatchError):
    """A DuckLake URL, data path or extension is wrong or missing, or the lake cannot be
    attached (the message says what to do)."""


@dataclass(frozen=True)
class Location:
    """Where an event log lives."""

    kind: Literal["file", "sqlite", "postgres"]
    # The file path (file), the catalog file (sqlite) or the libpq conninfo (postgres).
    target: str
    # Where a lake keeps its Parquet files ("" for a file; for an existing lake, "" means
    # the path stored in its catalog).
    data_path: str = ""

    @property
    def is_lake(self) -> bool:
        return self.kind != "file"

    @property
    def url(self) -> str:
        """The ``db`` value this location was read from."""
        return self.target if self.kind == "file" else f"{LAKE_PREFIX}{self.kind}:{self.target}"

    @property
    def path(self) -> Path:
        """The file on this machine: the database (file) or the catalog (sqlite)."""
        if self.kind == "postgres":
            raise LakeError("a PostgreSQL catalog has no local file")
        return Path(self.target)

    @property
    def multi_writer(self) -> bool:
        """Whether several processes may write at once (see README: concurrent writers)."""
        return self.kind == "postgres"

    def describe(self) -> str:
        if self.kind == "postgres":
            # A conninfo may hold a password: name the parts that are safe to print.
            fields = _conninfo_fields(self.target)
            shown = " ".join(f"{k}={v}" for k, v in fields.items() if k != "password")
            return f"{LAKE_PREFIX}postgres:{shown}"
        return self.url


def _conninfo_fields(conninfo: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in conninfo.split():
        key, sep, value = part.partition("=")
        if sep:
            fields[key] = value
    return fields


def locate(db: str | Path, data_path: str = "") -> Location:
    """Read the ``db`` and ``lake_data_path`` settings into a :class:`Location`."""
    text = str(db).strip()
    if not text:
        raise LakeError("db is empty: give a DuckDB file path or a ducklake: URL")
    if not text.startswith(LAKE_PREFIX):
        return Location("file", text)
    rest = text[len(LAKE_PREFIX) :]
    kind, sep, target = rest.partition(":")
    if not sep or kind not in _CATALOG_EXTENSION or not target.strip():
        raise LakeError(
            f"{text!r} is not a DuckLake URL adoptwatch can open: use "
            "ducklake:sqlite:PATH (one machine) or "
            "ducklake:postgres:dbname=... host=... port=... user=... (many machines)"
        )
    return Location(kind, target.strip(), str(data_path).strip())  # type: ignore[arg-type]


def extension_file(name: str) -> Path:
    """The installed file of a DuckDB extension shipped as a PyPI package."""
    package = _EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    version = duckdb.__version__
    if spec is None or not spec.submodule_search_locations:
        raise LakeError(
            f"the DuckDB extension {name} is not installed: it comes from the PyPI package "
            f"{package.replace('_', '-')}=={version}; run `make install`"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in (root / "extensions").glob("v*"))
        raise LakeError(
            f"{package.replace('_', '-')} has no build for DuckDB {version} (it has "
            f"{', '.join(found) or 'none'}): DuckDB and its extension packages must be the "
            "same version; run `make install`"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, location: Location) -> None:
    for name in ("ducklake", _CATALOG_EXTENSION[location.kind]):
        con.execute(f"LOAD '{extension_file(name)}'")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _prepare_sqlite_catalog(path: Path) -> None:
    """A SQLite catalog in WAL mode: readers then never block the writer's commit (in the
    default rollback-journal mode a reader's open transaction does, for as long as it
    lasts). The mode is stored in the file, so this is done once, before DuckLake first
    opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as catalog:
        catalog.execute("PRAGMA journal_mode=WAL")
    catalog.close()


# One DuckDB instance per lake and mode in a process, its extensions loaded and the lake
# attached once: loading an extension checks its signature over the whole file (about
# 0.13 s each), too slow to pay per session. Sessions are cursors of it, each its own
# connection with its own transactions, seeing the lake's newest snapshot when it starts.
_instances: dict[tuple[Location, bool], duckdb.DuckDBPyConnection] = {}
_instances_lock = threading.Lock()
# Lakes this process brought to the newest schema (storage.db.write_session): a lake's
# schema only moves forward, so later sessions need not ask the catalog again.
migrated_lakes: set[Location] = set()


def connect_lake(
    location: Location, read_only: bool, private: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached as the default catalog; close it after use.

    ``private``: an instance of its own, whose settings may be changed and locked (the
    sandbox of ``adoptwatch query``, :func:`adoptwatch.storage.sandbox.seal`, which
    shuts off the file access the attach itself needs); otherwise the connection is a
    cursor of the process's shared instance.
    """
    if private:
        return _open(location, read_only)
    key = (location, read_only)
    with _instances_lock:
        instance = _instances.get(key)
        if instance is None:
            instance = _instances[key] = _open(location, read_only)
    cursor = instance.cursor()
    cursor.execute(f"USE {LAKE_ALIAS}")
    return cursor


def lake_data_path(con: duckdb.DuckDBPyConnection) -> str:
    """The data path of the lake attached on ``con`` (as its catalog stores it)."""
    rows = con.execute(
        f"SELECT value FROM __ducklake_metadata_{LAKE_ALIAS}.ducklake_metadata "
        "WHERE key = 'data_path'"
    ).fetchall()
    if not rows:
        raise LakeError("the lake's catalog names no data path")
    return str(rows[0][0])


def close_lakes() -> None:
    """Close the shared instances (tests; a process exiting closes them anyway)."""
    with _instances_lock:
        for instance in _instances.values():
            instance.close()
        _instances.clear()
        migrated_lakes.clear()


def _open(location: Location, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=OFFLINE_CONFIG)
    try:
        load_extensions(con, location)
        data_path = location.data_path
        if location.kind == "sqlite":
            catalog = location.path
            if read_only and not catalog.exists():
                raise LakeError(f"no DuckLake catalog at {catalog}")
            if not read_only and not catalog.exists():
                _prepare_sqlite_catalog(catalog)
                # A new lake's files go beside its catalog unless lake_data_path says
                # otherwise; an existing lake knows its data path.
                data_path = data_path or f"{catalog}.files/"
        if data_path and not read_only and "://" not in data_path:
            Path(data_path).mkdir(parents=True, exist_ok=True)
        options = ["READ_ONLY"] if read_only else []
        if data_path and not read_only:
            options.append(f"DATA_PATH {_quote(data_path)}")
        opts = f" ({', '.join(options)})" if options else ""
        try:
            con.execute(f"ATTACH {_quote(location.url)} AS {LAKE_ALIAS}{opts}")
        except duckdb.Error as exc:
            raise LakeError(_attach_hint(location, exc)) from exc
        con.execute(f"USE {LAKE_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def _attach_hint(location: Location, exc: duckdb.Error) -> str:
    text = str(exc).strip().splitlines()[0]
    where = location.describe()
    if "data_path is not set" in text:
        return (
            f"{where} is a new DuckLake and needs a place for its Parquet files: set "
            "lake_data_path (--lake-data-path, ADOPTWATCH_LAKE_DATA_PATH) to a directory "
            "every writer can reach"
        )
    if location.kind == "postgres":
        return (
            f"cannot attach {where}: {text}. Check that the PostgreSQL server runs, that the "
            "database exists (createdb NAME) and that the conninfo (dbname host port user) "
            "is right"
        )
    return f"cannot attach {where}: {text}"
