"""Every SQL statement of the explorer (``adoptwatch web``): read-only views of the event log.

Conventions (as in :mod:`adoptwatch.storage.digest`): an event's time is
``coalesce(published_at, extracted_at)``; weeks come in as ``(label, start, stop)``
half-open UTC intervals computed by the caller in the digest's time zone; functions
return plain dicts. Company and model pages read ``adoption_facts`` (one row per adopter,
model family and vendor-level flag, kept at write time), so they never group the
whole event log; charts over time read ``first_adoptions`` and a window of
``model_mentions`` pruned by ``published_at``.

The events view is one SQL text with its filter values written in as literals
(:func:`events_sql`): the page runs it, the CSV download runs the very same text in the
query sandbox, and the page shows it so that it can be pasted into ``adoptwatch query``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from adoptwatch.storage.records import dict_rows

RELATIONS = ("adopts", "drops", "evaluates")
STATUSES = ("current", "evaluating", "dropped")
# The timeline of one company shows its newest events; a company with more has a link
# to the events view filtered on it.
TIMELINE_EVENTS = 200
# Adopters listed per status on a model or vendor page.
ADOPTERS_LISTED = 100
# "New adopters" of a model: first reported within this many days of the newest event.
NEW_ADOPTER_DAYS = 28
_ARTICLE_LOOKUP_CHUNK = 1000


def literal(value: str) -> str:
    """A SQL string literal (quotes doubled): DuckDB reads backslashes as they are."""
    return "'" + value.replace("'", "''") + "'"


# --- companies -------------------------------------------------------------------------


def company_list(
    con: duckdb.DuckDBPyConnection,
    search: str = "",
    also_names: Sequence[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Named adopters, most recently reported first, and how many match in all.

    ``search`` matches a part of the name, case-insensitively; ``also_names`` are
    names matched some other way (a company's alias in the gazetteer).
    """
    params = {"search": search.lower(), "names": list(also_names)}
    where = (
        "adopter_named AND ($search = '' OR contains(lower(adopter), $search) "
        "OR list_contains($names::VARCHAR[], adopter))"
    )
    rows = dict_rows(
        con.execute(
            f"""
            SELECT adopter,
                   count(*) FILTER (WHERE status = 'current') AS current_models,
                   count(*) AS models,
                   CAST(sum(articles) AS BIGINT) AS articles,
                   max(last_reported) AS last_reported
            FROM adoption_facts
            WHERE {where}
            GROUP BY adopter
            ORDER BY last_reported DESC, adopter
            LIMIT $limit OFFSET $offset
            """,
            {**params, "limit": limit, "offset": offset},
        )
    )
    total = con.execute(
        f"SELECT count(DISTINCT adopter) FROM adoption_facts WHERE {where}", params
    ).fetchall()[0][0]
    return rows, int(total)


_FACT_COLUMNS = (
    "adopter, model_family, vendor_level, vendor, origin_country, open_weights, status, "
    "status_since, first_reported, last_reported, dropped_at, replaced_by, articles, "
    "outlets, confidence, evidence, evidence_url, evidence_at"
)


def company_stack(con: duckdb.DuckDBPyConnection, adopter: str) -> list[dict[str, Any]]:
    """The company's facts: current models first, then evaluations, then dropped ones
    (the explorer's company page and ``adoptwatch company``)."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_FACT_COLUMNS}
            FROM adoption_facts
            WHERE adopter = $adopter
            ORDER BY list_position($statuses::VARCHAR[], status), status_since DESC,
                     model_family
            """,
            {"adopter": adopter, "statuses": list(STATUSES)},
        )
    )


def company_timeline(
    con: duckdb.DuckDBPyConnection, adopter: str, limit: int = TIMELINE_EVENTS
) -> tuple[list[dict[str, Any]], int]:
    """The company's newest events (with their article's title and outlet), and how many
    it has in all (counted up to ``COUNT_CAP + 1``)."""
    flt = EventFilter(adopter=adopter)
    rows = event_page(con, flt, limit, 0)
    articles = article_titles_and_outlets(con, (r["article_id"] for r in rows))
    for r in rows:
        r["title"], r["outlet"] = articles.get(r["article_id"], (None, None))
    return rows, event_count(con, flt)


