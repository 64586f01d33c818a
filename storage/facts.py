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

Keeping them costs what the new events cost, not what the log holds. A write of new
articles folds their events into the stored facts (:func:`fold_new_events`), with two
side tables: ``fact_outlets`` (each fact's publishers, so a publisher counts once) and
``fact_stories`` (the current run's stories and their best claim, for the confidence).
Where a fold cannot be exact without the key's history (an event that splits the
current run, a drop with a switch inside it, events of an article stored earlier), the
key is recomputed from all its events (:func:`recompute_facts`), as after a
re-extraction. tests/test_facts.py checks that incremental facts equal a rebuild on
random logs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from adoptwatch.storage.records import dict_rows, registered

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
    "last_other_report",
    "evidence_confidence",
    "evidence_event_id",
    "last_relations",
)
# The columns a user reads; the last four serve the incremental upkeep.
PUBLIC_FACT_COLUMNS = FACT_COLUMNS[:-4]

STATUS_OF_RELATION = {"adopts": "current", "drops": "dropped", "evaluates": "evaluating"}
RELATION_OF_STATUS = {status: relation for relation, status in STATUS_OF_RELATION.items()}


_FACTS_SCHEMA = pa.schema(
    [
        ("adopter", pa.string()),
        ("model_family", pa.string()),
        ("vendor_level", pa.bool_()),
        ("vendor", pa.string()),
        ("origin_country", pa.string()),
        ("open_weights", pa.bool_()),
        ("adopter_named", pa.bool_()),
        ("status", pa.string()),
        ("status_since", pa.timestamp("us")),
        ("first_reported", pa.timestamp("us")),
        ("last_reported", pa.timestamp("us")),
        ("dropped_at", pa.timestamp("us")),
        ("replaced_by", pa.string()),
        ("articles", pa.int32()),
        ("outlets", pa.int32()),
        ("confidence", pa.float64()),
        ("evidence", pa.string()),
        ("evidence_url", pa.string()),
        ("evidence_at", pa.timestamp("us")),
        ("refreshed_at", pa.timestamp("us")),
        ("last_other_report", pa.timestamp("us")),
        ("evidence_confidence", pa.float64()),
        ("evidence_event_id", pa.string()),
        ("last_relations", pa.string()),
    ]
)


@dataclass(frozen=True)
class FactChange:
    """A fact that is new (``previous_status`` None) or whose status changed."""

    fact: dict[str, Any]
    previous_status: str | None

    @property
    def key(self) -> FactKey:
        return (self.fact["adopter"], self.fact["model_family"], self.fact["vendor_level"])


# Events with what the facts read beside them: reported_at (the event's time),
# strength, story (its article's story cluster), publisher (the outlet of that story's
# first article; the article's own outlet, or the article itself, until clustered) and,
# for a drop in a switch, partner_family (the family adopted in it; the greatest where
# several were), looked up in {adoptions}: events that hold every switch's adoption.
_EVENTS_WITH_STORIES = """
    SELECT e.event_id, e.article_id, e.article_url, e.adopter, e.adopter_named,
           e.model_family, coalesce(e.vendor_level, false) AS vendor_level, e.vendor,
           e.origin_country, e.open_weights, e.relation, e.switch_id, e.confidence,
           e.evidence, coalesce(e.published_at, e.extracted_at) AS reported_at,
           CASE e.relation WHEN 'adopts' THEN 3 WHEN 'drops' THEN 2 ELSE 1 END AS strength,
           coalesce(a.story_cluster, e.article_id) AS story,
           coalesce(first.outlet, a.outlet, e.article_id) AS publisher,
           CASE WHEN e.relation = 'drops' THEN list_aggregate(
               list_filter(p.families, f -> f <> e.model_family), 'max') END
               AS partner_family
    FROM {events} e
    LEFT JOIN articles a ON a.article_id = e.article_id
    LEFT JOIN articles first ON first.article_id = a.story_cluster
    LEFT JOIN (
        SELECT switch_id, list(model_family) AS families FROM {adoptions}
        WHERE relation = 'adopts' AND switch_id IS NOT NULL
          AND switch_id IN (SELECT switch_id FROM {events} WHERE relation = 'drops')
        GROUP BY switch_id
    ) p ON p.switch_id = e.switch_id
"""

