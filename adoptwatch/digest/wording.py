"""The digest's sentences, shared by the text and the HTML renderings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adoptwatch.digest.content import Digest, Totals, WatchedFact, clean_text
from adoptwatch.glossary import define

# A busy week lists this many new adoptions and switches; the rest are counted.
MAX_ITEMS = 40


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def subject_for(digest: Digest) -> str:
    n = digest.totals.new_adoptions
    count = "no new adoptions" if n == 0 else plural(n, "new adoption")
    return f"adoptwatch weekly — {digest.week.label}: {count}"


def change(n: int) -> str:
    return f"+{n}" if n > 0 else ("±0" if n == 0 else f"−{-n}")


def totals_line(t: Totals) -> str:
    return " · ".join(
        [
            plural(t.new_adoptions, "new adoption"),
            plural(t.companies, "company", "companies") + " adopting",
            plural(t.switches, "switch", "switches"),
            plural(t.adoption_reports, "adoption report"),
            plural(t.articles, "article"),
        ]
    )


def empty_sentence(digest: Digest) -> str:
    return (
        f"Nothing was reported in {digest.week.label} ({digest.date_range}): no article in the "
        "event log from that week names a company adopting, dropping or evaluating a model, "
        "or mentions a model at all."
    )


def more_lines(count: int, one: str, many: str | None = None) -> list[str]:
    if count <= MAX_ITEMS:
        return []
    rest = count - MAX_ITEMS
    word = one if rest == 1 else (many or one + "s")
    return [f" … and {rest} more {word}; `adoptwatch query` over adoption_events lists them all."]


def footnotes(digest: Digest) -> list[str]:
    notes = [
        "Counts are of named companies; an adoption is a (company, model family) pair, "
        "however many articles report it."
    ]
    unnamed = digest.totals.unnamed_adoption_reports
    if unnamed:
        notes.append(
            f"{plural(unnamed, 'report')} of adoption by unnamed adopters (such as "
            f'"many startups") {"is" if unnamed == 1 else "are"} not counted.'
        )
    notes.append("Sent by adoptwatch. Evidence sentences are quoted from the linked articles.")
    return notes


# --- watchlist facts (the digest's "Your watchlist" and the alerts) ------------------------


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else "an unknown date"


def fact_family(fact: Mapping[str, Any]) -> str:
    family = clean_text(fact["model_family"], 80)
    return f"{family} models" if fact.get("vendor_level") else family


def fact_sentence(fact: Mapping[str, Any]) -> str:
    """One line saying what a fact is now: "Airbnb uses Qwen (Alibaba, CN) since
    2026-11-02, reported by 3 independent outlets"."""
    adopter = clean_text(fact["adopter"], 80)
    family = fact_family(fact)
    origin = ", ".join(
        clean_text(x, 40) for x in (fact.get("vendor"), fact.get("origin_country")) if x
    )
    model = f"{family} ({origin})" if origin else family
    since = _day(fact["status_since"])
    status = fact["status"]
    if status == "dropped":
        text = f"{adopter} dropped {model} on {since}"
        if fact.get("replaced_by"):
            text += f", replaced by {clean_text(fact['replaced_by'], 80)}"
    elif status == "evaluating":
        text = f"{adopter} is evaluating {model} since {since}"
    else:
        text = f"{adopter} uses {model} since {since}"
    outlets = int(fact.get("outlets") or 0)
    return f"{text}, reported by {outlets} independent outlet{'s' if outlets != 1 else ''}"


def change_label(previous: str | None, status: str) -> str:
    """How the alert came about: "new", "was current" for a status change, "now
    corroborated" when the fact reached the watch's min_outlets in its status."""
    if previous is None:
        return "new"
    return f"was {previous}" if previous != status else "now corroborated"


def watched_sentence(fact: WatchedFact) -> str:
    return fact_sentence(dataclasses.asdict(fact))


WATCHLIST_HEADING = "Your watchlist"
WATCHLIST_DEFINITION = define("your watchlist (week)")
WATCHLIST_EMPTY = "Nothing on your watchlist changed this week."