def article_titles_and_outlets(
    con: duckdb.DuckDBPyConnection, article_ids: Iterable[str | None]
) -> dict[str, tuple[str | None, str | None]]:
    """(title, outlet) of a few hundred articles by id: IN lists the primary-key index
    answers on a DuckDB file (a join would read every article)."""
    wanted = sorted({i for i in article_ids if i})
    found: dict[str, tuple[str | None, str | None]] = {}
    for at in range(0, len(wanted), _ARTICLE_LOOKUP_CHUNK):
        chunk = wanted[at : at + _ARTICLE_LOOKUP_CHUNK]
        rows = con.execute(
            "SELECT article_id, title, outlet FROM articles "
            f"WHERE article_id IN ({', '.join('?' for _ in chunk)})",
            chunk,
        ).fetchall()
        found.update((r[0], (r[1], r[2])) for r in rows)
    return found


# The switches of a company come from its newest reports of one, this many at most: a
# page over a company reported a million times must not read all of them.
SWITCH_EVENTS = 400


def company_switches(
    con: duckdb.DuckDBPyConnection, adopter: str, window: int = SWITCH_EVENTS
) -> list[dict[str, Any]]:
    """The company's switches read in one sentence (a drop and an adoption sharing a
    ``switch_id``), newest first, from its newest ``window`` events that are part of one."""
    return dict_rows(
        con.execute(
            f"""
            WITH mine AS (
                {newest_events_sql("adopter = $adopter AND switch_id IS NOT NULL", window)}
            )
            SELECT d.reported_at, d.model_family AS dropped, a.model_family AS adopted,
                   a.evidence, a.article_url
            FROM mine d
            JOIN mine a ON a.switch_id = d.switch_id AND a.relation = 'adopts'
            WHERE d.relation = 'drops' AND a.model_family <> d.model_family
            ORDER BY d.reported_at DESC, dropped, adopted
            LIMIT 100
            """,
            {"adopter": adopter},
        )
    )


# --- models and vendors --------------------------------------------------------------


@dataclass(frozen=True)
class ModelScope:
    """A model family (``family``) or a vendor (``vendor``): what a model page is about."""

    family: str | None = None
    vendor: str | None = None

    def where(self, prefix: str = "") -> str:
        if self.family is not None:
            return f"{prefix}model_family = $scope"
        return f"{prefix}vendor = $scope"

    @property
    def value(self) -> str:
        return self.family if self.family is not None else self.vendor or ""


def model_profile(con: duckdb.DuckDBPyConnection, scope: ModelScope) -> dict[str, Any] | None:
    """Vendor, origin, open weights and adopter counts by status (None: never reported)."""
    rows = dict_rows(
        con.execute(
            f"""
            SELECT mode(vendor) AS vendor, mode(origin_country) AS origin_country,
                   bool_or(open_weights) AS open_weights,
                   list(DISTINCT model_family ORDER BY model_family) AS families,
                   count(DISTINCT adopter) FILTER (WHERE status = 'current') AS current,
                   count(DISTINCT adopter) FILTER (WHERE status = 'evaluating') AS evaluating,
                   count(DISTINCT adopter) FILTER (WHERE status = 'dropped') AS dropped,
                   count(*) AS facts
            FROM adoption_facts
            WHERE adopter_named AND {scope.where()}
            """,
            {"scope": scope.value},
        )
    )
    return rows[0] if rows and rows[0]["facts"] else None


