"""What every figure counts: the one glossary of adoptwatch's views, digest and exports.

The views and the digest print these definitions beside their figures, and
docs/glossary.md is this module written out (``python -m adoptwatch.glossary >
docs/glossary.md``; a test checks they agree), so a definition is written once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    name: str
    definition: str


_SECTIONS: dict[str, list[Term]] = {
    "Events and time": [
        Term(
            "event",
            "One claim read in one article: a company adopts, drops or evaluates "
            "a model (or a vendor's models: vendor-level).",
        ),
        Term(
            "reported at",
            "An event's time: its article's publication date, or when it "
            "was extracted where the article gave no date. Weeks are ISO weeks (Monday to "
            "Sunday); the CLI's weeks are in UTC, the digest's in digest_timezone.",
        ),
        Term(
            "named adopter",
            'A company named as such; phrases such as "many US '
            'startups" are unnamed adopters and are left out of every count of companies.',
        ),
    ],
    "Adoption facts (adoption_facts, adoptwatch company)": [
        Term(
            "fact",
            "Everything the event log says about one (adopter, model family, "
            "vendor-level or not), however many articles report it.",
        ),
        Term(
            "status",
            "From the latest relation reported: adopts gives current, drops "
            "gives dropped, evaluates gives evaluating. Relations reported at the same "
            "moment rank adopts, drops, evaluates.",
        ),
        Term(
            "since",
            "When the current status was first reported after the last report "
            "of another relation (more reports of the same status do not move it).",
        ),
        Term(
            "first reported / last reported",
            "The fact's earliest and latest report, whatever its relation.",
        ),
        Term("dropped at", "For a dropped fact: when the drop was first reported."),
        Term(
            "replaced by",
            "For a dropped fact: the family adopted in the same switch "
            '("replaced X with Y", read in one sentence).',
        ),
        Term("articles", "Articles reporting the fact, copies included."),
        Term(
            "outlets",
            "Independent outlets reporting the fact: the registrable domains "
            "(bbc.co.uk, example.com) of the first article of each story cluster, so a "
            "story syndicated by fifty sites counts once.",
        ),
        Term(
            "confidence",
            "The current status's claims combined as independent evidence, "
            "one per story cluster (its most confident claim): 1 - (1 - c1)(1 - c2)... "
            "Copies of one story add nothing.",
        ),
        Term(
            "evidence",
            "The most confident claim for the current status (the latest on "
            "ties), with its article's link.",
        ),
    ],
    "Model views (adoptwatch model)": [
        Term(
            "current adopters",
            "Named companies whose fact with the family (or vendor) has status current.",
        ),
        Term(
            "new this month",
            "Current adopters first reported with it in this calendar month (UTC).",
        ),
        Term("adopters (week)", "Named companies with at least one adoption report that week."),
        Term(
            "new adopters (week)",
            "Named (company, family) pairs whose first adoption report ever falls in that week.",
        ),
        Term("dropping (week)", "Named companies with at least one drop report that week."),
        Term(
            "mentioning articles (week)",
            "Articles that week mentioning the family (or "
            "any of the vendor's families), adopted or not.",
        ),
        Term(
            "share of voice (week)",
            "Mentioning articles divided by all articles that mention any model that week.",
        ),
    ],
    "Weekly digest": [
        Term(
            "new adoption",
            "A named (company, family) pair whose first adoption report "
            "ever falls in the digest's week.",
        ),
        Term(
            "companies adopting", "Named companies with at least one adoption report in the week."
        ),
        Term(
            "switch",
            "A company dropping one family and adopting another in the week: "
            "read in one sentence, or a drop and an adoption of the same company that week.",
        ),
        Term("adoption reports", "Adoption events in the week, named adopters only."),
        Term(
            "most adopted",
            "Families ranked by named companies with an adoption report in "
            "the week; the change is against the week before.",
        ),
        Term(
            "most discussed",
            "Families ranked by articles mentioning them in the week, adopted or not.",
        ),
        Term(
            "origin share",
            "Per week, named companies adopting models by their vendor's "
            "country (China, the US, elsewhere).",
        ),
    ],
    "Watchlists and alerts (adoptwatch watch)": [
        Term(
            "watch",
            "A company, model family, vendor or origin country to be told about, with "
            "a minimum of independent outlets (min outlets, default 1).",
        ),
        Term(
            "alert",
            "A fact matching a watch with at least its min outlets that is new, "
            "changed status, or reached the min outlets in its status; sent once per "
            "watch, fact, status and since.",
        ),
        Term(
            "your watchlist (week)",
            "Facts matching a watch, with at least its min outlets, whose status was "
            "reported in the digest's week (since falls in it).",
        ),
    ],
}

TERMS: dict[str, Term] = {t.name: t for terms in _SECTIONS.values() for t in terms}


def define(name: str) -> str:
    """``name``'s definition (KeyError for a term the glossary lacks)."""
    return TERMS[name].definition


def as_markdown() -> str:
    lines = [
        "# Glossary: what every figure counts",
        "",
        "Written out from `adoptwatch/glossary.py` (`python -m adoptwatch.glossary > "
        "docs/glossary.md`); the views and the digest print the same definitions.",
    ]
    for section, terms in _SECTIONS.items():
        lines += ["", f"## {section}", ""]
        lines += [f"- **{t.name}**: {t.definition}" for t in terms]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(as_markdown())
