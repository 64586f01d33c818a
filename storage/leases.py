"""Source leases: several ingest runs writing one DuckLake divide the sources.

A run registers itself (a row with source NULL), then leases its fair share of the
sources no live run holds and nobody fetched since the runs overlapping it began: the free
ones divided by the live runs, or by the runs expected at once (``ingest_concurrency``)
when more, and claims again when it is done with them. Every write renews its rows; rows past
``expires_at``, or of a process gone from this host (``is_dead``), are deleted by the
next claim, so a killed run's sources come free. All of it runs in
:func:`~adoptwatch.storage.db.atomic` transactions, so two claims never overlap.
Exactly-once does not rest on this (see :mod:`adoptwatch.storage.store`): leases keep
two runs from fetching one source at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from adoptwatch.storage.db import atomic


@dataclass(frozen=True)
class Lease:
    run_id: str
    holder: str  # host:pid
    source: str | None  # None: the run itself
    expires_at: datetime


def _live_leases(
    con: duckdb.DuckDBPyConnection, now: datetime, is_dead: Callable[[str], bool]
) -> list[Lease]:
    """Leases still held; expired ones and those of dead processes are deleted."""
    leases = [
        Lease(*r)
        for r in con.execute(
            "SELECT run_id, holder, source, expires_at FROM ingest_leases"
        ).fetchall()
    ]
    gone = sorted({x.run_id for x in leases if x.expires_at <= now or is_dead(x.holder)})
    if gone:
        con.execute("DELETE FROM ingest_leases WHERE list_contains(?, run_id)", [gone])
    return [x for x in leases if x.run_id not in gone]


def register_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    holder: str,
    started_at: datetime,
    expires_at: datetime,
) -> None:
    """Open a run: its row in ``runs``, and its lease (other runs count it)."""

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "INSERT INTO runs (run_id, started_at, status) VALUES (?, ?, 'running')",
            [run_id, started_at],
        )
        con.execute(
            "INSERT INTO ingest_leases (run_id, holder, source, expires_at) VALUES (?, ?, NULL, ?)",
            [run_id, holder, expires_at],
        )

    atomic(con, work)


def close_abandoned_runs(
    con: duckdb.DuckDBPyConnection,
    closed_by: str,
    now: datetime,
    is_dead: Callable[[str], bool],
    sole_writer: bool,
) -> list[tuple[str, datetime]]:
    """Close, as interrupted, the runs still open whose process is gone (killed), and
    delete their leases. ``sole_writer``: the caller holds the ingest lock (a file, a
    SQLite-catalog lake), so every open run is gone; otherwise (several writers) a run
    is gone when it holds no live lease: its lease lapsed, or its process on this host
    died. A run's end is its last trace (its last fetch, or its start). Returns
    (run_id, started_at) of each."""

    def work(con: duckdb.DuckDBPyConnection) -> list[tuple[str, datetime]]:
        open_runs = con.execute(
            "SELECT run_id, started_at FROM runs WHERE finished_at IS NULL"
        ).fetchall()
        if not sole_writer:
            live = {x.run_id for x in _live_leases(con, now, is_dead)}
            open_runs = [r for r in open_runs if r[0] not in live]
        gone = sorted(r[0] for r in open_runs)
        if gone:
            con.execute(
                """
                UPDATE runs SET
                    status = 'interrupted',
                    finished_at = greatest(
                        started_at,
                        (SELECT max(f.fetched_at) FROM fetch_log f
                         WHERE f.run_id = runs.run_id)),
                    summary = json_object(
                        'interrupted', 'the process ended without closing its run (killed?)',
                        'closed_by_run', ?::VARCHAR)
                WHERE list_contains(?, run_id)
                """,
                [closed_by, gone],
            )
            con.execute("DELETE FROM ingest_leases WHERE list_contains(?, run_id)", [gone])
        return sorted((r[0], r[1]) for r in open_runs)

    return list(atomic(con, work))


def claim_sources(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    holder: str,
    candidates: Sequence[str],
    now: datetime,
    expires_at: datetime,
    is_dead: Callable[[str], bool],
    expected_runs: int = 1,
) -> list[str]:
    """Lease this run's fair share of ``candidates`` (in their order): the sources no
    live run holds and nobody fetched since the runs overlapping this one began (runs
    that overlap in time crawl each source once between them), divided by the live runs,
    or by ``expected_runs`` when more (runs that start a little later still find work)."""

    def work(con: duckdb.DuckDBPyConnection) -> list[str]:
        live = _live_leases(con, now, is_dead)
        held = {x.source for x in live if x.source is not None}
        began = _round_began(con, sorted({x.run_id for x in live} | {run_id}), now)
        fetched = {
            r[0]
            for r in con.execute(
                "SELECT name FROM sources WHERE last_fetched_at >= ?", [began]
            ).fetchall()
        }
        free = [c for c in candidates if c not in held and c not in fetched]
        runs = max(len({x.run_id for x in live} | {run_id}), expected_runs)
        share = free[: -(-len(free) // runs)] if free else []
        if share:
            con.executemany(
                "INSERT INTO ingest_leases (run_id, holder, source, expires_at) "
                "VALUES (?, ?, ?, ?)",
                [[run_id, holder, name, expires_at] for name in share],
            )
        return share

    return list(atomic(con, work))


def _round_began(con: duckdb.DuckDBPyConnection, live: list[str], now: datetime) -> datetime:
    """When the runs overlapping this one, directly or through each other, began: the
    live runs, and every run that ended after the earliest of them began, and so on."""
    began = now
    while True:
        earlier = con.execute(
            "SELECT min(started_at) FROM runs WHERE list_contains(?, run_id) OR finished_at >= ?",
            [live, began],
        ).fetchall()[0][0]
        if earlier is None or earlier >= began:
            return began
        began = earlier


def renew_leases(con: duckdb.DuckDBPyConnection, run_id: str, expires_at: datetime) -> None:
    """Hold this run's leases until ``expires_at`` (inside the caller's transaction)."""
    con.execute("UPDATE ingest_leases SET expires_at = ? WHERE run_id = ?", [expires_at, run_id])


def release_sources(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Give back every source this run holds (it keeps its own lease)."""
    atomic(
        con,
        lambda c: c.execute(
            "DELETE FROM ingest_leases WHERE run_id = ? AND source IS NOT NULL", [run_id]
        ),
    )
