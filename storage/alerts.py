"""Every SQL statement of watchlists and alerts (migration 10): the watches, the alert
outbox filled in the transaction that refreshes the facts, and the delivery log.

Exactly once, on a DuckDB file and on a DuckLake (no keys there): a watch's id hashes
its kind and value, an alert's id hashes its watch, the fact's key, its status and
``status_since`` (:func:`alert_id`); every insert is an anti-join on that id inside
:func:`~adoptwatch.storage.db.atomic` (or inside the caller's transaction, for
:func:`queue_alerts`), whose ``write_fence`` makes overlapping lake writers take turns.
Delivery claims its alerts first (:func:`claim_alerts`), so two runs finishing at once
never send one alert twice.

When a fact change makes an alert (:func:`queue_alerts`): the fact matches a watch
(:data:`_MATCHES`, the one place that says what "matches" means, used by the digest's
watchlist section too) with at least the watch's ``min_outlets``, and it is new, or its
status changed, or the watch has never alerted on this fact in this status: a fact the
write gave more reports (``events``) that reaches ``min_outlets`` only now is told once,
then. More reports of a fact already alerted in its status make no alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from adoptwatch.storage.db import atomic
from adoptwatch.storage.facts import FactChange
from adoptwatch.storage.records import dict_rows
from adoptwatch.storage.records import registered as _registered

WATCH_KINDS = ("company", "model", "vendor", "origin")

# Which fact column each kind of watch compares with its value.
_WATCH_COLUMN = {
    "company": "adopter",
    "model": "model_family",
    "vendor": "vendor",
    "origin": "origin_country",
}

# A fact ``f`` matches a watch ``w``: its column for the watch's kind holds the watch's
# value, and independent outlets reached the watch's threshold.
_MATCHES = (
    "("
    + " OR ".join(
        f"(w.kind = '{kind}' AND f.{col} = w.value)" for kind, col in _WATCH_COLUMN.items()
    )
    + ") AND f.outlets >= w.min_outlets"
)

# The alert columns copied from a fact (adoption_facts, migration 8).
_FACT_COLUMNS = (
    "adopter",
    "model_family",
    "vendor_level",
    "vendor",
    "origin_country",
    "status",
    "status_since",
    "replaced_by",
    "articles",
    "outlets",
    "evidence",
    "evidence_url",
)

_FACT_SCHEMA = pa.schema(
    [
        ("adopter", pa.string()),
        ("model_family", pa.string()),
        ("vendor_level", pa.bool_()),
        ("vendor", pa.string()),
        ("origin_country", pa.string()),
        ("status", pa.string()),
        ("status_since", pa.timestamp("us")),
        ("replaced_by", pa.string()),
        ("articles", pa.int32()),
        ("outlets", pa.int32()),
        ("evidence", pa.string()),
        ("evidence_url", pa.string()),
        ("previous_status", pa.string()),
    ]
)


def _digest(*parts: Any) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def watch_id(kind: str, value: str) -> str:
    """A watch's id: the same target is one watch (12 hex digits: short to type)."""
    return _digest("watch", kind, value)[:12]


def alert_id(
    watch: str,
    adopter: str,
    model_family: str,
    vendor_level: bool,
    status: str,
    status_since: datetime,
) -> str:
    """An alert's id: one per watch, fact and status change, whoever writes it."""
    return _digest(
        "alert", watch, adopter, model_family, vendor_level, status, status_since.isoformat()
    )


# --- watches --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    watch_id: str
    kind: str
    value: str
    min_outlets: int
    created_at: datetime

    def describe(self) -> str:
        return f"{self.kind} {self.value}"


def add_watch(
    con: duckdb.DuckDBPyConnection, kind: str, value: str, min_outlets: int, now: datetime
) -> tuple[Watch, bool]:
    """Add a watch, or set the threshold of the same one; returns it and whether it is new."""
    if kind not in WATCH_KINDS:
        raise ValueError(f"unknown watch kind {kind!r}")
    wid = watch_id(kind, value)

    def work(con: duckdb.DuckDBPyConnection) -> bool:
        stored = con.execute("SELECT count(*) FROM watches WHERE watch_id = ?", [wid]).fetchall()
        if stored[0][0]:
            con.execute("UPDATE watches SET min_outlets = ? WHERE watch_id = ?", [min_outlets, wid])
            return False
        con.execute(
            "INSERT INTO watches (watch_id, kind, value, min_outlets, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [wid, kind, value, min_outlets, now],
        )
        return True

    new = atomic(con, work)
    (watch,) = [w for w in list_watches(con) if w.watch_id == wid]
    return watch, bool(new)


def list_watches(con: duckdb.DuckDBPyConnection) -> list[Watch]:
    rows = con.execute(
        "SELECT watch_id, kind, value, min_outlets, created_at FROM watches "
        "ORDER BY created_at, watch_id"
    ).fetchall()
    return [Watch(*r) for r in rows]


