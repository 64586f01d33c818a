"""Plain row types that cross into storage, and their Arrow conversion.

Storage knows nothing of feeds, HTTP or spaCy: callers build these rows and
storage writes them in bulk (one Arrow table per table per batch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import operator
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class SourceSpec:
    name: str
    url: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceState:
    name: str
    url: str
    enabled: bool
    etag: str | None
    last_modified: str | None
    consecutive_failures: int


@dataclass(frozen=True)
class SourceUpdate:
    """The outcome of one feed fetch, folded into the source's health."""

    name: str
    fetched_at: datetime
    status: int | None
    failed: bool
    etag: str | None = None
    last_modified: str | None = None
    error_class: str | None = None
    error: str | None = None
    # Forget the stored validators (the feed must be read in full next time).
    clear_validators: bool = False


@dataclass(frozen=True)
class FetchRow:
    fetch_id: str
    run_id: str | None
    fetched_at: datetime
    source: str | None
    kind: str
    url: str
    final_url: str | None
    status: int | None
    bytes: int
    duration_ms: float
    error_class: str | None
    error: str | None


@dataclass(frozen=True)
class ArticleRow:
    article_id: str
    canonical_url: str
    url: str
    source: str | None
    title: str | None
    published_at: datetime | None
    fetched_at: datetime
    content_hash: str
    text: str
    extraction_method: str | None
    extractor_version: str | None
    raw_html: bytes | None = field(default=None, repr=False)
    outlet: str | None = None
    story_cluster: str | None = None


@dataclass(frozen=True)
class EntryRow:
    source: str
    entry_key: str
    url: str
    title: str | None
    published_at: datetime | None
    first_seen_at: datetime
    status: str
    attempts: int
    last_error: str | None
    article_id: str | None


@dataclass(frozen=True)
class EventRow:
    event_id: str
    article_id: str
    article_url: str
    adopter: str
    adopter_named: bool
    model: str
    model_family: str
    vendor: str
    origin_country: str
    open_weights: bool | None
    relation: str
    switch_id: str | None
    confidence: float
    evidence: str
    published_at: datetime | None
    extracted_at: datetime
    extractor_version: str
    vendor_level: bool = False  # the vendor is named, no model; model_family is the vendor


@dataclass(frozen=True)
class MentionRow:
    article_id: str
    model_family: str
    model: str
    vendor: str
    origin_country: str
    open_weights: bool | None
    sentences: int
    published_at: datetime | None
    extractor_version: str


_ARROW_TYPES: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime: pa.timestamp("us"),
}


def _arrow_type(hint: Any) -> pa.DataType:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        return pa.list_(pa.string())
    return _ARROW_TYPES[hint]


@functools.cache
def arrow_schema(row_type: type) -> pa.Schema:
    hints = typing.get_type_hints(row_type)
    return pa.schema(
        [pa.field(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(row_type)]
    )


def to_arrow(row_type: type, rows: list[Any]) -> pa.Table:
    """Rows of one dataclass type as an Arrow table (column-wise, no per-row SQL).

    Values go to Arrow as they are, except tuples (lists) and aware datetimes (naive
    UTC): only the columns that can hold those pay for a per-value check.
    """
    schema = arrow_schema(row_type)
    if not rows:
        return schema.empty_table()
    # One C-level getter per row, then a transpose: about half the cost of one
    # getattr per value.
    columns = zip(*map(operator.attrgetter(*schema.names), rows), strict=True)
    arrays = []
    for f, values in zip(schema, columns, strict=True):
        if pa.types.is_list(f.type):
            values = tuple(list(v) if isinstance(v, tuple) else v for v in values)
        elif pa.types.is_timestamp(f.type):
            values = tuple(_naive_utc(v) for v in values)
        arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC
    return value


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[str]:
    """``table`` visible to SQL as ``name`` for the duration of the block."""
    con.register(name, table)
    try:
        yield name
    except BaseException:
        # In an aborted transaction unregister fails too; keep the original error.
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


@dataclass(frozen=True)
class StorySignatureRow:
    """An article's near-duplicate signature (``extractors.story_signatures``), as
    :mod:`adoptwatch.storage.clusters` stores and compares it."""

    article_id: str
    minhash: bytes
    band_hashes: tuple[int, ...]


def dict_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """A result's rows as column name -> value."""
    # Rows first: asking a fresh result for its description first makes DuckDB run
    # the conversion twice (measured: twice the time for a result of 16,000 rows).
    rows = cursor.fetchall()
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in rows]
