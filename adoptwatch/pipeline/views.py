"""What ``adoptwatch company`` and ``adoptwatch model`` show: a company's AI stack,
timeline and switches; a model family's (or vendor's) adopters, weekly figures and best
evidence. Names resolve through extraction's alias tables (``extractors.names``), so
"Airbnb Inc." finds Airbnb and "GPT-4o" the GPT family.

Plain dicts out; the CLI renders them as tables or JSON. docs/glossary.md defines
every figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adoptwatch.extractors import names
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.settings import Settings
from adoptwatch.storage import views as views_sql
from adoptwatch.storage.db import read_session
from adoptwatch.storage.explorer import company_stack
from adoptwatch.storage.facts import known_adopters

TOP_EVIDENCE = 5
DEFAULT_WEEKS = 12


def company_view(settings: Settings, name: str, since: datetime | None = None) -> dict[str, Any]:
    """The company ``name`` resolves to: its facts (each with the outlets that reported
    it), its events since ``since`` (all without), and its switches."""
    with read_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        adopter = names.resolve_company(name, known_adopters(con))
        outlets = views_sql.fact_outlets(con, adopter=adopter)
        stack = company_stack(con, adopter)
        for fact in stack:
            key = (fact["adopter"], fact["model_family"], fact["vendor_level"])
            fact["outlet_names"] = outlets.get(key, [])
        return {
            "company": adopter,
            "since": since,
            "stack": stack,
            "timeline": views_sql.company_timeline(con, adopter, since),
            "switches": views_sql.company_switches(con, adopter, since),
        }


def resolve_model_scope(name: str) -> tuple[str, str]:
    """("model_family", family) for a family or model name, else ("vendor", vendor)
    for a vendor's name or alias; raises names.UnknownName for neither."""
    try:
        return "model_family", names.resolve_model_family(name)
    except names.UnknownName as not_a_model:
        try:
            return "vendor", names.resolve_vendor(name)
        except names.UnknownName:
            raise not_a_model from None


def model_view(
    settings: Settings,
    name: str,
    since: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The family (or vendor) ``name`` resolves to: its adopters now (current,
    evaluating, dropped; new this month), weekly figures since ``since`` (the last 12
    ISO weeks without) and its most confident claims."""
    column, value = resolve_model_scope(name)
    now = now or utcnow()
    start = since or (now - timedelta(weeks=DEFAULT_WEEKS - 1) - timedelta(days=now.weekday()))
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with read_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        facts = views_sql.model_facts(con, column, value)
        weeks = views_sql.model_weeks(con, column, value, start, now + timedelta(microseconds=1))
        evidence = views_sql.model_top_evidence(con, column, value, since, TOP_EVIDENCE)
    named = [f for f in facts if f["adopter_named"]]
    return {
        "scope": column,
        "name": value,
        "since": start,
        "month": month.date(),
        "current": [f for f in named if f["status"] == "current"],
        "new_this_month": [
            f for f in named if f["status"] == "current" and f["first_reported"] >= month
        ],
        "evaluating": [f for f in named if f["status"] == "evaluating"],
        "dropped": [f for f in named if f["status"] == "dropped"],
        "weeks": weeks,
        "top_evidence": evidence,
    }