# The facts of enriched events in ``ev`` (all of a key's events, or all since its
# current run began); the rules of the module's docstring. {select} picks what to
# return from the CTEs.
_FACTS_OF_EV = """
    ranked AS (
        SELECT *, row_number() OVER (
            PARTITION BY adopter, model_family, vendor_level
            ORDER BY reported_at DESC, strength DESC, event_id) AS recency
        FROM ev
    ),
    latest AS (SELECT * FROM ranked WHERE recency = 1),
    last_relations AS (
        SELECT r.adopter, r.model_family, r.vendor_level,
               string_agg(DISTINCT r.relation, ',' ORDER BY r.relation) AS last_relations
        FROM ranked r JOIN latest l USING (adopter, model_family, vendor_level)
        WHERE r.reported_at = l.reported_at
        GROUP BY ALL
    ),
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
        SELECT adopter, model_family, vendor_level,
               max(struct_pack(at := reported_at, family := partner_family)).family
                   AS replaced_by
        FROM run
        WHERE relation = 'drops' AND partner_family IS NOT NULL
        GROUP BY ALL
    ),
    totals AS (
        SELECT adopter, model_family, vendor_level,
               min(reported_at) AS first_reported, max(reported_at) AS last_reported,
               count(DISTINCT article_id) AS articles,
               count(DISTINCT publisher) AS outlets,
               bool_or(adopter_named) AS adopter_named
        FROM ev GROUP BY ALL
    ),
    facts AS (
        SELECT l.adopter, l.model_family, l.vendor_level, l.vendor, l.origin_country,
               l.open_weights, t.adopter_named,
               CASE l.relation WHEN 'adopts' THEN 'current' WHEN 'drops' THEN 'dropped'
                    ELSE 'evaluating' END AS status,
               s.status_since, t.first_reported, t.last_reported,
               CASE WHEN l.relation = 'drops' THEN s.status_since END AS dropped_at,
               CASE WHEN l.relation = 'drops' THEN rp.replaced_by END AS replaced_by,
               t.articles, t.outlets, c.confidence,
               b.evidence, b.article_url AS evidence_url, b.reported_at AS evidence_at,
               $refreshed_at AS refreshed_at,
               o.until AS last_other_report, b.confidence AS evidence_confidence,
               b.event_id AS evidence_event_id, lr.last_relations
        FROM latest l
        JOIN last_relations lr USING (adopter, model_family, vendor_level)
        JOIN totals t USING (adopter, model_family, vendor_level)
        JOIN run_totals s USING (adopter, model_family, vendor_level)
        JOIN combined c USING (adopter, model_family, vendor_level)
        JOIN best b USING (adopter, model_family, vendor_level)
        LEFT JOIN other_until o USING (adopter, model_family, vendor_level)
        LEFT JOIN replaced rp USING (adopter, model_family, vendor_level)
    )
    {select}
"""
# The same from stored events ({events}: a relation of adoption_events rows).
_FACTS_OF = (
    "WITH ev AS (" + _EVENTS_WITH_STORIES.replace("{adoptions}", "adoption_events") + "),"
) + _FACTS_OF_EV

# Events reported at or after $since, read as two plain range scans (published_at, and
# extracted_at where undated) so that the log's row groups outside the range are
# skipped: the log is written in rough time order. (A filter on the coalesce of both
# would read every row group.)
_REPORTED_SINCE = """(
    SELECT * FROM adoption_events WHERE published_at >= $since
    UNION ALL
    SELECT * FROM adoption_events WHERE published_at IS NULL AND extracted_at >= $since
)"""
# The same from enriched events already fetched ({events}: _EVENTS_WITH_STORIES rows).
_FACTS_OF_ENRICHED = "WITH ev AS (SELECT * FROM {events})," + _FACTS_OF_EV

_SELECT_FACTS = f"SELECT {', '.join(FACT_COLUMNS)} FROM facts"
_SELECT_OUTLETS = "SELECT DISTINCT adopter, model_family, vendor_level, publisher AS outlet FROM ev"
_SELECT_STORIES = (
    "SELECT adopter, model_family, vendor_level, story, confidence FROM story_confidence"
)