def remove_watch(con: duckdb.DuckDBPyConnection, wid: str) -> Watch | None:
    """Remove a watch by id (or a prefix of it naming one watch); returns what was removed.
    Its alerts stay in the log."""
    wid = wid.strip().lower()

    def work(con: duckdb.DuckDBPyConnection) -> Watch | None:
        rows = con.execute(
            "SELECT watch_id, kind, value, min_outlets, created_at FROM watches "
            "WHERE starts_with(watch_id, ?)",
            [wid],
        ).fetchall()
        if len(rows) != 1 or not wid:
            return None
        con.execute("DELETE FROM watches WHERE watch_id = ?", [rows[0][0]])
        return Watch(*rows[0])

    result: Watch | None = atomic(con, work)
    return result


# --- the outbox ------------------------------------------------------------------------------


def _changes_table(changes: Sequence[FactChange]) -> pa.Table:
    rows = [
        {
            **{c: change.fact.get(c) for c in _FACT_COLUMNS},
            "previous_status": change.previous_status,
        }
        for change in changes
    ]
    return pa.Table.from_pylist(rows, schema=_FACT_SCHEMA)


def _corroborated(con: duckdb.DuckDBPyConnection, events: pa.Table) -> pa.Table:
    """The stored facts of ``events``' keys, as changes to their own status: what a
    watch's ``min_outlets`` may have been waiting for."""
    keys = events.select(["adopter", "model_family", "vendor_level"])
    with _registered(con, "_touched_events", keys) as touched:
        return (
            con.execute(
                f"""
                SELECT {", ".join(f"f.{c}" for c in _FACT_COLUMNS)}, f.status AS previous_status
                FROM adoption_facts f SEMI JOIN (
                    SELECT DISTINCT adopter, model_family,
                           coalesce(vendor_level, false) AS vendor_level
                    FROM {touched}) k
                ON f.adopter = k.adopter AND f.model_family = k.model_family
                   AND f.vendor_level = k.vendor_level
                """
            )
            .to_arrow_table()
            .cast(_FACT_SCHEMA)
        )


def queue_alerts(
    con: duckdb.DuckDBPyConnection,
    changes: Sequence[FactChange],
    events: pa.Table | None = None,
    now: datetime | None = None,
) -> int:
    """Record a pending alert for each watch each fact change calls for (see the module's
    docstring); returns how many were new. ``events``: the events the write added or
    replaced (Arrow, with adopter, model_family, vendor_level), whose facts may have
    reached a watch's ``min_outlets`` without changing status. Runs inside the caller's
    transaction (the one that refreshed the facts), so the alerts commit with the facts
    or not at all."""
    touched = events is not None and events.num_rows > 0
    if not (changes or touched):
        return 0
    if not con.execute("SELECT count(*) FROM watches").fetchall()[0][0]:
        return 0
    facts = _changes_table(changes)
    if touched:
        assert events is not None
        # A fact this write changed is alerted as the change it is (new, or from which
        # status), not as merely corroborated: both would have one alert id.
        changed = {c.key for c in changes}
        corroborated = _corroborated(con, events)
        unchanged = [
            (a, f, bool(v)) not in changed
            for a, f, v in zip(
                corroborated.column("adopter").to_pylist(),
                corroborated.column("model_family").to_pylist(),
                corroborated.column("vendor_level").to_pylist(),
                strict=True,
            )
        ]
        facts = pa.concat_tables([facts, corroborated.filter(pa.array(unchanged, pa.bool_()))])
    with _registered(con, "_fact_changes", facts) as changed:
        candidates = con.execute(
            f"""
            SELECT w.watch_id, f.*
            FROM {changed} f JOIN watches w ON {_MATCHES}
            WHERE f.previous_status IS NULL OR f.previous_status <> f.status
               OR NOT EXISTS (
                   SELECT 1 FROM alerts a
                   WHERE a.watch_id = w.watch_id AND a.adopter = f.adopter
                     AND a.model_family = f.model_family AND a.vendor_level = f.vendor_level
                     AND a.status = f.status)
            """
        ).to_arrow_table()
    if not candidates.num_rows:
        return 0
    ids = [
        alert_id(
            r["watch_id"],
            r["adopter"],
            r["model_family"],
            r["vendor_level"],
            r["status"],
            r["status_since"],
        )
        for r in candidates.to_pylist()
    ]
    rows = candidates.append_column("alert_id", pa.array(ids, pa.string()))
    columns = ", ".join(("alert_id", "watch_id", *_FACT_COLUMNS, "previous_status"))
    with _registered(con, "_new_alerts", rows) as new:
        before = con.execute("SELECT count(*) FROM alerts").fetchall()[0][0]
        con.execute(
            f"""
            INSERT INTO alerts ({columns}, created_at, delivery, attempts)
            SELECT DISTINCT ON (alert_id) {columns}, ?::TIMESTAMP, 'pending', 0
            FROM {new} n
            WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = n.alert_id)
            ORDER BY alert_id, previous_status NULLS FIRST
            """,
            [now or datetime.now(UTC).replace(tzinfo=None)],
        )
        after = con.execute("SELECT count(*) FROM alerts").fetchall()[0][0]
    return int(after - before)


