"""What ``adoptwatch query`` prints: rows streamed as CSV or JSON, or a table of at most
``query_max_rows`` rows, with every value's control characters defused for the terminal.

The SQL runs in the sandbox of :mod:`adoptwatch.storage.sandbox` (read-only, no files,
bounded memory, a deadline); Ctrl-C and SIGTERM stop the query, not the process.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from adoptwatch.plain_text import escape_controls
from adoptwatch.settings import Settings
from adoptwatch.signals import handling
from adoptwatch.storage.sandbox import QueryLimits, StreamedResult, query_session

FORMATS = ("table", "csv", "json")


def json_value(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: dates, decimals, bytes, the rest as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def csv_chunks(result: StreamedResult) -> Iterator[tuple[str, int]]:
    """The CSV text a batch at a time, with the number of rows in it: the header row
    first (0 rows), then every batch of rows as it comes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(result.columns)
    yield taken(), 0
    for rows in result.batches:
        writer.writerows(rows)
        yield taken(), len(rows)


def write_csv(result: StreamedResult, out: TextIO) -> int:
    """A header row, then every row as it comes; returns the number of rows."""
    count = 0
    for text, rows in csv_chunks(result):
        out.write(text)
        count += rows
    return count


def write_json(result: StreamedResult, out: TextIO) -> int:
    """A JSON list of row objects, written a row at a time; the text is the same as
    ``json.dumps(rows, indent=1)``. Returns the number of rows."""
    if len(set(result.columns)) < len(result.columns):  # a dict keeps one of each name
        encode = functools.partial(_json, indent=1)
        row_text: Callable[[Sequence[Any]], str] = lambda row: encode(  # noqa: E731
            dict(zip(result.columns, row, strict=True))
        ).replace("\n", "\n ")
    else:
        keys = [json.dumps(c, ensure_ascii=False) for c in result.columns]
        row_text = functools.partial(_row_object, keys)
    count = 0
    for rows in result.batches:
        for row in rows:
            out.write(("[\n " if count == 0 else ",\n ") + row_text(row))
            count += 1
    out.write("[]\n" if count == 0 else "\n]\n")
    return count


_ENCODER = json.JSONEncoder(default=json_value, ensure_ascii=False)


def _json(value: Any, indent: int | None = None) -> str:
    # The common values written directly, as json writes them: a call of the encoder
    # costs microseconds, and exports run to millions of rows.
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    if indent is None:
        return _ENCODER.encode(value)
    return json.dumps(value, default=json_value, ensure_ascii=False, indent=indent)


def _row_object(keys: Sequence[str], row: Sequence[Any]) -> str:
    # One row object as json.dumps(..., indent=1) writes it inside a list, built from the
    # C encoder's plain values (the indenting encoder is pure Python, ten times slower).
    members = []
    for key, value in zip(keys, row, strict=True):
        if isinstance(value, list | tuple | dict):
            text = _json(value, indent=1).replace("\n", "\n  ")
        else:
            text = _json(value)
        members.append(f"  {key}: {text}")
    return "{\n" + ",\n".join(members) + "\n }"


def cell(value: Any) -> Text:
    """A value as table text: never markup, never a terminal escape."""
    return Text("" if value is None else escape_controls(str(value)))


def result_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(cell(column), overflow="fold")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    return table


def first_rows(result: StreamedResult, limit: int) -> tuple[list[tuple[Any, ...]], bool]:
    """Up to ``limit`` rows, and whether there were more (the rest is never read)."""
    kept: list[tuple[Any, ...]] = []
    for rows in result.batches:
        kept.extend(rows)
        if len(kept) > limit:
            return kept[:limit], True
    return kept, False


def print_query(
    settings: Settings,
    sql: str,
    fmt: str,
    out: TextIO | None = None,
    err: Console | None = None,
) -> None:
    """Run ``sql`` in the sandbox and print its result in ``fmt``. Errors are
    ``QueryError``s: ``QueryTimeout`` at the deadline, ``QueryCancelled`` on a signal."""
    out = out or sys.stdout
    err = err or Console(stderr=True)
    limits = QueryLimits(
        timeout=settings.query_timeout,
        memory_limit=settings.query_memory_limit,
        # DuckDB draws its bar on stdout: only where a person watches a table.
        progress_bar=fmt == "table" and out.isatty(),
    )
    with (
        query_session(settings.db, settings.db_lock_timeout, limits) as session,
        # Ctrl-C and SIGTERM interrupt the query instead of the process.
        handling(lambda signum, frame: session.stop("cancelled")),
    ):
        result = session.stream(sql)
        if fmt == "csv":
            write_csv(result, out)
        elif fmt == "json":
            write_json(result, out)
        else:
            rows, more = first_rows(result, settings.query_max_rows)
            Console(file=out).print(result_table(result.columns, rows))
            if more:
                err.print(
                    f"showing the first {len(rows)} rows (query_max_rows); add a LIMIT, "
                    "or use --format csv or json for every row",
                    style="dim",
                    highlight=False,
                )
            else:
                err.print(f"{len(rows)} row(s)", style="dim")
    out.flush()
