"""A syndicated story on several loopback outlets, for tests of story clusters and facts.

Written for the project (a fictional company; nothing here is real). One story, "Quillfeather
adopts Qwen", first published by outlet 1 and syndicated to outlets 2 and 3 (the same body
under another headline, in another site's template, with a wire credit), then copied by
outlet 4 with small edits (a few words changed, the last paragraph dropped). Outlet 2 also
runs a *different* story on the same topic, written independently: the same adoption,
reported in other words, so it is its own story cluster.

Expected: the four copies share one story cluster, the article_id of outlet 1's article
(published first); the independent story starts its own. Counted the way facts count
independent outlets (distinct outlets of the first articles of the clusters that report
it), "Quillfeather adopts Qwen" has 2 outlets: 127.0.0.1 and 127.0.0.2.

Each outlet is an HTTP server on its own loopback address (an outlet is a registrable
domain or, for an IP address, the address; never the port: docs/corroboration.md)::

    with syndication_sites() as sites:
        (tmp_path / "sources.toml").write_text(sites.sources_toml())
        settings = make_settings(tmp_path, sources=tmp_path / "sources.toml")
        asyncio.run(run_ingest(settings))
        sites.url("original")   # the canonical URL (article_id: rows.article_id_for)

:data:`STORIES` has the same articles as plain text (headline and paragraphs) for tests
that write rows directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from tests.httpserver import RouteServer, static

# What the claims extractor finds in each of the five articles (adopter, family, relation):
# one fact, reported by 5 articles in 2 stories from 2 independent outlets.
CLAIM = ("Quillfeather", "Qwen", "adopts")

# Loopback addresses, one per outlet (Linux routes all of 127.0.0.0/8 to lo).
OUTLET_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")

_BODY = (
    "Stationery retailer Quillfeather said on Monday that it has adopted Qwen, Alibaba's "
    "language model, to answer customer questions about orders and deliveries.",
    "The retailer said the model now drafts replies to about four thousand emails a week, "
    "which members of its support team read and correct before anything is sent. Replies "
    "that used to take a day now go out within two hours, according to the company.",
    "Marta Okonkwo, Quillfeather's head of operations, said the team had compared three "
    "models over the summer on a set of old customer letters and picked the one that got "
    "refund rules right most often. The model runs on servers the company rents.",
    "Quillfeather sells notebooks, fountain pens and ink to customers in eleven countries "
    "and employs about ninety people. It said no jobs would be cut because of the change "
    "and that the support team would spend more time on wholesale clients.",
    "The company plans to let the same model sort incoming invoices next spring, once a "
    "trial with its accounts department has finished.",
)

# Outlet 4's copy: a few words edited, the last paragraph dropped.
_EDITED_BODY = (
    _BODY[0].replace("has adopted", "now uses").replace("on Monday", "this week"),
    _BODY[1].replace("about four thousand", "roughly 4,000"),
    _BODY[2].replace("over the summer", "during the summer"),
    _BODY[3],
)

# The same adoption reported independently, in other words: a different story.
_INDEPENDENT_BODY = (
    "Stationery seller Quillfeather is now running its customer service on Qwen. Staff at "
    "the firm told us they were sceptical at first, since earlier chat tools had "
    "mangled questions about late parcels.",
    "In an interview, operations chief Marta Okonkwo described a bake-off between several "
    "systems. Qwen won, she said, largely because it handled the fine print of returns "
    "better than its rivals did.",
    "Some customers have noticed. One regular buyer of fountain pens said answers now "
    "arrive on the same afternoon, though they read a little stiffly.",
    "Analysts who follow small online retailers say firms of Quillfeather's size rarely "
    "build such systems themselves and increasingly rent them instead.",
)


@dataclass(frozen=True)
class SyndicatedArticle:
    key: str  # "original", "syndicated-2", "syndicated-3", "edited-copy", "independent"
    outlet: int  # index into OUTLET_HOSTS
    headline: str
    paragraphs: tuple[str, ...]
    published: datetime  # naive UTC
    credit: str = ""  # a wire credit line after the body

    @property
    def slug(self) -> str:
        return f"{self.key}.html"

    def text(self) -> str:
        """Headline and paragraphs as one text (how a stored article's text reads)."""
        return "\n\n".join(
            (self.headline, *self.paragraphs, *([self.credit] if self.credit else []))
        )


_CREDIT = "Distributed by the Northgate Wire service."

STORIES: tuple[SyndicatedArticle, ...] = (
    SyndicatedArticle(
        "original", 0, "Quillfeather adopts Qwen for customer support", _BODY,
        datetime(2026, 11, 2, 8, 0),
    ),
    SyndicatedArticle(
        "syndicated-2", 1, "Quillfeather turns to Qwen to answer customer emails", _BODY,
        datetime(2026, 11, 2, 11, 30), _CREDIT,
    ),
    SyndicatedArticle(
        "syndicated-3", 2, "Pen shop Quillfeather picks Qwen for support emails", _BODY,
        datetime(2026, 11, 3, 9, 15), _CREDIT,
    ),
    SyndicatedArticle(
        "edited-copy", 3, "Quillfeather now uses Qwen model for customer mail", _EDITED_BODY,
        datetime(2026, 11, 4, 14, 0),
    ),
    SyndicatedArticle(
        "independent", 1, "Inside Quillfeather's switch to AI customer service",
        _INDEPENDENT_BODY, datetime(2026, 11, 5, 10, 0),
    ),
)  # fmt: skip

# Each outlet's own template around the article (what extraction leaves behind).
_TEMPLATES = (
    ("The Leeds Ledger", "Business | Retail | Technology"),
    ("Midlands Commerce Daily", "Markets | Companies | Opinion"),
    ("Shopfront Weekly", "News | Features | Newsletter"),
    ("Paper Trade Review", "Home | Industry | Events"),
)


def page_html(article: SyndicatedArticle, canonical_url: str) -> str:
    site, menu = _TEMPLATES[article.outlet]
    paragraphs = "".join(f"<p>{p}</p>\n" for p in article.paragraphs)
    credit = f"<p><em>{article.credit}</em></p>" if article.credit else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{article.headline} - {site}</title>
<link rel="canonical" href="{canonical_url}">
<meta property="article:published_time" content="{article.published.isoformat()}Z">
</head><body><header><a href="/">{site}</a><nav>{menu}</nav></header>
<article><h1>{article.headline}</h1>
{paragraphs}{credit}</article>
<footer>Copyright {site}. Sign up for our morning newsletter.</footer></body></html>
"""


@dataclass
class SyndicationSites:
    servers: list[RouteServer]

    def url(self, key: str) -> str:
        article = next(a for a in STORIES if a.key == key)
        return self.servers[article.outlet].url(f"/news/{article.slug}")

    def outlet(self, key: str) -> str:
        """The outlet the article's URL has (its loopback address)."""
        return OUTLET_HOSTS[next(a for a in STORIES if a.key == key).outlet]

    def sources_toml(self) -> str:
        return "".join(
            f'[[sources]]\nname = "outlet-{i + 1}"\nurl = "{server.url("/feed.xml")}"\n\n'
            for i, server in enumerate(self.servers)
        )


def _feed(server: RouteServer, articles: list[SyndicatedArticle]) -> str:
    items = "".join(
        f"<item><title>{a.headline}</title><link>{server.url('/news/' + a.slug)}</link>"
        f"<guid>{a.key}</guid><pubDate>{format_datetime(a.published)}</pubDate></item>"
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>feed</title><link>{server.base_url}/</link><description>d</description>"
        f"{items}</channel></rss>"
    )


@contextlib.contextmanager
def syndication_sites() -> Iterator[SyndicationSites]:
    """One HTTP server per outlet of :data:`OUTLET_HOSTS`, serving ``/feed.xml`` (its
    articles of :data:`STORIES`), the articles under ``/news/`` and a ``robots.txt``."""
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(RouteServer(host=host)) for host in OUTLET_HOSTS]
        for i, server in enumerate(servers):
            mine = [a for a in STORIES if a.outlet == i]
            server.routes["/robots.txt"] = static(
                "User-agent: *\nAllow: /\n", content_type="text/plain"
            )
            server.routes["/feed.xml"] = static(
                _feed(server, mine), content_type="application/rss+xml"
            )
            for a in mine:
                server.routes[f"/news/{a.slug}"] = static(
                    page_html(a, server.url(f"/news/{a.slug}"))
                )
        yield SyndicationSites(servers)
