"""Watchlists: a name a user typed, resolved through extraction's alias tables
(``extractors.names``), kept as a watch (``storage.alerts``)."""

from __future__ import annotations

from adoptwatch.extractors import names
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.settings import Settings
from adoptwatch.storage import alerts as alerts_sql
from adoptwatch.storage.alerts import Watch
from adoptwatch.storage.db import write_session
from adoptwatch.storage.facts import known_adopters


def resolve(kind: str, name: str, stored_adopters: list[str] | None = None) -> str:
    """The value a watch of ``kind`` stores for ``name`` (raises ``UnknownName``)."""
    if kind == "company":
        return names.resolve_company(name, stored_adopters or [])
    if kind == "model":
        return names.resolve_model_family(name)
    if kind == "vendor":
        return names.resolve_vendor(name)
    if kind == "origin":
        return names.resolve_origin(name)
    raise ValueError(f"unknown watch kind {kind!r}")


def add_watch(settings: Settings, kind: str, name: str, min_outlets: int = 1) -> tuple[Watch, bool]:
    """Resolve ``name`` and add the watch (or set its threshold); returns it and whether
    it is new."""
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        stored = known_adopters(con) if kind == "company" else []
        value = resolve(kind, name, stored)
        return alerts_sql.add_watch(con, kind, value, min_outlets, utcnow())


def list_watches(settings: Settings) -> list[Watch]:
    # A write session: it brings an older database up to the schema that has watches.
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        return alerts_sql.list_watches(con)


def remove_watch(settings: Settings, watch_id: str) -> Watch | None:
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        return alerts_sql.remove_watch(con, watch_id)