_KEY_MATCH = (
    "{a}.adopter = {k}.adopter AND {a}.model_family = {k}.model_family "
    "AND coalesce({a}.vendor_level, false) = {k}.vendor_level"
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _keyed_table(rows: Sequence[tuple[Any, ...]], **extra: pa.DataType) -> pa.Table:
    """Rows of (adopter, model_family, vendor_level, *extra columns) as an Arrow table."""
    types = {"adopter": pa.string(), "model_family": pa.string(), "vendor_level": pa.bool_()}
    types.update(extra)
    return pa.table(
        {name: pa.array([r[i] for r in rows], t) for i, (name, t) in enumerate(types.items())}
    )


def _keys_table(keys: Iterable[FactKey]) -> pa.Table:
    return _keyed_table(sorted(set(keys)))


def _key(row: dict[str, Any]) -> FactKey:
    return (row["adopter"], row["model_family"], bool(row["vendor_level"]))


def known_adopters(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every adopter the facts name (for resolving a name the gazetteer lacks)."""
    return [r[0] for r in con.execute("SELECT DISTINCT adopter FROM adoption_facts").fetchall()]


def keys_of_events(rows: Iterable[Any]) -> list[FactKey]:
    """The fact keys of some events (storage.records.EventRow)."""
    return sorted({(r.adopter, r.model_family, bool(r.vendor_level)) for r in rows})


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


def _stored_facts(con: duckdb.DuckDBPyConnection, keys_view: str) -> dict[FactKey, dict]:
    match = _KEY_MATCH.format(a="f", k="k")
    rows = dict_rows(
        con.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM adoption_facts f "
            f"SEMI JOIN {keys_view} k ON {match}"
        )
    )
    return {_key(r): r for r in rows}


def _delete_keys(con: duckdb.DuckDBPyConnection, keys_view: str) -> None:
    _delete_keys_of(con, keys_view, ("adoption_facts", "fact_outlets", "fact_stories"))


def _delete_keys_of(con: duckdb.DuckDBPyConnection, keys_view: str, tables: Sequence[str]) -> None:
    for table in tables:
        con.execute(
            f"DELETE FROM {table} f USING {keys_view} k WHERE {_KEY_MATCH.format(a='f', k='k')}"
        )


def _compute_into_tables(con: duckdb.DuckDBPyConnection, events: str, now: datetime) -> None:
    """Insert the facts and side rows computed from ``events`` (whole keys)."""
    params = {"refreshed_at": now}
    con.execute(
        f"INSERT INTO adoption_facts ({', '.join(FACT_COLUMNS)}) "
        + _FACTS_OF.format(events=events, select=_SELECT_FACTS),
        params,
    )
    con.execute(
        "INSERT INTO fact_outlets (adopter, model_family, vendor_level, outlet) "
        + _FACTS_OF.format(events=events, select=_SELECT_OUTLETS),
        params,
    )
    con.execute(
        "INSERT INTO fact_stories (adopter, model_family, vendor_level, story, confidence) "
        + _FACTS_OF.format(events=events, select=_SELECT_STORIES),
        params,
    )


def _changes(before: dict[FactKey, dict], after: Iterable[dict[str, Any]]) -> list[FactChange]:
    changes = []
    for fact in after:
        previous = before.get(_key(fact))
        status = previous["status"] if previous else None
        if status != fact["status"]:
            public = {c: fact[c] for c in PUBLIC_FACT_COLUMNS}
            changes.append(FactChange(fact=public, previous_status=status))
    return sorted(changes, key=lambda c: c.key)


def recompute_facts(
    con: duckdb.DuckDBPyConnection, keys: Iterable[FactKey], now: datetime | None = None
) -> list[FactChange]:
    """Recompute the facts of ``keys`` from all their events, inside the caller's
    transaction; returns the facts that are new or changed status. A key without
    events any more loses its fact. Costs what the keys' events cost."""
    affected = _keys_table(keys)
    if not affected.num_rows:
        return []
    with registered(con, "_fact_keys", affected) as keys_view:
        before = _stored_facts(con, keys_view)
        _delete_keys(con, keys_view)
        events = (
            f"(SELECT e.* FROM adoption_events e SEMI JOIN {keys_view} k "
            f"ON {_KEY_MATCH.format(a='e', k='k')})"
        )
        _compute_into_tables(con, events, now or _now())
        after = _stored_facts(con, keys_view)
    return _changes(before, after.values())


def rebuild_facts(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> int:
    """Recompute every fact from the whole event log, inside the caller's transaction
    (after events were written by other means than storage.store, e.g. storage.synthetic,
    or by a migration); returns the number of facts."""
    for table in ("adoption_facts", "fact_outlets", "fact_stories"):
        con.execute(f"DELETE FROM {table}")
    _compute_into_tables(con, "adoption_events", now or _now())
    return int(con.execute("SELECT count(*) FROM adoption_facts").fetchall()[0][0])


def fold_new_events(
    con: duckdb.DuckDBPyConnection,
    events: pa.Table,
    new_articles: Collection[str],
    now: datetime | None = None,
) -> list[FactChange]:
    """Fold events just inserted (``events``, as storage.records.EventRow in Arrow) into
    the facts, inside the caller's transaction; returns the facts that are new or
    changed status. ``new_articles``: the articles this transaction stored; events of
    other articles make their key recomputed. Call once per inserted event: a fold adds.
    """
    if not events.num_rows:
        return []
    now = now or _now()
    with registered(con, "_folded_events", events) as events_view:
        new = dict_rows(
            con.execute(
                # A switch is read in one sentence: its adoption is among the new events.
                _EVENTS_WITH_STORIES.format(events=events_view, adoptions=events_view)
                + " ORDER BY adopter, model_family, vendor_level, reported_at, event_id"
            )
        )
    by_key: dict[FactKey, list[dict[str, Any]]] = {}
    for event in new:
        by_key.setdefault(_key(event), []).append(event)
    with registered(con, "_fact_keys", _keys_table(by_key)) as keys_view:
        stored = _stored_facts(con, keys_view)
    plans = {k: _plan(stored.get(k), evs, new_articles) for k, evs in by_key.items()}
    recompute = {k for k, plan in plans.items() if plan is None}
    for key, plan in plans.items():
        # A new run beginning at the last report also holds the events of its relation
        # reported at that very moment (last_relations): the run then comes from the log.
        old = stored.get(key)
        if plan is None or old is None or plan.continues or plan.from_log:
            continue
        if plan.last_other_report == old["last_reported"] and plan.relation in _relations_at(
            old, by_key[key], old["last_reported"]
        ):
            plans[key] = _Plan(plan.relation, False, old["last_reported"], [], True)
    logged = _events_since(
        con, {k: p.last_other_report for k, p in plans.items() if p is not None and p.from_log}
    )
    changes = recompute_facts(con, recompute, now)
    folding = {k: stored.get(k) for k in plans if k not in recompute}
    if folding:
        from_log = {k: logged.get(k, []) for k in folding if plans[k].from_log}
        changes += _fold(con, folding, by_key, plans, from_log, now)
    return sorted(changes, key=lambda c: c.key)


def _events_since(
    con: duckdb.DuckDBPyConnection, since: dict[FactKey, datetime | None]
) -> dict[FactKey, list[dict[str, Any]]]:
    """Some keys' events reported at or after a time each (all of them for None), with
    what _EVENTS_WITH_STORIES adds."""
    if not since:
        return {}
    # A window is read with its start as a constant, so the scan skips the log's row
    # groups before it; one query per window while they are few, else one for all,
    # bounded by the earliest start.
    groups = [dict([item]) for item in since.items()] if len(since) <= 16 else [since]
    rows: list[dict[str, Any]] = []
    for group in groups:
        rows += _fetch_windows(con, group)
    by_key: dict[FactKey, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(_key(row), []).append(row)
    return by_key


def _fetch_windows(
    con: duckdb.DuckDBPyConnection, since: dict[FactKey, datetime | None]
) -> list[dict[str, Any]]:
    windows = _keyed_table([(*k, t) for k, t in since.items()], since=pa.timestamp("us"))
    dated = [t for t in since.values() if t is not None]
    bounded = len(dated) == len(since)
    scan = _REPORTED_SINCE if bounded else "adoption_events"
    with registered(con, "_run_windows", windows) as view:
        events = (
            f"(SELECT e.* FROM {scan} e JOIN {view} w "
            f"ON {_KEY_MATCH.format(a='e', k='w')} AND (w.since IS NULL "
            "OR coalesce(e.published_at, e.extracted_at) >= w.since))"
        )
        # A switch's adoption was reported with its drop: within the same bounds.
        sql = _EVENTS_WITH_STORIES.format(events=events, adoptions=scan)
        return dict_rows(con.execute(sql, {"since": min(dated)} if bounded else {}))


def _relations_at(fact: dict[str, Any], events: list[dict[str, Any]], at: datetime) -> set[str]:
    """The relations reported at ``at``, the fact's last report, old and new."""
    return set(fact["last_relations"].split(",")) | {
        e["relation"] for e in events if e["reported_at"] == at
    }


def _order(event: dict[str, Any]) -> tuple[Any, ...]:
    """Sorts the latest event first, as the SQL's ``recency`` does."""
    return (-event["reported_at"].timestamp(), -event["strength"], event["event_id"])


@dataclass(frozen=True)
class _Plan:
    relation: str  # of the status after the fold
    continues: bool  # the current run goes on (else a new one starts)
    last_other_report: datetime | None
    run: list[dict[str, Any]]  # the new events in the (continued or new) run
    # The new run also holds older events: its columns are computed from the key's
    # events since last_other_report (all of them when None).
    from_log: bool = False


def _plan(
    fact: dict[str, Any] | None, events: list[dict[str, Any]], new_articles: Collection[str]
) -> _Plan | None:
    """How the new events of one key change its fact (None: no fact yet); None where
    the events' articles were stored earlier (then the key is recomputed whole)."""
    if any(e["article_id"] not in new_articles for e in events):
        return None  # an article stored earlier: its events may be counted already
    if fact is None:
        return _new_run(events, None, None)
    relation = RELATION_OF_STATUS[fact["status"]]
    last = fact["last_reported"]
    tail = [e for e in events if e["reported_at"] > last]
    body = [e for e in events if e["reported_at"] <= last]
    if not all(e["relation"] == relation for e in tail):
        # A new run starts in the new events: everything before them is history.
        return _new_run(tail, relation, last)
    others = [e["reported_at"] for e in body if e["relation"] != relation]
    if fact["last_other_report"] is not None:
        others.append(fact["last_other_report"])
    other = max(others) if others else None
    if any(e["relation"] != relation and e["reported_at"] >= fact["status_since"]
           for e in body):  # fmt: skip
        # An older report of another relation splits the run: what is left of it
        # comes from the log, from that report on.
        return _Plan(relation, False, other, [], True)
    run = _run_in(events, relation, other)
    if relation == "drops" and any(e["switch_id"] for e in run):
        # Which switch replaced it depends on the older drops' times.
        return _Plan(relation, False, other, [], True)
    return _Plan(relation, True, other, run)


def _new_run(tail: list[dict[str, Any]], relation: str | None, last: datetime | None) -> _Plan:
    """The run that ``tail`` (all reported after ``last``, the latest report before it,
    of ``relation``) starts."""
    latest = min(tail, key=_order)["relation"]
    others = [e["reported_at"] for e in tail if e["relation"] != latest]
    if relation is not None and latest != relation:
        others.append(last)
    other = max(others) if others else None
    return _Plan(latest, False, other, _run_in(tail, latest, other))


def _run_in(
    events: list[dict[str, Any]], relation: str, other: datetime | None
) -> list[dict[str, Any]]:
    """The events of the current run: ``relation``, reported at or after ``other`` (the
    last report of another relation), as the SQL's ``run`` takes them."""
    return [
        e for e in events
        if e["relation"] == relation and (other is None or e["reported_at"] >= other)
    ]  # fmt: skip


def _noisy_or(confidences: Iterable[float]) -> float:
    remaining = 1.0
    for c in confidences:
        remaining *= 1 - min(c, 1.0)
    return round(1 - remaining, 6)


_EMPTY_TOTALS = {"articles": 0, "outlets": 0, "adopter_named": False}
_RUN_COLUMNS = (
    "vendor", "origin_country", "open_weights", "status", "status_since", "dropped_at",
    "replaced_by", "confidence", "evidence", "evidence_url", "evidence_at",
    "last_other_report", "evidence_confidence", "evidence_event_id",
)  # fmt: skip


def _fold(
    con: duckdb.DuckDBPyConnection,
    stored: dict[FactKey, dict[str, Any] | None],
    by_key: dict[FactKey, list[dict[str, Any]]],
    plans: dict[FactKey, Any],
    from_log: dict[FactKey, list[dict[str, Any]]],
    now: datetime,
) -> list[FactChange]:
    """Write the facts of ``stored``'s keys (None: new) with their new events folded in;
    ``from_log``: the events since the run began, for keys whose run needs them."""
    keys = _keys_table(stored)
    pairs = sorted({(*k, e["publisher"]) for k in stored for e in by_key[k]})
    publishers = _keyed_table(pairs, outlet=pa.string())
    continuing = {k for k in stored if plans[k].continues}
    with registered(con, "_fact_keys", _keys_table(continuing)) as keys_view:
        stories: dict[FactKey, dict[str, float]] = {}
        for row in dict_rows(
            con.execute(
                f"SELECT * FROM fact_stories f SEMI JOIN {keys_view} k "
                f"ON {_KEY_MATCH.format(a='f', k='k')}"
            )
        ):
            stories.setdefault(_key(row), {})[row["story"]] = row["confidence"]
    with registered(con, "_fact_publishers", publishers) as pub_view:
        unseen = con.execute(
            f"SELECT * FROM {pub_view} p ANTI JOIN fact_outlets f "
            f"ON {_KEY_MATCH.format(a='f', k='p')} AND f.outlet = p.outlet"
        ).to_arrow_table()
    with registered(con, "_unseen_publishers", unseen) as unseen_view:
        con.execute(
            "INSERT INTO fact_outlets (adopter, model_family, vendor_level, outlet) "
            f"SELECT adopter, model_family, vendor_level, outlet FROM {unseen_view}"
        )
    new_outlets: dict[FactKey, int] = {}
    for row in unseen.to_pylist():
        new_outlets[_key(row)] = new_outlets.get(_key(row), 0) + 1
    runs, run_stories_of = _runs_of(con, from_log, now)

    rows, story_rows = [], []
    for key, old in stored.items():
        plan, events = plans[key], by_key[key]
        base = old or {**_EMPTY_TOTALS, "adopter": key[0], "model_family": key[1],
                       "vendor_level": key[2]}  # fmt: skip
        fact = dict(base)
        first, last = events[0]["reported_at"], events[-1]["reported_at"]
        fact["first_reported"] = min(old["first_reported"], first) if old else first
        fact["last_reported"] = max(old["last_reported"], last) if old else last
        fact["articles"] = base["articles"] + len({e["article_id"] for e in events})
        fact["outlets"] = base["outlets"] + new_outlets.get(key, 0)
        fact["adopter_named"] = base["adopter_named"] or any(e["adopter_named"] for e in events)
        fact["refreshed_at"] = now
        at_last = {e["relation"] for e in events if e["reported_at"] == fact["last_reported"]}
        if old and old["last_reported"] == fact["last_reported"]:
            at_last |= set(old["last_relations"].split(","))
        fact["last_relations"] = ",".join(sorted(at_last))
        if plan.from_log:
            fact.update({c: runs[key][c] for c in _RUN_COLUMNS})
            run_stories = run_stories_of.get(key, {})
        else:
            tail = [e for e in events if not old or e["reported_at"] > old["last_reported"]]
            if tail:
                latest = min(tail, key=_order)
                for column in ("vendor", "origin_country", "open_weights"):
                    fact[column] = latest[column]
            run_stories = dict(stories.get(key, {})) if plan.continues else {}
            for e in plan.run:
                run_stories[e["story"]] = max(run_stories.get(e["story"], 0.0),
                                              min(e["confidence"], 1.0))  # fmt: skip
            candidates = [
                {"confidence": e["confidence"], "reported_at": e["reported_at"],
                 "event_id": e["event_id"], "evidence": e["evidence"],
                 "article_url": e["article_url"]}
                for e in plan.run
            ]  # fmt: skip
            if plan.continues:
                candidates.append(
                    {"confidence": old["evidence_confidence"], "reported_at": old["evidence_at"],
                     "event_id": old["evidence_event_id"], "evidence": old["evidence"],
                     "article_url": old["evidence_url"]}
                )  # fmt: skip
                since = min([old["status_since"]] + [e["reported_at"] for e in plan.run])
            else:
                since = min(e["reported_at"] for e in plan.run)
            best = min(candidates, key=lambda c: (-c["confidence"], -c["reported_at"].timestamp(),
                                                  c["event_id"]))  # fmt: skip
            fact.update(
                status=STATUS_OF_RELATION[plan.relation],
                status_since=since,
                dropped_at=since if plan.relation == "drops" else None,
                confidence=_noisy_or(run_stories.values()),
                evidence=best["evidence"],
                evidence_url=best["article_url"],
                evidence_at=best["reported_at"],
                evidence_confidence=best["confidence"],
                evidence_event_id=best["event_id"],
                last_other_report=plan.last_other_report,
            )
            if not plan.continues:
                drops = [e for e in plan.run if e["partner_family"] is not None]
                fact["replaced_by"] = (
                    max((e["reported_at"], e["partner_family"]) for e in drops)[1]
                    if plan.relation == "drops" and drops else None
                )  # fmt: skip
        rows.append(fact)
        story_rows += [(*key, story, c) for story, c in sorted(run_stories.items())]

    with registered(con, "_fact_keys", keys) as keys_view:
        _delete_keys_of(con, keys_view, ("adoption_facts", "fact_stories"))
    with registered(con, "_folded_facts", pa.Table.from_pylist(rows, _FACTS_SCHEMA)) as v:
        con.execute(
            f"INSERT INTO adoption_facts ({', '.join(FACT_COLUMNS)}) "
            f"SELECT {', '.join(FACT_COLUMNS)} FROM {v}"
        )
    story_table = _keyed_table(story_rows, story=pa.string(), confidence=pa.float64())
    with registered(con, "_folded_stories", story_table) as v:
        con.execute(
            "INSERT INTO fact_stories (adopter, model_family, vendor_level, story, "
            f"confidence) SELECT * FROM {v}"
        )
    return _changes({k: v for k, v in stored.items() if v is not None}, rows)


def _runs_of(
    con: duckdb.DuckDBPyConnection, events: dict[FactKey, list[dict[str, Any]]], now: datetime
) -> tuple[dict[FactKey, dict[str, Any]], dict[FactKey, dict[str, float]]]:
    """The current-run columns and stories of some keys, from their events since the
    run began (_EVENTS_WITH_STORIES rows)."""
    rows = [e for evs in events.values() for e in evs]
    if not rows:
        return {}, {}
    with registered(con, "_run_events", pa.Table.from_pylist(rows)) as view:
        params = {"refreshed_at": now}
        runs = {
            _key(r): r
            for r in dict_rows(
                con.execute(_FACTS_OF_ENRICHED.format(events=view, select=_SELECT_FACTS), params)
            )
        }
        stories: dict[FactKey, dict[str, float]] = {}
        for r in dict_rows(
            con.execute(_FACTS_OF_ENRICHED.format(events=view, select=_SELECT_STORIES), params)
        ):
            stories.setdefault(_key(r), {})[r["story"]] = r["confidence"]
    return runs, stories


def facts_drift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Facts (and their side rows) that differ from what the event log says now (a
    consistency check: empty when every write went through storage.store)."""
    compared = [c for c in FACT_COLUMNS if c != "refreshed_at"]
    checks = [
        ("adoption_facts", ", ".join(compared), _SELECT_FACTS),
        ("fact_outlets", "adopter, model_family, vendor_level, outlet", _SELECT_OUTLETS),
        ("fact_stories", "adopter, model_family, vendor_level, story, confidence",
         _SELECT_STORIES),
    ]  # fmt: skip
    drift: list[dict[str, Any]] = []
    for table, cols, select in checks:
        truth = _FACTS_OF.format(events="adoption_events", select=select)
        drift += dict_rows(
            con.execute(
                f"""
                WITH computed AS (SELECT {cols} FROM ({truth})),
                stored AS (SELECT {cols} FROM {table})
                SELECT '{table}: stored only' AS side, * FROM (FROM stored EXCEPT FROM computed)
                UNION ALL
                SELECT '{table}: log only', * FROM (FROM computed EXCEPT FROM stored)
                """,
                {"refreshed_at": _now()},
            )
        )
    return drift