def model_adopters(
    con: duckdb.DuckDBPyConnection, scope: ModelScope, status: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Named adopters with ``status``, newest first; with ``since``: only those first
    reported since then (new adopters)."""
    return dict_rows(
        con.execute(
            f"""
            SELECT {_FACT_COLUMNS}
            FROM adoption_facts
            WHERE adopter_named AND {scope.where()} AND status = $status
              AND ($since IS NULL OR first_reported >= $since)
            ORDER BY coalesce(dropped_at, status_since) DESC, adopter
            LIMIT $limit
            """,
            {"scope": scope.value, "status": status, "since": since, "limit": ADOPTERS_LISTED},
        )
    )


def new_adopter_cutoff(latest: datetime | None) -> datetime | None:
    """Facts first reported at or after this are "new" (``NEW_ADOPTER_DAYS`` before the
    newest event)."""
    return None if latest is None else latest - timedelta(days=NEW_ADOPTER_DAYS)


def _weeks_param(weeks: Sequence[tuple[str, datetime, datetime]]) -> dict[str, Any]:
    return {
        "labels": [w[0] for w in weeks],
        "starts": [w[1] for w in weeks],
        "stops": [w[2] for w in weeks],
        "first": min(w[1] for w in weeks),
        "last": max(w[2] for w in weeks),
    }


_WEEKS = """
    weeks AS (
        SELECT unnest($labels::VARCHAR[]) AS week, unnest($starts::TIMESTAMP[]) AS start,
               unnest($stops::TIMESTAMP[]) AS stop
    )
"""


def adopters_over_time(
    con: duckdb.DuckDBPyConnection,
    scope: ModelScope,
    weeks: Sequence[tuple[str, datetime, datetime]],
) -> list[dict[str, Any]]:
    """Per week: named companies adopting the family (or any of the vendor's families)
    for the first time, and all that had adopted it by the week's end."""
    if not weeks:
        return []
    return dict_rows(
        con.execute(
            f"""
            WITH {_WEEKS},
            families AS (
                SELECT DISTINCT model_family FROM adoption_facts WHERE {scope.where()}
            ),
            firsts AS (
                SELECT f.adopter, min(f.first_named_at) AS first_at
                FROM first_adoptions f SEMI JOIN families USING (model_family)
                WHERE f.first_named_at IS NOT NULL
                GROUP BY f.adopter
            )
            SELECT w.week,
                   count(x.adopter) FILTER (WHERE x.first_at >= w.start) AS new_adopters,
                   count(x.adopter) AS adopters
            FROM weeks w
            LEFT JOIN firsts x ON x.first_at < w.stop
            GROUP BY w.week, w.start
            ORDER BY w.start
            """,
            {k: v for k, v in _weeks_param(weeks).items() if k in ("labels", "starts", "stops")}
            | {"scope": scope.value},
        )
    )


def share_of_voice(
    con: duckdb.DuckDBPyConnection,
    scope: ModelScope,
    weeks: Sequence[tuple[str, datetime, datetime]],
) -> list[dict[str, Any]]:
    """Per week: dated articles mentioning the family (or the vendor's families), and
    dated articles mentioning any model at all."""
    if not weeks:
        return []
    return dict_rows(
        con.execute(
            f"""
            WITH {_WEEKS},
            span AS (
                SELECT article_id, published_at, {scope.where()} AS ours
                FROM model_mentions
                WHERE published_at >= $first AND published_at < $last
            ),
            per_article AS (
                SELECT article_id, any_value(published_at) AS at, bool_or(ours) AS ours
                FROM span GROUP BY article_id
            )
            SELECT w.week,
                   count(p.article_id) FILTER (WHERE p.ours) AS articles,
                   count(p.article_id) AS all_articles
            FROM weeks w
            LEFT JOIN per_article p ON p.at >= w.start AND p.at < w.stop
            GROUP BY w.week, w.start
            ORDER BY w.start
            """,
            {**_weeks_param(weeks), "scope": scope.value},
        )
    )


def model_list(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every model family with its vendor and named adopters by status."""
    return dict_rows(
        con.execute(
            """
            SELECT model_family, mode(vendor) AS vendor, mode(origin_country) AS origin_country,
                   bool_or(open_weights) AS open_weights, bool_or(vendor_level) AS vendor_level,
                   count(DISTINCT adopter) FILTER (WHERE status = 'current') AS current,
                   count(DISTINCT adopter) AS adopters
            FROM adoption_facts
            WHERE adopter_named
            GROUP BY model_family
            ORDER BY current DESC, adopters DESC, model_family
            """
        )
    )


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """What the events view is filtered on; empty strings and None mean "any"."""

    adopter: str = ""
    model_family: str = ""
    vendor: str = ""
    origin_country: str = ""
    relation: str = ""
    min_confidence: float | None = None
    since: date | None = None  # reported on or after this day (UTC)
    until: date | None = None  # reported on or before this day (UTC)
    text: str = ""  # a part of the evidence sentence, case-insensitively

    def conditions(self) -> list[str]:
        out = []
        for column, value in (
            ("adopter", self.adopter),
            ("model_family", self.model_family),
            ("vendor", self.vendor),
            ("origin_country", self.origin_country),
            ("relation", self.relation),
        ):
            if value:
                out.append(f"{column} = {literal(value)}")
        if self.min_confidence is not None:
            out.append(f"confidence >= {float(self.min_confidence)!r}")
        at = "coalesce(published_at, extracted_at)"
        if self.since is not None:
            out.append(f"{at} >= DATE '{self.since.isoformat()}'")
        if self.until is not None:
            out.append(f"{at} < DATE '{(self.until + timedelta(days=1)).isoformat()}'")
        if self.text:
            out.append(f"contains(lower(evidence), {literal(self.text.lower())})")
        return out


EVENT_COLUMNS = (
    "coalesce(published_at, extracted_at) AS reported_at",
    "adopter",
    "relation",
    "model",
    "model_family",
    "vendor",
    "origin_country",
    "open_weights",
    "confidence",
    "evidence",
    "article_url",
    "article_id",
    "switch_id",
    "event_id",
)


def events_sql(flt: EventFilter) -> str:
    """The events view as one SQL text, newest first: what the page shows, what its CSV
    holds, and what ``adoptwatch query`` runs when it is pasted there."""
    where = flt.conditions()
    lines = [
        "SELECT " + ", ".join(EVENT_COLUMNS),
        "FROM adoption_events",
    ]
    if where:
        lines.append("WHERE " + "\n  AND ".join(where))
    lines.append("ORDER BY reported_at DESC, event_id")
    return "\n".join(lines)


def newest_events_sql(where: str, limit: int, offset: int = 0) -> str:
    """The newest events matching ``where`` (SQL; "" for all), page ``offset``/``limit``, in
    the order of :func:`events_sql`, read without sorting the whole log: dated and undated
    events are two sorts on a plain column each (``published_at``, ``extracted_at``),
    which DuckDB answers by skipping the row groups that cannot hold the newest rows
    (measured on 10 M events: 35 ms against 150 ms for the sort on the coalesce)."""
    keep = int(offset) + int(limit)
    also = f" AND ({where})" if where else ""
    columns = ", ".join(EVENT_COLUMNS)
    return f"""
        SELECT * FROM (
            (SELECT {columns} FROM adoption_events WHERE published_at IS NOT NULL{also}
             ORDER BY published_at DESC, event_id LIMIT {keep})
            UNION ALL
            (SELECT {columns} FROM adoption_events WHERE published_at IS NULL{also}
             ORDER BY extracted_at DESC, event_id LIMIT {keep})
        )
        ORDER BY reported_at DESC, event_id
        LIMIT {int(limit)} OFFSET {int(offset)}
    """


def event_page(
    con: duckdb.DuckDBPyConnection, flt: EventFilter, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of the events view: the rows :func:`events_sql` gives there."""
    where = " AND ".join(flt.conditions())
    return dict_rows(con.execute(newest_events_sql(where, limit, offset)))


# Counting every match of a filter reads the whole log; past this many the view says
# "more than" and stops counting (the newest pages are what people read).
COUNT_CAP = 10_000


def event_count(con: duckdb.DuckDBPyConnection, flt: EventFilter, cap: int = COUNT_CAP) -> int:
    """Events matching ``flt``, counted up to ``cap + 1`` (more than ``cap``: cap + 1)."""
    where = flt.conditions()
    sql = "SELECT 1 FROM adoption_events" + (" WHERE " + " AND ".join(where) if where else "")
    return int(con.execute(f"SELECT count(*) FROM ({sql} LIMIT {int(cap) + 1})").fetchall()[0][0])


# --- sources ---------------------------------------------------------------------------


def fetch_summary(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Per source: fetches, failures, the commonest error, the last fetch, median time."""
    rows = dict_rows(
        con.execute(
            """
            SELECT source,
                   count(*) AS fetches,
                   count(*) FILTER (WHERE error_class IS NOT NULL) AS failed,
                   count(*) FILTER (WHERE kind = 'article' AND error_class IS NULL)
                       AS articles_fetched,
                   mode(error_class) FILTER (WHERE error_class IS NOT NULL) AS common_error,
                   max(fetched_at) AS last_fetched_at,
                   median(duration_ms) AS median_ms,
                   CAST(sum(bytes) AS BIGINT) AS bytes
            FROM fetch_log
            GROUP BY source
            """
        )
    )
    return {r["source"]: r for r in rows}


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict[str, Any]]:
    return dict_rows(
        con.execute(
            "SELECT run_id, started_at, finished_at, status FROM runs "
            "ORDER BY started_at DESC LIMIT $limit",
            {"limit": limit},
        )
    )
