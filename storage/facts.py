"""Adoption facts: what the event log says about each (adopter, model family,
vendor-level or not) as a whole, kept in ``adoption_facts`` (migration 8).

An analyst wants one row saying "Airbnb has used Qwen since March, reported by three
independent outlets", not forty events. The facts are kept at write time: every
transaction that writes or replaces events recomputes the facts of the keys it touched
(:func:`refresh_facts`), so the table is always what :func:`rebuild_facts` would
compute from the whole log (:func:`facts_drift` checks that). docs/glossary.md defines
every column; the rules, each written once, in the SQL below:

- **status** comes from the latest relation in time (``coalesce(published_at,
  extracted_at)``): adopts → ``current``, drops → ``dropped``, evaluates →
  ``evaluating``. Relations reported at the same moment rank adopts, drops, evaluates
  ("dropped GPT-4 for GPT-4o" is one family, dropped and adopted: still current).
- **status_since**: the first report of the latest relation after the last report of
  any other one (the start of the current run), so more reports of the same status
  do not move it; **dropped_at** is it when the status is ``dropped``.
- **replaced_by**: the family adopted in the switch (``switch_id``) of a drop in the
  current run.
- **articles** counts articles; **outlets** counts independent publishers: the outlet
  of the first article of each story cluster (articles.story_cluster), so a wire
  story copied by fifty sites counts once (an article not clustered yet counts as its
  own outlet, or as itself without one).
- **confidence** combines the current run's claims as independent evidence, one per
  story cluster (its most confident claim): ``1 - prod(1 - c)`` (noisy-OR). One
  claim of 0.8 gives 0.8; two stories of 0.8 give 0.96; copies of one story add
  nothing.
- **evidence**: the current run's most confident claim (latest first on ties), with
  its article's URL and time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from adoptwatch.storage.records import registered

# (adopter, model_family, vendor_level)
FactKey = tuple[str, str, bool]

FACT_COLUMNS = (
    "adopter",
    "model_family",
    "vendor_level",
    "vendor",
    "origin_country",
    "open_weights",
    "adopter_named",
    "status",
    "status_since",
    "first_reported",
    "last_reported",
    "dropped_at",
    "replaced_by",
    "articles",
    "outlets",
    "confidence",
    "evidence",
    "evidence_url",
    "evidence_at",
    "refreshed_at",
)

STATUS_OF_RELATION = {"adopts": "current", "drops": "dropped", "evaluates": "evaluating"}


@dataclass(frozen=True)
class FactChange:
    """A fact that is new (``previous_status`` None) or whose status changed."""

    fact: dict[str, Any]
    previous_status: str | None

    @property
    def key(self) -> FactKey:
        return (self.fact["adopter"], self.fact["model_family"], self.fact["vendor_level"])


# The facts of the events in {events} (all of a key's events, or none of them).
_FACTS_OF = """
    WITH ev AS (
        SELECT e.event_id, e.article_id, e.article_url, e.adopter, e.adopter_named,
               e.model_family, coalesce(e.vendor_level, false) AS vendor_level, e.vendor,
               e.origin_country, e.open_weights, e.relation, e.switch_id, e.confidence,
               e.evidence, coalesce(e.published_at, e.extracted_at) AS reported_at,
               CASE e.relation WHEN 'adopts' THEN 3 WHEN 'drops' THEN 2 ELSE 1 END
                   AS strength,
               coalesce(a.story_cluster, e.article_id) AS story,
               coalesce(first.outlet, a.outlet, e.article_id) AS publisher
        FROM {events} e
        LEFT JOIN articles a ON a.article_id = e.article_id
        LEFT JOIN articles first ON first.article_id = a.story_cluster
    ),
    ranked AS (
        SELECT *, row_number() OVER (
            PARTITION BY adopter, model_family, vendor_level
            ORDER BY reported_at DESC, strength DESC, event_id) AS recency
        FROM ev
    ),
    latest AS (SELECT * FROM ranked WHERE recency = 1),
    other_until AS (
        SELECT r.adopter, r.model_family, r.vendor_level, max(r.reported_at) AS until
        FROM ranked r JOIN latest l USING (adopter, model_family, vendor_level)
        WHERE r.relation <> l.relation
        GROUP BY ALL
    ),
    run AS (
        SELECT r.* FROM ranked r
        JOIN latest l USING (adopter, model_family, vendor_level)
        LEFT JOIN other_until o USING (adopter, model_family, vendor_level)
        WHERE r.relation = l.relation AND (o.until IS NULL OR r.reported_at >= o.until)
    ),
    run_totals AS (
        SELECT adopter, model_family, vendor_level, min(reported_at) AS status_since
        FROM run GROUP BY ALL
    ),
    story_confidence AS (
        SELECT adopter, model_family, vendor_level, story,
               least(max(confidence), 1.0) AS confidence
        FROM run GROUP BY ALL
    ),
    combined AS (
        SELECT adopter, model_family, vendor_level,
               round(1 - product(1 - confidence), 6) AS confidence
        FROM story_confidence GROUP BY ALL
    ),
    best AS (
        SELECT * FROM (
            SELECT *, row_number() OVER (
                PARTITION BY adopter, model_family, vendor_level
                ORDER BY confidence DESC, reported_at DESC, event_id) AS rank
            FROM run)
        WHERE rank = 1
    ),
    replaced AS (
        SELECT d.adopter, d.model_family, d.vendor_level,
               arg_max(p.model_family, d.reported_at) AS replaced_by
        FROM run d
        JOIN adoption_events p
          ON p.switch_id = d.switch_id AND p.relation = 'adopts'
         AND p.model_family <> d.model_family
        WHERE d.relation = 'drops' AND d.switch_id IS NOT NULL
        GROUP BY ALL
    ),
    totals AS (
        SELECT adopter, model_family, vendor_level,
               min(reported_at) AS first_reported, max(reported_at) AS last_reported,
               count(DISTINCT article_id) AS articles,
               count(DISTINCT publisher) AS outlets,
               bool_or(adopter_named) AS adopter_named
        FROM ev GROUP BY ALL
    )
    SELECT l.adopter, l.model_family, l.vendor_level, l.vendor, l.origin_country,
           l.open_weights, t.adopter_named,
           CASE l.relation WHEN 'adopts' THEN 'current' WHEN 'drops' THEN 'dropped'
                ELSE 'evaluating' END AS status,
           s.status_since, t.first_reported, t.last_reported,
           CASE WHEN l.relation = 'drops' THEN s.status_since END AS dropped_at,
           CASE WHEN l.relation = 'drops' THEN rp.replaced_by END AS replaced_by,
           t.articles, t.outlets, c.confidence,
           b.evidence, b.article_url AS evidence_url, b.reported_at AS evidence_at,
           $refreshed_at AS refreshed_at
    FROM latest l
    JOIN totals t USING (adopter, model_family, vendor_level)
    JOIN run_totals s USING (adopter, model_family, vendor_level)
    JOIN combined c USING (adopter, model_family, vendor_level)
    JOIN best b USING (adopter, model_family, vendor_level)
    LEFT JOIN replaced rp USING (adopter, model_family, vendor_level)
