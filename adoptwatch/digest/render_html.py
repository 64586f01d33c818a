"""The text/html rendering: tables and inline styles only (what Outlook, Gmail and Apple
Mail all render)."""

from __future__ import annotations

from urllib.parse import urlsplit

import jinja2

from adoptwatch.digest.chart import ORIGIN_COLORS
from adoptwatch.digest.content import Digest, OriginWeek
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
    subject_for,
    watched_sentence,
)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("adoptwatch.digest", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_TEMPLATES.filters["netloc"] = lambda url: urlsplit(url).netloc


def render_html(digest: Digest, chart_src: str | None) -> str:
    """The text/html part (``templates/digest.html``). ``chart_src`` is ``cid:...`` in the
    email, a data: URI in a file."""
    # Each adopted model with its most confident report; a sentence quoted above (as a
    # new adoption or a switch) is only linked, not quoted again.
    quoted = {n.evidence.sentence for n in digest.new_adoptions} | {
        ev.sentence for s in digest.switches for ev in (s.adopt_evidence, s.drop_evidence)
    }
    last = digest.origin_share[-1] if digest.origin_share else None
    return _TEMPLATES.get_template("digest.html").render(
        digest=digest,
        chart_src=chart_src,
        colors=ORIGIN_COLORS,
        max_items=MAX_ITEMS,
        subject=subject_for(digest),
        empty_sentence=empty_sentence(digest),
        more_adoptions=more_lines(len(digest.new_adoptions), "new adoption"),
        more_switches=more_lines(len(digest.switches), "switch", "switches"),
        adopted=[
            (m.rank, m.model.family, m.model.origin_country, m.companies, change(m.change))
            for m in digest.ranking
        ],
        discussed=[
            (i, d.model.family, d.model.origin_country, d.articles, d.sentences)
            for i, d in enumerate(digest.discussed, 1)
        ],
        evidence=[(m, m.evidence.sentence in quoted) for m in digest.ranking if m.evidence],
        chart_alt=(
            "Bar chart: share of adoptions going to Chinese, US and other models per week; "
            f"{digest.week.label}: {last.cn} CN, {last.us} US, {last.other} other"
            if last
            else ""
        ),
        share_caption=_share_caption(digest) if digest.has_history else "",
        footnotes=footnotes(digest),
        watchlist=(
            None
            if digest.watchlist is None
            else [
                (watched_sentence(f), f.watches, f.evidence) for f in digest.watchlist[:MAX_ITEMS]
            ]
        ),
        watchlist_heading=WATCHLIST_HEADING,
        watchlist_definition=WATCHLIST_DEFINITION,
        watchlist_empty=WATCHLIST_EMPTY,
    )


def _share_caption(digest: Digest) -> str:
    """The chart in words, for mail clients that block images."""

    def week_words(o: OriginWeek) -> str:
        if not o.total:
            return f"{o.week}: no adoptions"
        return (
            f"{o.week}: {o.share(o.cn):.0%} Chinese, {o.share(o.us):.0%} US, "
            f"{o.share(o.other):.0%} other ({plural(o.total, 'adoption')})"
        )

    this_week = digest.origin_share[-1]
    text = week_words(this_week)
    if len(digest.origin_share) > 1:
        text += "; " + week_words(digest.origin_share[-2])
    totals = OriginWeek(
        "all",
        sum(o.cn for o in digest.origin_share),
        sum(o.us for o in digest.origin_share),
        sum(o.other for o in digest.origin_share),
    )
    return (
        f"{text}. Over the {len(digest.origin_share)} weeks: {totals.share(totals.cn):.0%} "
        f"Chinese, {totals.share(totals.us):.0%} US, {totals.share(totals.other):.0%} other."
    )
