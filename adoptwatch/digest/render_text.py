"""The text/plain rendering: readable as is, every article string on its own line."""

from __future__ import annotations

from adoptwatch.digest.content import Digest, Evidence
from adoptwatch.digest.wording import (
    MAX_ITEMS,
    WATCHLIST_DEFINITION,
    WATCHLIST_EMPTY,
    WATCHLIST_HEADING,
    change,
    empty_sentence,
    footnotes,
    more_lines,
    plural,
    totals_line,
    watched_sentence,
)


def render_text(digest: Digest) -> str:
    """The text/plain part: readable as is, every article string on its own line."""
    w = digest.week
    out: list[str] = [
        f"adoptwatch weekly — {w.label}",
        f"{digest.date_range} ({digest.timezone})",
        "",
    ]

    def evidence(ev: Evidence, indent: str = "   ") -> list[str]:
        lines = [f'{indent}"{ev.sentence}"'] if ev.sentence else []
        if ev.url:
            lines.append(f"{indent}{ev.url}")
        return lines

    if digest.watchlist is not None:
        out += [WATCHLIST_HEADING.upper(), f" {WATCHLIST_DEFINITION}"]
        if not digest.watchlist:
            out.append(f" {WATCHLIST_EMPTY}")
        for fact in digest.watchlist[:MAX_ITEMS]:
            out.append(f" - {watched_sentence(fact)} [{', '.join(fact.watches)}]")
            out += evidence(fact.evidence)
        out += more_lines(len(digest.watchlist), "watchlist fact")
        out.append("")

    if digest.is_empty:
        out += [empty_sentence(digest), ""]
    else:
        out += [totals_line(digest.totals), ""]

    if not digest.is_empty:
        out.append("NEW ADOPTERS (first time a company is reported adopting the model)")
        if not digest.new_adoptions:
            out.append(" None this week.")
        for n in digest.new_adoptions[:MAX_ITEMS]:
            out.append(f" - {n.adopter} adopts {n.model.family} ({n.model.describe()})")
            out += evidence(n.evidence)
        out += more_lines(len(digest.new_adoptions), "new adoption")
        out.append("")

        out.append("SWITCHES (drops one model, adopts another)")
        if not digest.switches:
            out.append(" None this week.")
        for s in digest.switches[:MAX_ITEMS]:
            out.append(
                f" - {s.adopter}: {s.from_model.family} ({s.from_model.describe()}) → "
                f"{s.to_model.family} ({s.to_model.describe()})"
            )
            out += evidence(s.adopt_evidence)
            if s.drop_evidence != s.adopt_evidence:
                out += evidence(s.drop_evidence)
        out += more_lines(len(digest.switches), "switch", "switches")
        out.append("")

        out.append(
            f"MOST ADOPTED (distinct companies; change against {digest.previous_week.label})"
        )
        if not digest.ranking:
            out.append(" No company was reported adopting a model this week.")
        for m in digest.ranking:
            out.append(
                f" {m.rank:>2}. {m.model.family} ({m.model.describe()}): "
                f"{plural(m.companies, 'company', 'companies')} ({change(m.change)})"
            )
            if m.evidence:
                out += evidence(m.evidence, "     ")
        if digest.fell_out:
            names = ", ".join(
                f"{m.model.family} ({m.prev_companies} last week)" for m in digest.fell_out
            )
            out.append(f" No adopter this week: {names}")
        out.append("")

        out.append("MOST DISCUSSED (articles mentioning the model)")
        if not digest.discussed:
            out.append(" No model mentions this week.")
        for i, d in enumerate(digest.discussed, 1):
            out.append(
                f" {i:>2}. {d.model.family} ({d.model.describe()}): "
                f"{plural(d.articles, 'article')}, {plural(d.sentences, 'sentence')}; "
                + (
                    f"adopted by {plural(d.adopting_companies, 'company', 'companies')}"
                    if d.adopting_companies
                    else "no adopter this week"
                )
            )
            if d.top_article and d.top_article.url:
                out.append(f"     {d.top_article.url}")
        out.append("")

    out.append(f"ADOPTIONS BY MODEL ORIGIN, LAST {len(digest.origin_share)} WEEKS")
    if not digest.has_history:
        out.append(" No adoptions in these weeks.")
    else:
        out.append(f" {'week':<9} {'CN':>4} {'US':>4} {'other':>6} {'total':>6}  CN share")
        for o in digest.origin_share:
            share = f"{o.share(o.cn):>7.0%}" if o.total else "      –"
            out.append(f" {o.week:<9} {o.cn:>4} {o.us:>4} {o.other:>6} {o.total:>6}  {share}")
    out.append("")
    out += footnotes(digest)
    return "\n".join(out) + "\n"