"""

_KEY_MATCH = (
    "{a}.adopter = {k}.adopter AND {a}.model_family = {k}.model_family "
    "AND coalesce({a}.vendor_level, false) = {k}.vendor_level"
)

_INSERT = f"INSERT INTO adoption_facts ({', '.join(FACT_COLUMNS)}) "


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def keys_of_events(rows: Iterable[Any]) -> list[FactKey]:
    """The fact keys of some events (EventRow objects or dicts)."""
    keys = set()
    for row in rows:
        get = row.get if isinstance(row, dict) else lambda name, r=row: getattr(r, name)
        keys.add((get("adopter"), get("model_family"), bool(get("vendor_level"))))
    return sorted(keys)


def keys_of_articles(con: duckdb.DuckDBPyConnection, article_ids: Sequence[str]) -> list[FactKey]:
    """The fact keys of the stored events of some articles."""
    if not article_ids:
        return []
    rows = con.execute(
        "SELECT DISTINCT adopter, model_family, coalesce(vendor_level, false) "
        "FROM adoption_events WHERE list_contains(?, article_id)",
        [list(article_ids)],
    ).fetchall()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def refresh_facts(
    con: duckdb.DuckDBPyConnection, keys: Iterable[FactKey], now: datetime | None = None
) -> list[FactChange]:
    """Recompute the facts of ``keys`` from their events, inside the caller's
    transaction; returns the facts that are new or changed status.

    A key without events any more loses its fact. Cost grows with the keys and their
    events, not with the log: one semi-join over the event log's key columns.
    """
    unique = sorted(set(keys))
    if not unique:
        return []
    affected = pa.table(
        {
            "adopter": pa.array([k[0] for k in unique], pa.string()),
            "model_family": pa.array([k[1] for k in unique], pa.string()),
            "vendor_level": pa.array([bool(k[2]) for k in unique], pa.bool_()),
        }
    )
    with registered(con, "_fact_keys", affected) as keys_view:
        match = _KEY_MATCH.format(a="f", k="k")
        before = {
            (r[0], r[1], bool(r[2])): r[3]
            for r in con.execute(
                f"SELECT adopter, model_family, vendor_level, status FROM adoption_facts f "
                f"SEMI JOIN {keys_view} k ON {match}"
            ).fetchall()
        }
        con.execute(f"DELETE FROM adoption_facts f USING {keys_view} k WHERE {match}")
        events = (
            f"(SELECT e.* FROM adoption_events e SEMI JOIN {keys_view} k "
            f"ON {_KEY_MATCH.format(a='e', k='k')})"
        )
        con.execute(_INSERT + _FACTS_OF.format(events=events), {"refreshed_at": now or _now()})
        cursor = con.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM adoption_facts f "
            f"SEMI JOIN {keys_view} k ON {match} ORDER BY adopter, model_family, vendor_level"
        )
        names = [d[0] for d in cursor.description]
        after = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    changes = []
    for fact in after:
        previous = before.get((fact["adopter"], fact["model_family"], fact["vendor_level"]))
        if previous != fact["status"]:
            changes.append(FactChange(fact=fact, previous_status=previous))
    return changes


def rebuild_facts(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> int:
    """Recompute every fact from the whole event log, inside the caller's transaction
    (after events were written by other means than storage.store, e.g. storage.synthetic,
    or by a migration); returns the number of facts."""
    con.execute("DELETE FROM adoption_facts")
    con.execute(
        _INSERT + _FACTS_OF.format(events="adoption_events"), {"refreshed_at": now or _now()}
    )
    return int(con.execute("SELECT count(*) FROM adoption_facts").fetchall()[0][0])


def facts_drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Facts whose stored row differs from what the event log says now (a consistency
    check: empty when every write went through storage.store). refreshed_at aside."""
    compared = [c for c in FACT_COLUMNS if c != "refreshed_at"]
    cols = ", ".join(compared)
    cursor = con.execute(
        f"""
        WITH truth AS ({_FACTS_OF.format(events="adoption_events")}),
        stored AS (SELECT {cols} FROM adoption_facts),
        computed AS (SELECT {cols} FROM truth),
        only_stored AS (SELECT 'stored' AS side, * FROM (FROM stored EXCEPT FROM computed)),
        only_computed AS (
            SELECT 'computed' AS side, * FROM (FROM computed EXCEPT FROM stored))
        SELECT * FROM only_stored UNION ALL SELECT * FROM only_computed
        ORDER BY adopter, model_family, vendor_level, side
        """,
        {"refreshed_at": _now()},
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