# --- delivery --------------------------------------------------------------------------------

_ALERT_COLUMNS = (
    "a.alert_id, a.watch_id, w.kind AS watch_kind, w.value AS watch_value, "
    "w.min_outlets, a.adopter, a.model_family, a.vendor_level, a.vendor, a.origin_country, "
    "a.status, a.previous_status, a.status_since, a.replaced_by, a.articles, a.outlets, "
    "a.evidence, a.evidence_url, a.created_at, a.delivery, a.delivered_via, a.attempts, "
    "a.last_attempt_at, a.sent_at, a.last_error"
)


def claim_alerts(
    con: duckdb.DuckDBPyConnection,
    claimant: str,
    max_attempts: int,
    now: datetime,
    stale_before: datetime,
) -> list[dict[str, Any]]:
    """Take the alerts due for delivery (pending, or failed fewer than ``max_attempts``
    times, or claimed before ``stale_before`` by a run that died) for ``claimant``; in
    one transaction, so that of two runs claiming at once each alert goes to one."""

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            """
            UPDATE alerts SET delivery = 'sending:' || ?, last_attempt_at = ?
            WHERE (delivery IN ('pending', 'failed') AND attempts < ?)
               OR (starts_with(delivery, 'sending:') AND last_attempt_at < ?)
            """,
            [claimant, now, max_attempts, stale_before],
        )

    atomic(con, work)
    return dict_rows(
        con.execute(
            f"""
            SELECT {_ALERT_COLUMNS} FROM alerts a LEFT JOIN watches w USING (watch_id)
            WHERE a.delivery = 'sending:' || ?
            ORDER BY a.created_at, a.adopter, a.model_family, a.watch_id
            """,
            [claimant],
        )
    )


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one claimed alert."""

    alert_id: str
    delivery: str  # sent | failed | no-channel
    delivered_via: tuple[str, ...]  # every channel done so far
    error: str | None = None


def record_deliveries(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[DeliveryOutcome], now: datetime
) -> None:
    """Write what became of claimed alerts: one more attempt each, and the channels done."""
    if not outcomes:
        return
    table = pa.table(
        {
            "alert_id": [o.alert_id for o in outcomes],
            "delivery": [o.delivery for o in outcomes],
            "delivered_via": [",".join(o.delivered_via) or None for o in outcomes],
            "error": pa.array([o.error for o in outcomes], pa.string()),
        }
    )

    def work(con: duckdb.DuckDBPyConnection) -> None:
        with _registered(con, "_alert_outcomes", table) as done:
            con.execute(
                f"""
                UPDATE alerts SET delivery = o.delivery, delivered_via = o.delivered_via,
                       attempts = alerts.attempts + 1, last_attempt_at = $now,
                       sent_at = CASE WHEN o.delivery = 'sent' THEN $now END,
                       last_error = o.error
                FROM {done} o WHERE alerts.alert_id = o.alert_id
                """,
                {"now": now},
            )

    atomic(con, work)


def list_alerts(
    con: duckdb.DuckDBPyConnection, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Alerts (with their watch), oldest first; ``since``: created at or after."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_ALERT_COLUMNS} FROM alerts a LEFT JOIN watches w USING (watch_id)
            WHERE $since IS NULL OR a.created_at >= $since
            ORDER BY a.created_at, a.adopter, a.model_family, a.watch_id
            """,
            {"since": since},
        )
    )


# --- the digest's watchlist section --------------------------------------------------------


def has_watches(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any watch exists (False on a database older than migration 10, which a
    read-only session does not migrate)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE table_name = 'watches' AND database_name = current_database()"
    ).fetchall()[0][0]
    return bool(exists) and bool(con.execute("SELECT count(*) FROM watches").fetchall()[0][0])


def watchlist_facts(
    con: duckdb.DuckDBPyConnection, start: datetime, stop: datetime
) -> list[dict[str, Any]]:
    """Facts matching a watch whose status was reported in [start, stop) (naive UTC),
    one row per fact with the watches it matches, newest change first."""
    return dict_rows(
        con.execute(
            f"""
            SELECT f.adopter, f.model_family, f.vendor_level, f.vendor, f.origin_country,
                   f.open_weights, f.status, f.status_since, f.first_reported, f.dropped_at,
                   f.replaced_by, f.articles, f.outlets, f.evidence, f.evidence_url,
                   list(DISTINCT w.kind || ' ' || w.value ORDER BY w.kind || ' ' || w.value)
                       AS watches
            FROM adoption_facts f JOIN watches w ON {_MATCHES}
            WHERE f.status_since >= $start AND f.status_since < $stop
            GROUP BY ALL
            ORDER BY f.status_since DESC, f.adopter, f.model_family
            """,
            {"start": start, "stop": stop},
        )
    )
