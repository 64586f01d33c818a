"""The digest's sentences, shared by the text and the HTML renderings."""

from __future__ import annotations

from adoptwatch.digest.content import Digest, Totals

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
